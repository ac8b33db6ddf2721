"""Pacing (SPEC A3, A4): how many dials to start now for an agent campaign, and the abandon ledger.

Pure: every method takes the time; nothing reads a clock. The engine (or bench/pacing.py) feeds
what happened — dials, answers, agents freed — and asks `dials_wanted()` at each event.

- Progressive (power): calls ringing or waiting = ratio × idle agents (A3).
- Predictive (A4): risk-based pacing (research/pacing.md §2.7). At moments t over the next ring
  window, S = agents free by t + 2 s (idle now, wrap-ups and talks ending by their measured
  distributions given the time they have run) and X = live answers by t (calls already ringing,
  each by its chance given its age, from the measured answer rate, answer delays and non-live
  resolution times, plus p per new dial). It starts the largest n new dials with
  E[(X − S)⁺] / E[X] ≤ r at every checkpoint of the ring window, with the exact distributions
  (Poisson-binomial answers, binomial agents). r is BASE_RISK scaled every minute, both ways, in
  proportion to the measured abandon rate's distance from a target below the cap over the rolling
  24 h window. Near the cap (24 h or 30 d) it dials at a small fixed risk, at one abandon from it
  progressively; a burst of abandons in the last 30 minutes brakes it the same way, and for
  teams of 10 or more no decision may risk (above 0.1 %) more abandons than the last 30
  minutes can still take at 6 % of their answers; for teams of 20 or more, under 5 such
  abandons left it dials at the small fixed risk, under 1.5 progressively.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections import deque
from dataclasses import dataclass, field

from appliance.scheduler.limits import false_positive_estimate

DAY = 86400.0
MONTH = 30 * DAY
# The model's expected-abandon ratio per decision at which the steering starts (answers bunch,
# so the measured rate runs above the model's figure; the steering finds the level).
BASE_RISK = 0.01
# Abandons the calls already in flight may still add after the switch to progressive: the cap
# check keeps answered ÷ RESERVE_PER of them in hand, at most CAP_RESERVE, so the rolling rate
# ends at or under the cap, never just past it; a first abandon among 30 answers (3.3 %) is at
# the cap, with nothing abandoned a campaign is not. (A reserve of 2 from the first answer kept
# every new campaign progressive for its first 67 answers.) An over-dial ratio waits for
# RESERVE_FROM answers in the 24 h window before it applies.
CAP_RESERVE = 2
RESERVE_PER = 100.0
RESERVE_FROM = 100
# Steering (#19): every STEER_EVERY seconds, risk = BASE_RISK × exp(−STEER_GAIN × e) × ramp,
# held within RISK_DOWN..RISK_UP × base, where e is the abandons over the allowed ones in units
# of the target's budget over the answers so far plus STEER_HORIZON more:
#     e = (abandoned − allowed(answered)) ÷ (target × (answered + STEER_HORIZON)),
# allowed = min(target × answered, the fallback line − STEER_GAP) (see `allowed`),
# so one early abandon brakes in proportion instead of sending the pacer to the progressive
# fallback, and late in the window it acts like a proportional law on the rate. The ramp
# (answered + RAMP_FROM) ÷ RAMP_ANSWERS, at most 1, keeps a new campaign's first answers
# cautious: an abandon among them is what puts a campaign at the cap.
STEER_EVERY = 10.0
STEER_GAIN = 6.0
STEER_HORIZON = 150.0
STEER_GAP = 1.0
RAMP_FROM = 20.0
RAMP_ANSWERS = 60.0
RISK_UP = 4.0
RISK_DOWN = 0.1
TARGET_SHARE = 0.75
# Between the reserve line (`at_cap`) and the hard line (`at_hard_cap`: one abandon short of the
# cap, or the cap itself before 100 answers) predictive dialing goes on at CAP_RISK, a risk whose
# abandons run well under the cap, so the rate falls back from the line; progressive 1:1 only
# past the hard line. Progressive at p 0.15 is 59 % occupancy against 80 %, and the reserve line
# is crossed by noise alone (#19: 8-10 % of S4's minutes were spent there).
CAP_RISK = 0.001
HARD_RESERVE = 1.0
# The short-window brake (#19, §5.7 robustness: 30-minute rolling abandon ≤ 6 %): while the
# abandons of the last SHORT_WINDOW s reach SHORT_SHARE × the cap of its answers (at least
# SHORT_LEAST answers' worth), dial at CAP_RISK. Bursts of abandons come from bunched answers
# and from a world that changes faster than the estimates (D1 steps); the 24 h steering is too
# slow to stop them.
SHORT_WINDOW = 1800.0
SHORT_SHARE = 1.3
SHORT_LEAST = 30.0
# Bursts (#19): where a team of SHORT_AGENTS or more is on, a decision also keeps the chance of
# more abandons than the 30-minute window can still take (SHORT_MAX of its answers, one at
# least) under BURST_RISK at every checkpoint — a cold start's first wave, all agents idle, was
# putting two abandons among the day's first 30 answers one day in ten.
SHORT_MAX = 0.06
SHORT_AGENTS = 10
BURST_RISK = 0.001
# Headroom (#19): where a team of HEAD_AGENTS or more is on, the 30-minute window is also judged
# by the abandons it can still take before SHORT_MAX of its answers: under SHORT_HEAD, dial at
# CAP_RISK; under HARD_HEAD, 1:1. A ratio alone brakes late where a half hour holds few answers
# (D2's 300 s talks: ~100, so 6 % is 6 abandons), and bursts of two or three abandons at once
# come (D1s day 13: 10 of 166 answers, 3 at once twice; day 18: 11 of 175). The brake keeps
# five abandons in hand; 1:1 only at the last one and a half, since at p 0.15 it costs a
# point of occupancy (S4 79.5 → 78.7 % with HARD_HEAD 3). Teams under 20 hold too few answers
# in a half hour for 6 % to be a bound chance alone keeps (pacing.md §5.6 asks it of N >= 20).
HEAD_AGENTS = 20
SHORT_HEAD = 5.0
HARD_HEAD = 1.5
# AMD false positives (#19): the configured share gives their expected number (Ofcom's
# "reasoned estimate", which the ledger shows); the people really taken for machines on a day
# scatter around it (Poisson: sd √n, ~7 of ~53 on a 20-agent day), and counted with them a
# day held at the estimate's line goes over the cap one day in five (D5, days 1-20: 4 days
# over 3 %, worst 3.49 %). The pacer judges its abandons with FP_MARGIN sd more than expected:
# one-sided 2 sd, not tuned (1 sd: 77.7 % occupancy, 1 day over, worst 3.18 %; 2 sd: 75.2 %,
# none, worst 2.85 %; none: 78.8 %). Campaigns without AMD false positives are not touched.
FP_MARGIN = 2.0
# Small teams (#19): under SHORT_AGENTS agents on (at most, over the last day), a day holds few
# answers (3 agents: ~370), and fixed reserves of 2 and 1 abandons cost half a point of
# occupancy (S1 tuning days at a fixed risk of 0.02: 73.6 % with them, 74.0 % with 0.5 each,
# 74.2 % with no cap at all); and a decision's model risk is about what such a team measures (fixed 0.02: 1.7 %, 0.04: 4.0 %),
# where a large team's answers bunch above it. So a small team steers from the target's level,
# within a narrow band and without the ramp, which otherwise took its risk up over the whole
# day (mean risk by hour 0.004 → 0.030), and keeps SMALL_RESERVE for both lines.
SMALL_BASE_RISK = 0.02
SMALL_RISK_UP = 1.5
SMALL_RISK_DOWN = 0.25
SMALL_RESERVE = 0.5


class AbandonLedger:
    """Answered and abandoned calls over rolling 24 h and 30 d windows (abandoned ÷ answered)."""

    def __init__(self) -> None:
        self._answered: dict[float, deque[float]] = {DAY: deque(), MONTH: deque()}
        self._abandoned: dict[float, deque[float]] = {DAY: deque(), MONTH: deque()}
        # The whole campaign's figures as the shared store has them, when other boxes dial it
        # too (#27): each count is at least the store's, so the abandons of every box hold the
        # cap, not those this box saw alone. (abandoned, answered) by window; empty: one box.
        self._shared: dict[float, tuple[int, int]] = {}

    def share(self, window: float, abandoned: int, answered: int) -> None:
        """The campaign's (abandoned, answered) over `window` across all boxes, from the store."""
        self._shared[window] = (abandoned, answered)

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
        abandoned, answered = self.counts(now, window)
        return abandoned / answered if answered else 0.0

    def counts(self, now: float, window: float = DAY) -> tuple[int, int]:
        self._trim(now)
        abandoned, answered = len(self._abandoned[window]), len(self._answered[window])
        shared = self._shared.get(window)
        if shared is not None:
            abandoned, answered = max(abandoned, shared[0]), max(answered, shared[1])
        return abandoned, answered


