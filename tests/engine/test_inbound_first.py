"""Inbound and outbound share the agents (SPEC C14, issue #23): the desk on its own, with a line
whose hand-overs the test controls. A caller waiting in an inbound queue takes the next ready
agent first (`inbound_first`): outbound hand-overs, held callbacks and the pacers' view do not
count that agent; an agent on an inbound call is talking for the pacer; the queue's wait and
the 2-second budget per agent chosen."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from appliance.campaigns import CampaignSettings
from appliance.clock import ManualClock
from appliance.config.models import AgentSettings, DialboxConfig
from appliance.domain import CampaignStatus, CampaignType
from appliance.drivers.line import (
    CallResult,
    Capabilities,
    Line,
    LineError,
    LineHealth,
    PhoneSeat,
    Seat,
)
from appliance.engine.agents import AgentDesk
from appliance.engine.agentstate import LiveCall
from appliance.engine.flowactions import ActionCall, CallActions
from appliance.store import open_database
from appliance.store.agents import put_agent
from appliance.store.campaigns import CampaignRow
from tests.drivers.drivers_fakes import run


class HandOverLine(Line):
    """A line with an answered call: `connect` joins it to any seat at once, or (with `refuse`)
    fails as a seat that does not answer would."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.connected: list[str] = []
        self.refuse: set[str] = set()

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(answer=True)

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
        if seat.name in self.refuse:
            raise LineError(f"seat {seat.name} did not answer")
        self.connected.append(seat.name)


def _call(n: int, campaign: str = "in") -> LiveCall:
    return LiveCall(n, n, campaign, f"+1212555010{n}", "l1", 0.0, {})


@asynccontextmanager
async def desk(tmp: Path, agents: int = 1) -> AsyncIterator[AgentDesk]:
    db = open_database(tmp / "d.db")
    config = DialboxConfig(database=tmp / "d.db", agents=AgentSettings(
        wrap_up=0.0, unanswered_pause=False, connect_timeout=0.2))  # fmt: skip
    seats: dict[str, Seat] = {f"s{i}": PhoneSeat(f"s{i}", f"+4850000000{i}")
                              for i in range(1, agents + 1)}  # fmt: skip
    d = AgentDesk(config, db, ManualClock(1_800_000_000.0), seats)
    for i in range(1, agents + 1):
        put_agent(db, f"a{i}", extension=f"s{i}", group=None, skills=["en"], now=0.0,
                  actor="test")  # fmt: skip
        d.login(f"a{i}", None, ["in", "out"], "test")
    stopping = asyncio.Event()
    task = asyncio.create_task(d.run(stopping))
    while not all(d.seat_up.values()):
        await asyncio.sleep(0)  # the seats open (a PhoneSeat says LineUp at once)
    try:
        yield d
    finally:
        stopping.set()
        await task
        db.close()


async def _joined(d: AgentDesk, count: int) -> None:
    while len(d.waiting) < count:
        await asyncio.sleep(0)  # lets the hand-over task run until it waits in the queue


def test_a_waiting_inbound_caller_is_owed_the_next_ready_agent(tmp_path: Path) -> None:
    async def main() -> None:
        async with desk(tmp_path) as d:
            line = HandOverLine("l1")
            caller = asyncio.create_task(d.hand_over("in", None, line, _call(1), None, [],
                                                     wait=30.0, first=True))  # fmt: skip
            await _joined(d, 1)
            assert d.view("out").idle == 0  # nobody ready yet
            d.set_ready("a1", "test")
            # before the caller's task runs again: the agent is the caller's, not outbound's
            assert d.owed() == {"a1"}
            assert d.view("out").idle == 0 and d.view("in").idle == 0
            assert d.reserve("a1") is None  # a callback owned by a1 is not dialed meanwhile
            outbound = await d.hand_over("out", None, line, _call(2, "out"), None, [])
            assert outbound is None  # the budget of the answered outbound call ran out
            agent = await caller
            assert agent is not None and agent.name == "a1" and agent.state == "talking"
            assert line.connected == ["s1"]
            view = d.view("out")  # on an inbound call: talking, for the outbound pacer too
            assert (view.idle, len(view.talk_elapsed)) == (0, 1)
            assert d.waiting == [] and d.owed() == set()

    run(main(), timeout=20)


def test_without_inbound_first_a_ready_agent_counts_for_outbound_pacing(tmp_path: Path) -> None:
    async def main() -> None:
        async with desk(tmp_path) as d:
            line = HandOverLine("l1")
            caller = asyncio.create_task(d.hand_over("in", None, line, _call(1), None, [],
                                                     wait=30.0, first=False))  # fmt: skip
            await _joined(d, 1)
            d.set_ready("a1", "test")
            assert d.owed() == set() and d.view("out").idle == 1
            assert (await caller) is not None  # the caller still gets the agent

    run(main(), timeout=20)


