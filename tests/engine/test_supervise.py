"""The supervisor's action (engine/supervise.py, SPEC A6) on the desk alone, with a line whose
conference the test controls: the agent's call found and its line asked; each refusal as the
kind the API words (unknown agent or seat, no call, not now, cannot); a GSM line says why it
cannot."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from appliance.clock import ManualClock
from appliance.config.models import AgentSettings, DialboxConfig
from appliance.drivers.line import (
    CallResult,
    CannotConference,
    Capabilities,
    ConferenceConflict,
    Line,
    LineError,
    LineHealth,
    PhoneSeat,
    Seat,
)
from appliance.engine import supervise
from appliance.engine.agents import AgentDesk
from appliance.engine.agentstate import LiveCall
from appliance.engine.errors import UnknownAgent
from appliance.store import open_database
from appliance.store.agents import put_agent
from tests.drivers.drivers_fakes import run


class ConferenceLine(Line):
    """A line whose answered call goes to any seat; `monitor` joins a seat unless told to fail."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.fail: LineError | None = None
        self.joined: list[tuple[str, str, float]] = []
        self._now: tuple[str, str] | None = None

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(conference=("listen", "whisper", "barge"))

    def health(self) -> LineHealth:
        return LineHealth(up=True)

    async def dial(self, number: str, ring_timeout: float = 25.0) -> CallResult:
        raise LineError("not here")

    async def hang_up(self) -> CallResult | None:
        return None

    async def wait_call_end(self, timeout: float | None = None) -> CallResult | None:
        return None

    def can_reach(self, seat: Seat) -> bool:
        return True

    async def connect(self, seat: Seat, timeout: float) -> None:
        return None

    async def monitor(self, seat: Seat, mode: str, timeout: float) -> None:
        if self.fail is not None:
            raise self.fail
        self.joined.append((seat.name, mode, timeout))
        self._now = (seat.name, mode)

    async def unmonitor(self) -> None:
        if self._now is None:
            raise ConferenceConflict(f"nobody listens in on line {self.name}")
        self._now = None

    @property
    def monitoring(self) -> tuple[str, str] | None:
        return self._now


@asynccontextmanager
async def desk(tmp: Path) -> AsyncIterator[tuple[AgentDesk, ConferenceLine]]:
    """Agents a1 (seat s1, on a call on line l1) and a2 (seat s2, ready); seat sup is free."""
    db = open_database(tmp / "d.db")
    config = DialboxConfig(database=tmp / "d.db", agents=AgentSettings(connect_timeout=0.5))
    seats: dict[str, Seat] = {n: PhoneSeat(n, f"+4850000000{i}")
                              for i, n in enumerate(("s1", "s2", "sup"))}  # fmt: skip
    d = AgentDesk(config, db, ManualClock(1_800_000_000.0), seats)
    for name, seat in (("a1", "s1"), ("a2", "s2")):
        put_agent(db, name, extension=seat, group=None, skills=[], now=0.0, actor="test")
        d.login(name, None, ["out"], "test")
    stopping = asyncio.Event()
    task = asyncio.create_task(d.run(stopping))
    while not all(d.seat_up.values()):
        await asyncio.sleep(0)  # the seats open (a PhoneSeat says LineUp at once)
    line = ConferenceLine("l1")
    try:
        d.set_ready("a1", "test")
        call = LiveCall(1, 1, "out", "+12125550100", "l1", 0.0, {}, hang_up=lambda: None)
        agent = await d.hand_over("out", None, line, call, d.agents["a1"], [])
        assert agent is not None and agent.state == "talking"
        d.set_ready("a2", "test")
        yield d, line
    finally:
        stopping.set()
        await task
        db.close()


def test_the_supervisor_joins_the_agents_call_through_its_line(tmp_path: Path) -> None:
    async def main() -> None:
        async with desk(tmp_path) as (d, line):
            lines = {"l1": line}.get
            assert supervise.current(d, lines, "a1") is None
            done = await supervise.monitor(d, lines, "a1", "sup", "listen", 9.0)
            assert done.to_dict() == {"agent": "a1", "seat": "sup", "mode": "listen",
                                      "line": "l1"}  # fmt: skip
            assert line.joined == [("sup", "listen", 9.0)]
            assert supervise.current(d, lines, "a1") == done
            ended = await supervise.unmonitor(d, lines, "a1")
            assert ended == done and supervise.current(d, lines, "a1") is None
            with pytest.raises(supervise.NotOnCall, match="nobody listens in on agent a1"):
                await supervise.unmonitor(d, lines, "a1")

    run(main(), timeout=20)


def test_each_refusal_is_the_kind_the_api_words(tmp_path: Path) -> None:
    async def main() -> None:
        async with desk(tmp_path) as (d, line):
            lines = {"l1": line}.get
            with pytest.raises(UnknownAgent):
                await supervise.monitor(d, lines, "zed", "sup", "listen")
            with pytest.raises(supervise.NotOnCall, match=r"agent a2 has no call now \(ready\)"):
                await supervise.monitor(d, lines, "a2", "sup", "listen")
            with pytest.raises(supervise.UnknownSeat, match="seats: s1, s2, sup"):
                await supervise.monitor(d, lines, "a1", "nope", "listen")
            with pytest.raises(supervise.CannotMonitor, match="seat s1 is agent a1's own seat"):
                await supervise.monitor(d, lines, "a1", "s1", "listen")
            with pytest.raises(supervise.CannotMonitor, match="where agent a2 is logged in"):
                await supervise.monitor(d, lines, "a1", "s2", "listen")
            with pytest.raises(supervise.CannotMonitor, match="'spy' is not a mode"):
                await supervise.monitor(d, lines, "a1", "sup", "spy")
            with pytest.raises(supervise.CannotMonitor, match=r"line l1 .* no longer configured"):
                await supervise.monitor(d, lambda name: None, "a1", "sup", "listen")
            line.fail = CannotConference("line l1 cannot bridge a third party: no mixer")
            with pytest.raises(supervise.CannotMonitor, match="no mixer"):
                await supervise.monitor(d, lines, "a1", "sup", "barge")
            line.fail = ConferenceConflict("supervisor seat x is already on the call")
            with pytest.raises(supervise.MonitorBusy, match="already on the call"):
                await supervise.monitor(d, lines, "a1", "sup", "barge")
            line.fail = LineError("card 3 port 1: MONITOR not acknowledged (port stuck)")
            with pytest.raises(supervise.MonitorBusy, match="line l1: card 3 port 1"):
                await supervise.monitor(d, lines, "a1", "sup", "barge")
            assert line.joined == []
            call = d.agents["a1"].call
            assert call is not None
            call.hang_up = None  # as after a transfer out of the box (GSM ECT)
            with pytest.raises(supervise.CannotMonitor, match="transferred to their phone"):
                await supervise.monitor(d, lines, "a1", "sup", "listen")

    run(main(), timeout=20)


def test_a_gsm_line_cannot_conference_and_says_why() -> None:
    from appliance.drivers.gsm.modem import GsmModem

    async def main() -> None:
        modem = GsmModem("/nonexistent/gsm9", name="gsm9")
        assert modem.capabilities.conference == () and modem.monitoring is None
        assert "explicit call transfer (AT+CHLD=4)" in modem.describe_conference()
        with pytest.raises(CannotConference, match="line gsm9 cannot bridge a third party: a GSM"):
            await modem.monitor(PhoneSeat("sup", "+48500000009"), "barge", 1.0)
        with pytest.raises(ConferenceConflict, match="nobody listens in on line gsm9"):
            await modem.unmonitor()

    run(main(), timeout=10)
