"""What the API takes from a client before any handler sees it: JSON bodies parsed with limits on
size, nesting and numbers, every string checked to be Unicode text, and path and query parameters
checked the same way. Whatever breaks a limit is a 4xx problem naming what and where (the JSON
pointer of the field, or the parameter) — never an exception deeper down (issue #18).

Why a pre-scan: the json module recurses once per nesting level, so a body of 200,000 `[` is a
RecursionError (and jsonschema and the handlers would recurse as deep). Counting brackets outside
strings first is linear and refuses such a body before json.loads is called."""

from __future__ import annotations

import json
import math
import re
from typing import Any
from urllib.parse import unquote_to_bytes

from appliance.api.problems import Problem

MAX_DEPTH = 32  # nesting of arrays and objects in a JSON body; the API's deepest needs 4
MAX_JSON_BODY = 1024 * 1024  # a JSON body; the largest, 10,000 DNC numbers, is about 250 kB
MAX_PARAM = 1024  # characters of one path or query parameter; names are at most 64
MAX_ERRORS = 20  # listed in one problem
INT_MIN, INT_MAX = -(2**63), 2**63 - 1  # what SQLite holds

# A JSON string token (escapes included), or one bracket, or a quote that opens a string never
# closed (the body is then not JSON, and json.loads says where).
_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]|"', re.DOTALL)
# C0 controls and DEL: never part of a name, a number or an id.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def visible(text: str, limit: int = 80) -> str:
    """`text` as a message may quote it: controls and surrogates as escapes, cut at `limit`."""
    out = "".join(
        f"\\u{ord(c):04x}" if c < " " or c == "\x7f" or "\ud800" <= c <= "\udfff" else c
        for c in text[:limit]
    )
    return out + ("…" if len(text) > limit else "")


def pointer(path: list[str | int]) -> str:
    """The RFC 6901 JSON pointer of `path` (tokens quoted with `visible`)."""
    return "".join("/" + visible(str(p), 200).replace("~", "~0").replace("/", "~1") for p in path)


def where(root: str, path: list[str | int]) -> str:
    return ".".join([root, *(visible(str(p), 200) for p in path)])


def _error(path: list[str | int], message: str) -> dict[str, str]:
    return {"where": where("body", path), "pointer": pointer(path), "message": message}


def nesting_depth(text: str, limit: int = MAX_DEPTH) -> tuple[int, int]:
    """The nesting depth of the JSON text, counting brackets outside strings; stops at the first
    bracket deeper than `limit` and returns (depth, its offset), else (deepest, -1)."""
    depth = deepest = 0
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > limit:
                return depth, match.start()
            deepest = max(deepest, depth)
        elif token in "]}":
            depth -= 1
        elif token == '"':
            break  # a string that never ends: not JSON, json.loads tells where
    return deepest, -1


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _text_problem(value: str, undecodable: bool) -> str | None:
    """Why the string is not acceptable text, or None."""
    bad = _SURROGATE.search(value)
    if bad is not None:
        char = bad.group()
        if undecodable and "\udc80" <= char <= "\udcff":
            return f"holds the byte 0x{ord(char) - 0xDC00:02x}, which is not UTF-8"
        return (
            f"holds a lone surrogate (\\u{ord(char):04x} at character {bad.start()}), which is "
            "not Unicode text; send each character as UTF-8 or as a \\u escape pair"
        )
    if "\x00" in value:
        return f"holds a NUL character (\\u0000 at character {value.index(chr(0))})"
    return None


def _check_tree(document: Any, undecodable: bool) -> list[dict[str, str]]:
    """Every string (keys too) Unicode text without NUL, every number finite and within 64 bits;
    iterative, so depth costs no stack (the pre-scan bounds it anyway). One error per pointer: a
    member whose name and value are both flawed is one entry saying both (two entries for one
    pointer once hid a twenty-first flaw behind the cap)."""
    found: dict[str, dict[str, str]] = {}

    def flaw(path: list[str | int], message: str) -> None:
        error = _error(path, message)
        if error["pointer"] in found:
            found[error["pointer"]]["message"] += f"; {message}"
        else:
            found[error["pointer"]] = error

    stack: list[tuple[list[str | int], Any]] = [([], document)]
    while stack and len(found) < MAX_ERRORS:
        path, value = stack.pop()
        if isinstance(value, str):
            why = _text_problem(value, undecodable)
            if why:
                flaw(path, f"the text {why}")
        elif isinstance(value, bool) or value is None:
            pass
        elif isinstance(value, int):
            if not INT_MIN <= value <= INT_MAX:
                flaw(path, "the number is beyond 64 bits (±9.2e18)")
        elif isinstance(value, float):
            if not math.isfinite(value):
                flaw(path, "the number is too large for a double")
        elif isinstance(value, list):
            stack.extend(([*path, i], item) for i, item in reversed(list(enumerate(value))))
        elif isinstance(value, dict):
            for key, item in reversed(list(value.items())):
                why = _text_problem(key, undecodable)
                if why:
                    flaw([*path, key], f"the member name {why}")
                stack.append(([*path, key], item))
    return sorted(found.values(), key=lambda e: e["pointer"])[:MAX_ERRORS]


