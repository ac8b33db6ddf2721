"""The one rule for every name a person gives the box (#18): campaigns, agents, tokens, lines,
seats, column mappings and stored strategies.

A name is 1-64 ASCII letters, digits, '.', '_' or '-', starting with a letter or digit — so it
is never '.', '..', a path, a hidden file, an option (`-x`), whitespace, a control or a bidi
character, and it reads the same in a URL, a shell, a file name and a log line. A few names the
box uses for itself are reserved. Names used to build file paths go through `safe_join`, which
refuses any result that leaves its directory.

Names that were accepted before this rule (older databases) keep working: lookups take any name
a row has (`LOOKUP_SCHEMA` for API path parameters refuses only what can never be addressed: '.',
'..', '/', '\\' and controls); only creating and renaming check `check_name`. `dialbox doctor`
lists the old names that break the rule (`unsafe_name`).

Stdlib only: every layer above the drivers may import it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from appliance.errors import DialboxError

MAX_LENGTH = 64
PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
RULE = "names are 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")

# The hot folder's own directories beside the campaigns' (appliance/importing/hotfolder.py).
ARCHIVE = "archive"
FAILED = "failed"
# Name endings the hot folder takes for files still being written: a campaign folder named so
# would never be read.
IGNORED_SUFFIXES = (".part", ".tmp")
# name (lower case) -> who uses it
RESERVED: dict[str, str] = {
    ARCHIVE: "the hot folder uses it",
    FAILED: "the hot folder uses it",
}

# API path parameters that look a thing up: any name a row may have from before the rule, but
# never '.', '..' (a path's own segments), '/', '\\' or a control character. (The JSON schema
# regex dialect is ECMA 262's, where '$' is the end of the text.)
LOOKUP_RULE = "a name is never '.' or '..' and has no '/', '\\' or control character"
LOOKUP_PATTERN = r"^(?!\.\.?$)[^/\\\u0000-\u001f\u007f-\u009f]{1,64}$"
_LOOKUP = re.compile(r"(?!\.\.?\Z)[^/\\\x00-\x1f\x7f-\x9f]{1,64}")


class BadName(DialboxError, ValueError):
    """A name that breaks the rule; the message says which rule and why (the CLI exits 2, the
    API answers 422, a config model reports it at the key's file and line)."""


def problem(kind: str, name: str) -> str | None:
    """Why `name` cannot name a new `kind` (campaign, agent, token, line…); None: it can."""
    if not isinstance(name, str) or _NAME.fullmatch(name) is None:
        return f"{kind} name {name!r} is not allowed: {RULE}"
    lowered = name.lower()
    if lowered in RESERVED:
        return f"{name!r} is reserved: {RESERVED[lowered]}; choose another {kind} name"
    if lowered.endswith(IGNORED_SUFFIXES):
        return (
            f"{kind} name {name!r} is not allowed: the hot folder ignores folders ending in"
            f" {' or '.join(IGNORED_SUFFIXES)}"
        )
    return None


def check_name(kind: str, name: str) -> str:
    """`name` if it may name a new `kind`; else BadName saying the rule and why."""
    reason = problem(kind, name)
    if reason is not None:
        raise BadName(reason)
    return name


def is_safe(name: str) -> bool:
    return problem("", name) is None


def addressable(name: str) -> bool:
    """Whether an existing thing of this name can be looked up by the API (LOOKUP_PATTERN)."""
    return _LOOKUP.fullmatch(name) is not None


def schema(kind: str) -> dict[str, Any]:
    """The JSON schema of a new name (request bodies, OpenAPI)."""
    return {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_LENGTH,
        "pattern": PATTERN,
        "description": f"a {kind} name: {RULE}; not {', '.join(sorted(RESERVED))}",
    }


def lookup_schema(kind: str) -> dict[str, Any]:
    """The JSON schema of a path parameter naming an existing thing."""
    return {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_LENGTH,
        "pattern": LOOKUP_PATTERN,
        "description": f"an existing {kind}'s name. New names match {PATTERN} ({RULE});"
        " names from before that rule are still found by their exact text",
    }


def safe_join(base: Path, name: str) -> Path:
    """`base/name` for one path segment `name`, refused (BadName) unless the result, with
    symlinks resolved, is directly inside `base` resolved: never '..', a path, an absolute path
    or a symlink that points elsewhere."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name:
        raise BadName(f"{name!r} cannot name a file inside {base}")
    root = base.resolve()
    joined = base / name
    if joined.resolve().parent != root:
        raise BadName(f"{name!r} leads out of {base}")
    return joined
