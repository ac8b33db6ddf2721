"""How the desk's agents are shown: the agent desktop's JSON document (the screen pop, the
preview) and the counts by state that `/metrics` exports."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from appliance.engine.agentstate import LiveAgent
from appliance.metrics import AgentSample
from appliance.store.agents import STATES


def state_counts(agents: Iterable[LiveAgent]) -> list[AgentSample]:
    """Agents by state, every state present (zero included), for `dialbox_agents`."""
    counts = dict.fromkeys(STATES, 0)
    for agent in agents:
        counts[agent.state] = counts.get(agent.state, 0) + 1
    return [AgentSample(state, n) for state, n in counts.items()]


def agent_document(
    agent: LiveAgent, seat_up: bool | None, preview_seconds: float | None
) -> dict[str, Any]:
    """The agent as the desktop sees it: state, seat and the screen pop. `seat_up`: None when
    logged out; `preview_seconds`: the timed preview's delay (None: the agent dials)."""
    call = agent.call
    offer = agent.offer
    return {
        "name": agent.name,
        "group": agent.group,
        "skills": list(agent.skills),
        "state": agent.state,
        "reason": agent.reason,
        "seat": agent.seat,
        "seat_up": seat_up,
        "campaigns": list(agent.campaigns),
        "since": agent.since,
        "wrap_until": agent.wrap_until,
        "call": None if call is None else {
            "attempt_id": call.attempt_id, "contact_id": call.contact_id,
            "campaign": call.campaign, "number": call.number, "line": call.line,
            "started_at": call.started_at, "connected_at": call.connected_at,
            "ended_at": call.ended_at, "contact": call.contact,
        },
        "preview": None if offer is None else {
            "campaign": offer.campaign, "contact_id": offer.contact_id,
            "offered_at": offer.offered_at, "contact": offer.contact,
            "dials_at": None if preview_seconds is None else offer.offered_at + preview_seconds,
        },
    }  # fmt: skip
