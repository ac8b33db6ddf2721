"""Reading a contact file: UTF-8 (BOM or not) CSV records with their first physical line, and its layout."""

from __future__ import annotations

import csv
import hashlib
import re
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol

from appliance.domain import BP_FIELDS, PHONE_FIELDS
from appliance.errors import DialboxError

ECM_FIELDS = (*PHONE_FIELDS, *BP_FIELDS)
ECM_LABELS = (*(f"Phone{i}" for i in range(1, 6)), *(f"BP{i}" for i in range(1, 13)))
ECM = "ecm"

# Names a person puts above ECM columns ("Phone1", "Phone 1", "phone_1", "Telephone", "BP 3"…).
_ECM_FIRST_HEADER = re.compile(r"(phone|telephone|tel|mobile|number|msisdn)(number)?1?")
_ECM_PHONE_HEADER = re.compile(r"(?:phone|telephone|tel|mobile|number|msisdn)(?:number)?([1-5]?)")
_ECM_BP_HEADER = re.compile(r"(?:bp|businessparameter|parameter|param)([1-9]|1[0-2])")
_NON_ALNUM = re.compile(r"[\W_]+")


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
    """The file as a whole cannot be imported (unreadable, not UTF-8, a header nothing maps)."""


@dataclass(frozen=True, slots=True)
class Layout:
    """Which cell holds which contact field: `fields[i]` for cell i, or None to ignore the cell."""

    name: str  # "ecm" or the mapping's name
    fields: tuple[str | None, ...]
    labels: tuple[str, ...]  # what rejects call cell i: "Phone1" or the file's own header
    header: bool
    max_cells: int  # more cells than this in a row is a reject


def header_key(text: str) -> str:
    """A header cell as compared: case, spaces and punctuation ignored ("Phone 1" == "phone1")."""
    return _NON_ALNUM.sub("", text).lower()


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


def _ecm_named_layout(header: list[str]) -> Layout | None:
    """A header made only of ECM names ("Phone1, BP3, Phone2") is read by those names."""
    fields: list[str | None] = []
    for cell in header:
        key = header_key(cell)
        if phone := _ECM_PHONE_HEADER.fullmatch(key):
            fields.append(f"phone{phone.group(1) or 1}")
        elif bp := _ECM_BP_HEADER.fullmatch(key):
            fields.append(f"bp{bp.group(1)}")
        else:
            return None
    if len(set(fields)) != len(fields) or list(fields) == list(ECM_FIELDS[: len(fields)]):
        return None  # repeated names, or simply the ECM order
    labels = tuple(ECM_LABELS[ECM_FIELDS.index(f)] for f in fields if f is not None)
    return Layout(ECM, tuple(fields), labels, True, len(fields))


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


def choose_layout(
    first: list[str], mappings: Mapping[str, ColumnNames], wanted: str | None, where: str
) -> Layout:
    """Decide from the first record whether there is a header and which mapping reads the file."""
    if wanted is not None and wanted != ECM:
        if wanted not in mappings:
            known = ", ".join(sorted(mappings)) or "none are configured"
            raise FileProblem(f"no column mapping named {wanted!r} (import.mappings: {known})")
        layout = _mapped_layout(wanted, mappings[wanted], first)
        if layout is None:
            missing = _missing(mappings[wanted], first)
            raise FileProblem(
                f"{where}: line 1 must be a header with the columns of mapping {wanted!r}; "
                f"missing: {', '.join(missing)}"
            )
        return layout
    first_key = header_key(first[0]) if first else ""
    if wanted is None:
        candidates = [
            (len(m.columns), name, layout)
            for name, m in sorted(mappings.items())
            if m.match_headers and (layout := _mapped_layout(name, m, first)) is not None
        ]
        if candidates:
            # The mapping that explains the most columns wins; names break ties predictably.
            candidates.sort(key=lambda c: (-c[0], c[1]))
            return candidates[0][2]
    if _ECM_FIRST_HEADER.fullmatch(first_key):
        return _ecm_named_layout(first) or _ecm_layout(first)
    if (
        first_key
        and not any(ch.isdigit() for ch in first[0])
        and any(ch.isalpha() for ch in first[0])
    ):
        hints = "; ".join(
            f"{name} needs {', '.join(m.columns.values())}" for name, m in sorted(mappings.items())
        )
        raise FileProblem(
            f"{where}: line 1 looks like a header ({', '.join(c.strip() for c in first[:6])}"
            f"{', …' if len(first) > 6 else ''}) but it is neither the ECM column order "
            f"(Phone1..Phone5, BP1..BP12) nor a configured column mapping"
            + (f" ({hints})" if hints else "; add one under import.mappings in the config")
        )
    return _ecm_layout()


def _missing(mapping: ColumnNames, header: list[str]) -> list[str]:
    present = {header_key(cell) for cell in header}
    return [column for column in mapping.columns.values() if header_key(column) not in present]


# One record: the physical line (1-based) where it starts, its cells, and the CSV parser's
# complaint when it could not be read (then the cells are empty). A tuple: it is made per row.
Record = tuple[int, list[str], str | None]

_CHUNK = 1 << 20
_BOM = "\ufeff"
# A record may run over this many physical lines (quoted line breaks in a cell); one that runs
# longer has a quote that never closes. It is rejected, naming the line where the quote opened,
# and the lines after that one are read again as records: a stray quote costs one reject and
# bounded work, not the rest of the file swallowed into one cell.
MAX_RECORD_LINES = 20


class _Overrun(Exception):
    """A record ran over MAX_RECORD_LINES physical lines."""


class Scan(Protocol):
    """The C row check's reading of plain lines (appliance._rowfast.Checker.scan)."""

    def __call__(
        self, data: bytes, pos: int, line: int, limit: int, rejects: list[Any], /
    ) -> tuple[int, int, int, int, int]: ...


