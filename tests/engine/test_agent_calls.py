"""Agent campaigns end to end in one process: the real daemon (engine, desk, store) drives an
emulated line card on python-can's virtual bus — FXO lines calling out, FXS handsets as agents'
seats. Answered calls are bridged to the longest-idle ready agent within the connect timeout, or
hear the information message and count as abandoned (SPEC A1–A5, C10)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import can
import canopen

from appliance.config.models import (
    AgentSettings,
    ApiSettings,
    CustomCompliance,
    DialboxConfig,
    EngineSettings,
    LineConfig,
    SeatConfig,
)
from appliance.daemon.wiring import build_daemon
from appliance.domain import CampaignStatus, CampaignType, Outcome
from appliance.drivers.can.protocol import Op, Role
from appliance.drivers.emulators.can_card import CardScript, EmulatedCard
from appliance.drivers.emulators.plans import Plan, digits
from appliance.engine.errors import AgentConflict
from appliance.engine.storeplanner import StorePlanner
from appliance.scheduler.why import Explanation
from appliance.store.agents import Disposition, put_agent, set_disposition
from appliance.store.campaigns import create_campaign, get_campaign, update_campaign
from appliance.store.dnc import add_numbers
from tests.daemon.process import free_port
from tests.drivers.drivers_fakes import run

CHANNELS = itertools.count()
SLOT = 4
NUMBERS = [f"+1212555{1000 + i:04d}" for i in range(40)]


class Box:
    def __init__(self, daemon: Any, card: EmulatedCard) -> None:
        self.daemon = daemon
        self.card = card
        self.desk = daemon.engine.desk
        self.db = daemon.db
        self.clock = daemon.clock

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self.db.conn.execute(sql, params)]

    def attempts(self) -> list[dict[str, Any]]:
        cols = ("id", "contact_id", "agent", "outcome", "status", "queued_at", "dialed_at",
                "answered_at", "ended_at", "evidence")  # fmt: skip
        return [
            dict(zip(cols, r, strict=True))
            for r in self.rows(f"SELECT {', '.join(cols)} FROM attempts ORDER BY id")
        ]

    async def until(self, condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
        """Wait for a condition on the box's state (the engine runs on this loop)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not condition():
            if loop.time() > deadline:
                agents = {n: (a.state, a.reason, a.offer) for n, a in self.desk.agents.items()}
                raise AssertionError(
                    f"timed out waiting for {what}: {self.attempts()}\nagents: {agents}"
                )
            await asyncio.sleep(0.02)

    def ops(self, op: Op) -> list[Any]:
        return [c for c in self.card.commands if c.op == op]


def _config(
    tmp: Path, channel: str, *, lines: int, seats: int, wrap_up: float,
    extra_seats: tuple[SeatConfig, ...] = (),
) -> DialboxConfig:  # fmt: skip
    bus = f"virtual:{channel}"
    return DialboxConfig(
        database=tmp / "dialbox.db",
        region="US",
        compliance_profile="custom",
        compliance=CustomCompliance(calling_hours="daily 00:00-24:00"),
        lines=tuple(
            LineConfig(name=f"fxo{p}", kind="can", device=f"{bus}/{SLOT}/{p}")
            for p in range(1, lines + 1)
        ),
        seats=tuple(
            SeatConfig(name=f"desk{i}", kind="can", device=f"{bus}/{SLOT}/{lines + i}")
            for i in range(1, seats + 1)
        )
        + extra_seats,
        agents=AgentSettings(wrap_up=wrap_up),
        engine=EngineSettings(tick=0.05, drain_timeout=1.0),
        # a port of its own: another daemon on this machine may hold the default one
        api=ApiSettings(port=free_port()),
    )


