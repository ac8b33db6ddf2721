"""The `inbound` section of `GET /status` (SPEC C14, #23): per inbound campaign the callers
waiting and the longest wait, the calls ringing in, those in a call flow or with an agent, and
the missed calls open; and the waiting callers and ringing calls themselves, with the names of
the known contacts a caller's number matches (the console's queue view).

The live part is the running engine's `inbound.snapshot()` (engine/inboundview.py), read once
per request; without an engine, or one that has no inbound side, `live` is false and only the
store's figures (missed calls) are given."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable, Sequence
from typing import Any

from appliance.api.times import iso_time
from appliance.campaigns import CampaignSettings
from appliance.domain import CampaignType
from appliance.engine.inboundview import InboundSnapshot
from appliance.store.campaigns import CampaignRow
from appliance.store.db import Database

NAME_CHARS = 80  # a contact's name as the status gives it, at most


def snapshot_of(engine: Any) -> InboundSnapshot | None:
    """The engine's inbound snapshot, or None when there is no engine or it has no inbound side."""
    inbound = getattr(engine, "inbound", None) if engine is not None else None
    take = getattr(inbound, "snapshot", None)
    if take is None:
        return None
    found = take()
    return found if isinstance(found, InboundSnapshot) else None


def local_midnight(now: float, timezone: str) -> float:
    """The start of `now`'s day in `timezone`, as epoch seconds."""
    zone = zoneinfo.ZoneInfo(timezone)
    day = dt.datetime.fromtimestamp(now, zone).date()
    return dt.datetime.combine(day, dt.time(0), zone).timestamp()


def missed_counts(db: Database, campaign_id: int, since: float) -> tuple[int, int]:
    """(open missed calls, open ones whose last call came at or after `since`)."""
    row = db.conn.execute(
        "SELECT count(*), coalesce(sum(last_at >= ?), 0) FROM missed_calls"
        " WHERE campaign_id = ? AND status = 'open'",
        (since, campaign_id),
    ).fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def contact_name(fields: Sequence[Any]) -> str | None:
    """A contact's name from its fields (bp1 first name, bp2 last name, bp12 company,
    external id), as the screen pop shows it; None when it has none of them."""
    first, last, company, external = (str(f).strip() if f is not None else "" for f in fields)
    name = " ".join(p for p in (first, last) if p) or company or external
    return name[:NAME_CHARS] or None


def matched_contacts(db: Database, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """Contact id -> {contact_id, campaign, name} for the known contacts of waiting callers."""
    wanted = sorted({int(i) for i in ids})
    found: dict[int, dict[str, Any]] = {}
    for start in range(0, len(wanted), 500):  # SQLite's bound on parameters, with room
        chunk = wanted[start : start + 500]
        marks = ", ".join("?" * len(chunk))
        for contact_id, campaign, *fields in db.conn.execute(
            f"SELECT k.id, cp.name, k.bp1, k.bp2, k.bp12, k.external_id FROM contacts k"
            f" JOIN campaigns cp ON cp.id = k.campaign_id WHERE k.id IN ({marks})",
            chunk,
        ):
            found[int(contact_id)] = {
                "contact_id": int(contact_id),
                "campaign": str(campaign),
                "name": contact_name(fields),
            }
    return found


def inbound_section(
    db: Database,
    campaigns: Sequence[CampaignRow],
    engine: Any,
    now: float,
    box_timezone: str,
) -> dict[str, Any]:
    """The `inbound` section of /status (models.system.InboundStatus)."""
    snap = snapshot_of(engine)
    live = snap is not None
    snap = snap or InboundSnapshot(at=now)
    rows = []
    total_open = 0
    for campaign in campaigns:
        if campaign.type is not CampaignType.INBOUND:
            continue
        settings = CampaignSettings.model_validate(campaign.settings)
        midnight = local_midnight(now, settings.timezone or box_timezone)
        missed_open, missed_today = missed_counts(db, campaign.id, midnight)
        total_open += missed_open
        name = campaign.name
        rows.append(
            {
                "name": name,
                "status": str(campaign.status),
                "answer_lines": list(settings.answer_lines),
                "waiting": snap.queue_length(name),
                "longest_wait_seconds": round(snap.longest_wait(name), 1),
                "ringing": sum(1 for r in snap.ringing if r.campaign == name),
                "in_flow": sum(
                    1 for f in snap.in_flow if f.campaign == name and f.direction == "in"
                ),
                "talking": sum(1 for t in snap.talking if t.campaign == name),
                "missed_open": missed_open,
                "missed_open_today": missed_today,
            }
        )
    known = matched_contacts(db, (i for w in snap.waiting for i in w.contacts))
    waiting = [
        {
            "campaign": w.campaign,
            "line": w.line,
            "caller": w.caller or None,
            "withheld": not w.caller,
            "since": iso_time(w.since),
            "waited_seconds": round(max(0.0, snap.at - w.since), 1),
            "skill": w.skill,
            "attempt_id": w.attempt_id,
            "matched": [known[i] for i in w.contacts if i in known],
        }
        for w in sorted(snap.waiting, key=lambda w: w.since)
    ]
    ringing = [
        {
            "line": r.line,
            "caller": r.caller or None,
            "withheld": not r.caller,
            "since": iso_time(r.since),
            "ringing_seconds": round(max(0.0, snap.at - r.since), 1),
            "campaign": r.campaign,
            "unanswered": r.unanswered or None,
        }
        for r in sorted(snap.ringing, key=lambda r: r.since)
    ]
    return {
        "live": live,
        "campaigns": rows,
        "waiting": waiting,
        "ringing": ringing,
        "missed_open": total_open,
    }
