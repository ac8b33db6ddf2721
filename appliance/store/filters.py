"""Campaign filters (SPEC D8): a small safe expression language compiled to parameterized SQL.

    bp3 == "gold" and bp5 > 100
    (priority >= 5 or bp1 in ["vip", "gold"]) and not bp7 contains "test"

A hand-written tokenizer and recursive-descent parser turn the text into a WHERE fragment over
the bare column names of `contacts`; every value the user wrote travels as a `?` parameter and
every column name comes from the fixed table below, so no user text ever becomes SQL.

Semantics (docs/filters.md): text comparisons ignore ASCII case; a missing text value is "";
comparing a text field with a number compares numerically and is false where the field does not
hold a plain decimal number; every condition is plainly true or false (no SQL NULL logic), so
`not` always means "every other contact".
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass

from appliance.domain import BP_FIELDS, PHONE_FIELDS, ContactState
from appliance.errors import DialboxError
from appliance.store import dialect

MAX_LENGTH = 4000
MAX_CONDITIONS = 256  # keeps the SQL well inside SQLite's expression depth limit (1000)
MAX_NESTING = 32
MAX_LIST = 1000


class FieldType(enum.Enum):
    TEXT = "text"
    NUMBER = "number"


FIELDS: dict[str, FieldType] = {
    **{name: FieldType.TEXT for name in BP_FIELDS},
    **{name: FieldType.TEXT for name in PHONE_FIELDS},
    **{f"e164_{i}": FieldType.TEXT for i in range(1, 6)},
    "external_id": FieldType.TEXT,
    "owner_agent": FieldType.TEXT,
    "state": FieldType.TEXT,
    "priority": FieldType.NUMBER,
    "attempts": FieldType.NUMBER,
}

# What the user may write -> the SQL operator ("=" and "<>" are accepted for people who know SQL).
_COMPARISONS = {
    "==": "=",
    "=": "=",
    "!=": "<>",
    "<>": "<>",
    "<": "<",
    "<=": "<=",
    ">": ">",
    ">=": ">=",
}
_TEXT_MATCHES = ("contains", "startswith", "endswith")
_OTHER_FIELDS = ("external_id", "owner_agent", "state", "priority", "attempts")
_KEYWORDS = frozenset({"and", "or", "not", "in", *_TEXT_MATCHES})


@dataclass(frozen=True)
class CompiledFilter:
    """A WHERE fragment over `contacts` (wrapped in parentheses) and its `?` parameters in order."""

    sql: str
    params: tuple[str | float, ...]


class FilterError(DialboxError):
    """A filter that does not parse; `position` is 1-based (None: at the end of the text)."""

    def __init__(self, text: str, position: int | None, message: str) -> None:
        where = f"position {position}" if position is not None else "the end"
        caret_at = position if position is not None else len(text) + 1
        shown = "".join(ch if ch.isprintable() else " " for ch in text)
        super().__init__(
            f"filter error at {where}: {message}\n    {shown}\n    {' ' * (caret_at - 1)}^"
        )
        self.position = position
        self.message = message


class _Kind(enum.Enum):
    WORD = "word"
    STRING = "string"
    NUMBER = "number"
    OP = "operator"
    PUNCT = "punctuation"
    END = "end"


@dataclass(frozen=True)
class _Token:
    kind: _Kind
    text: str  # as written (for STRING: the decoded value)
    start: int  # 0-based offset into the filter text

    def describe(self) -> str:
        if self.kind is _Kind.END:
            return "the end of the filter"
        if self.kind is _Kind.STRING:
            return f"the text {self.text!r}"
        if self.kind is _Kind.WORD:
            kind = "keyword" if self.text.lower() in _KEYWORDS else "bare word"
            return f"{kind} {self.text!r}"
        return f"{self.kind.value} {self.text!r}"


_ESCAPES = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "t": "\t"}


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\x00":
            raise FilterError(text, i + 1, "a NUL character cannot appear in a filter")
        if ch.isspace():
            i += 1
        elif ch.isascii() and (ch.isalpha() or ch == "_"):
            j = i + 1
            while j < n and text[j].isascii() and (text[j].isalnum() or text[j] == "_"):
                j += 1
            tokens.append(_Token(_Kind.WORD, text[i:j], i))
            i = j
        elif (ch.isdigit() and ch.isascii()) or (ch in "+-." and _number_follows(text, i)):
            i = _read_number(text, i, tokens)
        elif ch in "\"'":
            i = _read_string(text, i, tokens)
        elif text.startswith(("==", "!=", "<>", "<=", ">="), i):
            tokens.append(_Token(_Kind.OP, text[i : i + 2], i))
            i += 2
        elif ch in "=<>":
            tokens.append(_Token(_Kind.OP, ch, i))
            i += 1
        elif ch in "()[],":
            tokens.append(_Token(_Kind.PUNCT, ch, i))
            i += 1
        else:
            raise FilterError(
                text,
                i + 1,
                f"unexpected character {ch!r}; a filter is fields, comparisons, "
                '"quoted text", numbers, and/or/not and parentheses',
            )
    tokens.append(_Token(_Kind.END, "", n))
    return tokens


def _number_follows(text: str, i: int) -> bool:
    rest = text[i + 1 : i + 3] if text[i] in "+-" else text[i : i + 2]
    if rest.startswith("."):
        rest = rest[1:]
    return bool(rest) and rest[0].isascii() and rest[0].isdigit()


def _read_number(text: str, i: int, tokens: list[_Token]) -> int:
    j = i + 1 if text[i] in "+-" else i
    digits_before = j
    while j < len(text) and text[j].isascii() and text[j].isdigit():
        j += 1
    if j < len(text) and text[j] == ".":
        j += 1
        while j < len(text) and text[j].isascii() and text[j].isdigit():
            j += 1
    if j < len(text) and (text[j].isalnum() or text[j] in "_."):
        end = j
        while end < len(text) and (text[end].isalnum() or text[end] in "_."):
            end += 1
        raise FilterError(
            text, i + 1, f'{text[i:end]!r} is not a number; put text in quotes: "{text[i:end]}"'
        )
    literal = text[i:j]
    if j - digits_before > 30 or not math.isfinite(float(literal)):
        raise FilterError(text, i + 1, f"the number {literal} is too long")
    tokens.append(_Token(_Kind.NUMBER, literal, i))
    return j


def _read_string(text: str, i: int, tokens: list[_Token]) -> int:
    quote, j = text[i], i + 1
    out: list[str] = []
    while j < len(text):
        ch = text[j]
        if ch == "\x00":
            raise FilterError(text, j + 1, "a NUL character cannot appear in a filter")
        if ch == quote:
            tokens.append(_Token(_Kind.STRING, "".join(out), i))
            return j + 1
        if ch == "\\":
            escaped = text[j + 1] if j + 1 < len(text) else ""
            if escaped not in _ESCAPES:
                raise FilterError(
                    text, j + 1, "unknown escape; use \\\\, \\\", \\', \\n or \\t in quoted text"
                )
            out.append(_ESCAPES[escaped])
            j += 2
        else:
            out.append(ch)
            j += 1
    raise FilterError(text, i + 1, f"this text is never closed; expected a closing {quote}")


def _like_pattern(value: str, how: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return {
        "contains": f"%{escaped}%",
        "startswith": f"{escaped}%",
        "endswith": f"%{escaped}",
    }[how]


def _numeric_text(column: str, d: dialect.Dialect) -> tuple[str, str]:
    """SQL testing that a TEXT column holds a plain decimal number, and its value as REAL."""
    v = f"trim(ifnull({column}, ''))"
    return d.decimal_text(v), f"CAST({v} AS {d.real})"


class _Parser:
    def __init__(self, text: str, d: dialect.Dialect = dialect.SQLITE) -> None:
        self.d = d
        self.text = text
        self.tokens = _tokenize(text)
        self.pos = 0
        self.params: list[str | float] = []
        self.conditions = 0
        self.depth = 0

    # -- helpers -----------------------------------------------------------------------------
    @property
    def tok(self) -> _Token:
        return self.tokens[self.pos]

    def _is_word(self, *words: str) -> bool:
        return self.tok.kind is _Kind.WORD and self.tok.text.lower() in words

    def _at_end(self) -> bool:
        return self.tok.kind is _Kind.END

    def _is_punct(self, ch: str) -> bool:
        return self.tok.kind is _Kind.PUNCT and self.tok.text == ch

    def _advance(self) -> _Token:
        token = self.tok
        self.pos += 1
        return token

    def _fail(self, expected: str, token: _Token | None = None) -> FilterError:
        token = token or self.tok
        position = None if token.kind is _Kind.END else token.start + 1
        message = f"expected {expected}, found {token.describe()}"
        if token.kind is _Kind.WORD and token.text.lower() not in _KEYWORDS and "value" in expected:
            message += f'; put text in quotes: "{token.text}"'
        return FilterError(self.text, position, message)

    def _enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise FilterError(
                self.text, self.tok.start + 1, f"nested more than {MAX_NESTING} levels deep"
            )

    # -- grammar -----------------------------------------------------------------------------
    def parse(self) -> str:
        if self._at_end():
            raise FilterError(self.text, None, 'the filter is empty; expected e.g. bp3 == "gold"')
        sql = self._or()
        if not self._at_end():
            raise self._fail("'and', 'or' or the end of the filter")
        return sql

    def _or(self) -> str:
        parts = [self._and()]
        while self._is_word("or"):
            self._advance()
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"

    def _and(self) -> str:
        parts = [self._not()]
        while self._is_word("and"):
            self._advance()
            parts.append(self._not())
        return parts[0] if len(parts) == 1 else "(" + " AND ".join(parts) + ")"

    def _not(self) -> str:
        if self._is_word("not"):
            self._advance()
            self._enter()
            inner = self._not()
            self.depth -= 1
            return f"(NOT {inner})"
        if self._is_punct("("):
            self._advance()
            self._enter()
            inner = self._or()
            self.depth -= 1
            if not self._is_punct(")"):
                raise self._fail("')' or 'and'/'or'")
            self._advance()
            return inner
        return self._condition()

    def _condition(self) -> str:
        token = self.tok
        if token.kind is not _Kind.WORD or token.text.lower() in _KEYWORDS:
            raise self._fail("a field name (bp1..bp12, priority, attempts, state, …) or '('")
        field = token.text.lower()
        if field not in FIELDS:
            known = "bp1..bp12, phone1..phone5, e164_1..e164_5, " + ", ".join(_OTHER_FIELDS)
            raise FilterError(
                self.text, token.start + 1, f"unknown field {token.text!r}; fields are: {known}"
            )
        self._advance()
        self.conditions += 1
        if self.conditions > MAX_CONDITIONS:
            raise FilterError(self.text, token.start + 1, f"more than {MAX_CONDITIONS} conditions")
        negate = False
        if self._is_word("not"):
            self._advance()
            negate = True
            if not self._is_word("in", *_TEXT_MATCHES):
                raise self._fail("'in', 'contains', 'startswith' or 'endswith' after 'not'")
        if self._is_word("in"):
            self._advance()
            sql = self._in(field)
        elif self._is_word(*_TEXT_MATCHES):
            sql = self._match(field, self._advance().text.lower())
        elif self.tok.kind is _Kind.OP and not negate:
            op = _COMPARISONS[self._advance().text]
            sql = self._compare(field, op, self._value())
        else:
            raise self._fail("a comparison (== != < <= > >=), 'in', 'contains' or 'startswith'")
        return f"(NOT {sql})" if negate else sql

    def _value(self) -> _Token:
        if self.tok.kind in (_Kind.STRING, _Kind.NUMBER):
            return self._advance()
        raise self._fail('a value (a "quoted text" or a number)')

    def _compare(self, field: str, op: str, value: _Token) -> str:
        if value.kind is _Kind.STRING:
            if FIELDS[field] is FieldType.NUMBER:
                raise FilterError(
                    self.text,
                    value.start + 1,
                    f"{field} is a number; compare it with a number (without quotes)",
                )
            text = value.text
            if field == "state" and op in ("=", "<>"):
                text = self._state(value)
            self.params.append(text)
            return f"(ifnull({field}, '') {op} ? COLLATE NOCASE)"
        self.params.append(float(value.text))
        if FIELDS[field] is FieldType.NUMBER:
            return f"({field} {op} ?)"
        check, number = _numeric_text(field, self.d)
        return f"({check} AND {number} {op} ?)"

    def _in(self, field: str) -> str:
        if not self._is_punct("["):
            raise self._fail("'[' starting a list of values")
        self._advance()
        texts: list[str] = []
        numbers: list[float] = []
        while True:
            if self._is_punct("]") and (texts or numbers):
                break
            value = self._value()
            if value.kind is _Kind.STRING:
                if FIELDS[field] is FieldType.NUMBER:
                    raise FilterError(
                        self.text, value.start + 1, f"{field} is a number; list numbers"
                    )
                texts.append(self._state(value) if field == "state" else value.text)
            else:
                numbers.append(float(value.text))
            if len(texts) + len(numbers) > MAX_LIST:
                raise FilterError(self.text, value.start + 1, f"more than {MAX_LIST} values")
            if self._is_punct(","):
                self._advance()
            elif not self._is_punct("]"):
                raise self._fail("',' or ']'")
        self._advance()
        parts = []
        if texts:
            self.params.extend(texts)
            marks = ", ".join("?" * len(texts))
            parts.append(f"(ifnull({field}, '') COLLATE NOCASE IN ({marks}))")
        if numbers:
            self.params.extend(numbers)
            marks = ", ".join("?" * len(numbers))
            if FIELDS[field] is FieldType.NUMBER:
                parts.append(f"({field} IN ({marks}))")
            else:
                check, number = _numeric_text(field, self.d)
                parts.append(f"({check} AND {number} IN ({marks}))")
        return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"

    def _match(self, field: str, how: str) -> str:
        if FIELDS[field] is FieldType.NUMBER:
            raise FilterError(
                self.text,
                self.tokens[self.pos - 1].start + 1,
                f"{field} is a number; {how} works on text",
            )
        if self.tok.kind is not _Kind.STRING:
            raise self._fail(f'"quoted text" after {how}')
        self.params.append(_like_pattern(self._advance().text, how))
        return f"(ifnull({field}, '') {self.d.like} ? ESCAPE '\\')"

    def _state(self, value: _Token) -> str:
        """The stored name of the state the user wrote (`sent_to_dialer` -> `Sent to Dialer`)."""
        try:
            return ContactState.parse(value.text).value
        except ValueError:
            raise FilterError(
                self.text,
                value.start + 1,
                f"{value.text!r} is not a contact state; states are: {', '.join(ContactState)}",
            ) from None


def compile_filter(text: str, d: dialect.Dialect = dialect.SQLITE) -> CompiledFilter:
    """Compile a filter expression (for the engine `d` speaks); a `FilterError` (a
    DialboxError) names the position and what was expected."""
    if len(text) > MAX_LENGTH:
        raise FilterError(
            text[:60] + "…", None, f"the filter is longer than {MAX_LENGTH} characters"
        )
    parser = _Parser(text, d)
    sql = parser.parse()
    return CompiledFilter(f"({sql})", tuple(parser.params))


def field_names() -> Sequence[str]:
    """The fields a filter may name, in documentation order."""
    return tuple(FIELDS)
