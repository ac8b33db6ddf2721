"""Properties of every flow the validator accepts (#23): run against an adversarial caller and
box, it ends within a bound of steps, only ever at its own nodes, with one of the four ends, and
a silent caller is let go by the flow itself; and flows with a dangling link or a circle that
needs no key are always refused."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

from appliance.config import ConfigError
from appliance.flows import ENDS, MAX_STEPS, Flow, load_flows, run_flow
from tests.flows.fakes import GONE, RecordingActions, ScriptedCall

KINDS = ("play", "ask", "set", "answer", "disposition", "goto", "queue", "confirm",
         "at_once", "callback", "goodbye", "hang_up")  # fmt: skip
INPUTS = ("1", "2", "9", "0", "*", "#", "12", "1-5", "3,4", "99", "*9")
SILENT = ("next", "goto", "give_up", "overflow", "cancel")  # links taken with no key
ANY_KEY = ("0", "1", "2", "3", "9", "*", "#")
GARBAGE = ("A", "", "12", "\x00", "☃", "\u202e")


@st.composite
def flow_definitions(draw: st.DrawFn) -> dict[str, Any]:
    """A flow as a person might write it, hostile shapes included: links back, to itself, to no
    node at all, menus with colliding inputs, $input anywhere."""
    count = draw(st.integers(1, 9))
    names = [f"n{i}" for i in range(count)]
    dangling = draw(st.integers(0, 3)) == 0  # a quarter of the flows may link to no node

    def link(i: int, silent: bool) -> str | None:
        roll = draw(st.integers(0, 19))
        if roll == 0 and dangling:
            return "nowhere"
        if roll <= 2 or not silent:  # keyed links go anywhere; silent ones rarely go back
            return draw(st.sampled_from(names))
        ahead = names[i + 1 :]
        return draw(st.sampled_from([None, *ahead])) if ahead else None

    def value() -> str:
        return draw(st.sampled_from(["yes", "$input", "", "42"]))

    nodes: dict[str, dict[str, Any]] = {}
    for i, name in enumerate(names):
        # mostly, a flow of several nodes does not end at its first
        ending = i == 0 and count > 1 and draw(st.integers(0, 5)) > 0
        kind = draw(st.sampled_from(KINDS[:-2] if ending else KINDS))
        node: dict[str, Any]
        if kind == "ask":
            node = {"ask": "prompt", "digits": draw(st.integers(1, 3)),
                    "timeout": draw(st.sampled_from([0.5, 3, 60])),
                    "retries": draw(st.integers(0, 3))}  # fmt: skip
            if draw(st.booleans()):
                node["end_key"] = "#"
            keys = draw(st.lists(st.sampled_from(INPUTS), max_size=4, unique=True))
            if keys:
                node["on"] = {key: link(i, silent=False) or names[0] for key in keys}
            if draw(st.booleans()) or not keys:
                node["otherwise"] = link(i, silent=False) or names[0]
            if draw(st.booleans()):
                node["question"] = f"q{i}"
            for extra in ("invalid", "no_input"):
                if draw(st.booleans()):
                    node[extra] = f"{extra}-prompt"
            node["give_up"] = link(i, silent=True)
        elif kind in ("confirm", "at_once"):
            node = {"opt_out": kind, "next": link(i, silent=kind == "at_once")}
            if kind == "confirm":
                node |= {"prompt": "confirm", "timeout": 2, "cancel": link(i, silent=True)}
        elif kind == "queue":
            node = {"queue": draw(st.sampled_from([None, "sales"])),
                    "overflow": link(i, silent=True)}  # fmt: skip
        elif kind == "goto":
            node = {"goto": link(i, silent=True) or names[-1]}
        elif kind == "set":
            node = {"set": {"bp1": value()}, "next": link(i, silent=True)}
        elif kind == "answer":
            node = {"answer": {f"a{i}": value()}, "next": link(i, silent=True)}
        elif kind == "disposition":
            node = {"disposition": "done", "next": link(i, silent=True)}
        elif kind == "callback":
            node = {"callback": "callbacks", "next": link(i, silent=True)}
        elif kind == "play":
            node = {"play": "hello", "next": link(i, silent=True)}
        elif kind == "goodbye":
            node = {"goodbye": "bye"}
        else:
            node = {"hang_up": None}
        nodes[name] = {k: v for k, v in node.items() if v is not None or k in ("queue", "hang_up")}
    _link_orphans(nodes)  # where it can: unreachable nodes are refused, and dull
    return {"f": {"start": names[0], "nodes": nodes}}


def _reached(nodes: dict[str, dict[str, Any]]) -> set[str]:
    seen, todo = {"n0"}, ["n0"]
    while todo:
        for target, _ in _links(nodes[todo.pop()]):
            if target in nodes and target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def _link_orphans(nodes: dict[str, dict[str, Any]]) -> None:
    """Give each node no way leads to a link from a reached node: an ask's new input (7, 8 or
    6: they collide with none of INPUTS but 1-5), else an earlier node's free link (forward, so
    no new circle), else an earlier node's link taken over."""
    names = list(nodes)
    for _ in range(3 * len(names)):
        reached = _reached(nodes)
        orphans = [n for n in names if n not in reached]
        if not orphans:
            return
        orphan = orphans[0]
        asks = [n for n in names if n in reached and "ask" in nodes[n]]
        for source in asks:
            free = [k for k in ("7", "8", "6") if k not in nodes[source].get("on", {})]
            if free:
                nodes[source].setdefault("on", {})[free[0]] = orphan
                break
        else:
            earlier = [n for n in names[: names.index(orphan)] if n in reached]
            slots = [(n, _slot(nodes[n])) for n in earlier if _slot(nodes[n])]
            empty = [(n, k) for n, k in slots if k not in nodes[n]]
            if not (empty or slots):
                return
            source, slot = (empty or slots)[-1]
            nodes[source][slot] = orphan


