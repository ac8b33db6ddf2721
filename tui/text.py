"""Text from the box shown as it is: contact data and API messages hold what an import or a CRM put
there — brackets that Rich would read as markup, control characters, very long values."""

from __future__ import annotations

import unicodedata
from typing import Any

from rich.text import Text


def printable(value: Any) -> str:
    """`value` as one line of visible characters: C0 controls as their Unicode pictures (␛, ␊),
    DEL and the C1 controls and invisible format characters (bidi overrides…) as U+FFFD."""
    text = "" if value is None else str(value)
    out = []
    for ch in text:
        code = ord(ch)
        if code < 0x20:
            out.append(chr(0x2400 + code))
        elif code == 0x7F or 0x80 <= code < 0xA0 or unicodedata.category(ch) in ("Cf", "Cs"):
            out.append("\ufffd")
        else:
            out.append(ch)
    return "".join(out)


def cell(value: Any, width: int | None = None) -> Text:
    """A table cell that is never read as markup, at most `width` cells wide (… when cut)."""
    text = Text(printable(value), no_wrap=True, end="")
    if width is not None:
        text.truncate(width, overflow="ellipsis")
    return text
