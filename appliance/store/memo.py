"""Reads of the store kept until the database changes (#28): what the API's live views and the
metrics ask for many times a second (the campaigns and their kept counts, the per-minute dials)
is read once per change of the database, not once per request.

A kept value is exact, not merely recent: it is dropped as soon as `Database.generation` moves,
which it does on any commit by any connection and on any write in this connection's open
transaction. So a request never sees a figure older than the database it reads; during
dialing the database changes a few times a second, and each change costs one new read."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TypeVar

from appliance.store.db import Database

T = TypeVar("T")


class Memo:
    """Values computed from `db` (and from the other parts of their key), kept while the
    database's generation stays the same. `compute` must only read."""

    LIMIT = 256  # values kept at most

    def __init__(self, db: Database) -> None:
        self.db = db
        self._generation: int | None = None
        self._values: dict[Hashable, tuple[tuple[object, ...], object]] = {}
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable, compute: Callable[[], T], *, inputs: tuple[object, ...] = ()) -> T:
        """`compute()`, or what it gave for `key` since the database last changed. `inputs`:
        the other objects the value depends on (the running config, a figures snapshot); a
        value kept for other objects than these is computed again."""
        generation = self.db.generation()
        if generation != self._generation:
            self._values.clear()
            self._generation = generation
        kept = self._values.get(key)
        if (
            kept is not None
            and len(kept[0]) == len(inputs)
            and all(a is b for a, b in zip(kept[0], inputs, strict=True))
        ):
            self.hits += 1
            return kept[1]  # type: ignore[return-value]
        self.misses += 1
        value = compute()
        if self.db.generation() == generation:  # nothing changed meanwhile (a write by compute)
            if len(self._values) >= self.LIMIT:  # keys with a time in them, on an idle store
                self._values.clear()
            self._values[key] = (inputs, value)
        return value
