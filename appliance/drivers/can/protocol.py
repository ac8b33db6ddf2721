"""The line card protocol's numbers and frames (docs/line-card-protocol.md), pure.

Commands go host -> card in RPDO1 (``0x200 + node``), events card -> host in TPDO1
(``0x180 + node``); both are 8 bytes. This module knows bytes, not buses (STYLE: three layers).
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

PROTOCOL_VERSION = 1
DEVICE_TYPE = 0x0000D1A1

RPDO1 = 0x200
TPDO1 = 0x180
HEARTBEAT = 0x700
EMCY = 0x080

# object dictionary (section 3)
OD_VERSION = 0x2000
OD_PORTS = 0x2001
OD_HARDWARE = 0x2002
OD_ROLE = 0x2003
OD_STATE = 0x2010
OD_MESSAGE_COUNT = 0x2020
OD_MESSAGES = 0x2021
OD_CONFERENCE = 0x200B  # the conference modes the card can do (section 4.5); absent: none


class Role(enum.IntEnum):
    UNUSED = 0
    FXO = 1
    FXS = 2


class Op(enum.IntEnum):
    OFF_HOOK = 0x01
    ON_HOOK = 0x02
    DIAL = 0x03
    DIAL_END = 0x04
    RING = 0x05
    PLAY = 0x06
    STOP_PLAY = 0x07
    BRIDGE = 0x08
    UNBRIDGE = 0x09
    SEND_DTMF = 0x0A
    QUERY = 0x0B
    ANSWER = 0x0C
    MONITOR = 0x0D  # section 4.5: a supervisor's FXS port joins the port's bridged call
    UNMONITOR = 0x0E


class Ev(enum.IntEnum):
    ACK = 0x01
    STATE = 0x02
    DIAL_TONE = 0x10
    NO_DIAL_TONE = 0x11
    RINGBACK = 0x12
    BUSY = 0x13
    SIT = 0x14
    FAX_TONE = 0x15
    MODEM_TONE = 0x16
    ANSWER = 0x17
    MACHINE = 0x18
    PERSON = 0x19
    SILENCE = 0x1A
    DTMF = 0x1B
    CALL_END = 0x1C
    OFF_HOOK = 0x20
    ON_HOOK = 0x21
    INCOMING_RING = 0x22
    CALLER_ID = 0x23
    RINGING_STOPPED = 0x24
    BRIDGED = 0x30
    UNBRIDGED = 0x31
    PLAY_DONE = 0x32
    MONITORED = 0x33  # section 4.5: the conference is up (or its mode changed)
    MONITOR_END = 0x34
    PORT_FAULT = 0x3F


class Status(enum.IntEnum):
    DONE = 0
    BAD_PORT = 1
    WRONG_ROLE = 2
    NOT_SUPPORTED = 3
    BUSY = 4
    BAD_ARGUMENT = 5
    NOT_OPERATIONAL = 6
    PORT_FAULT = 7  # a fault is latched on the port (section 7)
    NOT_RINGING = 8  # ANSWER: nothing rings in on the port (the caller has gone)
    NOT_LIFTED = 9  # MONITOR: the supervisor's handset is on hook (or ringing)
    NOT_BRIDGED = 10  # MONITOR: the port has no call bridged to a seat


class Cause(enum.IntEnum):
    LOCAL = 0x00
    REMOTE_HANGUP = 0x01
    NO_ANSWER = 0x02
    BUSY = 0x03
    SIT = 0x04
    NO_DIAL_TONE = 0x05
    LINE_FAULT = 0x06
    FAX = 0x07
    MODEM = 0x08
    CARD_RESET = 0x09
    OTHER = 0xFF


class State(enum.IntEnum):
    """Port states (section 6); bit 7 (``FAULT``) is set beside any of them while latched."""

    IDLE = 0
    DIALLING = 1
    RINGING_OUT = 2
    ANSWERED = 3
    BRIDGED = 4
    FXS_RINGING = 5
    FXS_OFF_HOOK = 6
    PLAYING = 7
    RINGING_IN = 8  # FXO: an incoming call rings, not answered yet
    MONITORING = 9  # FXS: a supervisor's handset in a conference (section 4.5)


FAULT_BIT = 0x80


class Mode(enum.IntEnum):
    """``MONITOR`` byte 5 (section 4.5): what the supervisor's port hears and is heard by."""

    LISTEN = 1  # hears the customer and the agent; nobody hears the supervisor
    WHISPER = 2  # hears both; only the agent's seat hears the supervisor
    BARGE = 3  # a three-way call: everyone hears everyone


MODE_BITS = {Mode.LISTEN: 0x01, Mode.WHISPER: 0x02, Mode.BARGE: 0x04}  # object 0x200B


def conference_modes(bits: int) -> tuple[str, ...]:
    """Object ``0x200B`` -> the modes' names: ``0x05`` -> ("listen", "barge")."""
    return tuple(mode.name.lower() for mode, bit in MODE_BITS.items() if bits & bit)


