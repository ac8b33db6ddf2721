"""The e-mail channel's store (#26): each e-mail attempt's message and durable send state, the
e-mail DNC list, and bounces.

Send state (migration 0013): ``queued`` -> ``claimed`` (committed before the relay is spoken
to) -> ``sent`` (with the relay's 250 reply, in the attempt's closing transaction) or
``failed``. A relay that is down or answers 4xx puts the message back to ``queued`` with a
later try: the attempt stays in flight (never lost; the dangling sweep leaves it alone). A
message found ``claimed`` after a restart is not handed over again: the relay may have taken it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from appliance.domain import Channel, Outcome
from appliance.store import dialect
from appliance.store.attempts import Completion, Lease, LeaseRefused, complete, lease
from appliance.store.db import Database

# Attempts the dangling sweep leaves alone: their messages wait for the relay.
PENDING_SENDS = "SELECT attempt_id FROM email_sends WHERE state IN ('queued', 'claimed')"


@dataclass(frozen=True)
class Send:
    lease: Lease
    address: str
    message_id: str
    message: bytes
    tries: int
    created_at: float


def queue(
    db: Database,
    contact_id: int,
    phone_index: int,
    now: float,
    *,
    address: str,
    message_id: str,
    message: bytes,
) -> Lease | LeaseRefused:
    """Lease the contact for an e-mail attempt and queue its message, in one transaction."""
    with db.transaction():
        got = lease(db, contact_id, phone_index, Channel.EMAIL, now)
        if isinstance(got, Lease):
            db.conn.execute(
                "INSERT INTO email_sends(attempt_id, campaign_id, contact_id, address, message_id,"
                " message, next_try_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (got.attempt_id, got.campaign_id, contact_id, address, message_id, message, now,
                 now),
            )  # fmt: skip
    return got


_SEND_COLUMNS = (
    "a.id, a.contact_id, a.campaign_id, a.attempt_no, coalesce(a.phone_index, 1), a.number,"
    " s.address, s.message_id, s.message, s.tries, s.created_at"
)


def _send(row: tuple[Any, ...]) -> Send:
    aid, cid, camp, no, phone, number, address, mid, message, tries, created = row
    got = Lease(int(aid), int(cid), int(camp), int(no), int(phone), str(number), Channel.EMAIL)
    return Send(got, str(address), str(mid), bytes(message), int(tries), float(created))


def due(db: Database, now: float, limit: int, exclude: set[int]) -> list[Send]:
    """Queued messages whose try is due, oldest first."""
    rows = db.conn.execute(
        f"SELECT {_SEND_COLUMNS} FROM email_sends s JOIN attempts a ON a.id = s.attempt_id"
        " WHERE s.state = 'queued' AND s.next_try_at <= ? AND a.status = 'in_flight'"
        " ORDER BY s.next_try_at, s.attempt_id LIMIT ?",
        (now, limit + len(exclude)),
    ).fetchall()
    return [s for s in map(_send, rows) if s.lease.attempt_id not in exclude][:limit]


def interrupted(db: Database) -> list[Send]:
    """Messages that were being handed to the relay when the daemon stopped."""
    rows = db.conn.execute(
        f"SELECT {_SEND_COLUMNS} FROM email_sends s JOIN attempts a ON a.id = s.attempt_id"
        " WHERE s.state = 'claimed' AND a.status = 'in_flight' ORDER BY s.attempt_id"
    ).fetchall()
    return [_send(r) for r in rows]


def claim(db: Database, attempt_id: int) -> bool:
    """Mark the message as being handed over (committed before the relay hears of it)."""
    with db.transaction():
        return bool(
            db.conn.execute(
                "UPDATE email_sends SET state = 'claimed', tries = tries + 1"
                " WHERE attempt_id = ? AND state = 'queued' RETURNING attempt_id",
                (attempt_id,),
            ).fetchall()
        )


def defer(db: Database, attempt_id: int, next_try_at: float, reply: str) -> None:
    """The relay did not take it (down, or 4xx): queued again for a later try."""
    with db.transaction():
        db.conn.execute(
            "UPDATE email_sends SET state = 'queued', next_try_at = ?, reply = ?"
            " WHERE attempt_id = ? AND state = 'claimed'",
            (next_try_at, reply, attempt_id),
        )


def finish(
    db: Database,
    send: Lease,
    completion: Completion,
    now: float,
    *,
    sent: bool,
    reply: str,
    outbox_payload: Mapping[str, Any] | None = None,
) -> bool:
    """The send's end (sent with the relay's reply, or failed) and the attempt's outcome and
    the strategy's decision, in one transaction."""
    with db.transaction():
        db.conn.execute(
            "UPDATE email_sends SET state = ?, reply = ?, sent_at = ? WHERE attempt_id = ?",
            ("sent" if sent else "failed", reply, now if sent else None, send.attempt_id),
        )
        return complete(db, send, completion, now, outbox_payload=outbox_payload)


# -- the e-mail DNC list ---------------------------------------------------------------------


def is_listed(db: Database, address: str) -> bool:
    row = db.conn.execute("SELECT 1 FROM email_dnc WHERE address = ?", (address,)).fetchone()
    return row is not None


def add_address(
    db: Database, address: str, campaign_id: int | None, now: float, source: str
) -> bool:
    """Put the address on the e-mail DNC list; False when it was there already."""
    with db.transaction():
        return bool(
            db.conn.execute(
                # (the campaign may be gone since the message went out)
                "INSERT INTO email_dnc(address, campaign_id, added_at, source)"
                " VALUES (?, (SELECT id FROM campaigns WHERE id = ?), ?, ?)"
                " ON CONFLICT(address) DO NOTHING RETURNING address",
                (address.lower(), campaign_id, now, source),
            ).fetchall()
        )


