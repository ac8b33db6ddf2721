"""Read models for the API: the results feed, one contact with its attempts, contacts by page,
and per-campaign reports by hour or day (SPEC D6, O3, O7)."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from appliance.domain import Outcome
from appliance.store import dialect
from appliance.store.campaigns import CampaignRow
from appliance.store.db import Database
from appliance.store.export import (
    ATTEMPT_FIELDS,
    CONTACT_COLUMNS,
    attempt_document,
    attempt_fields_sql,
    iso_utc,
    outcome_label,
    summary_label,
)


# The sequence number, export's attempt columns, then the campaign's name, the contact's state
# and the evidence: one attempt document for the feed, the export and the contact view.
def _result_sql(db: Database) -> str:
    return (
        f"SELECT a.seq, {attempt_fields_sql(dialect.of(db))}, cp.name, c.state, a.evidence"
        " FROM attempts a JOIN contacts c ON c.id = a.contact_id"
        " JOIN campaigns cp ON cp.id = a.campaign_id"
    )


_NAME, _STATE, _EVIDENCE = ATTEMPT_FIELDS + 1, ATTEMPT_FIELDS + 2, ATTEMPT_FIELDS + 3


def _result(row: Sequence[Any]) -> dict[str, Any]:
    doc = {"seq": row[0], **attempt_document(str(row[_NAME]), row[1 : ATTEMPT_FIELDS + 1])}
    doc["contact_state"] = row[_STATE]
    return doc


def results_since(
    db: Database, after: int, limit: int, campaign_id: int | None = None
) -> list[dict[str, Any]]:
    """Ended attempts (done or dangling) with a sequence number above `after`, oldest first."""
    sql = _result_sql(db) + " WHERE a.seq > ?"
    params: list[Any] = [after]
    if campaign_id is not None:
        sql += " AND a.campaign_id = ?"
        params.append(campaign_id)
    sql += " ORDER BY a.seq LIMIT ?"
    params.append(limit)
    return [_result(r) for r in db.conn.execute(sql, params)]


_CONTACT_SQL = (
    "SELECT c.id, cp.name, c.external_id, c.state, c.summary, c.attempts, c.last_outcome,"
    " c.last_attempt_at, c.next_at, c.phone1, c.phone2, c.phone3, c.phone4, c.phone5,"
    " c.e164_1, c.e164_2, c.e164_3, c.e164_4, c.e164_5, c.bp1, c.bp2, c.bp3, c.bp4, c.bp5,"
    " c.bp6, c.bp7, c.bp8, c.bp9, c.bp10, c.bp11, c.bp12, c.priority, c.callback_at,"
    " c.owner_agent, c.tz_override FROM contacts c JOIN campaigns cp ON cp.id = c.campaign_id"
)


def _contact(row: tuple[Any, ...]) -> dict[str, Any]:
    values = list(row)
    doc: dict[str, Any] = {}
    keys = [k for k in CONTACT_COLUMNS if k not in ("summary_label", "last_outcome_code")]
    keys[0:2] = ["contact_id", "campaign"]
    for key, value in zip(keys, values[:-1], strict=True):
        doc[key] = value
    doc["timezone"] = values[-1]
    doc["summary_label"] = summary_label(doc["summary"])
    doc["last_outcome_code"] = doc["last_outcome"]
    doc["last_outcome"] = outcome_label(doc["last_outcome"])
    for key in ("last_attempt_at", "next_at", "callback_at"):
        doc[key] = iso_utc(doc[key])
    return doc


def contact(db: Database, contact_id: int) -> dict[str, Any] | None:
    """One contact with every attempt made on it, oldest first (and its evidence)."""
    row = db.conn.execute(_CONTACT_SQL + " WHERE c.id = ?", (contact_id,)).fetchone()
    if row is None:
        return None
    doc = _contact(row)
    attempts = []
    for r in db.conn.execute(
        _result_sql(db) + " WHERE a.contact_id = ? ORDER BY a.attempt_no", (contact_id,)
    ):
        item = _result(r)
        item.pop("contact_state")
        item["evidence"] = json.loads(str(r[_EVIDENCE])) if r[_EVIDENCE] else []
        attempts.append(item)
    doc["attempts"] = attempts
    return doc


def _contact_page_sql(
    state: str | None, head: str = _CONTACT_SQL, d: dialect.Dialect = dialect.SQLITE
) -> str:
    """Pages walk the ids: in a state other than Pending on contacts_state (which holds only
    those, migration 0005, hence the redundant term), else on the table's own order, where
    SQLite would otherwise take contacts_dedup and sort the whole campaign. `head` is the
    SELECT up to and including `FROM contacts c `."""
    if state is None or state == "Pending":
        sql = head.replace("FROM contacts c ", f"FROM contacts c{d.not_indexed()} ")
        sql += " WHERE c.campaign_id = ? AND c.id > ?"
        return sql + (" AND c.state = ?" if state else "")
    return head + " WHERE c.campaign_id = ? AND c.id > ? AND c.state = ? AND c.state <> 'Pending'"


def contacts_page(
    db: Database, campaign: CampaignRow, *, state: str | None, after: int, limit: int
) -> list[dict[str, Any]]:
    """Contacts of the campaign with id above `after` (keyset paging), optionally in one state."""
    sql, params = _contact_page_sql(state, d=dialect.of(db)), list[Any]([campaign.id, after])
    if state is not None:
        params.append(state)
    sql += " ORDER BY c.id LIMIT ?"
    params.append(limit)
    return [_contact(r) for r in db.conn.execute(sql, params)]


# A search examines at most this many contacts per request (keyset order), so that one request
# costs a bounded time on the daemon's event loop whatever the campaign's size; the page may
# then be short, and its cursor says where the next request goes on from.
SEARCH_WINDOW = 50_000
_PHONE_TEXT = re.compile(r"[0-9\s()+./-]+")


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _search_terms(text: str, d: dialect.Dialect = dialect.SQLITE) -> tuple[str, list[Any]]:
    """The SQL that finds `text` in a contact: an external id it starts, a business parameter
    (a name…) holding it, and — when it is written like a phone number — a number holding its
    digits (the national trunk 0 dropped, so 0612… finds +33612…). Case-insensitive (ASCII)."""
    escaped = _like(text)
    terms = [f"c.external_id {d.like} ? ESCAPE '\\'"]
    params: list[Any] = [escaped + "%"]
    terms += [f"c.bp{i} {d.like} ? ESCAPE '\\'" for i in range(1, 13)]
    params += [f"%{escaped}%"] * 12
    digits = "".join(ch for ch in text if ch.isdigit())
    if digits and _PHONE_TEXT.fullmatch(text):
        key = digits if text.lstrip().startswith("+") else (digits.lstrip("0") or digits)
        terms += [f"c.e164_{i} LIKE ?" for i in range(1, 6)]
        params += [f"%{key}%"] * 5
    return "(" + " OR ".join(terms) + ")", params


def search_contacts(
    db: Database,
    campaign: CampaignRow,
    *,
    text: str,
    state: str | None,
    after: int,
    limit: int,
    window: int = SEARCH_WINDOW,
) -> tuple[list[dict[str, Any]], int | None]:
    """Contacts of the campaign matching `text` (`_search_terms`) with id above `after`,
    optionally in one state: at most `limit` of them among the next `window` contacts in id
    order, and the cursor to go on from (None: the campaign has no more contacts to examine)."""
    match, params = _search_terms(text, dialect.of(db))
    scan = _contact_page_sql(state, f"SELECT c.id, {match} FROM contacts c ", dialect.of(db))
    args: list[Any] = [*params, campaign.id, after, *([state] if state else []), window]
    hits: list[int] = []
    examined, last = 0, after
    cursor = db.conn.execute(scan + " ORDER BY c.id LIMIT ?", args)
    try:
        for contact_id, hit in cursor:
            examined, last = examined + 1, int(contact_id)
            if hit:
                hits.append(last)
                if len(hits) == limit:
                    break
    finally:
        cursor.close()  # a page filled early stops the scan there
    more = len(hits) == limit or examined == window
    if not hits:
        return [], last if more else None
    marks = ", ".join("?" * len(hits))
    rows = db.conn.execute(_CONTACT_SQL + f" WHERE c.id IN ({marks}) ORDER BY c.id", hits)
    return [_contact(r) for r in rows], last if more else None


_BUCKET = {"hour": 3600.0, "day": 86400.0}


def report(
    db: Database, campaign: CampaignRow, *, by: str, since: float, until: float, offset: float
) -> list[dict[str, Any]]:
    """Attempts, contact rate, abandon rate and talk time per hour or day (O7); `inbound`: the
    calls among them the box answered (SPEC C14).

    `offset` is the campaign zone's UTC offset in seconds, so days start at local midnight."""
    size = _BUCKET[by]
    rows = db.conn.execute(
        f"SELECT {dialect.of(db).trunc('(queued_at + :off) / :size')} AS bucket, count(*),"
        " sum(answered_at IS NOT NULL), sum(outcome = :abandoned),"
        " sum(CASE WHEN answered_at IS NOT NULL AND ended_at IS NOT NULL"
        "          THEN ended_at - answered_at ELSE 0 END),"
        " sum(channel = 'sms'), sum(status = 'dangling'), sum(direction = 'in')"
        " FROM attempts WHERE campaign_id = :campaign AND queued_at >= :since AND queued_at < :until"
        " GROUP BY bucket ORDER BY bucket",
        {
            "off": offset,
            "size": size,
            "abandoned": int(Outcome.ABANDONED),
            "campaign": campaign.id,
            "since": since,
            "until": until,
        },
    ).fetchall()
    out = []
    for row in rows:
        bucket, attempts = int(row[0] or 0), int(row[1] or 0)
        answered, abandoned = int(row[2] or 0), int(row[3] or 0)
        talk, sms, dangling = float(row[4] or 0.0), int(row[5] or 0), int(row[6] or 0)
        inbound = int(row[7] or 0)
        out.append(
            {
                "period": iso_utc(bucket * size - offset),
                "attempts": attempts,
                "answered": answered,
                "contact_rate": round(answered / attempts, 4) if attempts else 0.0,
                "abandoned": abandoned,
                "abandon_rate": round(abandoned / answered, 4) if answered else 0.0,
                "talk_seconds": round(talk, 1),
                "sms": sms,
                "dangling": dangling,
                "inbound": inbound,
            }
        )
    return out


