"""What a call flow (IVR) is once read: its nodes, each doing one thing, the ways out of each
node, the inputs a menu branches on, and the bounds every flow keeps (docs/flows.md)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

# Bounds of one flow. A call runs through at most MAX_STEPS steps (run.py) whatever the caller
# does; the validator keeps a flow small enough to read and a silent caller's way through it
# short (MAX_DEPTH nodes, each holding the line at most (retries + 1) × digits × timeout).
MAX_NODES = 200
MAX_DEPTH = 100
MAX_FLOWS = 200  # all files together
MAX_FILES = 64
MAX_DIGITS = 20
MAX_RETRIES = 9
MAX_TIMEOUT = 60.0
MAX_TEXT = 200  # a disposition, a field's value, an answer
MAX_SKILL = 64  # as a campaign's `skill` setting
MAX_PROMPT = 100

DEFAULT_DIGITS = 1
DEFAULT_TIMEOUT = 5.0
DEFAULT_RETRIES = 2
DEFAULT_CONFIRM_KEY = "1"

KEYS = "0123456789*#"  # what a branch may be made of (A-D exist in DTMF but not on phones)
END_KEYS = ("#", "*")
INPUT = "$input"  # a value standing for the caller's last accepted input
FIELDS = tuple(f"bp{i}" for i in range(1, 13))  # contact fields a flow may set

# A stored message's name: on a modem a file on the module (`welcome.amr`, `E:/welcome.amr`),
# on a line card a name in its message table. The box keeps no list of them, so a flow is
# checked for the shape only: no quote, space or control character that would break the AT
# command the name goes into.
PROMPT_RULE = (
    f"a prompt is a stored message's name: 1-{MAX_PROMPT} letters, digits, '.', '_', '-', "
    "'/', ':' or '\\', starting with a letter or digit (no spaces or quotes)"
)
_PROMPT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/\\-]{0,99}")  # MAX_PROMPT


def prompt_problem(name: str) -> str | None:
    if _PROMPT.fullmatch(name) is None:
        return f"{name!r} is not a prompt name: {PROMPT_RULE}"
    return None


@dataclass(frozen=True)
class Inputs:
    """One alternative of a menu branch: an exact sequence of keys (`1`, `*9`, `#`) or a range
    of numbers typed without leading zeros (`1-5`, `10-99`)."""

    text: str
    low: int = 0
    high: int = -1  # < low: an exact sequence (text)

    @property
    def is_range(self) -> bool:
        return self.high >= self.low

    @property
    def length(self) -> int:
        """The most keys an input it matches has."""
        return len(str(self.high)) if self.is_range else len(self.text)

    def matches(self, keys: str) -> bool:
        if not self.is_range:
            return keys == self.text
        return _canonical(keys) and self.low <= int(keys) <= self.high

    def shared(self, other: Inputs) -> str | None:
        """An input both match, or None."""
        if not self.is_range and not other.is_range:
            return self.text if self.text == other.text else None
        if not self.is_range:
            return self.text if other.matches(self.text) else None
        if not other.is_range:
            return other.text if self.matches(other.text) else None
        low, high = max(self.low, other.low), min(self.high, other.high)
        return str(low) if low <= high else None


def _canonical(keys: str) -> bool:
    return keys.isascii() and keys.isdigit() and (keys == "0" or not keys.startswith("0"))


def parse_inputs(text: str) -> tuple[tuple[Inputs, ...], str | None]:
    """A branch key (`1`, `1,3`, `1-5,9`) as its alternatives, or why it is not one."""
    out: list[Inputs] = []
    for part in text.split(","):
        part = part.strip()
        low, dash, high = part.partition("-")
        if dash:
            if not (_canonical(low) and _canonical(high)):
                return (), (
                    f"{part!r} is not a range: write two numbers without leading zeros, e.g. 1-5"
                )
            if int(low) > int(high):
                return (), f"the range {part} is empty: write the smaller number first"
            out.append(Inputs(part, int(low), int(high)))
        elif part and all(c in KEYS for c in part):
            out.append(Inputs(part))
        else:
            return (), (
                f"{part!r} is not an input: use keys 0-9, * and # (e.g. 1, *9, #), a range "
                "such as 1-5, or several joined by commas (1,3,5-7)"
            )
    return tuple(out), None


@dataclass(frozen=True)
class Edge:
    """A way out of a node: where to, written where, and what the caller must have done."""

    target: str
    key: str  # the key path it was written at, e.g. menu.on.1
    line: int
    keyed: bool  # taken only after the caller pressed a key
    carries_input: bool = False  # taken with an accepted input ($input is set)


@dataclass(frozen=True)
class Branch:
    inputs: tuple[Inputs, ...]
    text: str
    target: str


@dataclass(frozen=True)
class Play:
    prompt: str
    next: str | None


@dataclass(frozen=True)
class Ask:
    prompt: str
    digits: int
    end_key: str | None
    timeout: float
    retries: int
    invalid: str | None
    no_input: str | None
    question: str | None
    branches: tuple[Branch, ...]
    otherwise: str | None
    give_up: str | None

    def branch(self, keys: str) -> str | None:
        for branch in self.branches:
            if any(alternative.matches(keys) for alternative in branch.inputs):
                return branch.target
        return self.otherwise


@dataclass(frozen=True)
class SetFields:
    values: tuple[tuple[str, str], ...]  # field, value (INPUT: the last input)
    next: str | None


@dataclass(frozen=True)
class Answer:
    values: tuple[tuple[str, str], ...]  # question, value (INPUT: the last input)
    next: str | None


@dataclass(frozen=True)
class Disposition:
    text: str
    next: str | None


@dataclass(frozen=True)
class Goto:
    target: str


@dataclass(frozen=True)
class Queue:
    skill: str | None
    overflow: str | None


@dataclass(frozen=True)
class OptOut:
    confirm: bool
    prompt: str | None
    key: str
    timeout: float
    next: str | None
    cancel: str | None


@dataclass(frozen=True)
class Callback:
    campaign: str
    owner: str | None
    next: str | None


@dataclass(frozen=True)
class Goodbye:
    prompt: str


@dataclass(frozen=True)
class HangUp:
    pass


Action = (
    Play
    | Ask
    | SetFields
    | Answer
    | Disposition
    | Goto
    | Queue
    | OptOut
    | Callback
    | Goodbye
    | HangUp
)

# The key naming each node's kind, as written in a flow file.
KIND_OF: dict[type, str] = {
    Play: "play",
    Ask: "ask",
    SetFields: "set",
    Answer: "answer",
    Disposition: "disposition",
    Goto: "goto",
    Queue: "queue",
    OptOut: "opt_out",
    Callback: "callback",
    Goodbye: "goodbye",
    HangUp: "hang_up",
}


@dataclass(frozen=True)
class Node:
    name: str
    line: int
    action: Action
    edges: tuple[Edge, ...]

    @property
    def kind(self) -> str:
        return KIND_OF[type(self.action)]

    @property
    def collects(self) -> bool:
        """The node waits for the caller's keys."""
        return isinstance(self.action, Ask) or (
            isinstance(self.action, OptOut) and self.action.confirm
        )


@dataclass(frozen=True)
class Flow:
    name: str
    start: str
    nodes: Mapping[str, Node]  # in the order written
    file: str
    line: int
    start_line: int


Flows = Mapping[str, Flow]
