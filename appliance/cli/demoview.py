"""How the demo looks: the live panel (rich), the plain progress line for a pipe or CI log, the
lines printed before it and the summary after it.

The panel is laid out for the width it is given each time it is drawn (a resized terminal gets a
new layout at the next refresh): from 76 columns each campaign has a progress bar, below that
only its percentage. Calls and SMS are always counted apart. Nothing here reads the database:
the figures come in a `Snapshot` (demo_figures.py).
"""

from __future__ import annotations

import contextlib
import sys
import termios
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich import box
from rich.cells import cell_len
from rich.columns import Columns
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.live import Live
from rich.measure import Measurement
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from appliance.cli.demo_figures import CampaignFigures, InboundFigures, Snapshot
from appliance.cli.demo_state import shown

WIDE = 76  # from this width on, each campaign gets a progress bar
DASH = "–"
LINE_STYLES = {"busy": "bold green", "up": "", "down": "bold red", "disabled": "yellow"}
LINE_WORDS = {"busy": "busy", "up": "idle", "down": "down", "disabled": "off", "ended": ""}
AGENT_STYLES = {"talking": "bold green", "ready": "green", "wrap_up": "cyan", "reserved": "green"}


@dataclass(frozen=True)
class Where:
    """Where the demo keeps things and where it can be reached (the port actually bound)."""

    state_dir: Path
    database: Path
    log: Path
    socket: Path
    port: int | None  # the port the API listens on (None until it does)
    wanted: int | None = None  # the port asked for, when it was taken and another one is used
    command: str = "dialbox"  # how to run dialbox from here

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.port}" if self.port else "(not listening)"

    @property
    def metrics(self) -> str:
        return f"{self.api}/metrics" if self.port else self.api

    @property
    def console(self) -> str:
        return f"{self.command} console --socket {shown(self.socket)}"

    @property
    def curl(self) -> str:
        return f"curl --unix-socket {shown(self.socket)} http://demo/campaigns"


def clock(seconds: float) -> str:
    minutes, secs = divmod(int(max(seconds, 0.0)), 60)
    return f"{minutes}:{secs:02d}"


def _count(value: int, used: bool) -> str:
    return str(value) if used or value else DASH


def _rate(rate: float | None) -> str:
    return DASH if rate is None else f"{rate:.1%}"


def _voice(c: CampaignFigures) -> bool:
    return c.type != "sms"


# --------------------------------------------------------------------------- the live panel
class Bar:
    """A progress bar as wide as its cell, done and to-do drawn with different characters (so
    it reads in a monochrome terminal or a screen capture too)."""

    def __init__(self, ratio: float) -> None:
        self.ratio = min(max(ratio, 0.0), 1.0)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(4, options.max_width)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        done = round(width * self.ratio)
        yield Text.assemble(("━" * done, "green"), ("─" * (width - done), "dim"))


class DemoPanel:
    """The live view: one panel, laid out for the width it is drawn at."""

    def __init__(self, snap: Snapshot, where: Where, duration: float | None = None) -> None:
        self.snap, self.where, self.duration = snap, where, duration

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        body = Group(self._campaigns(width), Text(""), self._resources(), self._footer())
        yield Panel(body, title=self._title(), title_align="left", box=box.ROUNDED,
                    subtitle=self._subtitle(), subtitle_align="right",
                    padding=(0, 1), width=width)  # fmt: skip

    def _title(self) -> Text:
        snap = self.snap
        text = Text.assemble(("dialbox demo", "bold"), f" {clock(snap.elapsed)}")
        if self.duration is not None:
            text.append(f"/{clock(self.duration)}")
        phase = {
            "starting": ("starting", "yellow"),
            "draining": ("draining: calls in flight finish", "yellow"),
            "stopped": ("stopped", "yellow"),
        }.get(snap.phase, ("Ctrl-C stops", "dim"))
        return text.append(" · ").append(phase[0], style=phase[1])

    def _subtitle(self) -> Text:
        return Text(f"log {shown(self.where.log)}", style="dim")

    def _campaigns(self, width: int) -> Table:
        wide = width >= WIDE
        table = Table(box=None, padding=(0, 1), pad_edge=False, expand=True,
                      collapse_padding=not wide, header_style="bold")  # fmt: skip
        table.add_column("campaign", no_wrap=True, overflow="ellipsis", min_width=6)
        if wide:
            table.add_column("progress", ratio=1, min_width=6, no_wrap=True)
        table.add_column("done", justify="right", no_wrap=True)
        narrow = ("calls", "ans.", "agt.", "ab.", "SMS", "DNC")
        for header in ("calls", "answered", "agents", "aband.", "SMS", "DNC") if wide else narrow:
            table.add_column(header, justify="right", no_wrap=True)
        for c in self.snap.campaigns:
            bar: list[RenderableType] = [Bar(c.progress)] if wide else []
            table.add_row(
                c.name,
                *bar,
                f"{c.progress:.0%}",
                _count(c.dialed, _voice(c)),
                _count(c.answered, _voice(c)),
                _count(c.to_agents, c.type == "agent"),
                _rate(c.abandon_rate) if _voice(c) else DASH,
                _count(c.sms_sent, c.type == "sms"),
                str(c.dnc_skipped),
            )
        return table

    def _resources(self) -> Table:
        grid = Table.grid(padding=(0, 1))
        grid.add_column(style="bold", no_wrap=True, width=7)
        grid.add_column(ratio=1)
        lines = [_item(x.name, LINE_WORDS.get(x.state, x.state), LINE_STYLES.get(x.state, ""),
                       str(x.attempts)) for x in self.snap.lines]  # fmt: skip
        grid.add_row("lines", Columns(lines, padding=(0, 2)) if lines else Text("starting…"))
        agents = [_item(a.name, a.state.replace("_", "-"), AGENT_STYLES.get(a.state, "dim"),
                        _calls(a.calls)) for a in self.snap.agents]  # fmt: skip
        grid.add_row("agents", Columns(agents, padding=(0, 2)) if agents else Text("logging in…"))
        if self.snap.inbound is not None:
            grid.add_row("inbound", Text(inbound_text(self.snap.inbound)))
        return grid

    def _footer(self) -> Text:
        snap = self.snap  # the abandon rate is per campaign (above): its cap is
        return Text.assemble(
            ("totals ", "bold"),
            f"calls {snap.total('dialed')} ({snap.total('in_flight')} in flight)",
            f" · answered {snap.total('answered')} · abandoned {snap.total('abandoned')}",
            f" · SMS sent {snap.total('sms_sent')}",
        )


