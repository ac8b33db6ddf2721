"""A box that answers calls, in one process: the real daemon (engine, desk, store) over an emulated
line card on python-can's virtual bus — FXO ports on which calls ring in (and out), FXS handsets
as agents' seats — with the call flows of FLOWS. The card's delays run at TIME_SCALE (0.05: a
scripted 20 s is one real second; at 0.02 the card's caller-ID timer and its second ring came
too close for a loaded machine); a flow's key timeouts are real seconds."""

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
from appliance.domain import CampaignStatus, CampaignType
from appliance.drivers.can.protocol import Role
from appliance.drivers.emulators.can_card import CardScript, EmulatedCard
from appliance.drivers.emulators.plans import parse_incoming_command
from appliance.store.agents import put_agent
from appliance.store.campaigns import create_campaign, get_campaign, update_campaign
from tests.daemon.process import free_port

CHANNELS = itertools.count()
SLOT = 5
TIME_SCALE = 0.05
PROMPTS = ("welcome", "choose", "confirm", "thanks", "sorry-busy", "q1", "q2", "q3")

# The demo's menu (1 an agent, 2 a callback, 9 off the list) and a three-question survey. The
# timeouts are real seconds: a test that presses nothing waits them out.
FLOWS = """
menu:
  start: welcome
  nodes:
    welcome:
      play: welcome
      next: choose
    choose:
      ask: choose
      timeout: 3
      retries: 1
      on:
        "1": agent
        "2": callback
        "9": stop
      give_up: bye
    agent:
      queue:
    callback:
      callback: cb
      next: bye
    stop:
      opt_out: confirm
      prompt: confirm
      timeout: 3
      next: bye
      cancel: choose
    bye:
      goodbye: thanks
survey:
  start: q1
  nodes:
    q1:
      ask: q1
      question: satisfaction
      timeout: 3
      on:
        "1-5": q2
      give_up: bye
    q2:
      ask: q2
      timeout: 3
      on:
        "1": q2-yes
        "2": q2-no
      give_up: bye
    q2-yes:
      answer: {recommend: "yes"}
      next: q3
    q2-no:
      answer: {recommend: "no"}
      next: q3
    q3:
      ask: q3
      digits: 3
      end_key: "#"
      timeout: 3
      on:
        "16-120": keep-age
      give_up: bye
    keep-age:
      answer: {age: $input}
      next: done
    done:
      disposition: survey-complete
      next: bye
    bye:
      goodbye: thanks
"""


