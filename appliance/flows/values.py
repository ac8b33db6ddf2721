"""Reading the values of a flow file's YAML nodes as written (`0123` stays `0123`, `yes` stays
`yes`): names, prompts, texts, numbers within bounds, choices — each problem at its line."""

from __future__ import annotations

import difflib
import math
import re

import yaml

from appliance import names
from appliance.config.problems import Problem
from appliance.config.safeyaml import Constructor
from appliance.flows import model as m

NULL = "tag:yaml.org,2002:null"


def name_problem(kind: str, name: str) -> str | None:
    """Flows, nodes and questions follow the name rule's shape (appliance/names.py); they are
    no folders, so the hot folder's reserved words are free."""
    if re.fullmatch(names.PATTERN, name) is None:
        return f"{kind} name {name!r} is not allowed: {names.RULE}"
    return None


def a_or_an(word: str) -> str:
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"


def line_of(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def hint(word: str, choices: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def plain(text: str) -> bool:
    """No control or bidi-override character: what goes into the attempt's record and reports."""
    return not any(ord(c) < 32 or 127 <= ord(c) < 160 or 0x202A <= ord(c) <= 0x202E for c in text)


def shown(node: yaml.Node) -> str:
    if isinstance(node, yaml.ScalarNode):
        text = str(node.value)
        return repr(text if len(text) <= 40 else text[:40] + "…")
    return "a list" if isinstance(node, yaml.SequenceNode) else "a mapping"


class Reader:
    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []
        self.constructor = Constructor()

    def fail(self, line: int | None, key: str, message: str) -> None:
        self.problems.append(Problem(self.file, line, key, message))

    def pairs(self, node: yaml.MappingNode, path: str) -> list[tuple[str, yaml.Node, int]]:
        """The mapping's keys as written (a menu's `01` stays `01`), each once."""
        out: list[tuple[str, yaml.Node, int]] = []
        seen: set[str] = set()
        for key_node, value in node.value:
            line = line_of(key_node)
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == NULL:
                self.fail(line, path, "a key here must be a name")
                continue
            key = str(key_node.value)
            where = f"{path}.{key}" if path else key
            if key in seen:
                self.fail(line, where, "key given twice")
                continue
            seen.add(key)
            out.append((key, value, line))
        return out

    # ------------------------------------------------------------------ values
    def text(self, node: yaml.Node, key: str) -> str | None:
        """A scalar as written (`yes` stays `yes`, `0123` stays `0123`); None when empty."""
        if not isinstance(node, yaml.ScalarNode):
            what = "a list" if isinstance(node, yaml.SequenceNode) else "a mapping"
            self.fail(line_of(node), key, f"expected one value here, not {what}")
            return None
        if node.tag == NULL:
            return None
        return str(node.value)

    def prompt(self, node: yaml.Node, key: str, required: bool = True) -> str | None:
        value = self.text(node, key)
        if value is None or value == "":
            if required:
                self.fail(line_of(node), key, "the prompt is missing: give a stored message's "
                          "name, e.g. welcome (docs/flows.md, Prompts)")  # fmt: skip
            return None
        why = m.prompt_problem(value)
        if why:
            self.fail(line_of(node), key, why)
        return value

    def name(self, node: yaml.Node, key: str, kind: str) -> str | None:
        value = self.text(node, key)
        if not value:
            self.fail(line_of(node), key, f"the {kind} name is missing")
            return None
        why = name_problem(kind, value) if kind == "question" else names.problem(kind, value)
        if why:
            self.fail(line_of(node), key, why)
        return value

    def words(self, node: yaml.Node, key: str, what: str) -> str | None:
        value = self.text(node, key)
        if value is None:
            self.fail(line_of(node), key, f"{what} is missing")
        elif len(value) > m.MAX_TEXT or not plain(value):
            self.fail(line_of(node), key, f"{what} must be at most {m.MAX_TEXT} characters "
                      "without control characters")  # fmt: skip
        return value

    def value(self, node: yaml.Node, key: str) -> str | None:
        """A field's or an answer's value: text, or $input (the caller's last input)."""
        value = self.text(node, key)
        if value is None:
            self.fail(line_of(node), key, "the value is missing: write text ('' for empty) or "
                      f"{m.INPUT} for the caller's last input")  # fmt: skip
            return None
        if value.startswith("$") and value != m.INPUT:
            self.fail(line_of(node), key, f"{value!r} is not known: the only $ word is {m.INPUT} "
                      "(the caller's last input)")  # fmt: skip
        return self.words(node, key, "a value")

    def number(self, node: yaml.Node, key: str, low: float, high: float, whole: bool,
               above: bool = False) -> float | None:  # fmt: skip
        value: object = None
        if isinstance(node, yaml.ScalarNode):
            try:
                value = self.constructor.construct_object(node, deep=True)
            except (yaml.YAMLError, ValueError):
                value = None
        ok = False
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            ok = (value == int(value) or not whole) and low <= value <= high
            ok = ok and (value != low or not above)
        if not ok or not isinstance(value, int | float):
            kind = "a whole number" if whole else "a number of seconds"
            bounds = f"above {low:g}" if above else f"from {low:g}"
            self.fail(line_of(node), key, f"{kind} {bounds} to {high:g}, not {shown(node)}")
            return None
        return float(value)

    def choice(self, node: yaml.Node, key: str, allowed: tuple[str, ...], what: str) -> str | None:
        value = self.text(node, key)
        if value not in allowed:
            extra = " (a bare # starts a YAML comment: quote it)" if value is None else ""
            self.fail(line_of(node), key, f"{what}, not {shown(node)}{extra}")
            return None
        return value
