"""Reading a contact file: UTF-8 (BOM or not) CSV records with their first physical line; the
first record decides the layout (layout.py)."""

from __future__ import annotations

import csv
import hashlib
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, BinaryIO, Protocol

from appliance.importing.headers import MapEntry, header_key
from appliance.importing.layout import (
    ECM,
    ECM_FIELDS,
    ECM_LABELS,
    ColumnNames,
    Columns,
    FileProblem,
    Layout,
    _ecm_layout,
    _mapped_layout,
    choose_layout,
)

# The layout's names, where the reader's users have long found them.
__all__ = [
    "ECM", "ECM_FIELDS", "ECM_LABELS", "ColumnNames", "Columns", "CsvSource", "FileProblem",
    "Layout", "Record", "_ecm_layout", "_mapped_layout", "choose_layout", "header_key",
]  # fmt: skip


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
        mapped: Sequence[MapEntry] = (),
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
        line, cells, error = first
        if error is not None:
            self.layout = self._unreadable_first(first, mapped)
        else:
            self.layout = choose_layout(cells, mappings, mapping, where, mapped, line)
        if not self.layout.header:
            self._pending = first

    def _unreadable_first(self, first: Record, mapped: Sequence[MapEntry]) -> Layout:
        """The first record could not be read: a cell past the csv module's limit there is no
        contact (a header run wild, or no CSV at all), and a --map needs a header to read."""
        line, _, error = first
        if "field larger than field limit" in str(error) or any(e.given for e in mapped):
            raise FileProblem(
                f"{self.where}: line {line} cannot be read ({error}), and the first line says how "
                "the file is read (a header, or the first contact): nothing was imported. "
                "Fix that line (a header names each column once, e.g. phone,first_name,email)"
            )
        return _ecm_layout()  # a stray quote in the first contact: that record is a reject

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
