"""SMS replies (SPEC C11, C13): the sender's contacts become *SMS responded*; opt-out words mean DNC now."""

from __future__ import annotations

from dataclasses import dataclass

from appliance.domain import ContactState, Summary
from appliance.optout import is_opt_out  # the matching rule (docs/dnc.md, "SMS opt-out")
from appliance.store.db import Database
from appliance.store.dnc import add_numbers

__all__ = ["ReplyResult", "is_opt_out", "record_reply"]


@dataclass(frozen=True)
class ReplyResult:
    sender: str
    opted_out: bool
    contacts: int  # contacts marked SMS responded
    campaigns: tuple[str, ...] = ()  # the campaigns those contacts belong to


def record_reply(db: Database, sender: str, text: str, now: float) -> ReplyResult:
    """Mark the sender's contacts that were sent an SMS as *SMS responded* (closing them), and put
    the number on the global DNC list at once when the reply opts out (appliance/optout.py)."""
    opted_out = is_opt_out(text)
    with db.transaction():
        changed = db.conn.execute(
            "UPDATE contacts SET state = ?, summary = ?, next_at = NULL, updated_at = ?"
            " WHERE lease_id IS NULL AND state IN (?, ?) AND id IN (SELECT contact_id FROM attempts"
            " WHERE number = ? AND channel = 'sms') RETURNING campaign_id",
            (ContactState.SMS_RESPONDED, int(Summary.SUCCESSFUL), now, ContactState.SMS_SENT,
             ContactState.SMS_SENT_AND_CLOSED, sender),
        ).fetchall()  # fmt: skip
        if opted_out:
            add_numbers(
                db, [sender], campaign_id=None, campaign=None, now=now, actor="daemon",
                reason=f"SMS opt-out: {text.strip()[:40]!r}", source="sms-reply", action="dnc.opt_out",
            )  # fmt: skip
    ids = sorted({int(str(row[0])) for row in changed})
    names = tuple(
        str(db.scalar("SELECT name FROM campaigns WHERE id = ?", (campaign_id,)))
        for campaign_id in ids
    )
    return ReplyResult(sender, opted_out, len(changed), names)
