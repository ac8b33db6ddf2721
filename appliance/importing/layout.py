"""A contact file's layout: from its first record, which cell holds which contact field.

In order: a column mapping from the config (named, or one whose columns the header has); the
ECM column order (Phone1..Phone5, BP1..BP12) when there is no header, or when the header starts
Phone1..Phone5 (the ECM header, whose later columns are BP1..BP12 whatever their names); else
the header's own names (headers.py), with `--map` entries placing the columns no name places.
What cannot be read so is refused whole, saying which line, what was found and what to do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from appliance.domain import BP_FIELDS, PHONE_FIELDS
from appliance.errors import DialboxError
from appliance.importing.headers import (
    ANY,
    IGNORE,
    PHONE,
    MapEntry,
    accepted_names,
    field_of,
    header_key,
    short,
)

ECM_FIELDS = (*PHONE_FIELDS, *BP_FIELDS)
ECM_LABELS = (*(f"Phone{i}" for i in range(1, 6)), *(f"BP{i}" for i in range(1, 13)))
ECM = "ecm"
HEADER = "header"  # the layout of a file read by its header's names
# More columns than this in a header is no contact file (and no message lists them all).
MAX_COLUMNS = 1000
_SHOWN = 10  # names listed in a refusal, at most


class ColumnNames(Protocol):
    """A named-column layout: which header holds which contact field (config's ColumnMapping)."""

    @property
    def columns(self) -> Mapping[str, str]: ...

    @property
    def match_headers(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class Columns:
    """ColumnNames as plain data, for the import's worker process: unpickling the config's
    models would load pydantic there, a third of a second before its first row."""

    columns: Mapping[str, str]
    match_headers: bool

    @classmethod
    def of(cls, mapping: ColumnNames) -> Columns:
        return cls(dict(mapping.columns), mapping.match_headers)


class FileProblem(DialboxError):
    """The file as a whole cannot be imported (unreadable, not UTF-8, a header that cannot be
    read): nothing is imported, and `dialbox import` exits 1."""

    exit_code = 1


@dataclass(frozen=True, slots=True)
class Layout:
    """Which cell holds which contact field: `fields[i]` for cell i, or None to ignore the cell."""

    name: str  # "ecm", "header" or the mapping's name
    fields: tuple[str | None, ...]
    labels: tuple[str, ...]  # what rejects call cell i: "Phone1" or the file's own header
    header: bool
    max_cells: int  # more cells than this in a row is a reject

    def columns(self) -> list[tuple[str | None, str | None]]:
        """(the column's name in the header, or None without one; its field, or None: left
        out), cell by cell: what `--dry-run` and the report show."""
        return [
            (self.labels[i] if self.header else None, field) for i, field in enumerate(self.fields)
        ]


def _ecm_layout(header: list[str] | None = None) -> Layout:
    """The ECM order; with a header, rejects name a column "BP3 (Amount Due)" when it has its own name."""
    labels = ECM_LABELS
    if header is not None:
        labels = tuple(
            label
            if i >= len(header) or header_key(header[i]) in ("", header_key(label))
            else f"{label} ({header[i].strip()})"
            for i, label in enumerate(ECM_LABELS)
        )
    return Layout(ECM, ECM_FIELDS, labels, header is not None, len(ECM_FIELDS))


def _mapped_layout(name: str, mapping: ColumnNames, header: list[str]) -> Layout | None:
    """The layout `mapping` gives this header, or None when a mapped column is missing."""
    positions = {header_key(cell): i for i, cell in reversed(list(enumerate(header)))}
    fields: list[str | None] = [None] * len(header)
    for field, column in mapping.columns.items():
        index = positions.get(header_key(column))
        if index is None:
            return None
        fields[index] = field
    labels = tuple(cell.strip() or f"column {i + 1}" for i, cell in enumerate(header))
    return Layout(name, tuple(fields), labels, True, len(header))


class _Reading:
    """The first record and what is known about reading it, for the decisions and refusals."""

    def __init__(self, first: list[str], line: int, where: str, mapped: Sequence[MapEntry],
                 mappings: Mapping[str, ColumnNames]) -> None:  # fmt: skip
        self.first = first
        self.line = line
        self.where = where
        self.mapped = mapped
        self.given = [e for e in mapped if e.given]
        self.mappings = mappings

    def refuse(self, why: str) -> FileProblem:
        return FileProblem(f"{self.where}: line {self.line}: {why}")

    def mapping_hints(self) -> str:
        return "; ".join(
            f"mapping {name} needs {', '.join(m.columns.values())}"
            for name, m in sorted(self.mappings.items())
        )

    def no_map(self, why: str) -> None:
        """--map places columns by their header names: refused where none are read so."""
        if self.given:
            shown = ", ".join(f"'{e.shown()}'" for e in self.given[:_SHOWN])
            raise self.refuse(
                f"--map {shown} cannot be used: {why}, so its columns are read by position, not "
                "by name. Put a header naming every column first (e.g. phone,mobile,first_name,"
                "last_name,email,amount), or import without --map"
            )

    def looks_like_header(self) -> bool:
        """A header names a column dialbox knows, or starts with a word (no phone number)."""
        first_cell = self.first[0]
        if sum(ch.isdigit() for ch in first_cell) >= 5:
            return False  # a phone number: this is a contact
        keys = {e.key for e in self.mapped}
        if any((key := header_key(c)) and (key in keys or field_of(key)) for c in self.first):
            return True
        return any(ch.isalpha() for ch in first_cell) and not any(ch.isdigit() for ch in first_cell)


def choose_layout(
    first: list[str],
    mappings: Mapping[str, ColumnNames],
    wanted: str | None,
    where: str,
    mapped: Sequence[MapEntry] = (),
    line: int = 1,
) -> Layout:
    """Decide from the first record (starting on `line`) whether it is a header and how the
    file is read; FileProblem when it cannot be read."""
    reading = _Reading(first, line, where, mapped, mappings)
    if len(first) > MAX_COLUMNS:
        raise reading.refuse(
            f"{len(first)} columns; a contact file has at most {MAX_COLUMNS}. Is this a "
            "contact file, with one contact a line?"
        )
    if wanted is not None and wanted != ECM:
        if wanted not in mappings:
            known = ", ".join(sorted(mappings)) or "none are configured"
            raise FileProblem(f"no column mapping named {wanted!r} (import.mappings: {known})")
        layout = _mapped_layout(wanted, mappings[wanted], first)
        if layout is None:
            missing = _missing(mappings[wanted], first)
            raise reading.refuse(
                f"must be a header with the columns of mapping {wanted!r}; "
                f"missing: {', '.join(missing)}"
            )
        return _with_map(reading, layout)
    if wanted is None:
        candidates = [
            (len(m.columns), name, layout)
            for name, m in sorted(mappings.items())
            if m.match_headers and (layout := _mapped_layout(name, m, first)) is not None
        ]
        if candidates:
            # The mapping that explains the most columns wins; names break ties predictably.
            candidates.sort(key=lambda c: (-c[0], c[1]))
            return _with_map(reading, candidates[0][2])
    if not reading.looks_like_header():
        return _headerless(reading)
    if wanted == ECM or _is_ecm_header(first):
        why = "--mapping ecm asks for" if wanted == ECM else "its header starts Phone1..Phone5,"
        reading.no_map(f"{why} the ECM column order")
        _fits_ecm(reading, f"{why} the ECM column order, which has")
        return _ecm_layout(first)
    return named_layout(reading)


def _missing(mapping: ColumnNames, header: list[str]) -> list[str]:
    present = {header_key(cell) for cell in header}
    return [column for column in mapping.columns.values() if header_key(column) not in present]


def _headerless(reading: _Reading) -> Layout:
    """No header: the ECM column order, if the first record fits it."""
    first = reading.first
    if len(first) == 1 and (sep := next((s for s in ";\t|" if s in first[0]), None)):
        name = {";": "semicolons", "\t": "tabs", "|": "bars"}[sep]
        raise reading.refuse(
            f"its columns seem separated by {name}, not commas. dialbox reads comma-separated "
            "files: save the file as CSV with commas (e.g. LibreOffice: Save As, Text CSV, "
            "field delimiter ',') and import it again"
        )
    reading.no_map("the file has no header (line 1 is a contact)")
    _fits_ecm(reading, "there is no header, so the file is read in the ECM column order, which has")
    return _ecm_layout()


def _fits_ecm(reading: _Reading, why: str) -> None:
    found = len(reading.first)
    if found > len(ECM_FIELDS):
        raise reading.refuse(
            f"{found} columns, but {why} at most {len(ECM_FIELDS)} (Phone1..Phone5, BP1..BP12). "
            "Put a header naming the columns first (e.g. phone,mobile,first_name,last_name,"
            "email,amount) to read them by name, or remove the columns beyond the 17th"
        )


def _is_ecm_header(header: list[str]) -> bool:
    """The ECM header: Phone1..Phone5 first (the first may be "Phone"), and no later column
    named after another field (a parameter out of its place, a phone, external_id…), which
    would mean the file is read by name."""
    if len(header) < len(PHONE_FIELDS):
        return False
    keys = [header_key(cell) for cell in header]
    for i, key in enumerate(keys[: len(PHONE_FIELDS)]):
        if field_of(key) != PHONE_FIELDS[i] and not (i == 0 and field_of(key) == PHONE):
            return False
    for key, own in zip(keys[len(PHONE_FIELDS) :], BP_FIELDS, strict=False):
        field = _exact_field(key)
        if field is not None and field != own:
            return False
    return True


def _exact_field(key: str) -> str | None:
    """The field a key names by the field's own name ("bp3", "Phone 2", "external_id"), not
    by a synonym ("Name" in the ECM header is BP1's label, not a name to read by)."""
    field = field_of(key)
    if field is None or field == PHONE:
        return None
    return field if key.rstrip("0123456789") in _FIELD_STEMS else None


_FIELD_STEMS = frozenset(
    {"phone", "telephone", "tel", "mobile", "bp", "businessparameter", "parameter", "param",
     "externalid", "priority", "timezone", "tzoverride", "callbackat", "owneragent"}
)  # fmt: skip


def _with_map(reading: _Reading, layout: Layout) -> Layout:
    """A config mapping's layout with the --map entries given for this file placed on it."""
    if not reading.given:
        return layout
    fields = list(layout.fields)
    keys = [header_key(cell) for cell in reading.first]
    for entry in reading.given:
        if entry.key == ANY:
            continue  # a mapping leaves out every column it does not name already
        if entry.key not in keys:
            raise reading.refuse(_absent(entry, reading.first))
        index = keys.index(entry.key)
        fields[index] = None if entry.field == IGNORE else entry.field
        if entry.field == PHONE:
            free = [f for f in PHONE_FIELDS if f not in fields]
            if not free:
                raise reading.refuse(f"--map '{entry.shown()}': phone1..phone5 are all taken")
            fields[index] = free[0]
    _no_two_columns_for_one_field(reading, fields)
    if "phone1" not in fields:
        raise reading.refuse("with --map as given, no column holds phone1, the number dialed first")
    return Layout(layout.name, tuple(fields), layout.labels, True, layout.max_cells)


def _absent(entry: MapEntry, header: list[str]) -> str:
    names = ", ".join(repr(short(c)) for c in header[:_SHOWN] if c.strip())
    more = f" and {len(header) - _SHOWN} more" if len(header) > _SHOWN else ""
    return (
        f"--map '{entry.shown()}': the header has no column {short(entry.column)!r} "
        f"(its columns: {names}{more}); check the spelling"
    )


def named_layout(reading: _Reading) -> Layout:
    """The header read by its names: each column's field from a --map entry, else the synonym
    table; every column placed or refused, no field filled twice, phone1 present."""
    header = reading.first
    width = len(header)
    while width and not header[width - 1].strip():
        width -= 1  # a trailing comma on the header line: those columns have no name, left out
    keys = [header_key(cell) for cell in header[:width]]
    entries = {e.key: e for e in reading.mapped}
    for entry in reading.given:
        if entry.key != ANY and entry.key not in keys:
            raise reading.refuse(_absent(entry, header))
    rest = entries.get(ANY)
    targets: list[str | None] = []
    for key in keys:
        placed = entries.get(key)
        target = placed.field if placed is not None else (field_of(key) if key else None)
        targets.append(target if target is not None or rest is None else IGNORE)
    _refuse_unknown(reading, targets)
    _refuse_same_names(reading, keys, targets)
    fields: list[str | None] = [t if t not in (IGNORE, PHONE) else None for t in targets]
    free = [f for f in PHONE_FIELDS if f not in fields]
    unnumbered = [i for i, t in enumerate(targets) if t == PHONE]
    if len(unnumbered) > len(free):
        phones = [header[i].strip() for i, t in enumerate(targets) if t == PHONE or (
            t is not None and t.startswith("phone"))]  # fmt: skip
        raise reading.refuse(
            f"{len(phones)} phone columns ({', '.join(map(repr, map(short, phones)))}); a contact "
            "has at most five (phone1..phone5). Map the others to a parameter or leave them out: "
            f"--map '{short(header[unnumbered[-1]])}=bp12' or --map "
            f"'{short(header[unnumbered[-1]])}=ignore'"
        )
    for index, slot in zip(unnumbered, free, strict=False):
        fields[index] = slot
    _no_two_columns_for_one_field(reading, fields)
    if "phone1" not in fields:
        raise reading.refuse(
            "no column holds phone1, the number dialed first. Name one phone (or mobile, "
            "telephone, phone1…), or map one: --map 'Your Column=phone1'"
        )
    fields += [None] * (len(header) - width)
    labels = tuple(cell.strip() or f"column {i + 1}" for i, cell in enumerate(header))
    return Layout(HEADER, tuple(fields), labels, True, len(header))


def _refuse_unknown(reading: _Reading, targets: list[str | None]) -> None:
    header = reading.first
    unknown = [i for i, t in enumerate(targets) if t is None]
    if not unknown:
        return
    if len(header) == 1 and (sep := next((s for s in ";\t|" if s in header[0]), None)):
        name = {";": "semicolons", "\t": "tabs", "|": "bars"}[sep]
        raise reading.refuse(
            f"the header seems separated by {name}, not commas. dialbox reads comma-separated "
            "files: save the file as CSV with commas and import it again"
        )
    named = [
        f"{short(header[i])!r} (column {i + 1})"
        if header[i].strip()
        else f"column {i + 1} (no name)"
        for i in unknown[:_SHOWN]
    ]
    more = f" and {len(unknown) - _SHOWN} more" if len(unknown) > _SHOWN else ""
    example = short(header[unknown[0]]) or "Column"
    hints = reading.mapping_hints()
    numbers = [i for i in unknown if sum(ch.isdigit() for ch in header[i]) >= 7]
    contact = (
        f"Line {reading.line} looks like a contact ({short(header[numbers[0]])!r} is a number), "
        "not a header: a file without a header starts each line with its phone (the ECM column "
        "order: Phone1..Phone5, BP1..BP12); move the phone first, or put a header line on top.\n"
        if numbers
        else ""
    )
    raise reading.refuse(
        f"unknown column{'s' if len(unknown) > 1 else ''} {', '.join(named)}{more}: the header "
        "is read by its names, and dialbox does not know "
        f"{'these' if len(unknown) > 1 else 'this one'}.\n"
        + contact
        + "Accepted names (accents, case, spaces, _ and - ignored; every name: docs/config.md, "
        f"Header names): {accepted_names()}.\n"
        f"Map a column to a field with --map '{example}=bp6' (the upload's map={example}=bp6, "
        f"the hot folder's import.map), leave it out with --map '{example}=ignore', or every "
        "unknown column with --map '*=ignore'"
        + (f"; or use a column mapping from the config ({hints})" if hints else "")
    )


def _refuse_same_names(reading: _Reading, keys: list[str], targets: list[str | None]) -> None:
    """Two columns of one name cannot be told apart by --map: refused unless left out."""
    first_of: dict[str, int] = {}
    for i, key in enumerate(keys):
        if not key or targets[i] == IGNORE:
            continue
        before = first_of.setdefault(key, i)
        if before != i:
            header = reading.first
            raise reading.refuse(
                f"columns {before + 1} and {i + 1} have the same name "
                f"({short(header[before])!r}, {short(header[i])!r}); rename one of them "
                "(columns are read by name)"
            )


def _no_two_columns_for_one_field(reading: _Reading, fields: list[str | None]) -> None:
    seen: dict[str, int] = {}
    for i, field in enumerate(fields):
        if field is None:
            continue
        before = seen.setdefault(field, i)
        if before != i:
            header = reading.first
            a, b = short(header[before]), short(header[i])
            raise reading.refuse(
                f"columns {before + 1} ({a!r}) and {i + 1} ({b!r}) both mean {field}. "
                f"Map one elsewhere or leave it out: --map '{b}=bp12' or --map '{b}=ignore'"
            )