def inbound_text(figures: InboundFigures) -> str:
    """The inbound campaign's calls in one line: `sample-inbound 4 answered (1 waiting) ...`."""
    waiting = f" ({figures.waiting} waiting)" if figures.waiting else ""
    return (f"{figures.name} {figures.answered} answered{waiting} · {figures.callbacks} callbacks"
            f" · {figures.opted_out} opted out · {figures.missed} missed")  # fmt: skip


def _calls(n: int) -> str:
    return f"{n} call" if n == 1 else f"{n} calls"


def _item(name: str, state: str, style: str, count: str) -> Text:
    return Text.assemble(f"{name} ", (state, style), f" {count}")


# --------------------------------------------------------------------------- plain output
def progress_line(snap: Snapshot) -> str:
    """One plain line per period when stdout is no terminal (a pipe, a CI log): no escapes."""
    parts = []
    for c in snap.campaigns:
        figures = [f"{c.progress:.0%} done"]
        if _voice(c) or c.dialed:
            figures.append(f"calls {c.dialed} answered {c.answered}")
        if c.type == "agent" or c.to_agents:
            figures.append(f"to agents {c.to_agents} abandoned {_rate(c.abandon_rate)}")
        if c.type == "sms" or c.sms_sent:
            figures.append(f"SMS {c.sms_sent}")
        parts.append(f"{c.name} " + ", ".join(figures))
    busy = sum(1 for line in snap.lines if line.state == "busy")
    up = sum(1 for line in snap.lines if line.state in ("busy", "up"))
    agents = ", ".join(f"{a.name} {a.state.replace('_', '-')}" for a in snap.agents)
    parts.append(f"lines {busy} busy/{up} up of {len(snap.lines)}")
    parts.append(f"agents {agents or 'none yet'}")
    if snap.inbound is not None:
        parts.append(f"in {inbound_text(snap.inbound)}")
    return f"[{clock(snap.elapsed)}] {snap.phase}: " + " | ".join(parts)


def intro(where: Where, imports: dict[str, dict[str, Any]]) -> RenderableType:
    """What is printed once, before the panel: what was imported, where things are."""
    rows: list[tuple[str, str]] = []
    imported = ", ".join(
        f"{name} {r['imported']}" + (f" ({r['dnc']} DNC)" if r.get("dnc") else "")
        for name, r in imports.items()
    )
    rows.append(("imported", imported))
    first = next(iter(imports.values()), None)
    if first is not None and (first["rejected"] or first["duplicates"]):
        rows.append(("", f"each: {first['rejected']} rows rejected, {first['duplicates']}"
                         " duplicate (the sample's bad rows, on purpose)"))  # fmt: skip
    rows.append(("API", f"{where.api}  metrics: {where.metrics}"))
    if where.wanted:
        rows.append(("", f"port {where.wanted} was taken: the API listens on {where.port}"))
    rows += [
        ("console", where.console),
        ("curl", where.curl),
        ("log", f"{shown(where.log)}  (the daemon's log lines go there, not here)"),
    ]
    return _grid(rows)


def _columns(items: list[str]) -> Columns:
    """Items in columns of one width (the widest item's), as many as fit a row."""
    items = items or ["none"]
    return Columns(items, padding=(0, 2), width=max(cell_len(item) for item in items))


def _grid(rows: Iterable[tuple[str, RenderableType]]) -> Table:
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    for label, value in rows:
        grid.add_row(label, value)
    return grid


