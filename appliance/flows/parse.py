"""One flow file's YAML into flows: the flows, their start and nodes, each node's kind (kinds.py
reads its keys), every problem at its file:line with what to do. How the nodes link up is
checked in check.py."""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml

from appliance.config.problems import Problem
from appliance.config.safeyaml import Refused, compose
from appliance.flows import model as m
from appliance.flows.kinds import KEYS, KINDS, READERS, NodeBuilder
from appliance.flows.values import NULL, Reader, a_or_an, hint, line_of, name_problem

FLOW_KEYS = ("start", "nodes")
# Keys that name another node: what a node that cannot be read still links to.
_REFS = ("next", "goto", "otherwise", "give_up", "overflow", "cancel")


@dataclass
class Parsed:
    """A flow as read; `broken` nodes had no readable kind (placeholders that end the call)."""

    flow: m.Flow
    broken: frozenset[str] = field(default_factory=frozenset)


def parse_file(text: str, file: str) -> tuple[list[Parsed], list[Problem]]:
    reader = Reader(file)
    parsed: list[Parsed] = []
    try:
        root = compose(text)
    except Refused as exc:
        return [], [Problem(file, exc.line, "", exc.message)]
    if root is None:
        reader.fail(1, "", "the file defines no flow: it maps flow names to flows (docs/flows.md)")
    elif not isinstance(root, yaml.MappingNode):
        reader.fail(line_of(root), "", "a flow file maps flow names to flows, e.g. `main-menu:`")
    else:
        for name, node, line in reader.pairs(root, ""):
            why = name_problem("flow", name)
            if why:
                reader.fail(line, name, why)
            flow = _flow(reader, name, node, line)
            if flow is not None:
                parsed.append(flow)
    return parsed, reader.problems


def _flow(r: Reader, name: str, node: yaml.Node, line: int) -> Parsed | None:
    if not isinstance(node, yaml.MappingNode):
        r.fail(line, name, "a flow is a mapping with start: and nodes:")
        return None
    start, start_line, nodes_node, nodes_line = "", line, None, line
    for key, value, key_line in r.pairs(node, name):
        if key == "start":
            start, start_line = r.text(value, f"{name}.start") or "", key_line
        elif key == "nodes":
            nodes_node, nodes_line = value, key_line
        else:
            typo = hint(key, FLOW_KEYS)
            r.fail(key_line, f"{name}.{key}", f"unknown key {key!r}{typo}; a flow has "
                   "start and nodes")  # fmt: skip
    if not start:
        r.fail(line, f"{name}.start", "the start node is missing: say where the call "
               "begins, e.g. start: welcome")  # fmt: skip
    nodes: dict[str, m.Node] = {}
    broken: set[str] = set()
    if not isinstance(nodes_node, yaml.MappingNode) or not nodes_node.value:
        r.fail(line, f"{name}.nodes", "the flow has no nodes: give nodes:, a mapping of "
               "node names to nodes")  # fmt: skip
    else:
        pairs = r.pairs(nodes_node, f"{name}.nodes")
        if len(pairs) > m.MAX_NODES:
            r.fail(nodes_line, f"{name}.nodes", f"{len(pairs)} nodes; a flow has at most "
                   f"{m.MAX_NODES}: split it into several flows")  # fmt: skip
        for node_name, value, node_line in pairs:
            path = f"{name}.nodes.{node_name}"
            why = name_problem("node", node_name)
            if why:
                r.fail(node_line, path, why)
            read = _node(r, node_name, value, node_line, path)
            if read.kind == "":
                broken.add(node_name)
            nodes[node_name] = read.node
    flow = m.Flow(name, start, nodes, r.file, line, start_line)
    return Parsed(flow, frozenset(broken))


def _node(r: Reader, name: str, value: yaml.Node, line: int, path: str) -> _NodeRead:
    if not isinstance(value, yaml.MappingNode):
        r.fail(line, path, f"a node is a mapping with one of {', '.join(KINDS)}, "
               "e.g. play: welcome")  # fmt: skip
        return _NodeRead(m.Node(name, line, m.HangUp(), ()), "")
    pairs = r.pairs(value, path)
    kinds = [k for k, _, _ in pairs if k in KINDS]
    if len(kinds) != 1:
        if kinds:
            message = (f"a node does one thing; this one has {' and '.join(kinds)}: split "
                       "it into nodes linked by next:")  # fmt: skip
        else:
            typos = [f"{k!r}{hint(k, KINDS)}" for k, _, _ in pairs if hint(k, KINDS)]
            message = "the node does nothing: give it one of " + ", ".join(KINDS)
            if typos:
                message += f"; {', '.join(typos)} is no kind"
        r.fail(line, path, message)
        return _NodeRead(m.Node(name, line, m.HangUp(), _any_edges(r, pairs, path)), "")
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
            why = f"unknown key {key!r}{hint(key, list(allowed))}"
        takes = f"{a_or_an(kind)} node takes {', '.join(allowed)}"
        r.fail(key_line, f"{path}.{key}", f"{why}; {takes}")
    build = NodeBuilder(r, path, line, given)
    action = READERS[kind](build)
    return _NodeRead(m.Node(name, line, action, tuple(build.edges)), kind)


def _any_edges(r: Reader, pairs: list[tuple[str, yaml.Node, int]], path: str) -> tuple[m.Edge, ...]:
    """The links of a node that cannot be read, so nothing after it looks unreachable."""
    edges = []
    for key, node, line in pairs:
        if key in _REFS and isinstance(node, yaml.ScalarNode) and node.tag != NULL:
            edges.append(m.Edge(str(node.value), f"{path}.{key}", line, keyed=True))
        elif key == "on" and isinstance(node, yaml.MappingNode):
            for _, target, target_line in r.pairs(node, f"{path}.on"):
                if isinstance(target, yaml.ScalarNode) and target.tag != NULL:
                    edges.append(m.Edge(str(target.value), f"{path}.on", target_line, True))
    return tuple(edges)


@dataclass
class _NodeRead:
    node: m.Node
    kind: str  # "" when the node has no readable kind