class Samples:
    """Recent durations, sorted for an empirical distribution, forgotten by time: those of the
    last `window` seconds, but at least the newest `least` and at most the newest `most`."""

    def __init__(self, window: float, least: int, most: int) -> None:
        self.window, self.least, self.most = window, least, most
        self.sorted: list[float] = []
        self._order: deque[tuple[float, float]] = deque()  # (time, value), oldest first
        self.total = 0.0
        # Kaplan–Meier products for one set of running durations, kept until the samples change
        # (a decision asks hundreds of residuals of the same curve): (running, version, prefix).
        self._version = 0
        self._km: tuple[Running, int, list[float]] | None = None

    def __len__(self) -> int:
        return len(self.sorted)

    def add(self, now: float, value: float) -> None:
        bisect.insort(self.sorted, value)
        self._order.append((now, value))
        self.total += value
        self._version += 1
        self.trim(now)

    def trim(self, now: float) -> None:
        order = self._order
        while order and (
            len(order) > self.most or (len(order) > self.least and order[0][0] <= now - self.window)
        ):
            _, oldest = order.popleft()
            del self.sorted[bisect.bisect_left(self.sorted, oldest)]
            self.total -= oldest
            self._version += 1

    def _survival(self, run: Running) -> list[float]:
        """prefix[j] = the product over the samples below j of (1 − 1 / at risk): the
        Kaplan–Meier survival to just before the j-th sample, with `run` counted at risk."""
        km = self._km
        if km is not None and km[0] is run and km[1] == self._version:
            return km[2]
        xs, n = self.sorted, len(self.sorted)
        prefix = [1.0]
        survive = 1.0
        for j in range(n):
            survive *= 1.0 - 1.0 / (n - j + run.at_least(xs[j]))
            prefix.append(survive)
        self._km = (run, self._version, prefix)
        return prefix

    def cdf(self, x: float) -> float:
        return bisect.bisect_right(self.sorted, x) / len(self.sorted) if self.sorted else 0.0

    def mean(self) -> float:
        return self.total / len(self.sorted) if self.sorted else 0.0

    def quantiles(self, shares: tuple[float, ...]) -> list[float]:
        n = len(self.sorted)
        return [self.sorted[min(n - 1, int(q * n))] for q in shares] if n else []

    def ends_within(
        self,
        elapsed: float,
        horizon: float,
        prior_mean: float,
        running: Running | None = None,
    ) -> float:
        """P(D ≤ elapsed + horizon | D > elapsed): the duration's residual, conditioned on the
        time already spent. `running`: the durations still under way (their elapsed times), which
        are longer than that (#19: early in a shift the finished talks are the short ones; taken
        alone they promise agents too soon). Kaplan–Meier while TAIL_MIN finished samples lie
        beyond `elapsed`; past that, memoryless with the censored mean excess of the longest
        TAIL_MIN samples (heavy tails keep their long residuals); with fewer than TAIL_MIN
        samples, memoryless with the censored mean pulled towards `prior_mean`."""
        return self.ends_within_many(elapsed, (horizon,), prior_mean, running)[0]

    def ends_within_many(
        self,
        elapsed: float,
        horizons: tuple[float, ...] | list[float],
        prior_mean: float,
        running: Running | None = None,
    ) -> list[float]:
        """`ends_within` at several horizons: what does not depend on the horizon is worked out
        once (a decision asks each talk at every checkpoint and wrap-up quantile)."""
        run = running or _NOTHING_RUNNING
        xs = self.sorted
        n = len(xs)
        if n < TAIL_MIN:
            exposure = self.total + run.beyond(0.0) + PRIOR_WEIGHT * prior_mean
            rate = (n + PRIOR_WEIGHT) / max(exposure, 1.0)
            return [1.0 - math.exp(-h * rate) if h > 0 else 0.0 for h in horizons]
        below = bisect.bisect_right(xs, elapsed)
        if n - below >= TAIL_MIN:
            # prefix[below] > 0: a factor is 0 only at the last sample, and TAIL_MIN lie above.
            prefix = self._survival(run)
            start = prefix[below]
            right = bisect.bisect_right
            return [
                1.0 - prefix[right(xs, elapsed + h)] / start if h > 0 else 0.0 for h in horizons
            ]
        base = xs[n - TAIL_MIN - 1] if n > TAIL_MIN else 0.0
        exposure = sum(xs[n - TAIL_MIN :]) - TAIL_MIN * base + run.beyond(base)
        rate = TAIL_MIN / max(exposure, TAIL_MIN)
        return [1.0 - math.exp(-h * rate) if h > 0 else 0.0 for h in horizons]


