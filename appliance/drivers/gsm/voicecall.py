"""The call a GSM modem's voice side follows, and what that side needs of its modem.

Shared by `voice.py` (dial, progress, hang-up) and `transfer.py` (hand-over by ECT), which
both work on the same call; kept below both so neither imports the other for its types.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

from appliance.drivers.at.codes import Final
from appliance.drivers.at.session import AtSession
from appliance.drivers.call import CallRecord
from appliance.drivers.gsm.calls import CallEvent, CallState
from appliance.drivers.gsm.profiles import Profile
from appliance.drivers.line import LineEvent, Timeouts


class VoiceHost(Protocol):
    """What the voice part needs from its modem."""

    name: str
    profile: Profile
    timeouts: Timeouts
    poll_interval: float

    @property
    def session(self) -> AtSession: ...

    def emit(self, event: LineEvent) -> None: ...

    def has_quirk(self, name: str) -> bool: ...

    def learn(self, name: str, why: str) -> None: ...


class VoiceCall(CallRecord):
    """The customer's call: its progress as the modem reports it, and its evidence. A call
    that rang in (``incoming``) has ``number`` the caller's and ``t_dial``/``t_alert`` its
    first ring."""

    def __init__(self, number: str, ring_timeout: float, now: Callable[[], float]) -> None:
        super().__init__(number, now)
        self.ring_timeout = ring_timeout
        self.state = CallState.DIALING
        self.end_status: int | None = None
        self.final: Final | None = None
        self.changed = asyncio.Event()
        self.alerted = asyncio.Event()  # the callee's phone rings (the ring timeout runs)
        self.seen = False  # listed by +CLCC at least once
        self.call_id: int | None = None  # its +CLCC index, once a second call makes it matter
        self.indicated = False  # a call-state indication (not a final code) came for it
        self.blind = False  # neither indications nor +CLCC tell its progress
        self.settled = asyncio.Event()  # answered or released
        self.incoming = False  # a call that rang in and was answered (incoming.py)

    def on_event(self, event: CallEvent) -> None:
        if self.state is CallState.RELEASED:
            if not self.ended.done() and event.state is CallState.RELEASED:
                self.evidence.append(event.raw)  # e.g. BUSY after +CLCC stat 6: keep it
                self.cause = self.cause if event.cause is None else event.cause
            return
        self.evidence.append(event.raw)
        if event.cause is not None:
            self.cause = event.cause
        if event.end_status is not None:
            self.end_status = event.end_status
        if event.state is CallState.ALERTING and self.t_alert is None:
            self.t_alert = self.now()
            self.alerted.set()
        if event.state is CallState.ACTIVE and self.t_answer is None:
            self.t_answer = self.now()
            if self.t_alert is None:
                self.t_alert = self.t_answer
        if event.state is CallState.RELEASED:
            self.t_end = self.now()
        if event.state is not CallState.INCOMING:
            self.state = event.state
        if self.state in (CallState.ACTIVE, CallState.RELEASED):
            self.settled.set()
        self.changed.set()

    @property
    def released(self) -> bool:
        return self.state is CallState.RELEASED
