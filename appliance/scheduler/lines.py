"""Sharing free lines among running campaigns (SPEC C7): by weight, honouring pinned lines and per-campaign caps.

Each free line goes, in turn, to the campaign furthest below its weighted share — the one with
the fewest lines in use (busy + already given) per unit of weight — among those the line may
serve (a pinned line serves only its campaigns), that are under their cap and still have
contacts to dial. Pinned lines are handed out first, since they have fewer takers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Share:
    """One running campaign as line sharing sees it."""

    name: str
    weight: int = 1
    max_lines: int | None = None  # cap on concurrent lines
    busy: int = 0  # lines it uses now
    demand: int | None = None  # dials it could start now; None: unknown (no limit)


def share_lines(
    free_lines: Sequence[str],
    pins: Mapping[str, Sequence[str]],
    campaigns: Sequence[Share],
) -> dict[str, list[str]]:
    """Free lines by campaign name (campaigns given none are left out).

    `pins` maps a line to the campaigns it is pinned to; a line not in `pins` (or pinned to
    nothing) serves any campaign."""
    given: dict[str, list[str]] = {c.name: [] for c in campaigns}
    by_name = {c.name: c for c in campaigns}
    lines = sorted(free_lines, key=lambda line: (not pins.get(line), line))
    for line in lines:
        allowed = pins.get(line) or ()
        takers = [
            c
            for c in campaigns
            if (not allowed or c.name in allowed) and _room(c, len(given[c.name])) > 0
        ]
        if not takers:
            continue
        best = min(
            takers, key=lambda c: ((c.busy + len(given[c.name])) / c.weight, -c.weight, c.name)
        )
        given[best.name].append(line)
    return {name: got for name, got in given.items() if got and name in by_name}


def _room(c: Share, given: int) -> int:
    room = 1 << 30
    if c.max_lines is not None:
        room = min(room, c.max_lines - c.busy - given)
    if c.demand is not None:
        room = min(room, c.demand - given)
    return room
