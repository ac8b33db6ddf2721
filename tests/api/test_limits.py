"""The JSON limits of the API (appliance.api.limits.parse_json) as properties: whatever bytes come
in — deep nesting, long strings, lone surrogates, NULs, random or mangled bytes — the answer is
the document or a Problem of the intended 4xx, never another exception (issue #18)."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.api.limits import (
    INT_MAX,
    INT_MIN,
    MAX_DEPTH,
    check_param,
    nesting_depth,
    parse_json,
    pointer,
)
from appliance.api.problems import Problem

# Text with everything a client can put in a JSON string: lone surrogates and NUL included.
CHARS = st.one_of(
    st.characters(codec=None, categories=None),
    st.integers(0xD800, 0xDFFF).map(chr),
    st.sampled_from('\x00"\\/[]{}~'),
)
TEXT = st.text(CHARS, max_size=20)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(INT_MIN - 10, INT_MAX + 10) | st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    TEXT,
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=30,
)


def depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    return 0


def flaws(value: Any, path: list[str | int]) -> list[str]:
    """The pointers of what parse_json must refuse, found the slow and obvious way."""
    if isinstance(value, str):
        bad = "\x00" in value or any(0xD800 <= ord(c) <= 0xDFFF for c in value)
        return [pointer(path)] if bad else []
    if isinstance(value, bool) or value is None:
        return []
    if isinstance(value, int):
        return [] if INT_MIN <= value <= INT_MAX else [pointer(path)]
    if isinstance(value, float):
        return [] if math.isfinite(value) else [pointer(path)]
    items = value.items() if isinstance(value, dict) else enumerate(value)
    found = []
    for key, item in items:
        if isinstance(key, str) and flaws(key, []):
            found.append(pointer([*path, key]))
        found += flaws(item, [*path, key])
    return found


def outcome(raw: bytes, **limits: int) -> Any:
    try:
        return parse_json(raw, **limits)
    except Problem as problem:
        assert problem.status in (400, 413), problem.status
        assert problem.detail
        return problem


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(VALUES, st.booleans())
def test_a_document_comes_back_whole_or_refused_naming_each_flaw(value: Any, ascii: bool) -> None:
    raw = json.dumps(value, ensure_ascii=ascii).encode("utf-8", "surrogatepass")
    result = outcome(raw)
    if not ascii and any(0xD800 <= ord(c) <= 0xDFFF for c in json.dumps(value, ensure_ascii=False)):
        # a surrogate written as UTF-8 bytes (even half of a pair) is not UTF-8
        assert isinstance(result, Problem) and result.status == 400
        return
    meant = json.loads(raw)  # what the client meant: escaped surrogate pairs are one character
    expected = sorted(set(flaws(meant, [])))
    if not expected and depth(meant) <= MAX_DEPTH:
        assert result == meant
        return
    assert isinstance(result, Problem), (value, result)
    assert result.status == 400
    named = {e["pointer"] for e in result.errors}
    if len(expected) <= 20:  # each flaw named by its pointer
        assert sorted(named) == expected
    else:  # the first 20 found
        assert named <= set(expected) and len(result.errors) == 20


@settings(max_examples=60, deadline=None)
@given(st.integers(MAX_DEPTH + 1, 300_000), st.sampled_from(["[", '{"a":', '{"[":[']))
def test_nesting_beyond_the_limit_is_a_400_at_any_depth(levels: int, opener: str) -> None:
    closer = {"[": "]", '{"a":': "}", '{"[":[': "]}"}[opener]
    raw = (opener * levels + "1" + closer * levels).encode()
    result = outcome(raw, max_bytes=len(raw))
    assert isinstance(result, Problem) and result.status == 400
    assert f"deeper than {MAX_DEPTH}" in result.detail


@given(VALUES)
def test_the_pre_scan_measures_the_depth_of_real_documents(value: Any) -> None:
    text = json.dumps(value)
    deepest, offset = nesting_depth(text, limit=10_000)
    assert (deepest, offset) == (depth(value), -1)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_never_raise_anything_else(raw: bytes) -> None:
    outcome(raw)


@settings(max_examples=300, deadline=None)
@given(VALUES, st.data())
def test_mangled_documents_never_raise_anything_else(value: Any, data: st.DataObject) -> None:
    raw = bytearray(json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass"))
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(raw)))
        raw[at:at] = data.draw(
            st.binary(min_size=1, max_size=3)
            | st.sampled_from([b"[", b"{", b'"', b"\\u", b"\\ud800"])
        )
    outcome(bytes(raw))


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 4096), st.integers(0, 64))
def test_a_body_beyond_the_limit_is_a_413_and_within_it_parses(limit: int, extra: int) -> None:
    raw = json.dumps("a" * (limit - 2 + extra)).encode()
    result = outcome(raw, max_bytes=limit)
    if extra:
        assert isinstance(result, Problem) and result.status == 413
    else:
        assert result == "a" * (limit - 2)


def test_long_strings_within_the_limit_parse_quickly() -> None:
    text = "x" * 900_000 + "[{" * 1000
    assert parse_json(json.dumps({"t": text}).encode()) == {"t": text}


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity", "1e400", "-1e999"])
def test_non_finite_numbers_are_refused(constant: str) -> None:
    result = outcome(f'{{"x": [{constant}]}}'.encode())
    assert isinstance(result, Problem) and result.status == 400


@settings(max_examples=200, deadline=None)
@given(st.text(CHARS, max_size=1100))
def test_parameters_are_checked_or_refused_with_a_400(value: str) -> None:
    try:
        check_param("name", value, "path")
    except Problem as problem:
        assert problem.status == 400
        assert problem.errors[0]["where"] == "name"
    else:
        assert len(value) <= 1024
        assert not any(c < " " or c == "\x7f" or 0xD800 <= ord(c) <= 0xDFFF for c in value)
