"""The emulated module's file storage (#24): uploads by the vendor's file commands, kept in a
bounded flash that survives reboots, and played by the playback commands (calls.py).

Quectel (UFS): ``AT+QFLDS="UFS"`` -> ``+QFLDS: <free>,<total>``; ``AT+QFLST[="*"]`` ->
``+QFLST: "<name>",<size>`` per file; ``AT+QFDEL="<name>"`` (``*``: all; missing: ``+CME ERROR:
405``); ``AT+QFUPL="<name>"[,<size>[,<timeout>]]`` -> ``CONNECT``, then exactly ``<size>`` raw
bytes -> ``+QFUPL: <size>,<checksum>`` (16-bit XOR of byte pairs, hex) ``OK``; refused with
``+CME ERROR: 407`` (exists), ``403`` (no room), ``406`` (bad name); no byte for ``<timeout>``
seconds: ``+CME ERROR: 421`` and nothing is kept.

SIMCom (SIM800 file system, files under ``C:\\User\\``): ``AT+FSCREATE=<path>``,
``AT+FSWRITE=<path>,<0 new|1 append>,<size>,<timeout>`` -> ``> ``, ``<size>`` raw bytes (at
most 10240 a write) -> ``OK``; ``AT+FSDEL``, ``AT+FSLS``, ``AT+FSMEM`` -> ``+FSMEM:
C:<free>bytes``, ``AT+FSFLSIZE=<path>`` -> ``+FSFLSIZE: <size>``; failures: plain ``ERROR``.

Hostile switches for tests: ``capacity`` (bytes of flash), ``corrupt`` (the next upload has a
byte changed on its way: Quectel's checksum differs), ``refuse`` (the next upload is refused:
a Quectel CME code, SIMCom ``ERROR``), ``lose()`` (the flash is wiped, as by a firmware update).
"""

from __future__ import annotations

import io
import struct
import wave
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from appliance.drivers.emulators.gsm.device import CmdError, Op, ResultLater, handles, split_args

if TYPE_CHECKING:
    import asyncio

    from appliance.drivers.emulators.gsm.device import EmulatedModem

#: Default flash for files (bytes): a few minutes of 8 kHz prompts.
CAPACITY = 4 * 1024 * 1024
SIMCOM_CHUNK = 10240
SIMCOM_DIR = "C:\\USER\\"


def _silent_wav() -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(bytes(16000))
    return out.getvalue()


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total = 0
    for (word,) in struct.iter_unpack(">H", data):
        total ^= word
    return total