def conference_bits(modes: tuple[str, ...] | list[str]) -> int:
    """The inverse of ``conference_modes``."""
    return sum(MODE_BITS[Mode[name.upper()]] for name in set(modes))


class MonitorEnd(enum.IntEnum):
    """``MONITOR_END`` byte 3: why the conference is over."""

    COMMAND = 0  # UNMONITOR, or the host's ON_HOOK to the supervisor's port
    SUPERVISOR_HUNG_UP = 1
    CALL_ENDED = 2  # the far end hung up, or the host's ON_HOOK to the call's port
    AGENT_LEFT = 3  # the agent's seat left the bridge (hung up, UNBRIDGE, a new BRIDGE)
    FAULT = 4  # a fault latched on one of the three ports


MONITOR_END_REASONS = {
    MonitorEnd.COMMAND: "ended by the host",
    MonitorEnd.SUPERVISOR_HUNG_UP: "the supervisor hung up",
    MonitorEnd.CALL_ENDED: "the call ended",
    MonitorEnd.AGENT_LEFT: "the agent left the call",
    MonitorEnd.FAULT: "a port fault",
}


def monitor_end_reason(code: int) -> str:
    known = code in MonitorEnd._value2member_map_
    return MONITOR_END_REASONS[MonitorEnd(code)] if known else f"reason {code}"


class Fault(enum.IntEnum):
    """EMCY error codes (section 7)."""

    RESET = 0x0000
    OVER_CURRENT = 0x2310
    SUPPLY = 0x3110
    CODEC = 0x5000
    OVERRUN = 0x8110
    NO_LINE_VOLTAGE = 0xFF01
    PORT_STUCK = 0xFF02


FAULT_REASONS: dict[int, str] = {
    Fault.OVER_CURRENT: "loop over-current",
    Fault.SUPPLY: "card supply voltage out of range",
    Fault.CODEC: "codec failure",
    Fault.OVERRUN: "CAN overrun",
    Fault.NO_LINE_VOLTAGE: "no line voltage",
    Fault.PORT_STUCK: "port stuck",
}


def fault_reason(code: int) -> str:
    """``0xFF02`` -> ``port stuck``; unknown codes by number."""
    return FAULT_REASONS.get(code) or f"fault 0x{code:04X}"


@dataclass(frozen=True, slots=True)
class Emcy:
    """A CiA 301 EMCY frame as the protocol fills it: code, error register, port, detail."""

    code: int
    register: int = 0
    port: int = 0  # 0 = the card itself
    detail: bytes = b""

    def encode(self) -> bytes:
        return struct.pack("<HBB4s", self.code, self.register, self.port, self.detail[:4])

    @classmethod
    def decode(cls, data: bytes) -> Emcy:
        if len(data) != 8:
            raise ValueError(f"an EMCY frame has 8 bytes, not {len(data)}")
        code, register, port, detail = struct.unpack("<HBB4s", data)
        return cls(code, register, port, detail)


_DIGITS = "0123456789*#ABCD"


def digit_code(digit: str) -> int:
    """``7`` -> 7, ``*`` -> 0xA, ``#`` -> 0xB, ``A``..``D`` -> 0xC..0xF."""
    try:
        return _DIGITS.index(digit.upper())
    except ValueError:
        raise ValueError(f"{digit!r} is not a DTMF digit") from None


def code_digit(code: int) -> str:
    return _DIGITS[code & 0x0F]


@dataclass(frozen=True, slots=True)
class Command:
    port: int
    op: Op
    seq: int
    args: bytes = b""

    def encode(self) -> bytes:
        return bytes([self.port, self.op, self.seq]) + self.args[:5].ljust(5, b"\0")

    @classmethod
    def decode(cls, data: bytes) -> Command:
        if len(data) != 8:
            raise ValueError(f"a command frame has 8 bytes, not {len(data)}")
        return cls(data[0], Op(data[1]), data[2], bytes(data[3:8]))


@dataclass(frozen=True, slots=True)
class Event:
    port: int
    event: Ev
    counter: int
    args: bytes = b""

    def encode(self) -> bytes:
        return bytes([self.port, self.event, self.counter]) + self.args[:5].ljust(5, b"\0")

    @classmethod
    def decode(cls, data: bytes) -> Event:
        if len(data) != 8:
            raise ValueError(f"an event frame has 8 bytes, not {len(data)}")
        return cls(data[0], Ev(data[1]), data[2], bytes(data[3:8]))


