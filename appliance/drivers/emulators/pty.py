"""A pseudo-terminal that looks like a USB serial port: a stable link name, unplug and replug.

The emulator holds the master side; clients open the slave (through the link) with pyserial
exactly as they open ``/dev/ttyUSB0``. Unplugging closes the master: the client's next read
fails the way a removed USB device does ("device reports readiness to read but returned no
data"), and the link disappears until ``replug`` creates a new pty behind the same name, as a
re-enumerated modem reappears under its ``/dev/serial/by-id`` name.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tty
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)
TRACE = 5


class PtyPort:
    """One emulated serial port; ``on_data`` gets what the client writes."""

    def __init__(self, link: Path, on_data: Callable[[bytes], None]) -> None:
        self.link = link
        self._on_data = on_data
        self._master: int | None = None
        self._slave: int | None = None
        self._out = bytearray()
        self._writing = False
        self.device = ""

    @property
    def plugged(self) -> bool:
        return self._master is not None

    @property
    def pending(self) -> int:
        """Bytes written but not yet taken by the pty (the client is not reading)."""
        return len(self._out)

    def plug(self) -> None:
        """Create the pty and point the link at it."""
        if self._master is not None:
            return
        master, slave = os.openpty()
        # Raw, no echo: bytes pass untouched, like a USB CDC ACM port. Keeping our own slave fd
        # open means the master never reads EIO between client sessions.
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self.device = os.ttyname(slave)
        tmp = self.link.with_name(self.link.name + ".tmp")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        tmp.symlink_to(self.device)
        tmp.replace(self.link)  # atomic: a client never sees a half-made link
        asyncio.get_running_loop().add_reader(master, self._readable)
        log.debug("%s -> %s plugged", self.link, self.device)

    def unplug(self) -> None:
        """Remove the device: clients see their port fail; the link goes away."""
        if self._master is None:
            return
        asyncio.get_running_loop().remove_reader(self._master)
        if self._writing:
            asyncio.get_running_loop().remove_writer(self._master)
            self._writing = False
        for fd in (self._master, self._slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = None
        self._out.clear()
        with contextlib.suppress(FileNotFoundError):
            self.link.unlink()
        log.debug("%s unplugged", self.link)

    def write(self, data: bytes) -> None:
        if self._master is None or not data:
            return
        log.log(TRACE, "%s -> %r", self.link.name, data)
        self._out += data
        self._flush()

    def _flush(self) -> None:
        if self._master is None:
            return
        try:
            while self._out:
                n = os.write(self._master, self._out)
                del self._out[:n]
        except BlockingIOError:
            pass
        except OSError as exc:
            log.debug("%s: write failed: %s", self.link, exc)
            self._out.clear()
        loop = asyncio.get_running_loop()
        if self._out and not self._writing:
            loop.add_writer(self._master, self._flush)
            self._writing = True
        elif not self._out and self._writing:
            loop.remove_writer(self._master)
            self._writing = False

    def _readable(self) -> None:
        if self._master is None:
            return
        try:
            data = os.read(self._master, 4096)
        except BlockingIOError:
            return
        except OSError:
            return  # no client has the slave open; nothing to read
        if data:
            log.log(TRACE, "%s <- %r", self.link.name, data)
            self._on_data(data)
