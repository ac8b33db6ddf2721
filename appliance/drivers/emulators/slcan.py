"""An emulated SLCAN (LAWICEL ASCII) USB-CAN adapter on a pseudo-terminal, bridged to a CAN bus.

A host opens the pty exactly as it opens a CANable or USBtin (python-can ``interface="slcan"``,
can-utils ``slcand``): ``S<n>``/``s<btr>`` bit rate, ``O``/``L`` open, ``C`` close, ``V``/``N``
version and serial, ``t``/``T``/``r``/``R`` frames (answered ``z``/``Z`` as the adapters do).
Frames sent by the host go onto ``bus``; frames on ``bus`` reach the host as ``tIIILDD..``
lines while the channel is open. Threads, like python-can's own buses.
"""

from __future__ import annotations

import contextlib
import os
import threading
import tty
from pathlib import Path

import can

OK, ERROR = b"\r", b"\a"


class SlcanAdapter:
    def __init__(self, bus: can.BusABC, link: Path) -> None:
        self.bus = bus
        self.link = link
        self.open = False
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        with contextlib.suppress(FileNotFoundError):
            link.unlink()
        link.symlink_to(os.ttyname(self._slave))
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._from_host, daemon=True, name="slcan host"),
            threading.Thread(target=self._from_bus, daemon=True, name="slcan bus"),
        ]
        for thread in self._threads:
            thread.start()

    def close(self) -> None:
        self._stop.set()
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            self.link.unlink()

    def _write(self, data: bytes) -> None:
        with self._lock, contextlib.suppress(OSError):
            os.write(self._master, data)

    def _from_host(self) -> None:
        buffer = b""
        while not self._stop.is_set():
            try:
                chunk = os.read(self._master, 4096)
            except OSError:
                return
            buffer += chunk
            while b"\r" in buffer:
                line, buffer = buffer.split(b"\r", 1)
                self._write(self._command(line.decode("ascii", "replace")))

    def _command(self, line: str) -> bytes:
        if not line:
            return OK
        head = line[0]
        if head in "SsC":
            if head == "C":
                self.open = False
            return OK
        if head in "OL":
            self.open = True
            return OK
        if head == "V":
            return b"V1013\r"
        if head == "N":
            return b"NDBX1\r"
        if head in "tTrR" and self.open:
            extended = head in "TR"
            width = 8 if extended else 3
            try:
                can_id = int(line[1 : 1 + width], 16)
                dlc = int(line[1 + width])
                data = bytes.fromhex(line[2 + width : 2 + width + 2 * dlc]) if head in "tT" else b""
            except ValueError:
                return ERROR
            self.bus.send(
                can.Message(
                    arbitration_id=can_id,
                    is_extended_id=extended,
                    data=data,
                    is_remote_frame=head in "rR",
                    dlc=dlc,
                )
            )
            return b"Z\r" if extended else b"z\r"
        return ERROR

    def _from_bus(self) -> None:
        while not self._stop.is_set():
            msg = self.bus.recv(timeout=0.05)
            if msg is None or not self.open or msg.is_error_frame:
                continue
            if msg.is_extended_id:
                head = f"{'R' if msg.is_remote_frame else 'T'}{msg.arbitration_id:08X}{msg.dlc}"
            else:
                head = f"{'r' if msg.is_remote_frame else 't'}{msg.arbitration_id:03X}{msg.dlc}"
            body = "" if msg.is_remote_frame else bytes(msg.data).hex().upper()
            self._write((head + body).encode() + b"\r")
