"""`Engine` on its own: the store, the real planner, the injected clock and a fake `Line` whose
calls the test answers, ends and breaks — no daemon, no emulator, no sleeps. What is recorded
(outcome, times, evidence, the contact's next state) is what a user reads in `dialbox why`, the
results and the webhook."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from appliance.clock import ManualClock
from appliance.config.models import DialboxConfig
from appliance.domain import ContactState, Outcome
from appliance.drivers.line import (
    CallResult,
    Capabilities,
    Line,
    LineDown,
    LineError,
    LineHealth,
    LineUp,
)
from appliance.engine.dialer import Engine
from appliance.engine.linepool import LinePool
from appliance.engine.storeplanner import StorePlanner
from appliance.scheduler.strategy import parse_strategy, to_dict
from appliance.store import open_database
from appliance.store.strategies import save_strategy
from tests.drivers.drivers_fakes import run
from tests.scheduler.dbfixtures import add_campaign, add_contact

# Wednesday 2026-06-10 12:00 in New York: inside calling hours.
NOW = dt.datetime(2026, 6, 10, 16, 0, tzinfo=dt.UTC).timestamp()
NY1 = "+12125550101"
RETRY = 20.0  # the strategy's redial delay after anything but Connected


class FakeLine(Line):
    """A line whose calls the test drives: `dial` waits for `answer`/`fail`, an answered call
    lasts until `far_end_hangs_up` or `fault` (the line lost under it)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.up = False
        self.dialed: list[str] = []
        self._dialing: asyncio.Future[CallResult] | None = None
        self._ended: asyncio.Future[CallResult] | None = None
        self._last: CallResult | None = None
        self._talking = asyncio.Event()  # the engine waits for the answered call's end
        self._dial_began = asyncio.Event()

    async def open(self) -> None:
        self.up = True
        self.emit(LineUp(self.name))

    async def close(self) -> None:
        self.up = False

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities()

    def health(self) -> LineHealth:
        return LineHealth(up=self.up, registered=self.up, registration="home")

    async def dial(self, number: str, ring_timeout: float = 25.0) -> CallResult:
        self.dialed.append(number)
        self._dialing = asyncio.get_running_loop().create_future()
        self._dial_began.set()
        return await self._dialing

    async def hang_up(self) -> CallResult | None:
        if self._ended is not None and not self._ended.done():
            self._finish(Outcome.CONNECTED, "hung up by the box")
        return self._last

    async def wait_call_end(self, timeout: float | None = None) -> CallResult | None:
        if self._ended is None:
            return self._last
        self._talking.set()
        try:
            return await asyncio.wait_for(asyncio.shield(self._ended), timeout)
        except TimeoutError:
            return None

    # -- the test's side ---------------------------------------------------------------------
    async def dialing(self) -> str:
        """The number being dialed, once the engine has asked the line to dial."""
        await self._dial_began.wait()
        self._dial_began.clear()
        return self.dialed[-1]

    async def answer(self) -> None:
        """The callee answers; returns once the engine is on the call (its answer recorded)."""
        assert self._dialing is not None
        self._talking.clear()
        self._ended = asyncio.get_running_loop().create_future()
        self._dialing.set_result(
            CallResult(self.dialed[-1], Outcome.CONNECTED, ("answered",), {}, answered=True,
                       ended=False)
        )  # fmt: skip
        await self._talking.wait()

    def fail(self, exc: LineError) -> None:
        assert self._dialing is not None
        self._dialing.set_exception(exc)

    def far_end_hangs_up(self) -> None:
        self._finish(Outcome.CONNECTED, "far end hung up")

    def fault(self, reason: str) -> None:
        """The line goes down under the call (unplugged, silent): the call ends in error."""
        self._finish(Outcome.ERROR_OCCURRED, f"line lost: {reason}")
        self.up = False
        self.emit(LineDown(self.name, reason))

    def _finish(self, outcome: Outcome, why: str) -> None:
        assert self._ended is not None
        self._last = CallResult(self.dialed[-1], outcome, (why,), {}, answered=True,
                                end_reason=why)  # fmt: skip
        self._ended.set_result(self._last)


