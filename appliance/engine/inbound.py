"""Calls ringing in (SPEC C14, issue #23): answered on the lines an inbound campaign answers on,
run through its call flow, recorded.

A call rings in (`IncomingCall`) on a line. The running inbound campaign whose `answer_lines`
name it answers it — if the line is up, in service, free and can answer:

- within its business hours (`windows`, dates and holidays: the planner's schedule) the caller
  hears its `flow` (none: straight to the queue);
- outside them its `closed_flow`; with none the call is *not answered*: it rings until the
  caller gives up and is kept as a missed call (reason `closed`);
- a line no running inbound campaign answers on is left alone (not answered, nothing kept).

While it rings and while the call is up the line is never dialed (`Slot.ringing`, `Slot.busy`).
The answered call — recorded at once, run through the flow, completed in one transaction — is
engine/inboundcall.py's (`AnsweredCall`).

Missed calls (`store.inbound.record_missed`): the caller hung up while it rang (or before the
answer took), hung up (or was lost) while waiting in the queue, or the wait ran out (`overflow`:
the campaign's `overflow` — `callback` makes a callback contact in `callback_campaign` for the
missed call at once, `node` sends the flow to `overflow_node`, `hang_up` ends it, each after
`overflow_message` if the line can play it), or the campaign was closed.

A daemon that dies mid-call leaves the attempt in flight; the next start's sweep (or the
running sweep after `engine.dangling_timeout`, which never takes a call still up) marks it
dangling, its caller's contact untouched (store/attempts.py). On SIGTERM no new call is
answered, calls up get `engine.drain_timeout` to end, then are hung up and recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

from appliance.campaigns import CampaignSettings
from appliance.clock import Clock
from appliance.config import DialboxConfig
from appliance.domain import CampaignStatus, CampaignType
from appliance.drivers.line import IncomingCall, LineDown, LineError, LineEvent, RingingStopped
from appliance.engine.agents import AgentDesk
from appliance.engine.callaudio import CallAudio
from appliance.engine.flowactions import Rules
from appliance.engine.inboundcall import AnsweredCall, Ringing, TrackedCall
from appliance.engine.inboundview import InboundSnapshot, RingingCall, WaitingCaller
from appliance.engine.linepool import LinePool, Slot
from appliance.errors import DialboxError
from appliance.flows import Flow
from appliance.metrics import Metrics, QueueSample
from appliance.store.campaigns import CampaignRow, list_campaigns, names_of
from appliance.store.db import Database
from appliance.store.inbound import record_missed

log = logging.getLogger(__name__)


def flow_problems(campaigns: Iterable[CampaignRow], flows: Mapping[str, Flow]) -> list[str]:
    """What the campaigns' settings name that the flow files do not define: a `flow` or
    `closed_flow`, an `overflow_node` that is not a node of the campaign's flow. (At run time a
    missing flow means straight to the queue; a missing closed-hours flow, not answered.)"""
    found: list[str] = []
    for campaign in campaigns:
        try:
            settings = CampaignSettings.model_validate(campaign.settings)
        except ValueError:
            continue  # the campaign's own check says what is wrong with it
        for key in ("flow", "closed_flow"):
            name = getattr(settings, key)
            if name is not None and name not in flows:
                found.append(f"campaign {campaign.name}: {key} {name!r} is not in the flow files"
                             f" (they define: {', '.join(sorted(flows)) or 'none'})")  # fmt: skip
        node, flow = settings.overflow_node, flows.get(settings.flow or "")
        if settings.overflow == "node" and node and flow is not None and node not in flow.nodes:
            found.append(f"campaign {campaign.name}: overflow_node {node!r} is not a node of"
                         f" flow {flow.name}")  # fmt: skip
    return found


class FlowSource(Protocol):
    """What the inbound side reads of the engine: the live config and call flows."""

    @property
    def config(self) -> DialboxConfig: ...

    @property
    def flows(self) -> Mapping[str, Flow]: ...


class Inbound:
    """The engine's inbound side: `Engine.inbound`."""

    def __init__(
        self,
        host: FlowSource,
        db: Database,
        clock: Clock,
        pool: LinePool,
        planner: Rules,
        desk: AgentDesk | None,
        metrics: Metrics | None,
        audio: CallAudio | None = None,
    ) -> None:
        self.host = host
        self.db = db
        self.clock = clock
        self.pool = pool
        self.planner = planner
        self.desk = desk
        self.metrics = metrics
        self.audio = audio if audio is not None else CallAudio(None, metrics)  # #24
        self.stopping = False  # set by the engine's drain: nothing more is answered
        self._ringing: dict[str, Ringing] = {}  # line -> the call ringing in
        self._calls: dict[int, TrackedCall] = {}  # attempt id -> call in a flow (both directions)
        self._tasks: dict[asyncio.Task[None], Slot] = {}  # answered calls' tasks, their lines
        for slot in pool.slots:
            slot.line.subscribe(self._listener(slot))

    @property
    def box_id(self) -> str:
        """This box (#27): the attempts of the calls it answers name it."""
        return self.host.config.box.id

    # ------------------------------------------------------------------ reading
    def snapshot(self) -> InboundSnapshot:
        """What rings in, runs a flow, waits and talks now (inboundview.py)."""
        ringing = tuple(
            RingingCall(r.slot.name, r.caller, r.since,
                        r.campaign.name if r.campaign is not None else None,
                        r.unanswered or ("" if r.campaign is not None else
                                         "no running inbound campaign answers on this line"))
            for r in self._ringing.values()
        )  # fmt: skip
        calls = list(self._calls.values())
        waiting = sorted(
            (
                WaitingCaller(
                    c.campaign, c.line, c.caller, c.queued_since, c.contacts, c.attempt_id, c.skill
                )
                for c in calls
                if c.queued_since is not None
            ),
            key=lambda w: w.since,
        )
        return InboundSnapshot(
            self.clock.now(), ringing,
            tuple(c.view() for c in calls if c.agent is None),
            tuple(waiting),
            tuple(c.view() for c in calls if c.agent is not None and c.direction == "in"),
        )  # fmt: skip

    def queue_samples(self) -> list[QueueSample]:
        """Every running inbound campaign's queue (and any other one a caller waits in)."""
        snap = self.snapshot()
        names = set(names_of(self.db, CampaignType.INBOUND, CampaignStatus.RUNNING))
        names |= set(snap.campaigns())
        return [QueueSample(n, snap.queue_length(n), snap.longest_wait(n)) for n in sorted(names)]

    def in_flight(self) -> list[int]:
        """Attempts of calls in progress here (never swept as dangling while up)."""
        return list(self._calls)

    # ------------------------------------------------------------------ calls in a flow (both ways)
    def track(self, call: TrackedCall) -> None:
        self._calls[call.attempt_id] = call

    def untrack(self, attempt_id: int) -> None:
        self._calls.pop(attempt_id, None)

    # ------------------------------------------------------------------ ringing
    def _listener(self, slot: Slot) -> Callable[[LineEvent], None]:
        def on_event(event: LineEvent) -> None:
            if isinstance(event, IncomingCall):
                self._incoming(slot, event.number)
            elif isinstance(event, RingingStopped):
                self._stopped(slot)
            elif isinstance(event, LineDown):
                self._stopped(slot)  # the ringing ends with the line (a missed call)

        return on_event

    def _answering(self, slot: Slot) -> CampaignRow | None:
        """The running inbound campaign that answers on this line (a line answers for one)."""
        for campaign in list_campaigns(self.db):
            if campaign.type is not CampaignType.INBOUND:
                continue
            if campaign.status is not CampaignStatus.RUNNING:
                continue
            lines = campaign.settings.get("answer_lines") or ()
            if slot.name in lines:
                return campaign
        return None

    def _incoming(self, slot: Slot, caller: str) -> None:
        now = self.clock.now()
        campaign = self._answering(slot)
        ring = Ringing(slot, caller, now, campaign)
        self._ringing[slot.name] = ring
        slot.ringing = True
        if campaign is None:
            log.info("call from %s rings on line %s: no running inbound campaign answers there",
                     caller or "a withheld number", slot.name)  # fmt: skip
            return
        why = self._cannot_answer(slot)
        if why is not None:
            ring.unanswered = why
            log.info("call from %s on line %s for %s not answered: %s",
                     caller or "a withheld number", slot.name, campaign.name, why)  # fmt: skip
            return
        settings = CampaignSettings.model_validate(campaign.settings)
        try:
            closed = self.planner.rules_for(campaign).schedule.closed_reason(now)
        except DialboxError as exc:
            closed = f"its rules cannot be read: {exc}"
        name = settings.flow if closed is None else settings.closed_flow
        flow = self.host.flows.get(name) if name else None
        if name and flow is None:
            log.error("campaign %s names flow %r, which the flow files do not define",
                      campaign.name, name)  # fmt: skip
        if closed is not None and flow is None:
            ring.unanswered, ring.closed = closed, True
            log.info("call from %s on line %s: %s is closed (%s); not answered",
                     caller or "a withheld number", slot.name, campaign.name, closed)  # fmt: skip
            return
        ring.answering = True
        call = AnsweredCall(self, ring, campaign, settings, flow)
        task = asyncio.create_task(call.run(lambda: self._rung(ring)), name=f"inbound {slot.name}")
        self._tasks[task] = slot
        task.add_done_callback(lambda t: self._tasks.pop(t, None))

    def _cannot_answer(self, slot: Slot) -> str | None:
        if self.stopping:
            return "the box is stopping"
        if slot.busy:
            return "the line is busy"
        if slot.disabled:
            return "the line is out of service"
        if not slot.up:
            return "the line is down"
        if not slot.line.capabilities.answer:
            return "the line cannot answer calls"
        return None

    def _rung(self, ring: Ringing) -> None:
        """The call is answered (or the answer failed): it no longer rings."""
        if self._ringing.get(ring.slot.name) is ring:
            del self._ringing[ring.slot.name]
        ring.slot.ringing = False

    def _stopped(self, slot: Slot) -> None:
        ring = self._ringing.get(slot.name)
        if ring is None or ring.answering:
            return  # the answer's task says what became of it
        self._ringing.pop(slot.name, None)
        slot.ringing = False
        if ring.campaign is not None:
            self.missed(ring, "closed" if ring.closed else "hung_up_ringing")

    def missed(self, ring: Ringing, reason: str) -> None:
        """Keep a call that rang and was not answered as a missed call."""
        assert ring.campaign is not None
        now = self.clock.now()
        try:
            record_missed(self.db, ring.campaign, ring.slot.name, ring.caller, reason, now,
                          waited=now - ring.since)  # fmt: skip
        except DialboxError as exc:
            log.error("missed call from %s on %s not kept: %s", ring.caller, ring.slot.name, exc)
        log.info("missed call from %s on line %s (%s): %s", ring.caller or "a withheld number",
                 ring.slot.name, ring.campaign.name, reason)  # fmt: skip
        self.count(ring.campaign.name, "closed" if reason == "closed" else "missed")

    def count(self, campaign: str, result: str) -> None:
        if self.metrics is not None:
            self.metrics.record_inbound(campaign, result)

    # ------------------------------------------------------------------ stopping
    async def drain(self, timeout: float) -> None:
        """No more answers; calls up get `timeout` seconds, then are hung up (and recorded)."""
        self.stopping = True
        tasks = set(self._tasks)
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=timeout)
        if pending:
            log.info("hanging up %d inbound calls still up", len(pending))
            for task in pending:
                slot = self._tasks.get(task)
                if slot is not None:
                    with contextlib.suppress(LineError):
                        await slot.line.hang_up()
            _, pending = await asyncio.wait(pending, timeout=10.0)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
