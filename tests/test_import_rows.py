"""RowChecker.check gives what the straightforward reading of SPEC D1 gives, row for row."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.config.models import ColumnMapping
from appliance.domain import BP_FIELDS, MAX_BP_CHARS, PHONE_FIELDS
from appliance.importing.reader import Layout, _ecm_layout, _mapped_layout
from appliance.importing.report import Reject
from appliance.importing.rows import (
    _EXTRA_CHECKS,
    _EXTRA_FIELDS,
    RowChecker,
    ZoneIds,
    _short,
    dedup_key,
)
from appliance.phones import InvalidPhone, normalize_with_zone_key

MAPPED = ColumnMapping(
    columns={
        "phone1": "Mobile",
        "phone3": "Home",
        "bp2": "Name",
        "bp12": "Notes",
        "external_id": "Ref",
        "priority": "Prio",
        "timezone": "TZ",
        "callback_at": "Call back",
        "owner_agent": "Agent",
    }
)
MAPPED_HEADER = ["Ref", "Mobile", "Name", "Home", "Prio", "TZ", "Call back", "Agent", "Notes", "X"]


def reference(layout: Layout, region: str, zones: ZoneIds, line: int, cells: list[str]) -> Any:
    """The check as first written (before it was made fast): a row tuple or the rejects."""
    if len(cells) > layout.max_cells:
        return "too many"
    cells = cells + [""] * (layout.max_cells + 1 - len(cells))
    where = {f: i for i, f in enumerate(layout.fields) if f is not None}
    label = layout.labels
    problems: list[Reject] = []
    given_: list[str | None] = [None] * 5
    e164: list[str | None] = [None] * 5
    zone_ids: list[int | None] = [None] * 5
    for slot, f in enumerate(PHONE_FIELDS):
        if f not in where:
            continue
        text = cells[where[f]].strip()
        if not text:
            if slot == 0:
                problems.append(Reject(line, label[where[f]], "Phone1 is mandatory and empty"))
            continue
        try:
            number, zone = normalize_with_zone_key(text, region)
        except InvalidPhone as exc:
            problems.append(Reject(line, label[where[f]], str(exc), _short(text)))
            continue
        given_[slot], e164[slot], zone_ids[slot] = text, number, zones.id_for(zone)
    bps = [cells[where[f]].strip() if f in where else "" for f in BP_FIELDS]
    for f, v in zip(BP_FIELDS, bps, strict=True):
        if len(v) > MAX_BP_CHARS:
            name = label[where[f]] if f in where else f.upper()
            problems.append(
                Reject(line, name, f"longer than {MAX_BP_CHARS} characters ({len(v)})", _short(v))
            )
    extras: dict[str, Any] = {}
    for name in _EXTRA_FIELDS:
        if name in where and (value := cells[where[name]].strip()):
            try:
                extras[name] = _EXTRA_CHECKS[name](value)
            except ValueError as exc:
                problems.append(Reject(line, label[where[name]], str(exc), _short(value)))
    if problems:
        return problems
    parts = [e or "" for e in e164] + bps
    if extras:
        parts += [str(extras.get(f, "")) for f in _EXTRA_FIELDS]
    return (
        line,
        dedup_key(parts),
        *given_,
        *e164,
        *zone_ids,
        *[b or None for b in bps],
        extras.get("external_id"),
        extras.get("priority", 0),
        extras.get("timezone"),
        extras.get("callback_at"),
        extras.get("owner_agent"),
    )


phone = st.sampled_from(
    [
        "",
        " ",
        "(201) 555-0123",
        "+1 212 555 0100",
        "1-303-555-0199",
        "415.555.0132",
        "12",
        "+44 20 7946 0958",
        "not a number",
        "(212) 000-0000",
        "+1 907 555 0100 ",
        "5555555555",
    ]
)
text = st.one_of(
    st.sampled_from(
        [
            "",
            " x ",
            "Smith, J",
            "0",
            "-3",
            "1001",
            "America/Chicago",
            "Mars/Base",
            "2026-03-01T14:30:00-05:00",
            "2026-03-01",
            "soon",
            "é" * 256,
        ]
    ),
    st.text(max_size=8),
)


@settings(max_examples=300, deadline=None)
@given(
    mapped=st.booleans(),
    cells=st.lists(st.one_of(phone, text), min_size=0, max_size=19),
    line=st.integers(1, 10**6),
)
def test_check_agrees_with_the_reference(mapped: bool, cells: list[str], line: int) -> None:
    if mapped:
        layout = _mapped_layout("m", MAPPED, MAPPED_HEADER)
        assert layout is not None
    else:
        layout = _ecm_layout()
    fast = RowChecker(layout, "US", ZoneIds({}, 1)).check(line, list(cells))
    expected = reference(layout, "US", ZoneIds({}, 1), line, list(cells))
    if expected == "too many":
        assert isinstance(fast, list) and len(fast) == 1 and "fields, more than" in fast[0].reason
    else:
        assert fast == expected


def test_a_callback_time_beyond_the_calendar_is_a_reject() -> None:
    # #18: each was stored and broke every later reading of the contact (year 10000 or 0 in UTC)
    check = _EXTRA_CHECKS["callback_at"]
    for text in ("9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59"):
        try:
            check(text)
        except ValueError as exc:
            assert "years 1-9999" in str(exc)
        else:
            raise AssertionError(f"{text} was taken")
    assert check("2027-01-31T18:30:00Z") == 1801420200.0
