"""The kinds of node a flow has (play, ask, set, answer, disposition, goto, queue, opt_out,
callback, goodbye, hang_up): the keys each takes, and each read from its keys into an action and
the node's ways out, every problem at its line (docs/flows.md, Node kinds)."""

from __future__ import annotations

from collections.abc import Callable

import yaml

from appliance.flows import model as m
from appliance.flows.values import NULL, Reader, hint, line_of, name_problem, plain

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


class NodeBuilder:
    """One node's keys as given, read into values and edges."""

    def __init__(self, reader: Reader, path: str, line: int,
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
        self.edges.append(m.Edge(target, self.at(key), line_of(node), keyed, carries))
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
            self.r.fail(line_of(node), self.at(key), f"give a mapping of {what}")
            return []
        return self.r.pairs(node, self.at(key))

    def forbid(self, keys: tuple[str, ...], why: str) -> None:
        for key in keys:
            if key in self.given:
                self.r.fail(self.given[key][1], self.at(key), why)


def _play(b: NodeBuilder) -> m.Action:
    return m.Play(b.prompt("play") or "", b.ref("next"))


def _ask(b: NodeBuilder) -> m.Action:
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
                m.Edge(target, where, line_of(target_node), keyed=True, carries_input=True)
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


def _values(b: NodeBuilder, key: str, check: Callable[[str, int], None]) -> list[tuple[str, str]]:
    out = []
    for name, node, line in b.pairs(key, "names to values"):
        check(name, line)
        value = b.r.value(node, f"{b.at(key)}.{name}")
        out.append((name, value or ""))
    return out


def _set(b: NodeBuilder) -> m.Action:
    def check(name: str, line: int) -> None:
        if name not in m.FIELDS:
            b.r.fail(line, f"{b.at('set')}.{name}", f"a flow sets the contact's fields "
                     f"bp1..bp12, not {name!r}{hint(name, m.FIELDS)}")  # fmt: skip

    return m.SetFields(tuple(_values(b, "set", check)), b.ref("next"))


def _answer(b: NodeBuilder) -> m.Action:
    def check(name: str, line: int) -> None:
        why = name_problem("question", name)
        if why:
            b.r.fail(line, f"{b.at('answer')}.{name}", why)

    return m.Answer(tuple(_values(b, "answer", check)), b.ref("next"))


def _disposition(b: NodeBuilder) -> m.Action:
    text = b.r.words(b.node("disposition"), b.at("disposition"), "the disposition")
    if text == "":
        b.r.fail(b.line, b.at("disposition"), "the disposition is empty")
    return m.Disposition(text or "", b.ref("next"))


def _goto(b: NodeBuilder) -> m.Action:
    return m.Goto(b.ref("goto") or "")


def _queue(b: NodeBuilder) -> m.Action:
    skill = b.r.text(b.node("queue"), b.at("queue"))
    if skill is not None and not (0 < len(skill) <= m.MAX_SKILL and plain(skill)):
        b.r.fail(b.line, b.at("queue"), f"a skill is 1-{m.MAX_SKILL} characters; leave "
                 "queue: empty for any agent")  # fmt: skip
    return m.Queue(skill or None, b.ref("overflow"))


def _opt_out(b: NodeBuilder) -> m.Action:
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


def _callback(b: NodeBuilder) -> m.Action:
    campaign = b.r.name(b.node("callback"), b.at("callback"), "campaign")
    owner = None
    if b.has("owner"):
        owner = b.r.name(b.node("owner"), b.at("owner"), "agent")
    return m.Callback(campaign or "", owner, b.ref("next"))


def _goodbye(b: NodeBuilder) -> m.Action:
    return m.Goodbye(b.prompt("goodbye") or "")


def _hang_up(b: NodeBuilder) -> m.Action:
    node = b.node("hang_up")
    value: object = False
    if isinstance(node, yaml.ScalarNode):
        try:
            value = None if node.tag == NULL else b.r.constructor.construct_object(node)
        except (yaml.YAMLError, ValueError):
            value = False
    if value is not None and value is not True:
        b.r.fail(line_of(node), b.at("hang_up"), "write hang_up: with nothing after it "
                 "(to play a prompt first, use goodbye: PROMPT)")  # fmt: skip
    return m.HangUp()


READERS: dict[str, Callable[[NodeBuilder], m.Action]] = {
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