class Running:
    """Durations still under way, by elapsed time: how many have run at least x, and their time
    beyond x (the censored observations of a duration's distribution)."""

    def __init__(self, elapsed: tuple[float, ...] | list[float]) -> None:
        self.sorted = sorted(elapsed)
        self._suffix = list(itertools.accumulate(reversed(self.sorted), initial=0.0))[::-1]

    def at_least(self, x: float) -> int:
        return len(self.sorted) - bisect.bisect_left(self.sorted, x)

    def beyond(self, x: float) -> float:
        i = bisect.bisect_right(self.sorted, x)
        return self._suffix[i] - (len(self.sorted) - i) * x


_NOTHING_RUNNING = Running(())


# Fewer samples than this beyond an elapsed time: the residual is taken as memoryless.
TAIL_MIN = 10
PRIOR_WEIGHT = 5.0  # samples' worth of prior mean while a distribution has under TAIL_MIN
# Forgetting (#19): the answer rate is weighted by exp(−age ln 2 / ANSWER_HALF_LIFE), so a step
# 0.30 → 0.15 is 3/4 learnt after 40 min; talk and wrap-up times are those of the last
# DURATION_WINDOW seconds (a step 180 → 300 s shows within the half hour); the answer-delay and
# non-live resolution distributions barely drift and keep a longer window.
ANSWER_HALF_LIFE = 1200.0
RING_PRIOR_WEIGHT = 20.0  # samples' worth of prior in the answer-delay and non-live distributions
ANSWER_PRIOR_DIALS = 30.0  # the prior answer rate weighs this many dials
# Without reported outcomes, dials younger than this are taken as still ringing (not misses): a
# first burst of dials counted as misses read p 0.1 and over-dialed the start of a shift.
IN_FLIGHT = 30.0
DURATION_WINDOW = 1800.0
DURATION_LEAST = 40  # talks (wrap-ups) kept however old: a small team ends few in the window
RING_WINDOW = 7200.0
WRAP_QUANTILES = (0.1, 0.3, 0.5, 0.7, 0.9)
NON_LIVE = ("busy", "noanswer", "machine", "fail")


