"""The engine's agent side (SPEC A1–A5, C10): pacing agent campaigns, callbacks for their owners,
dials an agent asked for (preview, manual), and an answered call handed to an agent or abandoned.

`AgentCalls` is a collaborator of `Engine` (engine/dialer.py), which hands it the narrow
`DialLoop` view of itself: its live config, its calls in flight, and a way to start a dial. It is
also the desk's `DeskDialer`, so agent desktops' accepts and manual dials reach the lines.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Protocol

from appliance.campaigns import CampaignSettings
from appliance.clock import Clock
from appliance.config import DialboxConfig
from appliance.domain import CampaignType, Outcome
from appliance.drivers.line import CallResult, LineError
from appliance.engine.agents import AgentDesk
from appliance.engine.agentstate import LiveAgent, LiveCall, Offer
from appliance.engine.callaudio import CallAudio, play_prompt
from appliance.engine.calls import Attempt, Call
from appliance.engine.errors import AgentConflict
from appliance.engine.linepool import LinePool, Slot
from appliance.engine.pacing import PACED, Pacers, non_live
from appliance.engine.planner import Pick, Planner
from appliance.store import Database
from appliance.store.agents import owned_elsewhere, owner_of
from appliance.store.attempts import Lease
from appliance.store.campaigns import CampaignRow
from appliance.store.results import contact as contact_document

log = logging.getLogger(__name__)


class DialLoop(Protocol):
    """What the agent side needs of the engine."""

    @property
    def config(self) -> DialboxConfig:
        """The config as last reloaded (connect timeout, information message)."""
        ...

    @property
    def calls(self) -> Mapping[int, Call]:
        """Calls in flight by attempt id; the agent side moves a call's `stage` along."""
        ...

    @property
    def audio(self) -> CallAudio:
        """The audio path (#24): the information message said from the prompt library."""
        ...

    def start(
        self, pick: Pick, campaign: CampaignRow, slot: Slot, now: float, agent: LiveAgent | None
    ) -> Lease | None:
        """Lease the pick and dial it on the slot (for `agent`, when given); None: not leased."""
        ...


