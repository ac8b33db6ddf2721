"""Pacing on simulated time (#19): the project's own pacer (appliance.scheduler.pacing) against the
world of the shared benchmark specification (research/pacing.md §5), not the pacer's assumptions.

World (§5.1, §5.2): N agents cycling idle → talk → wrap → idle; at most L channels (ringing +
holding + talking; wrap-up holds none); unlimited leads. A dial's outcome is drawn at launch and
hidden from the pacer: live with probability p, answered after A (no answer at the 22 s timeout
if A is longer), else non-live, resolved after F. An answer goes to the longest-idle agent, or
holds; no agent within the 2 s grace: abandoned. The pacer is asked after every event and on a
1 s tick; it is told each dial, live answer (with A), non-live outcome (with F), abandon, talk and
wrap-up, and sees idle agents, talks and wrap-ups with their elapsed times, dials in flight with
their ages and the parties holding — never outcomes or durations to come.

- R family: talk LogNormal(180 s, CV 1), wrap LogNormal(20 s, CV 0.5), A LogNormal(10 s, CV 0.5)
  cut at 22 s, F 55 % no answer U(21, 23) s, 25 % busy U(2, 6) s, 20 % machine LogNormal(15 s,
  CV 0.4); grace 2 s.
- M family: the same means, exponential talk, wrap and dial resolution (10 s every outcome),
  hold patience Exp(2 s): where the CMDP optimum (§3.2, bench/cmdp.py) applies.
- Scenarios (§5.3): S1 3/4/0.30, S2 10/30/0.30, S3 30/90/0.30, S4 20/100/0.15, S5 20/60/0.30;
  M1–M4 as S1–S4. Stress (§5.4): D1s/D1f/D1r answer rate step 0.30 → 0.15 at 4 h, linear
  fall, linear rise 0.15 → 0.30 (20/100); D2 talk 180 → 300 s at 4 h (S5); D3 breaks 2 × 15 min
  and 30 min lunch, staggered, 10 % log in late within 30 min (S5); D5 2 % of live answers taken
  for machines (S5; counted as abandoned in the Ofcom-style rate). OLD: the model of issue 3
  (U(5, 25) s answers, 25 s no-answers, exponential talk, 15 s wrap), kept as one more scenario.
- Protocol (§5.5): 8 h shifts, every agent in at t = 0, a new pacer each day (learning mode:
  no priors from the world), no warm-up excluded; day d draws with common random numbers
  (§5.5): lead i from random.Random("d/lead/i"), connect k's talk and wrap-up from
  random.Random("d/call/k"), the staffing plan from random.Random(d); evaluation seeds 1–20
  (tuning uses 1001–1006 only).
- Metrics (§5.6), per scenario over the days: talk occupancy (talk ÷ logged-in agent time),
  pooled abandon (abandoned ÷ live answers), worst and 95th-percentile day, days over 3 %,
  the worst 30-min rolling abandon (windows holding ≥ 30 live answers), minutes in the at-cap
  fallback, connects and dials per agent-hour; M family: occupancy ÷ the CMDP optimum at the
  achieved abandon (bench/cmdp_frontier.json); R family: ÷ the §4 reference at 3 %.

    .venv/bin/python bench/pacing.py [--scenario S2 --scenario M1 ...] [--seeds 1-20]
        [--mode predictive|progressive|both] [--jobs 2] [--quick]
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import json
import math
import random
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from appliance.scheduler import pacing
from appliance.scheduler.pacing import AgentView, Pacer

SHIFT = 8 * 3600.0
TICK = 1.0
CAP = 0.03
HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Scenario:
    name: str
    agents: int
    lines: int
    p: float
    family: str = "R"  # R, M or OLD
    p_end: float | None = None  # D1: p at the end of the shift
    p_step: bool = False  # D1: p jumps to p_end at 4 h (else linear)
    talk_after: float | None = None  # D2: mean talk from 4 h on
    churn: bool = False  # D3
    false_positive: float = 0.0  # D5: share of live answers AMD takes for machines
    reference: float | None = None  # §4: the risk-based reference at 3 % (R family)


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("S1", 3, 4, 0.30, reference=0.762),
        Scenario("S2", 10, 30, 0.30, reference=0.796),
        Scenario("S3", 30, 90, 0.30, reference=0.838),
        Scenario("S4", 20, 100, 0.15, reference=0.813),
        Scenario("S5", 20, 60, 0.30, reference=0.822),
        Scenario("M1", 3, 4, 0.30, "M"),
        Scenario("M2", 10, 30, 0.30, "M"),
        Scenario("M3", 30, 90, 0.30, "M"),
        Scenario("M4", 20, 100, 0.15, "M"),
        Scenario("D1s", 20, 100, 0.30, p_end=0.15, p_step=True),
        Scenario("D1f", 20, 100, 0.30, p_end=0.15),
        Scenario("D1r", 20, 100, 0.15, p_end=0.30),
        Scenario("D2", 20, 60, 0.30, talk_after=300.0),
        Scenario("D3", 20, 60, 0.30, churn=True),
        Scenario("D5", 20, 60, 0.30, false_positive=0.02),
        Scenario("OLD", 10, 30, 0.30, "OLD"),
    )
}
QUICK = ("S1", "M1")


def _lognormal(rng: random.Random, mean: float, cv: float) -> float:
    s2 = math.log(1.0 + cv * cv)
    return rng.lognormvariate(math.log(mean) - s2 / 2.0, math.sqrt(s2))


class World:
    """The distributions of one scenario (never shown to the pacer). Common random numbers
    (§5.5): lead i draws its outcome, A or F, hold patience and AMD verdict from its own stream
    (seed, lead, i), the k-th connect its talk and wrap-up from (seed, call, k), so two pacers
    on the same day meet the same people and A/B differences are not drowned in noise."""

    def __init__(self, sc: Scenario, seed: int) -> None:
        self.sc, self.seed = sc, seed

    def _stream(self, kind: str, i: int) -> random.Random:
        return random.Random(f"{self.seed}/{kind}/{i}")

    def p(self, t: float) -> float:
        sc = self.sc
        if sc.p_end is None:
            return sc.p
        if sc.p_step:
            return sc.p if t < SHIFT / 2 else sc.p_end
        return sc.p + (sc.p_end - sc.p) * min(1.0, t / SHIFT)

    def service(self, k: int, t: float) -> tuple[float, float]:
        """(talk, wrap-up) of the k-th connect, made at t."""
        rng, fam = self._stream("call", k), self.sc.family
        mean = 180.0
        if self.sc.talk_after is not None and t >= SHIFT / 2:
            mean = self.sc.talk_after
        if fam == "R":
            return _lognormal(rng, mean, 1.0), _lognormal(rng, 20.0, 0.5)
        if fam == "M":
            return rng.expovariate(1.0 / mean), rng.expovariate(1.0 / 20.0)
        return rng.expovariate(1.0 / mean), 15.0

    def dial(self, i: int, t: float) -> tuple[str, float, float, bool]:
        """(outcome, seconds to it, hold patience, taken for a machine) of lead i dialed at t:
        live, noanswer, busy or machine."""
        rng, fam = self._stream("lead", i), self.sc.family
        live = rng.random() < self.p(t)
        patience = rng.expovariate(1.0 / 2.0) if fam == "M" else 2.0
        fp = rng.random() < self.sc.false_positive
        if fam == "M":
            kind = "live" if live else rng.choice(("noanswer", "busy"))
            return kind, rng.expovariate(1.0 / 10.0), patience, fp
        if fam == "OLD":
            if live:
                return "live", rng.uniform(5.0, 25.0), patience, fp
            return "noanswer", 25.0, patience, fp
        if live:
            a = _lognormal(rng, 10.0, 0.5)
            return ("live", a, patience, fp) if a <= 22.0 else ("noanswer", 22.0, patience, fp)
        u = rng.random()
        if u < 0.55:
            return "noanswer", rng.uniform(21.0, 23.0), patience, fp
        if u < 0.80:
            return "busy", rng.uniform(2.0, 6.0), patience, fp
        return "machine", _lognormal(rng, 15.0, 0.4), patience, fp


@dataclass
class Agent:
    id: int
    state: str = "out"  # out, idle, talk, wrap, break
    since: float = 0.0
    idle_since: float = 0.0
    call: int = 0


@dataclass
class Day:
    talk: float = 0.0
    logged: float = 0.0  # agent-seconds logged in
    live: int = 0
    abandoned: int = 0
    false_positive: int = 0
    dials: int = 0
    connects: int = 0
    at_cap_ticks: int = 0
    predictive_ticks: int = 0
    answers_at: list[float] = field(default_factory=list)
    abandons_at: list[float] = field(default_factory=list)


def _schedule(sc: Scenario, rng: random.Random) -> list[tuple[float, int, str]]:
    """(time, agent, 'in'/'out') for staffing churn (D3); everyone in at 0 otherwise."""
    plan: list[tuple[float, int, str]] = []
    for a in range(sc.agents):
        start = rng.uniform(0.0, 1800.0) if sc.churn and rng.random() < 0.10 else 0.0
        plan.append((start, a, "in"))
        if sc.churn:
            for length, lo, hi in ((900.0, 3600.0, 10800.0), (1800.0, 12600.0, 16200.0),
                                   (900.0, 19800.0, 25200.0)):  # fmt: skip
                at = rng.uniform(lo, hi)
                plan += [(at, a, "out"), (at + length, a, "in")]
    return sorted(plan)


def simulate_day(sc: Scenario, mode: str, seed: int, make: Callable[[], Pacer]) -> Day:
    rng = random.Random(seed)
    world = World(sc, seed)
    pacer = make()
    if mode == "progressive":
        pacer.mode = "progressive"
    day = Day()
    agents = [Agent(i) for i in range(sc.agents)]
    events: list[tuple[float, int, str, int]] = []
    seq = 0

    def push(t: float, kind: str, ref: int) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(events, (t, seq, kind, ref))

    ringing: dict[int, float] = {}  # call -> dialed at
    fate: dict[int, tuple[float, bool]] = {}  # call -> (hold patience, taken for a machine)
    wraps: dict[int, float] = {}  # agent -> the wrap-up drawn with its call
    holding: deque[int] = deque()
    held_since: dict[int, float] = {}
    talking = 0
    call_ids = 0
    away: set[int] = set()  # agents due out once their call and wrap-up end
    last_t = 0.0

    def account(now: float) -> None:
        nonlocal last_t
        if now > last_t:
            dt = min(now, SHIFT) - min(last_t, SHIFT)
            if dt > 0:
                for ag in agents:
                    if ag.state != "out" and ag.state != "break":
                        day.logged += dt
                        if ag.state == "talk":
                            day.talk += dt
            last_t = now

    def idle_agents() -> list[Agent]:
        return [a for a in agents if a.state == "idle"]

    def connect(now: float, agent: Agent, call: int) -> None:
        nonlocal talking
        agent.state, agent.since, agent.call = "talk", now, call
        talking += 1
        day.connects += 1
        talk, wraps[agent.id] = world.service(day.connects, now)
        push(now + talk, "talk_end", agent.id)

    def free_agent(now: float, agent: Agent) -> None:
        if agent.id in away:
            away.discard(agent.id)
            agent.state = "break"
            return
        agent.state, agent.idle_since = "idle", now
        while holding:
            call = holding.popleft()
            if call in held_since:
                del held_since[call]
                connect(now, agent, call)
                return

    def decide(now: float) -> None:
        nonlocal call_ids
        if now >= SHIFT:
            return
        lines_free = sc.lines - len(ringing) - len(held_since) - talking
        if lines_free <= 0:
            return
        view = AgentView(
            idle=sum(1 for a in agents if a.state == "idle"),
            talk_elapsed=tuple(now - a.since for a in agents if a.state == "talk"),
            wrap_elapsed=tuple(now - a.since for a in agents if a.state == "wrap"),
        )
        ring = tuple(now - t for t in ringing.values())
        n = pacer.dials_wanted(now, view, ring, len(held_since), lines_free)
        for _ in range(n):
            call_ids += 1
            ringing[call_ids] = now
            day.dials += 1
            pacer.dialed(now)
            kind, after, patience, fp = world.dial(call_ids, now)
            fate[call_ids] = (patience, fp)
            push(now + after, kind, call_ids)

    for at, a, what in _schedule(sc, rng):
        push(at, "login" if what == "in" else "logout", a)
    for k in range(1, int(SHIFT / TICK)):
        push(k * TICK, "tick", 0)
    while events:
        now, _, kind, ref = heapq.heappop(events)
        account(now)
        if kind == "tick":
            if mode == "predictive":
                day.predictive_ticks += 1
                if pacer.at_cap(now):
                    day.at_cap_ticks += 1
        elif kind == "live":
            dialed_at = ringing.pop(ref)
            patience, fp = fate.pop(ref)
            if fp:
                day.false_positive += 1  # a person taken for a machine and hung up on
                pacer.resolved(now, "machine", now - dialed_at)
                decide(now)
                continue
            day.live += 1
            day.answers_at.append(now)
            pacer.answered(now, now - dialed_at)
            free = idle_agents()
            if free:
                connect(now, min(free, key=lambda a: a.idle_since), ref)
            else:
                holding.append(ref)
                held_since[ref] = now
                push(now + patience, "patience", ref)
        elif kind in ("noanswer", "busy", "machine"):
            dialed_at = ringing.pop(ref)
            del fate[ref]
            pacer.resolved(now, kind, now - dialed_at)
        elif kind == "patience":
            if ref in held_since:
                del held_since[ref]
                day.abandoned += 1
                day.abandons_at.append(now)
                pacer.abandoned(now)
        elif kind == "talk_end":
            agent = agents[ref]
            talking -= 1
            pacer.talk_ended(now - agent.since, now)
            agent.state, agent.since = "wrap", now
            push(now + wraps.pop(ref), "wrap_end", ref)
        elif kind == "wrap_end":
            agent = agents[ref]
            pacer.wrap_ended(now - agent.since, now)
            free_agent(now, agent)
        elif kind == "login":
            agent = agents[ref]
            away.discard(ref)
            if agent.state in ("out", "break"):
                free_agent(now, agent)
        elif kind == "logout":
            agent = agents[ref]
            if agent.state == "idle":
                agent.state = "break"
            elif agent.state in ("talk", "wrap"):
                away.add(ref)
        decide(now)
        if now >= SHIFT and not ringing and not held_since and not talking:
            break
    account(SHIFT)
    return day


def _rolling_max(day: Day, window: float = 1800.0, least: int = 30) -> float:
    worst = 0.0
    answers, abandons = day.answers_at, day.abandons_at
    lo_a = lo_b = hi_b = 0
    for hi, t in enumerate(answers):
        while answers[lo_a] <= t - window:
            lo_a += 1
        while hi_b < len(abandons) and abandons[hi_b] <= t + 2.0:
            hi_b += 1
        while lo_b < hi_b and abandons[lo_b] <= t - window:
            lo_b += 1
        n = hi - lo_a + 1
        if n >= least:
            worst = max(worst, (hi_b - lo_b) / n)
    return worst


def _cmdp(name: str) -> dict[str, float] | None:
    path = HERE / "cmdp_frontier.json"
    if not path.exists():
        return None
    frontier: dict[str, dict[str, Any]] = json.loads(path.read_text())
    return {a: float(o) for a, o in frontier.get(name, {}).items()} or None


def _interpolate(frontier: dict[str, float], alpha: float) -> float:
    points = sorted((float(a), occ) for a, occ in frontier.items())
    if alpha <= points[0][0]:
        return points[0][1]
    for (a0, o0), (a1, o1) in itertools.pairwise(points):
        if alpha <= a1:
            return o0 + (o1 - o0) * (alpha - a0) / (a1 - a0)
    return points[-1][1]


def _p95(ordered: list[float]) -> float:
    """The 95th percentile of sorted day figures (the nearest rank)."""
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


def summarise(sc: Scenario, mode: str, days: list[Day]) -> dict[str, Any]:
    live = sum(d.live for d in days)
    ab = sum(d.abandoned for d in days)
    fp = sum(d.false_positive for d in days)
    rates = sorted(d.abandoned / d.live if d.live else 0.0 for d in days)
    ofcom = sorted(
        (d.abandoned + d.false_positive) / (d.live + d.false_positive) if d.live else 0.0
        for d in days
    )
    occ = sum(d.talk for d in days) / sum(d.logged for d in days)
    hours = sum(d.logged for d in days) / 3600.0
    out: dict[str, Any] = {
        "scenario": sc.name,
        "mode": mode,
        "days": len(days),
        "occupancy": round(occ, 4),
        "occupancy_day_sd": round(_sd([d.talk / d.logged for d in days]), 4),
        "abandon_pooled": round(ab / live, 4) if live else 0.0,
        "abandon_worst_day": round(rates[-1], 4),
        "abandon_p95_day": round(_p95(rates), 4),
        "days_over_cap": sum(1 for r in rates if r > CAP),
        "rolling_30min_max": round(max(_rolling_max(d) for d in days), 4),
        "at_cap_share": round(
            sum(d.at_cap_ticks for d in days) / max(1, sum(d.predictive_ticks for d in days)), 3
        ),
        "connects_per_agent_hour": round(sum(d.connects for d in days) / hours, 2),
        "dials_per_agent_hour": round(sum(d.dials for d in days) / hours, 2),
    }
    if sc.false_positive:
        out["abandon_ofcom_pooled"] = round((ab + fp) / (live + fp), 4) if live else 0.0
        out["abandon_ofcom_worst_day"] = round(ofcom[-1], 4)
        out["abandon_ofcom_p95_day"] = round(_p95(ofcom), 4)
        out["ofcom_days_over_cap"] = sum(1 for r in ofcom if r > CAP)
    frontier = _cmdp(sc.name) if sc.family == "M" else None
    if frontier:
        opt = _interpolate(frontier, out["abandon_pooled"])
        out["cmdp_optimum"] = round(opt, 4)
        out["ratio_to_cmdp"] = round(occ / opt, 4)
    if sc.reference is not None:
        out["ratio_to_reference_at_3pct"] = round(occ / sc.reference, 4)
    return out


def _table(results: list[dict[str, Any]]) -> str:
    """The figures as a markdown table (on stderr; stdout is the JSON)."""
    lines = [
        "| scenario | mode | occupancy | pooled | worst day | p95 day | days > 3 % |"
        " 30-min max | at cap | ratio |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        ratio = r.get("ratio_to_cmdp", r.get("ratio_to_reference_at_3pct", ""))
        pooled = f"{100 * r['abandon_pooled']:.2f} %"
        worst = f"{100 * r['abandon_worst_day']:.2f} %"
        p95 = f"{100 * r['abandon_p95_day']:.2f} %"
        over = f"{r['days_over_cap']}"
        if "abandon_ofcom_pooled" in r:
            pooled += f" (Ofcom {100 * r['abandon_ofcom_pooled']:.2f} %)"
            worst += f" (Ofcom {100 * r['abandon_ofcom_worst_day']:.2f} %)"
            p95 += f" (Ofcom {100 * r['abandon_ofcom_p95_day']:.2f} %)"
            over += f" (Ofcom {r['ofcom_days_over_cap']})"
        lines.append(
            f"| {r['scenario']} | {r['mode']} | {100 * r['occupancy']:.1f} % | {pooled} | {worst}"
            f" | {p95} | {over} |"
            f" {100 * r['rolling_30min_max']:.1f} % | {100 * r['at_cap_share']:.1f} % | {ratio} |"
        )
    return "\n".join(lines)


def _sd(xs: list[float]) -> float:
    if len(xs) < 2:
        return 0.0
    m = sum(xs) / len(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def _pacer(sc: Scenario) -> Pacer:
    pacer = Pacer("predictive", cap=CAP)
    if sc.false_positive and hasattr(pacer, "false_positive"):
        pacer.false_positive = sc.false_positive  # the campaign's configured rate (#19.5)
    return pacer


def _job(args: tuple[Scenario, str, int]) -> tuple[str, str, int, Day]:
    sc, mode, seed = args
    return sc.name, mode, seed, simulate_day(sc, mode, seed, lambda: _pacer(sc))


def _seeds(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out += list(range(int(lo), int(hi or lo) + 1))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenario", action="append", choices=sorted(SCENARIOS),
                        help="scenario(s) to run (default: all)")  # fmt: skip
    parser.add_argument(
        "--seeds", default="1-20", help="evaluation days, e.g. 1-20 (tuning: 1001-1006)"
    )
    parser.add_argument(
        "--mode", choices=("predictive", "progressive", "both"), default="predictive"
    )
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    parser.add_argument("--hours", type=float, default=8.0, help="shift length (8 h in the spec)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="override a pacing constant (tuning on seeds 1001-1006 only)")  # fmt: skip
    parser.add_argument("--quick", action="store_true",
                        help="tiny run: S1 and M1, one 1-hour day (checks the bench works)")  # fmt: skip
    args = parser.parse_args()
    global SHIFT
    names = args.scenario or list(SCENARIOS)
    seeds = _seeds(args.seeds)
    if args.quick:
        names, seeds, args.hours = list(QUICK), [1], 1.0
    SHIFT = args.hours * 3600.0
    for item in args.set:
        name, _, value = item.partition("=")
        if not hasattr(pacing, name):
            parser.error(f"no pacing constant {name}")
        # a comma-separated value sets a tuple constant (CHECKPOINTS, WRAP_QUANTILES)
        parsed = (
            tuple(float(v) for v in value.strip(",").split(",")) if "," in value else float(value)
        )
        setattr(pacing, name, parsed)
    modes = ("progressive", "predictive") if args.mode == "both" else (args.mode,)
    jobs = [(SCENARIOS[n], m, s) for n in names for m in modes for s in seeds]
    started = time.monotonic()
    if args.jobs > 1:
        import multiprocessing

        with multiprocessing.get_context("fork").Pool(args.jobs) as pool:
            done = pool.map(_job, jobs, chunksize=1)
    else:
        done = [_job(j) for j in jobs]
    by: dict[tuple[str, str], list[Day]] = {}
    for name, mode, _, day in done:
        by.setdefault((name, mode), []).append(day)
    results = [summarise(SCENARIOS[n], m, by[(n, m)]) for n in names for m in modes]
    print(_table(results), file=sys.stderr)
    print(json.dumps({"seeds": args.seeds if not args.quick else "1", "hours": args.hours,
                      "set": args.set,
                      "results": results, "seconds": round(time.monotonic() - started, 1)},
                     indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
