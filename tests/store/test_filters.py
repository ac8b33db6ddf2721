"""Campaign filters (D8): the language compiles to parameterized SQL that selects what it says."""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.cli import main
from appliance.errors import DialboxError
from appliance.store import Database, open_database
from appliance.store.filters import FilterError, compile_filter

TEXT_FIELDS = ("bp1", "bp2", "bp3", "external_id")
NUMBER_FIELDS = ("priority", "attempts")


_SHARED: list[Database] = []


def make_db(rows: Sequence[dict[str, Any]], *, fresh: bool = True) -> Database:
    """A database holding exactly `rows` as contacts of campaign 1 (`fresh=False` reuses one)."""
    if fresh or not _SHARED:
        db = open_database(":memory:")
        db.conn.execute(
            "INSERT INTO campaigns(id, name, type, region, created_at, updated_at)"
            " VALUES (1, 'c', 'agent', 'US', 0, 0)"
        )
        if fresh:
            return _fill(db, rows)
        _SHARED.append(db)
    db = _SHARED[0]
    db.conn.execute("DELETE FROM contacts")
    return _fill(db, rows)


def _fill(db: Database, rows: Sequence[dict[str, Any]]) -> Database:
    for i, row in enumerate(rows, start=1):
        columns = {
            "id": i,
            "campaign_id": 1,
            "dedup_key": i,
            "phone1": "2125550100",
            "e164_1": "+12125550100",
            "created_at": 0,
            "updated_at": 0,
            **row,
        }
        db.conn.execute(
            f"INSERT INTO contacts({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
            tuple(columns.values()),
        )
    return db


def matching(db: Database, text: str) -> list[int]:
    compiled = compile_filter(text)
    return [
        row[0]
        for row in db.conn.execute(
            f"SELECT id FROM contacts WHERE campaign_id = ? AND {compiled.sql} ORDER BY id",
            (1, *compiled.params),
        )
    ]


ROWS: list[dict[str, Any]] = [
    {"bp3": "gold", "bp5": "150", "priority": 1},  # 1
    {"bp3": "Gold", "bp5": "99.5", "priority": 5},  # 2
    {"bp3": "silver", "bp5": " 1000 ", "priority": 0},  # 3
    {"bp3": None, "bp5": "n/a", "priority": 2, "state": "DNC Listed"},  # 4
    {"bp3": "gold plated", "bp5": "-7", "bp7": "100%_off", "external_id": "CRM-9"},  # 5
    {"bp3": "", "bp5": "12abc", "bp1": "vip", "attempts": 3},  # 6
]


@pytest.fixture(scope="module")
def db() -> Database:
    return make_db(ROWS)


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        ('bp3 == "gold" and bp5 > 100', [1]),  # the spec's example; "gold" matches "Gold" too
        ('BP3 == "gold"', [1, 2]),
        ('bp3 = "GOLD"', [1, 2]),
        ("bp5 > 100", [1, 3]),  # " 1000 " counts, "n/a" and "12abc" never do
        ("bp5 <= 100", [2, 5]),
        ("not bp5 > 100", [2, 4, 5, 6]),  # `not` is "every other contact"
        ("bp5 == 150.0", [1]),
        ('bp3 != "gold"', [3, 4, 5, 6]),  # a missing value is "", which is not "gold"
        ('bp3 == ""', [4, 6]),
        ('bp3 in ["silver", "GOLD"]', [1, 2, 3]),
        ('bp3 not in ["silver", "gold"]', [4, 5, 6]),
        ("priority in [0, 5]", [2, 3, 5, 6]),  # priority defaults to 0
        ('bp3 contains "old"', [1, 2, 5]),
        ('bp3 startswith "gold "', [5]),
        ('bp3 endswith "ER"', [3]),
        ('bp7 contains "%_"', [5]),  # LIKE wildcards in the value are literal
        ('bp7 contains "0%"', [5]),
        ('bp7 contains "x%"', []),
        ('bp3 not contains "gold"', [3, 4, 6]),
        ('state == "dnc listed"', [4]),
        ('state == "DNC_LISTED"', [4]),
        ('state in ["pending"]', [1, 2, 3, 5, 6]),
        ("attempts >= 3", [6]),
        ('external_id == "crm-9"', [5]),
        ('bp1 == "vip" or bp3 == "silver" and priority > 0', [6]),  # and binds tighter
        ('(bp1 == "vip" or bp3 == "silver") and priority == 0', [3, 6]),
        ('not bp3 == "gold" and priority > 1', [4]),  # not binds tighter than and
        ("bp3 == 'gold'", [1, 2]),
        ('bp3 == "gold" and not (priority >= 5 or bp5 < 0)', [1]),
    ],
)
def test_filters_select_what_they_say(db: Database, text: str, ids: list[int]) -> None:
    assert matching(db, text) == ids


def test_values_are_parameters_never_sql(db: Database) -> None:
    nasty = "x'); DROP TABLE contacts; --"
    compiled = compile_filter(f'bp1 == "{nasty}" or bp2 contains "\\" OR 1=1 --"')
    assert nasty in compiled.params
    assert "DROP" not in compiled.sql and "1=1" not in compiled.sql
    assert matching(db, f'bp1 == "{nasty}"') == []
    assert db.scalar("SELECT count(*) FROM contacts") == len(ROWS)


