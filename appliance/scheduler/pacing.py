"""Pacing (SPEC A3, A4): how many dials to start now for an agent campaign, and the abandon ledger.

Pure: every method takes the time; nothing reads a clock. The engine (or bench/pacing.py) feeds
what happened — dials, answers, agents freed — and asks `dials_wanted()` at each event.

- Progressive (power): calls ringing or waiting = ratio × idle agents (A3).
- Predictive (A4): risk-based pacing (research/pacing.md §2.7). At moments t over the next ring
  window, S = agents free by t + 2 s (idle now, wrap-ups
  ending, talks ending by the measured talk time, memoryless) and X = live answers by t (calls
  already ringing, each by its remaining answer probability from the measured answer rate and
  answer-delay distribution, plus p per new dial). It starts the largest n new dials with
  E[(X − S)⁺] / E[X] ≤ r at every checkpoint of the ring window, with the exact distributions
  (Poisson-binomial answers, binomial agents). r is BASE_RISK scaled every minute, both ways, in
  proportion to the measured abandon rate's distance from a target below the cap over the rolling
  24 h window; at the cap (24 h or 30 d) it dials progressively.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from dataclasses import dataclass, field

DAY = 86400.0
MONTH = 30 * DAY
# The model's expected-abandon ratio per decision that gives about 2.5 % measured abandons in the
# bench's scenarios (answers bunch, so the measured rate runs above the model's figure).
BASE_RISK = 0.0075
DELAY_WINDOW = 2000
# Abandons the calls already in flight may still add after the switch to progressive: the cap
# check keeps this many in hand, so the rolling rate ends at or under the cap, never just past it.
# A new campaign therefore starts progressive until it has answers enough to hold the reserve.
CAP_RESERVE = 2
# Steering: every STEER_EVERY seconds, risk = BASE_RISK × exp(−STEER_GAIN × e), e the rolling 24 h
# rate's relative error to the target (TARGET_SHARE × cap), held within RISK_DOWN..RISK_UP × base.
# Both ways and proportional: the window itself integrates the abandons, so a proportional law on
# it pulls each day back to the target within the day (gain 2 → daily σ 0.21–0.28 points, 8 →
# 0.17–0.18, 16 → 0.08–0.14 but swinging the risk that hard costs occupancy).
STEER_EVERY = 60.0
STEER_GAIN = 8.0
RISK_UP = 3.0
RISK_DOWN = 0.1
TARGET_SHARE = 0.85


class AbandonLedger:
    """Answered and abandoned calls over rolling 24 h and 30 d windows (abandoned ÷ answered)."""

    def __init__(self) -> None:
        self._answered: dict[float, deque[float]] = {DAY: deque(), MONTH: deque()}
        self._abandoned: dict[float, deque[float]] = {DAY: deque(), MONTH: deque()}

    def answered(self, t: float) -> None:
        for q in self._answered.values():
            q.append(t)

    def abandoned(self, t: float) -> None:
        """An abandoned call was answered too: call `answered` for it as well."""
        for q in self._abandoned.values():
            q.append(t)

    def _trim(self, now: float) -> None:
        for window in (DAY, MONTH):
            for q in (self._answered[window], self._abandoned[window]):
                while q and q[0] <= now - window:
                    q.popleft()

    def rate(self, now: float, window: float = DAY) -> float:
        self._trim(now)
        answered = len(self._answered[window])
        return len(self._abandoned[window]) / answered if answered else 0.0

    def counts(self, now: float, window: float = DAY) -> tuple[int, int]:
        self._trim(now)
        return len(self._abandoned[window]), len(self._answered[window])


@dataclass
class PacingStats:
    """What the pacer has measured: answer rate, answer delays, talk time."""

    prior_answer_rate: float = 0.3
    prior_talk: float = 180.0
    prior_delay: float = 15.0
    dials: int = 0
    answers: int = 0
    delays: list[float] = field(default_factory=list)  # the recent answer delays, sorted
    recent: deque[float] = field(default_factory=deque)  # the same, in arrival order
    talk_total: float = 0.0
    talks: int = 0

    def answer_rate(self) -> float:
        k = 50.0  # prior weight in dials
        return (self.answers + k * self.prior_answer_rate) / (self.dials + k)

    def mean_talk(self) -> float:
        k = 20.0
        return (self.talk_total + k * self.prior_talk) / (self.talks + k)

    def mean_delay(self) -> float:
        return sum(self.delays) / len(self.delays) if self.delays else self.prior_delay

    def delay_cdf(self, elapsed: float) -> float:
        if not self.delays:
            return min(1.0, elapsed / (2 * self.prior_delay))
        return bisect.bisect_right(self.delays, elapsed) / len(self.delays)

    def add_delay(self, delay: float) -> None:
        # A sliding window of the last DELAY_WINDOW answers: the oldest leaves as a new one comes
        # (thinning by position would drop the shortest delays first and skew the distribution).
        bisect.insort(self.delays, delay)
        self.recent.append(delay)
        if len(self.recent) > DELAY_WINDOW:
            oldest = self.recent.popleft()
            del self.delays[bisect.bisect_left(self.delays, oldest)]


@dataclass(frozen=True)
class AgentView:
    """Agents as the pacer needs them at one moment."""

    idle: int  # ready, no call
    talk_elapsed: tuple[float, ...] = ()  # seconds into each current talk
    wrap_remaining: tuple[float, ...] = ()  # seconds left of each wrap-up


class Pacer:
    """One campaign's pacing. `mode`: progressive or predictive; `cap`: the abandon cap (0.03)."""

    def __init__(
        self,
        mode: str = "predictive",
        *,
        ratio: float = 1.0,
        cap: float = 0.03,
        target: float | None = None,
        wrap: float = 15.0,
        stats: PacingStats | None = None,
    ) -> None:
        if mode not in ("progressive", "predictive"):
            raise ValueError(f"pacing mode {mode!r}: expected progressive or predictive")
        self.mode = mode
        self.ratio = ratio
        self.cap = cap
        self.target = target if target is not None else TARGET_SHARE * cap
        self.wrap = wrap
        self.stats = stats or PacingStats()
        self.ledger = AbandonLedger()
        # The allowed expected-abandon ratio per decision, steered by the ledger. The model's
        # figure runs below the measured rate (answers bunch), so it starts well under the target.
        self.risk = BASE_RISK
        self._last_steer = -math.inf

    # ---------------------------------------------------------------- what happened
    def dialed(self) -> None:
        self.stats.dials += 1

    def answered(self, now: float, delay: float) -> None:
        self.stats.answers += 1
        self.stats.add_delay(delay)
        self.ledger.answered(now)

    def abandoned(self, now: float) -> None:
        self.ledger.abandoned(now)

    def talk_ended(self, duration: float) -> None:
        self.stats.talk_total += duration
        self.stats.talks += 1

    # ---------------------------------------------------------------- decisions
    def at_cap(self, now: float) -> bool:
        for window in (DAY, MONTH):
            abandoned, answered = self.ledger.counts(now, window)
            if abandoned + CAP_RESERVE >= self.cap * answered:
                return True
        return False

    def dials_wanted(
        self,
        now: float,
        agents: AgentView,
        ringing_elapsed: tuple[float, ...],
        waiting: int,
        lines_free: int,
    ) -> int:
        """New dials to start now (never more than `lines_free`).

        `ringing_elapsed`: seconds since each unanswered dial in flight was placed; `waiting`:
        answered calls not yet given to an agent."""
        if lines_free <= 0:
            return 0
        at_cap = self.at_cap(now)
        if self.mode == "progressive" or at_cap:
            # At the cap an over-dial ratio gives way to 1:1: no more calls than idle agents.
            ratio = min(self.ratio, 1.0) if at_cap else self.ratio
            want = math.floor(ratio * agents.idle) - len(ringing_elapsed) - waiting
            return max(0, min(want, lines_free))
        return max(0, min(self._predictive(now, agents, ringing_elapsed, waiting), lines_free))

    def _steer(self, now: float) -> None:
        # Accelerates under the target as well as braking over it: the day-to-day spread of the
        # abandon rate, not its mean, is what keeps the worst day near the cap.
        if now - self._last_steer < STEER_EVERY:
            return
        self._last_steer = now
        abandoned, answered = self.ledger.counts(now, DAY)
        if answered < 100:
            return
        error = (abandoned / answered - self.target) / self.target
        self.risk = BASE_RISK * min(RISK_UP, max(RISK_DOWN, math.exp(-STEER_GAIN * error)))

    def _predictive(
        self, now: float, agents: AgentView, ringing: tuple[float, ...], waiting: int
    ) -> int:
        self._steer(now)
        s = self.stats
        p = s.answer_rate()
        mean_talk = s.mean_talk()
        # Answers need an agent when they come, not on average: the balance is checked at several
        # moments over the ring window (agents may be up to the 2 s grace late), with the exact
        # distributions of answers (Poisson-binomial) and of agents freed (binomial).
        checks = []
        for t in CHECKPOINTS:
            sure = agents.idle + sum(1 for r in agents.wrap_remaining if r <= t + 2.0)
            left = t + 2.0 - self.wrap
            q = 1.0 - math.exp(-left / mean_talk) if left > 0 else 0.0
            free = [0.0] * sure + _binomial(len(agents.talk_elapsed), q)
            answers = [0.0] * waiting + [1.0]
            mean = float(waiting)
            for elapsed in ringing:
                f0 = s.delay_cdf(elapsed)
                if p * f0 >= 1.0:
                    continue
                chance = p * (s.delay_cdf(elapsed + t) - f0) / (1.0 - p * f0)
                answers = _add_bernoulli(answers, chance)
                mean += chance
            checks.append((answers, _tail_sums(free), p * s.delay_cdf(t), mean))
        n = 0
        while n < 200:
            k = n + 1
            total = checks[-1][3] + k * p
            worst = 0.0
            for i, (answers, free_tail, c, _) in enumerate(checks):
                answers = _add_bernoulli(answers, c)
                checks[i] = (answers, free_tail, c, checks[i][3])
                worst = max(worst, _excess(answers, free_tail))
            if worst > self.risk * total:
                break
            n = k
        return n


