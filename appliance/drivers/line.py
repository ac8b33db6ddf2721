"""The narrow Line interface the engine uses: dial, hang up, send SMS, events, health.

A GSM modem (``gsm.modem.GsmModem``), a V.253 voice modem or a port of a CAN line card all
implement ``Line``; the engine never sees AT commands or CAN frames. Results carry the SPEC C11
outcome code and the raw evidence it was decided on (research/modems.md 0.7: "answered" cannot
be trusted, so the modem's own words are kept beside the normalised outcome).
"""

from __future__ import annotations

import abc
import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from appliance.drivers.audio import AudioChannel
from appliance.drivers.outcome import Outcome

log = logging.getLogger(__name__)

DEFAULT_RING_TIMEOUT = 25.0  # SPEC C6
MIN_RING_TIMEOUT = 15.0  # SPEC C6, C13 (us: ring >= 15 s)


class LineError(Exception):
    """A line could not do what was asked (port absent, modem not answering, busy line...)."""


class LineUnavailable(LineError):
    """The line is down: port absent, modem silent, or being recovered."""


class LineBusy(LineError):
    """A call is already in progress on this line."""


class NotSupported(LineError):
    """The hardware behind this line cannot do that (e.g. message playback on a Huawei stick)."""


CONFERENCE_MODES = ("listen", "whisper", "barge")  # Line.monitor's modes (SPEC A6)


class ConferenceError(LineError):
    """A supervisor cannot be joined to the call (``Line.monitor``), or the conference cannot be
    ended: the message says why. The two kinds below tell a caller what to do about it."""


class CannotConference(ConferenceError, NotSupported):
    """The hardware or the way the call is carried cannot take a third party in this mode (a card
    without the conference, a seat on another card, a GSM call transferred to the agent)."""


class ConferenceConflict(ConferenceError):
    """Not now: no call bridged to an agent, another supervisor on it, the supervisor's handset
    busy or not lifted, nobody listening in to end. Trying again later may work."""


@dataclass(frozen=True, slots=True)
class CallResult:
    """What became of one dial attempt; ``ended`` is False while an answered call is still up."""

    number: str
    outcome: Outcome
    evidence: tuple[str, ...]
    durations: Mapping[str, float]
    cause: int | None = None  # 3GPP 24.008 cause (or the line's equivalent), when known
    answered: bool = False
    ended: bool = True
    end_reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "outcome": self.outcome.label,
            "code": int(self.outcome),
            "cause": self.cause,
            "answered": self.answered,
            "ended": self.ended,
            "end_reason": self.end_reason,
            "evidence": list(self.evidence),
            "durations": {k: round(v, 3) for k, v in self.durations.items()},
        }


@dataclass(frozen=True, slots=True)
class SmsResult:
    """What became of one SMS send: one network reference per part sent."""

    recipient: str
    parts: int
    references: tuple[int, ...]
    status: str  # "sent" | "failed"
    error: str | None = None
    encoding: str = "gsm7"

    def to_dict(self) -> dict[str, Any]:
        return {
            "recipient": self.recipient,
            "parts": self.parts,
            "references": list(self.references),
            "status": self.status,
            "error": self.error,
            "encoding": self.encoding,
        }


@dataclass(frozen=True, slots=True)
class LineHealth:
    up: bool
    registered: bool = False
    registration: str = "unknown"  # home, roaming, searching, denied, not registered, unknown
    signal_dbm: int | None = None
    sim: str = "unknown"  # READY, SIM PIN, SIM PUK, NOT INSERTED, ...
    operator: str | None = None
    last_error: str | None = None


# ------------------------------------------------------------------------------- events
@dataclass(frozen=True, slots=True)
class LineUp:
    line: str


@dataclass(frozen=True, slots=True)
class LineDown:
    line: str
    reason: str


@dataclass(frozen=True, slots=True)
class IncomingSms:
    line: str
    sender: str
    text: str
    timestamp: str
    parts: int = 1


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    line: str
    reference: int
    recipient: str
    status: int  # 23.040 TP-ST
    delivered: bool
    final: bool


@dataclass(frozen=True, slots=True)
class Dtmf:
    line: str
    digit: str


@dataclass(frozen=True, slots=True)
class IncomingCall:
    """A call is ringing in (SPEC C14): ``number`` is the caller's ID as the network gave it
    ("" when withheld or not sent). Emitted once per call, when the caller's number is known
    (GSM ``+CLIP`` after ``RING``, V.253 caller ID between the first two rings, the card's
    ``INCOMING_RING``), or at the second ring without one."""

    line: str
    number: str


@dataclass(frozen=True, slots=True)
class RingingStopped:
    """An incoming call stopped ringing before it was answered: the caller hung up, or the
    network gave up. ``number`` as in its ``IncomingCall``."""

    line: str
    number: str


@dataclass(frozen=True, slots=True)
class CallEnded:
    line: str
    result: CallResult


