"""Property tests of file import: any CSV is processed without crashing and every row is accounted for."""

from __future__ import annotations

import csv
import io
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.domain import CampaignType
from appliance.importing.importer import import_file
from appliance.importing.reader import FileProblem
from appliance.store import open_database
from appliance.store.campaigns import create_campaign

AREAS = ("212", "305", "415", "646", "808", "907", "312")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")

valid_phone = st.builds(
    lambda area, exchange, line, style: style.format(a=area, e=exchange, n=line),
    st.sampled_from(AREAS),
    st.integers(200, 999),
    st.integers(0, 9999).map(lambda n: f"{n:04d}"),
    st.sampled_from(
        ["({a}) {e}-{n}", "{a}{e}{n}", "+1 {a} {e} {n}", "1-{a}-{e}-{n}", " {a}.{e}.{n} "]
    ),
)
odd_text = st.text(
    alphabet=st.sampled_from([*list("abcé漢😀 ,\"'\r\n\t;|\\"), "\x00", "\u2028", "\ufeff"]),
    max_size=12,
)
cell = st.one_of(
    valid_phone,
    st.just(""),
    st.sampled_from(["123", "(212) 000-0000", "+999 1234", "555-0100", "x" * 29, "y" * 256]),
    odd_text,
    st.text(max_size=300),
)
row = st.lists(cell, min_size=0, max_size=20)
first_row = st.tuples(valid_phone, st.lists(cell, max_size=16)).map(lambda t: [t[0], *t[1]])


def render(
    rows: list[list[str]], quoting: int, terminator: str, bom: bool
) -> tuple[bytes, list[int]]:
    """The file's bytes and the physical line each written row starts on."""
    out = io.StringIO(newline="")
    starts = []
    line = 1
    for cells in rows:
        chunk = io.StringIO(newline="")
        # Python's writer leaves a lone "\r" unquoted when the line ends with "\n" alone.
        how = csv.QUOTE_ALL if any("\r" in c for c in cells) else quoting
        csv.writer(chunk, quoting=how, lineterminator=terminator).writerow(cells)
        text = chunk.getvalue()
        starts.append(line)
        line += len(_LINE_BREAK.findall(text))
        out.write(text)
    return ("\ufeff" if bom else "").encode() + out.getvalue().encode(), starts


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    first=first_row,
    rest=st.lists(row, max_size=25),
    quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC]),
    terminator=st.sampled_from(["\r\n", "\n"]),
    bom=st.booleans(),
    header=st.booleans(),
)
def test_any_file_is_processed_and_every_row_is_accounted_for(
    first: list[str],
    rest: list[list[str]],
    quoting: int,
    terminator: str,
    bom: bool,
    header: bool,
) -> None:
    rows = [first, *rest]
    if header:
        rows.insert(0, ["Phone1", "Phone2", "Phone3", "Phone4", "Phone5", "BP1"])
    data, starts = render(rows, quoting, terminator, bom)
    db = open_database(":memory:")
    campaign = create_campaign(db, "P", CampaignType.AGENT, "US", {}, 0.0, "t")

    def run() -> tuple[int, int, int, int, list[int]]:
        report = import_file(
            db, campaign, io.BytesIO(data), region="US", mappings={}, now=0.0, actor="t", source="p"
        )
        return (
            report.rows,
            report.imported,
            report.rejected,
            report.duplicates,
            [r.line for r in report.rejects],
        )

    total, imported, rejected, duplicates, lines = run()
    assert imported + rejected + duplicates == total
    # A NUL byte makes the csv module give up on a line, which may then split one written row
    # in two; without one, every written row that is not blank is exactly one imported row.
    if "\x00" not in data.decode("utf-8-sig"):
        records = [r for r in rows[1 if header else 0 :] if any(c.strip() for c in r)]
        assert total == len(records)
        assert set(lines) <= set(starts)
    assert lines == sorted(lines)
    assert db.scalar("SELECT count(*) FROM contacts") == imported

    again = run()
    assert again[0] == total and again[1] == 0
    assert again[3] == imported + duplicates
    assert again[2] == rejected


@settings(max_examples=80, deadline=None)
@given(
    data=st.one_of(
        st.binary(max_size=200),
        st.text(alphabet=st.sampled_from(list('2125550100,"\r\n ab+()')), max_size=200).map(
            str.encode
        ),
    )
)
def test_arbitrary_bytes_import_or_fail_with_a_file_problem(data: bytes) -> None:
    db = open_database(":memory:")
    campaign = create_campaign(db, "P", CampaignType.AGENT, "US", {}, 0.0, "t")
    try:
        report = import_file(
            db, campaign, io.BytesIO(data), region="US", mappings={}, now=0.0, actor="t", source="p"
        )
    except FileProblem as exc:
        # Not UTF-8, or a first line that cannot be read as a header or a contact: each
        # refusal names the line (#22).
        assert "not UTF-8" in str(exc) or re.match(r"p: line \d+: ", str(exc)), exc
        assert db.scalar("SELECT count(*) FROM contacts") == 0
        return
    assert report.imported + report.rejected + report.duplicates == report.rows