@contextlib.asynccontextmanager
async def box(
    tmp: Path,
    script: CardScript,
    *,
    settings: dict[str, Any],
    contacts: int,
    lines: int = 3,
    seats: int = 1,
    wrap_up: float = 0.3,
    extra_seats: tuple[SeatConfig, ...] = (),
) -> AsyncIterator[Box]:
    channel = f"dialbox-agents-{next(CHANNELS)}"
    config = _config(tmp, channel, lines=lines, seats=seats, wrap_up=wrap_up,
                     extra_seats=extra_seats)  # fmt: skip
    network = canopen.Network(can.Bus(interface="virtual", channel=channel))
    network.connect()
    roles = [Role.FXO] * lines + [Role.FXS] * seats
    card = EmulatedCard(network, SLOT, roles, script, seed=3)
    card.plug()
    daemon = build_daemon(None, config)
    now = daemon.clock.now()
    campaign = create_campaign(daemon.db, "c", CampaignType.AGENT, "US", settings, now, "test")
    csv = tmp / "c.csv"
    csv.write_text("".join(f"{n},,,,,Callee {i}\n" for i, n in enumerate(NUMBERS[:contacts])))
    from appliance.importing.importer import import_file

    import_file(daemon.db, campaign, csv, region="US", mappings={}, now=now, actor="test",
                source="test")  # fmt: skip
    for i in range(1, seats + 1):
        put_agent(daemon.db, f"agent{i}", extension=f"desk{i}", group="sales", skills=["en"],
                  now=now, actor="test")  # fmt: skip
    task = asyncio.create_task(daemon.run())
    try:
        while daemon.engine is None or not daemon.engine.ready.is_set():
            assert not task.done(), task
            await asyncio.sleep(0.02)
        b = Box(daemon, card)
        await b.until(lambda: all(b.desk.seat_up.values()), "seats up")
        yield b
    finally:
        daemon.request_stop("test over")
        await asyncio.wait_for(task, 30)
        card.unplug()
        network.disconnect()


def _start(b: Box) -> None:
    update_campaign(b.db, get_campaign(b.db, "c"), {"status": CampaignStatus.RUNNING},
                    b.clock.now(), "test")  # fmt: skip


def _overlap(attempts: list[dict[str, Any]]) -> int:
    """The most calls up at once."""
    edges = sorted(
        [(a["dialed_at"], 1) for a in attempts] + [(a["ended_at"], -1) for a in attempts]
    )
    most = level = 0
    for _, step in edges:
        level += step
        most = max(most, level)
    return most


def _script(talk: float, lift_after: float | None = 0.3) -> CardScript:
    """Every callee answers after 2 s and talks `talk` s (all × 0.05)."""
    plans = {digits(n).lstrip("+"): Plan("answer", ring=2.0, talk=talk) for n in NUMBERS}
    return CardScript(time_scale=0.05, numbers=plans, lift_after=lift_after)


ANSWER = _script(talk=40.0)


def test_progressive_calls_go_to_the_ready_agent_one_at_a_time(tmp_path: Path) -> None:
    async def main() -> None:
        async with box(tmp_path, ANSWER, settings={"pacing": "progressive"}, contacts=4) as b:
            b.desk.login("agent1", None, ["c"], "test")
            b.desk.set_ready("agent1", "test")
            _start(b)
            await b.until(lambda: len([a for a in b.attempts() if a["status"] == "done"]) >= 3,
                          "three calls done", timeout=60)  # fmt: skip
            done = [a for a in b.attempts() if a["status"] == "done"]
            assert all(a["agent"] == "agent1" for a in done), done
            assert all(a["outcome"] == int(Outcome.CONNECTED) for a in done), done
            assert any("agent agent1 at desk1" in a["evidence"] for a in done)
            # ratio 1 × one idle agent: never two calls at once (A3)
            assert _overlap(done) == 1
            assert len(b.ops(Op.BRIDGE)) >= 3

    run(main(), timeout=90)


def test_no_agent_in_time_plays_the_information_message_and_counts_an_abandon(
    tmp_path: Path,
) -> None:
    never = _script(talk=400.0, lift_after=None)

    async def main() -> None:
        async with box(tmp_path, never, settings={"pacing": "progressive"}, contacts=3) as b:
            b.desk.login("agent1", None, ["c"], "test")
            b.desk.set_ready("agent1", "test")
            _start(b)
            await b.until(lambda: any(a["status"] == "done" for a in b.attempts()), "a call done")
            first = b.attempts()[0]
            assert first["outcome"] == int(Outcome.ABANDONED), first
            evidence = json.loads(first["evidence"])
            assert any("played info-no-agent" in e for e in evidence), evidence
            assert any("agent agent1 not reached" in e for e in evidence), evidence
            assert b.ops(Op.RING) and b.ops(Op.PLAY)
            # the handset was rung for at most the connect timeout after the answer
            assert first["ended_at"] - first["answered_at"] >= 2.0
            # the agent whose seat did not take the call is paused; nothing else is dialed
            assert b.desk.get("agent1").state == "paused"
            assert len(b.attempts()) == 1
            from appliance.store.selection import abandon_counts

            assert abandon_counts(b.db, 1, b.clock.now(), 86400.0) == (1, 1)

    run(main(), timeout=60)