def _binomial(n: int, q: float) -> list[float]:
    dist = [1.0]
    for _ in range(n):
        dist = _add_bernoulli(dist, q)
    return dist


def _add_bernoulli(dist: list[float], chance: float) -> list[float]:
    out = [0.0] * (len(dist) + 1)
    for i, w in enumerate(dist):
        out[i] += w * (1.0 - chance)
        out[i + 1] += w * chance
    return out


def _tail_sums(free: list[float]) -> list[float]:
    """cdf[s] = P(S <= s) for the agents-free distribution, as a prefix sum."""
    cdf, acc = [], 0.0
    for w in free:
        acc += w
        cdf.append(acc)
    return cdf


def _excess(answers: list[float], free_cdf: list[float]) -> float:
    """E[(X - S)+] for independent X ~ answers and S with cdf free_cdf."""
    # E[(X-S)+] = sum_x P(X=x) * sum_{s<x} P(S=s) (x-s) = sum_x P(X=x) * sum_{j<x} P(S<=j)
    total = 0.0
    acc = 0.0
    last = len(free_cdf) - 1
    for x, w in enumerate(answers):
        if x > 0:
            acc += free_cdf[min(x - 1, last)]
        total += w * acc
    return total


# Seconds ahead at which the predictive balance is checked (the ring window is about 25 s); every
# 2 s, since answers that come early are the ones that find nobody (4 s steps cost ~1 point).
CHECKPOINTS = (2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 14.0, 16.0, 18.0, 20.0, 22.0, 25.0)
