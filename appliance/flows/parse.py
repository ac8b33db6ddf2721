"""One flow file's YAML into flows: each node's kind, keys, values and menu inputs, every problem
at its file:line with what to do. How the nodes link up is checked in check.py."""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import yaml

from appliance import names
from appliance.config.problems import Problem
from appliance.config.safeyaml import Constructor, Refused, compose
from appliance.flows import model as m

NULL = "tag:yaml.org,2002:null"

# The keys each kind of node takes (the first is the kind itself).
# fmt: off
KEYS: dict[str, tuple[str, ...]] = {
    "play": ("play", "next"),
    "ask": ("ask", "digits", "end_key", "timeout", "retries", "invalid", "no_input", "question",
            "on", "otherwise", "give_up"),
    "set": ("set", "next"),
    "answer": ("answer", "next"),
    "disposition": ("disposition", "next"),
    "goto": ("goto",),
    "queue": ("queue", "overflow"),
    "opt_out": ("opt_out", "prompt", "key", "timeout", "next", "cancel"),
    "callback": ("callback", "owner", "next"),
    "goodbye": ("goodbye",),
    "hang_up": ("hang_up",),
}
# fmt: on
KINDS = tuple(KEYS)
FLOW_KEYS = ("start", "nodes")
# Keys that name another node: what a node that cannot be read still links to.
_REFS = ("next", "goto", "otherwise", "give_up", "overflow", "cancel")


@dataclass
class Parsed:
    """A flow as read; `broken` nodes had no readable kind (placeholders that end the call)."""

    flow: m.Flow
    broken: frozenset[str] = field(default_factory=frozenset)


def parse_file(text: str, file: str) -> tuple[list[Parsed], list[Problem]]:
    reader = _Reader(file)
    try:
        root = compose(text)
    except Refused as exc:
        return [], [Problem(file, exc.line, "", exc.message)]
    if root is None:
        reader.fail(1, "", "the file defines no flow: it maps flow names to flows (docs/flows.md)")
    elif not isinstance(root, yaml.MappingNode):
        reader.fail(_line(root), "", "a flow file maps flow names to flows, e.g. `main-menu:`")
    else:
        for name, node, line in reader.pairs(root, ""):
            why = _name_problem("flow", name)
            if why:
                reader.fail(line, name, why)
            parsed = reader.flow(name, node, line)
            if parsed is not None:
                reader.parsed.append(parsed)
    return reader.parsed, reader.problems


def _name_problem(kind: str, name: str) -> str | None:
    """Flows, nodes and questions follow the name rule's shape (appliance/names.py); they are
    no folders, so the hot folder's reserved words are free."""
    if re.fullmatch(names.PATTERN, name) is None:
        return f"{kind} name {name!r} is not allowed: {names.RULE}"
    return None


