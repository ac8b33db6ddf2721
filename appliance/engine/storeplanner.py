"""The planner: the scheduler's pure rules over the store's queries — the engine's next dials, and
`plan`; `why` answers from `why.py`.

`StorePlanner` implements the engine's `Planner` seam (appliance/engine/planner.py). Every call
reads the campaign, its settings and its strategy from the store afresh, so an edit takes effect
at the next dial (SPEC C9); only derived, time-keyed values are cached (the zone sets allowed in
the current minute, parsed strategies by their change time).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from appliance.campaigns import CampaignSettings
from appliance.clock import Clock
from appliance.config.models import DialboxConfig
from appliance.domain import CampaignStatus, CampaignType, Channel
from appliance.engine import why
from appliance.engine.planner import Assignment, AttemptReport, Pick, RoundState
from appliance.engine.rules import CampaignRules, box_hours, custom_profile
from appliance.errors import DialboxError
from appliance.scheduler.compliance import DAY, HOUR, Profile, profile
from appliance.scheduler.hours import allowed_zone_sets, allowed_zones
from appliance.scheduler.limits import limits_for
from appliance.scheduler.lines import Share, share_lines
from appliance.scheduler.plan import PlannedDial, make_plan
from appliance.scheduler.select import Reason, Rules, classify
from appliance.scheduler.strategy import (
    DEFAULT_STRATEGY,
    AttemptContext,
    Strategy,
    StrategyError,
    next_action,
    parse_strategy,
)
from appliance.scheduler.why import CONTACT_WORDS, Explanation, Gates
from appliance.scheduler.windows import (
    CampaignSchedule,
    day_start,
    parse_weekly,
)
from appliance.store import dialect
from appliance.store.attempts import Completion, Lease
from appliance.store.campaigns import CampaignRow, get_campaign_by_id, list_campaigns
from appliance.store.db import Database
from appliance.store.external import HELD_SQL
from appliance.store.figures import Snapshot
from appliance.store.filters import CompiledFilter, compile_filter
from appliance.store.selection import (
    CandidateRow,
    SelectionQuery,
    abandon_counts,
    contact_attempts,
    due_redials,
    new_contacts,
    one_contact,
    override_zones,
    zone_sets,
    zone_sets_version,
)
from appliance.store.strategies import get_strategy, strategy_stamp

log = logging.getLogger(__name__)

_EXTRA = 2  # rows fetched beyond the count asked, for numbers shared by two contacts


@dataclass(frozen=True)
class _Round:
    """One campaign's plan and the candidate rows it was made from."""

    rules_of: CampaignRules
    rules: Rules
    planned: list[PlannedDial]
    rows: dict[int, CandidateRow]


@functools.lru_cache(maxsize=1024)
def _day_start(timezone: str, minute: int) -> float:
    return day_start(minute * 60.0, timezone)


@functools.lru_cache(maxsize=256)
def _compiled(text: str, d: dialect.Dialect) -> CompiledFilter:
    return compile_filter(text, d)


# Abandon-ratio windows the metrics always show (docs/metrics.md), beside the profile's own.
METRIC_WINDOWS = (DAY, 30 * DAY)


def window_label(seconds: float) -> str:
    """A rolling window as the metrics label it: `24h`, `30d` (whole days from two days up)."""
    if seconds >= 2 * DAY and seconds % DAY == 0:
        return f"{int(seconds // DAY)}d"
    if seconds % HOUR == 0:
        return f"{int(seconds // HOUR)}h"
    return f"{seconds:g}s"


def _email_steps(cr: CampaignRules) -> str | None:
    """SQL over `contacts`: the contact's next planned attempt is an e-mail (the strategy's
    channel for its step, the last attempt's beyond the plan); None: the plan has none."""
    if cr.campaign.type is CampaignType.SMS:
        return None  # an SMS campaign's steps are all SMS (SPEC C1)
    attempts = cr.strategy.attempts
    inner = [str(i) for i, spec in enumerate(attempts[:-1]) if spec.channel is Channel.EMAIL]
    terms = [f"contacts.step IN ({', '.join(inner)})"] if inner else []
    if attempts[-1].channel is Channel.EMAIL:
        terms.append(f"contacts.step >= {len(attempts) - 1}")
    return f"({' OR '.join(terms)})" if terms else None


