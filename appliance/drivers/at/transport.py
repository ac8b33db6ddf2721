"""Open a port URL (device path, pty, ``socket://``, ``loop://``) as an asyncio transport.

pyserial-asyncio-fast opens the port through ``serial.serial_for_url`` in an executor and
watches its file descriptor. Ports without one (``loop://``, ``rfc2217://``) are polled instead,
as the library itself does on Windows. Device ports are opened ``exclusive`` (flock), so a second
opener such as ModemManager fails loudly instead of stealing bytes (research/modems.md 3.3-3.4).
"""

from __future__ import annotations

import asyncio
import errno
import logging
from collections.abc import Callable
from typing import Any

import serial
import serial_asyncio_fast

log = logging.getLogger(__name__)


class PortError(OSError):
    """The port cannot be opened; the message says why and what to check."""


class _PolledSerialTransport(serial_asyncio_fast.SerialTransport):
    """For ports without a file descriptor: poll like the library's Windows variant."""

    _poll_handle: asyncio.TimerHandle | None = None

    def __init__(
        self, loop: asyncio.AbstractEventLoop, protocol: asyncio.Protocol, port: serial.Serial
    ) -> None:
        super().__init__(loop, protocol, port)
        # loop:// times a write against write_timeout; the library's 0 would fail every write.
        port.write_timeout = None

    def _ensure_reader(self) -> None:
        if not self._has_reader and not self._closing:
            self._has_reader = True
            self._poll_handle = self._loop.call_later(0.005, self._poll)

    def _poll(self) -> None:
        if not self._has_reader or self._closing:
            return
        try:
            if self._serial.in_waiting:
                self._read_ready()
        except serial.SerialException as exc:
            self._close(exc)
            return
        self._poll_handle = self._loop.call_later(0.005, self._poll)

    def _remove_reader(self) -> None:
        self._has_reader = False
        if self._poll_handle is not None:
            self._poll_handle.cancel()

    def _ensure_writer(self) -> None:
        if not self._has_writer and not self._closing:
            self._has_writer = True
            self._loop.call_soon(self._drain)

    def _drain(self) -> None:
        if self._has_writer and not self._closing:
            self._write_ready()
            if self._write_buffer:
                self._loop.call_later(0.005, self._drain)

    def _remove_writer(self) -> None:
        self._has_writer = False


async def open_port(
    url: str, protocol_factory: Callable[[], asyncio.Protocol], baudrate: int = 115200
) -> asyncio.Transport:
    """Open ``url`` and connect it to a protocol; raise ``PortError`` with a helpful message."""
    loop = asyncio.get_running_loop()
    kwargs: dict[str, Any] = {"baudrate": baudrate}
    if "://" not in url:
        kwargs["exclusive"] = True
    try:
        if url.startswith(("loop://", "rfc2217://")):
            port = await loop.run_in_executor(None, lambda: serial.serial_for_url(url, **kwargs))
            transport: asyncio.Transport = _PolledSerialTransport(loop, protocol_factory(), port)
            return transport
        transport, _ = await serial_asyncio_fast.create_serial_connection(
            loop, protocol_factory, url, **kwargs
        )
        return transport
    except serial.SerialException as exc:
        raise PortError(_explain(url, exc)) from exc
    except OSError as exc:
        raise PortError(_explain(url, exc)) from exc


def _explain(url: str, exc: Exception) -> str:
    code = getattr(exc, "errno", None)
    text = str(exc)
    if code == errno.ENOENT or "No such file" in text or "[Errno 2]" in text:
        return f"{url}: no such port (unplugged? use a stable /dev/serial/by-id/... path)"
    if code in (errno.EAGAIN, errno.EWOULDBLOCK) or "exclusively" in text or "[Errno 11]" in text:
        return f"{url}: port in use by another program (ModemManager? see docs/drivers.md)"
    if code == errno.EACCES or "[Errno 13]" in text:
        return f"{url}: permission denied (add the user to the dialout group)"
    return f"{url}: cannot open port: {text}"
