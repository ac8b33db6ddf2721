"""The record invariants (`dialbox doctor`): every contact has a future dial or a final state, leases and attempts agree, limits held, the file is sound.

An inbound campaign (SPEC C14) never dials: its contacts are its callers, closed from their
first call (store/inbound.py), so it has no stranded contacts and no dialing limits to keep; its
rule is that none of them waits for a dial or holds a lease (`inbound_open`).

It sits in the engine beside the planner (`storeplanner.py`) because it needs both the
scheduler's rules (through `StorePlanner`: a contact is stranded by its own campaign's limits
and strategy, judged as the dial loop judges it) and the store's queries
(appliance/store/doctor.py). `repair` mends only what is safe to mend: stranded contacts are
settled through their strategy and limits (closed as *Retries Completed* when nothing can
follow), orphaned in-flight attempts are swept as dangling, stale leases released. The daemon
runs the cheap part at start, after its dangling sweep.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from appliance.clock import Clock
from appliance.config.models import DialboxConfig
from appliance.domain import CampaignType, Channel, ContactState, Outcome, Summary
from appliance.engine.planner import AttemptReport, dangling_decider
from appliance.engine.rules import CampaignRules
from appliance.engine.storeplanner import StorePlanner
from appliance.errors import DialboxError
from appliance.names import is_safe
from appliance.store import counts as kept_counts
from appliance.store import doctor as q
from appliance.store.attempts import Lease, sweep_dangling
from appliance.store.campaigns import CampaignRow, get_campaign_by_id, list_campaigns
from appliance.store.db import Database

log = logging.getLogger(__name__)

EXAMPLES = 5

# kind -> (what it is, in words; what to do)
KINDS: dict[str, tuple[str, str]] = {
    "stranded": (
        "contacts with no future dial and no final state",
        "`dialbox doctor --repair` settles them through their strategy and limits"
        " (closed as Retries Completed when nothing can follow)",
    ),
    "in_flight_unheld": (
        "attempts in flight that no contact holds as its lease",
        "`dialbox doctor --repair` marks them dangling (no contact changes)",
    ),
    "in_flight_while_stopped": (
        "attempts in flight while the daemon is stopped (left by a crash)",
        "start the daemon (its start-up sweep settles them) or run `dialbox doctor --repair`",
    ),
    "stale_lease": (
        "contacts leased to an attempt that is not in flight, or Sent to Dialer with no lease",
        "`dialbox doctor --repair` releases them and settles them from their last attempt",
    ),
    "outcome_mismatch": (
        "attempts whose outcome disagrees with their status or evidence",
        "not repaired (the record is what the line said): read the attempts' evidence"
        " (GET /contacts/{id}) and report the driver or engine bug with it",
    ),
    "over_max_attempts": (
        "contacts dialed more often than their campaign's max_attempts",
        "not repaired: check the campaign's max_attempts (lowered since?) and the daemon log",
    ),
    "over_number_attempts": (
        "contacts dialed on one phone more often than max_attempts_per_number",
        "not repaired: check the campaign's max_attempts_per_number and the daemon log",
    ),
    "over_number_cap": (
        "attempts made when their number had already reached its calls cap in the window",
        "not repaired: check the compliance profile's cap (max_calls_per_number) and the log",
    ),
    "attempt_count_mismatch": (
        "contacts whose attempt counter is not their number of attempt records",
        "not repaired: the counter is what the limits read; restore from backup if it matters",
    ),
    "unsafe_name": (
        "names from before the name rule (#18) that break it: they still work, but they are not"
        " safe in paths, URLs and logs",
        "rename a campaign with `dialbox campaign rename OLD NEW` (stopped; then update lines'"
        " `campaigns:` pins and its hot folder folder); an agent or a strategy: make it again"
        " under a safe name and delete the old one; a token: create a new one and revoke the old",
    ),
    "inbound_open": (
        "contacts of inbound campaigns that wait for a dial or hold a lease (an inbound"
        " campaign never dials: its contacts are its callers, closed from their first call)",
        "not repaired: a list imported into an inbound campaign by mistake belongs in an"
        " outbound one (export it, import it there, delete these); a callback for a caller"
        " is a contact in an outbound campaign (POST /missed-calls/{id}/callback)",
    ),
    "count_drift": (
        "figures kept in the transactions that change them (contacts by campaign and state,"
        " the abandon ledger by campaign and hour; migration 0014) that differ from a full"
        " recount — what /status, /campaigns and /metrics show would be wrong",
        "`dialbox doctor --repair` sets them to the recount; report it (a writer that"
        " bypassed the triggers, or a database edited by hand)",
    ),
    "integrity": (
        "problems PRAGMA integrity_check or foreign_key_check reports",
        "stop the daemon and restore the last backup (docs/operations.md)",
    ),
}

# What `repair` may mend, in the order it mends them (in-flight attempts first: settling them
# may release contacts).
REPAIRABLE = (
    "in_flight_unheld", "in_flight_while_stopped", "stale_lease", "stranded", "count_drift",
)  # fmt: skip
# What the daemon checks and mends at start: cheap, and what a crash can leave behind.
AT_START = ("stale_lease", "stranded")


@dataclass
class Violation:
    kind: str
    ids: list[int | str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "count": len(self.ids),
            "examples": self.ids[:EXAMPLES],
            "what": KINDS[self.kind][0],
            "what_to_do": KINDS[self.kind][1],
        }


@dataclass
class Report:
    violations: list[Violation]
    checked: dict[str, Any]
    repaired: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.violations

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "violations": [v.as_dict() for v in self.violations],
            "checked": self.checked,
            "repaired": self.repaired,
        }

    def text(self) -> str:
        lines = [
            f"{v.kind}: {len(v.ids)} {KINDS[v.kind][0]}"
            f" (e.g. {', '.join(map(str, v.ids[:EXAMPLES]))}) — {KINDS[v.kind][1]}"
            for v in self.violations
        ]
        lines += [f"repaired {kind}: {n}" for kind, n in self.repaired.items() if n]
        c = self.checked
        scope = f"{c['contacts']} contacts, {c['attempts']} attempts, daemon {c['daemon']}"
        if self.ok:
            lines.append(f"ok: no violation in {scope}")
        else:
            total = sum(len(v.ids) for v in self.violations)
            lines.append(f"{total} violations of {len(self.violations)} kinds in {scope}")
        return "\n".join(lines)


@dataclass(frozen=True)
class _Stranded:
    contact_id: int
    state: str
    why: str  # exhausted, no_number, number_exhausted, blocked, no_redial


class Doctor:
    def __init__(
        self, config: DialboxConfig, db: Database, clock: Clock, planner: StorePlanner | None = None
    ) -> None:
        self.config = config
        self.db = db
        self.clock = clock
        self.planner = planner or StorePlanner(config, db, clock)

    # -- checking -----------------------------------------------------------------------
    def check(
        self,
        *,
        daemon_stopped: bool,
        dialed_only: bool = False,
        kinds: Collection[str] = tuple(KINDS),
    ) -> Report:
        """Every violation of the kinds asked for. `daemon_stopped`: no call can be in flight,
        so every in-flight attempt is a crash's leftover. `dialed_only`: stranded contacts are
        looked for among contacts dialed at least once (the daemon's cheap pass)."""
        now = self.clock.now()
        found: dict[str, list[int | str]] = {k: [] for k in KINDS if k in kinds}
        if "integrity" in found:
            found["integrity"] += q.integrity_problems(self.db)
        if "in_flight_unheld" in found:
            found["in_flight_unheld"] += q.unheld_in_flight(self.db)
        if "in_flight_while_stopped" in found and daemon_stopped:
            unheld = set(found.get("in_flight_unheld", []))
            found["in_flight_while_stopped"] += [i for i in q.in_flight(self.db) if i not in unheld]
        if "stale_lease" in found:
            found["stale_lease"] += q.stale_leases(self.db)
        if "outcome_mismatch" in found:
            found["outcome_mismatch"] += q.outcome_mismatches(self.db)
        if "attempt_count_mismatch" in found:
            found["attempt_count_mismatch"] += q.attempt_count_mismatches(self.db)
        if "count_drift" in found:
            found["count_drift"] += [d.text() for d in kept_counts.drift(self.db)]
        if "unsafe_name" in found:
            found["unsafe_name"] += [
                f"{kind} {name!r}" for kind, name in q.named_rows(self.db) if not is_safe(name)
            ]
        for campaign in list_campaigns(self.db):
            if campaign.type is CampaignType.INBOUND:
                if "inbound_open" in found:
                    found["inbound_open"] += q.inbound_open(self.db, campaign.id)
                continue  # never dials: no stranded contacts, no dialing limits
            cr = self._rules(campaign)
            if cr is None:
                continue
            limits = cr.limits
            if "stranded" in found:
                found["stranded"] += [
                    s.contact_id for s in self._stranded(cr, now, dialed_only=dialed_only)
                ]
            if "over_max_attempts" in found:
                found["over_max_attempts"] += q.contacts_over_attempts(
                    self.db, campaign.id, limits.max_attempts
                )
            if "over_number_attempts" in found:
                found["over_number_attempts"] += q.contacts_over_number_attempts(
                    self.db, campaign.id, limits.max_attempts_per_number
                )
            if "over_number_cap" in found and limits.max_calls_per_number is not None:
                found["over_number_cap"] += q.over_number_cap(
                    self.db, campaign.id, limits.max_calls_per_number, limits.calls_window
                )
        checked: dict[str, Any] = {
            **q.counts(self.db),
            "daemon": "stopped" if daemon_stopped else "running",
            "kinds": [k for k in KINDS if k in kinds],
        }
        return Report([Violation(k, ids) for k, ids in found.items() if ids], checked)

    def _rules(self, campaign: CampaignRow) -> CampaignRules | None:
        try:
            return self.planner.rules_for(campaign)
        except DialboxError as exc:
            log.error("campaign %s not checked: %s", campaign.name, exc)
            return None

    def _stranded(self, cr: CampaignRules, now: float, *, dialed_only: bool) -> list[_Stranded]:
        """Contacts in a leasable state that the dial loop will never dial again, by the same
        limits `select.classify` applies (attempts per contact and per number, the number the
        next attempt uses, the permanent block list) — whatever the time."""
        out: list[_Stranded] = []
        first = cr.strategy.first_phone()
        for c in q.open_contacts(self.db, cr.campaign.id, first, now, dialed_only=dialed_only):
            why = self._why_stranded(c, cr)
            if why is not None:
                out.append(_Stranded(c.contact_id, c.state, why))
        return out

    @staticmethod
    def _why_stranded(c: q.OpenContact, cr: CampaignRules) -> str | None:
        if c.next_at is None and c.state == ContactState.SMS_SENT:
            return None  # waiting for a reply with no attempt after it: the strategy's choice
        if c.next_at is None and c.state == ContactState.NOT_CONNECTED:
            # Not Connected promises a redial; one closed without (a strategy's close or block
            # before every close was final) is settled again through its strategy on repair
            return "no_redial"
        limits = cr.limits
        if c.attempts >= limits.max_attempts:
            return "exhausted"
        if not c.number:
            return "no_number"
        if c.phone_attempts >= limits.max_attempts_per_number:
            return "number_exhausted"
        if c.blocked:
            return "blocked"
        return None

    # -- repairing ----------------------------------------------------------------------
    def repair(
        self,
        *,
        daemon_stopped: bool,
        dialed_only: bool = False,
        kinds: Sequence[str] = REPAIRABLE,
    ) -> dict[str, int]:
        """Mend what is safe to mend; how many of each kind were mended."""
        now = self.clock.now()
        done: dict[str, int] = {}
        settings = self.config.engine
        decide = (
            dangling_decider(self.planner, self.db, settings.requeue_delay)
            if settings.dangling_action == "requeue"
            else None
        )
        if "in_flight_unheld" in kinds:
            ids = q.unheld_in_flight(self.db)
            done["in_flight_unheld"] = len(sweep_dangling(self.db, now, decide=decide, only=ids))
        if "in_flight_while_stopped" in kinds and daemon_stopped:
            swept = sweep_dangling(self.db, now, decide=decide, only=q.in_flight(self.db))
            done["in_flight_while_stopped"] = len(swept)
        if "stale_lease" in kinds:
            done["stale_lease"] = sum(
                self._resettle(cid, "no_redial", now) for cid in q.stale_leases(self.db)
            )
        if "stranded" in kinds:
            n = 0
            for campaign in list_campaigns(self.db):
                cr = None if campaign.type is CampaignType.INBOUND else self._rules(campaign)
                if cr is None:
                    continue
                for s in self._stranded(cr, now, dialed_only=dialed_only):
                    n += self._resettle(s.contact_id, s.why, now)
            done["stranded"] = n
        if "count_drift" in kinds:  # last: the repairs above change contacts (and counts)
            done["count_drift"] = kept_counts.rebuild(self.db)
        return {k: n for k, n in done.items() if n}

    def _resettle(self, contact_id: int, why: str, now: float) -> bool:
        """Ask the strategy and the limits again what follows the contact's last attempt (no
        outcome: ErrorOccurred) and write it; a redial only where the contact merely lacked a
        redial time (else the number it would use is spent or blocked: closed)."""
        seen = q.contact_state(self.db, contact_id)
        if seen is None:
            return False
        campaign_id, state = seen
        last = q.last_attempt(self.db, contact_id)
        if last is None:  # leased or stranded before any attempt: back to new, or closed
            if why == "no_redial":
                return q.settle_contact(
                    self.db, contact_id, state, ContactState.PENDING, Summary.NOT_USED, now
                )
            summary = Summary.UNREACHABLE if why == "blocked" else Summary.NO_SUCCESS
            return q.settle_contact(
                self.db, contact_id, state, ContactState.RETRIES_COMPLETED, summary, now
            )
        attempt_id, attempt_no, phone, number, channel, status, code = last
        outcome = Outcome.ERROR_OCCURRED
        if status == "done" and code is not None:
            with contextlib.suppress(ValueError):
                outcome = Outcome(code)
        try:
            campaign = get_campaign_by_id(self.db, campaign_id)
            got = Lease(
                attempt_id, contact_id, campaign_id, attempt_no, phone, number, Channel(channel)
            )
            decided = self.planner.decide(campaign, got, AttemptReport(outcome), now)
        except (DialboxError, LookupError, ValueError) as exc:
            log.error("contact %s not repaired: %s", contact_id, exc)
            return False
        if decided.next_at is None:
            return q.settle_contact(
                self.db, contact_id, state, decided.new_state, decided.summary, now,
                step=decided.step,
            )  # fmt: skip
        if why == "no_redial":
            # the callee may have been rung by an attempt whose outcome never came back
            floor = now + (self.config.engine.requeue_delay if status != "done" else 0.0)
            return q.settle_contact(
                self.db, contact_id, state, decided.new_state, decided.summary, now,
                next_at=max(decided.next_at, floor), next_phone=decided.next_phone,
                step=decided.step,
            )  # fmt: skip
        summary = Summary.UNREACHABLE if why == "blocked" else Summary.NO_SUCCESS
        return q.settle_contact(
            self.db, contact_id, state, ContactState.RETRIES_COMPLETED, summary, now
        )


def repair_at_start(
    config: DialboxConfig, db: Database, clock: Clock, planner: StorePlanner | None = None
) -> dict[str, int]:
    """The daemon's pass after its start-up sweep: stale leases and stranded contacts among
    those ever dialed, settled through their strategy and limits; one log line per kind."""
    doctor = Doctor(config, db, clock, planner)
    report = doctor.check(daemon_stopped=True, dialed_only=True, kinds=AT_START)
    repaired = doctor.repair(daemon_stopped=True, dialed_only=True, kinds=AT_START)
    for violation in report.violations:
        log.warning(
            "doctor: %d %s (e.g. %s); repaired %d",
            len(violation.ids),
            KINDS[violation.kind][0],
            ", ".join(map(str, violation.ids[:EXAMPLES])),
            repaired.get(violation.kind, 0),
        )
    return repaired