@dataclass
class PacingStats:
    """What the pacer has measured (#19): the answer rate (exponentially forgotten), and windowed
    empirical distributions of live answer delays, non-live resolution times, talks and
    wrap-ups."""

    prior_answer_rate: float = 0.3
    prior_talk: float = 180.0
    prior_wrap: float = 15.0
    prior_delay: float = 15.0
    dials: int = 0  # ever (for reports)
    answers: int = 0
    delays: Samples = field(default_factory=lambda: Samples(RING_WINDOW, 100, 2000))
    non_live: Samples = field(default_factory=lambda: Samples(RING_WINDOW, 100, 2000))
    talks: Samples = field(default_factory=lambda: Samples(DURATION_WINDOW, DURATION_LEAST, 2000))
    wraps: Samples = field(default_factory=lambda: Samples(DURATION_WINDOW, DURATION_LEAST, 2000))
    # Exponentially weighted counts at `_at`: dials launched, dials resolved, live answers.
    _w_dials: float = 0.0
    _w_resolved: float = 0.0
    _w_live: float = 0.0
    _at: float = -math.inf
    outcomes_reported: bool = False  # the engine reports non-live outcomes (`resolved`)
    _launched: deque[float] = field(default_factory=deque)  # dial times of the last IN_FLIGHT s

    def _decay(self, now: float) -> None:
        if now > self._at:
            if self._at > -math.inf:
                f = math.exp(-(now - self._at) * math.log(2) / ANSWER_HALF_LIFE)
                self._w_dials *= f
                self._w_resolved *= f
                self._w_live *= f
            self._at = now

    def count_dial(self, now: float) -> None:
        self._decay(now)
        self.dials += 1
        self._w_dials += 1.0
        self._launched.append(now)
        while self._launched and self._launched[0] < now - IN_FLIGHT:
            self._launched.popleft()

    def count_live(self, now: float, delay: float) -> None:
        self._decay(now)
        self.answers += 1
        self._w_live += 1.0
        self._w_resolved += 1.0
        self.delays.add(now, delay)

    def count_non_live(self, now: float, elapsed: float) -> None:
        self._decay(now)
        self.outcomes_reported = True
        self._w_resolved += 1.0
        self.non_live.add(now, elapsed)

    def answer_rate(self) -> float:
        """Live answers per dial: per resolved dial once the engine reports every outcome,
        else per dial launched (calls still ringing make that a little low)."""
        k = ANSWER_PRIOR_DIALS
        if self.outcomes_reported:
            base = self._w_resolved
        else:  # the dials of the last IN_FLIGHT s may still ring: not yet a miss
            launched = self._launched
            while launched and launched[0] < self._at - IN_FLIGHT:
                launched.popleft()
            base = self._w_dials - len(launched)
        return min(1.0, (self._w_live + k * self.prior_answer_rate) / (max(base, self._w_live) + k))

    def mean_talk(self) -> float:
        n = len(self.talks)
        return (self.talks.total + PRIOR_WEIGHT * self.prior_talk) / (n + PRIOR_WEIGHT)

    def mean_delay(self) -> float:
        return self.delays.mean() if len(self.delays) else self.prior_delay

    def delay_cdf(self, elapsed: float) -> float:
        """The answer-delay distribution: the measured one, pulled towards the prior (uniform
        over 0..2 × prior_delay) by RING_PRIOR_WEIGHT samples' worth, so that a few early
        answers do not rule out every later one."""
        n = len(self.delays)
        prior = min(1.0, elapsed / (2 * self.prior_delay))
        if not n:
            return prior
        return (n * self.delays.cdf(elapsed) + RING_PRIOR_WEIGHT * prior) / (n + RING_PRIOR_WEIGHT)

    def non_live_survival(self, elapsed: float) -> float | None:
        """P(a non-live dial is still unresolved after `elapsed`); None: never measured (every
        non-live dial is then taken to ring the full timeout)."""
        if not self.outcomes_reported or not len(self.non_live):
            return None
        n = len(self.non_live)  # the prior: unresolved until the timeout, RING_PRIOR_WEIGHT strong
        return (n * (1.0 - self.non_live.cdf(elapsed)) + RING_PRIOR_WEIGHT) / (
            n + RING_PRIOR_WEIGHT
        )

    def unanswered(self, p: float, elapsed: float) -> tuple[float, float]:
        """(P(A ≤ elapsed), P(a dial is unresolved after `elapsed` s)) for answer rate p."""
        f0 = self.delay_cdf(elapsed)
        still = self.non_live_survival(elapsed)
        return f0, p * (1.0 - f0) + (1.0 - p) * (1.0 if still is None else still)

    def answer_chance(self, p: float, elapsed: float, horizon: float) -> float:
        """P(a dial still unresolved after `elapsed` s is answered live within `horizon` more)."""
        f0, unresolved = self.unanswered(p, elapsed)
        gain = self.delay_cdf(elapsed + horizon) - f0
        if gain <= 0.0 or unresolved <= 1e-9:
            return 0.0
        return min(1.0, p * gain / unresolved)


