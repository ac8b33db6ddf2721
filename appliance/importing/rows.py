"""Validating one record into an insert-ready contact row (SPEC D1) or the rejects that say why not."""

from __future__ import annotations

import array
import datetime as dt
import functools
import hashlib
import operator
import zoneinfo
from collections.abc import Callable
from typing import Any, Protocol

from appliance.domain import BP_FIELDS, MAX_BP_CHARS, PHONE_FIELDS, ROW_FIELDS
from appliance.importing.layout import ECM, HEADER, Layout
from appliance.importing.report import Reject
from appliance.phones import InvalidPhone
from appliance.phones.fast import all_zone_keys, normalize_with_zone_key, plan

try:  # the C row check, built with the package (setup.py); without it every row is checked here
    from appliance import _rowfast
except ImportError:  # pragma: no cover - a build without a C compiler
    _rowfast = None  # type: ignore[assignment]

ContactRow = tuple[Any, ...]
# Where fields sit in a row.
_GIVEN, _E164, _ZONES = (ROW_FIELDS.index(f"{what}1") for what in ("phone", "e164_", "zones"))
_BPS = ROW_FIELDS.index("bp1")
_PRIORITY = ROW_FIELDS.index("priority")

MAX_TEXT_CHARS = 255  # external id and owner agent
_EXTRA_FIELDS = ("external_id", "priority", "timezone", "callback_at", "owner_agent")
_REDACT_AT = 60  # rejects quote at most this much of the offending value
_EXTRA_AT = {f: ROW_FIELDS.index("tz_override" if f == "timezone" else f) for f in _EXTRA_FIELDS}


@functools.cache
def _zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _short(value: str) -> str:
    return value if len(value) <= _REDACT_AT else value[: _REDACT_AT - 1] + "…"


def dedup_key(parts: list[str]) -> int:
    """A signed 64-bit hash of the normalized record: the same contact imported twice collides."""
    return dedup_key_of("\x1f".join(parts).encode())


