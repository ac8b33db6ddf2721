"""Files on the module (#24): prompts uploaded to a module that plays only what it stores.

A GSM module whose call audio does not reach the host can still play a file from its own flash
to the far end (`Line.play`: Quectel ``AT+QPSND``, SIMCom ``AT+CCMXPLAY``). ``store`` puts a
WAV (8 kHz mono 16-bit, as the prompt library converts it) there with the vendor's file
commands and returns the name to play:

* Quectel (FILE AT commands manual, UFS): ``AT+QFLDS="UFS"`` (free space, checked first),
  ``AT+QFDEL="<name>"`` (the old copy: ``QFUPL`` refuses an existing file, ``+CME ERROR: 407``),
  ``AT+QFUPL="<name>",<size>,<timeout>`` -> ``CONNECT``, the bytes, -> ``+QFUPL: <size>,<sum>``
  ``OK``, where ``<sum>`` is the 16-bit XOR of the data's byte pairs (an odd last byte is the
  high byte of its pair), in hex; a size or checksum that differs from ours is a corrupted
  upload: the file is deleted and the store fails. ``AT+QFLST`` lists.
* SIMCom (SIM800 file system): ``AT+FSMEM`` (free space), ``AT+FSDEL``, ``AT+FSCREATE=<name>``,
  then ``AT+FSWRITE=<name>,<0 new|1 append>,<size>,<timeout>`` -> ``> ``, the bytes, -> ``OK``,
  at most ``SIMCOM_CHUNK`` bytes a write; ``AT+FSFLSIZE=<name>`` checks the size (SIMCom
  reports no checksum: a corrupted byte is not seen). Played as ``c:/<name>``.

What was stored since the module last (re)started is remembered by the content's SHA-256, so a
prompt is uploaded once; the memory is dropped when the line re-initialises (a reboot, a new
port) and for a file whose playback failed (`forget`): the next ``store`` uploads it again.
Refusals are ``LineError`` saying what the module said and what to do; a module without these
commands (``ERROR`` to them) is ``NotSupported``.
"""

from __future__ import annotations

import hashlib
import logging
import re
import struct
from typing import Protocol

from appliance.drivers.at.codes import FinalKind
from appliance.drivers.at.session import AtSession, AtTimeout, Command, LinkDown, Response
from appliance.drivers.gsm.profiles import Profile
from appliance.drivers.line import LineError, NotSupported, Timeouts

log = logging.getLogger(__name__)

#: Largest file stored (bytes): two minutes of 8 kHz 16-bit mono and its header.
MAX_FILE = 2 * 60 * 8000 * 2 + 44
#: DOS-8.3-friendly names (Quectel recommends them; both vendors take them unquoted).
NAME = re.compile(r"^[A-Za-z0-9_-]{1,32}\.wav$")
#: SIM800 takes at most this many bytes per AT+FSWRITE.
SIMCOM_CHUNK = 10240
#: Serial speed assumed for the transfer time when the port's is unknown (bytes per second).
LINK_RATE = 11520

#: Quectel FILE AT error codes (+CME ERROR) and what they mean to the operator.
QUECTEL_ERRORS = {
    402: "the module read zero bytes",
    403: "the module's storage is full: delete files on it (AT+QFDEL) or use shorter prompts",
    405: "no such file on the module",
    406: "the module refuses the file name",
    407: "the file already exists on the module",
    409: "the module failed to write the file",
    420: "no space left on the module: delete files on it (AT+QFDEL) or use shorter prompts",
    421: "the module timed out waiting for the file's bytes (a slow or lossy port)",
    423: "the file is too large for the module",
}


class FilesHost(Protocol):
    name: str
    profile: Profile
    timeouts: Timeouts

    @property
    def session(self) -> AtSession: ...


def checksum(data: bytes) -> int:
    """Quectel's upload checksum: XOR of the data's 16-bit big-endian words, an odd last byte
    taken as the high byte of a word whose low byte is 0."""
    if len(data) % 2:
        data += b"\x00"
    total = 0
    for (word,) in struct.iter_unpack(">H", data):
        total ^= word
    return total


