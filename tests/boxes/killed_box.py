"""One campaign dialed by several real daemons (boxes) on one store, the first SIGKILLed
mid-campaign with calls in flight (#27): the run and its checks, for SQLite (two boxes on one
file, test_two_daemons.py) and PostgreSQL (three boxes, test_three_daemons_pg.py). The others
sweep the dead box's attempts through the dangling strategy (requeued) and finish the campaign:
0 contacts or numbers dialed twice concurrently, 0 attempts lost, `dialbox doctor` clean."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from appliance.cli import main
from appliance.store.db import Database
from tests.daemon.campaign import FAST_CALLS, write_contacts
from tests.daemon.process import ALWAYS_CALLABLE, DaemonProcess, EmulatorProcess, lines_config

REQUEUE_DELAY = 7200


def _daemon(home: Path, box: str, store: str, emulator: EmulatorProcess) -> DaemonProcess:
    home.mkdir()
    daemon = DaemonProcess(home)
    daemon.config.write_text(
        store
        + f"api:\n  listen: 127.0.0.1\n  port: {daemon.port}\n  socket: {home}/api.sock\n"
        + lines_config(emulator.links)
        + ALWAYS_CALLABLE
        + "engine:\n  tick: 0.1\n  dangling_action: requeue\n"
        + f"  requeue_delay: {REQUEUE_DELAY}\n"
        + f"box:\n  id: {box}\n  heartbeat_seconds: 0.5\n  sweep_after_seconds: 2\n"
    )
    return daemon


def query(where: str | Path, sql: str) -> list[tuple[object, ...]]:
    """Rows of `sql` on the store at `where` (a SQLite path, read-only; or a PostgreSQL URL)."""
    db = Database(where, readonly=not str(where).startswith("postgresql"))
    try:
        return [tuple(r) for r in db.conn.execute(sql)]
    finally:
        db.close()


def _wait(
    condition: Callable[[], bool],
    what: str,
    daemons: Sequence[DaemonProcess],
    timeout: float,
    poll: float,
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            logs = "\n".join(d.output()[-3000:] for d in daemons)
            raise AssertionError(f"timed out waiting for {what}:\n{logs}")
        for d in daemons:
            assert d.proc is not None and d.proc.poll() is None, d.output()[-3000:]
        time.sleep(poll)  # polling other processes' database


def run_and_check(
    tmp_path: Path,
    where: str | Path,
    store: Callable[[Path], str],
    boxes: Sequence[str],
    *,
    contacts: int,
    modems: int,
    done_each: int,
    timeout: float,
    poll: float,
) -> None:
    """Dial `contacts` from boxes `boxes` (each with `modems` emulated modems; `store(home)`: the
    config's store lines) on the store at `where`; SIGKILL the first once every box has ended
    `done_each` calls and it has some in flight; let the others finish; check."""
    emulators = [
        EmulatorProcess(
            tmp_path / f"modems-{b}", modems, script=FAST_CALLS, profile="simcom", seed=i
        )
        for i, b in enumerate(boxes, 1)
    ]
    daemons = [
        _daemon(tmp_path / b, b, store(tmp_path / b), m)
        for b, m in zip(boxes, emulators, strict=True)
    ]
    killed, survivors = daemons[0], daemons[1:]
    first = boxes[0]

    def count(sql: str) -> int:
        return int(str(query(where, sql)[0][0]))

    def done(box: str) -> int:
        return count(f"SELECT count(*) FROM attempts WHERE box = '{box}' AND status = 'done'")

    in_flight = f"SELECT count(*) FROM attempts WHERE box = '{first}' AND status = 'in_flight'"
    try:
        cli = ["--config", str(killed.config)]
        assert main([*cli, "campaign", "create", "c", "--type", "automated", "--region", "US"]) == 0
        csv = write_contacts(tmp_path / "contacts.csv", contacts)
        assert main([*cli, "import", "--campaign", "c", str(csv)]) == 0
        assert main([*cli, "campaign", "start", "c"]) == 0
        for d in daemons:
            d.start()
        for d in daemons:
            d.expect("READY")
        # every box dials; kill the first while it has calls in flight
        _wait(
            lambda: all(done(b) >= done_each for b in boxes) and count(in_flight) > 0,
            f"every box dialing, {first} with calls in flight",
            daemons,
            timeout,
            poll,
        )
        assert killed.proc is not None
        killed.proc.kill()
        killed.proc.wait(10)
        cut = {
            int(str(r[0]))
            for r in query(
                where, f"SELECT id FROM attempts WHERE box = '{first}' AND status = 'in_flight'"
            )
        }
        assert cut, "the kill landed with no call in flight: the test proved nothing"
        settled = "SELECT count(*) FROM contacts WHERE state IN ('Pending', 'Sent to Dialer')"
        _wait(
            lambda: (
                count(settled) == 0
                and count("SELECT count(*) FROM attempts WHERE status = 'in_flight'") == 0
            ),
            "the others finishing the campaign",
            survivors,
            timeout,
            poll,
        )
        for d in survivors:
            assert d.proc is not None
            d.proc.send_signal(signal.SIGTERM)
        for d in survivors:
            assert d.proc is not None and d.proc.wait(30) == 0, d.output()[-3000:]
    finally:
        for d in daemons:
            d.stop()
        for m in emulators:
            m.stop()

    # a survivor swept the killed box's attempts (its heartbeat stopped), each through the
    # dangling strategy: requeued
    states = {
        str(r[0]): (r[1], r[2]) for r in query(where, "SELECT id, state, swept_by FROM boxes")
    }
    assert states[first][0] == "swept" and states[first][1] in boxes[1:], states
    assert all(states[b] == ("stopped", None) for b in boxes[1:]), states
    rows = query(
        where,
        "SELECT a.id, a.box, k.state, k.next_at - a.ended_at FROM attempts a"
        " JOIN contacts k ON k.id = a.contact_id WHERE a.status = 'dangling'",
    )
    assert {int(str(r[0])) for r in rows} == cut
    for _, box, state, wait in rows:
        assert (box, state) == (first, "Not Connected")
        assert abs(float(str(wait)) - REQUEUE_DELAY) < 1
    # 0 attempts lost: every contact's count matches its attempts, every attempt ended (an
    # outcome, or swept as dangling), none left in flight
    assert query(where, "SELECT count(*) FROM contacts") == [(contacts,)]
    assert query(
        where,
        "SELECT count(*) FROM contacts k"
        " WHERE k.attempts != (SELECT count(*) FROM attempts WHERE contact_id = k.id)",
    ) == [(0,)]
    assert query(where, "SELECT count(*) FROM attempts WHERE status = 'in_flight'") == [(0,)]
    assert query(
        where,
        "SELECT count(*) FROM attempts"
        " WHERE status NOT IN ('done', 'dangling') OR (status = 'done' AND outcome IS NULL)",
    ) == [(0,)]
    # 0 contacts (and 0 numbers) dialed twice concurrently: no two attempts overlap in time
    overlap = (
        "SELECT count(*) FROM attempts x JOIN attempts y ON x.{key} = y.{key} AND y.id > x.id"
        " WHERE y.queued_at < coalesce(x.ended_at, 1e18) AND x.queued_at < coalesce(y.ended_at, 1e18)"
    )
    assert query(where, overlap.format(key="contact_id")) == [(0,)]
    assert query(where, overlap.format(key="number")) == [(0,)]
    # every box dialed the one campaign, each attempt naming its box
    by_box = dict(query(where, "SELECT box, count(*) FROM attempts GROUP BY box"))
    assert set(by_box) == set(boxes), by_box
    # each box's lines recorded as its own, though the boxes name their lines alike: a box's
    # start dropped the others' rows, and one box's state overwrote another's
    names = [m.links[0].name for m in emulators]
    assert len(set(names)) == 1, names
    assert query(where, "SELECT count(*) FROM lines") == [(len(boxes) * modems,)]
    lines = query(where, "SELECT box, count(*) FROM lines GROUP BY box ORDER BY box")
    assert lines == [(b, modems) for b in sorted(boxes)], lines
    assert main(["--config", str(survivors[0].config), "doctor"]) == 0
