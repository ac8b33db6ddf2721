"""systemd's notify protocol (sd_notify): READY=1, STATUS=, WATCHDOG=1, STOPPING=1 over a datagram socket.

A few lines over $NOTIFY_SOCKET, so no dependency is needed. Outside systemd (no socket) every call
is a no-op, which is what a developer running `dialbox run` in a terminal wants.
"""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, address: str | None = None) -> None:
        self.address = address if address is not None else os.environ.get("NOTIFY_SOCKET", "")
        self._sock: socket.socket | None = None
        if self.address:
            # Non-blocking: a notification that cannot be queued is dropped, never allowed to
            # stall the event loop (a full receive queue blocks a plain sendto()).
            self._sock = socket.socket(
                socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK
            )

    @property
    def enabled(self) -> bool:
        return self._sock is not None

    def _target(self) -> str | bytes:
        # An address starting with '@' is in the abstract namespace (leading NUL byte).
        if self.address.startswith("@"):
            return b"\0" + self.address[1:].encode()
        return self.address

    def send(self, **fields: str | int) -> bool:
        """Send KEY=VALUE lines, e.g. send(READY=1, STATUS="3 lines up"); False if not delivered."""
        if self._sock is None:
            return False
        message = "\n".join(f"{key}={value}" for key, value in fields.items()).encode()
        try:
            self._sock.sendto(message, self._target())
        except BlockingIOError:
            log.debug("systemd's notify queue is full; dropped %r", message)
            return False
        except OSError as exc:
            log.warning("cannot notify systemd at %s: %s", self.address, exc)
            return False
        return True

    def ready(self, status: str) -> bool:
        return self.send(READY=1, STATUS=status)

    def status(self, status: str) -> bool:
        return self.send(STATUS=status)

    def watchdog(self) -> bool:
        return self.send(WATCHDOG=1)

    def stopping(self, status: str = "draining") -> bool:
        return self.send(STOPPING=1, STATUS=status)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def watchdog_interval() -> float | None:
    """Half of $WATCHDOG_USEC in seconds when the watchdog is armed for this process, else None."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return int(usec) / 2_000_000
    except ValueError:
        return None
