"""What a call flow asks of the box (appliance/flows `FlowActions`), for one answered call —
inbound, or an automated campaign's answered outbound call:

- `queue(skill)`: the caller waits for a ready agent (the flow's skill, else the campaign's) at
  most the campaign's `queue_max_wait`, through the desk's hand-over (`AgentDesk.hand_over`):
  the longest waiter takes the longest-idle agent, each agent joined within
  `agents.connect_timeout` of being chosen. "bridged", "gone" (the caller hung up) or
  "overflow" (the wait ran out; the `QueueHooks` of an inbound call apply its campaign's
  overflow first). With `announce_position`, the caller hears their place every that many s.
- `opt_out()`: the caller's number on the global DNC list at once (one audited transaction,
  before the flow plays its confirmation).
- `callback(campaign, owner)`: a callback contact in that campaign, due at the next time its
  windows and its profile's calling hours allow a call to the number, from CALLBACK_DELAY on
  (`store.missed`).
- `set_field(name, value)`: checked now (bp1..bp12); the value is written with the call's
  record, in the transaction that completes the attempt (as the flow's `fields`).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Protocol

from appliance.campaigns import CampaignSettings
from appliance.clock import Clock
from appliance.drivers.line import Line, LineError
from appliance.engine.agents import AgentDesk
from appliance.engine.agentstate import LiveAgent, LiveCall
from appliance.engine.callaudio import PromptSource, play_prompt
from appliance.engine.rules import CampaignRules
from appliance.errors import DialboxError
from appliance.phones import zones_for
from appliance.scheduler.callbacks import callback_due
from appliance.store.campaigns import CampaignRow, find_campaign
from appliance.store.db import Database
from appliance.store.dnc import add_numbers
from appliance.store.flowrecords import contact_field
from appliance.store.inbound import Callback, Refused, make_callback

log = logging.getLogger(__name__)

BRIDGED, OVERFLOW, GONE = "bridged", "overflow", "gone"
# A callback asked for during a call is due no sooner than this: the caller is still on the line
# (and a campaign that may call now would ring them back at once).
CALLBACK_DELAY = 120.0


class Rules(Protocol):
    """The planner's rules of a campaign (StorePlanner.rules_for): its windows and hours."""

    def rules_for(self, campaign: CampaignRow) -> CampaignRules: ...


class CallParts(Protocol):
    """What running a flow on a call needs of the engine, inbound or outbound: the store, the
    clock, the campaigns' rules and the agents' desk."""

    @property
    def db(self) -> Database: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def planner(self) -> Rules: ...

    @property
    def desk(self) -> AgentDesk | None: ...


class QueueHooks(Protocol):
    """What an inbound call adds to the queue: the snapshot and metrics, its overflow."""

    def joined(self, skill: str | None) -> None: ...

    def left(self, result: str, waited: float) -> None: ...

    async def overflow(self) -> None:
        """The wait ran out: the campaign's overflow (a callback, a message) before the flow
        goes on (to its queue's `overflow:` node, or hangs up)."""
        ...


@dataclass
class ActionCall:
    """The call the actions act on."""

    campaign: CampaignRow
    settings: CampaignSettings
    line: Line
    number: str  # the caller's (or callee's) E.164 number; "" when withheld
    contact_id: int | None  # the known contact whose fields a callback copies
    live: LiveCall  # what the agent who takes it sees
    gone: asyncio.Event  # set when the call has ended
    evidence: list[str]
    inbound: bool
    prompts: PromptSource | None = None  # the prompt library (#24): said where the line has sound


