"""Agents at work (SPEC A1, A2, A5, C10): login at a seat, ready/paused, calls handed to them,
wrap-up, dispositions with callbacks, previews.

The desk keeps each logged-in agent's live state in memory (`agentstate.py`; every change is
written to the store) and the seats they sit at (`seats.py`); what the desktop and `/metrics`
show of them is in `agentviews.py`. The engine asks it for the agents a campaign's pacing counts (`view`), hands it each
answered call (`hand_over`: the longest-idle ready agent with the skill, whose seat the line can
reach, joined within `agents.connect_timeout`), and reports the call's end. A caller who waits in
a queue (an inbound campaign's, SPEC C14) is handed over the same way with a wait: the desk keeps
the waiting callers (`waiting`) and gives the longest waiter the longest-idle agent it can take;
with inbound first, those agents are *owed* to the callers: no outbound hand-over, preview,
reserved callback or pacer (`view`) counts them. Agent desktops
drive it through the API: every method a person calls raises an `AgentError` (engine/errors.py)
with words they can act on; the API gives each kind its HTTP status.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from appliance.clock import Clock
from appliance.config import DialboxConfig
from appliance.drivers.line import Line, LineError, LineEvent, LineUp, Seat, SeatHook
from appliance.engine.agentstate import LiveAgent, LiveCall, Offer, Waiter
from appliance.engine.agentviews import agent_document, state_counts
from appliance.engine.errors import (
    AgentConflict,
    AgentError,
    AgentRequestInvalid,
    DialerNotRunning,
    UnknownAgent,
)
from appliance.engine.notices import Notices
from appliance.engine.seats import SeatBank
from appliance.metrics import AgentSample
from appliance.scheduler.pacing import AgentView
from appliance.store import Database
from appliance.store.agents import get_agent, list_agents, save_state

log = logging.getLogger(__name__)

TICK = 0.25  # seconds between checks of wrap-up ends and timed previews


class DeskDialer(Protocol):
    """What the desk needs of the engine to dial for agents (the engine's `AgentCalls`)."""

    def dial_for(self, agent: LiveAgent, campaign_name: str, contact_id: int) -> int:
        """Dial one contact now for the agent (preview accepted, timed preview due, manual
        dial); the attempt id, or an `AgentError` saying why not."""
        ...

    def offer_for(self, agent: LiveAgent) -> None:
        """Show a ready agent of a preview campaign its next contact, if there is one."""
        ...

    def offer_seconds(self, campaign_name: str) -> float | None:
        """The campaign's timed-preview seconds (None: not timed)."""
        ...

    def wrap_ended(self, campaign_name: str, seconds: float) -> None:
        """An agent's wrap-up after a call of the campaign is over after `seconds` (its pacer
        learns wrap-ups as agents really take them, not as configured)."""
        ...


class AgentDesk:
    name = "agents"

    def __init__(
        self, config: DialboxConfig, db: Database, clock: Clock, seats: Mapping[str, Seat]
    ) -> None:
        self.config = config
        self.db = db
        self.clock = clock
        self._seats = SeatBank(seats, self._seat_event)
        self.ready = asyncio.Event()
        self.agents: dict[str, LiveAgent] = {}
        self._waiters: list[asyncio.Future[None]] = []
        self._dialer: DeskDialer | None = None  # the engine's, once it is attached
        self.waiting: list[Waiter] = []  # callers waiting for an agent, in the order they came
        self._seq = itertools.count(1)
        self._restore()

    @property
    def seats(self) -> Mapping[str, Seat]:
        """The configured seats by name."""
        return self._seats.seats

    @property
    def seat_up(self) -> Mapping[str, bool]:
        """Whether each seat is up (open and answering) now."""
        return self._seats.up

    def attach(self, dialer: DeskDialer) -> None:
        """The engine that dials for this desk's agents (until then: 503, no previews)."""
        self._dialer = dialer

    def _offer_seconds(self, campaign: str) -> float | None:
        return None if self._dialer is None else self._dialer.offer_seconds(campaign)

    # ------------------------------------------------------------------ lifecycle
    def _restore(self) -> None:
        """Agents logged in when the daemon stopped come back paused at their seat: a person
        confirms being there by going ready."""
        now = self.clock.now()
        for row in list_agents(self.db):
            agent = LiveAgent(row.name, row.group, row.skills, since=now, idle_since=now)
            if row.state != "logged_out" and row.seat in self.seats:
                agent.state, agent.seat, agent.campaigns = "paused", row.seat, row.campaigns
                agent.reason = "daemon restarted"
            self.agents[row.name] = agent
            if row.state != agent.state:
                self._save(agent)

    async def run(self, stopping: asyncio.Event) -> None:
        self._seats.start(stopping)
        self.ready.set()
        try:
            while not stopping.is_set():
                self._tick()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), timeout=TICK)
        finally:
            self.notices.close()  # open event streams end, so none holds the API's shutdown
            await self._seats.stop()

    def reload(self, config: DialboxConfig) -> None:
        self.config = config

    def _seat_event(self, name: str, event: LineEvent) -> None:
        """A seat came up or its handset moved (the bank has noted up and down)."""
        if isinstance(event, SeatHook):
            agent = self._at_seat(name)
            if agent is not None and not event.off_hook and agent.state == "talking":
                call = agent.call
                if call is not None and call.hang_up is not None:
                    call.hang_up()  # the agent put the handset down: end the customer's call
        if isinstance(event, LineUp | SeatHook):
            self._notify()

    def _at_seat(self, seat: str) -> LiveAgent | None:
        return next((a for a in self.agents.values() if a.seat == seat), None)

    @functools.cached_property
    def notices(self) -> Notices:
        """Who listens for changes: the API's event streams, pop-up messages, login codes
        (engine/notices.py)."""
        return Notices()

    def _notify(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()
        self.notices.changed()

    async def _changed(self, timeout: float, ended: asyncio.Event | None = None) -> None:
        """Until an agent or seat changes, `ended` is set, or `timeout` seconds."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        gone = asyncio.ensure_future(ended.wait()) if ended is not None else None
        try:
            await asyncio.wait([waiter] if gone is None else [waiter, gone],
                               timeout=max(0.0, timeout), return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
        finally:
            if gone is not None:
                gone.cancel()
            if not waiter.done():
                waiter.cancel()

    def _set(self, agent: LiveAgent, state: str, *, reason: str | None = None,
             actor: str | None = None) -> None:  # fmt: skip
        now = self.clock.now()
        if state == "ready" and agent.state != "ready":
            agent.idle_since = now
        agent.state, agent.reason, agent.since = state, reason, now
        agent.changes += 1
        if state != "wrap_up":
            agent.wrap_until = None
        self._save(agent, actor)
        self._notify()

    def _save(self, agent: LiveAgent, actor: str | None = None) -> None:
        save_state(self.db, agent.name, agent.state, self.clock.now(), seat=agent.seat,
                   campaigns=agent.campaigns, reason=agent.reason, actor=actor)  # fmt: skip

    def _tick(self) -> None:
        now = self.clock.now()
        owed = self.owed() if self.waiting else set()
        for agent in list(self.agents.values()):
            if (
                agent.state == "wrap_up"
                and agent.wrap_until is not None
                and now >= agent.wrap_until
            ):
                self._after_call(agent)
            elif (
                agent.state == "ready"
                and agent.offer is None
                and self._dialer is not None
                and agent.name not in owed  # a waiting caller takes this agent first
            ):
                self._dialer.offer_for(agent)
            offer = agent.offer
            if offer is not None and agent.state == "reserved":
                seconds = self._offer_seconds(offer.campaign)
                if seconds is not None and now >= offer.offered_at + seconds:
                    with contextlib.suppress(AgentError):
                        self.accept(agent.name, actor=None)

    # ------------------------------------------------------------------ the API side
    def get(self, name: str) -> LiveAgent:
        agent = self.agents.get(name)
        if agent is None:
            row = get_agent(self.db, name)
            if row is None:
                raise UnknownAgent(name)
            agent = self.agents[name] = LiveAgent(row.name, row.group, row.skills)
        return agent

    def refresh(self, name: str) -> None:
        """The agent's position (group, skills) was edited in the store."""
        row = get_agent(self.db, name)
        if row is None:
            agent = self.agents.get(name)
            if agent is not None and agent.state == "logged_out":
                del self.agents[name]
            return
        agent = self.get(name)
        agent.group, agent.skills = row.group, row.skills

    def login(self, name: str, seat: str | None, campaigns: Iterable[str], actor: str) -> LiveAgent:
        agent = self.get(name)
        row = get_agent(self.db, name)
        seat = seat or (row.extension if row else None)
        if seat is None:
            raise AgentRequestInvalid(
                f"agent {name} has no usual seat: say which seat to log in at"
            )
        if seat not in self.seats:
            known = ", ".join(sorted(self.seats)) or "none configured"
            raise AgentRequestInvalid(f"no seat named {seat!r} (seats: {known})")
        other = self._at_seat(seat)
        if other is not None and other is not agent:
            raise AgentConflict(f"seat {seat} is taken by agent {other.name}")
        if agent.state not in ("logged_out", "paused", "ready"):
            raise AgentConflict(f"agent {name} is {agent.state}; finish the call first")
        agent.seat, agent.campaigns = seat, tuple(dict.fromkeys(campaigns))
        self._set(agent, "paused", reason="logged in", actor=actor)
        return agent

    def logout(self, name: str, actor: str) -> LiveAgent:
        agent = self.get(name)
        if agent.busy:
            agent.pause_after = "logging out"
            raise AgentConflict(f"agent {name} is on a call; log out after it")
        self._drop_offer(agent)
        agent.seat, agent.campaigns, agent.call = None, (), None
        self._set(agent, "logged_out", actor=actor)
        return agent

    def set_ready(self, name: str, actor: str) -> LiveAgent:
        agent = self._logged_in(name)
        if agent.busy:
            agent.pause_after = None
            return agent
        if not self.seat_up.get(agent.seat or "", False):
            raise AgentConflict(f"seat {agent.seat} is down; agent {name} cannot take calls")
        if agent.state == "wrap_up":
            agent.call = None
        if agent.state != "ready":
            self._set(agent, "ready", actor=actor)
        return agent

    def pause(self, name: str, reason: str | None, actor: str) -> LiveAgent:
        agent = self._logged_in(name)
        if agent.busy:
            agent.pause_after = reason or "paused"
            return agent
        self._drop_offer(agent)
        self._set(agent, "paused", reason=reason or "paused", actor=actor)
        return agent

    def hang_up(self, name: str) -> LiveAgent:
        agent = self._logged_in(name)
        call = agent.call
        if agent.state != "talking" or call is None:
            raise AgentConflict(f"agent {name} is not on a call")
        if call.hang_up is not None:
            call.hang_up()
        else:  # transferred out of the box (ECT): the agent says the talk is over
            self.call_ended(agent)
        return agent

    def accept(self, name: str, actor: str | None) -> LiveAgent:
        agent = self._logged_in(name)
        offer = agent.offer
        if offer is None or agent.state != "reserved":
            raise AgentConflict(f"agent {name} has no preview to accept")
        if self._dialer is None:
            raise DialerNotRunning("the dialer is not running")
        try:
            self._dialer.dial_for(agent, offer.campaign, offer.contact_id)
        except AgentError:
            if agent.state == "reserved":
                agent.offer = offer  # still on screen: accept again or skip
            raise
        return agent

    def skip(self, name: str) -> LiveAgent:
        agent = self._logged_in(name)
        offer = agent.offer
        if offer is None or agent.state != "reserved":
            raise AgentConflict(f"agent {name} has no preview to skip")
        agent.skipped[offer.contact_id] = self.clock.now() + 3600.0
        self._drop_offer(agent)
        self._set(agent, "ready")
        return agent

    def manual_dial(self, name: str, campaign: str, contact_id: int) -> int:
        agent = self._logged_in(name)
        if agent.state not in ("ready", "paused", "reserved") or agent.busy:
            raise AgentConflict(f"agent {name} is {agent.state}; a manual dial needs a free agent")
        if not agent.serves(campaign):
            raise AgentConflict(f"agent {name} is not logged in to campaign {campaign}")
        if self._dialer is None:
            raise DialerNotRunning("the dialer is not running")
        self._drop_offer(agent)
        return self._dialer.dial_for(agent, campaign, contact_id)

    def _logged_in(self, name: str) -> LiveAgent:
        agent = self.get(name)
        if agent.state == "logged_out" or agent.seat is None:
            raise AgentConflict(f"agent {name} is logged out; log in at a seat first")
        return agent

    def _drop_offer(self, agent: LiveAgent) -> None:
        agent.offer = None

    def offer(self, agent: LiveAgent, offer: Offer) -> None:
        """Show the agent a contact (preview); the agent is reserved for it."""
        agent.offer = offer
        self._set(agent, "reserved", reason="preview")

    # ------------------------------------------------------------------ the engine side
    def view(
        self,
        campaign: str,
        skill: str | None = None,
        reachable: Callable[[Seat], bool] | None = None,
    ) -> AgentView:
        """The campaign's agents as its pacer counts them; an agent whose seat none of the
        campaign's lines can reach (a handset on another card) takes no call, so does not count.
        A ready agent owed to a waiting caller (inbound first) is not idle for it; an agent on
        any call, inbound ones included, is talking."""
        now = self.clock.now()
        owed = self.owed() if self.waiting else set()
        idle, talk, wrap, wrap_elapsed = 0, [], [], []
        for agent in self._serving(campaign, skill):
            if reachable is not None and not reachable(self.seats[agent.seat or ""]):
                continue
            if agent.state == "ready":
                idle += agent.name not in owed
            elif agent.state == "talking" and agent.call is not None:
                talk.append(now - (agent.call.connected_at or now))
            elif agent.state == "wrap_up" and agent.wrap_until is not None:
                wrap.append(max(0.0, agent.wrap_until - now))
                wrap_elapsed.append(max(0.0, now - agent.since))
        return AgentView(idle, tuple(talk), tuple(wrap), tuple(wrap_elapsed))

    def _serving(self, campaign: str, skill: str | None) -> Iterable[LiveAgent]:
        for agent in self.agents.values():
            skilled = skill is None or skill in agent.skills
            if agent.serves(campaign) and skilled and self.seat_up.get(agent.seat or "", False):
                yield agent

    def seats_for(self, campaign: str, skill: str | None = None) -> list[Seat]:
        """The seats (up) of the agents logged in to the campaign."""
        return [self.seats[a.seat] for a in self._serving(campaign, skill) if a.seat is not None]

    def present(self, campaign: str) -> list[str]:
        """Owners whose callbacks may be dialed now: ready agents and their groups (C10)."""
        names: list[str] = []
        for agent in self.agents.values():
            if agent.state == "ready" and agent.serves(campaign):
                names.append(agent.name)
                if agent.group:
                    names.append(f"@{agent.group}")
        return names

    def reserve(self, name: str) -> LiveAgent | None:
        """Hold a ready agent for a call dialed for them (their callback, preview or manual dial)."""
        agent = self.agents.get(name)
        if agent is None or agent.busy or agent.state not in ("ready", "reserved", "paused"):
            return None
        if agent.state == "ready" and self.waiting and name in self.owed():
            return None  # a waiting caller takes this agent first (inbound first)
        agent.offer = None  # a preview accepted becomes this call
        self._set(agent, "reserved", reason="call for this agent")
        return agent

    def release(self, agent: LiveAgent) -> None:
        """A call held for the agent did not come to them (not answered, line failed)."""
        agent.call = None
        agent.offer = None
        if agent.state == "reserved":
            self._after_call(agent)

    async def hand_over(
        self,
        campaign: str,
        skill: str | None,
        line: Line,
        call: LiveCall,
        designated: LiveAgent | None,
        evidence: list[str],
        *,
        wait: float | None = None,
        first: bool = False,
        ended: asyncio.Event | None = None,
        within: float | None = None,
    ) -> LiveAgent | None:
        """Join the answered call to an agent within the connect timeout, or None (abandoned).

        With `wait` (seconds), the caller waits in the queue (`waiting`) that long at most for
        an agent (the longest waiter takes the longest-idle agent), and each agent chosen has
        the whole connect timeout from that moment; `first`: the agents owed to this caller are
        kept from outbound calls. None also once `ended` is set (the caller hung up).
        `within`: seconds left of the connect timeout (the answer's screening took the rest,
        engine/callaudio.py); None: the whole timeout."""
        if wait is not None:
            return await self._queue(campaign, skill, line, call, evidence, wait, first, ended)
        loop = asyncio.get_running_loop()
        timeout = self.config.agents.connect_timeout
        deadline = loop.time() + (timeout if within is None else max(0.0, min(within, timeout)))
        tried: set[str] = set()
        while True:
            agent = (
                designated if designated is not None else self._choose(campaign, skill, line, tried)
            )
            if agent is not None and agent.name not in tried and agent.seat is not None:
                tried.add(agent.name)
                if await self._connect(agent, line, call, evidence, deadline - loop.time()):
                    return agent
            remaining = deadline - loop.time()
            if remaining <= 0 or designated is not None:
                return None
            await self._changed(remaining)

    def position(self, line: Line) -> int | None:
        """The place (1 = next) in its campaign's queue of the caller waiting on `line`; None
        when no caller waits there."""
        mine = next((w for w in self.waiting if w.line is line), None)
        if mine is None:
            return None
        return 1 + sum(1 for w in self.waiting if w.campaign == mine.campaign and w.seq < mine.seq)

    async def _queue(
        self,
        campaign: str,
        skill: str | None,
        line: Line,
        call: LiveCall,
        evidence: list[str],
        wait: float,
        first: bool,
        ended: asyncio.Event | None,
    ) -> LiveAgent | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        waiter = Waiter(next(self._seq), campaign, skill, line, self.clock.now(), first)
        self.waiting.append(waiter)
        self._notify()  # outbound hand-overs waiting for an agent see it is owed
        try:
            while ended is None or not ended.is_set():
                agent = self._assigned().get(waiter.seq)
                if agent is not None:
                    # the budget runs from the moment this agent is the caller's
                    if await self._connect(agent, line, call, evidence,
                                           self.config.agents.connect_timeout):  # fmt: skip
                        return agent
                    waiter.tried[agent.name] = agent.changes
                    continue
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return None
                await self._changed(remaining, ended)
            return None
        finally:
            self.waiting.remove(waiter)
            self._notify()

    async def _connect(
        self, agent: LiveAgent, line: Line, call: LiveCall, evidence: list[str], timeout: float
    ) -> bool:
        """Join the call to this agent's seat within `timeout`; the agent is talking after."""
        if agent.state != "reserved":
            self._set(agent, "reserved", reason="call coming")
        agent.call = call
        seat = self.seats[agent.seat or ""]
        try:
            await line.connect(seat, max(0.05, timeout))
        except LineError as exc:
            evidence.append(f"agent {agent.name} not reached: {exc}")
            agent.call = None
            if self.config.agents.unanswered_pause:
                self._set(agent, "paused", reason=f"did not take a call: {exc}")
            else:
                self._set(agent, "ready")
            return False
        except asyncio.CancelledError:  # the box is stopping: the agent is not left reserved
            agent.call = None
            self._set(agent, "ready")
            raise
        call.connected_at = self.clock.now()
        agent.offer = None
        evidence.append(f"agent {agent.name} at {agent.seat}")
        self._set(agent, "talking")
        return True

    def _best(
        self, campaign: str, skill: str | None, line: Line, skip: Callable[[LiveAgent], bool]
    ) -> LiveAgent | None:
        """The longest-idle ready agent with the skill whose seat the line can reach (A1)."""
        best: LiveAgent | None = None
        for agent in self._serving(campaign, skill):
            if agent.state != "ready" or agent.seat is None or skip(agent):
                continue
            if not line.can_reach(self.seats[agent.seat]):
                continue
            if best is None or agent.idle_since < best.idle_since:
                best = agent
        return best

    def _choose(
        self, campaign: str, skill: str | None, line: Line, tried: set[str]
    ) -> LiveAgent | None:
        """An outbound call's agent: the best one not tried and not owed to a waiting caller."""
        owed = self.owed() if self.waiting else set()
        return self._best(campaign, skill, line, lambda a: a.name in tried or a.name in owed)

    def _assigned(self) -> dict[int, LiveAgent]:
        """The agent each waiting caller takes now (by `Waiter.seq`): in the order they came,
        each the longest-idle ready agent it can take that no earlier caller took."""
        taken: set[str] = set()
        out: dict[int, LiveAgent] = {}
        for waiter in sorted(self.waiting, key=lambda w: (w.since, w.seq)):

            def skip(agent: LiveAgent, waiter: Waiter = waiter) -> bool:
                return agent.name in taken or waiter.tried.get(agent.name) == agent.changes

            agent = self._best(waiter.campaign, waiter.skill, waiter.line, skip)
            if agent is not None:
                taken.add(agent.name)
                out[waiter.seq] = agent
        return out

    def owed(self) -> set[str]:
        """Ready agents a waiting caller of a campaign with inbound first takes next: no
        outbound call, preview or pacer counts them meanwhile."""
        firsts = {w.seq for w in self.waiting if w.first}
        return {agent.name for seq, agent in self._assigned().items() if seq in firsts}

    def call_ended(self, agent: LiveAgent, *, transferred: bool = False) -> None:
        """The customer's call is over (or, after a transfer out of the box, the agent said so)."""
        if transferred:
            return  # the agent talks on a call the box no longer carries; `hang_up` ends it
        if agent.call is not None:
            agent.call.ended_at = self.clock.now()
            agent.call.hang_up = None
        wrap = self.config.agents.wrap_up
        agent.wrap_until = self.clock.now() + wrap
        self._set(agent, "wrap_up")
        if wrap <= 0:
            self._after_call(agent)

    def disposed(self, agent: LiveAgent) -> None:
        """The agent set the call's disposition: wrap-up is over (and the talk, on a call the box
        transferred out and no longer carries)."""
        call = agent.call
        if agent.state == "talking" and call is not None and call.hang_up is None:
            self.call_ended(agent)
        if agent.state == "wrap_up":
            self._after_call(agent)

    def _after_call(self, agent: LiveAgent) -> None:
        if agent.state == "wrap_up" and agent.call is not None and self._dialer is not None:
            self._dialer.wrap_ended(agent.call.campaign, self.clock.now() - agent.since)
        if agent.pause_after == "logging out":
            agent.pause_after = None
            agent.seat, agent.campaigns = None, ()
            self._set(agent, "logged_out")
        elif agent.pause_after is not None:
            reason, agent.pause_after = agent.pause_after, None
            self._set(agent, "paused", reason=reason)
        else:
            self._set(agent, "ready")

    # ------------------------------------------------------------------ reading
    def samples(self) -> list[AgentSample]:
        return state_counts(self.agents.values())

    def document(self, agent: LiveAgent) -> dict[str, Any]:
        """The agent as the desktop sees it: state, seat and the screen pop."""
        offer = agent.offer
        seconds = None if offer is None else self._offer_seconds(offer.campaign)
        seat_up = self.seat_up.get(agent.seat or "", False) if agent.seat else None
        return agent_document(agent, seat_up, seconds)
