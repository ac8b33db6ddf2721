"""Who is calling (SPEC C14, issue #23): a caller ID as a number, the caller's own contact in an
inbound campaign, and the known contacts the number matches (the screen pop).

A caller becomes one contact of the inbound campaign per number (store/inbound.py makes it at
the first answered call); `caller_key` is its dedup key, so the next call finds it by the
campaign's dedup index. Matching reads the attempts' index by number (`attempts_number`): the
contacts the box has called, or been called from, at that number, most recent first — and the
callback contacts made for it (store/missed.py), found by their external id. Contacts never
called are not matched: an index on the contacts' numbers would cost every import its upkeep.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from appliance.domain import BP_FIELDS, MAX_PHONE_CHARS
from appliance.phones import InvalidPhone, normalize
from appliance.store import dialect
from appliance.store.db import Database

MATCHES = 10  # known contacts matched per call at most
_MATCH_SCAN = 2000  # attempts of the number read at most to find them
CALLBACK_PREFIX = "callback:"  # a callback contact's external id: "callback:+48601234567"


@dataclass(frozen=True)
class Match:
    """A known contact with the caller's number."""

    contact_id: int
    campaign: str
    campaign_type: str
    external_id: str | None
    state: str
    fields: Mapping[str, str]  # bp1..bp12 that are set
    last_call_at: float | None  # the last call between the box and this contact at the number

    def as_dict(self) -> dict[str, Any]:
        return {
            "contact_id": self.contact_id,
            "campaign": self.campaign,
            "campaign_type": self.campaign_type,
            "external_id": self.external_id,
            "state": self.state,
            "fields": dict(self.fields),
            "last_call_at": self.last_call_at,
        }


def caller_number(caller_id: str, region: str) -> tuple[str, str]:
    """(E.164 or '', the caller ID as printable text of at most MAX_PHONE_CHARS) of what a line
    gave: '' for a withheld number and for text that is not a phone number (of `region`, or an
    international one)."""
    given = "".join(ch for ch in str(caller_id or "") if ch.isprintable()).strip()
    given = given[:MAX_PHONE_CHARS]
    if not given:
        return "", ""
    try:
        return normalize(given, region), given
    except InvalidPhone:
        return "", given


def caller_key(number: str) -> int:
    """The dedup key of the caller's contact for an E.164 number (one per number and campaign)."""
    digest = hashlib.blake2b(f"inbound-caller\x1f{number}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def caller_contact(db: Database, campaign_id: int, number: str) -> int | None:
    """The caller's own contact in the inbound campaign, if the number called before."""
    if not number:
        return None
    found = db.scalar(
        "SELECT id FROM contacts WHERE campaign_id = ? AND dedup_key = ?",
        (campaign_id, caller_key(number)),
    )
    return None if found is None else int(str(found))


def matches(
    db: Database, number: str, *, exclude: int | None = None, limit: int = MATCHES
) -> list[Match]:
    """Known contacts with this E.164 number (the module's note says which), most recently
    called first, then callback contacts not called yet: at most `limit`, without `exclude`."""
    if not number:
        return []
    last: dict[int, float | None] = {}
    for contact_id, at in db.conn.execute(
        f"SELECT contact_id, queued_at FROM attempts{dialect.of(db).indexed_by('attempts_number')}"
        " WHERE number = ?"
        " ORDER BY queued_at DESC LIMIT ?",
        (number, _MATCH_SCAN),
    ):
        if contact_id != exclude and contact_id not in last:
            last[int(contact_id)] = float(at)
            if len(last) == limit:
                break
    if len(last) < limit:
        for (contact_id,) in db.conn.execute(
            # one probe of contacts_external per campaign (a campaign is its first column)
            "SELECT k.id FROM campaigns cp CROSS JOIN contacts k"
            + dialect.of(db).indexed_by("contacts_external")
            + " WHERE k.campaign_id = cp.id AND k.external_id = ? ORDER BY k.id DESC",
            (CALLBACK_PREFIX + number,),
        ):
            if contact_id != exclude and contact_id not in last and len(last) < limit:
                last[int(contact_id)] = None
    if not last:
        return []
    marks = ", ".join("?" * len(last))
    rows = {
        int(r[0]): r
        for r in db.conn.execute(
            f"SELECT k.id, cp.name, cp.type, k.external_id, k.state, {', '.join(BP_FIELDS)}"
            f" FROM contacts k JOIN campaigns cp ON cp.id = k.campaign_id WHERE k.id IN ({marks})",
            tuple(last),
        )
    }
    found = []
    for contact_id, at in last.items():
        r = rows.get(contact_id)
        if r is not None:
            fields = {f: str(v) for f, v in zip(BP_FIELDS, r[5:], strict=True) if v is not None}
            found.append(Match(contact_id, str(r[1]), str(r[2]), r[3], str(r[4]), fields, at))
    return found
