"""Properties of `plan` over generated campaigns (hypothesis): the invariants of DESIGN.md, judged by oracles.

Each example writes a campaign into a real database — contacts with one to three numbers drawn
from a pool of single- and multi-zone numbers (New York, Denver, Idaho and the Dakotas, Canada's
north, US toll-free with every NANP zone, Russian and Australian mobiles, Brazil, London,
Paris), attempt histories, callbacks, DNC entries — picks an instant near a DST transition (or
anywhere), and asks the planner for the next dials. The oracles below re-derive the rules
independently: zones straight from libphonenumber, local time straight from zoneinfo, counts
straight from the generated history.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import holidays
import phonenumbers
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from phonenumbers import timezone as pn_timezone

from appliance.config.models import DialboxConfig
from appliance.engine.storeplanner import StorePlanner
from appliance.store.campaigns import get_campaign
from appliance.store.db import Database
from tests.scheduler.dbfixtures import add_attempt, add_campaign, add_contact, add_dnc

BOX_TZ = "America/New_York"
POOL = (
    "+12125550101",  # New York
    "+12125550102",
    "+19705550123",  # Denver
    "+12085550123",  # Idaho: Boise and Los Angeles
    "+16055550123",  # South Dakota: Denver and North Dakota/Center
    "+18675550123",  # Canada's north
    "+14155550102",  # San Francisco
    "+18885550123",  # toll-free: every NANP zone, Guam to Honolulu
    "+79161234567",  # Russian mobile: 16 zones
    "+74232123456",  # Vladivostok
    "+61412345678",  # Australian mobile: 8 zones
    "+61891234567",  # Adelaide and Perth
    "+5511987654321",  # São Paulo
    "+5592987654321",  # Manaus
    "+442079460000",  # London
    "+33142685300",  # Paris
)
TRANSITIONS = (
    dt.datetime(2026, 3, 8, 7, 0, tzinfo=dt.UTC),  # US spring forward
    dt.datetime(2026, 11, 1, 6, 0, tzinfo=dt.UTC),  # US fall back
    dt.datetime(2026, 3, 29, 1, 0, tzinfo=dt.UTC),  # EU spring forward
    dt.datetime(2026, 10, 25, 1, 0, tzinfo=dt.UTC),  # EU fall back
    dt.datetime(2026, 4, 4, 16, 0, tzinfo=dt.UTC),  # Australia back
    dt.datetime(2026, 10, 3, 16, 0, tzinfo=dt.UTC),  # Australia forward
)
HOUR, DAY = 3600.0, 86400.0
ABANDONED, MACHINE = 15, 7
FR_HOLIDAYS = holidays.country_holidays("FR", years=range(2025, 2029))


@dataclass
class C:
    phones: list[str]
    kind: str  # new, callback, redial, future, closed
    due: float | None = None
    priority: int = 0
    next_phone: int = 1
    history: list[tuple[int, float, int]] = field(default_factory=list)  # (phone, at, outcome)
    tz: str | None = None
    id: int = 0


@st.composite
def instants(draw: st.DrawFn) -> float:
    if draw(st.booleans()):
        base = draw(st.sampled_from(TRANSITIONS)).timestamp()
        return base + draw(st.integers(-36 * 60, 36 * 60)) * 60.0
    return draw(st.integers(1_767_225_600, 1_830_297_600)) * 1.0  # 2026-2027


@st.composite
def contacts(draw: st.DrawFn, now: float) -> C:
    phones = draw(st.lists(st.sampled_from(POOL), min_size=1, max_size=3))
    kind = draw(st.sampled_from(["new", "new", "callback", "redial", "redial", "future", "closed"]))
    c = C(phones, kind, priority=draw(st.integers(0, 3)))
    if draw(st.integers(0, 9)) == 0:
        c.tz = draw(st.sampled_from(["America/New_York", "Europe/Paris", "Asia/Tokyo"]))
    if kind in ("redial", "future", "closed"):
        c.next_phone = draw(st.integers(1, len(phones)))
        for _ in range(draw(st.integers(0, 5))):
            phone = draw(st.integers(1, len(phones)))
            ago = draw(st.integers(60, 40 * 24 * 60)) * 60.0
            c.history.append((phone, now - ago, draw(st.sampled_from([1, 3, 7, 13, ABANDONED]))))
        c.history.sort(key=lambda h: h[1])
    if kind in ("redial", "callback"):
        c.due = now - draw(st.integers(0, 48 * 60)) * 60.0
    elif kind == "future":
        c.due = now + draw(st.integers(1, 48 * 60)) * 60.0
    return c


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, object]:
    now = draw(instants())
    return {
        "now": now,
        "profile": draw(st.sampled_from(["us", "uk", "fr"])),
        "order": draw(st.sampled_from(["fifo", "lifo"])),
        "max_attempts": draw(st.integers(2, 6)),
        "per_number": draw(st.integers(1, 4)),
        "per_day": draw(st.integers(1, 3)),
        "contacts": draw(st.lists(contacts(now), min_size=1, max_size=25)),
        "dnc": draw(
            st.lists(
                st.tuples(
                    st.sampled_from(POOL),
                    st.sampled_from(["global", "campaign", "other", "block"]),
                    st.booleans(),  # expired
                ),
                max_size=5,
                unique_by=lambda d: (d[0], d[1]),
            )
        ),
        "lines": draw(st.integers(1, 12)),
    }


_DB: list[Database] = []


def fresh_db() -> Database:
    if not _DB:
        db = Database(":memory:")
        db.migrate()
        _DB.append(db)
    db = _DB[0]
    for table in ("attempts", "dnc", "contacts", "zone_sets", "strategies", "campaigns"):
        db.conn.execute(f"DELETE FROM {table}")
    return db


def zones_of(number: str, override: str | None) -> tuple[str, ...]:
    if override:
        return (override,)
    zones = pn_timezone.time_zones_for_number(phonenumbers.parse(number))
    return tuple(z for z in zones if z != "Etc/Unknown") or (BOX_TZ,)


def inside(zone: str, t: float, profile: str) -> bool:
    local = dt.datetime.fromtimestamp(t, ZoneInfo(zone))
    minute = local.hour * 60 + local.minute
    if profile == "fr":
        return (
            local.weekday() < 5
            and local.date() not in FR_HOLIDAYS
            and (600 <= minute < 780 or 840 <= minute < 1200)
        )
    return 480 <= minute < 1260


def build(db: Database, s: dict[str, object]) -> int:
    now = float(s["now"])  # type: ignore[arg-type]
    settings_ = {
        "profile": s["profile"],
        "order": s["order"],
        "max_attempts": s["max_attempts"],
        "max_attempts_per_number": s["per_number"],
        "max_attempts_per_day": s["per_day"],
    }
    cid = add_campaign(db, "p", json.dumps(settings_))
    other = add_campaign(db, "other")
    for c in s["contacts"]:  # type: ignore[attr-defined]
        state = {"new": "Pending", "callback": "Pending", "closed": "Connected"}.get(
            c.kind, "Not Connected"
        )
        c.id = add_contact(
            db,
            cid,
            c.phones,
            state=state,
            next_at=c.due if c.kind in ("redial", "future") else None,
            callback_at=c.due if c.kind == "callback" else None,
            priority=c.priority,
            attempts=len(c.history),
            last_attempt_at=c.history[-1][1] if c.history else None,
            tz_override=c.tz,
            next_phone=c.next_phone if c.kind != "new" else None,
        )
        for phone, at, outcome in c.history:
            add_attempt(db, c.id, cid, c.phones[phone - 1], at, phone_index=phone, outcome=outcome)
    for number, which, expired in s["dnc"]:  # type: ignore[attr-defined]
        campaign = {"campaign": cid, "other": other}.get(which)
        add_dnc(db, number, campaign, "block" if which == "block" else "dnc",
                now - 1 if expired else None)  # fmt: skip
    return cid


def oracle(s: dict[str, object], cid: int) -> tuple[list[tuple[int, int, str]], dict[int, str]]:
    """The plan the rules call for, derived without the scheduler; and each contact's verdict."""
    now = float(s["now"])  # type: ignore[arg-type]
    profile = str(s["profile"])
    cs: list[C] = s["contacts"]  # type: ignore[assignment]
    midnight = dt.datetime.fromtimestamp(now, ZoneInfo(BOX_TZ)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    day_start = midnight.timestamp()
    calls = [(c.phones[p - 1], at, o) for c in cs for p, at, o in c.history]
    blocked = {
        n
        for n, which, expired in s["dnc"]
        if not expired and which != "other"  # type: ignore[attr-defined]
    }
    verdict: dict[int, str] = {}
    for c in cs:
        number = c.phones[c.next_phone - 1] if c.kind != "new" else c.phones[0]
        if c.kind in ("closed", "future"):
            verdict[c.id] = "not due"
        elif len(c.history) >= int(s["max_attempts"]) or sum(
            1 for p, _, _ in c.history if c.phones[p - 1] == number and p == c.next_phone
        ) >= int(s["per_number"]):  # type: ignore[call-overload]
            verdict[c.id] = "exhausted"
        elif number in blocked:
            verdict[c.id] = "dnc"
        elif sum(1 for _, at, _ in c.history if at >= day_start) >= int(s["per_day"]):  # type: ignore[call-overload]
            verdict[c.id] = "daily"
        elif (
            profile == "fr"
            and sum(1 for n, at, _ in calls if n == number and at > now - 30 * DAY) >= 4
        ):
            verdict[c.id] = "cap"
        elif profile == "uk" and any(
            n == number
            and (
                (o == ABANDONED and at + 30 + 72 * HOUR > now)
                or (o == MACHINE and at + 30 + 24 * HOUR > now)
            )
            for n, at, o in calls
        ):
            verdict[c.id] = "locked"
        elif not all(inside(z, now, profile) for z in zones_of(number, c.tz)):
            verdict[c.id] = "hours"
        else:
            verdict[c.id] = "ready"
    ready = [c for c in cs if verdict[c.id] == "ready"]
    redials = sorted((c for c in ready if c.due is not None), key=lambda c: (c.due, c.id))
    sign = 1 if s["order"] == "fifo" else -1
    news = sorted((c for c in ready if c.due is None), key=lambda c: (-c.priority, sign * c.id))
    plan: list[tuple[int, int, str]] = []
    seen: set[str] = set()
    for c in [*redials, *news]:
        phone = c.next_phone if c.kind != "new" else 1
        number = c.phones[phone - 1]
        if number in seen or len(plan) >= int(s["lines"]):  # type: ignore[call-overload]
            continue
        seen.add(number)
        plan.append((c.id, phone, number))
    return plan, verdict


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_plan_obeys_every_rule_and_the_order(s: dict[str, object]) -> None:
    db = fresh_db()
    cid = build(db, s)
    now = float(s["now"])  # type: ignore[arg-type]
    config = DialboxConfig.model_validate({"database": ":memory:", "timezone": BOX_TZ})
    planned = StorePlanner(config, db).plan(get_campaign(db, "p"), now, int(s["lines"]))  # type: ignore[call-overload]
    expected, verdict = oracle(s, cid)
    by_id = {c.id: c for c in s["contacts"]}  # type: ignore[attr-defined]
    profile = str(s["profile"])
    dnc_now = {
        str(r[0])
        for r in db.conn.execute(
            "SELECT e164 FROM dnc WHERE (campaign_id IS NULL OR campaign_id = ?)"
            " AND (expires_at IS NULL OR expires_at > ?)",
            (cid, now),
        )
    }
    for dial in planned:
        c = by_id[dial.contact_id]
        # never a DNC number
        assert dial.number not in dnc_now
        # never outside the permitted hours in any of the callee's zones
        assert all(inside(z, now, profile) for z in zones_of(dial.number, c.tz)), dial
        # never past the attempt limits
        assert len(c.history) < int(s["max_attempts"])  # type: ignore[call-overload]
        assert sum(1 for p, _, _ in c.history if p == dial.phone_index) < int(s["per_number"])  # type: ignore[call-overload]
        assert verdict[c.id] == "ready", (dial, verdict[c.id])
    # due redials (retries and callbacks) before any new contact
    kinds = [d.kind for d in planned]
    assert kinds == sorted(kinds, key=lambda k: k == "new")
    event(f"planned {min(len(planned), 3)}+ dials" if planned else "planned nothing")
    for reason in set(verdict.values()):
        event(f"some contact {reason}")
    # and exactly the plan the rules call for
    assert [(d.contact_id, d.phone_index, d.number) for d in planned] == expected
