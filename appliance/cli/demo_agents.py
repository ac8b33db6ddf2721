"""The demo's line card and its two agents: an emulated card on python-can's virtual bus (four FXO
lines, two FXS handsets that lift when rung), and scripted agents who log in at the handsets, go
ready, and set a disposition after each call — now and then a callback for themselves."""

from __future__ import annotations

import asyncio
import contextlib
import random
from typing import Any

from appliance.config.models import DialboxConfig, LineConfig, SeatConfig

AGENT_CAMPAIGN = "sample-agents"
SLOT = 2
FXO_PORTS = 4
AGENTS = (("anna", "sales", "desk1"), ("ben", "sales", "desk2"))
# codes of the default set (appliance/dispositions.py); new_contact is a callback for the agent
DISPOSITIONS = ("end", "end", "no_answer", "new_contact")


def card_config(bus: str) -> tuple[tuple[LineConfig, ...], tuple[SeatConfig, ...]]:
    """The card's FXO ports as lines pinned to the agent campaign, its FXS ports as seats."""
    lines = tuple(
        LineConfig(name=f"card{SLOT}-{port}", kind="can", device=f"virtual:{bus}/{SLOT}/{port}",
                   campaigns=(AGENT_CAMPAIGN,))
        for port in range(1, FXO_PORTS + 1)
    )  # fmt: skip
    seats = tuple(
        SeatConfig(name=seat, kind="can", device=f"virtual:{bus}/{SLOT}/{FXO_PORTS + i}")
        for i, (_, _, seat) in enumerate(AGENTS, start=1)
    )
    return lines, seats


class CardRig:
    """The emulated card, plugged into the same virtual bus the daemon's lines open."""

    def __init__(self, config: DialboxConfig) -> None:
        import can
        import canopen

        from appliance.drivers.can.protocol import Role
        from appliance.drivers.emulators.can_card import CardScript, EmulatedCard

        bus = config.lines[-1].device.split(":", 1)[1].rsplit("/", 2)[0]
        self.network = canopen.Network(can.Bus(interface="virtual", channel=bus))
        self.network.connect()
        roles = [Role.FXO] * FXO_PORTS + [Role.FXS] * len(AGENTS)
        script = CardScript(time_scale=0.1, lift_after=0.4)
        self.card = EmulatedCard(self.network, SLOT, roles, script, seed=7)
        self.card.plug()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.card.unplug()
            self.network.disconnect()


class DemoAgents:
    """Two people at the handsets, as the agent desktop would drive the desk."""

    def __init__(self, daemon: Any, seed: int = 7) -> None:
        self.daemon = daemon
        self.rng = random.Random(seed)

    async def run(self) -> None:
        from appliance.agent_disposition import dispose
        from appliance.engine.errors import AgentError
        from appliance.store.agents import ContactInFlight, put_agent
        from appliance.store.campaigns import get_campaign

        daemon = self.daemon
        while getattr(daemon, "engine", None) is None or not daemon.engine.ready.is_set():
            if daemon.stopping.is_set():
                return
            await asyncio.sleep(0.1)
        if daemon.stopping.is_set():  # stopped (Ctrl-C) as the engine came up: its store closes
            return
        desk = daemon.engine.desk
        db, clock = daemon.db, daemon.clock
        for name, group, seat in AGENTS:
            put_agent(db, name, extension=seat, group=group, skills=(), now=clock.now(),
                      actor="demo")  # fmt: skip
            desk.refresh(name)
        campaign = get_campaign(db, AGENT_CAMPAIGN)
        waiting: dict[str, float] = {}
        while not daemon.stopping.is_set():
            for name, _, seat in AGENTS:
                agent = desk.get(name)
                with contextlib.suppress(AgentError):
                    if agent.state == "logged_out" and desk.seat_up.get(seat):
                        desk.login(name, seat, [AGENT_CAMPAIGN], "demo")
                    if agent.state == "paused":
                        desk.set_ready(name, "demo")
                call = agent.call
                if agent.state != "wrap_up" or call is None:
                    continue
                due = waiting.setdefault(name, clock.now() + self.rng.uniform(0.5, 2.0))
                if clock.now() < due:
                    continue
                del waiting[name]
                code = self.rng.choice(DISPOSITIONS)
                callback = clock.now() + 90.0 if code == "new_contact" else None
                with contextlib.suppress(ContactInFlight):
                    dispose(db, campaign, call.attempt_id, code, agent=name, group=agent.group,
                            now=clock.now(), actor=f"demo:{name}", callback_at=callback)  # fmt: skip
                desk.disposed(agent)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(daemon.stopping.wait(), timeout=0.25)