@dataclass(frozen=True, slots=True)
class SeatHook:
    """An agent's handset went off hook (lifted) or back on hook (put down)."""

    line: str  # the seat's name
    off_hook: bool


LineEvent = (
    LineUp
    | LineDown
    | IncomingSms
    | DeliveryReport
    | Dtmf
    | IncomingCall
    | RingingStopped
    | CallEnded
    | SeatHook
)
EventListener = Callable[[LineEvent], None]


@dataclass(frozen=True, slots=True)
class Capabilities:
    voice: bool = True
    sms: bool = False
    dtmf_detect: bool = False
    dtmf_send: bool = False
    playback: bool = False
    answer: bool = False  # can answer incoming calls (SPEC C14)
    # The call's sound reaches the host (SPEC H7, #24): ``Line.audio`` gives it while a call is
    # up. False where the hardware has no audio path or none is configured.
    audio: bool = False
    # A supervisor's seat can join the call bridged to an agent (``Line.monitor``, SPEC A6) in
    # these modes of CONFERENCE_MODES; () where it cannot (``describe_conference`` says why).
    conference: tuple[str, ...] = ()


class Line(abc.ABC):
    """One outbound line. Events go to listeners (callbacks on the loop) and to ``events()``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._listeners: list[EventListener] = []
        self._queues: list[asyncio.Queue[LineEvent]] = []

    # ------------------------------------------------------------------ lifecycle
    @abc.abstractmethod
    async def open(self) -> None:
        """Connect and initialise; raise ``LineUnavailable`` if the hardware is absent or mute.
        Once open, the line reconnects by itself after a loss until ``close``."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Hang up any call and release the hardware."""

    @property
    @abc.abstractmethod
    def capabilities(self) -> Capabilities: ...

    @abc.abstractmethod
    def health(self) -> LineHealth: ...

    # ------------------------------------------------------------------ voice
    @abc.abstractmethod
    async def dial(self, number: str, ring_timeout: float = DEFAULT_RING_TIMEOUT) -> CallResult:
        """Place a call; return when its outcome is known (answered, or failed). The ring timeout
        counts from alerting. An answered call stays up (``ended`` False) until ``hang_up`` or
        the far end hangs up (``wait_call_end``)."""

    @abc.abstractmethod
    async def hang_up(self) -> CallResult | None:
        """End the current call; its final result. When it has already ended (the far end hung
        up, the line went down under it) the last call's final result; None when there was
        no call at all."""

    @abc.abstractmethod
    async def wait_call_end(self, timeout: float | None = None) -> CallResult | None:
        """Wait for the current call to end and return its final result (the last call's, when
        it has already ended); None when there was no call at all, or on timeout."""

    async def answer(self) -> CallResult:
        """Answer the call ringing in (the last ``IncomingCall``). Returns once it is up: a
        ``CallResult`` with ``answered`` True, ``ended`` False, ``number`` the caller's. From then
        on the call is the line's current call, as an answered outgoing one is: ``play``,
        ``send_dtmf``, ``Dtmf`` events for the caller's keys, ``connect`` to a seat,
        ``wait_call_end`` and ``hang_up`` work the same, and its end is published as a
        ``CallEnded``. Raise ``LineError`` when nothing is ringing (or the caller hung up before
        the answer), ``LineBusy`` when a call is already up."""
        raise NotSupported(f"{self.name}: answering incoming calls is not supported")

    async def send_dtmf(self, digits: str) -> None:
        raise NotSupported(f"{self.name}: sending DTMF is not supported")

    @property
    def audio(self) -> AudioChannel | None:
        """The sound of the current call (SPEC H7), from its answer until it ends; None when no
        call is up or the line has no audio path (``capabilities.audio`` False)."""
        return None

    def describe_audio(self) -> str:
        """What carries the call's sound to the host, for ``lines`` and the API: the path, or
        "no audio path: <why>" (SPEC H7)."""
        return "no audio path: this kind of line does not bring calls' sound to the host"

    async def play(self, message: str) -> None:
        """Play a stored message (a file name on the module) to the far end of the call."""
        raise NotSupported(f"{self.name}: message playback is not supported")

    async def store_prompt(self, name: str, wav: bytes) -> str:
        """Put ``wav`` (8 kHz mono 16-bit PCM WAV) on the module as the file ``name`` for
        ``play``, once per content while the module stays up; returns the name to ``play``.
        ``NotSupported`` where the line cannot store files; ``LineError`` when the module
        refuses (storage full, a corrupted upload): the message says what to do."""
        raise NotSupported(f"{self.name}: this line cannot store prompts on its hardware")

    # ------------------------------------------------------------------ agents (SPEC A1)
    def can_reach(self, seat: Seat) -> bool:
        """Whether this line can join its answered call to ``seat`` (same backplane, ECT...)."""
        return False

    async def connect(self, seat: Seat, timeout: float) -> None:
        """Join the answered call in progress to ``seat`` within ``timeout`` seconds: an FXS seat
        is rung when its handset is down and bridged when lifted; a phone seat is called and the
        two calls joined. Raise ``LineError`` when that cannot be done in time; the customer's
        call is then still up, for the engine to play the information message and hang up."""
        raise NotSupported(f"{self.name}: cannot connect calls to agent seats")

    # ------------------------------------------------------------------ supervision (SPEC A6)
    async def monitor(self, seat: Seat, mode: str, timeout: float) -> None:
        """Join the supervisor's ``seat`` to the call this line has bridged to an agent, in
        ``mode`` (``listen``: hears both, is heard by nobody; ``whisper``: heard by the agent
        only; ``barge``: a three-way call). The seat is rung when its handset is down and must
        be lifted within ``timeout`` seconds. Again with the same seat changes the mode.
        ``CannotConference`` when the line cannot (``capabilities.conference``),
        ``ConferenceConflict`` when not now (no bridged call, another supervisor on it)."""
        raise CannotConference(f"line {self.name} cannot bridge a third party: "
                               f"{self.describe_conference()}")  # fmt: skip

    async def unmonitor(self) -> None:
        """End the conference (the supervisor's handset stays lifted, in no call);
        ``ConferenceConflict`` when nobody listens in."""
        raise ConferenceConflict(f"nobody listens in on line {self.name}")

    @property
    def monitoring(self) -> tuple[str, str] | None:
        """(the supervisor's seat, the mode) while a supervisor is in the call; else None."""
        return None

    def describe_conference(self) -> str:
        """How a supervisor joins this line's calls, or why one cannot (for ``lines`` and the
        API, beside ``capabilities.conference``)."""
        return "this kind of line carries one call and cannot add a third party"

    # ------------------------------------------------------------------ SMS
    async def send_sms(self, number: str, text: str) -> SmsResult:
        raise NotSupported(f"{self.name}: SMS is not supported")

    # ------------------------------------------------------------------ events
    def subscribe(self, listener: EventListener) -> Callable[[], None]:
        """Call ``listener`` with every event; returns the function that unsubscribes it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    async def events(self) -> AsyncIterator[LineEvent]:
        """Every event from now on, as an async iterator."""
        queue: asyncio.Queue[LineEvent] = asyncio.Queue()
        self._queues.append(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._queues.remove(queue)

    def emit(self, event: LineEvent) -> None:
        log.debug("%s: event %s", self.name, event)
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("%s: event listener failed", self.name)
        for queue in self._queues:
            queue.put_nowait(event)


@dataclass(slots=True)
class Timeouts:
    """Per-command timeouts (seconds); research/modems.md 0.4 gives the reference values."""

    command: float = 5.0
    # SIMCom: ATD max response 20 s; bounds the agent's ATD of a transfer (a customer's ATD
    # is bounded by the call's own deadlines: ring timeout, setup, presumed_setup).
    dial: float = 20.0
    sms: float = 35.0  # after Ctrl-Z
    prompt: float = 5.0
    hang_up: float = 10.0
    setup: float = 60.0  # ATD accepted -> alerting or release
    probe: float = 1.0  # "AT" liveness probe
    liveness: float = 2.0  # an idle line with nothing heard for this long is probed with "AT"
    register: float = 20.0  # a module just (re)booted: how long to await network registration
    # ATD -> alerting presumed when the module says nothing until the call is answered (ATD's
    # result withheld, no call-state indication): the ring timeout then runs from ATD + this.
    presumed_setup: float = 5.0

    def scaled(self, factor: float) -> Timeouts:
        """All timeouts multiplied by ``factor`` (tests and the emulator run faster time)."""
        return Timeouts(**{f.name: getattr(self, f.name) * factor for f in fields(self)})


class Seat(abc.ABC):
    """Where an agent takes calls (SPEC A1): an FXS handset on a line card, or a phone reached
    through a line. Events: ``SeatHook`` when the handset goes up or down, ``Dtmf`` for keys
    pressed on it, ``LineUp``/``LineDown`` for the hardware behind it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._listeners: list[EventListener] = []

    @abc.abstractmethod
    async def open(self) -> None:
        """Start watching the seat; it reports ``LineUp``/``LineDown`` from then on."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    def health(self) -> LineHealth: ...

    @property
    def off_hook(self) -> bool:
        """The handset is lifted, so a call can be bridged to it at once."""
        return False

    async def ring(self) -> None:
        """Ring the handset until it is lifted or ``release`` is called (FXS seats)."""
        return None

    async def release(self) -> None:
        """Stop ringing, or end the seat's part of a call."""
        return None

    def subscribe(self, listener: EventListener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def emit(self, event: LineEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("%s: event listener failed", self.name)


class PhoneSeat(Seat):
    """An agent reached by calling a phone number through a line, then joining the two calls."""

    def __init__(self, name: str, number: str) -> None:
        super().__init__(name)
        self.number = number

    async def open(self) -> None:
        self.emit(LineUp(self.name))

    async def close(self) -> None:
        return None

    def health(self) -> LineHealth:
        return LineHealth(up=True, registration="phone seat")
