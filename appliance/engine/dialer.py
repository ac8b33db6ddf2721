"""The dial loop: each round, free lines → campaigns → picks → leases → calls; outcomes → strategy.

An automated campaign with a call flow (`flow`, docs/flows.md) runs it on the answered call (a
survey, "press 1 for an agent"): its steps, answers, fields and disposition are kept with the
attempt's outcome in one transaction. Calls ringing in are the engine's `inbound`
(engine/inbound.py); a line that rings or carries one is never dialed, and inbound campaigns
never dial.

Order of writes (DESIGN.md): the lease is committed before the line is asked to dial; the outcome
and the strategy's decision are committed together when the call ends. On SIGTERM the loop stops
picking, lets calls in flight end for `engine.drain_timeout`, hangs up the rest, records them, and
only then lets the line pool close the lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from appliance import __version__
from appliance.campaigns import CampaignSettings
from appliance.clock import Clock
from appliance.config import DialboxConfig
from appliance.config.loader import ConfigError, config_flows
from appliance.domain import CampaignType, Channel, Outcome
from appliance.drivers.line import CallResult, IncomingSms, LineError, LineEvent
from appliance.engine.agentcalls import AgentCalls
from appliance.engine.agents import AgentDesk
from appliance.engine.agentstate import LiveAgent
from appliance.engine.callaudio import CONNECT_RESERVE, GO_ON, AudioParts, CallAudio, play_prompt
from appliance.engine.calls import Attempt, Call
from appliance.engine.flowcall import KeyBuffer
from appliance.engine.inbound import Inbound, flow_problems
from appliance.engine.inboundcall import FLOW_LIMIT
from appliance.engine.linepool import LinePool, Slot
from appliance.engine.mailer import Mailer
from appliance.engine.pacing import Pacers
from appliance.engine.planner import (
    AttemptReport,
    Pick,
    Planner,
    RoundState,
    attempt_payload,
    dangling_decider,
)
from appliance.engine.storeplanner import StorePlanner
from appliance.engine.survey import Survey
from appliance.engine.talk import TALK_LIMIT
from appliance.flows import Flow
from appliance.metrics import Metrics
from appliance.store import Database
from appliance.store.attempts import Lease, complete, lease, mark_dialed, sweep_dangling
from appliance.store.boxes import (
    heartbeat,
    others_alive,
    register,
    stopped,
    sweep_dead_boxes,
    this_instance,
)
from appliance.store.campaigns import CampaignRow, get_campaign_by_id, list_campaigns
from appliance.store.replies import record_reply

log = logging.getLogger(__name__)

SWEEP_EVERY = 30.0  # seconds between running dangling sweeps (SPEC C8)
AUTOMATED_HOLD = 60.0  # an automated call is hung up after its message and this long at most
# Beyond ring timeout and hold: call setup (SIMCom allows 20 s for ATD) and hang-up. A line that
# gives no outcome by then is hung up and the attempt recorded, so no line stays busy forever.
ATTEMPT_MARGIN = 90.0
SMS_DEADLINE = 180.0
AGENT_TALK_LIMIT = 4 * 3600.0  # an agent's call is hung up after this long at most


class Engine:
    """The dial loop over the line pool; agent campaigns' side is its `agents` (AgentCalls)."""

    name = "engine"

    def __init__(
        self,
        config: DialboxConfig,
        db: Database,
        clock: Clock,
        pool: LinePool,
        planner: Planner,
        metrics: Metrics | None = None,
        desk: AgentDesk | None = None,
        audio: AudioParts | None = None,
    ) -> None:
        self.config = config
        self.db = db
        self.clock = clock
        self.pool = pool
        self.planner = planner
        self.metrics = metrics
        self.ready = asyncio.Event()
        self.calls: dict[int, Call] = {}  # attempt id -> call in flight
        self.dialed = 0
        self._last_sweep = 0.0
        # This daemon as one box of several on the store (#27, store/boxes.py): its id, whether
        # it is drained (it leases nothing), whether other boxes dial the same store (the lease
        # then judges the rules again inside its transaction), and when it last beat.
        self.box_id = config.box.id
        self.draining = False
        self.shared = False
        self._last_beat: float | None = None
        self.desk = desk
        # The audio path's parts (#24: detector, beep, recorder, prompt library), built by the
        # daemon (daemon/wiring.py `audio_parts`); none given: calls go as on lines without sound.
        self.audio = CallAudio(audio, metrics)
        self.agents = AgentCalls(
            self, db, clock, pool, planner, desk, Pacers(db, config.agents.wrap_up)
        )
        if desk is not None:
            desk.attach(self.agents)
        self.flows: dict[str, Flow] = {}
        self._load_flows(config)
        self.inbound = Inbound(self, db, clock, pool, planner, desk, metrics, self.audio)
        self.survey = Survey(self)
        # The e-mail channel (#26): e-mail steps go out through the SMTP relay, on no line.
        self.mailer = (
            Mailer(config, db, clock, planner, metrics)
            if isinstance(planner, StorePlanner)
            else None
        )
        for slot in pool.slots:
            slot.line.subscribe(self._on_line_event)

    def _load_flows(self, config: DialboxConfig) -> None:
        """The call flows of the config's flow files (`flows:`); on a problem the ones loaded
        before are kept (the config's own check refuses such a file at start and on reload)."""
        try:
            self.flows = dict(config_flows(config)) if config.flows else {}
        except ConfigError as exc:
            log.error("call flows not reloaded, the last ones kept: %s", exc)
        for problem in flow_problems(list_campaigns(self.db), self.flows):
            log.error("%s", problem)

    def _on_line_event(self, event: LineEvent) -> None:
        if isinstance(event, IncomingSms):
            result = record_reply(self.db, event.sender, event.text, self.clock.now())
            log.info(
                "SMS from %s on %s: %d contacts responded%s", event.sender, event.line, result.contacts,
                "; opted out: number on DNC" if result.opted_out else "",
            )  # fmt: skip
            if self.metrics is not None:
                for name in result.campaigns or ("",):
                    self.metrics.record_sms(name, "received")

    # ------------------------------------------------------------------ lifecycle
    async def run(self, stopping: asyncio.Event) -> None:
        self.register()
        self.ready.set()
        try:
            while not stopping.is_set():
                try:
                    self.beat()
                    self.round()
                    self._mail()
                    self._sweep()
                except Exception:
                    # A bad round must not end the daemon with calls in flight; it is logged and
                    # the next round tries again.
                    log.exception("scheduling round failed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), timeout=self.config.engine.tick)
            await self._drain()
            stopped(self.db, self.box_id, self.clock.now())
        finally:
            self.pool.release.set()

    # ------------------------------------------------------------------ the box (#27)
    def lines_document(self) -> list[dict[str, Any]]:
        """This box's lines as its row in `boxes` lists them."""
        return [
            {
                "name": s.name, "up": s.up and not s.disabled, "busy": s.busy,
                "campaign": s.campaign, "campaigns": list(s.config.campaigns),
            }
            for s in self.pool.slots
        ]  # fmt: skip

    def register(self) -> None:
        now = self.clock.now()
        row = register(
            self.db, self.box_id, __version__, now, self.lines_document(), this_instance()
        )
        self.draining = row.draining
        self._last_beat = now
        self.shared = others_alive(self.db, self.box_id, now, self.config.box.sweep_after_seconds)

    def beat(self, force: bool = False) -> None:
        """Every `box.heartbeat_seconds`: the heartbeat (and this box's leases renewed), the
        drain flag as the store has it, and the sweep of boxes silent for longer than
        `box.sweep_after_seconds` (their attempts in flight: Dangling, as configured)."""
        now = self.clock.now()
        box = self.config.box
        if (
            not force
            and self._last_beat is not None
            and now - self._last_beat < box.heartbeat_seconds
        ):
            return
        self._last_beat = now
        row = heartbeat(self.db, self.box_id, now, box.sweep_after_seconds, self.lines_document())
        if row.draining != self.draining:
            log.warning("box %s %s", self.box_id,
                        "draining: no new leases; calls in flight finish" if row.draining
                        else "resumed: leasing again")  # fmt: skip
        self.draining = row.draining
        self.shared = others_alive(self.db, self.box_id, now, box.sweep_after_seconds)
        settings = self.config.engine
        decide = (
            dangling_decider(self.planner, self.db, settings.requeue_delay)
            if settings.dangling_action == "requeue"
            else None
        )
        for dead in sweep_dead_boxes(self.db, now, box.sweep_after_seconds, decide=decide,
                                     by=self.box_id):  # fmt: skip
            for attempt in dead.attempts:
                log.warning(
                    "attempt %s of silent box %s: dangling; contact %s %s", attempt.attempt_id,
                    dead.box, attempt.contact_id,
                    "requeued" if attempt.requeued else f"closed as {attempt.state}",
                )  # fmt: skip
                if self.metrics is not None:
                    self.metrics.dangling.labels(
                        get_campaign_by_id(self.db, attempt.campaign_id).name
                    ).inc()

    def _mail(self) -> None:
        """The e-mail steps (#26): a failure there is logged and never stops the calls."""
        if self.mailer is None or self.draining:
            return
        try:
            self.mailer.tick(frozenset(c.lease.contact_id for c in self.calls.values()))
        except Exception:
            log.exception("e-mail round failed")

    def reload(self, config: DialboxConfig) -> None:
        self.config = config
        self._load_flows(config)
        self.audio.reload(config)
        if self.mailer is not None:
            self.mailer.config = config

    def agents_out_of_reach(self, campaign: CampaignRow) -> str | None:
        """C12, for `why`: what keeps the agent campaign's working agents from calls (seats)."""
        return self.agents.out_of_reach(campaign)

    def status(self) -> str:
        return f"{self.pool.up_count()}/{len(self.pool.slots)} lines up, {len(self.calls)} calls in flight"

    # ------------------------------------------------------------------ one round
    def round(self) -> int:
        """Start as many calls as lines, rules and agents allow; returns how many were started."""
        if self.draining:
            return 0  # drained (#27): no new leases; the calls in flight finish
        free = list(self.pool.free())
        if not free:
            return 0
        campaigns = list(self.planner.running())  # (inbound campaigns never dial)
        if not campaigns:
            return 0
        now = self.clock.now()
        names = [s.name for s in free]
        busy: dict[str, int] = {}
        for call in self.calls.values():
            busy[call.campaign.name] = busy.get(call.campaign.name, 0) + 1
        wanted: dict[str, int] = {}
        held: dict[str, frozenset[int]] = {}
        reachable: dict[str, frozenset[str]] = {}
        for campaign in campaigns:
            if campaign.type is CampaignType.AGENT:
                dials, contacts = self.agents.paced(campaign, now, len(free))
                wanted[campaign.name], held[campaign.name] = dials, frozenset(contacts)
                reachable[campaign.name] = frozenset(self.agents.agent_lines(campaign, names))
        state = RoundState(
            now,
            names,
            {s.name: s.config.campaigns for s in free},
            busy,
            frozenset(call.lease.contact_id for call in self.calls.values()),
            wanted,
            held,
            reachable,
        )
        slots = {s.name: s for s in free}
        started = 0
        for assignment in self.planner.assign(campaigns, state):
            campaign = assignment.campaign
            for pick, line_name in assignment.dials:
                agent: LiveAgent | None = None
                if campaign.type is CampaignType.AGENT:
                    may, agent = self.agents.owner(campaign, pick.contact_id)
                    if not may:
                        continue
                if self.start(pick, campaign, slots[line_name], now, agent) is not None:
                    started += 1
        return started

    def start(
        self, pick: Pick, campaign: CampaignRow, slot: Slot, now: float, agent: LiveAgent | None
    ) -> Lease | None:
        """Lease the contact (committed before a byte reaches the line) and start the call; for
        `agent` (reserved for it), the answered call goes to that agent."""
        if self.draining:
            return None
        recheck = getattr(self.planner, "recheck", None) if self.shared else None
        got = lease(
            self.db, pick.contact_id, pick.phone_index, pick.channel, now, line=slot.name,
            box=self.box_id, lease_for=self.config.box.sweep_after_seconds,
            # another box may have dialed the contact or its number since the plan (#27); an
            # agent's manual dial (reason "manual") was judged just now, redial time waived
            recheck=(lambda: recheck(campaign, pick.contact_id, now))
            if recheck is not None and pick.reason != "manual"
            else None,
        )  # fmt: skip
        if not isinstance(got, Lease):
            log.debug("contact %s not leased: %s %s", pick.contact_id, got.reason, got.detail)
            if agent is not None:
                self.agents.release(agent)
            return None
        slot.busy = True
        slot.campaign = campaign.name
        slot.since = now
        task = asyncio.create_task(
            self._attempt(got, campaign, slot), name=f"attempt {got.attempt_id}"
        )
        self.calls[got.attempt_id] = Call(got, campaign, slot, task, now, agent=agent)
        self.dialed += 1
        if campaign.type is CampaignType.AGENT:
            self.agents.started(campaign, now)
        return got

    def _sweep(self) -> None:
        now = self.clock.now()
        if now - self._last_sweep < SWEEP_EVERY:
            return
        self._last_sweep = now
        settings = self.config.engine
        requeue = settings.dangling_action == "requeue"
        swept = sweep_dangling(
            self.db,
            now,
            older_than=now - settings.dangling_timeout,
            decide=dangling_decider(self.planner, self.db, settings.requeue_delay)
            if requeue
            else None,
            exclude=[*self.calls, *self.inbound.in_flight()],
            mine=self.box_id,  # another box's attempts are its own (#27: sweep_dead_boxes)
        )
        for attempt in swept:
            log.warning(
                "attempt %s got no outcome in %.0f s: dangling; contact %s %s",
                attempt.attempt_id,
                settings.dangling_timeout,
                attempt.contact_id,
                "requeued" if attempt.requeued else f"closed as {attempt.state}",
            )
            if self.metrics is not None:
                self.metrics.dangling.labels(
                    get_campaign_by_id(self.db, attempt.campaign_id).name
                ).inc()

    # ------------------------------------------------------------------ one attempt
    async def _attempt(self, got: Lease, campaign: CampaignRow, slot: Slot) -> None:
        settings = CampaignSettings.model_validate(campaign.settings)
        started = time.monotonic()
        dialed_at = self.clock.now()
        mark_dialed(self.db, got.attempt_id, slot.name, dialed_at)
        attempt = Attempt(got, campaign, settings, slot, dialed_at)
        deadline = (
            SMS_DEADLINE
            if got.channel == Channel.SMS
            else settings.ring_timeout + AUTOMATED_HOLD + ATTEMPT_MARGIN
        )
        if campaign.type is CampaignType.AGENT:
            deadline += AGENT_TALK_LIMIT
        elif settings.flow is not None and got.channel == Channel.VOICE:
            deadline += FLOW_LIMIT + settings.queue_max_wait + TALK_LIMIT
        try:
            async with asyncio.timeout(deadline):
                if got.channel == Channel.SMS:
                    report = await self._sms(attempt)
                else:
                    report = await self._voice(attempt)
        except TimeoutError:
            log.error(
                "line %s gave no outcome for attempt %s in %.0f s: hanging up",
                slot.name,
                got.attempt_id,
                deadline,
            )
            with contextlib.suppress(LineError, TimeoutError):
                async with asyncio.timeout(15):
                    await slot.line.hang_up()
            evidence = (f"no outcome from line {slot.name} within {deadline:.0f} s",)
            report = AttemptReport(Outcome.ERROR_OCCURRED, evidence, dialed_at, None, slot.name)
        except LineError as exc:
            report = AttemptReport(
                Outcome.ERROR_OCCURRED, (f"line error: {exc}",), dialed_at, None, slot.name
            )
        except asyncio.CancelledError:
            # Left in flight on purpose: the next start (or the sweep) makes it Dangling.
            raise
        except Exception as exc:
            # A driver bug must not lose the contact: it is recorded as an error like any other.
            log.exception("attempt %s failed inside the engine", got.attempt_id)
            report = AttemptReport(
                Outcome.ERROR_OCCURRED, (f"internal error: {exc!r}",), dialed_at, None, slot.name
            )
        finally:
            slot.busy = False
            slot.campaign = None
            slot.since = None
            call = self.calls.get(got.attempt_id)
            if call is not None and call.agent is not None and call.stage != "up":
                self.agents.release(call.agent)  # dialed for this agent, and it never reached them
        await self.audio.settle(got.attempt_id)  # its recording's row, for the result to name
        now = self.clock.now()
        if campaign.type is CampaignType.AGENT and got.channel == Channel.VOICE:
            self.agents.unanswered(campaign, got.attempt_id, report.outcome, dialed_at, now)
        completion = self.planner.decide(campaign, got, report, now)
        payload = self._payload(attempt, report, now)
        complete(self.db, got, completion, now, outbox_payload=payload, flow=report.flow)
        self.calls.pop(got.attempt_id, None)
        if self.metrics is not None and got.channel == Channel.VOICE:
            ring = (report.answered_at - dialed_at) if report.answered_at else None
            self.metrics.record_call(
                campaign.name, report.outcome.label, time.monotonic() - started, ring
            )

    async def _voice(self, attempt: Attempt) -> AttemptReport:
        got, campaign, slot = attempt.lease, attempt.campaign, attempt.slot
        # Keys the callee presses (SPEC C1: surveys, "press 1") may follow the answer at once, so
        # they are collected from before the dial to the end of the call.
        keys = KeyBuffer(slot.line)
        outcome, agent, flow, sound = None, None, None, None
        try:
            result = await slot.line.dial(got.number, float(attempt.settings.ring_timeout))
            evidence = list(result.evidence)
            answered_at = self.clock.now() if result.answered else None
            if result.answered and not result.ended:
                call = self.calls.get(got.attempt_id)
                if call is not None and campaign.type is not CampaignType.AGENT:
                    call.stage = "up"  # the box knows it answered (agent calls: AgentCalls)
                # The call's sound (#24, engine/callaudio.py): recording, answering machines.
                reserved = call.agent.name if call is not None and call.agent is not None else None
                sound = self.audio.sound(slot.line, attempt.settings, evidence,
                                         campaign=campaign.name, attempt_id=got.attempt_id,
                                         number=got.number, agent=reserved,
                                         direction="outbound")  # fmt: skip
                screened = GO_ON
                if sound is not None:
                    # An agent campaign's detection leaves the agent's join its time: the
                    # 2-second rule counts from the answer (docs/audio.md).
                    cap = (
                        self.config.agents.connect_timeout - CONNECT_RESERVE
                        if campaign.type is CampaignType.AGENT
                        else None
                    )
                    screened = await sound.screen(cap)
                if screened.ended:  # a machine, a fax, a modem, or gone under the detector
                    final, outcome = screened.final, screened.outcome
                elif campaign.type is CampaignType.AGENT:
                    final, agent, outcome = await self.agents.to_agent(
                        attempt, evidence, spent=screened.spent
                    )
                    if sound is not None:
                        sound.set_agent(agent)
                elif (chosen := self._flow_of(attempt, evidence)) is not None:
                    if sound is not None:
                        await sound.consented()
                    final, agent, outcome, flow = await self.survey.run(
                        attempt, chosen, keys, evidence
                    )
                else:
                    if sound is not None:
                        await sound.consented()
                    final = await self._connected(attempt, evidence)
                if final is not None:
                    evidence.extend(e for e in final.evidence if e not in evidence)
                    # The outcome is the call's as it ended, not as it was when answered: a line
                    # lost mid-call is ErrorOccurred (requeued by the strategy), a machine
                    # detected after the answer AnsweringMachine; a far-end hang-up stays
                    # Connected. Agent calls decide theirs in AgentCalls.to_agent.
                    outcome = outcome or final.outcome
        finally:
            keys.close()
            if sound is not None:
                sound.close()  # the recording stops in the background: never waited for here
        pressed = "".join(keys.pressed)
        if pressed:
            evidence.append("dtmf " + pressed)
        disposition = None
        if pressed and flow is None:
            disposition = f"keys {pressed}"  # no flow: the keys are the answer (SPEC C1)
        return AttemptReport(
            outcome or result.outcome, tuple(evidence), attempt.dialed_at, answered_at, slot.name,
            agent=agent, disposition=disposition, flow=flow,
        )  # fmt: skip

    def _flow_of(self, attempt: Attempt, evidence: list[str]) -> Flow | None:
        """An automated campaign's call flow, when it names one the flow files define."""
        name = attempt.settings.flow
        if attempt.campaign.type is not CampaignType.AUTOMATED or name is None:
            return None
        flow = self.flows.get(name)
        if flow is None:
            evidence.append(f"flow {name} is not in the flow files: the message is played")
            log.error("campaign %s names flow %r, which the flow files do not define",
                      attempt.campaign.name, name)  # fmt: skip
        return flow

    async def _connected(self, attempt: Attempt, evidence: list[str]) -> CallResult | None:
        """An answered call: automated campaigns play their message (C1); the call then ends."""
        campaign, settings, slot = attempt.campaign, attempt.settings, attempt.slot
        line = slot.line
        if (
            campaign.type == CampaignType.AUTOMATED
            and settings.message
            and (line.capabilities.playback or line.audio is not None)
        ):
            # said from the prompt library where the line has sound, else the module's file
            try:
                how = await play_prompt(line, self.audio.prompts, settings.message, evidence)
                evidence.append(f"{how} {settings.message}")
            except LineError as exc:
                evidence.append(f"playback failed: {exc}")
        ended = await slot.line.wait_call_end(timeout=AUTOMATED_HOLD)
        if ended is None:
            ended = await slot.line.hang_up()
        return ended

    async def _sms(self, attempt: Attempt) -> AttemptReport:
        got, campaign, settings, slot = (
            attempt.lease,
            attempt.campaign,
            attempt.settings,
            attempt.slot,
        )
        text = settings.sms_text or f"Message from {campaign.name}"
        result = await slot.line.send_sms(got.number, text)
        sent = result.status == "sent"
        if self.metrics is not None:
            self.metrics.record_sms(campaign.name, "sent" if sent else "failed")
        evidence = (
            f"sms {result.status}",
            f"parts {result.parts}",
            *(f"ref {r}" for r in result.references),
        )
        if result.error:
            evidence = (*evidence, result.error)
        outcome = Outcome.CONNECTED if sent else Outcome.ERROR_OCCURRED
        return AttemptReport(
            outcome,
            evidence,
            attempt.dialed_at,
            None,
            slot.name,
            disposition="sms " + result.status,
        )

    def _payload(
        self, attempt: Attempt, report: AttemptReport, now: float
    ) -> dict[str, Any] | None:
        """The webhook document (`planner.attempt_payload`), when the campaign has a webhook."""
        if not attempt.settings.webhook:
            return None
        got = attempt.lease
        return attempt_payload(attempt.campaign.name, got, report, now, str(got.channel))

    # ------------------------------------------------------------------ drain
    async def _drain(self) -> None:
        inbound = asyncio.ensure_future(self.inbound.drain(self.config.engine.drain_timeout))
        try:
            await self._drain_calls()
        finally:
            await inbound
            if self.mailer is not None:
                await self.mailer.drain(self.config.engine.drain_timeout)
            await self.audio.drain(self.config.engine.drain_timeout)  # recordings' files

    async def _drain_calls(self) -> None:
        if not self.calls:
            return
        log.info("draining: %d calls in flight", len(self.calls))
        tasks = [c.task for c in self.calls.values()]
        _, pending = await asyncio.wait(tasks, timeout=self.config.engine.drain_timeout)
        if pending:
            log.info(
                "hanging up %d calls still up after %.0f s",
                len(pending),
                self.config.engine.drain_timeout,
            )
            for call in list(self.calls.values()):
                with contextlib.suppress(LineError):
                    await call.slot.line.hang_up()
            _, pending = await asyncio.wait(pending, timeout=10.0)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