def parse_json(raw: bytes, *, max_bytes: int = MAX_JSON_BODY, max_depth: int = MAX_DEPTH) -> Any:
    """The JSON document in `raw`, or a Problem: 413 beyond `max_bytes`; 400 for bytes that are
    not UTF-8, nesting beyond `max_depth`, text that is not JSON (NaN and Infinity included), a
    string holding a lone surrogate or NUL, a number beyond 64 bits or a double."""
    if len(raw) > max_bytes:
        raise Problem(
            413, f"the JSON body is {len(raw)} bytes; this operation takes at most {max_bytes}"
        )
    undecodable = None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        # Keep going with the bad bytes as U+DC80..U+DCFF so that the field can be named.
        undecodable = exc
        text = raw.decode("utf-8", "surrogateescape")
    _depth, offset = nesting_depth(text, max_depth)
    if offset >= 0:
        raise Problem(
            400,
            f"the JSON body nests arrays and objects deeper than {max_depth} levels "
            f"(character {offset}); this API needs far fewer",
            errors=[{"where": "body", "pointer": "", "message": f"nested deeper than {max_depth}"}],
        )
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:  # not with the pre-scan; kept so that it can never be a 500
        raise Problem(400, f"the JSON body nests deeper than {max_depth} levels") from None
    except ValueError as exc:
        if undecodable is not None:
            raise Problem(400, _not_utf8(raw, undecodable), errors=[
                {"where": "body", "pointer": "", "message": "not UTF-8"}]) from None  # fmt: skip
        raise Problem(
            400,
            f"the body is not valid JSON: {visible(str(exc), 200)}",
            errors=[{"where": "body", "pointer": "", "message": "not JSON"}],
        ) from None
    errors = _check_tree(document, undecodable is not None)
    if errors:
        first = "; ".join(f"{e['pointer'] or '/'}: {e['message']}" for e in errors[:3])
        lead = _not_utf8(raw, undecodable) + "; " if undecodable is not None else ""
        raise Problem(400, f"{lead}the body holds what is not text or not a number: {first}",
                      errors=errors)  # fmt: skip
    if undecodable is not None:  # every bad byte sat in a string: the walk above names it
        raise Problem(400, _not_utf8(raw, undecodable))
    return document


def _not_utf8(raw: bytes, exc: UnicodeDecodeError) -> str:
    return (
        f"the body is not UTF-8: byte 0x{raw[exc.start]:02x} at offset {exc.start} "
        f"({exc.reason}); JSON is UTF-8"
    )


def check_param(name: str, value: str, where: str) -> None:
    """A path or query parameter as received: not too long, no control characters (a percent-
    encoded NUL decodes to one), no surrogates."""
    if len(value) > MAX_PARAM:
        raise Problem(
            400,
            f"the {where} parameter {name!r} is {len(value)} characters; at most {MAX_PARAM}",
            errors=[{"where": name, "message": f"longer than {MAX_PARAM} characters"}],
        )
    bad = _CONTROL.search(value) or _SURROGATE.search(value)
    if bad is not None:
        char = bad.group()
        what = "a NUL character" if char == "\x00" else f"the control character \\u{ord(char):04x}"
        if "\ud800" <= char <= "\udfff":
            what = f"a lone surrogate \\u{ord(char):04x}"
        raise Problem(
            400,
            f"the {where} parameter {name!r} holds {what} at character {bad.start()}: "
            f"{visible(value)!r}",
            errors=[{"where": name, "message": f"holds {what}"}],
        )


def check_raw_utf8(raw: str, what: str) -> str | None:
    """Percent-decoded, is `raw` (a path segment, a query name or value) UTF-8? The reason if not.
    aiohttp leaves such a path segment encoded and makes U+FFFD of a query's bad bytes, so the
    handler would look up a name the client never meant."""
    try:
        unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError as exc:
        data = unquote_to_bytes(raw)
        return (
            f"the {what} is not UTF-8 once percent-decoded: byte 0x{data[exc.start]:02x} "
            f"({exc.reason})"
        )
    return None
