"""The lines table per box (#27): two boxes on one store may each have a gsm0. Keyed by name
alone, a box's start dropped the other's lines as "no longer in the config", each state change
overwrote the other's, and the lines report gave both boxes' gsm0 the same signal and state."""

from __future__ import annotations

from appliance.periods import Period
from appliance.store import Database
from appliance.store.boxes import register
from appliance.store.lines import forget_other_lines, record_line
from appliance.store.reports import lines_report
from appliance.store.selection import lines_up

NOW = 1_800_000_000.0


def _start(db: Database, box: str, lines: dict[str, tuple[bool, int]]) -> None:
    """A daemon's start: its config's lines, each (up, signal), recorded as its own."""
    forget_other_lines(db, list(lines), box)
    for name, (up, signal) in lines.items():
        record_line(db, name, "gsm", f"/dev/{box}-{name}", enabled=True, up=up,
                    info={"signal_dbm": signal, "last_error": None}, now=NOW, box=box)  # fmt: skip


def test_a_box_starting_keeps_the_other_box_s_line_of_the_same_name(db: Database) -> None:
    _start(db, "alpha", {"gsm0": (True, -61)})
    _start(db, "beta", {"gsm0": (False, -97), "gsm1": (True, -70)})
    assert lines_up(db, "alpha") == {"gsm0": True}
    assert lines_up(db, "beta") == {"gsm0": False, "gsm1": True}
    _start(db, "alpha", {"gsm0": (True, -61)})  # alpha restarts: beta's gsm1 is not alpha's
    assert lines_up(db, "beta") == {"gsm0": False, "gsm1": True}
    _start(db, "beta", {"gsm1": (True, -70)})  # beta's gsm0 left its config
    assert lines_up(db, "beta") == {"gsm1": True}
    assert lines_up(db, "alpha") == {"gsm0": True}


def test_the_lines_report_gives_each_box_s_line_its_own_signal_and_state(db: Database) -> None:
    register(db, "alpha", "0.1.0", NOW)
    register(db, "beta", "0.1.0", NOW)
    _start(db, "alpha", {"gsm0": (True, -61)})
    _start(db, "beta", {"gsm0": (False, -97)})
    report = lines_report(db, Period(NOW - 3600, NOW + 3600, "total", "UTC"), now=NOW)
    got = {r["line"]: (r["state"], r["signal_dbm"]) for r in report.totals}
    assert got == {"alpha/gsm0": ("up", -61), "beta/gsm0": ("down", -97)}


def test_one_box_reads_its_lines_by_name_as_before(db: Database) -> None:
    register(db, "alpha", "0.1.0", NOW)
    _start(db, "alpha", {"gsm0": (True, -61)})
    report = lines_report(db, Period(NOW - 3600, NOW + 3600, "total", "UTC"), now=NOW)
    assert [(r["line"], r["state"]) for r in report.totals] == [("gsm0", "up")]


def test_rows_from_before_lines_were_kept_per_box_give_way_to_the_box_s_own(db: Database) -> None:
    """Rows recorded before v16 carry box '': the one box's, until its daemon starts."""
    with db.transaction():
        db.conn.execute(
            "INSERT INTO lines(name, kind, device, enabled, state, info, updated_at)"
            " VALUES ('gsm0', 'gsm', '/dev/old', 1, 'up', '{}', ?)",
            (NOW,),
        )
    assert lines_up(db, "alpha") == {"gsm0": True}
    _start(db, "alpha", {"gsm0": (False, -80)})
    assert lines_up(db, "alpha") == {"gsm0": False}
    rows = db.conn.execute("SELECT box, name FROM lines").fetchall()
    assert [tuple(r) for r in rows] == [("alpha", "gsm0")]