def dedup_key_of(joined: bytes) -> int:
    """`dedup_key` of the parts joined by U+001F as UTF-8 (the C row check hashes so too)."""
    digest = hashlib.blake2b(joined, digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class RowCollector(Protocol):
    """Checks records and keeps the good rows until taken."""

    def add(self, line: int, cells: list[str]) -> list[Reject] | None:
        """None when the row passed the check (kept, or dropped as a duplicate when the
        collector deduplicates), else every problem found with it."""

    def take(self) -> list[ContactRow] | bytes:
        """The rows kept since the last take, in order: as tuples, or as the bytes
        `marshal.dumps` makes of them (the C check writes them so, for the import's pipe)."""


class Collected:
    """The Python check's collector: rows kept as tuples. With `known_keys` (int64 dedup keys,
    as array('q') holds them) it drops a row whose key is among them or came before."""

    def __init__(
        self,
        check: Callable[[int, list[str]], ContactRow | list[Reject]],
        known_keys: bytes | None = None,
    ) -> None:
        self._check = check
        self._rows: list[ContactRow] = []
        self._seen = None if known_keys is None else set(array.array("q", known_keys))

    def add(self, line: int, cells: list[str]) -> list[Reject] | None:
        result = self._check(line, cells)
        if type(result) is not tuple:
            return result  # type: ignore[return-value]
        seen = self._seen
        if seen is not None:
            if result[1] in seen:
                return None
            seen.add(result[1])
        self._rows.append(result)
        return None

    def take(self) -> list[ContactRow]:
        rows, self._rows = self._rows, []
        return rows


class ZoneIds:
    """Zone keys -> zone_sets ids. Keys not yet in the database get ids above its largest, in the
    sorted order of every key libphonenumber can give: a pure function of the database, so the
    import's processes agree without talking (the import holds the write lock meanwhile).
    `take_new()` lists the (id, zones) first used since the last call, for the store to insert."""

    def __init__(self, known: dict[str, int], next_id: int) -> None:
        missing = sorted(all_zone_keys() - set(known))
        self._ids = {**known, **{zones: next_id + i for i, zones in enumerate(missing)}}
        self._known = set(known.values())
        self._used: set[int] = set()
        self._new: list[tuple[int, str]] = []

    def id_for(self, zones: str) -> int:
        zone_id = self._ids[zones]  # KeyError: libphonenumber gave a zone set outside its table
        if zone_id not in self._used:
            self._used.add(zone_id)
            if zone_id not in self._known:
                self._new.append((zone_id, zones))
        return zone_id

    def take_new(self) -> list[tuple[int, str]]:
        new, self._new = self._new, []
        return new


def _getter(indexes: list[int]) -> Callable[[list[str]], tuple[str, ...]]:
    """Picks cells by index in one C call (itemgetter gives a bare value for one index)."""
    if len(indexes) == 1:
        index = indexes[0]
        return lambda cells: (cells[index],)
    if not indexes:
        return lambda cells: ()
    return operator.itemgetter(*indexes)


class RowChecker:
    """Checks records laid out as `layout`, reading national numbers as `region`'s."""

    def __init__(self, layout: Layout, region: str, zone_ids: ZoneIds) -> None:
        self.region = region
        self.max_cells = layout.max_cells
        self.layout_name = layout.name
        self.zone_ids = zone_ids
        self._zone_of: dict[str, int] = {}  # zone key -> id, once zone_ids has seen it
        where = {f: i for i, f in enumerate(layout.fields) if f is not None}
        label = layout.labels
        phones = [(slot, where[f]) for slot, f in enumerate(PHONE_FIELDS) if f in where]
        self._phone_slots = [(slot, label[index]) for slot, index in phones]
        self._phone_cells = [index for _, index in phones]
        self._phones = _getter(self._phone_cells)
        # Absent parameters read "" from a padding cell past the longest row allowed; records
        # shorter than the cells read are padded up to them.
        pad = layout.max_cells
        self._bp_cells = bp_cells = [where.get(f, pad) for f in BP_FIELDS]
        self._bp_labels = [label[where[f]] if f in where else f.upper() for f in BP_FIELDS]
        self._bps = _getter(bp_cells)
        self._extras = [(f, where[f], label[where[f]]) for f in _EXTRA_FIELDS if f in where]
        self._width = max([*bp_cells, *(i for _, i in phones), *where.values(), -1]) + 1
        # A row before its values: every field None but the priority.
        self._blank: list[Any] = [None] * len(ROW_FIELDS)
        self._blank[_PRIORITY] = 0

    def collector(self, known_keys: bytes | None = None) -> RowCollector:
        """Where checked rows gather: the C row check for plain rows where it is built and the
        layout and region allow it (no columns beyond phones and parameters; phones.fast.plan),
        handing every other row to `check`; else `check` alone. With `known_keys` it
        deduplicates: see Collected."""
        region_plan = plan(self.region) if _rowfast is not None else None
        if region_plan is None or self._extras:
            return Collected(self.check, known_keys)
        p = region_plan
        return _rowfast.Checker(
            phone_slots=[slot for slot, _ in self._phone_slots],
            phone_cells=self._phone_cells,
            bp_cells=self._bp_cells,
            max_cells=self.max_cells,
            cc=p.cc,
            usual_first=p.usual_first,
            plus_first=p.plus_first,
            home_np_safe=p.home_np_safe,
            cc_choice=p.cc_choice,
            number_type=p.number_type,
            unknown_kind=p.unknown_kind,
            geo_kinds=p.geo_kinds,
            country_zone=p.country_zone,
            zone_table=p.zone_table,
            zone_steps=p.zone_steps,
            zone_of=self._zone_of,
            id_for=self.zone_ids.id_for,
            slow=self.check,
            key_of=dedup_key_of,
            known_keys=known_keys,
        )

    def check(self, line: int, cells: list[str]) -> ContactRow | list[Reject]:
        """The row to insert (in ROW_FIELDS order), or every problem found with it."""
        n = len(cells)
        if n > self.max_cells:
            what = (
                "Phone1..Phone5, BP1..BP12"
                if self.layout_name == ECM
                else "the file's header"
                if self.layout_name == HEADER
                else f"the header of mapping {self.layout_name!r}"
            )
            return [Reject(line, None, f"{n} fields, more than the {self.max_cells} of {what}")]
        if n < self._width:
            cells = cells + [""] * (self._width - n)
        problems: list[Reject] = []
        row = self._blank.copy()
        row[0] = line
        region, zone_of = self.region, self._zone_of
        for (slot, label), text in zip(self._phone_slots, self._phones(cells), strict=True):
            if not text or not (text := text.strip()):
                if slot == 0:
                    problems.append(Reject(line, label, "Phone1 is mandatory and empty"))
                continue
            try:
                number, zone = normalize_with_zone_key(text, region)
            except InvalidPhone as exc:
                problems.append(Reject(line, label, str(exc), _short(text)))
                continue
            zone_id = zone_of.get(zone)
            if zone_id is None:
                zone_id = zone_of[zone] = self.zone_ids.id_for(zone)
            row[_GIVEN + slot], row[_E164 + slot], row[_ZONES + slot] = text, number, zone_id
        bps = [*map(str.strip, self._bps(cells))]
        if max(map(len, bps)) > MAX_BP_CHARS:
            problems += [
                Reject(line, label, f"longer than {MAX_BP_CHARS} characters ({len(v)})", _short(v))
                for v, label in zip(bps, self._bp_labels, strict=True)
                if len(v) > MAX_BP_CHARS
            ]
        extras: dict[str, Any] = {}
        for name, index, label in self._extras:
            if value := cells[index].strip():
                try:
                    extras[name] = _EXTRA_CHECKS[name](value)
                except ValueError as exc:
                    problems.append(Reject(line, label, str(exc), _short(value)))
        if problems:
            return problems
        parts = [e or "" for e in row[_E164 : _E164 + 5]]
        parts += bps
        row[_BPS : _BPS + len(BP_FIELDS)] = [b or None for b in bps]
        if extras:
            parts += [str(extras.get(f, "")) for f in _EXTRA_FIELDS]
            for name, value in extras.items():
                row[_EXTRA_AT[name]] = value
        row[1] = dedup_key(parts)
        return tuple(row)


def _text(value: str) -> str:
    if len(value) > MAX_TEXT_CHARS:
        raise ValueError(f"longer than {MAX_TEXT_CHARS} characters ({len(value)})")
    return value


def _priority(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ValueError("priority must be a whole number, e.g. 0, 5 or -1") from None
    if not -1000 <= number <= 1000:
        raise ValueError("priority must be between -1000 and 1000")
    return number


def _timezone(value: str) -> str:
    if value not in _zone_names():
        raise ValueError("not an IANA time zone (e.g. America/Chicago)")
    return value


def _callback(value: str) -> float:
    """ISO 8601 date and time; without an offset it is UTC."""
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("callback time must be ISO 8601, e.g. 2026-03-01T14:30:00-05:00") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    stamp = when.timestamp()
    if not _EARLIEST < stamp < _LATEST:  # shown in any zone, it would be year 0 or 10000
        raise ValueError("callback time must fall within the years 1-9999")
    return stamp


# The instants a datetime can show in any zone: a day inside the years 1-9999.
_EARLIEST = dt.datetime(1, 1, 2, tzinfo=dt.UTC).timestamp()
_LATEST = dt.datetime(9999, 12, 30, tzinfo=dt.UTC).timestamp()


_EXTRA_CHECKS = {
    "external_id": _text,
    "priority": _priority,
    "timezone": _timezone,
    "callback_at": _callback,
    "owner_agent": _text,
}
