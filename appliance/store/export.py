"""Exporting a campaign's results (SPEC D6): one row per contact or per attempt, streamed as CSV or JSON.

Rows are read with one cursor and written as they come, so memory stays flat for a million
contacts. Contacts are read in id order (import order) by a rowid range scan: the id range of
the campaign comes from an index, and the scan needs no sort.
"""

from __future__ import annotations

import csv
import functools
import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from appliance.domain import BP_FIELDS, PHONE_FIELDS, Outcome, Summary
from appliance.store import dialect
from appliance.store.campaigns import CampaignRow
from appliance.store.db import Database
from appliance.store.filters import CompiledFilter
from appliance.store.flowrecords import answers_sql, read_answers, read_steps, steps_sql

E164_FIELDS = tuple(f"e164_{i}" for i in range(1, 6))

CONTACT_COLUMNS: tuple[str, ...] = (
    "campaign",
    "contact_id",
    "external_id",
    "state",
    "summary",
    "summary_label",
    "attempts",
    "last_outcome",
    "last_outcome_code",
    "last_attempt_at",
    "next_at",
    *PHONE_FIELDS,
    *E164_FIELDS,
    *BP_FIELDS,
    "priority",
    "callback_at",
    "owner_agent",
)

ATTEMPT_COLUMNS: tuple[str, ...] = (
    "campaign",
    "attempt_id",
    "contact_id",
    "external_id",
    "attempt_no",
    "phone_index",
    "number",
    "channel",
    "line",
    "agent",
    "status",
    "queued_at",
    "dialed_at",
    "answered_at",
    "ended_at",
    "outcome",
    "outcome_code",
    "disposition",
    "direction",  # 'out' (dialed) or 'in' (answered, SPEC C14)
    "steps",  # a call flow's steps: [{at, node, kind, detail}] (CSV: as JSON)
    "answers",  # its questions' answers: {question: answer} (CSV: as JSON)
    # the call's recording (SPEC O9, #24), its latest if there were several: its id (GET
    # /recordings/{id}), status (complete, failed, deleted) and the file's SHA-256
    "recording_id",
    "recording_status",
    "recording_sha256",
    # an e-mail attempt (#26): the address it went to and its Message-ID
    "email_address",
    "message_id",
)


def iso_utc(ts: float | None) -> str | None:
    """ISO 8601 in UTC to the millisecond, e.g. 2027-01-15T08:00:00.250Z (None stays None)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def outcome_label(code: int | None) -> str | None:
    """The seed's name of an outcome code (C11); an unknown code is shown as its number."""
    if code is None:
        return None
    try:
        return Outcome(code).label
    except ValueError:
        return str(code)


def summary_label(code: int) -> str:
    """C11 summary as the German seed writes it: NotUsed, Successful, NoSuccess, …"""
    try:
        return "".join(word.capitalize() for word in Summary(code).name.split("_"))
    except ValueError:
        return str(code)


_CONTACT_SQL = (
    "SELECT id, external_id, state, summary, attempts, last_outcome, last_attempt_at, next_at, "
    + ", ".join((*PHONE_FIELDS, *E164_FIELDS, *BP_FIELDS))
    + ", priority, callback_at, owner_agent FROM contacts"
    # `+campaign_id` keeps SQLite on the rowid range (no sort) instead of an index on campaign_id.
    " WHERE +campaign_id = ? AND id BETWEEN ? AND ?"
)


def contact_rows(
    db: Database, campaign: CampaignRow, *, where: CompiledFilter | None = None
) -> Iterator[dict[str, Any]]:
    """Every contact of the campaign (matching `where`), in id order, as a CONTACT_COLUMNS dict."""
    bounds = db.conn.execute(
        "SELECT min(id), max(id) FROM contacts WHERE campaign_id = ?", (campaign.id,)
    ).fetchone()
    if bounds is None or bounds[0] is None:
        return
    sql = _CONTACT_SQL
    params: tuple[Any, ...] = (campaign.id, bounds[0], bounds[1])
    if where is not None:
        sql, params = f"{sql} AND {where.sql}", (*params, *where.params)
    for row in db.conn.execute(sql + " ORDER BY id", params):
        (cid, external_id, state, summary, attempts, last_outcome, last_at, next_at) = row[:8]
        phones, e164s, bps = row[8:13], row[13:18], row[18:30]
        priority, callback_at, owner_agent = row[30:33]
        yield {
            "campaign": campaign.name,
            "contact_id": cid,
            "external_id": external_id,
            "state": state,
            "summary": summary,
            "summary_label": summary_label(summary),
            "attempts": attempts,
            "last_outcome": outcome_label(last_outcome),
            "last_outcome_code": last_outcome,
            "last_attempt_at": iso_utc(last_at),
            "next_at": iso_utc(next_at),
            **dict(zip(PHONE_FIELDS, phones, strict=True)),
            **dict(zip(E164_FIELDS, e164s, strict=True)),
            **dict(zip(BP_FIELDS, bps, strict=True)),
            "priority": priority,
            "callback_at": iso_utc(callback_at),
            "owner_agent": owner_agent,
        }


