"""The demo's panel and summary fit the terminal they are drawn on; the plain line has no escapes."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.cells import cell_len
from rich.console import Console

from appliance.cli.demo_figures import (
    AgentFigures,
    CampaignFigures,
    InboundFigures,
    LineFigures,
    Snapshot,
)
from appliance.cli.demoview import DemoPanel, Summary, View, Where, intro, progress_line

WIDTHS = (60, 80, 120)


def campaign(name: str, type_: str, **figures: int) -> CampaignFigures:
    base = dict(contacts=193, finished=80, dialed=120, answered=71, to_agents=0, abandoned=0,
                sms_sent=0, sms_failed=0, dnc_skipped=3, in_flight=2)  # fmt: skip
    base.update(figures)
    return CampaignFigures(name=name, type=type_, seconds=61.0, **base)  # type: ignore[arg-type]


def demo_snapshot() -> Snapshot:
    states = ["busy", "up", "down", "busy", "busy", "up", "disabled", "up"]
    names = [f"gsm{i}" for i in range(4)] + [f"card2-{i}" for i in range(1, 5)]
    return Snapshot(
        elapsed=83.0,
        phase="running",
        campaigns=(
            campaign("sample", "automated"),
            campaign("sample-sms", "sms", dialed=0, answered=0, sms_sent=193, finished=193),
            campaign("sample-agents", "agent", answered=34, to_agents=30, abandoned=1),
        ),
        lines=tuple(LineFigures(n, "gsm", s, 23) for n, s in zip(names, states, strict=True)),
        agents=(AgentFigures("anna", "talking", 12), AgentFigures("ben", "wrap_up", 1)),
        inbound=InboundFigures("sample-inbound", 4, 2, 1, 3, 1),
    )


def huge_snapshot() -> Snapshot:
    """Hostile: a 64-character campaign name, figures in the billions, forty lines."""
    big = 10**9
    return Snapshot(
        elapsed=10 * 86400.0,
        phase="draining",
        campaigns=(
            campaign(
                "c" * 64,
                "agent",
                contacts=big,
                finished=big // 3,
                dialed=big,
                answered=big,
                to_agents=big,
                abandoned=big // 7,
                dnc_skipped=big,
            ),
        ),
        lines=tuple(
            LineFigures(f"line-{i:02d}-with-a-long-name", "can", "busy", big) for i in range(40)
        ),
        agents=tuple(AgentFigures(f"agent{i}", "logged_out", i) for i in range(12)),
        inbound=InboundFigures("i" * 64, big, big, big, big, big),
    )


WHERE = Where(
    state_dir=Path("/var/lib/dialbox-demo/state"),
    database=Path("/var/lib/dialbox-demo/state/dialbox.db"),
    log=Path("/var/lib/dialbox-demo/state/demo.log"),
    socket=Path("/var/lib/dialbox-demo/state/api.sock"),
    port=43117,
    wanted=8089,
)


def render(renderable: object, width: int) -> list[str]:
    console = Console(width=width, record=True, file=io.StringIO(), color_system=None)
    console.print(renderable)
    return console.export_text().splitlines()


@pytest.mark.parametrize("width", WIDTHS)
def test_the_panel_fits_the_width_and_shows_every_campaign_line_and_agent(width: int) -> None:
    lines = render(DemoPanel(demo_snapshot(), WHERE, duration=60.0), width)
    assert max(cell_len(line) for line in lines) <= width
    assert len(lines) <= 16  # leaves room for the intro at 80x24
    text = "\n".join(lines)
    for name in ("sample ", "sample-sms", "sample-agents", "gsm0", "card2-4", "anna", "ben"):
        assert name in text, (name, text)
    # the inbound campaign's calls apart: answered, not dialed (the totals' calls stay 240)
    joined = " ".join(text.replace("│", " ").split())
    assert "sample-inbound 4 answered (1 waiting) · 2 callbacks · 1 opted out · 3 missed" in joined
    assert "1:23/1:00" in text and "Ctrl-C stops" in text
    # calls and SMS counted apart: the SMS campaign's 193 are SMS, never calls
    assert "calls 240" in text and "SMS sent 193" in text and "abandoned 1" in text
    sms_row = next(line for line in lines if "sample-sms" in line)
    assert "193" in sms_row and "120" not in sms_row
    assert "2.9%" in text  # the agent campaign's abandon rate: 1 of 34 answered
    assert ("━" in text) == (width >= 76)  # a progress bar where there is room for one


@pytest.mark.parametrize("width", WIDTHS)
def test_the_summary_fits_and_says_where_things_are(width: int) -> None:
    lines = render(Summary(demo_snapshot(), WHERE, "stopped by Ctrl-C"), width)
    assert max(cell_len(line) for line in lines) <= width
    text = "\n".join(lines)
    assert "stopped by Ctrl-C" in text
    total = next(line for line in lines if line.startswith("total"))
    assert total.split()[1:7] == ["240", "105", "30", "1", "193", "9"]
    for what in ("dialbox.db", "demo.log", "--fresh", "gsm0 23", "anna 12"):
        assert what in text
    assert "inbound" in text and "sample-inbound 4 answered" in " ".join(text.split())


@pytest.mark.parametrize("width", WIDTHS)
def test_hostile_figures_and_names_still_fit(width: int) -> None:
    snap = huge_snapshot()
    for renderable in (DemoPanel(snap, WHERE, None), Summary(snap, WHERE, "stopped")):
        lines = render(renderable, width)
        assert max(cell_len(line) for line in lines) <= width
        assert "1000000000" in "\n".join(lines)


@pytest.mark.parametrize("width", WIDTHS)
def test_the_intro_prints_the_port_the_api_got_and_how_to_reach_it(width: int) -> None:
    imports = {"sample": {"imported": 193, "rejected": 6, "duplicates": 1, "dnc": 3}}
    lines = render(intro(WHERE, imports), width)
    assert max(cell_len(line) for line in lines) <= width
    text = "".join("".join(lines).split())  # wrapped lines joined again, without spaces
    assert "http://127.0.0.1:43117" in text and "8089wastaken" in text
    assert "http://127.0.0.1:8089" not in text
    assert "console--socket/var/lib/dialbox-demo/state/api.sock" in text


def test_the_plain_progress_line_has_no_escape_codes_and_counts_calls_and_sms_apart() -> None:
    line = progress_line(demo_snapshot())
    assert "\x1b" not in line and "\r" not in line and "\n" not in line
    assert line.startswith("[1:23] running: ")
    assert "sample-sms 100% done, SMS 193" in line
    assert "sample-agents 41% done, calls 120 answered 34, to agents 30 abandoned 2.9%" in line
    assert "lines 3 busy/6 up of 8" in line
    assert line.endswith(" | in sample-inbound 4 answered (1 waiting) · 2 callbacks · 1 opted out"
                         " · 3 missed")  # fmt: skip


def test_the_plain_view_prints_a_line_per_period_and_no_padding_or_escapes() -> None:
    out = io.StringIO()
    view = View("plain", Console(file=out, width=80), duration=None)
    view.say(intro(WHERE, {}))
    snap = demo_snapshot()
    for elapsed in (1.0, 4.0, 5.0, 7.0, 10.5):
        view.show(Snapshot(elapsed, snap.phase, snap.campaigns, snap.lines, snap.agents), WHERE)
    text = out.getvalue()
    assert "\x1b" not in text
    assert all(line == line.rstrip() for line in text.splitlines())
    assert [line[:6] for line in text.splitlines() if line.startswith("[")] == ["[0:05]", "[0:10]"]
