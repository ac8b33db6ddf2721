"""AT byte framing: modem output into lines and the `> ` prompt, DTE input into command lines.

Framing knows bytes and nothing else (STYLE: three layers). Two directions:

* ``ResponseFramer`` (host side) turns what a modem sends into ``Line`` and ``Prompt`` frames.
  Any CR or LF ends a line, so ``\\r\\n``, ``\\r\\r\\n`` (SIMCom URCs, Huawei ``+CLAC``), the
  echo's bare ``\\r`` and the V0 numeric result ``0\\r`` all frame the same way; empty lines and
  leading NULs (ModemManager strips them too) are dropped. The SMS prompt ``> `` has no line end
  and is recognised only while the session expects one, so an SMS body that starts with ``> ``
  read back by ``+CMGR`` is still a line.
* ``CommandFramer`` (modem side, used by the emulator) turns what a DTE sends into command lines
  ending in S3 (CR), the ``A/`` repeat (which needs no CR), and prompt bodies ending in Ctrl-Z or
  ESC, honouring backspace (S5) like a real command-line editor.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

CR = 0x0D
LF = 0x0A
NUL = 0x00
CTRL_Z = 0x1A
ESC = 0x1B
BACKSPACE = 0x08

#: Longest line kept; a modem sending more without a line end is babbling (garbage, wrong baud).
MAX_LINE = 4096


class FramingError(Exception):
    """The byte stream broke a framing rule (an over-long line); the framer has resynchronised.

    ``frames`` holds the good frames decoded from the same chunk, so nothing valid is lost.
    """

    def __init__(self, message: str, frames: list[Frame]) -> None:
        super().__init__(message)
        self.frames = frames


@dataclass(frozen=True, slots=True)
class Line:
    """One line of modem output, without its line end, decoded leniently."""

    text: str


@dataclass(frozen=True, slots=True)
class Prompt:
    """The ``> `` text-entry prompt of ``+CMGS``/``+CMGW`` (no line end follows it)."""


Frame = Line | Prompt


def decode(raw: bytes | bytearray) -> str:
    """Bytes to text: UTF-8 when valid, else Latin-1, so that no byte sequence is ever fatal."""
    try:
        return bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        return bytes(raw).decode("latin-1")


class ResponseFramer:
    """Host-side tokenizer of modem output; feed it bytes in any chunking."""

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self._buffer = bytearray()
        self._max_line = max_line
        self._discarding = False
        self.expect_prompt = False

    def feed(self, data: bytes) -> list[Frame]:
        """Consume bytes; return the complete frames.

        An over-long line is discarded up to its line end and reported, once the whole chunk is
        consumed, as ``FramingError`` carrying the chunk's good frames.
        """
        frames: list[Frame] = []
        overflow = False
        for byte in data:
            if byte in (CR, LF):
                if self._discarding:
                    self._discarding = False
                elif self._buffer:
                    text = decode(self._buffer).strip()
                    if text:
                        frames.append(Line(text))
                self._buffer.clear()
                continue
            if self._discarding or (byte == NUL and not self._buffer):
                continue
            self._buffer.append(byte)
            if self.expect_prompt and self._buffer == b"> ":
                self._buffer.clear()
                frames.append(Prompt())
            elif len(self._buffer) > self._max_line:
                self._buffer.clear()
                self._discarding = True
                overflow = True
        if overflow:
            raise FramingError(
                f"modem sent a line longer than {self._max_line} bytes (garbage or wrong baud rate)",
                frames,
            )
        return frames

    @property
    def pending(self) -> bytes:
        """Bytes of an unfinished line (for diagnostics)."""
        return bytes(self._buffer)

    def reset(self) -> None:
        self._buffer.clear()
        self._discarding = False
        self.expect_prompt = False


class InputKind(enum.Enum):
    COMMAND = "command"  # a command line ended by S3
    REPEAT = "repeat"  # "A/": repeat the last command line
    BODY = "body"  # prompt text ended by Ctrl-Z (send)
    CANCEL = "cancel"  # prompt text ended by ESC (abort)


@dataclass(frozen=True, slots=True)
class Input:
    """One unit of DTE input as a modem sees it; ``echo`` is what the modem echoes under ATE1."""

    kind: InputKind
    text: str
    echo: bytes


class CommandFramer:
    """Modem-side tokenizer of DTE input: command lines, ``A/``, prompt bodies."""

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self._buffer = bytearray()
        self._max_line = max_line
        self.in_prompt = False

    def feed(self, data: bytes) -> list[Input]:
        """Consume bytes; return complete inputs. Never raises: an over-long line is dropped,
        as a real command buffer overflows silently."""
        out: list[Input] = []
        for byte in data:
            if self.in_prompt:
                self._feed_prompt(byte, out)
            else:
                self._feed_command(byte, out)
        return out

    def _feed_prompt(self, byte: int, out: list[Input]) -> None:
        if byte in (CTRL_Z, ESC):
            kind = InputKind.BODY if byte == CTRL_Z else InputKind.CANCEL
            out.append(Input(kind, decode(self._buffer), bytes([byte])))
            self._buffer.clear()
            self.in_prompt = False
        elif byte == BACKSPACE:
            if self._buffer:
                self._buffer.pop()
        elif len(self._buffer) < self._max_line:
            self._buffer.append(byte)

    def _feed_command(self, byte: int, out: list[Input]) -> None:
        if byte == CR:
            text = decode(self._buffer).strip()
            self._buffer.clear()
            if text:
                out.append(
                    Input(InputKind.COMMAND, text, text.encode("latin-1", "replace") + b"\r")
                )
            return
        if byte in (LF, NUL, ESC, CTRL_Z):
            return  # stray prompt terminators in command mode are ignored, as modems do
        if byte == BACKSPACE:
            if self._buffer:
                self._buffer.pop()
            return
        if len(self._buffer) < self._max_line:
            self._buffer.append(byte)
        # V.250 5.2.4: "A/" repeats the previous command line and needs no terminator.
        if self._buffer.lstrip().upper() == b"A/":
            self._buffer.clear()
            out.append(Input(InputKind.REPEAT, "A/", b"A/\r"))

    def reset(self) -> None:
        self._buffer.clear()
        self.in_prompt = False