class Rig:
    def __init__(self, daemon: Any, card: EmulatedCard, lines: int) -> None:
        self.daemon = daemon
        self.card = card
        self.lines = lines
        self.engine = daemon.engine
        self.desk = daemon.engine.desk
        self.db = daemon.db
        self.clock = daemon.clock

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self.db.conn.execute(sql, params)]

    def one(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        rows = self.rows(sql, params)
        assert len(rows) == 1, rows
        return rows[0][0] if len(rows[0]) == 1 else rows[0]

    def attempts(self, direction: str = "in") -> list[dict[str, Any]]:
        cols = ("id", "contact_id", "number", "line", "agent", "outcome", "status", "disposition",
                "answered_at", "ended_at", "evidence")  # fmt: skip
        rows = self.rows(f"SELECT {', '.join(cols)} FROM attempts WHERE direction = ? ORDER BY id",
                         (direction,))  # fmt: skip
        return [dict(zip(cols, r, strict=True)) for r in rows]

    def done(self, direction: str = "in") -> list[dict[str, Any]]:
        return [a for a in self.attempts(direction) if a["status"] == "done"]

    def steps(self, attempt_id: int) -> list[tuple[float, str, str, str]]:
        return self.rows("SELECT at, node, kind, detail FROM attempt_steps WHERE attempt_id = ?"
                         " ORDER BY seq", (attempt_id,))  # fmt: skip

    def answers(self, attempt_id: int) -> dict[str, str]:
        return dict(self.rows("SELECT question, answer FROM attempt_answers WHERE attempt_id = ?",
                              (attempt_id,)))  # fmt: skip

    def missed(self) -> list[dict[str, Any]]:
        cols = ("id", "number", "reason", "attempt_id", "status", "calls", "waited",
                "callback_contact_id", "line")  # fmt: skip
        rows = self.rows(f"SELECT {', '.join(cols)} FROM missed_calls ORDER BY id")
        return [dict(zip(cols, r, strict=True)) for r in rows]

    def ring(self, port: int, command: str) -> None:
        """A call rings in on FXO port `port`: `<number|withheld> [keys=..] [hangup=S] [ring=S]`."""
        self.card.incoming(port, parse_incoming_command(command))

    async def until(self, condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
        """Wait for a condition on the box's state (the engine runs on this loop)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not condition():
            if loop.time() > deadline:
                raise AssertionError(
                    f"timed out waiting for {what}: {self.attempts()}\nmissed: {self.missed()}\n"
                    f"agents: {[(a.name, a.state, a.reason) for a in self.desk.agents.values()]}"
                )
            await asyncio.sleep(0.02)  # polls the box's state, as test_agent_calls does

    def agent_ready(self, name: str = "agent1", campaigns: tuple[str, ...] = ("in",)) -> None:
        agent = self.desk.agents.get(name)
        if agent is None or agent.state == "logged_out":
            self.desk.login(name, None, list(campaigns), "test")
        self.desk.set_ready(name, "test")


def _config(tmp: Path, channel: str, lines: int, seats: int, flows: Path) -> DialboxConfig:
    bus = f"virtual:{channel}"
    return DialboxConfig(
        database=tmp / "dialbox.db",
        region="US",
        timezone="UTC",
        compliance_profile="custom",
        compliance=CustomCompliance(calling_hours="daily 00:00-24:00"),
        lines=tuple(
            LineConfig(
                name=f"fxo{p}",
                kind="can",
                device=f"{bus}/{SLOT}/{p}",
                campaigns=("survey",) if p == lines else (),
            )
            for p in range(1, lines + 1)
        ),
        seats=tuple(
            SeatConfig(name=f"desk{i}", kind="can", device=f"{bus}/{SLOT}/{lines + i}")
            for i in range(1, seats + 1)
        ),
        agents=AgentSettings(wrap_up=0.2),
        engine=EngineSettings(tick=0.05, drain_timeout=1.0),
        api=ApiSettings(port=free_port()),
        flows=(str(flows),),
    )


@contextlib.asynccontextmanager
async def rig(
    tmp: Path,
    *,
    inbound: dict[str, Any] | None = None,
    lines: int = 3,
    seats: int = 1,
    script: CardScript | None = None,
) -> AsyncIterator[Rig]:
    """Lines fxo1..fxoN (fxoN pinned to the automated campaign `survey`, the others answer for
    the inbound campaign `in`), seats desk1.. for agent1..; `cb`, a stopped agent campaign,
    takes the callbacks."""
    channel = f"dialbox-inbound-{next(CHANNELS)}"
    flows = tmp / "flows.yaml"
    flows.write_text(FLOWS)
    config = _config(tmp, channel, lines, seats, flows)
    network = canopen.Network(can.Bus(interface="virtual", channel=channel))
    network.connect()
    roles = [Role.FXO] * lines + [Role.FXS] * seats
    card = EmulatedCard(network, SLOT, roles, script or CardScript(time_scale=TIME_SCALE,
                        lift_after=0.2), messages=PROMPTS, seed=5)  # fmt: skip
    card.plug()
    daemon = build_daemon(None, config)
    now = daemon.clock.now()
    settings = {
        "answer_lines": [f"fxo{p}" for p in range(1, lines)],
        "flow": "menu",
        "queue_max_wait": 5,
        "callback_campaign": "cb",
        "webhook": "http://crm.test/in",
    }
    settings.update(inbound or {})
    create_campaign(daemon.db, "cb", CampaignType.AGENT, "US", {"timezone": "UTC"}, now, "test")
    create_campaign(daemon.db, "in", CampaignType.INBOUND, "US", settings, now, "test")
    create_campaign(daemon.db, "survey", CampaignType.AUTOMATED, "US", {"flow": "survey"}, now,
                    "test")  # fmt: skip
    update_campaign(daemon.db, get_campaign(daemon.db, "in"),
                    {"status": CampaignStatus.RUNNING}, now, "test")  # fmt: skip
    for i in range(1, seats + 1):
        put_agent(daemon.db, f"agent{i}", extension=f"desk{i}", group="sales", skills=["en"],
                  now=now, actor="test")  # fmt: skip
    task = asyncio.create_task(daemon.run())
    try:
        while daemon.engine is None or not daemon.engine.ready.is_set():
            assert not task.done(), task
            await asyncio.sleep(0.02)  # polls the daemon's start, as test_agent_calls does
        r = Rig(daemon, card, lines)
        await r.until(lambda: daemon.engine.pool.up_count() == lines, "the lines up")
        await r.until(lambda: all(r.desk.seat_up.values()), "the seats up")
        yield r
    finally:
        daemon.request_stop("test over")
        await asyncio.wait_for(task, 30)
        card.unplug()
        network.disconnect()


def evidence(attempt: dict[str, Any]) -> list[str]:
    return list(json.loads(attempt["evidence"] or "[]"))
