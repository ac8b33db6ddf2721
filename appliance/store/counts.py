"""Contacts by campaign and state as `campaign_counts` keeps them (migration 0014, #28), and the
full recount `dialbox doctor` compares them with.

The table is maintained in the transactions that change contacts, by triggers (every writer is
covered without knowing of it); an import's own batch code adds the rows it inserted in one
statement per chunk instead of one trigger step per row (store/imports.py, `add_imported`).
Reading it costs a few rows per campaign however many contacts there are: what `GET /status`,
`GET /campaigns` and `/metrics` show, always current (no age: it is the committed state).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from appliance.domain import ContactState
from appliance.store import dialect
from appliance.store.db import Database


def contacts_by_state(db: Database, campaign_id: int) -> dict[str, int]:
    """How many contacts of the campaign are in each state (states with none left out)."""
    return {
        str(state): int(str(n))
        for state, n in db.conn.execute(
            "SELECT state, n FROM campaign_counts WHERE campaign_id = ? AND n <> 0 ORDER BY state",
            (campaign_id,),
        )
    }


def all_contacts_by_state(db: Database) -> dict[int, dict[str, int]]:
    """Every campaign's `contacts_by_state` in one read (campaign id -> state -> count)."""
    out: dict[int, dict[str, int]] = {}
    for campaign_id, state, n in db.conn.execute(
        "SELECT campaign_id, state, n FROM campaign_counts WHERE n <> 0 ORDER BY campaign_id, state"
    ):
        out.setdefault(int(str(campaign_id)), {})[str(state)] = int(str(n))
    return out


def add_imported(db: Database, campaign_id: int, added: int) -> None:
    """Count `added` contacts an import just inserted as Pending (its rows skip the insert
    trigger: one statement per chunk instead of one per row). Call in the inserting transaction."""
    if added:
        db.conn.execute(
            "INSERT INTO campaign_counts(campaign_id, state, n) VALUES (?, ?, ?)"
            " ON CONFLICT(campaign_id, state) DO UPDATE SET n = campaign_counts.n + excluded.n",
            (campaign_id, str(ContactState.PENDING), added),
        )


def recount(db: Database) -> dict[tuple[int, str], int]:
    """Contacts by (campaign, state) counted from the contacts themselves (a full scan)."""
    return {
        (int(str(c)), str(s)): int(str(n))
        for c, s, n in db.conn.execute(
            "SELECT campaign_id, state, count(*) FROM contacts GROUP BY campaign_id, state"
        )
    }


def kept(db: Database) -> dict[tuple[int, str], int]:
    """What `campaign_counts` holds (non-zero rows)."""
    return {
        (int(str(c)), str(s)): int(str(n))
        for c, s, n in db.conn.execute(
            "SELECT campaign_id, state, n FROM campaign_counts WHERE n <> 0"
        )
    }


_LEDGER_CALLS = (
    "channel = 'voice' AND direction = 'out' AND ((answered_at IS NOT NULL"
    " AND coalesce(outcome, -1) NOT IN (5, 6, 7)) OR outcome = 15)"
)  # as migration 0014's triggers and store.selection._LEDGER_CALLS test a call


def ledger_recount(db: Database) -> dict[tuple[int, str], tuple[int, int]]:
    """The abandon ledger by (campaign, hour) counted from the attempts (a full scan)."""
    return {
        (int(str(c)), str(h)): (int(str(a)), int(str(b)))
        for c, h, a, b in db.conn.execute(
            f"SELECT campaign_id, {dialect.of(db).trunc('queued_at / 3600.0')}, count(*),"
            f" count(*) FILTER (WHERE outcome = 15) FROM attempts WHERE {_LEDGER_CALLS}"
            " GROUP BY 1, 2"
        )
    }


def ledger_kept(db: Database) -> dict[tuple[int, str], tuple[int, int]]:
    """What `abandon_ledger` holds (rows not all zero)."""
    return {
        (int(str(c)), str(h)): (int(str(a)), int(str(b)))
        for c, h, a, b in db.conn.execute(
            "SELECT campaign_id, hour, answered, abandoned FROM abandon_ledger"
            " WHERE answered <> 0 OR abandoned <> 0"
        )
    }


@dataclass(frozen=True, slots=True)
class Drift:
    """One figure kept by migration 0014 that is not what a full recount finds: contacts of a
    campaign in a state (`what` "contacts", `key` the state), or its abandon ledger's hour
    (`what` "ledger", `key` the hour since the epoch; figures (answered, abandoned))."""

    what: str
    campaign_id: int
    key: str
    kept: int | tuple[int, int]
    counted: int | tuple[int, int]

    def text(self) -> str:
        return (
            f"campaign {self.campaign_id} {self.what} {self.key}: kept {self.kept},"
            f" counted {self.counted}"
        )


def _differ(
    what: str, held: dict[tuple[int, str], Any], counted: dict[tuple[int, str], Any], zero: Any
) -> list[Drift]:
    return [
        Drift(what, c, k, held.get((c, k), zero), counted.get((c, k), zero))
        for c, k in sorted(set(counted) | set(held))
        if held.get((c, k), zero) != counted.get((c, k), zero)
    ]


def drift(db: Database) -> list[Drift]:
    """Every kept figure (contacts by campaign and state, the abandon ledger by campaign and
    hour) that differs from a full recount, read in one transaction so that a writer between
    the reads cannot fake a drift."""
    with db.conn:  # one read snapshot (a savepoint: nothing is written)
        contacts = _differ("contacts", kept(db), recount(db), 0)
        ledger = _differ("ledger", ledger_kept(db), ledger_recount(db), (0, 0))
    return contacts + ledger


def rebuild(db: Database) -> int:
    """Make the kept figures the recount again (what `dialbox doctor --repair` does for a
    drift); how many figures were wrong."""
    with db.transaction():
        found = drift(db)
        if found:
            db.conn.execute("DELETE FROM campaign_counts")
            db.conn.execute(
                "INSERT INTO campaign_counts(campaign_id, state, n)"
                " SELECT campaign_id, state, count(*) FROM contacts GROUP BY campaign_id, state"
            )
            db.conn.execute("DELETE FROM abandon_ledger")
            db.conn.execute(
                "INSERT INTO abandon_ledger(campaign_id, hour, answered, abandoned)"
                f" SELECT campaign_id, {dialect.of(db).trunc('queued_at / 3600.0')}, count(*),"
                f" count(*) FILTER (WHERE outcome = 15) FROM attempts WHERE {_LEDGER_CALLS}"
                " GROUP BY 1, 2"
            )
    return len(found)