def check_wav(wav: bytes) -> None:
    """LineError unless ``wav`` is a PCM WAV file, 8 kHz, mono, 16-bit, within MAX_FILE."""
    if len(wav) > MAX_FILE:
        raise LineError(f"the prompt is {len(wav)} bytes; a module takes at most {MAX_FILE} "
                        "(two minutes): shorten it")  # fmt: skip
    if len(wav) < 44 or wav[:4] != b"RIFF" or wav[8:12] != b"WAVE":
        raise LineError("the prompt is not a WAV file: convert it first (the prompt library does)")
    at = 12
    while at + 8 <= len(wav):
        kind, size = wav[at : at + 4], struct.unpack("<I", wav[at + 4 : at + 8])[0]
        if kind == b"fmt ":
            fmt, channels, rate = struct.unpack("<HHI", wav[at + 8 : at + 16])
            bits = struct.unpack("<H", wav[at + 22 : at + 24])[0]
            if (fmt, channels, rate, bits) != (1, 1, 8000, 16):
                raise LineError(f"the prompt is {rate} Hz, {channels} channel(s), {bits}-bit "
                                f"(format {fmt}); modules play 8 kHz mono 16-bit PCM")  # fmt: skip
            return
        at += 8 + size + (size & 1)
    raise LineError("the prompt's WAV file has no format chunk")


