"""The C row check (appliance._rowfast) gives what RowChecker.check gives, row for row."""

from __future__ import annotations

import array
import marshal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from appliance import _rowfast  # built by `pip install` (setup.py): its absence is a failure
from appliance.config.models import ColumnMapping
from appliance.importing.reader import Layout, _ecm_layout, _mapped_layout
from appliance.importing.rows import Collected, RowChecker, RowCollector, ZoneIds
from tests.test_phonefast import REGIONS, written_numbers

MAPPED = _mapped_layout(
    "m",
    ColumnMapping(columns={"phone1": "Mobile", "phone3": "Home", "bp2": "Name", "bp12": "N"}),
    ["Name", "Mobile", "X", "Home", "N"],
)


class Counting(RowChecker):
    """A RowChecker that counts the rows the C check hands back to it."""

    slow_rows = 0

    def check(self, line: int, cells: list[str]) -> Any:
        self.slow_rows += 1
        return super().check(line, cells)


def checked(collector: RowCollector, rows: list[list[str]]) -> list[Any]:
    """What the collector makes of each row: the row it keeps (taken once for all the rows: the
    C check's own and those the Python check made, one after another), or the rejects."""
    results = [collector.add(n, cells) for n, cells in enumerate(rows, 1)]
    taken = collector.take()
    kept = iter(marshal.loads(taken) if isinstance(taken, bytes) else taken)
    out = [next(kept) if rejects is None else rejects for rejects in results]
    assert next(kept, None) is None
    return out


def both(layout: Layout, region: str, rows: list[list[str]]) -> tuple[list[Any], list[Any]]:
    python = RowChecker(layout, region, ZoneIds({"": 1}, 2))
    fast = Counting(layout, region, ZoneIds({"": 1}, 2)).collector()
    return [python.check(n, cells) for n, cells in enumerate(rows, 1)], checked(fast, rows)


@st.composite
def phone_cells(draw: st.DrawFn) -> str:
    """Numbers as written (often valid, often not), with the separators and spaces people add."""
    _, text = draw(written_numbers())
    if draw(st.booleans()):
        text = draw(st.sampled_from(["", " ", "\t", "\x1c", "\u3000"])) + text
    if draw(st.booleans()):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(" -().+x\t٣")) + text[at:]
    return text + draw(st.sampled_from(["", " ", "  ", "\n"]))


text_cells = st.one_of(
    st.sampled_from(
        ["", " ", "gold", " Smith, Ann ", "Sofía", "x" * 255, "y" * 256, " " + "z" * 255]
    ),
    st.text(max_size=12),
)


@settings(max_examples=300, deadline=None)
@given(
    region=st.sampled_from(REGIONS),
    mapped=st.booleans(),
    rows=st.lists(
        st.lists(st.one_of(phone_cells(), text_cells), min_size=0, max_size=19),
        min_size=1,
        max_size=6,
    ),
)
def test_the_c_check_agrees_with_the_python_check(
    region: str, mapped: bool, rows: list[list[str]]
) -> None:
    python, fast = both(MAPPED if mapped else _ecm_layout(), region, rows)
    assert fast == python


@settings(max_examples=100, deadline=None)
@given(rows=st.lists(st.lists(phone_cells(), min_size=1, max_size=5), min_size=1, max_size=8))
def test_numbers_of_every_form_agree_in_each_region_the_c_check_plans_for(
    rows: list[list[str]],
) -> None:
    for region in ("US", "CA", "GB", "DE", "PL", "CN", "AU", "IN", "BR", "RU"):
        python, fast = both(_ecm_layout(), region, rows)
        assert fast == python, region


@settings(max_examples=150, deadline=None)
@given(
    region=st.sampled_from(["US", "GB", "DE"]),
    rows=st.lists(st.lists(phone_cells(), min_size=1, max_size=3), min_size=1, max_size=6),
    repeats=st.lists(st.integers(0, 5), max_size=4),
    known=st.integers(0, 2),
)
def test_deduplicating_both_keep_the_first_of_each_contact_and_none_known(
    region: str, rows: list[list[str]], repeats: list[int], known: int
) -> None:
    rows = rows + [rows[i % len(rows)] for i in repeats]
    python = RowChecker(_ecm_layout(), region, ZoneIds({"": 1}, 2))
    results = [python.check(n, cells) for n, cells in enumerate(rows, 1)]
    keys = [r[1] for r in results if type(r) is tuple]
    known_keys = keys[:known]
    expected, seen = [], set(known_keys)
    for r in results:
        if type(r) is tuple and r[1] not in seen:
            seen.add(r[1])
            expected.append(r)
    packed = array.array("q", known_keys).tobytes()
    for collector in (
        Counting(_ecm_layout(), region, ZoneIds({"": 1}, 2)).collector(packed),
        Collected(RowChecker(_ecm_layout(), region, ZoneIds({"": 1}, 2)).check, packed),
    ):
        said = [collector.add(n, cells) for n, cells in enumerate(rows, 1)]
        assert said == [None if type(r) is tuple else r for r in results]
        taken = collector.take()
        assert (marshal.loads(taken) if isinstance(taken, bytes) else taken) == expected


def test_plain_us_rows_are_checked_in_c_and_the_rest_in_python() -> None:
    checker = Counting(_ecm_layout(), "US", ZoneIds({"": 1}, 2))
    fast = checker.collector()
    assert isinstance(fast, _rowfast.Checker)
    plain = [
        ["(212) 555-0100", "", "", "", "", "Smith, Ann", "AC-1"],
        ["+1 907 555 0101", "1-808-555-0102", "605.555.0103", "", "", "gold"],
        ["2125550104", *([""] * 4), *(["p"] * 12)],
    ]
    rows = checked(fast, plain)
    assert all(type(row) is tuple for row in rows) and checker.slow_rows == 0
    assert [r[7] for r in rows] == ["+12125550100", "+19075550101", "+12125550104"]
    assert rows[1][8:10] == ("+18085550102", "+16055550103")
    for cells in (["", "x"], ["not a number"], ["212555010"], ["2125550100", "z" * 256]):
        assert type(fast.add(9, cells)) is list  # rejects, worded by the Python check
    assert checker.slow_rows == 4
    assert marshal.loads(fast.take()) == []


def test_layouts_with_more_than_phones_and_parameters_use_the_python_check() -> None:
    layout = _mapped_layout(
        "m", ColumnMapping(columns={"phone1": "Mobile", "external_id": "Ref"}), ["Mobile", "Ref"]
    )
    collector = RowChecker(layout, "US", ZoneIds({}, 1)).collector()
    assert isinstance(collector, Collected)
    (row,) = checked(collector, [["2125550100", "A-1"]])
    assert row[7] == "+12125550100" and row[29] == "A-1"
    assert collector.take() == []
