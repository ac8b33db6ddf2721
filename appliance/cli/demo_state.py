"""The demo's state directory (var/demo): one demo at a time on it, `--fresh` to start over, and
the demo's log file there instead of the terminal.

A directory is the demo's when it is empty or holds the demo's lock or database; `--fresh` removes
no other (so `--fresh --state-dir ~` is refused, not obeyed). The lock is an exclusive `flock` the
kernel drops when the process dies, so a demo killed with SIGKILL leaves nothing that stops the
next one: its database is re-used like any other (the daemon marks its calls in flight Dangling).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from appliance.errors import DialboxError

LOCK = "demo.lock"
DATABASE = "dialbox.db"
LOG = "demo.log"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class DemoStateError(DialboxError):
    """The state directory cannot be used; the message says why and what to do (exit 2)."""


@dataclass(frozen=True)
class StateDir:
    path: Path
    fresh: bool  # True: created now (first run, or --fresh); False: a last run's, re-used

    @property
    def database(self) -> Path:
        return self.path / DATABASE

    @property
    def log(self) -> Path:
        return self.path / LOG


def shown(path: Path) -> str:
    """`path` as a person would type it here: relative to the working directory when under it."""
    with contextlib.suppress(ValueError):
        return str(path.relative_to(Path.cwd()))
    return str(path)


def _is_demo_dir(path: Path) -> bool:
    return not any(path.iterdir()) or (path / LOCK).exists() or (path / DATABASE).exists()


def _holder(path: Path) -> str:
    with contextlib.suppress(OSError, ValueError):
        return f" (pid {int((path / LOCK).read_text().strip())})"
    return ""


@contextlib.contextmanager
def claim(path: Path, *, fresh: bool) -> Iterator[StateDir]:
    """Hold `path` as this demo's state directory for the block: created if missing, emptied
    first with `fresh`; refused (DemoStateError) when another demo holds it, it is not a
    directory, it cannot be written, or `fresh` would remove what the demo did not make."""
    path = path.resolve()
    if path.exists() and not path.is_dir():
        raise DemoStateError(f"{shown(path)} is not a directory; give another --state-dir")
    if path.is_dir() and _locked_by_other(path):
        raise DemoStateError(
            f"another demo runs on {shown(path)}{_holder(path)}: stop it (Ctrl-C) first, or "
            "give this one its own --state-dir"
        )
    existed = path.is_dir() and any(path.iterdir())
    if fresh and existed:
        if not _is_demo_dir(path):
            raise DemoStateError(
                f"not removing {shown(path)}: it holds files the demo did not make; give "
                "--state-dir an empty or new directory"
            )
        try:
            shutil.rmtree(path)
        except OSError as exc:
            raise DemoStateError(_unwritable(path, exc)) from None
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd = os.open(path / LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise DemoStateError(_unwritable(path, exc)) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # another demo took it between the check and here
            raise DemoStateError(
                f"another demo runs on {shown(path)}: stop it first, or give --state-dir"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        if not os.access(path, os.W_OK | os.X_OK):  # root passes the flock but not this
            raise DemoStateError(_unwritable(path, PermissionError(13, "Permission denied")))
        yield StateDir(path, fresh=fresh or not existed)
    finally:
        os.close(fd)  # drops the lock


def _locked_by_other(path: Path) -> bool:
    try:
        fd = os.open(path / LOCK, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
    return False


def _unwritable(path: Path, exc: OSError) -> str:
    return (
        f"cannot write the demo's state directory {shown(path)}: {exc.strerror or exc}; "
        "fix its permissions or give a writable --state-dir"
    )


@contextlib.contextmanager
def logs_to(file: Path, verbose: int = 0) -> Iterator[None]:
    """Send every log line to `file` instead of the terminal for the block (the live view owns
    the screen); the daemon's own in-memory log (the console's Logs pane) is not touched."""
    root = logging.getLogger()
    saved = [h for h in root.handlers if isinstance(h, logging.StreamHandler)]
    saved = [h for h in saved if not isinstance(h, logging.FileHandler)]
    try:
        handler = logging.FileHandler(file, encoding="utf-8")
    except OSError as exc:
        raise DemoStateError(_unwritable(file.parent, exc)) from None
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.setLevel(logging.DEBUG if verbose else logging.INFO)
    appliance = logging.getLogger("appliance")
    level = appliance.level
    for old in saved:
        root.removeHandler(old)
    root.addHandler(handler)
    appliance.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)
    logging.captureWarnings(True)  # Python's warnings too, which would print on stderr
    try:
        yield
    finally:
        logging.captureWarnings(False)
        root.removeHandler(handler)
        handler.close()
        for old in saved:
            root.addHandler(old)
        appliance.setLevel(level)
