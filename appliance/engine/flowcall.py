"""A call flow's call (appliance/flows `FlowCall`) over a line's answered call: prompts said from
the prompt library where the line carries the call's sound (#24, engine/callaudio.py), else played
with `Line.play`; the caller's keys from the line's `Dtmf` events, the call's end from
`Line.wait_call_end`.

The keys are collected by a `KeyBuffer` subscribed before the call is answered (or dialed), so a
key pressed at once is never lost; they are read in order. A caller who pressed keys and hung up
still has them read (a "9" then "1" to confirm an opt-out counts); once no key is left and the
call has ended, every method but `hang_up` raises `CallerGone`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

from appliance.drivers.line import CallResult, Dtmf, Line, LineError, LineEvent
from appliance.engine.callaudio import PromptSource, play_prompt
from appliance.flows import CallerGone

log = logging.getLogger(__name__)

MAX_KEYS = 1000  # keys kept unread at most: a line babbling DTMF must not fill the memory


class KeyBuffer:
    """The caller's keys on one line, from now until `close`, in the order pressed."""

    def __init__(self, line: Line) -> None:
        self.pending: deque[str] = deque(maxlen=MAX_KEYS)
        self.pressed: list[str] = []  # every key, for the attempt's evidence (bounded too)
        self._arrived = asyncio.Event()
        self._unsubscribe: Callable[[], None] | None = line.subscribe(self._on_event)

    def _on_event(self, event: LineEvent) -> None:
        if isinstance(event, Dtmf):
            self.pending.append(event.digit)
            if len(self.pressed) < MAX_KEYS:
                self.pressed.append(event.digit)
            self._arrived.set()

    def take(self) -> str | None:
        if not self.pending:
            self._arrived.clear()
            return None
        return self.pending.popleft()

    async def arrived(self) -> None:
        await self._arrived.wait()

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None


class LineFlowCall:
    """`FlowCall` over the line's current (answered) call. `ended` is a task waiting for the
    call's end (`line.wait_call_end()`), begun right after the answer."""

    def __init__(
        self,
        line: Line,
        caller: str,
        keys: KeyBuffer,
        ended: asyncio.Future[CallResult | None],
        prompts: PromptSource | None = None,
    ) -> None:
        self.line = line
        self.caller = caller
        self.keys = keys
        self.ended = ended
        self.prompts = prompts  # the prompt library (#24), said where the line has sound
        self.played: list[str] = []  # prompts played (evidence)

    async def _gone(self) -> None:
        """CallerGone when the call has ended and no key of the caller is left to read. The
        line's own word is asked too: it knows of the end a moment before `ended` is done."""
        if self.keys.pending:
            return
        if self.ended.done() or await self.line.wait_call_end(0) is not None:
            raise CallerGone

    async def play(self, prompt: str) -> bool:
        await self._gone()
        line = self.line
        if self.ended.done() or not (line.capabilities.playback or line.audio is not None):
            return False  # pressed ahead and gone: the keys are read, nothing is played
        try:
            await play_prompt(line, self.prompts, prompt)
        except LineError as exc:  # NotSupported, no such message, the call gone meanwhile
            await self._gone()
            log.info("%s: prompt %s not played: %s", self.line.name, prompt, exc)
            return False
        self.played.append(prompt)  # (perhaps cut short by the caller's hang-up: told next)
        return True

    async def digit(self, timeout: float) -> str | None:
        key = self.keys.take()
        if key is not None:
            return key
        await self._gone()
        arrived: asyncio.Future[Any] = asyncio.ensure_future(self.keys.arrived())
        waited: list[asyncio.Future[Any]] = [arrived, self.ended]
        try:
            await asyncio.wait(waited, timeout=max(0.0, timeout),
                               return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
        finally:
            arrived.cancel()
        key = self.keys.take()
        if key is not None:
            return key
        await self._gone()
        return None

    async def hang_up(self) -> None:
        with contextlib.suppress(LineError):
            await self.line.hang_up()