def _why(b: Box) -> Explanation:
    """`why` as the API serves it: the store's reasons and the engine's word on the seats."""
    campaign = get_campaign(b.db, "c")
    planner = StorePlanner(b.daemon.config, b.db)
    reach = b.daemon.engine.agents_out_of_reach(campaign)
    return planner.explain(campaign, b.clock.now(), None, reach)


def test_an_agent_no_line_can_reach_is_not_dialed_for(tmp_path: Path) -> None:
    """A seat the campaign's lines cannot reach (here a phone, with only line-card lines) takes
    no call: dialing for it would only abandon. The agent at a card seat is dialed for."""
    phone = (SeatConfig(name="mobile1", kind="phone", number="+15550009999"),)

    async def main() -> None:
        async with box(tmp_path, ANSWER, settings={"pacing": "progressive"}, contacts=3,
                       extra_seats=phone) as b:  # fmt: skip
            put_agent(b.db, "agent9", extension="mobile1", group=None, skills=[],
                      now=b.clock.now(), actor="test")  # fmt: skip
            b.desk.login("agent9", None, ["c"], "test")
            b.desk.set_ready("agent9", "test")
            _start(b)
            assert b.daemon.engine.round() == 0
            assert b.desk.view("c").idle == 1  # ready, but no line of the campaign reaches it
            why = _why(b)  # C12 says so, naming the seat
            assert not why.dialing
            assert "no line this campaign may use can reach its agents' seats (mobile1)" in (
                why.text()
            )
            b.desk.login("agent1", None, ["c"], "test")
            b.desk.set_ready("agent1", "test")
            assert "can reach" not in _why(b).text()  # agent1's handset is on the card
            update_campaign(b.db, get_campaign(b.db, "c"), {"settings": {"skill": "fr"}},
                            b.clock.now(), "test")  # fmt: skip
            assert "no agent logged in to this campaign has its skill 'fr'" in _why(b).text()
            update_campaign(b.db, get_campaign(b.db, "c"), {"settings": {"pacing": "progressive"}},
                            b.clock.now(), "test")  # fmt: skip
            await b.until(lambda: any(a["status"] == "done" for a in b.attempts()), "a call")
            assert {a["agent"] for a in b.attempts() if a["status"] == "done"} == {"agent1"}
            assert not [a for a in b.attempts() if a["outcome"] == int(Outcome.ABANDONED)]

    run(main(), timeout=60)


def test_the_pacer_learns_wrap_ups_as_agents_take_them(tmp_path: Path) -> None:
    """#19: the configured wrap-up is a deadline, not what agents take. The pacer sees each
    wrap-up's time so far beside its deadline, and learns its length when the agent disposes."""

    async def main() -> None:
        async with box(tmp_path, ANSWER, settings={"pacing": "predictive"}, contacts=2,
                       wrap_up=30.0) as b:  # fmt: skip
            b.desk.login("agent1", None, ["c"], "test")
            b.desk.set_ready("agent1", "test")
            _start(b)
            await b.until(lambda: b.desk.get("agent1").state == "wrap_up", "agent1 in wrap-up")
            began = b.clock.now()
            view = b.desk.view("c")
            assert len(view.wrap_remaining) == len(view.wrap_elapsed) == 1
            assert 0.0 <= view.wrap_elapsed[0] <= 1.0 and view.wrap_remaining[0] > 29.0
            pacer = b.daemon.engine.agents.pacers.known(get_campaign(b.db, "c").id)
            assert pacer is not None and len(pacer.stats.wraps) == 0
            b.desk.disposed(b.desk.get("agent1"))
            assert len(pacer.stats.wraps) == 1
            assert pacer.stats.wraps.sorted[0] <= b.clock.now() - began + 1.0 < 30.0

    run(main(), timeout=60)