class ModuleFiles:
    """The files this driver put on one module (module docstring)."""

    def __init__(self, host: FilesHost, rate: int = LINK_RATE) -> None:
        self._host = host
        self._rate = max(rate, 1)
        self.stored: dict[str, str] = {}  # file name -> SHA-256 of its content, this boot

    @property
    def kind(self) -> str | None:
        return self._host.profile.files

    def play_name(self, name: str) -> str:
        return self._host.profile.stored_file.format(name=name)

    def forget(self, name: str | None = None) -> None:
        """The module may have lost ``name`` (None: everything, e.g. it restarted)."""
        if name is None:
            self.stored.clear()
        else:
            self.stored.pop(name, None)

    async def store(self, name: str, wav: bytes) -> str:
        """Put ``wav`` on the module as ``name`` (once per content and module start); the name
        to give ``Line.play``."""
        kind = self.kind
        host = self._host
        if kind is None:
            raise NotSupported(f"{host.name}: {host.profile.name} modules take no uploaded files")
        if not NAME.match(name):
            raise LineError(f"{host.name}: {name!r} is not a module file name (letters, digits, "
                            "_ and -, at most 32, then .wav)")  # fmt: skip
        check_wav(wav)
        digest = hashlib.sha256(wav).hexdigest()
        if self.stored.get(name) == digest:
            return self.play_name(name)
        self.stored.pop(name, None)
        try:
            if kind == "quectel":
                await self._quectel(name, wav)
            else:
                await self._simcom(name, wav)
        except (AtTimeout, LinkDown) as exc:
            raise LineError(f"{host.name}: uploading {name}: {exc}") from exc
        self.stored[name] = digest
        log.info("%s: stored %s on the module (%d bytes)", host.name, name, len(wav))
        return self.play_name(name)

    async def list(self) -> dict[str, int]:
        """The module's files and their sizes."""
        kind = self.kind
        if kind is None:
            raise NotSupported(
                f"{self._host.name}: {self._host.profile.name} modules list no files"
            )
        text = 'AT+QFLST="*"' if kind == "quectel" else "AT+FSLS=C:\\User\\"
        response = await self._check(Command(text, timeout=self._host.timeouts.command,
                                             bare=kind != "quectel"), "listing files")  # fmt: skip
        files: dict[str, int] = {}
        if kind == "quectel":
            for value in response.values("+QFLST:"):
                fname, _, size = value.rpartition(",")
                files[fname.strip().strip('"')] = int(size) if size.strip().isdigit() else 0
        else:
            for line in response.lines:
                entry = line.strip()
                if entry and not entry.endswith("\\") and not entry.startswith("+"):
                    files[entry] = -1  # FSLS gives names only
        return files

    async def delete(self, name: str) -> None:
        """Delete ``name`` from the module (no such file: nothing to do)."""
        self.stored.pop(name, None)
        text = f'AT+QFDEL="{name}"' if self.kind == "quectel" else f"AT+FSDEL=C:\\User\\{name}"
        await self._host.session.run(Command(text, timeout=self._host.timeouts.command))

    # ------------------------------------------------------------------ vendors
    def _transfer_time(self, size: int) -> float:
        return size / self._rate * 2 + self._host.timeouts.command

    async def _check(self, command: Command, what: str) -> Response:
        try:
            response = await self._host.session.run(command)
        except (AtTimeout, LinkDown) as exc:
            raise LineError(f"{self._host.name}: {what}: {exc}") from exc
        if not response.ok:
            self._refused(response.final.text, response.final.kind, what)
        return response

    def _refused(self, text: str, kind: FinalKind, what: str, *, first: bool = True) -> None:
        name = self._host.name
        if kind is FinalKind.ERROR and not first:
            raise LineError(f"{name}: {what}: the module refused the data (ERROR): its storage "
                            "may be full: delete files on it or use shorter prompts")  # fmt: skip
        if kind is FinalKind.ERROR:  # a plain ERROR: the command is not there (or refused)
            raise NotSupported(f"{name}: {what}: the module answered ERROR (no file commands on "
                               "this firmware?): prompts can only be played from its own files")  # fmt: skip
        code = text.rpartition(":")[2].strip()
        meaning = QUECTEL_ERRORS.get(int(code)) if code.isdigit() else None
        raise LineError(f"{name}: {what}: {text}" + (f" ({meaning})" if meaning else ""))

    async def _free(self, command: str, prefix: str) -> int | None:
        """Free bytes on the module's storage, or None when it does not say."""
        try:
            response = await self._host.session.run(
                Command(command, timeout=self._host.timeouts.command)
            )
        except (AtTimeout, LinkDown):
            return None
        for value in response.values(prefix):
            digits = re.findall(r"\d+", value)
            if digits:
                return int(digits[0])
        return None

    async def _room(self, name: str, size: int, free: int | None) -> None:
        if free is not None and free < size:
            raise LineError(f"{self._host.name}: storing {name}: the module's storage is full "
                            f"({free} bytes free, {size} needed): delete files on it or use "
                            "shorter prompts")  # fmt: skip

    async def _quectel(self, name: str, wav: bytes) -> None:
        host, session = self._host, self._host.session
        await self._room(name, len(wav), await self._free('AT+QFLDS="UFS"', "+QFLDS:"))
        await session.run(Command(f'AT+QFDEL="{name}"', timeout=host.timeouts.command))
        wait = int(min(max(self._transfer_time(len(wav)), 5), 65535))
        command = Command(f'AT+QFUPL="{name}",{len(wav)},{wait}', timeout=host.timeouts.command,
                          prompt_timeout=host.timeouts.prompt)  # fmt: skip
        response = await session.send_data(command, wav, timeout=self._transfer_time(len(wav)))
        if not response.ok:
            self._refused(response.final.text, response.final.kind, f"uploading {name}")
        values = response.values("+QFUPL:")
        if not values:
            raise LineError(f"{host.name}: uploading {name}: no +QFUPL: size and checksum")
        size, _, summed = values[0].partition(",")
        ours = checksum(wav)
        try:
            theirs = int(summed.strip(), 16)
            good = int(size) == len(wav) and theirs == ours
        except ValueError:
            good, theirs = False, -1
        if not good:
            await session.run(Command(f'AT+QFDEL="{name}"', timeout=host.timeouts.command))
            raise LineError(f"{host.name}: uploading {name}: the module got {size.strip()} bytes "
                            f"with checksum {summed.strip()}, {len(wav)} were sent with "
                            f"{ours:04x}: the upload was corrupted on the port (deleted; check "
                            "the cable, the baud rate, flow control)")  # fmt: skip

    async def _simcom(self, name: str, wav: bytes) -> None:
        host, session = self._host, self._host.session
        path = f"C:\\User\\{name}"
        await self._room(name, len(wav), await self._free("AT+FSMEM", "+FSMEM:"))
        await session.run(Command(f"AT+FSDEL={path}", timeout=host.timeouts.command))
        await self._check(Command(f"AT+FSCREATE={path}", timeout=host.timeouts.command),
                          f"creating {name}")  # fmt: skip
        for at in range(0, len(wav), SIMCOM_CHUNK):
            chunk = wav[at : at + SIMCOM_CHUNK]
            wait = int(min(max(self._transfer_time(len(chunk)), 5), 50))
            command = Command(f"AT+FSWRITE={path},{1 if at else 0},{len(chunk)},{wait}",
                              timeout=host.timeouts.command,
                              prompt_timeout=host.timeouts.prompt)  # fmt: skip
            response = await session.send_data(command, chunk,
                                               timeout=self._transfer_time(len(chunk)))  # fmt: skip
            if not response.ok:
                await session.run(Command(f"AT+FSDEL={path}", timeout=host.timeouts.command))
                self._refused(
                    response.final.text, response.final.kind, f"writing {name}", first=False
                )
        size = await self._free(f"AT+FSFLSIZE={path}", "+FSFLSIZE:")
        if size is not None and size != len(wav):
            await session.run(Command(f"AT+FSDEL={path}", timeout=host.timeouts.command))
            raise LineError(f"{host.name}: uploading {name}: the module holds {size} bytes, "
                            f"{len(wav)} were sent: the upload was cut on the port (deleted)")  # fmt: skip
