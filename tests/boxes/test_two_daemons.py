"""Two real daemons (two boxes), each with its own emulated modems, dial one campaign on one
SQLite file (WAL); one is SIGKILLed mid-campaign (#27). The other sweeps the dead box's
attempts after `box.sweep_after_seconds` through the dangling strategy (requeued), and finishes
the campaign: 0 contacts dialed twice concurrently, 0 attempts lost."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

from appliance.cli import main
from appliance.store.db import Database
from tests.daemon.campaign import FAST_CALLS, write_contacts
from tests.daemon.process import ALWAYS_CALLABLE, DaemonProcess, EmulatorProcess, lines_config

CONTACTS = 200
REQUEUE_DELAY = 7200


def _daemon(tmp: Path, box: str, db_path: Path, emulator: EmulatorProcess) -> DaemonProcess:
    home = tmp / box
    home.mkdir()
    daemon = DaemonProcess(home)
    daemon.config.write_text(
        f"database: {db_path}\n"
        f"api:\n  listen: 127.0.0.1\n  port: {daemon.port}\n  socket: {home}/api.sock\n"
        + lines_config(emulator.links)
        + ALWAYS_CALLABLE
        + "engine:\n  tick: 0.1\n  dangling_action: requeue\n"
        + f"  requeue_delay: {REQUEUE_DELAY}\n"
        + f"box:\n  id: {box}\n  heartbeat_seconds: 0.5\n  sweep_after_seconds: 2\n"
    )
    return daemon


def _query(db_path: Path, sql: str) -> list[tuple[object, ...]]:
    db = Database(db_path, readonly=True)
    try:
        return [tuple(r) for r in db.conn.execute(sql)]
    finally:
        db.close()


def _wait(
    condition: Callable[[], bool], what: str, daemons: list[DaemonProcess], timeout: float = 120.0
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            logs = "\n".join(d.output()[-3000:] for d in daemons)
            raise AssertionError(f"timed out waiting for {what}:\n{logs}")
        for d in daemons:
            assert d.proc is not None and d.proc.poll() is None, d.output()[-3000:]
        time.sleep(0.05)  # polling other processes' database


def test_two_boxes_one_killed_nothing_doubled_nothing_lost(tmp_path: Path) -> None:
    db_path = tmp_path / "state" / "dialbox.db"
    modems_a = EmulatorProcess(tmp_path / "modems-a", 4, script=FAST_CALLS, profile="simcom")
    modems_b = EmulatorProcess(
        tmp_path / "modems-b", 4, script=FAST_CALLS, profile="simcom", seed=2
    )
    a = _daemon(tmp_path, "a", db_path, modems_a)
    b = _daemon(tmp_path, "b", db_path, modems_b)
    try:
        cli = ["--config", str(a.config)]
        assert main([*cli, "campaign", "create", "c", "--type", "automated", "--region", "US"]) == 0
        csv = write_contacts(tmp_path / "contacts.csv", CONTACTS)
        assert main([*cli, "import", "--campaign", "c", str(csv)]) == 0
        assert main([*cli, "campaign", "start", "c"]) == 0
        a.start()
        b.start()
        a.expect("READY")
        b.expect("READY")

        def count(sql: str) -> int:
            return int(str(_query(db_path, sql)[0][0]))

        # both boxes dial; kill a while it has calls in flight
        _wait(
            lambda: (
                count("SELECT count(*) FROM attempts WHERE box = 'b' AND status = 'done'") >= 10
                and count("SELECT count(*) FROM attempts WHERE box = 'a' AND status = 'done'") >= 10
                and count("SELECT count(*) FROM attempts WHERE box = 'a' AND status = 'in_flight'")
                > 0
            ),
            "both boxes dialing, a with calls in flight",
            [a, b],
        )
        assert a.proc is not None
        a.proc.kill()
        a.proc.wait(10)
        cut = {
            int(str(r[0]))
            for r in _query(
                db_path, "SELECT id FROM attempts WHERE box = 'a' AND status = 'in_flight'"
            )
        }
        assert cut, "the kill landed with no call of a's in flight: the test proved nothing"

        settled = "SELECT count(*) FROM contacts WHERE state IN ('Pending', 'Sent to Dialer')"
        _wait(
            lambda: (
                count(settled) == 0
                and count("SELECT count(*) FROM attempts WHERE status = 'in_flight'") == 0
            ),
            "b finishing the campaign",
            [b],
        )
        assert b.proc is not None
        b.proc.send_signal(signal.SIGTERM)
        assert b.proc.wait(30) == 0, b.output()[-3000:]
    finally:
        a.stop()
        b.stop()
        modems_a.stop()
        modems_b.stop()

    # b swept a's attempts (a's heartbeat stopped), each through the dangling strategy: requeued
    assert _query(db_path, "SELECT id, state, swept_by FROM boxes ORDER BY id") == [
        ("a", "swept", "b"),
        ("b", "stopped", None),
    ]
    rows = _query(
        db_path,
        "SELECT a.id, a.box, k.state, k.next_at - a.ended_at FROM attempts a"
        " JOIN contacts k ON k.id = a.contact_id WHERE a.status = 'dangling'",
    )
    assert {int(str(r[0])) for r in rows} == cut
    for _, box, state, wait in rows:
        assert (box, state) == ("a", "Not Connected")
        assert abs(float(str(wait)) - REQUEUE_DELAY) < 1
    # 0 attempts lost: every contact's count matches its attempts, none left in flight
    assert _query(db_path, "SELECT count(*) FROM contacts") == [(CONTACTS,)]
    assert _query(
        db_path,
        "SELECT count(*) FROM contacts k"
        " WHERE k.attempts != (SELECT count(*) FROM attempts WHERE contact_id = k.id)",
    ) == [(0,)]
    assert _query(db_path, "SELECT count(*) FROM attempts WHERE status = 'in_flight'") == [(0,)]
    # 0 contacts (and 0 numbers) dialed twice concurrently: no two attempts overlap in time
    overlap = (
        "SELECT count(*) FROM attempts x JOIN attempts y ON x.{key} = y.{key} AND y.id > x.id"
        " WHERE y.queued_at < coalesce(x.ended_at, 1e18) AND x.queued_at < coalesce(y.ended_at, 1e18)"
    )
    assert _query(db_path, overlap.format(key="contact_id")) == [(0,)]
    assert _query(db_path, overlap.format(key="number")) == [(0,)]
    # both boxes dialed: the campaign was shared, and each attempt names its box
    by_box = dict(_query(db_path, "SELECT box, count(*) FROM attempts GROUP BY box"))
    assert set(by_box) == {"a", "b"}, by_box
    assert main(["--config", str(b.config), "doctor"]) == 0