def outcomes(
    db: Database, campaign_id: int, since: float, channel: str | None = None
) -> dict[str, int]:
    """Ended attempts since `since` by outcome label; those closed without one are Dangling.
    With `channel` ('voice' or 'sms'), that channel's attempts only."""
    only = "" if channel is None else " AND channel = ?"
    return {
        outcome_label(code) or "Dangling": int(n)  # closed with no outcome (SPEC C8)
        for code, n in db.conn.execute(
            "SELECT outcome, count(*) FROM attempts WHERE campaign_id = ? AND ended_at >= ?"
            f"{only} GROUP BY outcome ORDER BY outcome",
            (campaign_id, since) if channel is None else (campaign_id, since, channel),
        )
    }


def abandon_rates(
    db: Database, campaign_id: int, now: float, false_positive: float = 0.0
) -> dict[str, dict[str, Any]]:
    """The campaign's abandon ledger over the rolling 24 h and 30 days (SPEC C13). With
    `false_positive` (the campaign's AMD false-positive share, where its profile counts them)
    each window also shows the estimated false positives and the rate with them (#19)."""
    from appliance.scheduler.limits import false_positive_estimate
    from appliance.store.selection import abandon_counts

    out: dict[str, dict[str, Any]] = {}
    for label, window in (("24h", 86400.0), ("30d", 30 * 86400.0)):
        answered, abandoned = abandon_counts(db, campaign_id, now, window)
        out[label] = {
            "answered": answered,
            "abandoned": abandoned,
            "rate": round(abandoned / answered, 4) if answered else 0.0,
        }
        if false_positive:
            fp = false_positive_estimate(answered, false_positive)
            out[label]["amd_false_positives"] = round(fp, 1)
            out[label]["rate_with_false_positives"] = (
                round((abandoned + fp) / (answered + fp), 4) if answered else 0.0
            )
    return out