class AgentCalls:
    def __init__(
        self,
        loop: DialLoop,
        db: Database,
        clock: Clock,
        pool: LinePool,
        planner: Planner,
        desk: AgentDesk | None,
        pacers: Pacers,
    ) -> None:
        self.loop = loop
        self.db = db
        self.clock = clock
        self.pool = pool
        self.planner = planner
        self.desk = desk
        self.pacers = pacers

    @property
    def calls(self) -> Mapping[int, Call]:
        return self.loop.calls

    def started(self, campaign: CampaignRow, now: float) -> None:
        """A dial of an agent campaign began: its pacer counts it."""
        pacer = self.pacers.known(campaign.id)
        if pacer is not None:
            pacer.dialed(now)

    def release(self, agent: LiveAgent) -> None:
        """A call dialed for the agent never reached them (not leased, not answered, failed)."""
        if self.desk is not None:
            self.desk.release(agent)

    def _settings(self, campaign: CampaignRow) -> CampaignSettings:
        return CampaignSettings.model_validate(campaign.settings)

    def paced(self, campaign: CampaignRow, now: float, lines_free: int) -> tuple[int, set[int]]:
        """How many dials the campaign's agents allow now (A3, A4), and the contacts held back:
        callbacks whose owners are not ready (C10) and contacts shown to agents (A2)."""
        desk = self.desk
        if desk is None:
            return 0, set()
        settings = self._settings(campaign)
        held = self._held(desk, campaign, desk.present(campaign.name))
        if settings.pacing not in PACED:
            return 0, held  # preview and manual campaigns dial when an agent says so
        pacer = self.pacers.get(
            campaign.id,
            settings,
            self.planner.abandon_cap(campaign),
            now,
            self.planner.false_positive_share(campaign),
        )
        if getattr(self.loop, "shared", False):
            self.pacers.share(campaign.id, now)  # every box's abandons hold the cap (#27)
        ringing = tuple(
            now - c.started
            for c in self.calls.values()
            if c.campaign.id == campaign.id and c.stage == "ringing"
        )
        waiting = sum(
            1 for c in self.calls.values() if c.campaign.id == campaign.id and c.stage == "waiting"
        )
        lines = [s.line for s in self.pool.slots if s.up and s.serves(campaign.name)]
        view = desk.view(
            campaign.name, settings.skill, lambda seat: any(ln.can_reach(seat) for ln in lines)
        )
        return pacer.dials_wanted(now, view, ringing, waiting, lines_free), held

    def unanswered(
        self, campaign: CampaignRow, attempt_id: int, outcome: Outcome, dialed_at: float, now: float
    ) -> None:
        """A paced dial that never reached the agents' queue (busy, no answer, a machine, a
        failure): its outcome and time from dial go to the pacer (#19), which learns from them
        how soon non-live dials resolve."""
        call = self.calls.get(attempt_id)
        pacer = self.pacers.known(campaign.id)
        if pacer is not None and call is not None and call.stage == "ringing":
            pacer.resolved(now, non_live(outcome), now - dialed_at)

    def _held(self, desk: AgentDesk, campaign: CampaignRow, present: list[str]) -> set[int]:
        """Contacts not to dial for the campaign now: callbacks whose owners are not among
        `present` (C10), and contacts on an agent's screen as a preview (A2)."""
        held = set(owned_elsewhere(self.db, campaign.id, present))
        return held | {a.offer.contact_id for a in desk.agents.values() if a.offer is not None}

    def agent_lines(self, campaign: CampaignRow, names: list[str]) -> list[str]:
        """Of the lines given to an agent campaign, those that can reach a seat of one of its
        agents: a call answered on any other could only be abandoned."""
        if self.desk is None:
            return []
        seats = self.desk.seats_for(campaign.name, self._settings(campaign).skill)
        by_name = {s.name: s for s in self.pool.slots}
        return [n for n in names if any(by_name[n].line.can_reach(seat) for seat in seats)]

    def out_of_reach(self, campaign: CampaignRow) -> str | None:
        """C12, for `why`: an agent campaign whose working agents (logged in, not paused) get no
        call because of their seats — none with the campaign's skill, every seat down, or no
        line of the campaign up that can reach one. None when some agent can take a call (or
        when the store's reasons, nobody logged in or everyone paused, already say it)."""
        desk = self.desk
        if desk is None or campaign.type is not CampaignType.AGENT:
            return None
        working = [
            a for a in desk.agents.values()
            if a.serves(campaign.name) and a.state not in ("logged_out", "paused")
        ]  # fmt: skip
        if not working:
            return None
        skill = self._settings(campaign).skill
        if skill is not None:
            working = [a for a in working if skill in a.skills]
            if not working:
                return f"no agent logged in to this campaign has its skill {skill!r}"
        seated = [a for a in working if a.seat and desk.seat_up.get(a.seat, False)]
        if not seated:
            seats = ", ".join(sorted({a.seat or "none" for a in working}))
            return f"the seats of its agents are down ({seats})"
        lines = [s.line for s in self.pool.slots if s.up and s.serves(campaign.name)]
        if lines and not any(
            ln.can_reach(desk.seats[a.seat or ""]) for a in seated for ln in lines
        ):
            seats = ", ".join(sorted({a.seat or "" for a in seated}))
            return (
                f"no line this campaign may use can reach its agents' seats ({seats}): a line "
                "card's lines reach handsets on the same card, GSM lines phone seats by transfer"
            )
        return None

    def owner(self, campaign: CampaignRow, contact_id: int) -> tuple[bool, LiveAgent | None]:
        """Whether the contact may be dialed now, and the agent it is then reserved for: the
        owner of its callback (C10), or None when anyone may take it. (False, None): not now,
        its owner (or every member of its owning group) is not ready."""
        owner = owner_of(self.db, contact_id)
        if owner is None or self.desk is None:
            return True, None
        if owner.startswith("@"):
            group = owner[1:]
            members = [
                a for a in self.desk.agents.values()
                if a.group == group and a.state == "ready" and a.serves(campaign.name)
            ]  # fmt: skip
            if not members:
                return False, None
            owner = min(members, key=lambda a: a.idle_since).name
        agent = self.desk.agents.get(owner)
        if agent is None or agent.state != "ready":
            return False, None
        reserved = self.desk.reserve(owner)
        return reserved is not None, reserved

    def dial_for(self, agent: LiveAgent, campaign_name: str, contact_id: int) -> int:
        """Dial one contact for one agent now (preview accepted, timed preview, manual dial):
        the same law as the dial loop (DNC, hours, caps); the answered call goes to this agent."""
        campaign = self._running(campaign_name)
        if campaign is None:
            raise AgentConflict(f"campaign {campaign_name} is not running")
        if getattr(self.loop, "draining", False):  # #27
            raise AgentConflict(
                "this box is draining for maintenance: it dials nothing new until resumed"
                " (POST /boxes/{id}/resume)"
            )
        if any(c.lease.contact_id == contact_id for c in self.calls.values()):
            raise AgentConflict(f"contact {contact_id} is being dialed right now")
        now = self.clock.now()
        pick = self.planner.check(campaign, contact_id, now)
        if isinstance(pick, str):
            raise AgentConflict(pick)
        seat = self.desk.seats.get(agent.seat or "") if self.desk is not None else None
        slot = next(
            (
                s for s in self.pool.free()
                if s.serves(campaign.name) and seat is not None and s.line.can_reach(seat)
            ),
            None,
        )  # fmt: skip
        if slot is None:
            raise AgentConflict(f"no free line can reach seat {agent.seat} now; try again")
        if self.desk is not None and self.desk.reserve(agent.name) is None:
            raise AgentConflict(f"agent {agent.name} is {agent.state}")
        got = self.loop.start(pick, campaign, slot, now, agent)
        if got is None:
            raise AgentConflict(f"contact {contact_id} could not be leased; it changed meanwhile")
        return got.attempt_id

    def wrap_ended(self, campaign_name: str, seconds: float) -> None:
        """An agent's wrap-up after a call of the campaign ended (disposition or timeout): the
        campaign's pacer learns it (#19: configured wrap-ups are not what agents take)."""
        campaign = self._running(campaign_name)
        pacer = None if campaign is None else self.pacers.known(campaign.id)
        if pacer is not None:
            pacer.wrap_ended(seconds, self.clock.now())

    def _running(self, campaign_name: str) -> CampaignRow | None:
        return next((c for c in self.planner.running() if c.name == campaign_name), None)

    def offer_for(self, agent: LiveAgent) -> None:
        """A ready agent of a preview campaign is shown the next contact (A2)."""
        if self.desk is None:
            return
        now = self.clock.now()
        for campaign in self.planner.running():
            if campaign.type is not CampaignType.AGENT or not agent.serves(campaign.name):
                continue
            if self._settings(campaign).pacing not in ("preview", "timed_preview"):
                continue
            present = [agent.name] + ([f"@{agent.group}"] if agent.group else [])
            held = self._held(self.desk, campaign, present)
            held |= {c.lease.contact_id for c in self.calls.values()}
            held |= {c for c, until in agent.skipped.items() if until > now}
            picks = self.planner.pick(campaign, now, 1, held)
            if picks:
                doc = contact_document(self.db, picks[0].contact_id) or {}
                self.desk.offer(agent, Offer(campaign.name, picks[0].contact_id, now, doc))
                return

    def offer_seconds(self, campaign_name: str) -> float | None:
        campaign = self._running(campaign_name)
        if campaign is None:
            return None
        settings = self._settings(campaign)
        return float(settings.preview_seconds) if settings.pacing == "timed_preview" else None

    async def to_agent(
        self, attempt: Attempt, evidence: list[str], spent: float = 0.0
    ) -> tuple[CallResult | None, str | None, Outcome]:
        """An answered call of an agent campaign: to an agent within the connect timeout, or the
        information message and an abandon in the ledger (A4). Then the talk, to its end.
        `spent`: seconds of the connect timeout the answering-machine detection already took
        (the 2-second rule counts from the answer, docs/audio.md)."""
        got, campaign, slot = attempt.lease, attempt.campaign, attempt.slot
        now = self.clock.now()
        call = self.loop.calls[got.attempt_id]
        call.stage = "waiting"
        pacer = self.pacers.known(campaign.id)
        if pacer is not None:
            pacer.answered(now, now - attempt.dialed_at)
        hang = asyncio.Event()
        live = LiveCall(got.attempt_id, got.contact_id, campaign.name, got.number, slot.name, now,
                        contact_document(self.db, got.contact_id) or {}, hang_up=hang.set)  # fmt: skip
        # Waited for from before the hand-over: a transfer out of the box (GSM ECT) ends the
        # line's call inside `connect`, and only a wait begun before it hears that end.
        ended_task = asyncio.create_task(slot.line.wait_call_end())
        agent = None
        try:
            if self.desk is not None:
                timeout = self.loop.config.agents.connect_timeout
                agent = await self.desk.hand_over(
                    campaign.name, attempt.settings.skill, slot.line, live, call.agent, evidence,
                    within=timeout - spent if spent > 0 else None,
                )  # fmt: skip
        finally:
            if agent is None:
                ended_task.cancel()
        if agent is None:
            if pacer is not None:
                pacer.abandoned(self.clock.now())
            message = self.loop.config.agents.info_message
            if slot.line.capabilities.playback or slot.line.audio is not None:
                try:
                    how = await play_prompt(slot.line, self.loop.audio.prompts, message, evidence)
                    evidence.append(f"no agent within {self.loop.config.agents.connect_timeout:g} s: "
                                    f"{how} {message}")  # fmt: skip
                except LineError as exc:
                    evidence.append(f"no agent; information message failed: {exc}")
            else:
                evidence.append("no agent; this line cannot play the information message")
            return await slot.line.hang_up(), None, Outcome.ABANDONED
        call.stage = "up"
        assert self.desk is not None
        hang_task = asyncio.create_task(hang.wait())
        done, _ = await asyncio.wait({ended_task, hang_task}, return_when=asyncio.FIRST_COMPLETED)
        outcome = Outcome.CONNECTED
        if ended_task in done:
            hang_task.cancel()
            ended = ended_task.result()
        else:
            ended_task.cancel()
            ended = await slot.line.hang_up()
            outcome = Outcome.AGENT_HANG_UP
            evidence.append(f"agent {agent.name} hung up")
        transferred = ended is not None and ended.outcome is Outcome.AGENT_TRANSFER
        if ended is not None and ended.outcome is Outcome.ERROR_OCCURRED:
            # the line went down under the call (unplugged, silent, card pulled): an error the
            # strategy requeues, not a talk that ended well
            outcome = Outcome.ERROR_OCCURRED
            evidence.extend(e for e in ended.evidence if e not in evidence)
        if transferred:
            outcome = Outcome.AGENT_TRANSFER
            live.hang_up = None
        elif pacer is not None and live.connected_at is not None:
            pacer.talk_ended(self.clock.now() - live.connected_at, self.clock.now())
        self.desk.call_ended(agent, transferred=transferred)
        return ended, agent.name, outcome
