"""Every call strategy the documentation shows (README.md, docs/*.md, the strategy module's own
docstring): fenced YAML or JSON blocks that hold a strategy, and inline action mappings such as
`{action: sms, after: 5m}` — so tests can hold the parser and the API to what the docs say."""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
_INLINE_ACTION = re.compile(r"`(\{action:[^`]*\})`")
_STRATEGY_KEYS = {"attempts", "on", True, "steps_on"}  # YAML 1.1 reads a bare `on` as true


@dataclass(frozen=True)
class Example:
    where: str  # file:line
    data: Any


def _is_strategy(data: Any) -> bool:
    return isinstance(data, dict) and "name" in data and bool(_STRATEGY_KEYS & set(data))


def strategies() -> list[Example]:
    """Each strategy in a fenced yaml/json block of the docs, and the strategy module's own."""
    found = []
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        for block in _FENCE.finditer(text):
            if block.group(1) not in ("yaml", "yml", "json"):
                continue
            line = text.count("\n", 0, block.start(2)) + 1
            data = yaml.safe_load(block.group(2))  # JSON is YAML too
            if _is_strategy(data):
                found.append(Example(f"{path.name}:{line}", data))
    from appliance.scheduler import strategy

    doc = strategy.__doc__ or ""
    start = doc.index("A strategy is data")
    lines = doc[start:].split("\n\n", 2)[1]  # the indented block after that paragraph
    found.append(Example("appliance/scheduler/strategy.py", yaml.safe_load(textwrap.dedent(lines))))
    return found


def inline_actions() -> list[Example]:
    """Each `{action: ...}` written inline in the docs."""
    found = []
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        for match in _INLINE_ACTION.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found.append(Example(f"{path.name}:{line}", yaml.safe_load(match.group(1))))
    return found


def as_json(data: Any) -> Any:
    """A strategy read from YAML as a JSON body says it: `on` for YAML's true, keys as text."""
    if isinstance(data, dict):
        return {("on" if k is True else str(k)): as_json(v) for k, v in data.items()}
    if isinstance(data, list):
        return [as_json(item) for item in data]
    return data
