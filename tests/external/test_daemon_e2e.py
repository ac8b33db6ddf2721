"""External lists end to end (SPEC D9, #26): the real daemon as a subprocess, emulated modems, a
real PostgreSQL. The campaign dials the rows of its name and writes each result back; the other
campaign's rows are never touched; results made while PostgreSQL is stopped are written once it
is back, none lost, in order; rows held on SIGTERM, and on SIGKILL (at the next start), go back to
their previous state."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

from appliance.cli import main
from appliance.store.db import Database
from tests.daemon.process import ALWAYS_CALLABLE, DaemonProcess, EmulatorProcess, lines_config
from tests.external.conftest import PASSWORD, Customer, list_config
from tests.pgserver import Postgres

ROWS = 16


def _wait(what: str, cond: Callable[[], bool], daemon: DaemonProcess, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out: {what}\n{daemon.output()[-4000:]}"
        assert daemon.proc is not None and daemon.proc.poll() is None, daemon.output()[-4000:]
        time.sleep(0.05)  # polling another process's database


def _box(db: Path, sql: str) -> list[tuple[object, ...]]:
    conn = Database(db, readonly=True)
    try:
        return [tuple(r) for r in conn.conn.execute(sql)]
    finally:
        conn.close()


def test_daemon_dials_rows_writes_back_catches_up_and_releases(
    tmp_path: Path, pg: Postgres, customer: Customer
) -> None:
    customer.add(1, ROWS, "c")
    customer.add(101, 2, "c", state=2)  # NoSuccess, no redial time: due now
    customer.add(201, 3, "other")
    secret = tmp_path / "crm.password"
    secret.write_text(PASSWORD + "\n")
    emulator = EmulatorProcess(tmp_path / "modems", 2, script="time_scale = 0.05\n",
                               profile="simcom")  # fmt: skip
    extra = (
        lines_config(emulator.links) + ALWAYS_CALLABLE + "engine:\n  tick: 0.1\n"
        "  drain_timeout: 5\n" + list_config(pg, customer, secret, "    batch: 3\n")
    )
    daemon = DaemonProcess(tmp_path, extra)
    box = tmp_path / "state" / "dialbox.db"
    cli = ["--config", str(daemon.config)]
    try:
        assert main([*cli, "campaign", "create", "c", "--type", "automated", "--region", "US"]) == 0
        assert main([*cli, "campaign", "set", "c", "external_list=crm"]) == 0
        assert main([*cli, "campaign", "start", "c"]) == 0

        def written() -> int:
            return len(customer.sql('SELECT id FROM kontakte WHERE "LastState" IS NOT NULL'))

        def owed() -> int:
            rows = _box(box, "SELECT count(*) FROM external_writes WHERE done_at IS NULL")
            return int(str(rows[0][0]))

        daemon.start()
        daemon.expect("READY")
        _wait("three results written back", lambda: written() >= 3, daemon)
        # PostgreSQL stops mid-campaign: the box dials what it holds, the results wait
        pg.stop()
        try:
            _wait("a result owed while PostgreSQL is down", lambda: owed() >= 1, daemon)
            errors = _box(box, "SELECT error FROM external_status")
            assert errors and "crm" in str(errors[0][0]), errors
        finally:
            pg.start()
        _wait("the owed results written", lambda: owed() == 0, daemon)
        _wait("more rows dialed after the catch-up", lambda: written() >= 8, daemon)
        assert daemon.proc is not None
        daemon.proc.send_signal(signal.SIGTERM)
        assert daemon.proc.wait(60) == 0, daemon.output()[-3000:]

        states = customer.states("c")
        assert 3 not in states.values(), states  # nothing left MarkedForDialing
        assert customer.states("other") == {201: 0, 202: 0, 203: 0}
        assert customer.sql("SELECT count(*) FROM changes WHERE id > 200") == [["0"]]
        # every attempt's result is at the customer's: the four fields, in the attempts' order
        attempts = _box(box, "SELECT k.external_id, a.outcome, a.attempt_no FROM attempts a"
                             " JOIN contacts k ON k.id = a.contact_id WHERE a.status = 'done'"
                             " ORDER BY a.seq")  # fmt: skip
        assert len(attempts) >= 8
        for key, outcome, number in attempts:
            state, last, _, count = customer.row(int(str(key)))
            assert (last, count) == (outcome, number), (key, customer.row(int(str(key))))
            assert state in (-1, 1, 2)
        results = [int(r[0]) for r in customer.sql(
            "SELECT id FROM changes WHERE last IS NOT NULL AND state != 3 ORDER BY seq")]  # fmt: skip
        assert results == [int(str(k)) for k, _, _ in attempts]
        # rows released on SIGTERM went back to their previous state: 0, or 2 for 101/102
        undialed = {int(str(k)) for k, _, _ in attempts} ^ set(states)
        assert all(states[k] == (2 if k > 100 else 0) for k in undialed), states

        # SIGKILL while rows are held: the next start releases them before dialing again
        daemon.start()
        daemon.expect("READY")
        _wait("rows marked again", lambda: 3 in customer.states("c").values(), daemon)
        daemon.proc.kill()
        daemon.proc.wait(10)
        held = {k for k, s in customer.states("c").items() if s == 3}
        assert held

        def trail(key: int) -> list[str]:
            return [":".join(r) for r in customer.sql(
                f"SELECT state, coalesce(last::text, '') FROM changes WHERE id = {key}"
                " ORDER BY seq")]  # fmt: skip

        before = {key: len(trail(key)) for key in held}
        daemon.start()
        daemon.expect("READY")
        _wait("every row dialed", lambda: written() == ROWS + 2, daemon, timeout=120)
        daemon.proc.send_signal(signal.SIGTERM)
        assert daemon.proc.wait(60) == 0
        assert 3 not in customer.states("c").values()
        # each row the kill left held was released (3 -> its previous state) by the restart,
        # before it was marked and dialed again; one whose call the kill cut was recorded as
        # dangling (ErrorOccurred, 9) and that result written back instead
        dangling = {int(str(k)) for (k,) in _box(box, "SELECT k.external_id FROM attempts a JOIN"
                    " contacts k ON k.id = a.contact_id WHERE a.status = 'dangling'")}  # fmt: skip
        for key in held:
            changes = trail(key)
            previous = "2" if key > 100 else "0"
            if key in dangling:
                assert changes[before[key]] == "2:9", (key, changes)
            else:
                assert changes[before[key]].split(":")[0] == previous, (key, changes)
    finally:
        daemon.stop()
        emulator.stop()
