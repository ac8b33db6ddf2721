"""A dialbox under test: emulated modems, a config that drives them, a campaign of contacts, the daemon."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from appliance.cli import main
from appliance.store.db import Database
from tests.daemon.process import ALWAYS_CALLABLE, DaemonProcess, EmulatorProcess, lines_config

AREA_CODES = ("212", "312", "415", "206", "617")
FAST_CALLS = "time_scale = 0.02\n"


def write_contacts(path: Path, count: int) -> Path:
    rows = []  # the ECM column order without a header: Phone1..Phone5, BP1..BP12
    for i in range(count):
        area = AREA_CODES[i // 100]
        rows.append(f"({area}) 555-{100 + i % 100:04d},,,,,Callee {i},AC-{i:05d}")
    path.write_text("\n".join(rows) + "\n")
    return path


class Box:
    """Emulated modems + the daemon's config + a running campaign named `c`."""

    def __init__(
        self, tmp: Path, *, modems: int, contacts: int, engine: str = "", script: str = FAST_CALLS
    ):
        self.tmp = tmp
        self.emulator = EmulatorProcess(tmp / "modems", modems, script=script, profile="simcom")
        extra = (
            lines_config(self.emulator.links) + ALWAYS_CALLABLE + "engine:\n  tick: 0.1\n" + engine
        )
        self.daemon = DaemonProcess(tmp, extra)
        cli = ["--config", str(self.daemon.config)]
        assert main([*cli, "campaign", "create", "c", "--type", "automated", "--region", "US"]) == 0
        csv = write_contacts(tmp / "contacts.csv", contacts)
        assert main([*cli, "import", "--campaign", "c", str(csv)]) == 0
        assert main([*cli, "campaign", "start", "c"]) == 0
        self.contacts = contacts

    @property
    def db_path(self) -> Path:
        return self.tmp / "state" / "dialbox.db"

    def query(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        db = Database(self.db_path, readonly=True)
        try:
            return [tuple(r) for r in db.conn.execute(sql, params)]
        finally:
            db.close()

    def states(self) -> dict[str, int]:
        return {
            str(s): int(str(n))
            for s, n in self.query("SELECT state, count(*) FROM contacts GROUP BY state")
        }

    def wait_until(
        self, condition: Callable[[], bool], timeout: float = 120.0, what: str = ""
    ) -> None:
        """Poll a condition on the database (the daemon is another process) until it holds."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out waiting for {what or condition}: {self.states()}\n"
                    f"attempts in flight: {self.in_flight()}\n"
                    f"daemon log: {self.daemon.output()[-4000:]}"
                )
            if self.daemon.proc is not None and self.daemon.proc.poll() is not None:
                raise AssertionError(f"the daemon exited: {self.daemon.output()[-3000:]}")
            time.sleep(0.05)

    def in_flight(self) -> list[tuple[object, ...]]:
        return self.query(
            "SELECT a.id, a.contact_id, a.line, a.status, a.dialed_at, k.state FROM attempts a"
            " JOIN contacts k ON k.id = a.contact_id WHERE a.status != 'done'"
            " OR k.state = 'Sent to Dialer'"
        )

    def settled(self) -> bool:
        states = self.states()
        return states.get("Pending", 0) == 0 and states.get("Sent to Dialer", 0) == 0

    def close(self) -> None:
        self.daemon.stop()
        self.emulator.stop()


def run_campaign(tmp: Path, lines: str, contacts: int) -> list[tuple[object, ...]]:
    """An automated campaign of ``contacts`` dialled by the real daemon over ``lines`` (config
    YAML) until none is pending or in flight, then SIGTERM; the attempts (line, outcome, evidence)."""
    import signal

    daemon = DaemonProcess(tmp, lines + ALWAYS_CALLABLE + "engine:\n  tick: 0.1\n")
    cli = ["--config", str(daemon.config)]
    assert main([*cli, "campaign", "create", "c", "--type", "automated", "--region", "US"]) == 0
    assert (
        main([*cli, "import", "--campaign", "c", str(write_contacts(tmp / "c.csv", contacts))]) == 0
    )
    assert main([*cli, "campaign", "start", "c"]) == 0
    daemon.start()
    try:
        daemon.expect("READY")
        db = Database(tmp / "state" / "dialbox.db", readonly=True)
        try:
            deadline = time.monotonic() + 120
            waiting = "SELECT count(*) FROM contacts WHERE state IN ('Pending', 'Sent to Dialer')"
            while db.conn.execute(waiting).fetchone()[0]:
                assert time.monotonic() < deadline, daemon.output()[-3000:]
                assert daemon.proc is not None and daemon.proc.poll() is None, daemon.output()[
                    -3000:
                ]
                time.sleep(0.1)  # polling another process's database
        finally:
            db.close()
        assert daemon.proc is not None
        daemon.proc.send_signal(signal.SIGTERM)
        assert daemon.proc.wait(30) == 0
    finally:
        daemon.stop()
    db = Database(tmp / "state" / "dialbox.db", readonly=True)
    try:
        return [tuple(r) for r in db.conn.execute("SELECT line, outcome, evidence FROM attempts")]
    finally:
        db.close()


@contextmanager
def box(tmp: Path, **kwargs: object) -> Iterator[Box]:
    b = Box(tmp, **kwargs)  # type: ignore[arg-type]
    try:
        yield b
    finally:
        b.close()