def listed(db: Database, after: str, limit: int) -> list[tuple[str, int | None, float, str]]:
    """The e-mail DNC list in address order, after `after`: (address, campaign, added, source)."""
    rows = db.conn.execute(
        "SELECT address, campaign_id, added_at, source FROM email_dnc WHERE address > ?"
        " ORDER BY address LIMIT ?",
        (after.lower(), limit),
    ).fetchall()
    return [
        (str(a), c if isinstance(c, int) else None, float(t) if isinstance(t, int | float) else 0.0,
         str(s))
        for a, c, t, s in rows
    ]  # fmt: skip


def remove_address(db: Database, address: str) -> bool:
    with db.transaction():
        return bool(
            db.conn.execute(
                "DELETE FROM email_dnc WHERE address = ? RETURNING address", (address,)
            ).fetchall()
        )


def contact_numbers(db: Database, contact_id: int) -> list[str]:
    row = db.conn.execute(
        "SELECT e164_1, e164_2, e164_3, e164_4, e164_5 FROM contacts WHERE id = ?", (contact_id,)
    ).fetchone()
    return [str(n) for n in row or () if n]


def contact_fields(db: Database, contact_id: int) -> dict[str, str | None]:
    """The contact's fields a template may name (campaign: its campaign's name)."""
    cols = [*(f"phone{i}" for i in range(1, 6)), *(f"bp{i}" for i in range(1, 13)), "external_id"]
    row = db.conn.execute(
        f"SELECT {', '.join('k.' + c for c in cols)}, c.name FROM contacts k"
        " JOIN campaigns c ON c.id = k.campaign_id WHERE k.id = ?",
        (contact_id,),
    ).fetchone()
    if row is None:
        return {}
    out = {c: (None if v is None else str(v)) for c, v in zip(cols, row[:-1], strict=True)}
    out["campaign"] = str(row[-1])
    return out


# -- bounces ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bounced:
    lease: Lease
    address: str
    already: bool  # a bounce for it was recorded before
    reopen: bool  # the contact's last attempt is this one and it is not leased: decide again


def message_id_of(db: Database, attempt_id: int) -> str | None:
    row = db.conn.execute(
        "SELECT message_id FROM email_sends WHERE attempt_id = ?", (attempt_id,)
    ).fetchone()
    return None if row is None else str(row[0])


def find_sent(db: Database, message_id: str) -> Bounced | None:
    """The sent message with this Message-ID (brackets optional), or None."""
    mid = message_id.strip().strip("<>").strip()
    row = db.conn.execute(
        f"SELECT {_SEND_COLUMNS}, s.bounced_at, k.lease_id,"
        " (SELECT max(b.id) FROM attempts b WHERE b.contact_id = a.contact_id)"
        " FROM email_sends s JOIN attempts a ON a.id = s.attempt_id"
        " JOIN contacts k ON k.id = a.contact_id WHERE s.message_id = ? AND s.state = 'sent'",
        (mid,),
    ).fetchone()
    if row is None:
        return None
    send = _send(row[:11])
    bounced_at, lease_id, last = row[11:]
    reopen = lease_id is None and last == send.lease.attempt_id
    return Bounced(send.lease, send.address, bounced_at is not None, reopen)


def record_bounce(
    db: Database,
    bounced: Bounced,
    reason: str,
    now: float,
    decided: Completion | None,
    outbox_payload: Mapping[str, Any] | None = None,
) -> None:
    """The attempt's outcome becomes EmailBounced (its evidence keeps the bounce); `decided`:
    the contact's next state as the strategy says for it."""
    got = bounced.lease
    with db.transaction():
        db.conn.execute(
            "UPDATE email_sends SET bounced_at = ?, bounce = ? WHERE attempt_id = ?",
            (now, reason, got.attempt_id),
        )
        old = db.conn.execute(
            "SELECT evidence FROM attempts WHERE id = ?", (got.attempt_id,)
        ).fetchone()
        evidence = [*json.loads(str(old[0]) if old and old[0] else "[]"), f"bounce: {reason}"]
        dialect.of(db).order_results(db)
        db.conn.execute(
            "UPDATE attempts SET outcome = ?, evidence = ?,"
            " seq = (SELECT ifnull(max(seq), 0) + 1 FROM attempts) WHERE id = ?",
            (int(Outcome.EMAIL_BOUNCED), json.dumps(evidence), got.attempt_id),
        )
        if decided is not None:
            c = decided
            db.conn.execute(
                "UPDATE contacts SET state = ?, summary = ?, next_at = ?,"
                " next_phone = coalesce(?, next_phone), step = coalesce(?, step),"
                " last_outcome = ?, updated_at = ? WHERE id = ? AND lease_id IS NULL",
                (c.new_state, int(c.summary), c.next_at, c.next_phone, c.step, int(c.outcome),
                 now, got.contact_id),
            )  # fmt: skip
        if outbox_payload is not None:
            db.conn.execute(
                "INSERT INTO outbox(campaign_id, contact_id, attempt_id, payload, created_at,"
                " next_try_at) VALUES (?, ?, ?, ?, ?, ?)",
                (got.campaign_id, got.contact_id, got.attempt_id, json.dumps(outbox_payload),
                 now, now),
            )  # fmt: skip
