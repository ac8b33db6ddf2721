"""An automated campaign's answered call running its call flow (SPEC C1, issue #23): a survey,
"press 1 to talk to an agent", an opt-out — the same flows and actions as an inbound call
(`CallActions`; its queue waits for the campaign's agents), the callee's keys from before the
dial. What the flow gave goes back to the dial loop in the attempt's report, which keeps it with
the outcome in one transaction; the call shows in `Engine.inbound.snapshot()` meanwhile
(direction "out")."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Protocol

from appliance.clock import Clock
from appliance.domain import Outcome
from appliance.drivers.line import CallResult, LineError
from appliance.engine.agentstate import LiveCall
from appliance.engine.callaudio import CallAudio
from appliance.engine.calls import Attempt
from appliance.engine.flowactions import ActionCall, CallActions, CallParts
from appliance.engine.flowcall import KeyBuffer, LineFlowCall
from appliance.engine.inbound import Inbound
from appliance.engine.inboundcall import TrackedCall
from appliance.engine.talk import talk
from appliance.flows import Flow, FlowResult, run_flow
from appliance.store.results import contact as contact_document


class SurveyHost(CallParts, Protocol):
    """What a flow on an outbound call needs of the engine."""

    @property
    def inbound(self) -> Inbound: ...

    @property
    def flows(self) -> Mapping[str, Flow]: ...

    @property
    def audio(self) -> CallAudio: ...


class _Waiting:
    """The queue as an outbound call sees it: only the snapshot's record of the wait."""

    def __init__(self, state: TrackedCall, clock: Clock) -> None:
        self.state, self.clock = state, clock

    def joined(self, skill: str | None) -> None:
        self.state.queued_since, self.state.skill = self.clock.now(), skill

    def left(self, result: str, waited: float) -> None:
        self.state.queued_since = None

    async def overflow(self) -> None:
        return None


class Survey:
    def __init__(self, host: SurveyHost) -> None:
        self.host = host

    async def run(
        self, attempt: Attempt, flow: Flow, keys: KeyBuffer, evidence: list[str]
    ) -> tuple[CallResult | None, str | None, Outcome | None, FlowResult]:
        """Run the flow on the answered call to its end: (its final result, the agent who took
        it, the outcome an agent's talk gave — None: the call's own —, the flow's result)."""
        host = self.host
        got, campaign, slot = attempt.lease, attempt.campaign, attempt.slot
        line, now = slot.line, host.clock.now()
        ended = asyncio.ensure_future(line.wait_call_end())
        gone, hang = asyncio.Event(), asyncio.Event()
        ended.add_done_callback(lambda _: gone.set())
        live = LiveCall(got.attempt_id, got.contact_id, campaign.name, got.number, slot.name, now,
                        contact_document(host.db, got.contact_id) or {}, hang_up=hang.set)  # fmt: skip
        prompts = host.audio.prompts
        call = ActionCall(campaign, attempt.settings, line, got.number, got.contact_id, live, gone,
                          evidence, inbound=False, prompts=prompts)  # fmt: skip
        state = TrackedCall(campaign.name, slot.name, got.number, now, got.attempt_id, "out")
        actions = CallActions(host.db, host.clock, host.planner, host.desk, call,
                              _Waiting(state, host.clock))  # fmt: skip
        evidence.append(f"flow {flow.name}")
        host.inbound.track(state)
        outcome: Outcome | None = None
        agent: str | None = None
        try:
            result = await run_flow(flow, LineFlowCall(line, got.number, keys, ended, prompts),
                                    actions, host.clock.now)  # fmt: skip
            if result.end == "bridged" and actions.agent is not None and host.desk is not None:
                agent = state.agent = actions.agent.name
                final, outcome = await talk(host.desk, line, actions.agent, live, ended, hang,
                                            evidence)  # fmt: skip
            elif ended.done():
                final = ended.result()
            else:
                try:
                    final = await line.hang_up()
                except LineError:
                    final = None
        finally:
            host.inbound.untrack(got.attempt_id)
            if not ended.done():
                ended.cancel()
        return final, agent, outcome, result