@dataclass(frozen=True)
class AgentView:
    """Agents as the pacer needs them at one moment."""

    idle: int  # ready, no call
    talk_elapsed: tuple[float, ...] = ()  # seconds into each current talk
    # Wrap-ups, either as the seconds left of each (a deadline: the engine's configured wrap-up,
    # which an agent may end early) or as the seconds into each (`wrap_elapsed`), or both in the
    # same order. Elapsed wrap-ups end by the measured wrap-up distribution, conditioned.
    wrap_remaining: tuple[float, ...] = ()
    wrap_elapsed: tuple[float, ...] = ()


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
        self.stats = stats or PacingStats(prior_wrap=wrap)
        self.ledger = AbandonLedger()
        self._recent_answers: deque[float] = deque()  # live answers of the last SHORT_WINDOW s
        self._recent_abandons: deque[float] = deque()
        # The allowed expected-abandon ratio per decision, steered by the ledger. The model's
        # figure runs below the measured rate (answers bunch), so it starts well under the target.
        self.risk = BASE_RISK
        self._last_steer = -math.inf
        # The small team's steering and reserves apply: the largest team on over the last day is
        # under SHORT_AGENTS, and the campaign has had an answer (until then, and until a decision
        # has seen the team, a large team's law, the cautious one; agents logging in one by one
        # are not a small team).
        self.small_team = False
        self._peak = 0  # the largest team on, since `_peak_at` (within a day)
        self._peak_at = -math.inf
        self._now = 0.0  # the latest time seen, for reports that carry none
        # The share of live answers the AMD takes for machines, where the profile counts them
        # as abandoned (uk): the cap and the steering judge abandoned + the estimate of them.
        self.false_positive = 0.0

    def _seen(self, now: float | None) -> float:
        if now is not None and now > self._now:
            self._now = now
        return self._now if now is None else now

    # ---------------------------------------------------------------- what happened
    def dialed(self, now: float | None = None) -> None:
        self.stats.count_dial(self._seen(now))

    def answered(self, now: float, delay: float) -> None:
        """A live answer `delay` s after its dial (abandoned or not)."""
        self.stats.count_live(self._seen(now), delay)
        self.ledger.answered(now)
        self._recent_answers.append(now)

    def resolved(self, now: float, outcome: str, elapsed: float) -> None:
        """A dial that ended without a live answer, `elapsed` s after it was placed: `busy`,
        `noanswer`, `machine` or `fail` (#19). Live answers are `answered`."""
        if outcome not in NON_LIVE:
            raise ValueError(f"outcome {outcome!r}: expected one of {', '.join(NON_LIVE)}")
        self.stats.count_non_live(self._seen(now), max(0.0, elapsed))

    def abandoned(self, now: float) -> None:
        self.ledger.abandoned(self._seen(now))
        self._recent_abandons.append(now)

    def short_brake(self, now: float) -> bool:
        """The abandons of the last SHORT_WINDOW s are at SHORT_SHARE × the cap of its answers
        (or of SHORT_LEAST answers, if fewer came)."""
        self._trim_short(now)
        abandons = len(self._recent_abandons)
        if not abandons:
            return False
        abandoned, answered = self._judged(abandons, len(self._recent_answers))
        return abandoned >= SHORT_SHARE * self.cap * max(answered, SHORT_LEAST)

    def short_headroom(self, now: float, agents: AgentView) -> float:
        """The abandons the last SHORT_WINDOW s can still take before SHORT_MAX of its answers
        (of SHORT_LEAST, if fewer came); inf: no abandon in it, or a team under HEAD_AGENTS."""
        if team_size(agents) < HEAD_AGENTS:
            return math.inf
        self._trim_short(now)
        if not self._recent_abandons:
            return math.inf
        abandoned, answered = self._judged(len(self._recent_abandons), len(self._recent_answers))
        return SHORT_MAX * max(answered, SHORT_LEAST) - abandoned

    def _trim_short(self, now: float) -> None:
        """Forget the answers and abandons older than SHORT_WINDOW s."""
        for q in (self._recent_answers, self._recent_abandons):
            while q and q[0] <= now - SHORT_WINDOW:
                q.popleft()

    def talk_ended(self, duration: float, now: float | None = None) -> None:
        self.stats.talks.add(self._seen(now), max(0.0, duration))

    def wrap_ended(self, duration: float, now: float | None = None) -> None:
        self.stats.wraps.add(self._seen(now), max(0.0, duration))

    # ---------------------------------------------------------------- decisions
    def at_cap(self, now: float) -> bool:
        """At the reserve line (24 h or 30 d): CAP_RESERVE abandons short of the cap (fewer while
        the window holds under RESERVE_FROM answers). Predictive dials on at CAP_RISK, over-dial
        ratios give way to 1:1."""
        return self._near_cap(now, self._reserve(CAP_RESERVE))

    def at_hard_cap(self, now: float) -> bool:
        """Within HARD_RESERVE abandons of the cap (24 h or 30 d): dial progressive 1:1, whatever
        the mode, so the calls in flight cannot carry the rate past it."""
        return self._near_cap(now, self._reserve(HARD_RESERVE))

    def _reserve(self, large: float) -> float:
        """A line's reserve: `large` for a large team, SMALL_RESERVE for a small one."""
        return SMALL_RESERVE if self.small_team else large

    def _near_cap(self, now: float, most: float) -> bool:
        for window in (DAY, MONTH):
            abandoned, answered = self.counts(now, window)
            reserve = min(most, answered / RESERVE_PER)
            if abandoned and abandoned + reserve >= self.cap * answered:
                return True
        return False

    def counts(self, now: float, window: float = DAY) -> tuple[float, float]:
        """(abandoned, answered) over the window as the cap judges them: with the estimated
        AMD false positives in both where they count (#19)."""
        return self._judged(*self.ledger.counts(now, window))

    def _judged(self, abandoned: int, answered: int) -> tuple[float, float]:
        """Abandoned and answered calls with the estimated AMD false positives added to both."""
        fp = false_positive_estimate(answered, self.false_positive)
        return abandoned + fp + FP_MARGIN * math.sqrt(fp), answered + fp

    def allowed(self, answered: float) -> float:
        """The abandons the steering aims at after `answered` answers: the target's share, but
        never closer than STEER_GAP abandons to the fallback line (the cap less its reserve),
        which the target's share is above until a few hundred answers."""
        line = self.cap * answered - min(self._reserve(CAP_RESERVE), answered / RESERVE_PER)
        return min(self.target * answered, line - STEER_GAP)

    def _overdial_allowed(self, now: float) -> bool:
        """A manual over-dial ratio needs RESERVE_FROM answers in the 24 h window and the cap
        not reached: until then it dials 1:1."""
        return not self.at_cap(now) and self.ledger.counts(now, DAY)[1] >= RESERVE_FROM

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
        self._seen(now)
        team = team_size(agents)
        if team >= self._peak or now - self._peak_at > DAY:
            self._peak, self._peak_at = team, now
        self.small_team = self._peak < SHORT_AGENTS and self.stats.answers > 0
        if lines_free <= 0:
            return 0
        at_cap = self.at_cap(now)
        headroom = self.short_headroom(now, agents)
        if (
            self.mode == "progressive"
            or (at_cap and (CAP_RISK <= 0 or self.at_hard_cap(now)))
            or headroom < HARD_HEAD
        ):
            # At the cap, or at the half hour's hard line, an over-dial ratio gives way to 1:1:
            # no more calls than idle agents.
            overdial = headroom >= HARD_HEAD and self._overdial_allowed(now)
            ratio = self.ratio if overdial else min(self.ratio, 1.0)
            want = math.floor(ratio * agents.idle) - len(ringing_elapsed) - waiting
            return max(0, min(want, lines_free))
        braked = at_cap or headroom < SHORT_HEAD or self.short_brake(now)
        risk = min(self.risk, CAP_RISK) if braked else None
        wanted = self._predictive(now, agents, ringing_elapsed, waiting, risk)
        return max(0, min(wanted, lines_free))

    def _steer(self, now: float) -> None:
        # Accelerates under the target as well as braking over it: the day-to-day spread of the
        # abandon rate, not its mean, is what keeps the worst day under the cap.
        if now - self._last_steer < STEER_EVERY:
            return
        self._last_steer = now
        abandoned, answered = self.counts(now, DAY)
        error = (abandoned - self.allowed(answered)) / (self.target * (answered + STEER_HORIZON))
        if self.small_team:
            base, up, down, ramp = SMALL_BASE_RISK, SMALL_RISK_UP, SMALL_RISK_DOWN, 1.0
        else:
            base, up, down = BASE_RISK, RISK_UP, RISK_DOWN
            ramp = min(1.0, (answered + RAMP_FROM) / RAMP_ANSWERS)
        self.risk = base * min(up, max(down, math.exp(-STEER_GAIN * error))) * ramp

    def free_chances(
        self,
        agents: AgentView,
        horizon: float,
        running: tuple[Running, Running] | None = None,
    ) -> tuple[int, list[float]]:
        """Agents free within `horizon` s: (sure, chances of the others). A talk ends by its
        measured distribution given the time it has run (and the talks under way), then a
        wrap-up by the measured wrap-up distribution; a wrap-up under way by that distribution
        given its elapsed time. `running`: `self.running(agents)`."""
        return self.free_chances_many(agents, (horizon,), running)[0]

    def free_chances_many(
        self,
        agents: AgentView,
        horizons: tuple[float, ...] | list[float],
        running: tuple[Running, Running] | None = None,
    ) -> list[tuple[int, list[float]]]:
        """`free_chances` at each of `horizons`, each agent's residuals worked out at all of
        them at once."""
        s = self.stats
        talking, wrapping = running or self.running(agents)
        sure = [agents.idle] * len(horizons)
        chances: list[list[float]] = [[] for _ in horizons]
        rem = agents.wrap_remaining
        if agents.wrap_elapsed:
            for i, elapsed in enumerate(agents.wrap_elapsed):
                deadline = rem[i] if i < len(rem) else math.inf
                qs = s.wraps.ends_within_many(elapsed, horizons, s.prior_wrap, wrapping)
                for k, horizon in enumerate(horizons):
                    q = qs[k]
                    if deadline <= horizon or q >= 1.0:
                        sure[k] += 1
                    elif q > 0.0:
                        chances[k].append(q)
        else:
            for k, horizon in enumerate(horizons):
                sure[k] += sum(1 for r in rem if r <= horizon)
        if agents.talk_elapsed:
            wraps = s.wraps.quantiles(WRAP_QUANTILES) or [s.prior_wrap] * len(WRAP_QUANTILES)
            share = 1.0 / len(wraps)
            for elapsed in agents.talk_elapsed:
                by_wrap = [
                    s.talks.ends_within_many(
                        elapsed, [h - w for h in horizons], s.prior_talk, talking
                    )
                    for w in wraps
                ]
                for k, horizon in enumerate(horizons):
                    q = 0.0
                    for j, w in enumerate(wraps):
                        if horizon > w:
                            q += share * by_wrap[j][k]
                    if q > 0.0:
                        chances[k].append(min(1.0, q))
        return list(zip(sure, chances, strict=True))

    @staticmethod
    def running(agents: AgentView) -> tuple[Running, Running]:
        """The talks and wrap-ups under way, as censored durations."""
        return Running(agents.talk_elapsed), Running(agents.wrap_elapsed)

    def _predictive(
        self,
        now: float,
        agents: AgentView,
        ringing: tuple[float, ...],
        waiting: int,
        risk: float | None = None,
    ) -> int:
        self._steer(now)
        limit = self.risk if risk is None else risk
        s = self.stats
        s.talks.trim(now)
        s.wraps.trim(now)
        p = s.answer_rate()
        # Answers need an agent when they come, not on average: the balance is checked at several
        # moments over the ring window (agents may be up to the 2 s grace late), with the exact
        # distributions of answers (Poisson-binomial) and of agents freed (Poisson-binomial).
        checks = []
        # What each ringing call's chance needs that does not depend on the checkpoint.
        calls = [(elapsed, *s.unanswered(p, elapsed)) for elapsed in ringing]
        running = self.running(agents)
        freed = self.free_chances_many(agents, [t + GRACE for t in CHECKPOINTS], running)
        for t, (sure, chances) in zip(CHECKPOINTS, freed, strict=True):
            free = [0.0] * sure + [1.0]
            for q in chances:
                free = _add_bernoulli(free, q)
            answers = [0.0] * waiting + [1.0]
            mean = float(waiting)
            for elapsed, f0, unresolved in calls:
                if unresolved <= 1e-9:
                    continue
                gain = s.delay_cdf(elapsed + t) - f0
                if gain > 0.0:
                    chance = min(1.0, p * gain / unresolved)
                    answers = _add_bernoulli(answers, chance)
                    mean += chance
            checks.append((answers, _tail_sums(free), p * s.delay_cdf(t), mean))
        burst = self.burst_budget(now, agents) + 1  # abandons too many at once; 0: no limit
        n = 0
        while n < 200:
            k = n + 1
            total = checks[-1][3] + k * p
            worst = 0.0
            tail = 0.0
            for i, (answers, free_tail, c, _) in enumerate(checks):
                answers = _add_bernoulli(answers, c)
                checks[i] = (answers, free_tail, c, checks[i][3])
                worst = max(worst, _excess(answers, free_tail))
                if burst:
                    tail = max(tail, _at_least(answers, free_tail, burst))
            if worst > limit * total or tail > BURST_RISK:
                break
            n = k
        return n

    def burst_budget(self, now: float, agents: AgentView) -> int:
        """The abandons the last SHORT_WINDOW s can still take and stay at SHORT_MAX of its
        answers (one at least); -1: no burst limit (a team under SHORT_AGENTS)."""
        if team_size(agents) < SHORT_AGENTS:
            return -1
        self._trim_short(now)
        allowed = max(1, math.floor(SHORT_MAX * len(self._recent_answers)))
        return max(0, allowed - len(self._recent_abandons))


