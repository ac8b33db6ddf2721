"""Facts about libphonenumber's patterns, proved from their parse tree (the stdlib's own re parser).

The phone fast path uses two of them to skip work without changing a single answer:
- `first_chars`: every character a match can start with, so a number starting elsewhere is known
  not to begin with, e.g., the international or national prefix;
- `decisive_prefixes`: patterns made of fixed-width heads followed by runs of "any digit" judge an
  all-digit string by its first h digits and its length alone, so verdicts can be cached by those.
Both answer None whenever the shape is not that simple, and the caller then does the full work.
"""

from __future__ import annotations

import importlib
from typing import Any

# The stdlib's own regex parser (private modules, stable in shape since Python 3.5).
C: Any = importlib.import_module("re._constants")
sre: Any = importlib.import_module("re._parser")

_ASCII_DIGITS = frozenset("0123456789")
# Zero-width or context-dependent nodes: a head containing one may look past its own width.
_LOOKING = {C.ASSERT, C.ASSERT_NOT, C.GROUPREF, C.GROUPREF_EXISTS, C.AT}


def first_chars(pattern: str) -> frozenset[str] | None:
    """The characters a non-empty match of `pattern` can begin with; None: cannot tell (or empty)."""
    return _first(list(sre.parse(pattern)))


def _first(items: list[Any]) -> frozenset[str] | None:
    if not items:
        return None
    op, av = items[0]
    if op is C.LITERAL:
        return frozenset(chr(av))
    if op is C.IN:
        return _class(av)
    if op is C.BRANCH:
        found: set[str] = set()
        for branch in av[1]:
            chars = _first(list(branch))
            if chars is None:
                return None
            found |= chars
        return frozenset(found)
    if op is C.SUBPATTERN:
        return _first(list(av[3]))
    if op in (C.MAX_REPEAT, C.MIN_REPEAT) and av[0] >= 1:
        return _first(list(av[2]))
    return None


def _class(members: list[Any]) -> frozenset[str] | None:
    """The ASCII digits and literals a character class admits (numbers here are ASCII digits)."""
    chars: set[str] = set()
    for op, av in members:
        if op is C.LITERAL:
            chars.add(chr(av))
        elif op is C.RANGE:
            chars.update(chr(c) for c in range(av[0], av[1] + 1))
        elif op is C.CATEGORY and av is C.CATEGORY_DIGIT:
            chars |= _ASCII_DIGITS
        else:
            return None  # negation or another category: do not guess
    return frozenset(chars)


def decisive_prefixes(patterns: list[str]) -> dict[str, int] | None:
    """For each first digit d, an h such that whether each pattern fullmatches an all-ASCII-digit
    s starting with d depends only on s[:h] and len(s); None when a pattern is not that simple.

    True when every top-level alternative is a fixed-width head (without lookarounds) followed
    only by fixed runs of any digit (`\\d{m}`, `[0-9]{m}`): the head consumes exactly its width
    and the runs accept any digits as long as the length adds up. A head may itself end in
    alternatives of that shape (sre_parse factors a prefix shared by alternatives out into one,
    e.g. `52\\d{4}|5[34]\\d{6}` into `5(?:2\\d{4}|[34]\\d{6})`): then it is decided by its fixed
    part and the widest of their heads. An alternative that cannot start with d does not matter
    for numbers starting with d.
    """
    widths = dict.fromkeys("0123456789", 0)
    for pattern in patterns:
        parsed = sre.parse(pattern)
        items = list(parsed)
        branches = items[0][1][1] if len(items) == 1 and items[0][0] is C.BRANCH else [items]
        for branch in branches:
            width = _head_width(list(branch), parsed.state)
            if width is None:
                return None
            starts = _first(list(branch)) or _ASCII_DIGITS
            for digit in starts & _ASCII_DIGITS:
                widths[digit] = max(widths[digit], width)
    return widths


def _head_width(items: list[Any], state: Any) -> int | None:
    """How many leading characters decide a fullmatch of `items` (with the length); None when
    that is not fixed: a fixed-width part, then either nothing or alternatives of the same shape,
    then fixed runs of any digit."""
    head = list(items)
    while head and _any_digit_run(head[-1]):
        head.pop()
    tail: list[Any] | None = None
    if head and head[-1][0] is C.BRANCH:
        tail = list(head.pop()[1][1])
    if _looks_around(head):
        return None
    low, high = sre.SubPattern(state, head).getwidth()
    if low != high:
        return None
    if tail is None:
        return int(low)
    inner = [_head_width(list(branch), state) for branch in tail]
    if any(width is None for width in inner):
        return None
    return int(low) + max(width for width in inner if width is not None)


def _any_digit_run(item: Any) -> bool:
    op, av = item
    if op in (C.MAX_REPEAT, C.MIN_REPEAT):
        low, high, sub = av
        return bool(low == high and len(sub) == 1 and _any_digit(sub[0]))
    return _any_digit(item)


def _any_digit(item: Any) -> bool:
    op, av = item
    return op is C.IN and _class(av) == _ASCII_DIGITS and len(av) == 1


def _looks_around(items: list[Any]) -> bool:
    for op, av in items:
        if op in _LOOKING:
            return True
        if op is C.BRANCH and any(_looks_around(list(b)) for b in av[1]):
            return True
        if op is C.SUBPATTERN and _looks_around(list(av[3])):
            return True
        if op in (C.MAX_REPEAT, C.MIN_REPEAT) and _looks_around(list(av[2])):
            return True
    return False
