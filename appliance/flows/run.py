"""Running a call flow on a call: the interpreter, and what it asks of the call (FlowCall) and of
the box (FlowActions). It never sleeps and reads the time only from `now`; every wait is the
call's `digit(timeout)`, so a test drives it with a script and a manual clock."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Protocol, TypeVar

from appliance.flows import model as m

# Steps one call may record. A validated flow cannot go round without a key (check.py), but a
# caller may press keys for ever around a menu: past this the flow ends the call.
MAX_STEPS = 500
END_HUNG_UP = "hung_up"  # the flow ended the call (hang_up, goodbye, no next, the step bound)
END_CALLER_GONE = "caller_gone"
END_BRIDGED = "bridged"  # an agent took the call: the call goes on, the flow is over
END_OVERFLOW = "overflow"  # no agent in time and no overflow: node; the flow hung up
ENDS = (END_HUNG_UP, END_CALLER_GONE, END_BRIDGED, END_OVERFLOW)
_DETAIL = 200  # characters of a step's detail
_T = TypeVar("_T")


class CallerGone(Exception):
    """Raised by FlowCall methods when the caller hung up."""


class FlowCall(Protocol):
    caller: str  # the caller's / callee's number, E.164 or ""

    async def play(self, prompt: str) -> bool:
        """Play a stored message to the end; False when it could not be played."""
        ...

    async def digit(self, timeout: float) -> str | None:
        """The caller's next key (one of 0-9 * #), None after `timeout` seconds without one."""
        ...

    async def hang_up(self) -> None: ...


class FlowActions(Protocol):
    """What a flow asks of the box (the engine implements it)."""

    async def queue(self, skill: str | None) -> str:
        """Queue the caller to agents (with `skill`, or any): "bridged" | "overflow" | "gone"."""
        ...

    async def opt_out(self) -> None:
        """The caller's number on the global DNC list now."""
        ...

    async def callback(self, campaign: str, owner: str | None) -> str:
        """A callback contact in `campaign`; returns the detail for the step."""
        ...

    async def set_field(self, name: str, value: str) -> None: ...


@dataclass(frozen=True)
class Step:
    at: float
    node: str
    kind: str
    detail: str


@dataclass(frozen=True)
class FlowResult:
    steps: tuple[Step, ...]
    answers: Mapping[str, str]  # question id -> answer
    disposition: str | None
    fields: Mapping[str, str]
    end: str  # one of ENDS


async def run_flow(
    flow: m.Flow, call: FlowCall, actions: FlowActions, now: Callable[[], float]
) -> FlowResult:
    """Run `flow` on `call` until it ends; whatever happens, the result keeps every step and
    answer so far. Only asyncio's cancellation goes through (the box is stopping)."""
    run = _Run(flow, call, actions, now)
    end = await run.go()
    return FlowResult(tuple(run.steps), dict(run.answers), run.disposition, dict(run.fields), end)


class _StepBound(Exception):
    pass


class _End(Exception):
    def __init__(self, end: str) -> None:
        self.end = end


def _shown(text: str) -> str:
    """A caller's keys or a box's detail, safe in a record: printable and bounded."""
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text if len(text) <= _DETAIL else text[: _DETAIL - 1] + "…"