SCAN_NOT_PLAIN, SCAN_MORE = 1, 2  # why a scan stopped short of its limit


class CsvSource:
    """The records of one file, after the header (if any); `layout` is known once opened.

    The file is read in chunks of bytes and cut into physical lines as Python's text files cut
    them with newline="" (at LF, CR LF or CR), each decoded as UTF-8 (a BOM first is dropped)
    and read by the csv module. `scan` lets the C row check read the plainest lines itself,
    straight from the bytes; the csv module reads every other record from where it stopped."""

    def __init__(
        self,
        stream: BinaryIO,
        *,
        where: str,
        mappings: Mapping[str, ColumnNames],
        mapping: str | None = None,
    ) -> None:
        self.where = where
        self._raw = stream
        self._sha256 = hashlib.sha256()
        self._data = b""
        self._offset = 0  # where _data starts in the file
        self._pos = 0  # where the next physical line starts in _data
        self._line = 0  # physical lines read
        self._eof = False
        self._replay: deque[str] = deque()  # lines to read again after an unclosed quote
        self._taken: list[str] = []  # the physical lines of the record being read
        self._csv = csv.reader(self._lines(), strict=False)
        self._pending: Record | None = None
        first = self.next_record()
        if first is None:
            self.layout = _ecm_layout()
            return
        self.layout = choose_layout(first[1], mappings, mapping, where)
        if not self.layout.header:
            self._pending = first

    @property
    def sha256(self) -> str:
        return self._sha256.hexdigest()

    def _fill(self) -> bool:
        """Read on; False at the end of the file."""
        if self._eof:
            return False
        chunk = self._raw.read(_CHUNK)
        if not chunk:
            self._eof = True
            return False
        self._sha256.update(chunk)
        self._offset += self._pos
        self._data = self._data[self._pos :] + chunk
        self._pos = 0
        return True

    def _lines(self) -> Iterator[str]:
        """The physical lines from _pos on (after any to read again), with their line ends."""
        while True:
            if self._replay:
                text = self._replay.popleft()
                self._line += 1
                self._taken.append(text)
                if len(self._taken) > MAX_RECORD_LINES:
                    raise _Overrun
                yield text
                continue
            data, pos = self._data, self._pos
            lf = data.find(b"\n", pos)
            cr = data.find(b"\r", pos) if lf < 0 else data.find(b"\r", pos, lf)
            if cr >= 0 and cr + 1 < len(data):
                end = cr + 2 if data[cr + 1] == 0x0A else cr + 1
            elif lf >= 0 and cr < 0:
                end = lf + 1
            elif self._fill():
                continue
            elif pos < len(data):
                end = len(data)  # the last line, without a line end (or a CR at the very end)
            else:
                return
            try:
                text = data[pos:end].decode("utf-8")
            except UnicodeDecodeError as exc:
                raise self._decode_problem(exc, self._offset + pos + exc.start) from None
            if self._line == 0 and text.startswith(_BOM):
                text = text[1:]
            self._pos, self._line = end, self._line + 1
            self._taken.append(text)
            if len(self._taken) > MAX_RECORD_LINES:
                raise _Overrun
            yield text

    def next_record(self) -> Record | None:
        """The next non-blank record, read by the csv module; None at the end. A CSV syntax error
        comes back as a record with the complaint."""
        if self._pending is not None:
            record, self._pending = self._pending, None
            return record
        while True:
            start = self._line + 1
            self._taken = []
            try:
                cells = next(self._csv)
            except StopIteration:
                return None
            except _Overrun:
                return self._unclosed(start)
            except csv.Error as exc:
                if len(self._taken) > 1 and "field larger than field limit" in str(exc):
                    return self._unclosed(start)
                return start, [], f"unreadable CSV: {exc}"
            # Blank lines and rows of empty cells (",,,,") are not records.
            if cells and (cells[0].strip() or any(c.strip() for c in cells)):
                return start, cells, None

    def _unclosed(self, start: int) -> Record:
        """Reject the record at `start` for its unclosed quote; read its other lines again."""
        again = self._taken[1:]
        self._replay.extendleft(reversed(again))
        self._line = start
        self._taken = []
        self._csv = csv.reader(self._lines(), strict=False)
        return (
            start,
            [],
            f"a quote opened on line {start} is not closed (the cell would run past line "
            f"{start + len(again)}); the line is skipped and the lines after it are read again",
        )

    def __iter__(self) -> Iterator[Record]:
        while (record := self.next_record()) is not None:
            yield record

    def scan(self, scan: Scan, limit: int, rejects: list[Any]) -> tuple[int, int, bool]:
        """Let `scan` check plain lines from here: (records, rejected, more) — `more` when it
        stopped short of `limit` at a record for next_record, False at the end of the file."""
        records = rejected = 0
        if self._pending is not None or self._replay:
            return 0, 0, True
        while True:
            self._pos, self._line, n, bad, stop = scan(
                self._data, self._pos, self._line, limit - records, rejects
            )
            records += n
            rejected += bad
            if records >= limit or stop != SCAN_MORE:
                return records, rejected, True
            if not self._fill():  # a last line without a line end, or nothing
                return records, rejected, self._pos < len(self._data)

    def _decode_problem(self, exc: UnicodeDecodeError, offset: int) -> FileProblem:
        """Name the byte offset and line of the first byte that is not UTF-8."""
        return FileProblem(
            f"{self.where} is not UTF-8 text (byte {offset}, line {self._line + 1}: "
            f"{exc.reason}); save it as UTF-8 (e.g. `iconv -f WINDOWS-1252 -t UTF-8`) and "
            f"import it again"
        )