def _slot(node: dict[str, Any]) -> str | None:
    """The link a node may take with no key, by its kind."""
    if "ask" in node:
        return "give_up"
    if "queue" in node:
        return "overflow"
    if "goto" in node:
        return "goto"
    if node.get("opt_out") == "confirm":
        return "cancel"
    if set(node) & {"play", "set", "answer", "disposition", "callback", "opt_out"}:
        return "next"
    return None


def _load(definition: dict[str, Any], tmp: Path) -> Flow:
    path = tmp / "f.yaml"
    path.write_text(yaml.safe_dump(definition, sort_keys=False))
    return load_flows([path])["f"]


def _links(node: dict[str, Any]) -> Iterator[tuple[str, bool]]:
    """(target, silent) for each link of a node as written."""
    for key in SILENT:
        if key in node and not (key == "next" and node.get("opt_out") == "confirm"):
            yield node[key], True
    if node.get("opt_out") == "confirm" and "next" in node:
        yield node["next"], False
    for key in ("otherwise",):
        if key in node:
            yield node[key], False
    for target in (node.get("on") or {}).values():
        yield target, False


def _oracle(definition: dict[str, Any]) -> tuple[bool, bool]:
    """Independently of the validator: (a link leads nowhere, some circle needs no key)."""
    nodes = definition["f"]["nodes"]
    dangling = any(t not in nodes for n in nodes.values() for t, _ in _links(n))
    silent = {name: [t for t, s in _links(n) if s and t in nodes] for name, n in nodes.items()}
    state: dict[str, int] = {}

    def circle_from(name: str) -> bool:  # depth-first; 1: on the way, 2: done
        state[name] = 1
        for nxt in silent[name]:
            if state.get(nxt) == 1 or (nxt not in state and circle_from(nxt)):
                return True
        state[name] = 2
        return False

    return dangling, any(name not in state and circle_from(name) for name in nodes)


