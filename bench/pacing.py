"""Pacing on simulated time: the project's own pacer (appliance.scheduler.pacing) against agents and lines.

Model (issue 3): answer probability p; answered calls ring U(5, 25) s first, unanswered ones ring
until the 25 s timeout; talk ~ exponential, mean 180 s; wrap-up 15 s; an answered call with no
free agent within 2 s is abandoned; 8-hour shifts over 30 days; fixed seeds. Prints one JSON
document: per scenario and mode, occupancy (talk ÷ logged-in agent time), abandoned ÷ answered
overall and the worst 24 h window (one shift a day, so the worst day), connects per agent-hour.

    .venv/bin/python bench/pacing.py [--days 30] [--scenario 10/30/0.3] [--seed 1]
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
import sys
import time
from collections import deque
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from appliance.scheduler.pacing import AgentView, Pacer

SCENARIOS = ((3, 4, 0.3), (10, 30, 0.3), (10, 30, 0.15), (20, 60, 0.3), (30, 90, 0.3))
SHIFT = 8 * 3600.0
RING_TIMEOUT, TALK, WRAP, GRACE, TICK = 25.0, 180.0, 15.0, 2.0, 2.0


def simulate(
    agents: int, lines: int, p: float, mode: str, days: int, seed: int
) -> dict[str, float]:
    rng = random.Random(seed)
    pacer = Pacer(mode, wrap=WRAP)
    pacer.stats.prior_answer_rate = 0.3  # what a new campaign assumes; the measured rate takes over
    talk_total = 0.0
    answered_total = abandoned_total = 0
    worst_day = 0.0
    for day in range(days):
        start = day * 86400.0 + 9 * 3600.0
        end = start + SHIFT
        events: list[tuple[float, int, str, int]] = []
        seq = 0
        idle = agents
        talk_start: dict[int, float] = {}  # agent -> talk start
        wrap_end: dict[int, float] = {}  # agent -> wrap end
        free_agents = list(range(agents))
        ringing: dict[int, float] = {}  # call -> dial time
        waiting: deque[tuple[int, float]] = deque()  # (call, answered at)
        in_use = 0  # lines: ringing + waiting + talking
        call_ids = 0
        day_answered = day_abandoned = 0

        def push(t: float, kind: str, ref: int) -> None:
            nonlocal seq
            seq += 1
            heapq.heappush(events, (t, seq, kind, ref))

        def connect(now: float, answered_at: float) -> None:
            nonlocal idle, talk_total
            agent = free_agents.pop()
            idle -= 1
            duration = rng.expovariate(1.0 / TALK)
            talk_start[agent] = now
            talk_total += max(0.0, min(now + duration, end) - now)
            push(now + duration, "talk_end", agent)

        def decide(now: float) -> None:
            nonlocal in_use, call_ids
            if now >= end:
                return
            view = AgentView(
                idle=idle,
                talk_elapsed=tuple(now - s for s in talk_start.values()),
                wrap_remaining=tuple(w - now for w in wrap_end.values()),
            )
            n = pacer.dials_wanted(
                now, view, tuple(now - t for t in ringing.values()), len(waiting), lines - in_use
            )
            for _ in range(n):
                call_ids += 1
                in_use += 1
                ringing[call_ids] = now
                pacer.dialed()
                if rng.random() < p:
                    push(now + rng.uniform(5.0, 25.0), "answer", call_ids)
                else:
                    push(now + RING_TIMEOUT, "noanswer", call_ids)

        # The engine decides every tick (0.5 s in the daemon), not only when something happens.
        for k in range(int(SHIFT / TICK)):
            push(start + k * TICK, "tick", 0)
        decide(start)
        while events:
            now, _, kind, ref = heapq.heappop(events)
            if kind == "answer":
                dialed_at = ringing.pop(ref)
                pacer.answered(now, now - dialed_at)
                day_answered += 1
                if idle:
                    connect(now, now)
                else:
                    waiting.append((ref, now))
                    push(now + GRACE, "grace", ref)
            elif kind == "noanswer":
                ringing.pop(ref)
                in_use -= 1
            elif kind == "grace":
                if waiting and any(c == ref for c, _ in waiting):
                    waiting.remove(next(w for w in waiting if w[0] == ref))
                    pacer.abandoned(now)
                    day_abandoned += 1
                    in_use -= 1
            elif kind == "talk_end":
                pacer.talk_ended(now - talk_start.pop(ref))
                in_use -= 1
                wrap_end[ref] = now + WRAP
                push(now + WRAP, "wrap_end", ref)
            elif kind == "wrap_end":
                del wrap_end[ref]
                free_agents.append(ref)
                idle += 1
                if waiting and now < end:
                    waiting.popleft()
                    connect(now, now)
            decide(now)
        answered_total += day_answered
        abandoned_total += day_abandoned
        worst_day = max(worst_day, day_abandoned / day_answered if day_answered else 0.0)
    agent_hours = agents * days * SHIFT / 3600.0
    connects = answered_total - abandoned_total
    return {
        "occupancy": round(talk_total / (agents * days * SHIFT), 4),
        "abandon_overall": round(abandoned_total / answered_total, 4) if answered_total else 0.0,
        "abandon_worst_24h": round(worst_day, 4),
        "connects_per_agent_hour": round(connects / agent_hours, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--scenario", help="AGENTS/LINES/P, e.g. 10/30/0.3 (default: all)")
    args = parser.parse_args()
    scenarios = SCENARIOS
    if args.scenario:
        a, l_, p = args.scenario.split("/")
        scenarios = ((int(a), int(l_), float(p)),)
    started = time.monotonic()
    results = []
    for agents, lines, p in scenarios:
        for mode in ("progressive", "predictive"):
            figures = simulate(agents, lines, p, mode, args.days, args.seed)
            results.append({"agents": agents, "lines": lines, "p": p, "mode": mode, **figures})
    print(json.dumps({"days": args.days, "seed": args.seed, "results": results,
                      "seconds": round(time.monotonic() - started, 1)}, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