class Rig:
    def __init__(self, tmp: Path) -> None:
        self.db = open_database(tmp / "d.db")
        strategy = {"name": "s", "on": {"Connected": "close", "default": f"retry {RETRY:g}s"}}
        save_strategy(self.db, "s", to_dict(parse_strategy(strategy)), 0.0, "test")
        settings = {"strategy": "s", "max_attempts": 3, "webhook": "http://crm.example/hook"}
        cid = add_campaign(self.db, "c", json.dumps(settings))
        self.db.conn.execute("UPDATE campaigns SET type = 'automated' WHERE id = ?", (cid,))
        self.contact = add_contact(self.db, cid, [NY1])
        self.config = DialboxConfig.model_validate(
            {
                "database": self.db.path,
                "timezone": "America/New_York",
                "lines": [{"name": "l1", "kind": "gsm", "device": "/dev/fake-l1"}],
            }
        )
        self.clock = ManualClock(NOW)
        self.lines: dict[str, FakeLine] = {}
        self.pool = LinePool(self.config, self._line, db=self.db, clock=self.clock)
        self.engine = Engine(
            self.config,
            self.db,
            self.clock,
            self.pool,
            StorePlanner(self.config, self.db, self.clock),
        )

    def _line(self, config: Any) -> FakeLine:
        line = self.lines[config.name] = FakeLine(config.name)
        return line

    async def finished(self) -> None:
        """Every call in flight has ended and its outcome is recorded."""
        await asyncio.gather(*(call.task for call in list(self.engine.calls.values())))

    def attempts(self) -> list[dict[str, Any]]:
        cols = ("outcome", "status", "dialed_at", "answered_at", "ended_at", "evidence", "line")
        rows = self.db.conn.execute(f"SELECT {', '.join(cols)} FROM attempts ORDER BY id")
        return [dict(zip(cols, row, strict=True)) for row in rows]

    def contact_state(self) -> tuple[str, int, float | None]:
        row = self.db.conn.execute(
            "SELECT state, attempts, next_at FROM contacts WHERE id = ?", (self.contact,)
        ).fetchone()
        assert row is not None
        return str(row[0]), int(row[1]), row[2]

    def outbox(self) -> list[dict[str, Any]]:
        rows = self.db.conn.execute("SELECT payload FROM outbox ORDER BY id")
        return [json.loads(str(row[0])) for row in rows]


@pytest.fixture()
def rig(tmp_path: Path) -> Rig:
    return Rig(tmp_path)


def test_a_contact_is_dialed_answered_and_recorded_with_the_clock_s_times(rig: Rig) -> None:
    async def main() -> None:
        line = rig.lines["l1"]
        await line.open()
        assert rig.engine.round() == 1
        assert await line.dialing() == NY1
        assert rig.engine.round() == 0  # the only line is busy with the call
        rig.clock.advance(7)
        await line.answer()
        rig.clock.advance(30)
        line.far_end_hangs_up()
        await rig.finished()

    run(main())
    (attempt,) = rig.attempts()
    assert attempt["outcome"] == int(Outcome.CONNECTED)
    assert attempt["status"] == "done" and attempt["line"] == "l1"
    assert (attempt["dialed_at"], attempt["answered_at"], attempt["ended_at"]) == (
        NOW,
        NOW + 7,
        NOW + 37,
    )
    assert "far end hung up" in attempt["evidence"]
    assert rig.contact_state() == (ContactState.CONNECTED, 1, None)
    (push,) = rig.outbox()
    assert (push["outcome"], push["number"], push["line"]) == ("Connected", NY1, "l1")
    assert (push["dialed_at"], push["answered_at"], push["ended_at"]) == (NOW, NOW + 7, NOW + 37)


def test_a_line_lost_mid_call_records_error_occurred_and_the_contact_is_retried_once(
    rig: Rig,
) -> None:
    async def main() -> None:
        line = rig.lines["l1"]
        await line.open()
        assert rig.engine.round() == 1
        await line.dialing()
        await line.answer()
        rig.clock.advance(12)
        line.fault("modem unplugged")
        await rig.finished()
        state, attempts, next_at = rig.contact_state()
        assert (state, attempts, next_at) == (ContactState.NOT_CONNECTED, 1, NOW + 12 + RETRY)

        await line.open()  # plugged back in
        assert rig.engine.round() == 0  # the redial is not due yet
        rig.clock.advance(RETRY)
        assert rig.engine.round() == 1
        assert await line.dialing() == NY1
        await line.answer()
        line.far_end_hangs_up()
        await rig.finished()
        assert rig.engine.round() == 0  # closed: nothing more to dial

    run(main())
    first, second = rig.attempts()
    assert first["outcome"] == int(Outcome.ERROR_OCCURRED)
    assert "line lost: modem unplugged" in first["evidence"]
    assert second["outcome"] == int(Outcome.CONNECTED)
    assert rig.contact_state() == (ContactState.CONNECTED, 2, None)
    assert [p["outcome"] for p in rig.outbox()] == ["ErrorOccurred", "Connected"]


def test_a_line_error_at_the_dial_is_recorded_not_lost(rig: Rig) -> None:
    async def main() -> None:
        line = rig.lines["l1"]
        await line.open()
        assert rig.engine.round() == 1
        await line.dialing()
        line.fail(LineError("+CME ERROR: 30"))
        await rig.finished()
        assert not rig.engine.calls
        assert list(rig.pool.free()) == rig.pool.slots  # the line is free again

    run(main())
    (attempt,) = rig.attempts()
    assert attempt["outcome"] == int(Outcome.ERROR_OCCURRED)
    assert "line error: +CME ERROR: 30" in attempt["evidence"]
    assert rig.contact_state() == (ContactState.NOT_CONNECTED, 1, NOW + RETRY)
