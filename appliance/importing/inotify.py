"""Linux inotify through ctypes, only to learn which files were renamed into watched directories.

A file renamed in is complete (writers that care write `name.part` and rename), so the hot folder
imports it at once instead of waiting for it to settle. Elsewhere (or on a network share, where
the kernel sees no remote events) `RenameWatcher.open()` returns None and settling alone decides.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import struct
import sys
from pathlib import Path

log = logging.getLogger(__name__)

IN_MOVED_TO = 0x00000080
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000
IN_ISDIR = 0x40000000
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len; then `len` bytes of NUL-padded name


class RenameWatcher:
    """Collects the paths renamed into the directories it watches; read without blocking."""

    def __init__(self, libc: ctypes.CDLL, fd: int) -> None:
        self._libc = libc
        self._fd = fd
        self._dirs: dict[int, Path] = {}
        self._watched: set[Path] = set()
        self.overflowed = False

    @classmethod
    def open(cls) -> RenameWatcher | None:
        if not sys.platform.startswith("linux"):
            return None
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        except (OSError, AttributeError):
            return None
        if fd < 0:
            log.warning(
                "inotify unavailable (errno %d); hot folder relies on settling", ctypes.get_errno()
            )
            return None
        return cls(libc, fd)

    def fileno(self) -> int:
        return self._fd

    def watch(self, directory: Path) -> None:
        if directory in self._watched:
            return
        wd = self._libc.inotify_add_watch(
            self._fd, os.fsencode(directory), IN_MOVED_TO | IN_ONLYDIR
        )
        if wd < 0:
            log.warning("cannot watch %s (errno %d)", directory, ctypes.get_errno())
            return
        self._dirs[wd] = directory
        self._watched.add(directory)

    def drain(self) -> set[Path]:
        """Every file path renamed in since the last call (events already queued by the kernel)."""
        moved: set[Path] = set()
        while True:
            try:
                data = os.read(self._fd, 65536)
            except BlockingIOError:
                return moved
            offset = 0
            while offset + _EVENT.size <= len(data):
                wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
                raw = data[offset + _EVENT.size : offset + _EVENT.size + length]
                offset += _EVENT.size + length
                if mask & IN_Q_OVERFLOW:
                    self.overflowed = True  # settling still covers whatever was missed
                elif mask & IN_IGNORED:
                    directory = self._dirs.pop(wd, None)
                    if directory is not None:
                        self._watched.discard(directory)
                elif mask & IN_MOVED_TO and not mask & IN_ISDIR and wd in self._dirs:
                    moved.add(self._dirs[wd] / os.fsdecode(raw.rstrip(b"\0")))

    def close(self) -> None:
        os.close(self._fd)
