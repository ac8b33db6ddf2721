"""One outgoing call as every line driver keeps it: its times, its evidence, its end.

The GSM, V.253 and CAN drivers follow calls differently, but record them alike: when the call
was dialled, alerted (the ring timeout runs from there, SPEC C6), answered and ended; the words
of the hardware it was decided on; and a future that holds the final ``CallResult`` once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from appliance.drivers.line import CallEnded, CallResult, LineEvent
from appliance.drivers.outcome import Outcome

log = logging.getLogger(__name__)


class Announcer(Protocol):
    """Who tells about a call's end: a ``Line``, or the part of one that follows calls."""

    name: str

    def emit(self, event: LineEvent) -> None: ...


class CallRecord:
    def __init__(self, number: str, now: Callable[[], float]) -> None:
        self.number = number
        self.now = now
        self.t_dial = now()
        self.t_alert: float | None = None
        self.t_answer: float | None = None
        self.t_end: float | None = None
        self.evidence: list[str] = []
        self.cause: int | None = None  # the network's cause, where the line gives one
        self.forced: Outcome | None = None  # an outcome decided before the end (busy tone...)
        self.end_reason = ""
        self.ended: asyncio.Future[CallResult] = asyncio.get_running_loop().create_future()

    @property
    def answered(self) -> bool:
        return self.t_answer is not None

    def result(self, outcome: Outcome, ended: bool) -> CallResult:
        end = self.t_end if ended and self.t_end is not None else self.now()
        alert = self.t_alert if self.t_alert is not None else end
        answer = self.t_answer if self.t_answer is not None else end
        return CallResult(
            number=self.number,
            outcome=outcome,
            evidence=tuple(self.evidence),
            durations={
                "setup": alert - self.t_dial,
                "ringing": max(0.0, answer - alert) if self.t_alert is not None else 0.0,
                "talk": max(0.0, end - answer) if self.t_answer is not None else 0.0,
                "total": end - self.t_dial,
            },
            cause=self.cause,
            answered=self.answered,
            ended=ended,
            end_reason=self.end_reason,
        )

    def publish(self, line: Announcer, outcome: Outcome) -> CallResult:
        """Settle the call with ``outcome`` (once; later calls return the first result), log it
        and tell the line's listeners."""
        if self.ended.done():
            return self.ended.result()
        if self.t_end is None:
            self.t_end = self.now()
        result = self.result(outcome, ended=True)
        self.ended.set_result(result)
        log.info("%s: call to %s: %s (%s)", line.name, self.number, outcome.label,
                 ", ".join(result.evidence[-3:]))  # fmt: skip
        line.emit(CallEnded(line.name, result))
        return result

    async def wait_end(self, timeout: float | None) -> CallResult | None:
        """The final result, or None if the call is still up after ``timeout`` seconds."""
        try:
            return await asyncio.wait_for(asyncio.shield(self.ended), timeout)
        except TimeoutError:
            return None