GRACE = 2.0  # seconds an answered call may wait for an agent (the 2 s rule)


def team_size(agents: AgentView) -> int:
    """Agents on: idle, talking or in wrap-up."""
    return (
        agents.idle
        + len(agents.talk_elapsed)
        + max(len(agents.wrap_remaining), len(agents.wrap_elapsed))
    )


def _add_bernoulli(dist: list[float], chance: float) -> list[float]:
    """The distribution of X + B(chance), given X's; the upper tail under TAIL_EPS is dropped
    (with 100 calls ringing the exact distribution has 100 terms, of which 30 carry the mass)."""
    keep = 1.0 - chance
    out = [w * keep for w in dist]
    out.append(0.0)
    for i, w in enumerate(dist):
        out[i + 1] += w * chance
    while len(out) > 1 and out[-1] < TAIL_EPS:
        out.pop()
    return out


TAIL_EPS = 1e-12


def _tail_sums(free: list[float]) -> list[float]:
    """cdf[s] = P(S <= s) for the agents-free distribution, as a prefix sum."""
    cdf, acc = [], 0.0
    for w in free:
        acc += w
        cdf.append(acc)
    return cdf


def _at_least(answers: list[float], free_cdf: list[float], k: int) -> float:
    """P(X - S >= k) for independent X ~ answers and S with cdf free_cdf."""
    last = len(free_cdf) - 1
    return sum(w * free_cdf[min(x - k, last)] for x, w in enumerate(answers) if x >= k)


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