def dial_frames(port: int, number: str, seq: int) -> list[Command]:
    """``DIAL`` commands for ``number``, eight digits (two per byte, high nibble first) a frame;
    one sequence number per frame (``seq``, ``seq + 1``...)."""
    codes = [digit_code(d) for d in number.lstrip("+")]
    frames: list[Command] = []
    for i in range(0, len(codes), 8):
        chunk = codes[i : i + 8]
        packed = bytearray([len(chunk)])
        for j in range(0, len(chunk), 2):
            high = chunk[j]
            low = chunk[j + 1] if j + 1 < len(chunk) else 0
            packed.append(high << 4 | low)
        frames.append(
            Command(port, Op.DIAL, (seq + len(frames)) & 0xFF, bytes(packed).ljust(5, b"\0"))
        )
    return frames


def dial_digits(args: bytes) -> str:
    """The digits a ``DIAL`` command carries."""
    count = args[0]
    out = []
    for i in range(count):
        byte = args[1 + i // 2]
        out.append(code_digit(byte >> 4 if i % 2 == 0 else byte & 0x0F))
    return "".join(out)


# ------------------------------------------------------------------ caller ID (section 5.1)
class Presentation(enum.IntEnum):
    """``CALLER_ID`` byte 4, bits 0-3: what the exchange said of the caller's number."""

    NUMBER = 0
    WITHHELD = 1  # the caller withheld it ("P", private)
    UNAVAILABLE = 2  # out of area, not sent ("O")
    ERROR = 3  # a caller-ID signal the card could not decode


INTERNATIONAL = 0x80  # byte 4 bit 7: the number is international; the host writes a "+"
MAX_CALLER_DIGITS = 32
_HEAD_DIGITS = 4  # digits in frame 0 (bytes 6-7)
_MORE_DIGITS = 8  # digits in each frame after it (bytes 4-7)


def caller_id_frames(number: str, presentation: Presentation = Presentation.NUMBER) -> list[bytes]:
    """The arguments (bytes 3-7) of the ``CALLER_ID`` frames that carry ``number``: frame 0 =
    index 0, presentation (| INTERNATIONAL), digit count, 4 digits; frames 1.. = index, 8 digits
    (two per byte, high nibble first, as ``DIAL``)."""
    international = number.startswith("+")
    codes = [digit_code(d) for d in number.lstrip("+")] if presentation == 0 else []
    if len(codes) > MAX_CALLER_DIGITS:
        raise ValueError(f"a caller ID has at most {MAX_CALLER_DIGITS} digits")
    flags = int(presentation) | (INTERNATIONAL if international and codes else 0)
    head, rest = codes[:_HEAD_DIGITS], codes[_HEAD_DIGITS:]
    frames = [bytes([0, flags, len(codes)]) + _pack(head, 2)]
    for i in range(0, len(rest), _MORE_DIGITS):
        frames.append(bytes([len(frames)]) + _pack(rest[i : i + _MORE_DIGITS], 4))
    return frames


def _pack(codes: list[int], size: int) -> bytes:
    out = bytearray(size)
    for i, code in enumerate(codes):
        out[i // 2] |= code << 4 if i % 2 == 0 else code
    return bytes(out)


def _unpack(data: bytes, count: int) -> list[int]:
    return [(data[i // 2] >> 4) if i % 2 == 0 else data[i // 2] & 0x0F for i in range(count)]


class CallerIdReader:
    """Puts a caller ID together from its ``CALLER_ID`` frames (arguments, bytes 3-7).
    ``feed`` returns (number, presentation name) once complete; a frame out of order, a count
    over ``MAX_CALLER_DIGITS`` or an unknown presentation give ("", "unreadable")."""

    def __init__(self) -> None:
        self._digits: list[int] = []
        self._count = -1  # digits expected; -1: frame 0 not seen
        self._flags = 0
        self.done = False

    def feed(self, args: bytes) -> tuple[str, str] | None:
        if self.done:
            return None
        index = args[0]
        expected = 0 if self._count < 0 else 1 + (len(self._digits) - _HEAD_DIGITS) // _MORE_DIGITS
        if index != expected:
            return self._finish("", "unreadable")
        if index == 0:
            self._flags, self._count = args[1], args[2]
            presentation = self._flags & 0x0F
            if presentation not in Presentation._value2member_map_ or (
                self._count > MAX_CALLER_DIGITS
            ):
                return self._finish("", "unreadable")
            if presentation != Presentation.NUMBER:
                name = Presentation(presentation).name.lower()
                return self._finish("", "unreadable" if name == "error" else name)
            self._digits = _unpack(args[3:5], min(self._count, _HEAD_DIGITS))
        else:
            want = min(_MORE_DIGITS, self._count - len(self._digits))
            self._digits += _unpack(args[1:5], want)
        if len(self._digits) < self._count:
            return None
        if not self._digits:
            return self._finish("", "unreadable")
        number = "".join(code_digit(c) for c in self._digits)
        if any(d in "ABCD" for d in number):
            return self._finish("", "unreadable")
        return self._finish(("+" if self._flags & INTERNATIONAL else "") + number, "number")

    def _finish(self, number: str, how: str) -> tuple[str, str]:
        self.done = True
        return number, how
