"""The Must-show of #27 on a real PostgreSQL: three real daemons (three boxes), each with its own
emulated modems and its own `box.id`, dial one campaign from one PostgreSQL database
(`store: {url: postgresql://…}`); one is SIGKILLed mid-campaign. The others sweep its attempts
in flight through the dangling strategy and finish the campaign: 0 contacts or numbers dialed
twice concurrently, 0 attempts lost, `dialbox doctor` clean (tests/boxes/killed_box.py)."""

from __future__ import annotations

from pathlib import Path

from tests.boxes.killed_box import run_and_check


def test_three_boxes_on_postgresql_one_killed_nothing_doubled_nothing_lost(
    tmp_path: Path, pg_url: str
) -> None:
    def store(home: Path) -> str:  # database: where each box's local files go
        return f'database: {home}/local.db\nstore:\n  url: "{pg_url}"\n'

    run_and_check(
        tmp_path, pg_url, store, ("a", "b", "c"),
        contacts=180, modems=3, done_each=5, timeout=180.0, poll=0.1,
    )  # fmt: skip