class FileStore:
    def __init__(self, modem: EmulatedModem, capacity: int = CAPACITY) -> None:
        self.m = modem
        self.capacity = capacity
        self.files: dict[str, bytes] = {}
        self.corrupt = False
        self.refuse: int | None = None  # CME code of the next upload's refusal (SIMCom: ERROR)
        self.played: list[tuple[str, bytes]] = []  # (file, its content) per playback
        self.uploads = 0  # uploads completed (for tests: stored once, not per call)
        self._timer: asyncio.TimerHandle | None = None

    @property
    def used(self) -> int:
        return sum(len(data) for data in self.files.values())

    @property
    def free(self) -> int:
        return max(self.capacity - self.used, 0)

    def provision(self, names: Iterable[str], data: bytes = b"") -> None:
        """Put files on the flash as a provisioned module ships with them (the demo's messages):
        ``data`` (a silent second of 8 kHz WAV when empty) under each name."""
        content = data or _silent_wav()
        for name in names:
            self.files[name] = content

    def lose(self) -> None:
        self.files.clear()

    def lookup(self, name: str) -> bytes | None:
        """A file by the name playback is given (``c:/x.wav``, ``UFS:x.wav``, ``x.wav``)."""
        key = name.replace("/", "\\")
        for prefix in ("C:\\USER\\", "C:\\", "UFS:"):
            if key.upper().startswith(prefix):
                key = key[len(prefix) :]
                break
        return self.files.get(key)

    def abort(self) -> None:
        """A reboot or brown-out ends an upload in progress: its bytes are lost."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.m.data_sink = None

    def receive(self, size: int, timeout: float, done: Callable[[bytes | None], None]) -> None:
        """Take the next ``size`` raw bytes from the AT port; ``done`` gets them, or None when
        no byte came for ``timeout`` seconds."""
        m = self.m
        got = bytearray()

        def expire() -> None:
            self._timer = None
            m.data_sink = None
            done(None)

        def sink(data: bytes) -> bytes:
            if self._timer is not None:
                self._timer.cancel()
            want = size - len(got)
            got.extend(data[:want])
            if len(got) < size:
                self._timer = m.later(timeout, expire)
                return b""
            self._timer = None
            m.data_sink = None
            body = bytes(got)
            if self.corrupt and body:
                self.corrupt = False
                i = len(body) // 2
                body = body[:i] + bytes([body[i] ^ 0x5A]) + body[i + 1 :]
            done(body)
            return data[want:]

        m.data_sink = sink
        self._timer = m.later(timeout, expire)


def _store(m: EmulatedModem) -> FileStore:
    return m.files


# ---------------------------------------------------------------------- Quectel
@handles("+QFLDS")
def qflds(m: EmulatedModem, op: Op) -> None:
    store = _store(m)
    m.info(f"+QFLDS: {store.free},{store.capacity}")


@handles("+QFLST")
def qflst(m: EmulatedModem, op: Op) -> None:
    for name, data in sorted(_store(m).files.items()):
        m.info(f'+QFLST: "{name}",{len(data)}')


@handles("+QFDEL")
def qfdel(m: EmulatedModem, op: Op) -> None:
    store = _store(m)
    args = split_args(op.args)
    name = args[0] if args else ""
    if name == "*":
        store.files.clear()
    elif store.files.pop(name, None) is None:
        raise CmdError(cme=405)


@handles("+QFUPL")
def qfupl(m: EmulatedModem, op: Op) -> None:
    store = _store(m)
    if op.kind == "test":
        m.info(f'+QFUPL: "<filename>",(1-{store.free}),(1-65535),(0,1)')
        return
    args = split_args(op.args)
    if op.kind != "set" or not args or not args[0]:
        raise CmdError(cme=425)
    name = args[0]
    size = op.int_arg(1, 10240)
    timeout = op.int_arg(2, 5)
    if len(name) > 80 or any(c in name for c in '/\\:*?"<>|'):
        raise CmdError(cme=406)
    if name in store.files:
        raise CmdError(cme=407)
    if store.refuse is not None:
        code, store.refuse = store.refuse, None
        raise CmdError(cme=code)
    if size > store.free:
        raise CmdError(cme=403)

    def done(body: bytes | None) -> None:
        if body is None:
            m.error(CmdError(cme=421))
            return
        store.files[name] = body
        store.uploads += 1
        m.info(f"+QFUPL: {len(body)},{checksum(body):x}")
        m.result("OK")

    m.result("CONNECT")
    store.receive(size, timeout, done)
    raise ResultLater


# ---------------------------------------------------------------------- SIMCom
def _path(op: Op) -> str:
    """The file's name under C:\\User\\ (SIMCom takes the path unquoted or quoted)."""
    args = split_args(op.args)
    path = args[0] if args else ""
    if not path.upper().startswith(SIMCOM_DIR) or len(path) <= len(SIMCOM_DIR):
        raise CmdError()
    return path[len(SIMCOM_DIR) :]


@handles("+FSCREATE")
def fscreate(m: EmulatedModem, op: Op) -> None:
    store, name = _store(m), _path(op)
    if name in store.files:
        raise CmdError()
    store.files[name] = b""


@handles("+FSDEL")
def fsdel(m: EmulatedModem, op: Op) -> None:
    if _store(m).files.pop(_path(op), None) is None:
        raise CmdError()


@handles("+FSLS")
def fsls(m: EmulatedModem, op: Op) -> None:
    for name in sorted(_store(m).files):
        m.info(name)


@handles("+FSMEM")
def fsmem(m: EmulatedModem, op: Op) -> None:
    m.info(f"+FSMEM: C:{_store(m).free}bytes")


@handles("+FSFLSIZE")
def fsflsize(m: EmulatedModem, op: Op) -> None:
    data = _store(m).files.get(_path(op))
    if data is None:
        raise CmdError()
    m.info(f"+FSFLSIZE: {len(data)}")


@handles("+FSWRITE")
def fswrite(m: EmulatedModem, op: Op) -> None:
    store, name = _store(m), _path(op)
    mode, size, timeout = op.int_arg(1), op.int_arg(2), op.int_arg(3, 10)
    old = store.files.get(name)
    if old is None or mode not in (0, 1) or not 0 < size <= SIMCOM_CHUNK:
        raise CmdError()
    if store.refuse is not None:
        store.refuse = None
        raise CmdError()
    kept = len(old) if mode == 1 else 0
    if size - (len(old) - kept) > store.free:
        raise CmdError()

    def done(body: bytes | None) -> None:
        if body is None:
            m.result("ERROR")
            return
        current = store.files.get(name, b"")
        store.files[name] = (current if mode == 1 else b"") + body
        store.uploads += mode == 0
        m.result("OK")

    m.write(b"\r\n> ")
    store.receive(size, timeout, done)
    raise ResultLater
