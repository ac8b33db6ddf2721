"""The daemon's recent log lines kept in memory, for the API's /logs and the console."""

from __future__ import annotations

import collections
import logging
import time
from typing import Any


class LogBuffer(logging.Handler):
    """A ring of the last `size` records, each with a sequence number for "since" polling."""

    def __init__(self, size: int = 2000) -> None:
        super().__init__(logging.DEBUG)
        self.records: collections.deque[dict[str, Any]] = collections.deque(maxlen=size)
        self.seq = 0

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                message += f" ({type(record.exc_info[1]).__name__}: {record.exc_info[1]})"
        except Exception:  # a bad format string must not lose the line
            message = str(record.msg)
        self.seq += 1
        self.records.append(
            {
                "seq": self.seq,
                "time": record.created,
                "level": record.levelname,
                "logger": record.name,
                "message": message,
            }
        )

    def lines(
        self, *, after: int = 0, level: str = "DEBUG", grep: str | None = None, limit: int = 200
    ) -> list[dict[str, Any]]:
        floor = logging.getLevelName(level.upper())
        floor = floor if isinstance(floor, int) else logging.DEBUG
        needle = grep.lower() if grep else None
        out = [
            r
            for r in self.records
            if r["seq"] > after
            and logging.getLevelName(r["level"]) >= floor
            and (needle is None or needle in r["message"].lower() or needle in r["logger"])
        ]
        return out[-limit:]


def now_text(ts: float | None = None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts if ts is not None else time.time()))
