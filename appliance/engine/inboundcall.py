"""One call an inbound campaign answers (SPEC C14, issue #23), from the answer to its record:
engine/inbound.py decides to answer it; this answers, records it at once (`record_inbound`: an
attempt in flight, direction 'in', on the caller's contact, with the known contacts the number
matches — the screen pop), runs the campaign's flow (`run_flow` over `LineFlowCall` and
`CallActions`), waits for the talk of an agent who took it (`talk`), and completes the attempt
in one transaction with the flow's steps, answers, disposition and fields
(`complete_inbound`; its webhook document is the store's `inbound_payload`).

Outcomes: Connected (the flow or the caller ended it; an agent's talk), AgentHangUp and
AgentTransfer as on agent calls, Abandoned (the caller hung up waiting for an agent: an inbound
call is never in the abandon ledger), NoAgent (the wait ran out and the flow ended), and
ErrorOccurred (the line went down under the call). A caller lost in the queue, and an overflow,
are also kept as missed calls (`_Queue`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from appliance.campaigns import CampaignSettings
from appliance.domain import Outcome
from appliance.drivers.line import CallResult, Line, LineError
from appliance.engine.agentstate import LiveCall
from appliance.engine.callaudio import CallAudio, play_prompt
from appliance.engine.flowactions import GONE, OVERFLOW, ActionCall, CallActions, CallParts
from appliance.engine.flowcall import KeyBuffer, LineFlowCall
from appliance.engine.inboundview import FlowCallView
from appliance.engine.linepool import Slot
from appliance.engine.talk import TALK_LIMIT, talk
from appliance.errors import DialboxError
from appliance.flows import Flow, FlowResult, run_flow
from appliance.flows import model as fm
from appliance.metrics import Metrics
from appliance.store.campaigns import CampaignRow, find_campaign
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


@dataclass
class Ringing:
    """A call ringing in on a line."""

    slot: Slot
    caller: str
    since: float
    campaign: CampaignRow | None  # the one that answers it (None: no inbound campaign here)
    unanswered: str | None = None  # why it is not answered (closed, the line busy...)
    closed: bool = False  # outside business hours with no closed-hours flow
    answering: bool = False


@dataclass
class TrackedCall:
    """An answered call in a flow (an inbound one, or an automated call), as the snapshot
    shows it."""

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


class CallHost(CallParts, Protocol):
    """What an answered call needs of the inbound side (`Inbound`)."""

    @property
    def metrics(self) -> Metrics | None: ...

    @property
    def audio(self) -> CallAudio:
        """The audio path (#24): the recording a campaign's `record` asks for, the prompts."""
        ...

    def track(self, call: TrackedCall) -> None: ...

    def untrack(self, attempt_id: int) -> None: ...

    def missed(self, ring: Ringing, reason: str) -> None: ...

    def count(self, campaign: str, result: str) -> None: ...


def flow_to_run(flow: Flow | None, settings: CampaignSettings) -> Flow:
    """The campaign's flow, its queue nodes overflowing to `overflow_node` when the campaign
    says so (a queue's own `overflow:` wins); with no flow, straight to the queue."""
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


async def _end(line: Line, ended: asyncio.Future[CallResult | None]) -> CallResult | None:
    """The call's final result, hanging up if it is still up."""
    if ended.done():
        return ended.result() if not ended.cancelled() else None
    try:
        return await line.hang_up()
    except LineError:
        return None


class AnsweredCall:
    def __init__(
        self,
        host: CallHost,
        ring: Ringing,
        campaign: CampaignRow,
        settings: CampaignSettings,
        flow: Flow | None,
    ) -> None:
        self.host = host
        self.ring = ring
        self.campaign = campaign
        self.settings = settings
        self.flow = flow

    async def run(self, rung: Callable[[], None]) -> None:
        """Answer, serve and record the call; `rung` is called once the ringing is over."""
        host, ring, campaign = self.host, self.ring, self.campaign
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
                host.missed(ring, "hung_up_ringing")
                return
            finally:
                rung()
            now = host.clock.now()
            ended = asyncio.ensure_future(line.wait_call_end())
            try:
                call = record_inbound(host.db, campaign, slot.name, answered.number or ring.caller,
                                      now, box=getattr(host, "box_id", None))  # fmt: skip
            except DialboxError as exc:  # the campaign was deleted or changed type meanwhile
                log.error("call on %s for %s not recorded, hung up: %s", slot.name,
                          campaign.name, exc)  # fmt: skip
                ended.cancel()
                with contextlib.suppress(LineError):
                    await line.hang_up()
                return
            await self._serve(call, keys, ended)
        finally:
            keys.close()
            slot.busy, slot.campaign, slot.since = False, None, None

    async def _serve(
        self, call: InboundCall, keys: KeyBuffer, ended: asyncio.Future[CallResult | None]
    ) -> None:
        host, campaign, settings, slot = self.host, self.campaign, self.settings, self.ring.slot
        line = slot.line
        gone, hang = asyncio.Event(), asyncio.Event()
        ended.add_done_callback(lambda _: gone.set())
        live = LiveCall(call.attempt_id, call.contact_id, campaign.name,
                        call.number or call.caller_id, slot.name, call.answered_at,
                        self._screen_pop(call), hang_up=hang.set)  # fmt: skip
        evidence: list[str] = ["answered"]
        # The call's sound (#24): recorded when the campaign says `record` (consent prompt first).
        sound = host.audio.sound(line, settings, evidence, campaign=campaign.name,
                                 attempt_id=call.attempt_id, number=call.number or call.caller_id,
                                 agent=None, direction="inbound")  # fmt: skip
        if sound is not None:
            sound.record()
        prompts = host.audio.prompts
        state = TrackedCall(campaign.name, slot.name, call.caller_id, call.answered_at,
                            call.attempt_id, "in", tuple(m.contact_id for m in call.matched))  # fmt: skip
        known = call.matched[0].contact_id if call.matched else call.contact_id
        actions = CallActions(
            host.db, host.clock, host.planner, host.desk,
            ActionCall(campaign, settings, line, call.number, known, live, gone, evidence, True,
                       prompts),
        )  # fmt: skip
        queue = _Queue(host, state, call, actions, slot)
        actions.hooks = queue
        host.track(state)
        result: FlowResult | None = None
        final: CallResult | None = None
        outcome = Outcome.CONNECTED
        try:
            async with asyncio.timeout(FLOW_LIMIT + settings.queue_max_wait + TALK_LIMIT):
                if sound is not None:
                    await sound.consented()  # a prompt the module plays must not overlap it
                result = await run_flow(flow_to_run(self.flow, settings),
                                        LineFlowCall(line, call.number, keys, ended, prompts),
                                        actions, host.clock.now)  # fmt: skip
                if result.end == "bridged" and actions.agent is not None and host.desk:
                    state.agent = actions.agent.name
                    final, outcome = await talk(host.desk, line, actions.agent, live, ended, hang,
                                                evidence)  # fmt: skip
                else:
                    final = await _end(line, ended)
        except TimeoutError:
            evidence.append("the call went on too long: hung up")
            final = await _end(line, ended)
        except Exception as exc:  # a bug must not lose the call's record
            log.exception("inbound call %s failed inside the engine", call.attempt_id)
            evidence.append(f"internal error: {exc!r}")
            final = await _end(line, ended)
            outcome = Outcome.ERROR_OCCURRED
        finally:
            host.untrack(call.attempt_id)
            if sound is not None:
                sound.close()  # the recording stops in the background: never waited for here
        if final is not None and final.outcome is Outcome.ERROR_OCCURRED:
            outcome = Outcome.ERROR_OCCURRED  # the line went down under the call
            evidence.extend(e for e in final.evidence if e not in evidence)
        if keys.pressed:
            evidence.append("dtmf " + "".join(keys.pressed))
        end = result.end if result is not None else "error"
        if end == "caller_gone" and queue.lost:
            queue.miss("hung_up_in_queue")
            if outcome is Outcome.CONNECTED:
                outcome = Outcome.ABANDONED  # hung up waiting (never in the abandon ledger)
        elif end == OVERFLOW:
            queue.miss("overflow")
            if outcome is Outcome.CONNECTED:
                outcome = Outcome.NO_AGENT
        self._finish(call, outcome, result, actions.agent.name if actions.agent else None,
                     evidence)  # fmt: skip
        host.count(campaign.name, "error" if outcome is Outcome.ERROR_OCCURRED else end)

    def _finish(
        self,
        call: InboundCall,
        outcome: Outcome,
        result: FlowResult | None,
        agent: str | None,
        evidence: list[str],
    ) -> None:
        now, line = self.host.clock.now(), self.ring.slot.name
        payload = (
            inbound_payload(call, outcome, now, flow=result, agent=agent, line=line)
            if self.settings.webhook
            else None
        )
        done = complete_inbound(self.host.db, call.attempt_id, outcome, now, flow=result,
                                agent=agent, line=line, evidence=evidence,
                                outbox_payload=payload)  # fmt: skip
        if not done:
            log.error("inbound call %s was no longer in flight: its end is not recorded",
                      call.attempt_id)  # fmt: skip

    def _screen_pop(self, call: InboundCall) -> dict[str, object]:
        """What the agent who takes the call sees: the caller's contact here (its last calls)
        and the known contacts with that number."""
        doc: dict[str, object] = dict(contact_document(self.host.db, call.contact_id) or {})
        attempts = doc.get("attempts")
        if isinstance(attempts, list):
            doc["attempts"] = attempts[-SCREEN_POP_ATTEMPTS:]
        doc["caller_id"] = call.caller_id
        doc["new_caller"] = call.new_caller
        doc["matched"] = [m.as_dict() for m in call.matched]
        return doc


@dataclass
class _Queue:
    """The queue as one inbound call sees it (`QueueHooks`): the snapshot, the metrics, the
    campaign's overflow, the missed call it may become."""

    host: CallHost
    state: TrackedCall
    call: InboundCall
    actions: CallActions
    slot: Slot
    lost: bool = False  # the caller hung up (or the line went) while waiting
    missed: bool = False  # a missed call is kept for this call
    waited: float = 0.0

    def joined(self, skill: str | None) -> None:
        self.state.queued_since, self.state.skill = self.host.clock.now(), skill

    def left(self, result: str, waited: float) -> None:
        self.waited = waited
        self.lost = result == GONE
        self.state.queued_since = None
        if self.host.metrics is not None:
            self.host.metrics.record_queue_wait(self.call.campaign, waited)

    def miss(self, reason: str) -> int | None:
        """Keep this call as a missed call (once); its id."""
        if self.missed:
            return None
        self.missed = True
        campaign = find_campaign(self.host.db, self.call.campaign)
        if campaign is None:
            return None
        missed = record_missed(self.host.db, campaign, self.slot.name, self.call.caller_id,
                               reason, self.host.clock.now(), attempt_id=self.call.attempt_id,
                               waited=self.waited)  # fmt: skip
        return missed.id

    async def overflow(self) -> None:
        settings = self.actions.call.settings
        evidence = self.actions.call.evidence
        if settings.overflow == "callback" and settings.callback_campaign is not None:
            missed = self.miss("overflow")
            target = find_campaign(self.host.db, settings.callback_campaign)
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
        playable = line.capabilities.playback or line.audio is not None
        if message and playable and not self.actions.call.gone.is_set():
            try:
                how = await play_prompt(line, self.host.audio.prompts, message, evidence)
                evidence.append(f"overflow: {how} {message}")
            except LineError as exc:
                evidence.append(f"overflow: {message} not played: {exc}")
