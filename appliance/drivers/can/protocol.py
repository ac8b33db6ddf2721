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
    BRIDGED = 0x30
    UNBRIDGED = 0x31
    PLAY_DONE = 0x32
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


FAULT_BIT = 0x80


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