class Summary:
    """The end: per campaign what was done, per line and agent the load, and where it all is;
    laid out for the width it is drawn at, like the panel."""

    def __init__(self, snap: Snapshot, where: Where, why: str) -> None:
        self.snap, self.where, self.why = snap, where, why

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        snap, wide = self.snap, options.max_width >= WIDE
        yield Text.assemble(
            ("dialbox demo: summary", "bold"), f" ({clock(snap.elapsed)}, {self.why})"
        )
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True,
                      show_footer=len(snap.campaigns) > 1, header_style="bold",
                      footer_style="bold")  # fmt: skip
        headers = (
            ("dialed", "answered", "to\nagents", "abandoned", "SMS\nsent", "DNC\nskipped")
            if wide
            else ("calls", "ans.", "to\nagt.", "aband.", "SMS", "DNC")
        )
        table.add_column("campaign", "total", no_wrap=True, overflow="ellipsis")
        for header, attr in zip(headers, SUMMED, strict=True):
            table.add_column(header, str(snap.total(attr)), justify="right", no_wrap=True)
        table.add_column("time", clock(snap.elapsed), justify="right", no_wrap=True)
        for c in snap.campaigns:
            cells = [str(getattr(c, attr)) for attr in SUMMED]
            if c.abandoned and wide:
                cells[3] = f"{c.abandoned} ({_rate(c.abandon_rate)})"
            table.add_row(c.name, *cells, clock(c.seconds))
        yield table
        # each "name count" stays on one line: Columns never splits an item
        lines = _columns([f"{line.name} {line.attempts}" for line in snap.lines])
        agents = _columns([f"{a.name} {a.calls}" for a in snap.agents])
        where = self.where
        yield _grid(
            [
                ("attempts", lines),
                ("calls", agents),
                *([("inbound", inbound_text(snap.inbound))] if snap.inbound is not None else []),
                (
                    "data",
                    f"{shown(where.state_dir)}  (the next run re-uses it; --fresh starts over)",
                ),
                ("database", shown(where.database)),
                ("log", shown(where.log)),
            ]
        )


SUMMED = ("dialed", "answered", "to_agents", "abandoned", "sms_sent", "dnc_skipped")


def summary(snap: Snapshot, where: Where, why: str) -> Summary:
    return Summary(snap, where, why)


# --------------------------------------------------------------------------- the view
class View:
    """The demo's screen: `live` (a rich panel redrawn in place, on a terminal), `plain` (a
    progress line every PLAIN_PERIOD seconds: a pipe, a CI log) or `json` (nothing until the
    one JSON document at the end)."""

    PLAIN_PERIOD = 5.0

    def __init__(self, mode: str, console: Console, duration: float | None) -> None:
        self.mode, self.console, self.duration = mode, console, duration
        self._live: Live | None = None
        self._tty: tuple[int, list[Any]] | None = None
        self._printed = 0.0

    def say(self, renderable: RenderableType) -> None:
        if self.mode == "json":
            return
        if self.console.is_terminal:
            self.console.print(renderable, highlight=False)
            return
        with self.console.capture() as captured:  # a pipe or a log: no padding at line ends
            self.console.print(renderable, highlight=False)
        text = "\n".join(line.rstrip() for line in captured.get().splitlines())
        print(text, file=self.console.file, flush=True)

    def start(self) -> None:
        if self.mode == "live":
            self._tty = _quiet_keyboard()
            self._live = Live(console=self.console, auto_refresh=False, transient=True,
                              redirect_stdout=True, redirect_stderr=True)  # fmt: skip
            self._live.start()

    def show(self, snap: Snapshot, where: Where) -> None:
        if self._live is not None:
            self._live.update(DemoPanel(snap, where, self.duration), refresh=True)
        elif self.mode == "plain" and snap.elapsed - self._printed >= self.PLAIN_PERIOD:
            self._printed = snap.elapsed
            print(progress_line(snap), file=self.console.file, flush=True)

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
        if self._tty is not None:
            _restore_keyboard(*self._tty)
            self._tty = None


def _quiet_keyboard() -> tuple[int, list[Any]] | None:
    """Stop the terminal echoing keys (`^C`, Enter) into the panel, which would shift it a line
    and leave a stray copy behind; the settings are put back by `_restore_keyboard`."""
    try:
        fd = sys.stdin.fileno()
        saved = termios.tcgetattr(fd)
        quiet = list(saved)
        quiet[3] &= ~(termios.ECHO | termios.ECHOCTL)
        termios.tcsetattr(fd, termios.TCSANOW, quiet)
    except (OSError, ValueError, termios.error):  # no terminal on stdin
        return None
    return fd, saved


def _restore_keyboard(fd: int, saved: list[Any]) -> None:
    with contextlib.suppress(OSError, termios.error):
        termios.tcflush(fd, termios.TCIFLUSH)  # keys typed meanwhile do not reach the shell
        termios.tcsetattr(fd, termios.TCSANOW, saved)