class StorePlanner:
    """The engine's Planner over the store; also what `dialbox plan` and `dialbox why` use."""

    def __init__(self, config: DialboxConfig, db: Database, clock: Clock | None = None) -> None:
        self.config = config
        self.db = db
        self.clock = clock  # only `share` reads it: the engine passes its time to `assign`
        self._strategies: dict[str, tuple[float, Strategy]] = {}
        self._zone_sets: tuple[tuple[int, int], dict[int, tuple[str, ...]]] | None = None
        self._allowed: dict[tuple[object, ...], frozenset[int]] = {}
        self._rules: dict[int, tuple[tuple[object, ...], CampaignRules]] = {}
        self._box_hours = box_hours(config)
        self._custom = custom_profile(config)
        self._profiles: dict[str, Profile] = {}

    # -- the campaign's rules ------------------------------------------------------------
    def rules_for(self, campaign: CampaignRow) -> CampaignRules:
        """The campaign's rules as the row says now; rebuilt whenever its settings or its
        stored strategy changed (SPEC C9), reused otherwise."""
        # the stored text when the row was read from the store (a JSON dump per campaign per
        # request was most of /status's cost at 100 campaigns, #28)
        settings_key = campaign.settings_json or json.dumps(campaign.settings, sort_keys=True)
        name = campaign.settings.get("strategy")
        stamp = strategy_stamp(self.db, name) if isinstance(name, str) else None
        key = (settings_key, campaign.type, stamp)
        cached = self._rules.get(campaign.id)
        if cached is not None and cached[0] == key:
            return dataclasses.replace(cached[1], campaign=campaign)
        rules = self._build_rules(campaign)
        self._rules[campaign.id] = (key, rules)
        return rules

    def box_profile(self, name: str | None = None) -> Profile:
        """The compliance profile `name` (default: the box's) as this config narrows it."""
        name = name or self.config.compliance_profile
        prof = self._profiles.get(name)
        if prof is None:  # one object per profile, so the per-minute memo keys compare by identity
            prof = profile(name, box_hours=self._box_hours, custom=self._custom)
            self._profiles[name] = prof
        return prof

    def _build_rules(self, campaign: CampaignRow) -> CampaignRules:
        settings = CampaignSettings.model_validate(campaign.settings)
        timezone = settings.timezone or self.config.timezone
        prof = self.box_profile(settings.profile)
        schedule = CampaignSchedule(
            timezone=timezone,
            hours=parse_weekly(settings.windows)
            if settings.windows
            else CampaignSchedule(timezone).hours,
            start_date=settings.start_date,
            end_date=settings.end_date,
            holidays_country=self.config.holidays_country if settings.skip_holidays else None,
        )
        return CampaignRules(
            campaign,
            settings,
            timezone,
            prof,
            schedule,
            self._strategy(campaign, settings.strategy),
            limits_for(settings, prof),
        )

    def _strategy(self, campaign: CampaignRow, name: str | None) -> Strategy:
        if name is None:
            return DEFAULT_STRATEGY
        stored = get_strategy(self.db, name)
        if stored is None:
            raise DialboxError(
                f"campaign {campaign.name!r} uses strategy {name!r}, which is not stored;"
                " store it or set strategy=none for the default"
            )
        cached = self._strategies.get(name)
        if cached is not None and cached[0] == stored.updated_at:
            return cached[1]
        try:
            strategy = parse_strategy(stored.definition, f"strategy {name!r}")
        except StrategyError as exc:
            raise DialboxError(str(exc)) from None
        self._strategies[name] = (stored.updated_at, strategy)
        return strategy

    def _zone_map(self) -> dict[int, tuple[str, ...]]:
        version = zone_sets_version(self.db)
        if self._zone_sets is None or self._zone_sets[0] != version:
            self._zone_sets = (version, zone_sets(self.db))
            self._allowed.clear()
        return self._zone_sets[1]

    def selection(self, cr: CampaignRules, now: float) -> tuple[SelectionQuery, Rules]:
        """The SQL form of the campaign's rules at `now`, and the same rules for `classify`."""
        hours, limits = cr.profile.calling_hours, cr.limits
        sets = self._zone_map()
        key = (hours, cr.timezone, int(now // 60))
        allowed = self._allowed.get(key)
        if allowed is None:
            if len(self._allowed) > 256:
                self._allowed.clear()
            allowed = allowed_zone_sets(sets, hours, now, cr.timezone)
            self._allowed[key] = allowed
        overrides = allowed_zones(override_zones(self.db, cr.campaign.id), hours, now)
        filt = _compiled(cr.campaign.filter, dialect.of(self.db)) if cr.campaign.filter else None
        filter_sql = filt.sql if filt else None
        if cr.settings.external_list is not None:  # SPEC D9: only the rows the box holds
            filter_sql = f"({filter_sql}) AND {HELD_SQL}" if filter_sql else HELD_SQL
        query = SelectionQuery(
            campaign_id=cr.campaign.id,
            now=now,
            first_phone=cr.strategy.first_phone(),
            allowed_zone_sets=allowed,
            allow_unknown_zone=allowed_zone_sets({0: ()}, hours, now, cr.timezone) == {0},
            allowed_overrides=overrides,
            max_attempts=limits.max_attempts,
            max_attempts_per_number=limits.max_attempts_per_number,
            max_attempts_per_day=limits.max_attempts_per_day,
            day_start=_day_start(cr.timezone, int(now // 60)),
            max_calls_per_number=limits.max_calls_per_number,
            calls_window=limits.calls_window,
            abandon_lockout=limits.abandon_lockout,
            machine_lockout=limits.machine_lockout,
            filter_sql=filter_sql,
            filter_params=filt.params if filt else (),
            order=cr.settings.order,
        )
        return query, Rules(hours, limits, sets, cr.timezone)

    # -- plan and why ---------------------------------------------------------------------
    def plan(
        self, campaign: CampaignRow, now: float, count: int, exclude: Sequence[int] = ()
    ) -> list[PlannedDial]:
        """The next `count` dials by the contact rules (the campaign's status and window are
        gates the caller checks: `gates()`)."""
        return self._plan(self.rules_for(campaign), now, count, exclude).planned

    def plan_email(
        self, campaign: CampaignRow, now: float, count: int, exclude: Sequence[int] = ()
    ) -> list[PlannedDial]:
        """The next `count` contacts whose next planned attempt is an e-mail (the mailer's,
        engine/mailer.py), by the same contact rules as the dials."""
        return self._plan(self.rules_for(campaign), now, count, exclude, email=True).planned

    def _plan(
        self,
        cr: CampaignRules,
        now: float,
        count: int,
        exclude: Sequence[int] = (),
        *,
        email: bool | None = None,
    ) -> _Round:
        """`email`: True, only contacts whose next attempt is an e-mail; False, none of them
        (the line dials: e-mails go out on no line, #26); None, all (`plan`, `why`)."""
        query, rules = self.selection(cr, now)
        if email is not None:
            steps = _email_steps(cr)
            if steps is None and email:
                return _Round(cr, rules, [], {})
            if steps is not None:
                term = steps if email else f"NOT {steps}"
                combined = f"({query.filter_sql}) AND {term}" if query.filter_sql else term
                query = dataclasses.replace(query, filter_sql=combined)
        fetch = count + _EXTRA
        while True:
            redials = due_redials(self.db, query, fetch, exclude)
            news = new_contacts(self.db, query, fetch, exclude) if len(redials) < fetch else []
            planned = make_plan(
                redials,
                news,
                rules,
                now,
                count,
                order=cr.settings.order,
                channel_for=cr.channel_for,
                timezone=cr.timezone,
            )
            # Short only because contacts shared numbers, with more rows left: fetch further.
            if len(planned) >= count or fetch not in (len(redials), len(news)):
                break
            fetch *= 4
        rows = {row.contact_id: row for row in [*redials, *news]}
        return _Round(cr, rules, planned, rows)

    def gates(self, campaign: CampaignRow, now: float, lines_up: int | None = None) -> Gates:
        """The campaign's gates for `why` and `plan` (`why.gates`)."""
        return why.gates(self, campaign, now, lines_up)

    def reasons(self, campaign: CampaignRow, now: float) -> dict[Reason, int]:
        """How many of the campaign's contacts each reason keeps from being dialed now."""
        return why.reasons(self, campaign, now)

    def explain(
        self,
        campaign: CampaignRow,
        now: float,
        lines_up: int | None = None,
        agents: str | None = None,
        up: Mapping[str, bool] | None = None,
        counted: dict[Reason, int] | None = None,
    ) -> Explanation:
        """SPEC C12: why the campaign dials nothing or fewer than it could (`why.explain`);
        an inbound campaign, why it answers no call (`up`: which lines are up); `counted`:
        the contacts' reasons counted a moment ago (`reasons`)."""
        return why.explain(self, campaign, now, lines_up, agents, up, counted)

    # -- the engine's Planner seam ---------------------------------------------------------
    def running(self) -> Sequence[CampaignRow]:
        """Running campaigns that dial: inbound ones (SPEC C14) answer calls, never dial."""
        return [
            c
            for c in list_campaigns(self.db)
            if c.status is CampaignStatus.RUNNING and c.type is not CampaignType.INBOUND
        ]

    def assign(self, campaigns: Sequence[CampaignRow], state: RoundState) -> list[Assignment]:
        """This round's dials: free lines shared by weight, pins and caps (SPEC C7) to the
        campaigns that have dials ready, then each campaign's picks on its lines."""
        shares, plans = self._share(
            state.free_lines, state.pins, state.busy, campaigns, state.wanted, state.now
        )
        by_name = {c.name: c for c in campaigns}
        out: list[Assignment] = []
        for name, lines in shares.items():
            campaign = by_name[name]
            if name in state.reachable:
                lines = [n for n in lines if n in state.reachable[name]]
            count = min(len(lines), state.wanted.get(name, len(lines)))
            exclude = set(state.in_flight) | set(state.held.get(name, ()))
            picks = self._pick(campaign, state.now, count, exclude, plans.get(campaign.id))
            out.append(Assignment(campaign, tuple(zip(picks, lines, strict=False))))
        return out

    def share(
        self,
        free_lines: Sequence[str],
        pins: Mapping[str, tuple[str, ...]],
        busy: Mapping[str, int],
        campaigns: Sequence[CampaignRow],
        wanted: Mapping[str, int] | None = None,
    ) -> dict[str, list[str]]:
        """Free lines by weight, pins and caps (SPEC C7), to campaigns that have dials ready
        at the planner's clock (any campaign, without one). `wanted` caps a campaign's demand
        (agent campaigns: what their pacing allows now)."""
        now = self.clock.now() if self.clock is not None else None
        return self._share(free_lines, pins, busy, campaigns, wanted, now)[0]

    def _share(
        self,
        free_lines: Sequence[str],
        pins: Mapping[str, tuple[str, ...]],
        busy: Mapping[str, int],
        campaigns: Sequence[CampaignRow],
        wanted: Mapping[str, int] | None,
        now: float | None,
    ) -> tuple[dict[str, list[str]], dict[int, _Round]]:
        """The shares, and the plans made to learn each campaign's demand (by campaign id)."""
        plans: dict[int, _Round] = {}
        shares: list[Share] = []
        for campaign in campaigns:
            try:
                cr = self.rules_for(campaign)
                demand: int | None = None
                if now is not None:
                    if cr.schedule.closed_reason(now) is not None:
                        continue
                    limit = len(free_lines)
                    if wanted is not None and campaign.name in wanted:
                        limit = min(limit, wanted[campaign.name])
                        if limit <= 0:
                            continue
                    made = self._plan(cr, now, limit, email=False)
                    plans[campaign.id] = made
                    demand = len(made.planned)
            except DialboxError as exc:
                log.error("campaign %s not dialed: %s", campaign.name, exc)
                continue
            shares.append(
                Share(
                    campaign.name,
                    cr.settings.weight,
                    cr.settings.max_lines,
                    busy.get(campaign.name, 0),
                    demand,
                )
            )
        return share_lines(free_lines, pins, shares), plans

    def pick(self, campaign: CampaignRow, now: float, count: int, exclude: set[int]) -> list[Pick]:
        """Up to `count` dials now; nothing outside the campaign's window or status (SPEC C2)."""
        return self._pick(campaign, now, count, exclude, None)

    def _pick(
        self,
        campaign: CampaignRow,
        now: float,
        count: int,
        exclude: set[int],
        made: _Round | None,
    ) -> list[Pick]:
        """Up to `count` dials from the plan `made` for sharing (or one made now)."""
        if campaign.status is not CampaignStatus.RUNNING:
            return []
        if made is None:
            made = self._plan(self.rules_for(campaign), now, count, sorted(exclude), email=False)
        if made.rules_of.schedule.closed_reason(now) is not None:
            return []
        picks: list[Pick] = []
        for dial in made.planned:
            if len(picks) >= count:
                break
            if dial.contact_id in exclude or dial.channel is Channel.EMAIL:
                continue  # (e-mail steps go out through the mailer, engine/mailer.py, on no line)
            # A plan made for sharing is judged again at this instant (hours, lockouts).
            if classify(made.rows[dial.contact_id], made.rules, now) is not Reason.READY:
                continue
            picks.append(
                Pick(dial.contact_id, dial.phone_index, dial.number, dial.channel, dial.why)
            )
        return picks

    def abandon_ratios(
        self, now: float, figures: Snapshot | None = None
    ) -> list[tuple[str, str, float]]:
        """(campaign, window, abandoned ÷ answered) for every campaign over the rolling 24 h and
        30 d windows and its profile's own: what `dialbox_abandon_ratio` shows (SPEC C13, O2).
        With `figures` (store/figures.py) the windows it counted are read from it, as old as
        it is; a window it did not count is counted here."""
        out: list[tuple[str, str, float]] = []
        for campaign in list_campaigns(self.db):
            try:
                windows = set(self.rules_for(campaign).profile.abandon_windows)
            except DialboxError:
                windows = set()
            for window in sorted(windows | set(METRIC_WINDOWS)):
                found = figures.abandon(campaign.id, window) if figures is not None else None
                if found is None:
                    found = abandon_counts(self.db, campaign.id, now, window)
                answered, abandoned = found
                ratio = abandoned / answered if answered else 0.0
                out.append((campaign.name, window_label(window), ratio))
        return out

    def abandon_windows(self) -> set[float]:
        """Every campaign's profile's abandon windows (for the scanned figures to count)."""
        found: set[float] = set(METRIC_WINDOWS)
        for campaign in list_campaigns(self.db):
            try:
                found |= set(self.rules_for(campaign).profile.abandon_windows)
            except DialboxError:
                continue
        return found

    def false_positive_share(self, campaign: CampaignRow) -> float:
        """The share of live answers the campaign's AMD takes for machines, when its profile
        counts them as abandoned (uk); else 0 (SPEC C13, #19)."""
        rules = self.rules_for(campaign)
        return rules.settings.amd_false_positive if rules.profile.counts_false_positives else 0.0

    def abandon_cap(self, campaign: CampaignRow) -> float | None:
        """The campaign's abandon cap as a fraction of answered calls (None: no cap)."""
        cap = self.rules_for(campaign).profile.abandon_cap
        return None if cap is None else cap / 100.0

    def check(self, campaign: CampaignRow, contact_id: int, now: float) -> Pick | str:
        """A dial of this one contact now (an agent's manual dial, A5), or why not in plain words.
        The law is the same as for the dial loop: DNC, calling hours, caps and lockouts hold; only
        a redial time not yet come gives way, as the agent chose to call now."""
        return self._judge(campaign, contact_id, now, manual=True)

    def recheck(self, campaign: CampaignRow, contact_id: int, now: float) -> str | None:
        """The dial loop's pick judged again from the store, inside the lease's transaction,
        when other boxes dial the same campaigns (#27): what another box dialed since the plan
        (the contact itself, its number's calls and lockouts, the day's caps) counts. None: it
        may be dialed; else why not in plain words."""
        judged = self._judge(campaign, contact_id, now, manual=False)
        if isinstance(judged, str):
            return judged
        # one call at a time to a number across the boxes (two contacts may share it)
        busy = self.db.scalar(
            "SELECT contact_id FROM attempts WHERE number = ? AND status = 'in_flight' LIMIT 1",
            (judged.number,),
        )
        if busy is not None:
            return f"contact {contact_id}: its number {judged.number} is being called now"
        return None

    def _judge(
        self, campaign: CampaignRow, contact_id: int, now: float, *, manual: bool
    ) -> Pick | str:
        if campaign.status is not CampaignStatus.RUNNING:
            return f"campaign {campaign.name} is {campaign.status}"
        cr = self.rules_for(campaign)
        closed = cr.schedule.closed_reason(now)
        if closed is not None:
            return f"campaign {campaign.name} is outside its schedule: {closed}"
        query, rules = self.selection(cr, now)
        row = one_contact(self.db, query, contact_id)
        if row is None:
            return f"contact {contact_id} is not in campaign {campaign.name}"
        reason = classify(row, rules, now)
        if manual and reason is Reason.WAITING and row.due_at is not None:
            reason = classify(dataclasses.replace(row, due_at=now), rules, now)
        if reason is not Reason.READY or row.number is None:
            words = CONTACT_WORDS.get(reason, str(reason)).format(
                hours=rules.hours.describe(), cap=cr.limits.max_calls_per_number
            )
            return f"contact {contact_id} cannot be dialed now: {words}"
        channel = cr.channel_for(row.step)
        if channel is Channel.EMAIL:
            return f"contact {contact_id}'s next attempt is an e-mail, which the box sends itself"
        return Pick(row.contact_id, row.phone_index, row.number, channel, "manual")

    def decide(
        self, campaign: CampaignRow, lease: Lease, report: AttemptReport, now: float
    ) -> Completion:
        """The strategy's answer to the attempt's outcome (SPEC C4), read at this moment (C9)."""
        campaign = get_campaign_by_id(self.db, campaign.id)
        cr = self.rules_for(campaign)
        seen = contact_attempts(self.db, lease.contact_id)
        decision = next_action(
            cr.strategy,
            AttemptContext(
                step=seen.step,
                phone_index=lease.phone_index,
                channel=lease.channel,
                phones=seen.phones,
                attempts=lease.attempt_no,
                phone_attempts=seen.phone_attempts,
            ),
            report.outcome,
            now,
            max_attempts=cr.limits.max_attempts,
            max_attempts_per_number=cr.limits.max_attempts_per_number,
            sms_only=campaign.type is CampaignType.SMS,
        )
        return Completion(
            outcome=report.outcome,
            new_state=decision.state,
            summary=decision.summary,
            next_at=decision.next_at,
            next_phone=decision.next_phone,
            step=decision.step,
            block_number=decision.block_number,
            disposition=report.disposition,
            evidence=report.evidence,
            dialed_at=report.dialed_at,
            answered_at=report.answered_at,
            line=report.line,
            agent=report.agent,
        )
