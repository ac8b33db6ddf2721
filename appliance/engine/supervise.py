"""A supervisor listens in on an agent's call (SPEC A6): listen, whisper, barge-in.

The supervisor names the agent and their own seat (a handset configured under `seats:` where no
agent is logged in); the agent's live call names the line that carries it, and that line is asked
to join the seat to the call (`Line.monitor`): on a line card a 3-party bridge on the card
(docs/line-card-protocol.md §4.5). What the hardware cannot do is said, not tried: a GSM call
handed to the agent by transfer is no longer on the box, a seat on another card cannot be mixed
in. The desk keeps no state of its own for this: the line knows who is in its call, and the
conference ends with the call, when the supervisor hangs up or on `unmonitor`.

Errors are the desk's kinds (engine/errors.py), so the API words them as it does the desk's:
unknown agent or seat 404, no call or not now 409, cannot 422.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from appliance.drivers.line import (
    CONFERENCE_MODES,
    CannotConference,
    ConferenceConflict,
    Line,
    LineError,
    Seat,
)
from appliance.engine.agents import AgentDesk
from appliance.engine.agentstate import LiveAgent
from appliance.engine.errors import AgentConflict, AgentError
from appliance.errors import NotFound

LIFT_WITHIN = 15.0  # seconds the supervisor's handset has to be lifted when it is rung

LineFinder = Callable[[str], Line | None]  # a line by name (the engine's pool)


class UnknownSeat(AgentError, NotFound):
    """No seat of that name is configured."""


class NotOnCall(AgentConflict):
    """The agent has no call the box carries now (or nobody listens in on it)."""


class MonitorBusy(AgentConflict):
    """Not now: another supervisor is on the call, the handset is busy or was not lifted."""


class CannotMonitor(AgentError):
    """The line or the seat cannot do it (the message says why); trying again will not help."""


@dataclass(frozen=True, slots=True)
class Monitoring:
    agent: str
    seat: str
    mode: str
    line: str

    def to_dict(self) -> dict[str, str]:
        return {"agent": self.agent, "seat": self.seat, "mode": self.mode, "line": self.line}


def _on_call(desk: AgentDesk, lines: LineFinder, name: str) -> tuple[LiveAgent, Line]:
    """The agent (UnknownAgent) and the line carrying their call (NotOnCall, CannotMonitor)."""
    agent = desk.get(name)
    call = agent.call
    if agent.state != "talking" or call is None or call.ended_at is not None:
        raise NotOnCall(f"agent {name} has no call now ({agent.state})")
    if call.hang_up is None:
        raise CannotMonitor(
            f"agent {name}'s call on line {call.line} was transferred to their phone; the box "
            "no longer carries it, so no third party can join it"
        )
    line = lines(call.line)
    if line is None:
        raise CannotMonitor(f"line {call.line} of agent {name}'s call is no longer configured")
    return agent, line


def _seat(desk: AgentDesk, seat: str, agent: LiveAgent) -> Seat:
    found = desk.seats.get(seat)
    if found is None:
        names = ", ".join(sorted(desk.seats)) or "none configured"
        raise UnknownSeat(f"no seat named {seat!r}; seats: {names}")
    if agent.seat == seat:
        raise CannotMonitor(f"seat {seat} is agent {agent.name}'s own seat")
    taken = next(
        (a for a in desk.agents.values() if a.seat == seat and a.state != "logged_out"), None
    )
    if taken is not None:
        raise CannotMonitor(f"seat {seat} is where agent {taken.name} is logged in; a supervisor "
                            "listens from a seat no agent is logged in at")  # fmt: skip
    return found


async def monitor(
    desk: AgentDesk,
    lines: LineFinder,
    name: str,
    seat: str,
    mode: str,
    lift_within: float = LIFT_WITHIN,
) -> Monitoring:
    """Join the supervisor's `seat` to agent `name`'s call in `mode`; again with the same seat
    changes the mode. The seat is rung when its handset is down."""
    if mode not in CONFERENCE_MODES:
        raise CannotMonitor(f"{mode!r} is not a mode: one of {', '.join(CONFERENCE_MODES)}")
    agent, line = _on_call(desk, lines, name)
    supervisor = _seat(desk, seat, agent)
    try:
        await line.monitor(supervisor, mode, lift_within)
    except CannotConference as exc:
        raise CannotMonitor(str(exc)) from exc
    except ConferenceConflict as exc:
        if agent.state != "talking" or agent.call is None or agent.call.ended_at is not None:
            raise NotOnCall(f"agent {name}'s call ended: {exc}") from exc
        raise MonitorBusy(str(exc)) from exc
    except LineError as exc:
        raise MonitorBusy(f"line {line.name}: {exc}") from exc
    return Monitoring(name, seat, mode, line.name)


async def unmonitor(desk: AgentDesk, lines: LineFinder, name: str) -> Monitoring:
    """End the conference on agent `name`'s call; what it was."""
    _, line = _on_call(desk, lines, name)
    current = line.monitoring
    if current is None:
        raise NotOnCall(f"nobody listens in on agent {name}'s call")
    try:
        await line.unmonitor()
    except LineError as exc:
        raise MonitorBusy(str(exc)) from exc
    return Monitoring(name, current[0], current[1], line.name)


def current(desk: AgentDesk, lines: LineFinder, name: str) -> Monitoring | None:
    """Who listens in on agent `name`'s call now, if anyone."""
    try:
        _, line = _on_call(desk, lines, name)
    except (NotOnCall, CannotMonitor):
        return None
    now = line.monitoring
    return None if now is None else Monitoring(name, now[0], now[1], line.name)
