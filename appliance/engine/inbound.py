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
An answered call is recorded at once (`store.inbound.record_inbound`: an attempt in flight,
direction 'in', on the caller's contact, with the known contacts the number matches — the screen
pop the agent sees) and completed in one transaction when it ends, with the flow's steps,
answers, disposition and fields (`complete_inbound`; its webhook document is the store's
`inbound_payload`). The caller's keys are collected from before the answer (`KeyBuffer`).

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
import dataclasses
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from appliance.campaigns import CampaignSettings
from appliance.clock import Clock
from appliance.config import DialboxConfig
from appliance.domain import CampaignStatus, CampaignType, Outcome
from appliance.drivers.line import (
    CallResult,
    IncomingCall,
    Line,
    LineDown,
    LineError,
    LineEvent,
    RingingStopped,
)
from appliance.engine.agents import AgentDesk
from appliance.engine.agentstate import LiveCall
from appliance.engine.flowactions import GONE, OVERFLOW, ActionCall, CallActions, Rules
from appliance.engine.flowcall import KeyBuffer, LineFlowCall
from appliance.engine.inboundview import (
    FlowCallView,
    InboundSnapshot,
    RingingCall,
    WaitingCaller,
)
from appliance.engine.linepool import LinePool, Slot
from appliance.engine.talk import TALK_LIMIT, talk
from appliance.errors import DialboxError
from appliance.flows import Flow, FlowResult, run_flow
from appliance.flows import model as fm
from appliance.metrics import Metrics, QueueSample
from appliance.store.campaigns import CampaignRow, find_campaign, list_campaigns
from appliance.store.db import Database
from appliance.store.inbound import (
    InboundCall,
    Refused,
    complete_inbound,
    inbound_payload,
    record_inbound,
    record_missed,
)
from appliance.store.results import contact as contact_document

log = logging.getLogger(__name__)

ANSWER_TIMEOUT = 30.0  # seconds for a line to take a call ringing in
FLOW_LIMIT = 3600.0  # a call's flow (its queue wait and talk aside) is cut off after this
SCREEN_POP_ATTEMPTS = 5  # the caller's last calls shown to the agent


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


@dataclass
class _Ringing:
    slot: Slot
    caller: str
    since: float
    campaign: CampaignRow | None  # the one that answers it (None: no inbound campaign here)
    unanswered: str | None = None  # why it is not answered (closed, the line busy...)
    closed: bool = False  # outside business hours with no closed-hours flow
    answering: bool = False


