"""A plain candidate row for pure scheduler tests (the store's CandidateRow has the same fields)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    contact_id: int
    state: str = "Pending"
    leased: bool = False
    matches_filter: bool = True
    due_at: float | None = None
    attempts: int = 0
    phone_index: int = 1
    number: str | None = "+48221234567"
    zone_set: int | None = 1
    tz_override: str | None = None
    dnc: bool = False
    phone_attempts: int = 0
    day_attempts: int = 0
    window_calls: int = 0
    locked_until: float = 0.0
    priority: int = 0
    step: int = 0
    last_outcome: int | None = None