@pytest.mark.parametrize(
    ("text", "position", "words"),
    [
        ("1; DROP TABLE contacts", 2, "unexpected character ';'"),
        ("bp3 == 1; DROP TABLE contacts", 9, "unexpected character ';'"),
        ("bp3 = gold", 7, 'put text in quotes: "gold"'),
        ('(bp3 == "gold"', None, "expected ')'"),
        ('bp3 == "gold")', 14, "expected 'and', 'or' or the end"),
        ("bp13 > 1", 1, "unknown field 'bp13'"),
        ("colour == 'red'", 1, "unknown field 'colour'"),
        ('priority > "high"', 12, "priority is a number"),
        ('priority contains "1"', 10, "priority is a number"),
        ('bp3 == "gold', 8, "never closed"),
        ('bp3 == "a\\q"', 10, "unknown escape"),
        ("bp5 > 10x", 7, "'10x' is not a number"),
        ("bp5 >", None, "expected a value"),
        ("bp5 100", 5, "expected a comparison"),
        ("bp5 not > 1", 9, "expected 'in', 'contains'"),
        ("bp3 in gold", 8, "expected '['"),
        ('bp3 in ["a" "b"]', 13, "expected ',' or ']'"),
        ("bp3 in []", 9, "expected a value"),
        ("bp3 contains gold", 14, 'expected "quoted text" after contains'),
        ('state == "done"', 10, "not a contact state"),
        ("", None, "the filter is empty"),
        ('bp1 == "a" and', None, "expected a field name"),
        ('and bp1 == "a"', 1, "found keyword 'and'"),
        ("bp1 == '1' -- comment", 12, "unexpected character '-'"),
        ("bp1 == 1 /* x */", 10, "unexpected character '/'"),
        ("(" * 40 + "bp1 == 1" + ")" * 40, 34, "nested more than 32"),
        (" or ".join(["bp1 == 1"] * 300), 256 * 12 + 1, "more than 256 conditions"),
    ],
)
def test_errors_name_the_position_and_what_was_expected(
    text: str, position: int | None, words: str
) -> None:
    with pytest.raises(FilterError) as caught:
        compile_filter(text)
    assert caught.value.position == position
    assert words in str(caught.value)
    assert isinstance(caught.value, DialboxError)
    where = f"position {position}" if position is not None else "the end"
    assert str(caught.value).startswith(f"filter error at {where}: ")


def test_the_error_shows_the_filter_with_a_caret_under_the_problem() -> None:
    with pytest.raises(FilterError) as caught:
        compile_filter("bp3 = gold")
    lines = str(caught.value).splitlines()
    assert lines[1] == "    bp3 = gold"
    assert lines[2] == "          ^"


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=60))
def test_random_text_only_ever_raises_a_dialbox_error(text: str) -> None:
    try:
        compiled = compile_filter(text)
    except DialboxError:
        return
    assert compiled.sql.count("?") == len(compiled.params)  # no user text inside the SQL


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "bp1",
                "BP2",
                "priority",
                "==",
                "=",
                "!=",
                "<",
                ">=",
                "and",
                "or",
                "not",
                "in",
                "contains",
                "(",
                ")",
                "[",
                "]",
                ",",
                '"x"',
                "'y'",
                "5",
                "-2.5",
                "gold",
                ";",
                "--",
            ]
        ),
        max_size=14,
    )
)
def test_random_token_soup_only_ever_raises_a_dialbox_error(words: list[str]) -> None:
    text = " ".join(words)
    try:
        compiled = compile_filter(text)
    except DialboxError:
        return
    make_db([], fresh=False).conn.execute(
        f"SELECT id FROM contacts WHERE {compiled.sql}", compiled.params
    )


# -- generated expressions against a Python evaluation of the same expression ----------------

_FOLD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_DECIMAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)")
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def fold(text: str) -> str:
    """SQLite's NOCASE and LIKE fold ASCII letters only."""
    return text.translate(_FOLD)


def as_number(value: str) -> float | None:
    stripped = value.strip(" ")
    return float(stripped) if _DECIMAL.fullmatch(stripped) else None


def equal(row: dict[str, Any], field: str, literal: str | float) -> bool:
    return compare(row, field, "==", literal)


def compare(row: dict[str, Any], field: str, op: str, literal: str | float) -> bool:
    value = row.get(field)
    if field in NUMBER_FIELDS:
        return _OPS[op](value, literal)
    text = value or ""
    if isinstance(literal, str):
        return _OPS[op](fold(text), fold(literal))
    number = as_number(text)
    return number is not None and _OPS[op](number, literal)