@dataclass
class TrackedCall:
    """An answered call in progress (an inbound one, or an automated call in a flow)."""

    campaign: str
    line: str
    caller: str
    since: float
    attempt_id: int
    direction: str
    contacts: tuple[int, ...] = ()
    queued_since: float | None = None
    skill: str | None = None
    agent: str | None = None

    def view(self) -> FlowCallView:
        return FlowCallView(self.campaign, self.line, self.caller, self.since, self.attempt_id,
                            self.direction, self.agent)  # fmt: skip


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
    ) -> None:
        self.host = host
        self.db = db
        self.clock = clock
        self.pool = pool
        self.planner = planner
        self.desk = desk
        self.metrics = metrics
        self.stopping = False  # set by the engine's drain: nothing more is answered
        self._ringing: dict[str, _Ringing] = {}  # line -> the call ringing in
        self._calls: dict[int, TrackedCall] = {}  # attempt id -> call in a flow (both directions)
        self._tasks: dict[asyncio.Task[None], Slot] = {}  # answered calls' tasks, their lines
        for slot in pool.slots:
            slot.line.subscribe(self._listener(slot))

    # ------------------------------------------------------------------ reading
    def snapshot(self) -> InboundSnapshot:
        """What rings in, runs a flow, waits and talks now (inboundview.py)."""
        ringing = tuple(
            RingingCall(r.slot.name, r.caller, r.since,
                        r.campaign.name if r.campaign is not None and r.unanswered is None else None)
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
        names = {c.name for c in list_campaigns(self.db)
                 if c.type is CampaignType.INBOUND and c.status is CampaignStatus.RUNNING}  # fmt: skip
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
    def _listener(self, slot: Slot):  # type: ignore[no-untyped-def]
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
        ring = _Ringing(slot, caller, now, campaign)
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
        task = asyncio.create_task(
            self._answer(ring, campaign, settings, flow), name=f"inbound {slot.name}"
        )
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

    def _stopped(self, slot: Slot) -> None:
        ring = self._ringing.get(slot.name)
        if ring is None or ring.answering:
            return  # the answer's task says what became of it
        self._ringing.pop(slot.name, None)
        slot.ringing = False
        if ring.campaign is not None:
            self._missed(ring, "closed" if ring.closed else "hung_up_ringing")

    def _missed(self, ring: _Ringing, reason: str) -> None:
        assert ring.campaign is not None
        now = self.clock.now()
        try:
            record_missed(self.db, ring.campaign, ring.slot.name, ring.caller, reason, now,
                          waited=now - ring.since)  # fmt: skip
        except DialboxError as exc:
            log.error("missed call from %s on %s not kept: %s", ring.caller, ring.slot.name, exc)
        log.info("missed call from %s on line %s (%s): %s", ring.caller or "a withheld number",
                 ring.slot.name, ring.campaign.name, reason)  # fmt: skip
        self._count(ring.campaign.name, "closed" if reason == "closed" else "missed")

    def _count(self, campaign: str, result: str) -> None:
        if self.metrics is not None:
            self.metrics.record_inbound(campaign, result)

    # ------------------------------------------------------------------ one answered call
    async def _answer(
        self, ring: _Ringing, campaign: CampaignRow, settings: CampaignSettings, flow: Flow | None
    ) -> None:
        slot, line = ring.slot, ring.slot.line
        slot.busy, slot.campaign, slot.since = True, campaign.name, ring.since
        keys = KeyBuffer(line)  # before the answer: a key pressed at once is kept
        try:
            try:
                async with asyncio.timeout(ANSWER_TIMEOUT):
                    answered = await line.answer()
            except (LineError, TimeoutError) as exc:
                log.info("call from %s on %s not answered: %s", ring.caller or "a withheld number",
                         slot.name, exc or "no answer in time")  # fmt: skip
                with contextlib.suppress(LineError):
                    await line.hang_up()
                self._missed(ring, "hung_up_ringing")
                return
            finally:
                if self._ringing.get(slot.name) is ring:
                    del self._ringing[slot.name]
                slot.ringing = False
            now = self.clock.now()
            ended = asyncio.ensure_future(line.wait_call_end())
            try:
                call = record_inbound(self.db, campaign, slot.name, answered.number or ring.caller,
                                      now)  # fmt: skip
            except DialboxError as exc:  # the campaign was deleted or changed type meanwhile
                log.error("call on %s for %s not recorded, hung up: %s", slot.name,
                          campaign.name, exc)  # fmt: skip
                ended.cancel()
                with contextlib.suppress(LineError):
                    await line.hang_up()
                return
            await self._serve(call, slot, campaign, settings, flow, keys, ended)
        finally:
            keys.close()
            slot.busy, slot.campaign, slot.since = False, None, None

    async def _serve(
        self,
        call: InboundCall,
        slot: Slot,
        campaign: CampaignRow,
        settings: CampaignSettings,
        flow: Flow | None,
        keys: KeyBuffer,
        ended: asyncio.Future[CallResult | None],
    ) -> None:
        line = slot.line
        gone = asyncio.Event()
        ended.add_done_callback(lambda _: gone.set())
        hang = asyncio.Event()
        shown = call.number or call.caller_id
        live = LiveCall(call.attempt_id, call.contact_id, campaign.name, shown, slot.name,
                        call.answered_at, self._screen_pop(call), hang_up=hang.set)  # fmt: skip
        evidence: list[str] = ["answered"]
        state = TrackedCall(campaign.name, slot.name, call.caller_id, call.answered_at, call.attempt_id,
                      "in", tuple(m.contact_id for m in call.matched))  # fmt: skip
        known = call.matched[0].contact_id if call.matched else call.contact_id
        actions = CallActions(
            self.db, self.clock, self.planner, self.desk,
            ActionCall(campaign, settings, line, call.number, known, live, gone, evidence, True),
        )  # fmt: skip
        hooks = _Hooks(self, state, call, actions, slot)
        actions.hooks = hooks
        self.track(state)
        result: FlowResult | None = None
        final: CallResult | None = None
        outcome = Outcome.CONNECTED
        try:
            async with asyncio.timeout(FLOW_LIMIT + settings.queue_max_wait + TALK_LIMIT):
                result = await run_flow(self._flow(flow, settings), LineFlowCall(line, call.number,
                                        keys, ended), actions, self.clock.now)  # fmt: skip
                if result.end == "bridged" and actions.agent is not None and self.desk:
                    state.agent = actions.agent.name
                    final, outcome = await talk(self.desk, line, actions.agent, live, ended, hang,
                                                evidence)  # fmt: skip
                else:
                    final = await self._end(line, ended)
        except TimeoutError:
            evidence.append("the call went on too long: hung up")
            final = await self._end(line, ended)
        except Exception as exc:  # a bug must not lose the call's record
            log.exception("inbound call %s failed inside the engine", call.attempt_id)
            evidence.append(f"internal error: {exc!r}")
            final = await self._end(line, ended)
            outcome = Outcome.ERROR_OCCURRED
        finally:
            self.untrack(call.attempt_id)
        if final is not None and final.outcome is Outcome.ERROR_OCCURRED:
            outcome = Outcome.ERROR_OCCURRED  # the line went down under the call
            evidence.extend(e for e in final.evidence if e not in evidence)
        if keys.pressed:
            evidence.append("dtmf " + "".join(keys.pressed))
        end = result.end if result is not None else "error"
        if end == "caller_gone" and hooks.lost_in_queue:
            hooks.miss("hung_up_in_queue")
            if outcome is Outcome.CONNECTED:
                outcome = Outcome.ABANDONED  # hung up waiting (never in the abandon ledger)
        elif end == OVERFLOW:
            if not hooks.missed:
                hooks.miss("overflow")
            if outcome is Outcome.CONNECTED:
                outcome = Outcome.NO_AGENT
        self._finish(call, outcome, result, actions, evidence, settings, slot)
        self._count(campaign.name, "error" if outcome is Outcome.ERROR_OCCURRED else end)

    def _finish(
        self,
        call: InboundCall,
        outcome: Outcome,
        result: FlowResult | None,
        actions: CallActions,
        evidence: list[str],
        settings: CampaignSettings,
        slot: Slot,
    ) -> None:
        now = self.clock.now()
        agent = actions.agent.name if actions.agent is not None else None
        payload = (
            inbound_payload(call, outcome, now, flow=result, agent=agent, line=slot.name)
            if settings.webhook
            else None
        )
        done = complete_inbound(self.db, call.attempt_id, outcome, now, flow=result, agent=agent,
                                line=slot.name, evidence=evidence, outbox_payload=payload)  # fmt: skip
        if not done:
            log.error("inbound call %s was no longer in flight: its end is not recorded",
                      call.attempt_id)  # fmt: skip

    @staticmethod
    async def _end(line: Line, ended: asyncio.Future[CallResult | None]) -> CallResult | None:
        """The call's final result, hanging up if it is still up."""
        if ended.done():
            return ended.result() if not ended.cancelled() else None
        try:
            return await line.hang_up()
        except LineError:
            return None

    def _flow(self, flow: Flow | None, settings: CampaignSettings) -> Flow:
        """The flow to run: the campaign's (its queue nodes overflowing to `overflow_node` when
        the campaign says so), or, with none, straight to the queue."""
        if flow is None:
            node = fm.Node("queue", 0, fm.Queue(None, None), ())
            return fm.Flow("queue", "queue", {"queue": node}, "", 0, 0)
        target = settings.overflow_node
        if settings.overflow != "node" or target is None or target not in flow.nodes:
            return flow
        nodes = {
            name: dataclasses.replace(n, action=dataclasses.replace(n.action, overflow=target))
            if isinstance(n.action, fm.Queue) and n.action.overflow is None
            else n
            for name, n in flow.nodes.items()
        }
        return dataclasses.replace(flow, nodes=nodes)

    def _screen_pop(self, call: InboundCall) -> dict[str, object]:
        """What the agent who takes the call sees: the caller's contact here (its last calls)
        and the known contacts with that number."""
        doc: dict[str, object] = dict(contact_document(self.db, call.contact_id) or {})
        attempts = doc.get("attempts")
        if isinstance(attempts, list):
            doc["attempts"] = attempts[-SCREEN_POP_ATTEMPTS:]
        doc["caller_id"] = call.caller_id
        doc["new_caller"] = call.new_caller
        doc["matched"] = [m.as_dict() for m in call.matched]
        return doc

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


@dataclass
class _Hooks:
    """The queue as one inbound call sees it: the snapshot, the metrics, the overflow."""

    inbound: Inbound
    state: TrackedCall
    call: InboundCall
    actions: CallActions
    slot: Slot
    lost_in_queue: bool = False  # the caller hung up (or the line went) while waiting
    missed: bool = False  # a missed call is kept for this call
    waited: float = 0.0

    def joined(self, skill: str | None) -> None:
        self.state.queued_since, self.state.skill = self.inbound.clock.now(), skill

    def left(self, result: str, waited: float) -> None:
        self.waited = waited
        self.lost_in_queue = result == GONE
        self.state.queued_since = None
        metrics = self.inbound.metrics
        if metrics is not None:
            metrics.record_queue_wait(self.call.campaign, waited)

    def miss(self, reason: str) -> int | None:
        """Keep this call as a missed call (once); its id."""
        if self.missed:
            return None
        self.missed = True
        campaign = find_campaign(self.inbound.db, self.call.campaign)
        if campaign is None:
            return None
        missed = record_missed(self.inbound.db, campaign, self.slot.name, self.call.caller_id,
                               reason, self.inbound.clock.now(), attempt_id=self.call.attempt_id,
                               waited=self.waited)  # fmt: skip
        return missed.id

    async def overflow(self) -> None:
        settings = self.actions.call.settings
        evidence = self.actions.call.evidence
        if settings.overflow == "callback" and settings.callback_campaign is not None:
            missed = self.miss("overflow")
            target = find_campaign(self.inbound.db, settings.callback_campaign)
            made = (
                self.actions.make_callback(target, None, missed_call_id=missed)
                if target is not None
                else Refused("gone", f"there is no campaign {settings.callback_campaign!r}")
            )
            if isinstance(made, Refused):
                evidence.append(f"overflow: no callback: {made.reason}")
            else:
                evidence.append(f"overflow: {made.detail()}")
        message = settings.overflow_message
        line = self.slot.line
        if message and line.capabilities.playback and not self.actions.call.gone.is_set():
            try:
                await line.play(message)
                evidence.append(f"overflow: played {message}")
            except LineError as exc:
                evidence.append(f"overflow: {message} not played: {exc}")
