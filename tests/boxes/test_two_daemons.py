"""Two real daemons (two boxes), each with its own emulated modems, dial one campaign on one
SQLite file (WAL); one is SIGKILLed mid-campaign (#27). The other sweeps the dead box's
attempts after `box.sweep_after_seconds` through the dangling strategy (requeued), and finishes
the campaign: 0 contacts dialed twice concurrently, 0 attempts lost (tests/boxes/killed_box.py)."""

from __future__ import annotations

from pathlib import Path

from tests.boxes.killed_box import run_and_check


def test_two_boxes_one_killed_nothing_doubled_nothing_lost(tmp_path: Path) -> None:
    db_path = tmp_path / "state" / "dialbox.db"
    run_and_check(
        tmp_path, db_path, lambda home: f"database: {db_path}\n", ("a", "b"),
        contacts=200, modems=4, done_each=10, timeout=120.0, poll=0.05,
    )  # fmt: skip