class CallActions:
    """`FlowActions` of one call."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        rules: Rules,
        desk: AgentDesk | None,
        call: ActionCall,
        hooks: QueueHooks | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.rules = rules
        self.desk = desk
        self.call = call
        self.hooks = hooks
        self.agent: LiveAgent | None = None  # the agent who took the call
        self.queued: float | None = None  # seconds waited in the queue (the last time)

    async def queue(self, skill: str | None) -> str:
        call = self.call
        skill = skill or call.settings.skill
        if self.hooks is not None:
            self.hooks.joined(skill)
        began = self.clock.now()
        agent = None
        if self.desk is not None and not call.gone.is_set():
            every = call.settings.announce_position
            announcer = (
                asyncio.create_task(self.announce(float(every)))
                if every and (call.line.capabilities.playback or call.line.audio is not None)
                else None
            )
            try:
                agent = await self.desk.hand_over(
                    call.campaign.name, skill, call.line, call.live, None, call.evidence,
                    wait=float(call.settings.queue_max_wait),
                    first=call.inbound and call.settings.inbound_first, ended=call.gone,
                )  # fmt: skip
            finally:
                if announcer is not None:
                    announcer.cancel()
        self.queued = self.clock.now() - began
        if agent is not None:
            self.agent = agent
            result = BRIDGED
        elif call.gone.is_set():
            result = GONE
        else:
            result = OVERFLOW
            call.evidence.append(f"no agent within {call.settings.queue_max_wait} s")
        if self.hooks is not None:
            self.hooks.left(result, self.queued)
            if result == OVERFLOW:
                await self.hooks.overflow()
        return result

    async def announce(self, every: float) -> None:
        """While the caller waits: every `every` s, their place in the queue
        (`queue-position-N`, N up to 9, then `queue-position-many`), the hardware permitting
        (a line that cannot play is left silent; a failed prompt is noted, the wait goes on)."""
        call, desk = self.call, self.desk
        assert desk is not None
        while not call.gone.is_set():
            await asyncio.sleep(every)
            place = desk.position(call.line)
            if place is None or call.gone.is_set():
                return
            prompt = f"queue-position-{place}" if place <= 9 else "queue-position-many"
            try:
                await play_prompt(call.line, call.prompts, prompt, call.evidence)
            except LineError as exc:
                call.evidence.append(f"queue position not announced: {exc}")
                return
            call.evidence.append(f"announced {prompt}")

    async def opt_out(self) -> None:
        call = self.call
        if not call.number:
            raise DialboxError("the caller's number is withheld: nothing to put on the DNC list")
        reason = "inbound opt-out" if call.inbound else f"opt-out on a call of {call.campaign.name}"
        add_numbers(
            self.db, [call.number], campaign_id=None, campaign=None, now=self.clock.now(),
            actor="daemon", reason=reason, source="call-flow", action="dnc.opt_out",
        )  # fmt: skip
        call.evidence.append("number on the DNC list (opt-out)")
        log.info("%s on the DNC list: opted out on a call of %s", call.number, call.campaign.name)

    async def callback(self, campaign: str, owner: str | None) -> str:
        call = self.call
        target = find_campaign(self.db, campaign)
        if target is None:
            return f"not made: there is no campaign {campaign!r}"
        made = self.make_callback(target, owner)
        if isinstance(made, Refused):
            return f"not made: {made.reason}"
        call.evidence.append(made.detail())
        return made.detail()

    def make_callback(
        self, target: CampaignRow, owner: str | None, missed_call_id: int | None = None
    ) -> Callback | Refused:
        """A callback contact for the caller in `target`: `store.missed.Callback`, or
        `Refused` saying why not."""
        call, now = self.call, self.clock.now()
        due = None
        if call.number:
            try:
                rules = self.rules.rules_for(target)
                due = callback_due(rules, zones_for(call.number), now, CALLBACK_DELAY)
            except DialboxError as exc:  # the campaign's rules cannot be read (a lost strategy)
                return Refused("campaign", f"campaign {target.name!r} cannot call: {exc}")
        return make_callback(
            self.db, target, call.number, due, now, actor="daemon", owner=owner,
            missed_call_id=missed_call_id, fields_from=call.contact_id,
        )  # fmt: skip

    async def set_field(self, name: str, value: str) -> None:
        if contact_field(name) is None:
            raise DialboxError(f"{name!r} is not a contact field (bp1..bp12)")