def test_a_callback_for_self_is_dialed_at_its_time_and_goes_to_that_agent(tmp_path: Path) -> None:
    async def main() -> None:
        async with box(tmp_path, ANSWER, settings={"pacing": "progressive"}, contacts=1,
                       seats=2, wrap_up=30.0) as b:  # fmt: skip
            for name in ("agent1", "agent2"):
                b.desk.login(name, None, ["c"], "test")
            b.desk.set_ready("agent2", "test")  # agent2 takes the first call
            _start(b)
            await b.until(lambda: b.desk.get("agent2").state == "wrap_up", "agent2 in wrap-up")
            first = b.attempts()[0]
            assert first["agent"] == "agent2"
            callback_at = b.clock.now() + 2.0
            campaign = get_campaign(b.db, "c")
            set_disposition(b.db, Disposition(first["id"], "new_contact", callback_at, "agent2"),
                            b.clock.now(), "test", campaign_id=campaign.id, campaign="c")  # fmt: skip
            b.desk.disposed(b.desk.get("agent2"))
            b.desk.pause("agent2", "coffee", "test")
            b.desk.set_ready("agent1", "test")  # only agent1 is ready: the callback waits
            await b.until(lambda: b.clock.now() > callback_at + 1.0, "past the callback time")
            assert len(b.attempts()) == 1  # not dialed for agent1: it is agent2's callback
            b.desk.set_ready("agent2", "test")
            await b.until(lambda: len(b.attempts()) == 2 and b.attempts()[1]["status"] == "done",
                          "the callback done")  # fmt: skip
            second = b.attempts()[1]
            assert second["queued_at"] >= callback_at
            assert second["agent"] == "agent2", second

    run(main(), timeout=60)


def test_preview_skip_accept_and_timed_preview(tmp_path: Path) -> None:
    async def main() -> None:
        async with box(tmp_path, ANSWER, settings={"pacing": "preview"}, contacts=3) as b:
            b.desk.login("agent1", None, ["c"], "test")
            b.desk.set_ready("agent1", "test")
            _start(b)
            agent = b.desk.get("agent1")
            await b.until(lambda: agent.offer is not None, "a preview")
            assert agent.state == "reserved" and not b.attempts()  # shown, not dialed
            skipped = agent.offer.contact_id if agent.offer else 0
            b.desk.skip("agent1")
            await b.until(lambda: agent.offer is not None, "the next preview")
            chosen = agent.offer.contact_id if agent.offer else 0
            assert chosen != skipped
            b.desk.accept("agent1", "test")
            await b.until(lambda: bool(b.attempts()) and b.attempts()[0]["status"] == "done",
                          "the accepted dial done")  # fmt: skip
            first = b.attempts()[0]
            assert (first["contact_id"], first["agent"]) == (chosen, "agent1")
            # timed preview: the next contact is dialed by itself after preview_seconds
            update_campaign(b.db, get_campaign(b.db, "c"),
                            {"settings": {"pacing": "timed_preview", "preview_seconds": 1}},
                            b.clock.now(), "test")  # fmt: skip
            await b.until(lambda: len(b.attempts()) == 2, "the timed preview dialed", timeout=30)
            assert b.attempts()[1]["agent"] in (None, "agent1")

    run(main(), timeout=90)


def test_manual_dial_keeps_the_law(tmp_path: Path) -> None:
    async def main() -> None:
        async with box(tmp_path, ANSWER, settings={"pacing": "preview"}, contacts=2) as b:
            campaign = get_campaign(b.db, "c")
            add_numbers(b.db, [NUMBERS[0]], campaign_id=None, campaign=None, now=b.clock.now(),
                        actor="test")  # fmt: skip
            b.desk.login("agent1", None, ["c"], "test")
            _start(b)
            ids = [r[0] for r in b.rows("SELECT id FROM contacts ORDER BY id")]
            try:
                b.desk.manual_dial("agent1", "c", ids[0])
            except AgentConflict as exc:
                assert "DNC" in str(exc), exc
            else:
                raise AssertionError("a DNC number was dialed by hand")
            attempt = b.desk.manual_dial("agent1", "c", ids[1])
            await b.until(lambda: b.attempts()[0]["status"] == "done", "the manual call done")
            row = b.attempts()[0]
            assert (row["id"], row["contact_id"], row["agent"]) == (attempt, ids[1], "agent1")
            assert campaign.id == 1

    run(main(), timeout=60)


