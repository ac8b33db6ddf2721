"""AT session: one command in flight, per-command timeouts, the prompt exchange, URC routing.

The session is the asyncio ``Protocol`` of a serial transport. It frames the bytes it receives
(``framing.ResponseFramer``) and sorts every line into exactly one of: the echo of the command in
flight, an information line of that command, its final result, or an unsolicited result code
(URC) handed to listeners. A line is an information line only if it carries one of the command's
solicited prefixes (``AT+CSQ`` solicits ``+CSQ:``) or, for commands answering with bare lines
(``+CGSN``, ``+CIMI``), if it is not a known URC; everything else is a URC, wherever it arrives
(research/modems.md 0.2). Call-progress codes (``BUSY``, ``NO CARRIER``...) end only dial
commands; at any other moment they are URCs (python-gsmmodem #101).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import cast

from appliance.drivers.at.codes import CALL_PROGRESS, Final, FinalKind, classify_final
from appliance.drivers.at.dle import ETX, DleDecoder
from appliance.drivers.at.framing import (
    ESC,
    Frame,
    FramingError,
    Line,
    Prompt,
    ResponseFramer,
)

log = logging.getLogger(__name__)

#: Raw serial bytes are logged at this level only (off unless asked for).
TRACE = 5
logging.addLevelName(TRACE, "TRACE")

CTRL_Z = b"\x1a"

#: Prefixes of lines that are URCs whatever command is in flight (unless it solicits them).
URC_PREFIXES: tuple[str, ...] = (
    "RING",
    "+CRING:",
    "+CLIP:",
    "+CCWA:",
    "+CMTI:",
    "+CMT:",
    "+CDS:",
    "+CDSI:",
    "+CBM:",
    "+CREG:",
    "+CGREG:",
    "+CEREG:",
    "+CUSD:",
    "+CSQN:",
    "+CIEV:",
    "+CPIN:",
    "+CLCC:",
    "+CFUN:",
    "+QIND:",
    "+QUSIM:",
    "+QTONEDET:",
    "+QPSND:",
    "+QSIMSTAT:",
    "+DTMF:",
    "+RXDTMF:",
    "+CTTS:",
    "+CREC:",
    "+CCMXPLAY:",
    "+UCALLSTAT:",
    "+UUDTMFD:",
    "+WIND:",
    "+CDRIND:",
    "HANGUP:",
    "^",
    "RDY",
    "APP RDY",
    "Call Ready",
    "SMS Ready",
    "VOICE CALL:",
    "MISSED_CALL:",
    "MO RING",
    "MO CONNECTED",
    "NORMAL POWER DOWN",
    "UNDER-VOLTAGE",
    "OVER-VOLTAGE",
    "+PBREADY",
    # ZTE/Qualcomm noise, sent anywhere (inside +CMGS, between an echo and its answer):
    # python-gsmmodem #11, ModemManager's ZTE plugin (research/modems.md 2.4, 3.8)
    "+ZDONR:",
    "+ZPASR:",
    "+ZUSIMR:",
    "+ZEND",
    "+ZPSTM:",
    "+ZRSSI:",
)

#: URCs whose next line is their body (a PDU, or a text-mode message).
_BODY_URCS = ("+CMT:", "+CBM:")
_PDU_CDS = re.compile(r"^\+CDS:\s*\d+\s*$")
#: Solicited headers whose next line is their body.
_BODY_HEADERS = ("+CMGR:", "+CMGL:")

_PREFIX_RE = re.compile(r"(?:^AT|;)\s*([+^$%#*][A-Z0-9]+)", re.IGNORECASE)


class AtError(Exception):
    """A command ended with an error result (``ERROR``, ``+CME ERROR``, ``BUSY``...)."""

    def __init__(self, response: Response) -> None:
        super().__init__(f"{response.command!r} failed: {response.final.text}")
        self.response = response

    @property
    def final(self) -> Final:
        return self.response.final


class AtTimeout(Exception):
    """No final result arrived in time."""


class AtGarbage(AtTimeout):
    """The modem sent garbage instead of an answer (line noise, wrong baud rate, a crashed
    firmware): the command was failed at once rather than at its timeout."""


class LinkDown(Exception):
    """The port closed (unplugged, removed, or closed by us) before the command ended."""


#: Bytes that no AT dialect sends (controls other than CR, LF, TAB; DEL; 8-bit), counted from
#: the last final result: this many mean garbage, and the command in flight is failed at once.
JUNK_BYTES = 32
#: Lines that are neither an answer nor a known URC, counted from the last final result: this
#: many in a row make the line ask whether the modem still answers (it decides on the probe).
JUNK_LINES = 16
_TEXT = frozenset(range(0x20, 0x7F)) | {0x09, 0x0A, 0x0D}


@dataclass(frozen=True, slots=True)
class Command:
    """One AT command line and how to read its answer.

    ``prefixes`` adds to the prefixes derived from the text (``AT+CSQ`` solicits ``+CSQ:``);
    ``bare`` accepts unprefixed information lines; ``call_progress`` makes ``BUSY``,
    ``NO CARRIER``... final; ``payload`` is sent after the ``> `` prompt with Ctrl-Z.

    ``ok_optional``: a query some modules answer with its information line and no final
    result (Wavecom ``+CPIN: READY``, gammu's ``CPINNoOK``): once a solicited line has come,
    the timeout returns it with an implied OK instead of failing; with ``grace`` as well, that
    many seconds of silence after the line are enough (a module known to omit the OK).
    """

    text: str
    timeout: float = 5.0
    prefixes: tuple[str, ...] = ()
    bare: bool = False
    call_progress: bool = False
    payload: bytes | None = None
    prompt_timeout: float = 5.0
    ok_optional: bool = False
    grace: float | None = None

    def solicited(self) -> tuple[str, ...]:
        derived = tuple(m.group(1).upper() + ":" for m in _PREFIX_RE.finditer(self.text))
        return tuple(p.upper() for p in self.prefixes) + derived


#: The final result a response without one is given (``Command.ok_optional``).
IMPLIED_OK = Final(FinalKind.OK, "(no final result; answer taken as complete)")


@dataclass(frozen=True, slots=True)
class Response:
    command: str
    lines: tuple[str, ...]
    final: Final

    @property
    def implied(self) -> bool:
        """The module sent the information but no final result (``Command.ok_optional``)."""
        return self.final is IMPLIED_OK

    @property
    def ok(self) -> bool:
        return self.final.kind is FinalKind.OK

    def check(self) -> Response:
        """Return self if OK, else raise ``AtError``."""
        if not self.ok:
            raise AtError(self)
        return self

    def values(self, prefix: str) -> list[str]:
        """The text after ``prefix`` of each line carrying it (``+CSQ: 19,99`` -> ``19,99``)."""
        return [
            line[len(prefix) :].strip() for line in self.lines if line.upper().startswith(prefix)
        ]


@dataclass(frozen=True, slots=True)
class Urc:
    """An unsolicited result code, with its body line for ``+CMT``/``+CDS`` PDUs."""

    text: str
    body: str | None = None

    @property
    def name(self) -> str:
        """``+CMTI`` for ``+CMTI: "SM",3``; the whole text for ``RING``."""
        head, sep, _ = self.text.partition(":")
        return head.strip() if sep else self.text.strip()

    @property
    def value(self) -> str:
        return self.text.partition(":")[2].strip()


@dataclass(slots=True)
class _Pending:
    command: Command
    solicited: tuple[str, ...]
    done: asyncio.Future[Response]
    prompt: asyncio.Future[None]
    lines: list[str] = field(default_factory=list)
    echoes: set[str] = field(default_factory=set)


class _PriorityLock:
    """A mutex whose waiters are served urgent-first, then in arrival order."""

    def __init__(self) -> None:
        self._locked = False
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    async def acquire(self, urgent: bool) -> None:
        if not self._locked and not self._waiters:
            self._locked = True
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (0 if urgent else 1, next(self._seq), fut))
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release()
            raise

    def release(self) -> None:
        while self._waiters:
            _, _, fut = heapq.heappop(self._waiters)
            if not fut.done():
                fut.set_result(None)
                return
        self._locked = False


UrcListener = Callable[[Urc], None]
DleListener = Callable[[str], None]
StreamSink = Callable[[bytes], None]
LostListener = Callable[[Exception | None], None]
SuspectListener = Callable[[str], None]


def _retrieved(done: asyncio.Future[Response]) -> None:
    """Mark an orphaned command's outcome as seen (nobody may be left to await it)."""
    if not done.cancelled():
        done.exception()


class AtSession(asyncio.Protocol):
    """Command/response over one port; give it to ``create_serial_connection`` as the protocol."""

    def __init__(self, name: str = "at", *, numeric_results: bool = True) -> None:
        self.name = name
        self._framer = ResponseFramer()
        self._transport: asyncio.WriteTransport | None = None
        self._pending: _Pending | None = None
        # A command its caller stopped waiting for (a cancelled task) whose final result is
        # still on the way: the next exchange waits for it before writing (_drain).
        self._orphan: _Pending | None = None
        self._lock = _PriorityLock()
        self._urc_listeners: list[UrcListener] = []
        self._lost_listeners: list[LostListener] = []
        self._body_for: str | None = None  # URC or solicited header awaiting its body line
        self._numeric = numeric_results
        self._closed = asyncio.Event()
        self._opened = asyncio.Event()
        self.consecutive_timeouts = 0
        # Line health (SPEC H6): the loop time of the last final result (the modem's proof of
        # life), the junk heard since, and who to tell when a command times out or junk piles
        # up (the line probes at once).
        self.last_alive = 0.0
        self.junk_bytes = 0
        self.junk_lines = 0
        self.on_suspect: SuspectListener | None = None
        self.extra_urc_prefixes: tuple[str, ...] = ()
        self._dle: DleDecoder | None = None
        self._dle_listener: DleListener | None = None
        self._rx_at = 0.0  # loop time bytes last arrived (the grace of ok_optional commands)
        # A voice data stream (V.253 +VTR/+VRX/+VTX, ``start_stream``): the port is the
        # stream's until ``end_stream``; the modem's plain bytes go to ``_sink`` (not the
        # framer) until its <DLE><ETX>.
        self._streaming = False
        self._sink: StreamSink | None = None
        self._left: Callable[[], None] | None = None
        # the stream a command in flight starts on CONNECT: (command, sink, left)
        self._stream_next: tuple[Command, StreamSink | None, Callable[[], None] | None] | None
        self._stream_next = None
        self._drop_lf = False  # the LF of CONNECT's line end is not stream data
        self.stream_bytes = 0  # bytes handed to the sink in the current stream
        # Command lines the modem echoed (ATE1): a driver that turned echo off sees a module
        # that reset its settings without a word (a brown-out with no boot URC).
        self.echoes = 0

    # ----------------------------------------------------------------- listeners
    def add_urc_listener(self, listener: UrcListener) -> Callable[[], None]:
        """Register a URC callback (run on the loop; must not block). Returns its remover."""
        self._urc_listeners.append(listener)
        return lambda: self._urc_listeners.remove(listener)

    def add_lost_listener(self, listener: LostListener) -> None:
        self._lost_listeners.append(listener)

    def set_dle_listener(self, listener: DleListener | None) -> None:
        """Voice modems: take ``<DLE><code>`` events out of the byte stream before framing and
        hand each code to ``listener`` (None: bytes are framed as they come)."""
        self._dle_listener = listener
        self._dle = DleDecoder() if listener is not None else None

    # ----------------------------------------------------------------- Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.WriteTransport, transport)
        self._closed.clear()
        self._opened.set()
        self.last_alive = asyncio.get_running_loop().time()
        log.debug("%s: port open", self.name)

    def data_received(self, data: bytes) -> None:
        log.log(TRACE, "%s <- %r", self.name, data)
        self._rx_at = asyncio.get_running_loop().time()
        if self._dle is None or self._dle_listener is None:
            self._frame(data)
            return
        for part in self._dle.feed(data):
            if isinstance(part, bytes):
                self._plain(part)
                continue
            if part == chr(ETX) and self._sink is not None:
                self._sink = None  # the modem left the data state: its OK comes as a line
                self.last_alive = self._rx_at
                left, self._left = self._left, None
                if left is not None:
                    try:
                        left()
                    except Exception:
                        log.exception("%s: stream end listener failed", self.name)
                continue
            try:
                self._dle_listener(part)
            except Exception:
                log.exception("%s: DLE listener failed on %r", self.name, part)

    def _plain(self, part: bytes) -> None:
        """Plain bytes (DLE pairs taken out): the stream's data, or text to frame. While a
        command that starts a stream is in flight they are framed line by line, so the bytes
        right behind its ``CONNECT`` (same read) go to the sink, not the framer."""
        while part:
            sink = self._sink
            if sink is not None:
                if self._drop_lf:
                    self._drop_lf = False
                    if part[:1] == b"\n":
                        part = part[1:]
                        continue
                self.stream_bytes += len(part)
                self.last_alive = self._rx_at  # a streaming modem is alive
                try:
                    sink(part)
                except Exception:
                    log.exception("%s: stream sink failed", self.name)
                return
            if self._stream_next is None:
                self._frame(part)
                return
            ends = [i for i in (part.find(b"\r"), part.find(b"\n")) if i >= 0]
            if not ends:
                self._frame(part)
                return
            cut = min(ends) + 1
            self._frame(part[:cut])
            part = part[cut:]

    def _frame(self, data: bytes) -> None:
        junk = sum(1 for byte in data if byte not in _TEXT)
        try:
            frames = self._framer.feed(data)
        except FramingError as exc:
            log.warning("%s: %s", self.name, exc)
            frames = exc.frames
            junk += JUNK_BYTES  # a line no modem sends
        for frame in frames:
            self._on_frame(frame)
        if junk:
            self._garbage(junk)

    def _garbage(self, count: int) -> None:
        """Bytes no modem sends: past JUNK_BYTES since the last final result, the command in
        flight fails at once (AtGarbage) and the line is told."""
        self.junk_bytes += count
        if self.junk_bytes < JUNK_BYTES:
            return
        why = f"garbage from the modem ({self.junk_bytes} bytes no modem sends)"
        pending = self._pending
        if pending is not None and not pending.done.done():
            self.consecutive_timeouts += 1
            pending.done.set_exception(AtGarbage(f"{pending.command.text!r}: {why}"))
            pending.prompt.cancel()
        self._suspect(why)

    def _suspect(self, why: str) -> None:
        if self.on_suspect is not None:
            try:
                self.on_suspect(why)
            except Exception:
                log.exception("%s: suspect listener failed", self.name)

    def connection_lost(self, exc: Exception | None) -> None:
        log.info("%s: port closed (%s)", self.name, exc or "by us")
        self._transport = None
        self._closed.set()
        self._sink = self._left = None
        pending, self._pending = self._pending, None
        if pending is not None:
            if not pending.done.done():
                pending.done.set_exception(LinkDown(str(exc) if exc else "port closed"))
            pending.prompt.cancel()
        for listener in list(self._lost_listeners):
            listener(exc)

    # ----------------------------------------------------------------- public API
    @property
    def is_open(self) -> bool:
        return self._transport is not None and not self._transport.is_closing()

    @property
    def busy(self) -> bool:
        return self._pending is not None

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    async def wait_open(self) -> None:
        """Wait for ``connection_made`` (transports call it on the next loop iteration)."""
        await self._opened.wait()

    async def wait_closed(self) -> None:
        await self._closed.wait()

    def write_raw(self, data: bytes) -> None:
        """Write bytes outside any command (ESC to leave a stuck prompt, a resync ``AT``)."""
        if self._transport is None:
            raise LinkDown("port is not open")
        log.log(TRACE, "%s -> %r", self.name, data)
        self._transport.write(data)

    async def run(self, command: Command | str, *, urgent: bool = False) -> Response:
        """Send one command line and return its response, whatever its final result."""
        cmd = Command(command) if isinstance(command, str) else command
        await self._lock.acquire(urgent)
        try:
            return await self._exchange(cmd)
        finally:
            self._lock.release()

    async def probe(self, tries: int, timeout: float, *, escape: bool = False) -> str | None:
        """Is anyone there? ``AT`` up to ``tries`` times, ``timeout`` each, holding the port for
        all of them (urgent: no queued command slips in between to add its own timeout).
        ``escape`` sends ESC first each time (leaves a stuck SMS prompt). Returns None when the
        modem answered (any final result), else why not; ``LinkDown`` if the port is gone."""
        await self._lock.acquire(True)
        why = "no probe sent"
        try:
            for _ in range(tries):
                if escape:
                    self.write_raw(bytes([ESC]))
                try:
                    await self._exchange(Command("AT", timeout=timeout))
                    return None
                except AtTimeout as exc:
                    why = str(exc)
            return why
        finally:
            self._lock.release()

    def give_up(self, why: str) -> None:
        """Fail the command in flight now with ``AtTimeout`` (its caller's own deadline has
        passed, e.g. a dial whose abort went unanswered); the line is told, as on a timeout."""
        pending = self._pending
        if pending is None or pending.done.done():
            return
        self.consecutive_timeouts += 1
        pending.done.set_exception(AtTimeout(f"{pending.command.text!r}: {why}"))
        pending.prompt.cancel()
        self._suspect(why)

    async def check(self, command: Command | str, *, urgent: bool = False) -> Response:
        """Like ``run`` but raise ``AtError`` unless the final result is OK."""
        return (await self.run(command, urgent=urgent)).check()

    # ----------------------------------------------------------------- file uploads
    async def send_data(
        self, command: Command, data: bytes, *, timeout: float, urgent: bool = False
    ) -> Response:
        """Send ``command``, then ``data`` as raw bytes once the module asks for them, and
        return the module's answer to the data: the go-ahead is ``CONNECT`` (Quectel
        ``AT+QFUPL``: the answer is a second exchange, ``+QFUPL: <size>,<checksum>`` ``OK``) or
        the ``> `` prompt (SIMCom ``AT+FSWRITE``: ``OK``). No Ctrl-Z is added: the command
        gives the size. A refusal instead of the go-ahead (``+CME ERROR: 403``) is returned as
        the response; ``AtTimeout`` when the go-ahead does not come within
        ``command.prompt_timeout`` or the answer within ``timeout`` seconds of the data."""
        await self._lock.acquire(urgent)
        try:
            await self._drain()
            if self._transport is None:
                raise LinkDown("port is not open")
            loop = asyncio.get_running_loop()
            cmd = replace(command, call_progress=True)  # CONNECT ends the first exchange
            pending = _Pending(cmd, cmd.solicited(), loop.create_future(), loop.create_future())
            pending.echoes.add(cmd.text.upper())
            self._pending = pending
            self._framer.expect_prompt = True
            try:
                self.write_raw(cmd.text.encode("latin-1", "replace") + b"\r")
                waiters: list[asyncio.Future[None] | asyncio.Future[Response]] = [
                    pending.prompt,
                    pending.done,
                ]
                done, _ = await asyncio.wait(
                    waiters, timeout=cmd.prompt_timeout, return_when=asyncio.FIRST_COMPLETED
                )
                if not done:
                    self.consecutive_timeouts += 1
                    why = f"{cmd.text!r}: no go-ahead (CONNECT or '> ') within {cmd.prompt_timeout:g} s"
                    self._suspect(why)
                    raise AtTimeout(why)
                self._framer.expect_prompt = False
                if pending.done.done():
                    first = pending.done.result()  # LinkDown when the port went
                    if first.final.kind is not FinalKind.CONNECT:
                        self.consecutive_timeouts = 0
                        return first  # refused
                    pending.prompt.cancel()
                    pending = _Pending(cmd, cmd.solicited(), loop.create_future(),
                                       loop.create_future())  # fmt: skip
                    self._pending = pending
                log.log(TRACE, "%s -> %d bytes of data", self.name, len(data))
                self.write_raw(data)
                response = await asyncio.wait_for(asyncio.shield(pending.done), timeout)
            except TimeoutError:
                self.consecutive_timeouts += 1
                why = f"{cmd.text!r}: no answer within {timeout:g} s of its data"
                self._suspect(why)
                raise AtTimeout(why) from None
            finally:
                if self._pending is pending:
                    self._pending = None
                self._framer.expect_prompt = False
                if not pending.prompt.done():
                    pending.prompt.cancel()
                if not pending.done.done():
                    pending.done.cancel()
            self.consecutive_timeouts = 0
            return response
        finally:
            self._lock.release()

    # ----------------------------------------------------------------- voice data streams
    @property
    def streaming(self) -> bool:
        """A data stream (``start_stream``) holds the port: no command can be sent."""
        return self._streaming

    async def start_stream(
        self, command: Command, sink: StreamSink | None, left: Callable[[], None] | None = None
    ) -> Response:
        """Run ``command`` (``AT+VTR``, ``AT+VRX``, ``AT+VTX``); on ``CONNECT`` the port is the
        stream's until ``end_stream``: commands queue behind it, the modem's plain bytes go to
        ``sink`` (None: the modem sends no data, only events) until its ``<DLE><ETX>`` (then
        ``left`` is called), and DLE events still go to the DLE listener. Any other answer is
        returned with no stream."""
        if self._dle is None:
            raise RuntimeError("a data stream needs a DLE listener (set_dle_listener)")
        await self._lock.acquire(True)
        self._stream_next = (command, sink, left)
        try:
            response = await self._exchange(command)
        except BaseException:
            # no caller is left to end a stream this started (cancelled after CONNECT): the
            # port is given back; the modem's data then reads as garbage and the line probes
            self._stream_next = None
            self._streaming, self._sink, self._left = False, None, None
            self._lock.release()
            raise
        self._stream_next = None
        if not self._streaming:
            self._lock.release()
        return response

    def write_stream(self, data: bytes) -> None:
        """Bytes into the stream (already DLE-shielded by the caller)."""
        if not self._streaming:
            raise LinkDown(f"{self.name}: no data stream is open")
        self.write_raw(data)

    async def end_stream(self, terminator: bytes | None, timeout: float) -> Response | None:
        """Write ``terminator`` (``<DLE>^``, ``<DLE>!``, ``<DLE><ETX>``) and wait for the
        modem's final result; the port is free again whatever happens (``AtTimeout`` when the
        modem did not answer: the line is told, as on any timeout). ``terminator`` None: the
        modem has left the data state by itself; the port is just given back (None)."""
        if not self._streaming:
            raise RuntimeError("no data stream is open")
        if terminator is None:
            self._sink = self._left = None
            self._streaming = False
            self._lock.release()
            return None
        loop = asyncio.get_running_loop()
        label = f"<end of stream {terminator!r}>"
        pending = _Pending(Command(label, timeout=timeout), (), loop.create_future(),
                           loop.create_future())  # fmt: skip
        self._pending = pending
        try:
            self.write_raw(terminator)
            response = await asyncio.wait_for(asyncio.shield(pending.done), timeout)
        except TimeoutError:
            self.consecutive_timeouts += 1
            why = f"{label}: no final result within {timeout:g} s"
            self._suspect(why)
            raise AtTimeout(why) from None
        finally:
            if self._pending is pending:
                self._pending = None
            if not pending.done.done():
                pending.done.cancel()
            pending.prompt.cancel()
            self._sink = self._left = None
            self._streaming = False
            self._lock.release()
        self.consecutive_timeouts = 0
        return response

    # ----------------------------------------------------------------- internals
    async def _exchange(self, cmd: Command) -> Response:
        await self._drain()
        if self._transport is None:
            raise LinkDown("port is not open")
        loop = asyncio.get_running_loop()
        pending = _Pending(cmd, cmd.solicited(), loop.create_future(), loop.create_future())
        pending.echoes.add(cmd.text.upper())
        self._pending = pending
        self._framer.expect_prompt = cmd.payload is not None
        try:
            self.write_raw(cmd.text.encode("latin-1", "replace") + b"\r")
            if cmd.payload is not None:
                await self._send_payload(pending, cmd)
            response = await asyncio.wait_for(asyncio.shield(pending.done), cmd.timeout)
        except TimeoutError:
            if cmd.ok_optional and pending.lines:
                log.info("%s: %r sent %r and no final result", self.name, cmd.text, pending.lines)
                self.last_alive = loop.time()  # it answered, just not with a final result
                return Response(cmd.text, tuple(pending.lines), IMPLIED_OK)
            self.consecutive_timeouts += 1
            why = f"{cmd.text!r}: no final result within {cmd.timeout:g} s"
            self._suspect(why)
            raise AtTimeout(why) from None
        except asyncio.CancelledError:
            if not pending.done.done():
                # The caller gave up, not the modem: the final result still comes, and taken by
                # the next command it would shift every answer after it by one (seen on a
                # lagging link: a +CLCC poll cancelled by the call's end answered the next AT).
                self._orphan = pending
                pending.done.add_done_callback(_retrieved)
            raise
        finally:
            if self._pending is pending and self._orphan is not pending:
                self._pending = None
            self._framer.expect_prompt = False
            if not pending.prompt.done():
                pending.prompt.cancel()
        self.consecutive_timeouts = 0
        return response

    async def _drain(self) -> None:
        """Let an orphaned command's final result arrive (within its own timeout) before the
        next command is written, so each command gets its own answer."""
        orphan, self._orphan = self._orphan, None
        if orphan is None:
            return
        with contextlib.suppress(TimeoutError, LinkDown):
            await asyncio.wait_for(asyncio.shield(orphan.done), orphan.command.timeout)
        if self._pending is orphan:
            self._pending = None

    async def _send_payload(self, pending: _Pending, cmd: Command) -> None:
        assert cmd.payload is not None
        waiters: list[asyncio.Future[None] | asyncio.Future[Response]] = [
            pending.prompt,
            pending.done,
        ]
        done, _ = await asyncio.wait(
            waiters,
            timeout=cmd.prompt_timeout,
            return_when=asyncio.FIRST_COMPLETED,
        )
        if not done:
            # research/modems.md 0.4: leave text-entry mode, or the next command becomes SMS text.
            log.warning("%s: no '> ' prompt for %r; sending ESC", self.name, cmd.text)
            if self._transport is not None:
                self.write_raw(bytes([ESC]))
            self.consecutive_timeouts += 1
            why = f"{cmd.text!r}: no '> ' prompt within {cmd.prompt_timeout:g} s"
            self._suspect(why)
            raise AtTimeout(why)
        if pending.done.done():
            return  # an error (or a lost port) instead of the prompt
        pending.echoes.add(cmd.payload.decode("latin-1").upper())
        self._framer.expect_prompt = False
        self.write_raw(cmd.payload + CTRL_Z)

    def _on_frame(self, frame: Frame) -> None:
        pending = self._pending
        if isinstance(frame, Prompt):
            if pending is not None and not pending.prompt.done():
                pending.prompt.set_result(None)
            return
        assert isinstance(frame, Line)
        text = frame.text
        if self._body_for is not None:
            owner, self._body_for = self._body_for, None
            if owner == "solicited" and pending is not None:
                pending.lines.append(text)
            else:
                self._dispatch(Urc(owner, text))
            return
        if pending is None or pending.done.done():
            self._unsolicited(text)
            return
        upper = text.upper()
        if upper.rstrip("\x1a") in pending.echoes and not pending.lines:
            if upper == pending.command.text.upper():
                self.echoes += 1
            return  # echo (ATE1), possibly of the prompt payload
        final = classify_final(text, numeric=self._numeric and not pending.command.bare)
        if final is not None and (final.kind not in CALL_PROGRESS or pending.command.call_progress):
            pending.done.set_result(Response(pending.command.text, tuple(pending.lines), final))
            starting = self._stream_next
            if starting is not None and starting[0] is pending.command:
                self._stream_next = None
                if final.text.upper() == "CONNECT":  # the data state starts with the next byte
                    self._streaming, self._drop_lf, self.stream_bytes = True, True, 0
                    self._sink, self._left = starting[1], starting[2]
            self.last_alive = asyncio.get_running_loop().time()
            self.junk_bytes = self.junk_lines = 0
            return
        if final is None and upper.startswith(pending.solicited):
            pending.lines.append(text)
            if upper.startswith(_BODY_HEADERS):
                self._body_for = "solicited"
            if pending.command.ok_optional and pending.command.grace is not None:
                self._await_grace(pending, pending.command.grace)
            return
        if final is None and pending.command.bare and not self._is_urc(text):
            pending.lines.append(text)
            return
        self._unsolicited(text)

    def _await_grace(self, pending: _Pending, grace: float) -> None:
        """End ``pending`` with an implied OK once nothing has arrived for ``grace`` seconds
        after its information line (a module known to omit the final result)."""
        loop = asyncio.get_running_loop()

        def check() -> None:
            if pending.done.done() or self._pending is not pending:
                return
            quiet = loop.time() - self._rx_at
            if quiet < grace:
                loop.call_later(grace - quiet, check)
                return
            command = pending.command.text
            pending.done.set_result(Response(command, tuple(pending.lines), IMPLIED_OK))
            self.last_alive = loop.time()

        loop.call_later(grace, check)

    def _is_urc(self, text: str) -> bool:
        return text.startswith(URC_PREFIXES + self.extra_urc_prefixes)

    def _unsolicited(self, text: str) -> None:
        if text.startswith(_BODY_URCS) or _PDU_CDS.match(text):
            self._body_for = text
            return
        final = classify_final(text, numeric=False)
        if final is not None and final.kind not in CALL_PROGRESS:
            log.debug(
                "%s: stray final result %r (late answer to a timed-out command?)", self.name, text
            )
            return
        if final is None and not self._is_urc(text):
            # unknown vendors send unknown URCs; endless ones with no answer between are noise
            self.junk_lines += 1
            if self.junk_lines == JUNK_LINES:
                self._suspect(f"{JUNK_LINES} lines that are neither answers nor URCs")
        self._dispatch(Urc(text))

    def _dispatch(self, urc: Urc) -> None:
        log.debug("%s: URC %r%s", self.name, urc.text, " +body" if urc.body else "")
        for listener in list(self._urc_listeners):
            try:
                listener(urc)
            except Exception:
                log.exception("%s: URC listener failed on %r", self.name, urc.text)
