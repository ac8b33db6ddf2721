"""An emulator's control socket: one command per line, answered ``ok`` (``ok <text>`` for a
command that reports something, e.g. the line card's ``status``) or ``error: ...``.

The V.253 farm and the line-card emulator take their switches (unplug, silence, an incoming call)
this way, as the GSM farm does (``gsm/farm.py``): from a shell (``socat - UNIX:DIR/control.sock``),
from tests, from the demo. A command that fails says why and the connection stays usable; a
line longer than ``MAX_LINE`` bytes is refused and the connection closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

MAX_LINE = 4096


class ControlError(ValueError):
    """A control command the emulator cannot do; the message says what it expects."""


class ControlServer:
    """The unix socket ``path``: every line is given to ``apply``; a ``ValueError`` it raises
    is the error answered, a text it returns (one line) follows the ``ok``."""

    def __init__(self, path: Path, apply: Callable[[str], str | None]) -> None:
        self.path = path
        self.apply = apply
        self._server: asyncio.AbstractServer | None = None
        self._clients: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # a stale socket of an emulator that was killed
        self._server = await asyncio.start_unix_server(self._client, str(self.path),
                                                       limit=MAX_LINE)  # fmt: skip

    async def close(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for writer in list(self._clients):
            writer.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 2.0)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._clients.add(writer)
        try:
            while True:
                try:
                    line = await reader.readline()
                except (ValueError, asyncio.LimitOverrunError):
                    writer.write(f"error: a command is at most {MAX_LINE} bytes\n".encode())
                    break
                if not line:
                    break
                command = line.decode("utf-8", "replace").strip()
                if not command:
                    continue
                try:
                    said = self.apply(command)
                    writer.write(b"ok\n" if said is None else f"ok {said}\n".encode())
                except ValueError as exc:  # ControlError, and a script value refused
                    writer.write(f"error: {exc}\n".encode())
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            self._clients.discard(writer)
            writer.close()


def switch(arg: str, action: str) -> bool:
    """``on``/``off`` (and 1/0, true/false; nothing: on) -> bool."""
    value = arg.strip().lower()
    if value in ("on", "1", "true", ""):
        return True
    if value in ("off", "0", "false"):
        return False
    raise ControlError(f"{action} takes on or off, not {arg!r}")
