"""The emulator's call journal: every ``ATD`` a modem received, every call that rang in, and
what became of each call.

One JSON document per line, appended with a single ``write(2)`` on a descriptor opened
``O_APPEND`` (no buffer in this process), so a line is in the file the moment it is recorded:
it survives the dialer being killed, and the emulator too. Benches compare it with the
dialer's database (``bench/chaos.py``): the far end's record of what was really dialed.

Events (``t`` is wall-clock UTC seconds, ``time.time()``, the dialer's clock)::

    {"t": …, "event": "dial", "call": 7, "modem": "gsm2", "number": "+12125550100",
     "plan": "answer"}                                  ATD accepted: the call exists
    {"t": …, "event": "dial", "call": 8, "modem": "gsm2", "number": "…",
     "refused": "+CME ERROR: 30"}                       ATD refused: no call was made
    {"t": …, "event": "alerting", "call": 7, "modem": "gsm2", "number": "…"}
    {"t": …, "event": "answer", "call": 7, "modem": "gsm2", "number": "…"}
    {"t": …, "event": "end", "call": 7, "modem": "gsm2", "number": "…", "answered": true,
     "by": "far end" | "host" | "module gone", "cause": 16, "seconds": 4}
    {"t": …, "event": "control", "command": "gsm2 unplug"}   a failure switch was thrown
    {"t": …, "event": "incoming", "call": 9, "modem": "gsm0", "number": "+48601234567",
     "withheld": false}                                 a call rings in (callers.py)
    {"t": …, "event": "key", "call": 9, "modem": "gsm0", "number": "…", "key": "1"}
                                                        the answered caller pressed a key
    {"t": …, "event": "audio", "call": 7, "modem": "gsm2", "number": "…", "sound": "machine"}
                                                        the call's audio started (audio.py)

``by``: the callee or the network released the call (``cause`` per 24.008), the host hung
up (``ATH``/``+CHUP``/``+CHLD``), or the module went away with the call (unplug, reboot);
``answered`` says whether the callee had answered. A call of an emulator that is killed has
no ``end``.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from pathlib import Path
from typing import Any


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._ids = itertools.count(_first_id(path))

    def next_id(self) -> int:
        return next(self._ids)

    def record(self, event: str, **fields: Any) -> None:
        if self._fd is None:
            return
        line = json.dumps({"t": round(time.time(), 4), "event": event, **fields}) + "\n"
        os.write(self._fd, line.encode())

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _first_id(path: Path) -> int:
    """Call ids go on from the journal's last one: an emulator restarted on the same journal
    (after being killed) never reuses an id."""
    last = 0
    try:
        with path.open("rb") as f:
            for raw in f:
                try:
                    last = max(last, int(json.loads(raw).get("call", 0)))
                except (ValueError, TypeError, AttributeError):
                    continue  # a line cut by a kill
    except FileNotFoundError:
        pass
    return last + 1


def read(path: Path) -> list[dict[str, Any]]:
    """Every whole event of a journal, in order (a last line cut by a kill is skipped)."""
    events: list[dict[str, Any]] = []
    try:
        with path.open("rb") as f:
            for raw in f:
                try:
                    item = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(item, dict):
                    events.append(item)
    except FileNotFoundError:
        pass
    return events