def _a(word: str) -> str:
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _hint(word: str, choices: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _plain(text: str) -> bool:
    """No control or bidi-override character: what goes into the attempt's record and reports."""
    return not any(ord(c) < 32 or 127 <= ord(c) < 160 or 0x202A <= ord(c) <= 0x202E for c in text)


class _Reader:
    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []
        self.parsed: list[Parsed] = []
        self.constructor = Constructor()

    def fail(self, line: int | None, key: str, message: str) -> None:
        self.problems.append(Problem(self.file, line, key, message))

    def pairs(self, node: yaml.MappingNode, path: str) -> list[tuple[str, yaml.Node, int]]:
        """The mapping's keys as written (a menu's `01` stays `01`), each once."""
        out: list[tuple[str, yaml.Node, int]] = []
        seen: set[str] = set()
        for key_node, value in node.value:
            line = _line(key_node)
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
            self.fail(_line(node), key, f"expected one value here, not {what}")
            return None
        if node.tag == NULL:
            return None
        return str(node.value)

    def prompt(self, node: yaml.Node, key: str, required: bool = True) -> str | None:
        value = self.text(node, key)
        if value is None or value == "":
            if required:
                self.fail(_line(node), key, "the prompt is missing: give a stored message's "
                          "name, e.g. welcome (docs/flows.md, Prompts)")  # fmt: skip
            return None
        why = m.prompt_problem(value)
        if why:
            self.fail(_line(node), key, why)
        return value

    def name(self, node: yaml.Node, key: str, kind: str) -> str | None:
        value = self.text(node, key)
        if not value:
            self.fail(_line(node), key, f"the {kind} name is missing")
            return None
        why = _name_problem(kind, value) if kind == "question" else names.problem(kind, value)
        if why:
            self.fail(_line(node), key, why)
        return value

    def words(self, node: yaml.Node, key: str, what: str) -> str | None:
        value = self.text(node, key)
        if value is None:
            self.fail(_line(node), key, f"{what} is missing")
        elif len(value) > m.MAX_TEXT or not _plain(value):
            self.fail(_line(node), key, f"{what} must be at most {m.MAX_TEXT} characters "
                      "without control characters")  # fmt: skip
        return value

    def value(self, node: yaml.Node, key: str) -> str | None:
        """A field's or an answer's value: text, or $input (the caller's last input)."""
        value = self.text(node, key)
        if value is None:
            self.fail(_line(node), key, "the value is missing: write text ('' for empty) or "
                      f"{m.INPUT} for the caller's last input")  # fmt: skip
            return None
        if value.startswith("$") and value != m.INPUT:
            self.fail(_line(node), key, f"{value!r} is not known: the only $ word is {m.INPUT} "
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
            self.fail(_line(node), key, f"{kind} {bounds} to {high:g}, not {_shown(node)}")
            return None
        return float(value)

    def choice(self, node: yaml.Node, key: str, allowed: tuple[str, ...], what: str) -> str | None:
        value = self.text(node, key)
        if value not in allowed:
            extra = " (a bare # starts a YAML comment: quote it)" if value is None else ""
            self.fail(_line(node), key, f"{what}, not {_shown(node)}{extra}")
            return None
        return value

    # ------------------------------------------------------------------ flows and nodes
    def flow(self, name: str, node: yaml.Node, line: int) -> Parsed | None:
        if not isinstance(node, yaml.MappingNode):
            self.fail(line, name, "a flow is a mapping with start: and nodes:")
            return None
        start, start_line, nodes_node, nodes_line = "", line, None, line
        for key, value, key_line in self.pairs(node, name):
            if key == "start":
                start, start_line = self.text(value, f"{name}.start") or "", key_line
            elif key == "nodes":
                nodes_node, nodes_line = value, key_line
            else:
                hint = _hint(key, FLOW_KEYS)
                self.fail(key_line, f"{name}.{key}", f"unknown key {key!r}{hint}; a flow has "
                          "start and nodes")  # fmt: skip
        if not start:
            self.fail(line, f"{name}.start", "the start node is missing: say where the call "
                      "begins, e.g. start: welcome")  # fmt: skip
        nodes: dict[str, m.Node] = {}
        broken: set[str] = set()
        if not isinstance(nodes_node, yaml.MappingNode) or not nodes_node.value:
            self.fail(line, f"{name}.nodes", "the flow has no nodes: give nodes:, a mapping of "
                      "node names to nodes")  # fmt: skip
        else:
            pairs = self.pairs(nodes_node, f"{name}.nodes")
            if len(pairs) > m.MAX_NODES:
                self.fail(nodes_line, f"{name}.nodes", f"{len(pairs)} nodes; a flow has at most "
                          f"{m.MAX_NODES}: split it into several flows")  # fmt: skip
            for node_name, value, node_line in pairs:
                path = f"{name}.nodes.{node_name}"
                why = _name_problem("node", node_name)
                if why:
                    self.fail(node_line, path, why)
                read = self.node(node_name, value, node_line, path)
                if read.kind == "":
                    broken.add(node_name)
                nodes[node_name] = read.node
        flow = m.Flow(name, start, nodes, self.file, line, start_line)
        return Parsed(flow, frozenset(broken))

    def node(self, name: str, value: yaml.Node, line: int, path: str) -> _NodeRead:
        if not isinstance(value, yaml.MappingNode):
            self.fail(line, path, f"a node is a mapping with one of {', '.join(KINDS)}, "
                      "e.g. play: welcome")  # fmt: skip
            return _NodeRead(m.Node(name, line, m.HangUp(), ()), "")
        pairs = self.pairs(value, path)
        kinds = [k for k, _, _ in pairs if k in KINDS]
        if len(kinds) != 1:
            if kinds:
                message = (f"a node does one thing; this one has {' and '.join(kinds)}: split "
                           "it into nodes linked by next:")  # fmt: skip
            else:
                typos = [f"{k!r}{_hint(k, KINDS)}" for k, _, _ in pairs if _hint(k, KINDS)]
                message = "the node does nothing: give it one of " + ", ".join(KINDS)
                if typos:
                    message += f"; {', '.join(typos)} is no kind"
            self.fail(line, path, message)
            return _NodeRead(m.Node(name, line, m.HangUp(), self._any_edges(pairs, path)), "")
        kind = kinds[0]
        allowed = KEYS[kind]
        given: dict[str, tuple[yaml.Node, int]] = {}
        for key, node, key_line in pairs:
            if key in allowed:
                given[key] = (node, key_line)
                continue
            owners = [k for k, keys in KEYS.items() if key in keys[1:]]
            if owners:
                why = f"{key!r} belongs to {' and '.join(owners)} nodes, not {kind}"
            else:
                why = f"unknown key {key!r}{_hint(key, list(allowed))}"
            takes = f"{_a(kind)} node takes {', '.join(allowed)}"
            self.fail(key_line, f"{path}.{key}", f"{why}; {takes}")
        build = _NodeBuilder(self, path, line, given)
        action = _READERS[kind](build)
        return _NodeRead(m.Node(name, line, action, tuple(build.edges)), kind)

    def _any_edges(self, pairs: list[tuple[str, yaml.Node, int]], path: str) -> tuple[m.Edge, ...]:
        """The links of a node that cannot be read, so nothing after it looks unreachable."""
        edges = []
        for key, node, line in pairs:
            if key in _REFS and isinstance(node, yaml.ScalarNode) and node.tag != NULL:
                edges.append(m.Edge(str(node.value), f"{path}.{key}", line, keyed=True))
            elif key == "on" and isinstance(node, yaml.MappingNode):
                for _, target, target_line in self.pairs(node, f"{path}.on"):
                    if isinstance(target, yaml.ScalarNode) and target.tag != NULL:
                        edges.append(m.Edge(str(target.value), f"{path}.on", target_line, True))
        return tuple(edges)


@dataclass
class _NodeRead:
    node: m.Node
    kind: str  # "" when the node has no readable kind


def _shown(node: yaml.Node) -> str:
    if isinstance(node, yaml.ScalarNode):
        text = str(node.value)
        return repr(text if len(text) <= 40 else text[:40] + "…")
    return "a list" if isinstance(node, yaml.SequenceNode) else "a mapping"


class _NodeBuilder:
    """One node's keys as given, read into values and edges."""

    def __init__(self, reader: _Reader, path: str, line: int,
                 given: dict[str, tuple[yaml.Node, int]]) -> None:  # fmt: skip
        self.r = reader
        self.path = path
        self.line = line
        self.given = given
        self.edges: list[m.Edge] = []

    def at(self, key: str) -> str:
        return f"{self.path}.{key}"

    def has(self, key: str) -> bool:
        return key in self.given

    def node(self, key: str) -> yaml.Node:
        return self.given[key][0]

    def ref(self, key: str, keyed: bool = False, carries: bool = False) -> str | None:
        if key not in self.given:
            return None
        node, line = self.given[key]
        target = self.r.text(node, self.at(key))
        if not target:
            self.r.fail(line, self.at(key), "name the node to go to, or leave the key out")
            return None
        self.edges.append(m.Edge(target, self.at(key), _line(node), keyed, carries))
        return target

    def prompt(self, key: str, required: bool = True) -> str | None:
        if key not in self.given:
            if required:
                self.r.fail(self.line, self.at(key), "the prompt is missing: give a stored "
                            "message's name, e.g. prompt: confirm-opt-out")  # fmt: skip
            return None
        return self.r.prompt(self.node(key), self.at(key), required)

    def number(self, key: str, default: float, low: float, high: float, whole: bool,
               above: bool = False) -> float:  # fmt: skip
        if key not in self.given:
            return default
        value = self.r.number(self.node(key), self.at(key), low, high, whole, above)
        return default if value is None else value

    def pairs(self, key: str, what: str) -> list[tuple[str, yaml.Node, int]]:
        node = self.node(key)
        if not isinstance(node, yaml.MappingNode) or not node.value:
            self.r.fail(_line(node), self.at(key), f"give a mapping of {what}")
            return []
        return self.r.pairs(node, self.at(key))

    def forbid(self, keys: tuple[str, ...], why: str) -> None:
        for key in keys:
            if key in self.given:
                self.r.fail(self.given[key][1], self.at(key), why)


def _play(b: _NodeBuilder) -> m.Action:
    return m.Play(b.prompt("play") or "", b.ref("next"))


def _ask(b: _NodeBuilder) -> m.Action:
    digits = int(b.number("digits", m.DEFAULT_DIGITS, 1, m.MAX_DIGITS, whole=True))
    end_key = None
    if b.has("end_key"):
        end_key = b.r.choice(b.node("end_key"), b.at("end_key"), m.END_KEYS,
                             'end_key is "#" or "*", quoted')  # fmt: skip
    question = None
    if b.has("question"):
        question = b.r.name(b.node("question"), b.at("question"), "question")
    branches: list[m.Branch] = []
    if b.has("on"):
        seen: list[tuple[m.Inputs, str, int]] = []
        for text, target_node, line in b.pairs("on", 'inputs to nodes, e.g. "1": agent'):
            where = f"{b.at('on')}.{text}"
            inputs, why = m.parse_inputs(text)
            for alternative in inputs:
                why = why or _alternative_problem(alternative, digits, end_key, seen)
                seen.append((alternative, text, line))
            if why:
                b.r.fail(line, where, why)
            target = b.r.text(target_node, where)
            if not target:
                b.r.fail(line, where, "name the node this input leads to")
                continue
            b.edges.append(
                m.Edge(target, where, _line(target_node), keyed=True, carries_input=True)
            )
            branches.append(m.Branch(inputs, text, target))
    otherwise = b.ref("otherwise", keyed=True, carries=True)
    if not branches and otherwise is None and not (b.has("on") or b.has("otherwise")):
        b.r.fail(b.line, b.path, "an ask branches on the input: give on: (inputs to nodes), "
                 "otherwise: (any input), or both")  # fmt: skip
    return m.Ask(
        prompt=b.prompt("ask") or "",
        digits=digits,
        end_key=end_key,
        timeout=b.number("timeout", m.DEFAULT_TIMEOUT, 0, m.MAX_TIMEOUT, whole=False, above=True),
        retries=int(b.number("retries", m.DEFAULT_RETRIES, 0, m.MAX_RETRIES, whole=True)),
        invalid=b.prompt("invalid", required=False),
        no_input=b.prompt("no_input", required=False),
        question=question,
        branches=tuple(branches),
        otherwise=otherwise,
        give_up=b.ref("give_up"),
    )


def _alternative_problem(alternative: m.Inputs, digits: int, end_key: str | None,
                         seen: list[tuple[m.Inputs, str, int]]) -> str | None:  # fmt: skip
    if alternative.length > digits:
        return (f"{alternative.text} takes {alternative.length} keys but digits is {digits}: "
                f"set digits: {alternative.length} or shorten the input")  # fmt: skip
    if end_key and not alternative.is_range and end_key in alternative.text:
        return (f"{alternative.text!r} holds the end key {end_key}, which ends the input, so no "
                "caller could enter it: choose another end_key or another input")  # fmt: skip
    for other, text, line in seen:
        both = alternative.shared(other)
        if both is not None:
            return (f"input {both} is also in the branch {text!r} (line {line}): each input "
                    "leads to one node; take it out of one of them")  # fmt: skip
    return None


def _values(b: _NodeBuilder, key: str, check: Callable[[str, int], None]) -> list[tuple[str, str]]:
    out = []
    for name, node, line in b.pairs(key, "names to values"):
        check(name, line)
        value = b.r.value(node, f"{b.at(key)}.{name}")
        out.append((name, value or ""))
    return out


def _set(b: _NodeBuilder) -> m.Action:
    def check(name: str, line: int) -> None:
        if name not in m.FIELDS:
            b.r.fail(line, f"{b.at('set')}.{name}", f"a flow sets the contact's fields "
                     f"bp1..bp12, not {name!r}{_hint(name, m.FIELDS)}")  # fmt: skip

    return m.SetFields(tuple(_values(b, "set", check)), b.ref("next"))


def _answer(b: _NodeBuilder) -> m.Action:
    def check(name: str, line: int) -> None:
        why = _name_problem("question", name)
        if why:
            b.r.fail(line, f"{b.at('answer')}.{name}", why)

    return m.Answer(tuple(_values(b, "answer", check)), b.ref("next"))


def _disposition(b: _NodeBuilder) -> m.Action:
    text = b.r.words(b.node("disposition"), b.at("disposition"), "the disposition")
    if text == "":
        b.r.fail(b.line, b.at("disposition"), "the disposition is empty")
    return m.Disposition(text or "", b.ref("next"))


def _goto(b: _NodeBuilder) -> m.Action:
    return m.Goto(b.ref("goto") or "")


def _queue(b: _NodeBuilder) -> m.Action:
    skill = b.r.text(b.node("queue"), b.at("queue"))
    if skill is not None and not (0 < len(skill) <= m.MAX_SKILL and _plain(skill)):
        b.r.fail(b.line, b.at("queue"), f"a skill is 1-{m.MAX_SKILL} characters; leave "
                 "queue: empty for any agent")  # fmt: skip
    return m.Queue(skill or None, b.ref("overflow"))


def _opt_out(b: _NodeBuilder) -> m.Action:
    mode = b.r.choice(b.node("opt_out"), b.at("opt_out"), ("confirm", "at_once"),
                      "opt_out is confirm (ask first) or at_once")  # fmt: skip
    confirm = mode != "at_once"
    if confirm:
        prompt = b.prompt("prompt")
        key = m.DEFAULT_CONFIRM_KEY
        if b.has("key"):
            key = b.r.choice(b.node("key"), b.at("key"), tuple(m.KEYS),
                             "key is one key, 0-9, \"*\" or \"#\" (quoted)") or key  # fmt: skip
        timeout = b.number("timeout", m.DEFAULT_TIMEOUT, 0, m.MAX_TIMEOUT, False, above=True)
        return m.OptOut(True, prompt, key, timeout, b.ref("next", keyed=True),
                        b.ref("cancel"))  # fmt: skip
    b.forbid(("prompt", "key", "timeout", "cancel"), "opt_out: at_once asks nothing; "
             "remove this key, or write opt_out: confirm")  # fmt: skip
    return m.OptOut(False, None, m.DEFAULT_CONFIRM_KEY, m.DEFAULT_TIMEOUT, b.ref("next"), None)


def _callback(b: _NodeBuilder) -> m.Action:
    campaign = b.r.name(b.node("callback"), b.at("callback"), "campaign")
    owner = None
    if b.has("owner"):
        owner = b.r.name(b.node("owner"), b.at("owner"), "agent")
    return m.Callback(campaign or "", owner, b.ref("next"))


def _goodbye(b: _NodeBuilder) -> m.Action:
    return m.Goodbye(b.prompt("goodbye") or "")


def _hang_up(b: _NodeBuilder) -> m.Action:
    node = b.node("hang_up")
    value: object = False
    if isinstance(node, yaml.ScalarNode):
        try:
            value = None if node.tag == NULL else b.r.constructor.construct_object(node)
        except (yaml.YAMLError, ValueError):
            value = False
    if value is not None and value is not True:
        b.r.fail(_line(node), b.at("hang_up"), "write hang_up: with nothing after it "
                 "(to play a prompt first, use goodbye: PROMPT)")  # fmt: skip
    return m.HangUp()


_READERS: dict[str, Callable[[_NodeBuilder], m.Action]] = {
    "play": _play,
    "ask": _ask,
    "set": _set,
    "answer": _answer,
    "disposition": _disposition,
    "goto": _goto,
    "queue": _queue,
    "opt_out": _opt_out,
    "callback": _callback,
    "goodbye": _goodbye,
    "hang_up": _hang_up,
}
