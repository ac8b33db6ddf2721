"""A call a flow put through to an agent (its queue node, `CallActions.queue`), from the bridge to
its end: the caller or the line ends it, the agent hangs up (desktop or handset), the box hangs
up after `limit`, or a GSM line hands it out of the box (explicit call transfer). The agent then
goes to wrap-up (`AgentDesk.call_ended`)."""

from __future__ import annotations

import asyncio
from typing import Any

from appliance.domain import Outcome
from appliance.drivers.line import CallResult, Line
from appliance.engine.agents import AgentDesk
from appliance.engine.agentstate import LiveAgent, LiveCall

TALK_LIMIT = 4 * 3600.0  # an agent's call is hung up after this long at most


async def talk(
    desk: AgentDesk,
    line: Line,
    agent: LiveAgent,
    live: LiveCall,
    ended: asyncio.Future[CallResult | None],
    hang: asyncio.Event,
    evidence: list[str],
    limit: float = TALK_LIMIT,
) -> tuple[CallResult | None, Outcome]:
    """Wait for the end of the talk; its final result and the outcome it gives the attempt:
    Connected, AgentHangUp, AgentTransfer, or ErrorOccurred (the line lost under it)."""
    hung: asyncio.Future[Any] = asyncio.ensure_future(hang.wait())
    waited: list[asyncio.Future[Any]] = [ended, hung]
    try:
        done, _ = await asyncio.wait(waited, timeout=limit, return_when=asyncio.FIRST_COMPLETED)
    finally:
        hung.cancel()
    outcome = Outcome.CONNECTED
    if ended in done:
        final = ended.result()
    else:
        final = await line.hang_up()
        if hang.is_set():
            outcome = Outcome.AGENT_HANG_UP
            evidence.append(f"agent {agent.name} hung up")
        else:
            evidence.append(f"hung up after {limit:.0f} s with agent {agent.name}")
    transferred = final is not None and final.outcome is Outcome.AGENT_TRANSFER
    if final is not None and final.outcome is Outcome.ERROR_OCCURRED:
        outcome = Outcome.ERROR_OCCURRED  # the line went down under the call
        evidence.extend(e for e in final.evidence if e not in evidence)
    if transferred:
        outcome = Outcome.AGENT_TRANSFER
        live.hang_up = None
    desk.call_ended(agent, transferred=transferred)
    return final, outcome
