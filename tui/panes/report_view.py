"""What the reports pane shows of a report document (GET /reports/{kind}): its table's columns and
cells, the one-line summary of its total, and its chart (textual-plotext: bars with axes, ticks
and a title) of one figure per period, or per agent, line or campaign over the whole period."""

from __future__ import annotations

import math
from typing import Any

from textual_plotext import PlotextPlot

# The table's columns per report: (heading, field). The CSV export has every column.
COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "campaigns": (("att", "attempts"), ("conn", "connects"), ("human", "human"),
                  ("agent", "to_agent"), ("aband", "abandoned"), ("rate", "abandon_rate"),
                  ("sms", "sms_sent"), ("repl", "sms_replied"), ("dnc", "dnc_skips")),
    "lines": (("att", "attempts"), ("human", "human"), ("mach", "machine"),
              ("noans", "no_answer"), ("busy", "busy"), ("inval", "invalid"),
              ("faults", "faults"), ("dBm", "signal_dbm")),
    "agents": (("calls", "calls"), ("talk", "talk_seconds"), ("wrap", "wrap_seconds"),
               ("logged in", "logged_in_seconds"), ("occ", "occupancy"),
               ("dispositions", "dispositions")),
}  # fmt: skip

# The figures the chart can show per report (m steps through them): (field, label, divisor;
# a rate is shown in percent).
FIGURES: dict[str, tuple[tuple[str, str, float], ...]] = {
    "campaigns": (("attempts", "attempts", 1), ("connects", "connects", 1),
                  ("human", "human answers", 1), ("to_agent", "calls to agents", 1),
                  ("abandoned", "abandoned", 1), ("abandon_rate", "abandon rate %", 0.01),
                  ("sms_sent", "SMS sent", 1), ("dnc_skips", "DNC skips", 1)),
    "lines": (("attempts", "attempts", 1), ("human", "human answers", 1),
              ("faults", "faults", 1), ("busy_seconds", "minutes in calls", 60)),
    "agents": (("calls", "calls", 1), ("occupancy", "occupancy %", 0.01),
               ("talk_seconds", "talk minutes", 60), ("logged_in_seconds", "logged-in hours", 3600)),
}  # fmt: skip

KEY = {"campaigns": "campaign", "lines": "line", "agents": "agent"}


def span(doc: dict[str, Any]) -> tuple[str, str]:
    """The period's first and last day (local dates), e.g. ('2026-03-08', '2026-03-08')."""
    first, end = doc["from"][:10], doc["to"]
    last = end[:10]
    if end[11:19] == "00:00:00" and last > first:  # ends at a midnight: the day before is last
        import datetime as dt

        last = (dt.date.fromisoformat(last) - dt.timedelta(days=1)).isoformat()
    return first, last


def period_cell(label: str, doc: dict[str, Any]) -> str:
    """A row's period as short as it can be told: the hour alone within one day, else the
    month-day (and hour)."""
    if doc["by"] == "total":
        return "total"
    if doc["by"] == "day":
        return label[5:10]
    first, last = span(doc)
    return label[11:16] if first == last else f"{label[5:10]} {label[11:13]}h"


def cell(field: str, value: Any) -> str:
    if value is None:
        return "—"
    if field.endswith("_seconds"):
        seconds = round(float(value))
        return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    if field in ("occupancy", "abandon_rate"):
        return f"{float(value) * 100:.1f}%"
    if isinstance(value, dict):  # the most frequent first
        ranked = sorted(value.items(), key=lambda item: (-item[1], item[0]))
        text = ", ".join(f"{k} {n}" for k, n in ranked) or "—"
        return text if len(text) <= 28 else text[:27] + "…"
    return str(value)


def rows(doc: dict[str, Any]) -> list[tuple[str, ...]]:
    kind = doc["report"]
    key = KEY[kind]
    source = doc["totals"] if doc["by"] == "total" else doc["rows"]
    return [
        (
            period_cell(str(r.get("period", "")), doc),
            "(no line)" if r[key] is None else str(r[key]),
            *(cell(f, r.get(f)) for _, f in COLUMNS[kind]),
        )
        for r in source
    ]


def summary(doc: dict[str, Any], when: str | None = None) -> str:
    """The period (`when`, e.g. "today", else its dates) and the total's main figures."""
    t, kind = doc["total"], doc["report"]
    first, last = span(doc)
    when = when or (first if first == last else f"{first} – {last}")
    if kind == "campaigns":
        figures = (f"attempts {t['attempts']} · connects {t['connects']} · human {t['human']}"
                   f" · agent {t['to_agent']} · abandon {cell('abandon_rate', t['abandon_rate'])}"
                   f" · SMS {t['sms_sent']} ({t['sms_replied']} replied) · DNC {t['dnc_skips']}")  # fmt: skip
    elif kind == "lines":
        figures = (f"attempts {t['attempts']} · human {t['human']} · machine {t['machine']}"
                   f" · faults {t['faults']} · in calls {cell('busy_seconds', t['busy_seconds'])}")  # fmt: skip
    else:
        figures = (f"calls {t['calls']} · talk {cell('talk_seconds', t['talk_seconds'])}"
                   f" · wrap {cell('wrap_seconds', t['wrap_seconds'])}"
                   f" · logged in {cell('logged_in_seconds', t['logged_in_seconds'])}"
                   f" · occupancy {cell('occupancy', t['occupancy'])}")  # fmt: skip
    return f"[b]{when}[/b] · {figures}"


def _tick(label: str, doc: dict[str, Any]) -> str:
    if doc["by"] == "day":
        return label[5:10]
    first, last = span(doc)
    return label[11:13] if first == last else f"{label[8:10]}/{label[11:13]}"


def draw(plot: PlotextPlot, doc: dict[str, Any], figure: int) -> None:
    """Bars of the chosen figure: per period (hour or day), or per agent, line or campaign when
    the report is over the whole period; a title saying what and in which time zone."""
    kind = doc["report"]
    field, label, divisor = FIGURES[kind][figure % len(FIGURES[kind])]
    if doc["by"] == "total":
        points = [(str(r[KEY[kind]] or "-")[:10], r.get(field)) for r in doc["totals"]]
        per = KEY[kind]
    else:
        points = [(_tick(s["period"], doc), s.get(field)) for s in doc["series"]]
        per = doc["by"]
    values = [0.0 if v is None else float(v) / divisor for _, v in points]
    plt = plot.plt
    plt.clear_figure()  # also forgets the axes' limits of the previous data
    plt.title(f"{label} per {per} · {doc['timezone']} · m: next figure")
    if not values:
        values, points = [0.0], [("", 0)]
    xs = [float(i) for i in range(len(values))]
    plt.bar(xs, values, width=0.6)
    width = max(plot.size.width - 8, 10)
    size = max(len(name) for name, _ in points) + 2
    step = max(1, -(-len(points) * size // width))
    plt.xticks(xs[::step], [name for name, _ in points][::step])
    ticks = _ticks(max(values), whole=all(v == int(v) for v in values))
    plt.ylim(0, ticks[-1])
    plt.yticks(ticks, [f"{t:g}" for t in ticks])
    plot.refresh()


def _ticks(top: float, *, whole: bool) -> list[float]:
    """At most four round ticks (the chart has four rows) from 0 up to `top` or just above:
    steps of 1, 2 or 5 times a power of ten (whole steps for counts)."""
    if top <= 0:
        return [0.0, 1.0]
    rough = top / 3
    power = 10.0 ** math.floor(math.log10(rough))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= rough)
    if whole:
        step = max(1.0, math.ceil(step))
    return [i * step for i in range(math.ceil(top / step - 1e-9) + 1)]
