"""How a flow's nodes link up: every link leads to a node, every node can be reached, no circle
can be gone round without the caller pressing a key, a silent caller's way is short, and
$input is used only where an input was taken. With no such circle, every way through a flow
ends: a silent caller follows links that form no circle, and the rest need a key each."""

from __future__ import annotations

import difflib
from collections.abc import Callable

from appliance.flows import model as m

Issue = tuple[int | None, str, str]  # line, key path, message
Report = Callable[[int | None, str, str], None]


def check_flow(flow: m.Flow, broken: frozenset[str]) -> list[Issue]:
    """Every problem of how the flow's nodes link up; `broken` nodes could not be read (they
    link on as written, so nothing after them looks unreachable, and no depth is measured)."""
    issues: list[Issue] = []

    def report(line: int | None, key: str, message: str) -> None:
        issues.append((line, key, message))

    nodes = flow.nodes
    names = list(nodes)
    if flow.start and flow.start not in nodes:
        report(flow.start_line, f"{flow.name}.start",
               f"no node named {flow.start!r}{_hint(flow.start, names)}: start names the node "
               "the call begins at")  # fmt: skip
    for node in nodes.values():
        for edge in node.edges:
            if edge.target not in nodes:
                report(edge.line, edge.key,
                       f"no node named {edge.target!r} in flow {flow.name}"
                       f"{_hint(edge.target, names)}: add it under nodes or correct the name")  # fmt: skip
    silent = {
        name: [e.target for e in node.edges if not e.keyed and e.target in nodes]
        for name, node in nodes.items()
    }
    circles = _circles(names, silent)
    for circle in circles:
        first = nodes[circle[0]]
        report(first.line, f"{flow.name}.nodes.{circle[0]}",
               f"{_way(circle)} can go round with no key pressed, so a "
               "silent line would loop forever (an ask's give_up and an opt-out's cancel need "
               "no key): make the caller answer an ask on the way, or lead out of the circle")  # fmt: skip
    if flow.start not in nodes:
        return issues
    reached = _reachable(flow)
    for name, node in nodes.items():
        if name not in reached:
            report(node.line, f"{flow.name}.nodes.{name}",
                   f"no way leads here from start ({flow.start}): link to it from another node "
                   "(next:, on:, …) or delete it")  # fmt: skip
    if not circles and not broken:
        way = _longest(flow.start, reached, silent)
        if len(way) > m.MAX_DEPTH:
            report(flow.line, flow.name,
                   f"a silent caller is led through {len(way)} nodes ({way[0]} → … → {way[-1]}); "
                   f"a flow keeps that to {m.MAX_DEPTH}: shorten it or split it into flows")  # fmt: skip
    _check_input(flow, reached, report)
    return issues


def _way(circle: list[str]) -> str:
    """A circle as the reader sees it, abbreviated past a few nodes."""
    shown = [*circle, circle[0]]
    if len(shown) > 8:
        shown = [*shown[:4], f"… ({len(circle)} nodes) …", *shown[-3:]]
    return " → ".join(shown)


def _hint(word: str, choices: list[str]) -> str:
    if len(choices) > m.MAX_NODES:  # a flow over the bound (reported): no quadratic guessing
        return ""
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _reachable(flow: m.Flow) -> set[str]:
    seen = {flow.start}
    todo = [flow.start]
    while todo:
        for edge in flow.nodes[todo.pop()].edges:
            if edge.target in flow.nodes and edge.target not in seen:
                seen.add(edge.target)
                todo.append(edge.target)
    return seen


def _circles(names: list[str], out: dict[str, list[str]]) -> list[list[str]]:
    """One circle for each strongly connected group of `out` that has one (Tarjan, iterative:
    a flow file may hold thousands of nodes), each starting at its first node as written."""
    order = {name: i for i, name in enumerate(names)}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    for root in names:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            if i < len(out[node]):
                work.append((node, i + 1))
                nxt = out[node][i]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                groups.append(group)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    circles = []
    for group in groups:
        members = set(group)
        if len(group) == 1 and group[0] not in out[group[0]]:
            continue
        first = min(group, key=order.__getitem__)
        circles.append(_way_round(first, members, out))
    circles.sort(key=lambda c: order[c[0]])
    return circles


def _way_round(first: str, members: set[str], out: dict[str, list[str]]) -> list[str]:
    """The shortest way from `first` back to itself inside its group."""
    parent: dict[str, str] = {}
    frontier = [first]
    while frontier:
        following = []
        for node in frontier:
            for nxt in out[node]:
                if nxt == first:
                    way = [node]
                    while way[-1] != first:
                        way.append(parent[way[-1]])
                    return way[::-1]
                if nxt in members and nxt not in parent:
                    parent[nxt] = node
                    following.append(nxt)
        frontier = following
    return [first]  # not reached: every member of a group is on a circle through `first`


def _longest(start: str, reached: set[str], out: dict[str, list[str]]) -> list[str]:
    """The longest way of silent links from any reached node (they form no circle here)."""
    length: dict[str, int] = {}
    after: dict[str, str | None] = {}
    begun: set[str] = set()  # a link back to one of these would be a circle: not followed
    for root in sorted(reached):
        work = [(root, False)]
        while work:
            node, done = work.pop()
            if node in length:
                continue
            if done:
                tails = [n for n in out[node] if n in length]
                best = max(tails, key=length.__getitem__, default=None)
                length[node] = 1 + (length[best] if best else 0)
                after[node] = best
                continue
            if node in begun:
                continue
            begun.add(node)
            work.append((node, True))
            work.extend((n, False) for n in out[node] if n not in length and n not in begun)
    first: str | None = max(length, key=length.__getitem__, default=start)
    way = []
    while first is not None:
        way.append(first)
        first = after.get(first)
    return way


def _check_input(flow: m.Flow, reached: set[str], report: Report) -> None:
    """$input needs an accepted input on every way to the node: the nodes without one are those
    reached from start by links that bring no input (every link but an ask's on: and otherwise:)."""
    without = {flow.start}
    todo = [flow.start]
    while todo:
        for edge in flow.nodes[todo.pop()].edges:
            if not edge.carries_input and edge.target in flow.nodes and edge.target not in without:
                without.add(edge.target)
                todo.append(edge.target)
    for name in reached & without:
        node = flow.nodes[name]
        if isinstance(node.action, m.SetFields | m.Answer):
            for key, value in node.action.values:
                if value == m.INPUT:
                    report(node.line, f"{flow.name}.nodes.{name}.{key}",
                           f"{m.INPUT} may have no value here: a caller can reach this node "
                           "without answering an ask first; give a fixed value or put the node "
                           "after an ask's on: or otherwise:")  # fmt: skip