def test_callers_take_agents_in_the_order_they_came_and_a_seat_that_fails_is_skipped(
    tmp_path: Path,
) -> None:
    async def main() -> None:
        async with desk(tmp_path, agents=2) as d:
            line = HandOverLine("l1")
            line.refuse = {"s1"}  # a1's seat does not answer
            evidence: list[str] = []
            first = asyncio.create_task(d.hand_over("in", None, line, _call(1), None, evidence,
                                                    wait=30.0, first=True))  # fmt: skip
            await _joined(d, 1)
            second = asyncio.create_task(d.hand_over("in", None, line, _call(2), None, [],
                                                     wait=30.0, first=True))  # fmt: skip
            await _joined(d, 2)
            d.set_ready("a1", "test")  # longest idle: tried first, fails, stays ready
            d.set_ready("a2", "test")
            got = await first
            assert got is not None and got.name == "a2"
            assert "agent a1 not reached: seat s1 did not answer" in evidence
            assert not second.done() and d.agents["a1"].state == "ready"
            assert d.owed() == set()  # a1 failed this caller only; the second one may try it
            line.refuse.clear()
            d.set_ready("a1", "test")  # (already ready: no change, nobody told)
            d.pause("a1", None, "test")
            d.set_ready("a1", "test")  # back: the second caller takes it
            taken = await second
            assert taken is not None and taken.name == "a1"

    run(main(), timeout=20)


def test_a_caller_who_hangs_up_leaves_the_queue_and_a_wait_runs_out(tmp_path: Path) -> None:
    async def main() -> None:
        async with desk(tmp_path) as d:
            line = HandOverLine("l1")
            gone = asyncio.Event()
            caller = asyncio.create_task(d.hand_over("in", None, line, _call(1), None, [],
                                                     wait=30.0, first=True, ended=gone))  # fmt: skip
            await _joined(d, 1)
            gone.set()
            assert await caller is None and d.waiting == []
            short = await d.hand_over("in", None, line, _call(2), None, [], wait=0.05, first=True)
            assert short is None and d.waiting == []
            assert line.connected == []

    run(main(), timeout=20)


class PlayingLine(HandOverLine):
    """A line that can play: what it played, in order; `broken` fails every prompt."""

    def __init__(self, name: str, broken: bool = False) -> None:
        super().__init__(name)
        self.played: list[str] = []
        self.broken = broken

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(answer=True, playback=True)

    async def play(self, message: str) -> None:
        if self.broken:
            raise LineError("playback failed")
        self.played.append(message)


def _actions(d: AgentDesk, line: Line, gone: asyncio.Event) -> tuple[CallActions, list[str]]:
    row = CampaignRow(1, "in", CampaignType.INBOUND, "US", CampaignStatus.RUNNING, None, None,
                      {}, 0.0, 0.0)  # fmt: skip
    evidence: list[str] = []
    call = ActionCall(row, CampaignSettings(announce_position=30), line, "+12125550101", None,
                      _call(1), gone, evidence, True)  # fmt: skip
    return CallActions(d.db, d.clock, None, d, call), evidence  # type: ignore[arg-type]


async def _played(line: PlayingLine, count: int) -> None:
    while len(line.played) < count:
        await asyncio.sleep(0.001)


def test_waiting_callers_hear_their_place_in_the_queue(tmp_path: Path) -> None:
    """Two callers wait, nobody ready: the first hears place 1, the second place 2; the first
    hangs up and the second hears that they are next. A line that cannot play is noted once."""

    async def main() -> None:
        async with desk(tmp_path) as d:
            first, second = PlayingLine("l1"), PlayingLine("l2")
            gone1, gone2 = asyncio.Event(), asyncio.Event()
            waits = [asyncio.create_task(d.hand_over("in", None, line, _call(n), None, [],
                                                     wait=30.0, first=True, ended=gone))
                     for n, line, gone in ((1, first, gone1), (2, second, gone2))]  # fmt: skip
            await _joined(d, 2)
            assert (d.position(first), d.position(second)) == (1, 2)
            one, _ = _actions(d, first, gone1)
            two, evidence = _actions(d, second, gone2)
            tasks = [asyncio.create_task(a.announce(0.005)) for a in (one, two)]
            await _played(first, 1)
            await _played(second, 1)
            assert first.played[0] == "queue-position-1"
            assert second.played[0] == "queue-position-2"
            gone1.set()  # the first caller hangs up
            assert await waits[0] is None
            seen = len(second.played)
            await _played(second, seen + 1)
            assert second.played[-1] == "queue-position-1"
            assert "announced queue-position-1" in evidence
            gone2.set()
            assert await waits[1] is None
            await asyncio.gather(*tasks)  # the announcements end with the call
            broken = PlayingLine("l3", broken=True)
            gone3 = asyncio.Event()
            wait3 = asyncio.create_task(d.hand_over("in", None, broken, _call(3), None, [],
                                                    wait=30.0, first=True, ended=gone3))  # fmt: skip
            await _joined(d, 1)
            three, evidence3 = _actions(d, broken, gone3)
            await three.announce(0.005)  # returns: a line that fails to play stays silent
            assert evidence3 == ["queue position not announced: playback failed"]
            gone3.set()
            await wait3

    run(main(), timeout=20)
