"""The contact file reader: its records are the csv module's over Python's text file, and the C
check's reading of plain lines gives the batches the csv module's reading gives."""

from __future__ import annotations

import csv
import io
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.importing import reader
from appliance.importing.pipeline import Batch, Job, prepare
from appliance.importing.reader import CsvSource, FileProblem, Record
from appliance.importing.rows import Collected, RowChecker

PHONES = ["2125550100", "(305) 555-0123", "+1 415 555 0199", "1-646-555-0142", "212555010", ""]
pieces = st.one_of(
    st.sampled_from(PHONES),
    st.sampled_from([",", ",,", '"', '""', "\r", "\n", "\r\n", " ", "\t", "x", "é", "Ann", "\x00"]),
    st.sampled_from(['"Doe, Jane"', '"a ""b"""', '"é,\n"', ' "x"', '"x" ', "\u00a0", "\u3000"]),
    st.sampled_from(["\x85", "\u2028", "\ufeff", "😀", "\x7f", "\x1c", '"2125550100"']),
    st.text(alphabet='ab ,"\r\n1é', max_size=6),
)
files = st.tuples(
    st.booleans(),
    st.lists(st.lists(pieces, max_size=8).map("".join), max_size=12),
    st.sampled_from(["\n", "\r\n", "\r", ""]),
).map(lambda t: (("\ufeff" if t[0] else "") + "2125550100\n" + "\n".join(t[1]) + t[2]).encode())


def reference(data: bytes) -> list[Record]:
    """How the records were read before: Python's text file and the csv module's line count."""
    text = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline="")
    rows = csv.reader(text, strict=False)
    out: list[Record] = []
    while True:
        start = rows.line_num + 1
        try:
            for cells in rows:
                if cells and (cells[0].strip() or any(c.strip() for c in cells)):
                    out.append((start, cells, None))
                start = rows.line_num + 1
            return out
        except csv.Error as exc:
            out.append((start, [], f"unreadable CSV: {exc}"))


@settings(max_examples=300, deadline=None)
@given(data=files, chunk=st.sampled_from([1, 2, 3, 7, 1 << 20]))
def test_records_are_the_csv_modules_over_a_text_file(data: bytes, chunk: int) -> None:
    with mock.patch.object(reader, "_CHUNK", chunk):
        records = list(CsvSource(io.BytesIO(data), where="f", mappings={}))
    assert records == reference(data)


def batches(data: bytes, c_check: bool, known_keys: bytes | None) -> list[tuple[Any, ...]]:
    job = Job(where="f", region="US", mappings={}, mapping=None, batch_rows=3,
              known_keys=known_keys)  # fmt: skip
    collector = RowChecker.collector
    with mock.patch.object(
        RowChecker,
        "collector",
        collector if c_check else lambda self, keys=None: Collected(self.check, keys),
    ):
        return [
            (m.row_list(), m.checked, m.rejects, m.rejected_rows, m.new_zones)
            for m in prepare(io.BytesIO(data), job)
            if isinstance(m, Batch)
        ]


@settings(max_examples=300, deadline=None)
@given(data=files, chunk=st.sampled_from([1, 5, 64, 1 << 20]), dedup=st.booleans())
def test_the_c_checks_reading_of_plain_lines_gives_the_same_batches(
    data: bytes, chunk: int, dedup: bool
) -> None:
    known_keys = b"" if dedup else None
    with mock.patch.object(reader, "_CHUNK", chunk):
        assert batches(data, True, known_keys) == batches(data, False, known_keys)


@pytest.mark.parametrize("chunk", [1, 3, 1 << 20])
def test_a_byte_that_is_not_utf8_is_named_by_offset_and_line_whatever_the_chunks(
    chunk: int,
) -> None:
    data = b"\xef\xbb\xbf2125550100\r\n" + b"x" * 40 + b"\r\n2125550101,Ren\xe9e\n"
    with mock.patch.object(reader, "_CHUNK", chunk), pytest.raises(FileProblem) as problem:
        list(CsvSource(io.BytesIO(data), where="f", mappings={}))
    assert "(byte 71, line 3: invalid continuation byte)" in str(problem.value)


def test_an_unclosed_quote_is_one_reject_naming_its_line_and_the_rest_is_read() -> None:
    import io as _io

    from appliance.importing.reader import CsvSource as _Source

    lines = [f"(212) 555-{n:04d},,,,,Name {n}" for n in range(5000)]
    lines[10] = '"(212) 555-9999,,,,,Never closed'
    records = list(_Source(_io.BytesIO(("\n".join(lines) + "\n").encode()), where="f", mappings={}))
    bad = [r for r in records if r[2] is not None]
    assert len(bad) == 1
    assert bad[0][0] == 11 and "quote opened on line 11" in str(bad[0][2])
    assert len(records) == 5000
    assert records[11][:2] == (12, ["(212) 555-0011", "", "", "", "", "Name 11"])