def test_a_gsm_only_box_transfers_answered_calls_to_the_agents_phone(tmp_path: Path) -> None:
    """No line card: the agent's seat is a mobile phone; the modem holds the customer, calls the
    agent and joins the two by explicit call transfer (AT+CHLD=4), then is free again."""
    from appliance.drivers.emulators.gsm.farm import Farm
    from appliance.drivers.emulators.gsm.script import parse

    agent_phone = "+15550009999"
    script = parse({"time_scale": 0.05, "random": {"answer": 1},
                    "numbers": [{"number": agent_phone, "outcome": "answer", "ring": 0.5,
                                 "talk": 4000}]})  # fmt: skip

    async def main() -> None:
        farm = Farm(1, tmp_path / "modems", "simcom", 1, script)
        await farm.start(control=False)
        config = DialboxConfig(
            database=tmp_path / "dialbox.db", region="US", compliance_profile="custom",
            compliance=CustomCompliance(calling_hours="daily 00:00-24:00"),
            lines=(LineConfig(name="gsm0", device=str(tmp_path / "modems" / "gsm0")),),
            seats=(SeatConfig(name="mobile1", kind="phone", number=agent_phone),),
            agents=AgentSettings(wrap_up=30.0), engine=EngineSettings(tick=0.05),
        )  # fmt: skip
        daemon = build_daemon(None, config)
        now = daemon.clock.now()
        campaign = create_campaign(daemon.db, "c", CampaignType.AGENT, "US",
                                   {"pacing": "progressive"}, now, "test")  # fmt: skip
        csv = tmp_path / "c.csv"
        csv.write_text("".join(f"{n},,,,,Callee {i}\n" for i, n in enumerate(NUMBERS[:2])))
        from appliance.importing.importer import import_file

        import_file(daemon.db, campaign, csv, region="US", mappings={}, now=now, actor="test",
                    source="test")  # fmt: skip
        put_agent(daemon.db, "agent1", extension="mobile1", group=None, skills=[], now=now,
                  actor="test")  # fmt: skip
        task = asyncio.create_task(daemon.run())
        try:
            while daemon.engine is None or not daemon.engine.ready.is_set():
                await asyncio.sleep(0.02)
            b = Box(daemon, None)  # type: ignore[arg-type]
            await b.until(lambda: bool(b.desk.seat_up.get("mobile1")), "the phone seat")
            await b.until(lambda: daemon.engine.pool.up_count() == 1, "the modem up")
            b.desk.login("agent1", None, ["c"], "test")
            b.desk.set_ready("agent1", "test")
            _start(b)
            await b.until(lambda: bool(b.attempts()) and b.attempts()[0]["status"] == "done",
                          "the first call transferred")  # fmt: skip
            first = b.attempts()[0]
            assert first["outcome"] == int(Outcome.AGENT_TRANSFER), first
            assert "ECT done" in first["evidence"] and first["agent"] == "agent1"
            # the box carries the call no more, but the agent talks on until they say so
            agent = b.desk.get("agent1")
            assert agent.state == "talking" and len(b.attempts()) == 1
            b.desk.hang_up("agent1")
            assert agent.state == "wrap_up"
            b.desk.disposed(agent)
            await b.until(lambda: len(b.attempts()) == 2, "the next contact dialed")
            await b.until(lambda: agent.state == "talking", "the second call reaches the agent")
            # the agent talks from when their phone joins, the box lets go at ECT done: only then
            # is the talk the agent's alone (disposing earlier raced with the transfer)
            await b.until(
                lambda: b.attempts()[1]["status"] == "done", "the second call transferred"
            )
            second = b.attempts()[1]
            assert second["outcome"] == int(Outcome.AGENT_TRANSFER), second
            b.desk.disposed(agent)  # the disposition alone ends the talk the box no longer carries
            assert agent.state == "ready"
        finally:
            daemon.request_stop("test over")
            await asyncio.wait_for(task, 30)
            await farm.stop()

    run(main(), timeout=90)
