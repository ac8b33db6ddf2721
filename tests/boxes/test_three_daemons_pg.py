"""The Must-show of #27 on a real PostgreSQL: three real daemons (three boxes), each with its own
emulated modems and its own `box.id`, dial one campaign from one PostgreSQL database
(`store: {url: postgresql://…}`); one is SIGKILLed mid-campaign. The others sweep its attempts
in flight through the dangling strategy and finish the campaign: 0 contacts or numbers dialed
twice concurrently, 0 attempts lost, `dialbox doctor` clean."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

from appliance.cli import main
from appliance.store.db import Database
from tests.daemon.campaign import FAST_CALLS, write_contacts
from tests.daemon.process import ALWAYS_CALLABLE, DaemonProcess, EmulatorProcess, lines_config

CONTACTS = 180
REQUEUE_DELAY = 7200
BOXES = ("a", "b", "c")


def _daemon(tmp: Path, box: str, url: str, emulator: EmulatorProcess) -> DaemonProcess:
    home = tmp / box
    home.mkdir()
    daemon = DaemonProcess(home)
    daemon.config.write_text(
        f'database: {home}/local.db\nstore:\n  url: "{url}"\n'  # database: the local files
        f"api:\n  listen: 127.0.0.1\n  port: {daemon.port}\n  socket: {home}/api.sock\n"
        + lines_config(emulator.links)
        + ALWAYS_CALLABLE
        + "engine:\n  tick: 0.1\n  dangling_action: requeue\n"
        + f"  requeue_delay: {REQUEUE_DELAY}\n"
        + f"box:\n  id: {box}\n  heartbeat_seconds: 0.5\n  sweep_after_seconds: 2\n"
    )
    return daemon


def _query(url: str, sql: str) -> list[tuple[object, ...]]:
    db = Database(url)
    try:
        return [tuple(r) for r in db.conn.execute(sql)]
    finally:
        db.close()


def _wait(
    condition: Callable[[], bool], what: str, daemons: list[DaemonProcess], timeout: float = 180.0
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            logs = "\n".join(d.output()[-3000:] for d in daemons)
            raise AssertionError(f"timed out waiting for {what}:\n{logs}")
        for d in daemons:
            assert d.proc is not None and d.proc.poll() is None, d.output()[-3000:]
        time.sleep(0.1)  # polling other processes' database


def test_three_boxes_on_postgresql_one_killed_nothing_doubled_nothing_lost(
    tmp_path: Path, pg_url: str
) -> None:
    modems = [
        EmulatorProcess(tmp_path / f"modems-{b}", 3, script=FAST_CALLS, profile="simcom", seed=i)
        for i, b in enumerate(BOXES, 1)
    ]
    daemons = [_daemon(tmp_path, b, pg_url, m) for b, m in zip(BOXES, modems, strict=True)]
    a, b, c = daemons
    try:
        cli = ["--config", str(a.config)]
        assert main([*cli, "campaign", "create", "c", "--type", "automated", "--region", "US"]) == 0
        csv = write_contacts(tmp_path / "contacts.csv", CONTACTS)
        assert main([*cli, "import", "--campaign", "c", str(csv)]) == 0
        assert main([*cli, "campaign", "start", "c"]) == 0
        for d in daemons:
            d.start()
        for d in daemons:
            d.expect("READY")

        def count(sql: str) -> int:
            return int(str(_query(pg_url, sql)[0][0]))

        def done(box: str) -> int:
            return count(f"SELECT count(*) FROM attempts WHERE box = '{box}' AND status = 'done'")

        # all three dial; kill a while it has calls in flight
        _wait(
            lambda: (
                all(done(x) >= 5 for x in BOXES)
                and count("SELECT count(*) FROM attempts WHERE box = 'a' AND status = 'in_flight'")
                > 0
            ),
            "the three boxes dialing, a with calls in flight",
            daemons,
        )
        assert a.proc is not None
        a.proc.kill()
        a.proc.wait(10)
        cut = {
            int(str(r[0]))
            for r in _query(
                pg_url, "SELECT id FROM attempts WHERE box = 'a' AND status = 'in_flight'"
            )
        }
        assert cut, "the kill landed with no call of a's in flight: the test proved nothing"

        settled = "SELECT count(*) FROM contacts WHERE state IN ('Pending', 'Sent to Dialer')"
        _wait(
            lambda: (
                count(settled) == 0
                and count("SELECT count(*) FROM attempts WHERE status = 'in_flight'") == 0
            ),
            "b and c finishing the campaign",
            [b, c],
        )
        for d in (b, c):
            assert d.proc is not None
            d.proc.send_signal(signal.SIGTERM)
        for d in (b, c):
            assert d.proc is not None and d.proc.wait(30) == 0, d.output()[-3000:]
    finally:
        for d in daemons:
            d.stop()
        for m in modems:
            m.stop()

    # a survivor swept a's attempts (a's heartbeat stopped), each through the dangling strategy
    boxes = {
        str(r[0]): (r[1], r[2]) for r in _query(pg_url, "SELECT id, state, swept_by FROM boxes")
    }
    assert boxes["a"][0] == "swept" and boxes["a"][1] in {"b", "c"}, boxes
    assert boxes["b"] == boxes["c"] == ("stopped", None), boxes
    rows = _query(
        pg_url,
        "SELECT a.id, a.box, k.state, k.next_at - a.ended_at FROM attempts a"
        " JOIN contacts k ON k.id = a.contact_id WHERE a.status = 'dangling'",
    )
    assert {int(str(r[0])) for r in rows} == cut
    for _, box, state, wait in rows:
        assert (box, state) == ("a", "Not Connected")
        assert abs(float(str(wait)) - REQUEUE_DELAY) < 1
    # 0 attempts lost: every attempt ended (an outcome, or swept as dangling), every contact's count matches
    assert _query(pg_url, "SELECT count(*) FROM contacts") == [(CONTACTS,)]
    assert _query(
        pg_url,
        "SELECT count(*) FROM contacts k"
        " WHERE k.attempts != (SELECT count(*) FROM attempts WHERE contact_id = k.id)",
    ) == [(0,)]
    assert _query(
        pg_url,
        "SELECT count(*) FROM attempts"
        " WHERE status NOT IN ('done', 'dangling') OR (status = 'done' AND outcome IS NULL)",
    ) == [(0,)]
    # 0 contacts (and 0 numbers) dialed twice concurrently: no two attempts overlap in time
    overlap = (
        "SELECT count(*) FROM attempts x JOIN attempts y ON x.{key} = y.{key} AND y.id > x.id"
        " WHERE y.queued_at < coalesce(x.ended_at, 1e18) AND x.queued_at < coalesce(y.ended_at, 1e18)"
    )
    assert _query(pg_url, overlap.format(key="contact_id")) == [(0,)]
    assert _query(pg_url, overlap.format(key="number")) == [(0,)]
    # the three boxes dialed the one campaign, each attempt naming its box
    by_box = dict(_query(pg_url, "SELECT box, count(*) FROM attempts GROUP BY box"))
    assert set(by_box) == set(BOXES), by_box
    assert main(["--config", str(b.config), "doctor"]) == 0