CALLER = st.lists(
    st.one_of(st.sampled_from(ANY_KEY), st.sampled_from(GARBAGE), st.none(), st.just(GONE)),
    max_size=40,
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])  # fmt: skip
@given(
    definition=flow_definitions(),
    script=CALLER,
    after=st.sampled_from(["silent", "gone", "presses 1 forever", "presses garbage forever"]),
    queue_result=st.sampled_from(["bridged", "overflow", "gone", "what?"]),
    failing=st.frozensets(st.sampled_from(["queue", "opt_out", "callback", "set_field"])),
    gone_at_prompt=st.sampled_from([None, None, "hello", "prompt", "confirm"]),
)
def test_every_accepted_flow_ends_within_the_bound_against_any_caller(
    tmp_path: Path, definition: dict[str, Any], script: list[str | None], after: str,
    queue_result: str, failing: frozenset[str], gone_at_prompt: str | None,
) -> None:  # fmt: skip
    dangling, circle = _oracle(definition)
    try:
        flow = _load(definition, tmp_path)
    except ConfigError as exc:
        event("refused")
        note(str(exc))
        return
    event("accepted")
    assert not dangling and not circle
    forever: Iterator[str | None] = iter(())
    if after == "presses 1 forever":
        forever = itertools.repeat("1")
    elif after == "presses garbage forever":
        forever = itertools.cycle(GARBAGE)
    call = ScriptedCall(itertools.chain(script, forever), then_gone=after == "gone",
                        gone_at_prompt=gone_at_prompt)  # fmt: skip
    actions = RecordingActions(queue_result=queue_result, fail=failing)
    result = asyncio.run(run_flow(flow, call, actions, call.clock.now))
    assert result.end in ENDS
    assert len(result.steps) <= MAX_STEPS + 2
    assert all(step.node in flow.nodes for step in result.steps)
    assert [s.at for s in result.steps] == sorted(s.at for s in result.steps)
    if result.end in ("hung_up", "overflow"):
        assert call.hung_up == 1  # the flow ended the call, once
    if result.end == "bridged":
        assert call.hung_up == 0 and actions.done[-1][0] == "queue"
    if result.end == "caller_gone":
        assert result.steps[-1].kind == "caller_gone"
    answered = {s.detail.split("=", 1)[0] for s in result.steps if s.kind == "answer"}
    assert set(result.answers) == answered


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])  # fmt: skip
@given(definition=flow_definitions())
def test_a_silent_caller_is_let_go_by_the_flow_itself(
    tmp_path: Path, definition: dict[str, Any]
) -> None:
    """No accepted flow loops without input: on a silent line it ends long before the bound."""
    try:
        flow = _load(definition, tmp_path)
    except ConfigError:
        return
    call = ScriptedCall([])
    actions = RecordingActions(queue_result="overflow")
    result = asyncio.run(run_flow(flow, call, actions, call.clock.now))
    assert result.end in ("hung_up", "overflow")
    assert "limit" not in [s.kind for s in result.steps]
    # each node at most once: a silent caller never goes round (each ask: 3 steps a try + 1)
    assert len(result.steps) <= len(flow.nodes) * (3 * 10 + 2) + 1


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])  # fmt: skip
@given(definition=flow_definitions())
def test_a_dangling_link_or_a_circle_without_a_key_is_always_refused(
    tmp_path: Path, definition: dict[str, Any]
) -> None:
    dangling, circle = _oracle(definition)
    if not (dangling or circle):
        event("clean")
        return
    event("dangling" if dangling else "circle")
    try:
        _load(definition, tmp_path)
    except ConfigError as exc:
        text = str(exc)
        if dangling:
            assert "no node named 'nowhere'" in text
        if circle:
            assert "can go round with no key pressed" in text
        return
    raise AssertionError("accepted a flow with a dangling link or a circle without a key")


@st.composite
def with_silent_circle(draw: st.DrawFn) -> dict[str, Any]:
    """A flow, plus a circle of nodes each left with no key (play, goto, set, queue overflow,
    an ask's give_up, an opt-out's cancel), entered from the flow or not."""
    definition = draw(flow_definitions())
    nodes = definition["f"]["nodes"]
    size = draw(st.integers(1, 5))
    ring = [f"c{i}" for i in range(size)]
    for i, name in enumerate(ring):
        nxt = ring[(i + 1) % size]
        shape = draw(st.sampled_from(["play", "goto", "set", "queue", "ask", "confirm"]))
        nodes[name] = {
            "play": {"play": "hold", "next": nxt},
            "goto": {"goto": nxt},
            "set": {"set": {"bp2": "x"}, "next": nxt},
            "queue": {"queue": "sales", "overflow": nxt},
            "ask": {"ask": "p", "on": {"1": "n0"}, "give_up": nxt},
            "confirm": {"opt_out": "confirm", "prompt": "p", "next": "n0", "cancel": nxt},
        }[shape]
    if draw(st.booleans()):
        first = next(iter(nodes))
        nodes[first] = {"play": "hello", "next": ring[0]}
    return definition


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])  # fmt: skip
@given(definition=with_silent_circle())
def test_a_planted_circle_without_a_key_is_refused(
    tmp_path: Path, definition: dict[str, Any]
) -> None:
    try:
        _load(definition, tmp_path)
    except ConfigError as exc:
        assert "can go round with no key pressed" in str(exc)
        return
    raise AssertionError("accepted a flow with a circle that needs no key")