# The attempt's latest recording as one JSON value (id, status, sha256), or NULL: an index
# lookup per attempt (recordings_attempt).
def recording_sql(d: dialect.Dialect) -> str:
    return (
        f"(SELECT {d.json_array('r.id', 'r.status', 'r.sha256')} FROM recordings r"
        " WHERE r.attempt_id = a.id ORDER BY r.id DESC LIMIT 1)"
    )


# An e-mail attempt's address and Message-ID as a JSON array (NULL for calls and SMS).
def email_sql(d: dialect.Dialect) -> str:
    return (
        f"(SELECT {d.json_array('m.address', 'm.message_id')} FROM email_sends m"
        " WHERE m.attempt_id = a.id)"
    )


# The attempt columns every attempt document is made of (`attempt_document`), over `attempts a`
# joined to its contact `c`: the export's, the results feed's and the contact view's.
@functools.cache
def attempt_fields_sql(d: dialect.Dialect) -> str:
    return (
        "a.id, a.contact_id, c.external_id, a.attempt_no, a.phone_index, a.number, a.channel,"
        " a.line, a.agent, a.status, a.queued_at, a.dialed_at, a.answered_at, a.ended_at,"
        " a.outcome, a.disposition, a.direction,"
        f" {steps_sql(d)}, {answers_sql(d)}, {recording_sql(d)}, {email_sql(d)}"
    )


ATTEMPT_FIELDS = 21  # how many values attempt_fields_sql gives


def attempt_rows(
    db: Database, campaign: CampaignRow, *, where: CompiledFilter | None = None
) -> Iterator[dict[str, Any]]:
    """Every attempt of the campaign (of contacts matching `where`), oldest first (D6 fields)."""
    sql = (
        f"SELECT {attempt_fields_sql(dialect.of(db))} FROM attempts a"
        " JOIN contacts c ON c.id = a.contact_id WHERE a.campaign_id = ?"
    )
    params: tuple[Any, ...] = (campaign.id,)
    if where is not None:  # filter columns are contact columns; none of them exists in attempts
        sql, params = f"{sql} AND {where.sql}", (*params, *where.params)
    for row in db.conn.execute(sql + " ORDER BY a.id", params):
        yield attempt_document(campaign.name, row)


def attempt_document(campaign: str, row: Sequence[Any]) -> dict[str, Any]:
    """One attempt (the values of attempt_fields_sql, in order) as ATTEMPT_COLUMNS."""
    (aid, cid, external_id, attempt_no, phone_index, number, channel, line, agent) = row[:9]
    status, queued, dialed, answered, ended, outcome, disposition = row[9:16]
    direction, steps, answers, recording, mail = row[16:21]
    rec_id, rec_status, rec_sha = json.loads(recording) if recording else (None, None, None)
    address, message_id = json.loads(mail) if mail else (None, None)
    return {
        "campaign": campaign,
        "attempt_id": aid,
        "contact_id": cid,
        "external_id": external_id,
        "attempt_no": attempt_no,
        "phone_index": phone_index,
        "number": number,
        "channel": channel,
        "line": line,
        "agent": agent,
        "status": status,
        "queued_at": iso_utc(queued),
        "dialed_at": iso_utc(dialed),
        "answered_at": iso_utc(answered),
        "ended_at": iso_utc(ended),
        "outcome": outcome_label(outcome),
        "outcome_code": outcome,
        "disposition": disposition,
        "direction": direction,
        "steps": read_steps(steps, iso_utc),
        "answers": read_answers(answers),
        "recording_id": rec_id,
        "recording_status": rec_status,
        "recording_sha256": rec_sha,
        "email_address": address,
        "message_id": message_id,
    }


def _csv_cell(value: Any) -> Any:
    """A value as a CSV cell: a list or a mapping (a flow's steps, answers) as JSON text."""
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False) if value else ""
    return value


def write_csv(rows: Iterable[dict[str, Any]], columns: Sequence[str], out: TextIO) -> int:
    """A header and one CSV record per row (RFC 4180 quoting, CRLF); returns the row count.

    Open `out` with newline="" so the csv module's line ends pass through untouched."""
    writer = csv.writer(out)
    writer.writerow(columns)
    count = 0
    for row in rows:
        writer.writerow([_csv_cell(row[column]) for column in columns])
        count += 1
    return count


def write_json(rows: Iterable[dict[str, Any]], out: TextIO) -> int:
    """One JSON array, one object per line, written as the rows come; returns the row count."""
    count = 0
    out.write("[")
    for row in rows:
        out.write(("," if count else "") + "\n" + json.dumps(row, ensure_ascii=False))
        count += 1
    out.write("\n]\n" if count else "]\n")
    return count


def export(
    db: Database,
    campaign: CampaignRow,
    out: TextIO,
    *,
    attempts: bool = False,
    fmt: str = "csv",
    where: CompiledFilter | None = None,
) -> int:
    """Write the campaign's contacts (or its attempts) to `out` as csv or json; returns the row count."""
    if fmt not in ("csv", "json"):
        raise ValueError(f"unknown export format {fmt!r}")
    rows = (
        attempt_rows(db, campaign, where=where)
        if attempts
        else contact_rows(db, campaign, where=where)
    )
    if fmt == "json":
        return write_json(rows, out)
    return write_csv(rows, ATTEMPT_COLUMNS if attempts else CONTACT_COLUMNS, out)
