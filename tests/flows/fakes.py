"""A scripted caller and a recording box for running flows without a line: the caller's keys,
pauses and hang-up come from a script; time is a ManualClock that only the call moves."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field

from appliance.clock import ManualClock
from appliance.flows import CallerGone, Flow, FlowResult, load_flows, run_flow

GONE = "GONE"  # in a script: the caller hangs up while the box waits for a key
PLAY_SECONDS = 2.0
KEY_SECONDS = 0.5


@dataclass
class ScriptedCall:
    """`keys`: what each `digit()` gets in turn — a key (or anything a line might send), None for
    a pause past the timeout, GONE for a hang-up. After the script: silence, or a hang-up."""

    keys: Iterable[str | None]
    clock: ManualClock = field(default_factory=ManualClock)
    caller: str = "+48601234567"
    gone_at_prompt: str | None = None  # the caller hangs up while this prompt plays
    unplayable: frozenset[str] = frozenset()
    then_gone: bool = False
    played: list[str] = field(default_factory=list)
    waits: list[float] = field(default_factory=list)
    hung_up: int = 0

    def __post_init__(self) -> None:
        self._keys = iter(self.keys)

    async def play(self, prompt: str) -> bool:
        if prompt == self.gone_at_prompt:
            self.clock.advance(PLAY_SECONDS / 2)
            raise CallerGone
        if prompt in self.unplayable:
            return False
        self.played.append(prompt)
        self.clock.advance(PLAY_SECONDS)
        return True

    async def digit(self, timeout: float) -> str | None:
        self.waits.append(timeout)
        key = next(self._keys, GONE if self.then_gone else None)
        if key == GONE:
            raise CallerGone
        self.clock.advance(timeout if key is None else KEY_SECONDS)
        return key

    async def hang_up(self) -> None:
        self.hung_up += 1


@dataclass
class RecordingActions:
    queue_result: str = "bridged"
    fail: frozenset[str] = frozenset()  # actions that raise
    done: list[tuple[str, ...]] = field(default_factory=list)

    def _maybe_fail(self, name: str) -> None:
        if name in self.fail:
            raise RuntimeError(f"{name} is broken")

    async def queue(self, skill: str | None) -> str:
        self.done.append(("queue", skill or ""))
        self._maybe_fail("queue")
        return self.queue_result

    async def opt_out(self) -> None:
        self._maybe_fail("opt_out")
        self.done.append(("opt_out",))

    async def callback(self, campaign: str, owner: str | None) -> str:
        self._maybe_fail("callback")
        self.done.append(("callback", campaign, owner or ""))
        return f"contact 7 in {campaign}"

    async def set_field(self, name: str, value: str) -> None:
        self._maybe_fail("set_field")
        self.done.append(("set_field", name, value))


def flow_from(text: str, tmp_path: object, name: str) -> Flow:
    from pathlib import Path

    path = Path(str(tmp_path)) / "flows.yaml"
    path.write_text(text)
    return load_flows([path])[name]


def run(flow: Flow, call: ScriptedCall, actions: RecordingActions) -> FlowResult:
    return asyncio.run(run_flow(flow, call, actions, call.clock.now))