class _Run:
    def __init__(
        self, flow: m.Flow, call: FlowCall, actions: FlowActions, now: Callable[[], float]
    ) -> None:
        self.flow, self.call, self.actions, self.now = flow, call, actions, now
        self.steps: list[Step] = []
        self.answers: dict[str, str] = {}
        self.fields: dict[str, str] = {}
        self.disposition: str | None = None
        self.input: str | None = None  # the last accepted input ($input)
        self.node = flow.start

    def step(self, kind: str, detail: str = "") -> None:
        self.steps.append(Step(self.now(), self.node, kind, _shown(detail)))
        if len(self.steps) >= MAX_STEPS:
            raise _StepBound

    async def go(self) -> str:
        try:
            try:
                while True:
                    target = await self.do(self.flow.nodes[self.node].action)
                    if target is None:
                        await self.hang_up("end of flow")
                        return END_HUNG_UP
                    self.node = target
            except _StepBound:
                self.step_unbounded("limit", f"{MAX_STEPS} steps: the flow ends the call")
                await self.hang_up("")
                return END_HUNG_UP
            except _End as end:
                return end.end
        except CallerGone:
            self.step_unbounded(END_CALLER_GONE, "the caller hung up")
            return END_CALLER_GONE
        except Exception as exc:  # the call's own trouble (a line lost): keep what was collected
            self.step_unbounded("error", f"{type(exc).__name__}: {exc}")
            with contextlib.suppress(Exception):  # the call is already gone: nothing to do
                await self.call.hang_up()
            return END_HUNG_UP

    def step_unbounded(self, kind: str, detail: str) -> None:
        self.steps.append(Step(self.now(), self.node, kind, _shown(detail)))

    async def hang_up(self, detail: str) -> None:
        await self.call.hang_up()
        self.step_unbounded("hang_up", detail)

    async def play(self, prompt: str) -> None:
        played = await self.call.play(prompt)
        self.step("play", prompt if played else f"{prompt} (could not play)")

    async def act(self, kind: str, work: Callable[[], Awaitable[_T]]) -> _T | None:
        """An action of the box; its failure is a step, and the flow goes on."""
        try:
            return await work()
        except CallerGone:
            raise
        except Exception as exc:
            self.step("error", f"{kind} failed: {type(exc).__name__}: {exc}")
            return None

    async def do(self, action: m.Action) -> str | None:
        """Do one node; the next node's name, or None at the end of the flow."""
        if isinstance(action, m.Play):
            await self.play(action.prompt)
            return action.next
        if isinstance(action, m.Ask):
            return await self.ask(action)
        if isinstance(action, m.SetFields):
            for name, written in action.values:
                value = self.value(written)
                await self.act("set", partial(self.actions.set_field, name, value))
                self.fields[name] = value
                self.step("set", f"{name}={value}")
            return action.next
        if isinstance(action, m.Answer):
            for question, value in action.values:
                self.answers[question] = self.value(value)
                self.step("answer", f"{question}={self.answers[question]}")
            return action.next
        if isinstance(action, m.Disposition):
            self.disposition = action.text
            self.step("disposition", action.text)
            return action.next
        if isinstance(action, m.Goto):
            self.step("goto", action.target)
            return action.target
        if isinstance(action, m.Queue):
            return await self.queue(action)
        if isinstance(action, m.OptOut):
            return await self.opt_out(action)
        if isinstance(action, m.Callback):
            detail = await self.act(
                "callback", lambda: self.actions.callback(action.campaign, action.owner)
            )
            if detail is not None:
                self.step("callback", str(detail) or action.campaign)
            return action.next
        if isinstance(action, m.Goodbye):
            await self.play(action.prompt)
        await self.hang_up("")  # goodbye, hang_up
        raise _End(END_HUNG_UP)

    def value(self, value: str) -> str:
        return (self.input or "") if value == m.INPUT else value

    async def keys(self, ask: m.Ask) -> str | None:
        """The caller's input: up to `digits` keys, ended early by the end key or a pause of
        `timeout`; None when no key came. Anything that is not a key reads as '?'."""
        keys = ""
        while len(keys) < ask.digits:
            key = await self.call.digit(ask.timeout)
            if key is None:
                break
            key = key if isinstance(key, str) and len(key) == 1 and key in m.KEYS else "?"
            if key == ask.end_key:
                return keys
            keys += key
        return keys or None

    async def ask(self, ask: m.Ask) -> str | None:
        for _ in range(ask.retries + 1):
            await self.play(ask.prompt)
            keys = await self.keys(ask)
            if keys is None:
                self.step("no_input", f"nothing within {ask.timeout:g} s")
                if ask.no_input:
                    await self.play(ask.no_input)
                continue
            valid = keys and all(k in m.KEYS for k in keys)  # the end key alone is no input
            target = ask.branch(keys) if valid else None
            if target is None:
                self.step("invalid", keys or ask.end_key or "")
                if ask.invalid:
                    await self.play(ask.invalid)
                continue
            self.input = keys
            self.step("input", keys)
            if ask.question:
                self.answers[ask.question] = keys
                self.step("answer", f"{ask.question}={keys}")
            return target
        self.step("give_up", f"{ask.retries + 1} tries")
        return ask.give_up

    async def queue(self, queue: m.Queue) -> str | None:
        result = await self.act("queue", lambda: self.actions.queue(queue.skill))
        self.step("queue", f"{queue.skill or 'any agent'}: {result}")
        if result == "bridged":
            raise _End(END_BRIDGED)
        if result == "gone":
            raise CallerGone
        # "overflow", or an answer the box should never give: no agent took the call
        if queue.overflow is not None:
            return queue.overflow
        await self.hang_up("no agent")
        raise _End(END_OVERFLOW)

    async def opt_out(self, opt: m.OptOut) -> str | None:
        if opt.confirm:
            await self.play(opt.prompt or "")
            key = await self.call.digit(opt.timeout)
            if key != opt.key:
                self.step("opt_out", "not confirmed" if key is None else f"not confirmed ({key})")
                return opt.cancel
        done = await self.act("opt_out", self._opt_out)
        if done:
            self.step("opt_out", f"{self.call.caller or 'the number'} on the DNC list")
        return opt.next

    async def _opt_out(self) -> bool:
        await self.actions.opt_out()
        return True