def evaluate(node: tuple[Any, ...], row: dict[str, Any]) -> bool:
    kind = node[0]
    if kind == "and":
        return evaluate(node[1], row) and evaluate(node[2], row)
    if kind == "or":
        return evaluate(node[1], row) or evaluate(node[2], row)
    if kind in ("not", "paren"):
        inner = evaluate(node[1], row)
        return not inner if kind == "not" else inner
    if kind == "cmp":
        return compare(row, node[1], node[2], node[3][1])
    if kind == "in":
        found = any(equal(row, node[1], lit[1]) for lit in node[3])
        return not found if node[2] else found
    _, field, negate, how, literal = node
    text, pattern = fold(row.get(field) or ""), fold(literal[1])
    hit = {"contains": pattern in text, "startswith": text.startswith(pattern)}.get(
        how, text.endswith(pattern)
    )
    return not hit if negate else hit


_PRECEDENCE = {"or": 1, "and": 2, "not": 3}


def render(node: tuple[Any, ...]) -> str:
    kind = node[0]
    if kind in ("and", "or"):
        parts = []
        for child in node[1:]:
            text = render(child)
            parts.append(f"({text})" if _PRECEDENCE.get(child[0], 9) < _PRECEDENCE[kind] else text)
        return f" {kind} ".join(parts)
    if kind == "not":
        child = node[1]
        text = render(child)
        return f"not ({text})" if child[0] in ("and", "or") else f"not {text}"
    if kind == "paren":
        return f"({render(node[1])})"
    if kind == "cmp":
        return f"{node[1]} {node[2]} {node[3][0]}"
    if kind == "in":
        values = ", ".join(lit[0] for lit in node[3])
        return f"{node[1]} {'not in' if node[2] else 'in'} [{values}]"
    return f"{node[1]} {'not ' if node[2] else ''}{node[3]} {node[4][0]}"


def quote(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


ALPHABET = "aAgGoOlLdD %_\\'\"1.-+é\n"
WORDS = [
    "gold",
    "GOLD",
    "Gold ",
    "",
    "5",
    "5.0",
    " 100 ",
    "-3.5",
    "+2",
    ".5",
    "5.",
    "1.2.3",
    "abc5",
    "%_",
    "é",
    "50%",
    "a_b",
    "1e3",
    "0x10",
    "- 4",
]

text_literals = st.one_of(st.sampled_from(WORDS), st.text(ALPHABET, max_size=5)).map(
    lambda v: (quote(v), v)
)
number_literals = st.from_regex(r"-?[0-9]{1,4}(\.[0-9]{1,2})?", fullmatch=True).map(
    lambda t: (t, float(t))
)
any_literal = st.one_of(text_literals, number_literals)
ops = st.sampled_from(sorted(_OPS))

leaves = st.one_of(
    st.tuples(st.just("cmp"), st.sampled_from(TEXT_FIELDS), ops, any_literal),
    st.tuples(st.just("cmp"), st.sampled_from(NUMBER_FIELDS), ops, number_literals),
    st.tuples(
        st.just("in"),
        st.sampled_from(TEXT_FIELDS),
        st.booleans(),
        st.lists(any_literal, min_size=1, max_size=4),
    ),
    st.tuples(
        st.just("in"),
        st.sampled_from(NUMBER_FIELDS),
        st.booleans(),
        st.lists(number_literals, min_size=1, max_size=4),
    ),
    st.tuples(
        st.just("match"),
        st.sampled_from(TEXT_FIELDS),
        st.booleans(),
        st.sampled_from(["contains", "startswith", "endswith"]),
        text_literals,
    ),
)
expressions = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.tuples(st.just("and"), children, children),
        st.tuples(st.just("or"), children, children),
        st.tuples(st.just("not"), children),
        st.tuples(st.just("paren"), children),
    ),
    max_leaves=8,
)
bp_values = st.one_of(
    st.none(),
    st.sampled_from(WORDS),
    st.text(ALPHABET, max_size=6),
    st.from_regex(r" ?[+-]?[0-9]{0,3}\.?[0-9]{0,2} ?", fullmatch=True),
)
rows = st.lists(
    st.fixed_dictionaries(
        {
            "bp1": bp_values,
            "bp2": bp_values,
            "bp3": bp_values,
            "external_id": bp_values,
            "priority": st.integers(-5, 5),
            "attempts": st.integers(0, 10),
        }
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expressions, rows)
def test_generated_filters_select_exactly_what_python_says(
    expression: tuple[Any, ...], data: list[dict[str, Any]]
) -> None:
    text = render(expression)
    db = make_db(data, fresh=False)
    expected = [i for i, row in enumerate(data, start=1) if evaluate(expression, row)]
    assert matching(db, text) == expected, text


def test_campaign_set_refuses_a_bad_filter_and_keeps_the_old_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "dialbox.yaml"
    config.write_text("database: d.db\nregion: US\n")

    def dialbox(*argv: str) -> int:
        return main(["--config", str(config), *argv])

    assert dialbox("campaign", "create", "Spring") == 0
    assert dialbox("campaign", "set", "Spring", 'filter=bp3 == "gold" and bp5 > 100') == 0
    capsys.readouterr()
    assert dialbox("campaign", "set", "Spring", "filter=bp3 = gold") == 2
    assert "filter error at position 7" in capsys.readouterr().err
    assert dialbox("campaign", "show", "Spring", "--json") == 0
    assert json.loads(capsys.readouterr().out)["filter"] == 'bp3 == "gold" and bp5 > 100'
