"""Campaign rows: create, find, list with contact counts, update, and the audit trail of changes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from appliance.domain import CampaignStatus, CampaignType
from appliance.errors import DialboxError, NotFound
from appliance.names import check_name
from appliance.store import counts
from appliance.store.db import Database


@dataclass(frozen=True)
class CampaignRow:
    id: int
    name: str
    type: CampaignType
    region: str
    status: CampaignStatus
    strategy_id: int | None
    filter: str | None
    settings: dict[str, Any]
    created_at: float
    updated_at: float
    # the settings as stored (JSON with sorted keys): what a cache of anything built from them
    # compares (StorePlanner.rules_for); None for a row not read from the store
    settings_json: str | None = field(default=None, compare=False, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "type": str(self.type),
            "region": self.region,
            "status": str(self.status),
            "strategy_id": self.strategy_id,
            "filter": self.filter,
            "settings": self.settings,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


_COLUMNS = "id, name, type, region, status, strategy_id, filter, settings, created_at, updated_at"


def _row(values: tuple[Any, ...]) -> CampaignRow:
    return CampaignRow(
        id=values[0],
        name=values[1],
        type=CampaignType(values[2]),
        region=values[3],
        status=CampaignStatus(values[4]),
        strategy_id=values[5],
        filter=values[6],
        settings=json.loads(values[7]),
        created_at=values[8],
        updated_at=values[9],
        settings_json=values[7],
    )


def audit(
    db: Database, actor: str, action: str, target: str | None, detail: Any, now: float
) -> None:
    """Append one entry to the audit log (O8); call inside the transaction that made the change."""
    db.conn.execute(
        "INSERT INTO audit(at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)",
        (now, actor, action, target, json.dumps(detail, sort_keys=True, default=str)),
    )


def create_campaign(
    db: Database,
    name: str,
    type_: CampaignType,
    region: str,
    settings: dict[str, Any],
    now: float,
    actor: str,
) -> CampaignRow:
    check_name("campaign", name)  # defence in depth: the API and the CLI checked it too
    with db.transaction():
        if db.scalar("SELECT 1 FROM campaigns WHERE name = ?", (name,)):
            raise DialboxError(f"campaign {name!r} already exists")
        db.conn.execute(
            "INSERT INTO campaigns(name, type, region, settings, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (name, str(type_), region, json.dumps(settings, sort_keys=True), now, now),
        )
        audit(db, actor, "campaign.create", name, {"type": str(type_), "region": region}, now)
    return get_campaign(db, name)


def get_campaign(db: Database, name: str) -> CampaignRow:
    row = db.conn.execute(f"SELECT {_COLUMNS} FROM campaigns WHERE name = ?", (name,)).fetchone()
    if row is None:
        known = [r[0] for r in db.conn.execute("SELECT name FROM campaigns ORDER BY name")]
        hint = (
            f"; known campaigns: {', '.join(known)}"
            if known
            else "; create it with `dialbox campaign create NAME`"
        )
        raise NotFound(f"no campaign named {name!r}{hint}")
    return _row(row)


def get_campaign_by_id(db: Database, campaign_id: int) -> CampaignRow:
    row = db.conn.execute(
        f"SELECT {_COLUMNS} FROM campaigns WHERE id = ?", (campaign_id,)
    ).fetchone()
    if row is None:
        raise NotFound(f"no campaign with id {campaign_id}")
    return _row(row)


def list_campaigns(db: Database) -> list[CampaignRow]:
    return [_row(r) for r in db.conn.execute(f"SELECT {_COLUMNS} FROM campaigns ORDER BY name")]


def names_of(db: Database, type_: CampaignType, status: CampaignStatus) -> list[str]:
    """The names of the campaigns of this type in this status (what a scrape asks for: no row
    built, no settings parsed)."""
    return [
        str(n)
        for (n,) in db.conn.execute(
            "SELECT name FROM campaigns WHERE type = ? AND status = ? ORDER BY name",
            (str(type_), str(status)),
        )
    ]


def contacts_by_state(db: Database, campaign_id: int) -> dict[str, int]:
    """How many contacts of the campaign are in each state: the counts migration 0014 keeps in
    the transactions that change contacts (store/counts.py), a few rows whatever the size."""
    return counts.contacts_by_state(db, campaign_id)


def calls_in_flight(db: Database, campaign_id: int) -> int:
    """The campaign's attempts in flight (outbound ones also lease their contact; inbound ones,
    store/inbound.py, do not)."""
    return int(
        db.scalar(
            "SELECT count(*) FROM attempts WHERE campaign_id = ? AND status = 'in_flight'",
            (campaign_id,),
        )
        or 0
    )


def update_campaign(
    db: Database, campaign: CampaignRow, changes: dict[str, Any], now: float, actor: str
) -> CampaignRow:
    """Write `changes` (column -> value; `settings` as a dict) and audit old -> new."""
    allowed = {"type", "region", "status", "strategy_id", "filter", "settings"}
    if set(changes) - allowed:
        raise ValueError(f"not campaign columns: {sorted(set(changes) - allowed)}")
    before = campaign.as_dict()
    values = {
        k: (json.dumps(v, sort_keys=True) if k == "settings" else v) for k, v in changes.items()
    }
    assignments = ", ".join(f"{column} = ?" for column in values)
    with db.transaction():
        db.conn.execute(
            f"UPDATE campaigns SET {assignments}, updated_at = ? WHERE id = ?",
            (
                *[
                    str(v) if isinstance(v, CampaignType | CampaignStatus) else v
                    for v in values.values()
                ],
                now,
                campaign.id,
            ),
        )
        diff = {
            k: {"from": before.get(k), "to": changes[k]}
            for k in changes
            if before.get(k) != changes[k]
        }
        audit(db, actor, "campaign.update", campaign.name, diff, now)
    return get_campaign_by_id(db, campaign.id)


def rename_campaign(
    db: Database, campaign: CampaignRow, new_name: str, now: float, actor: str
) -> CampaignRow:
    """Give a stopped campaign a new name that follows the name rule (appliance/names.py);
    the strategy stored under its name (`campaign:<name>`, PUT /campaigns/{name}/strategy) moves
    with it. What names it elsewhere — lines' `campaigns:` pins in the config, hot folder
    folders — the operator changes; the caller says so. Audited."""
    check_name("campaign", new_name)
    if campaign.status is not CampaignStatus.STOPPED:
        raise DialboxError(f"campaign {campaign.name!r} is {campaign.status}; stop it first")
    own, new_own = f"campaign:{campaign.name}", f"campaign:{new_name}"
    settings = dict(campaign.settings)
    with db.transaction():
        if db.scalar("SELECT 1 FROM campaigns WHERE name = ?", (new_name,)):
            raise DialboxError(f"campaign {new_name!r} already exists")
        if settings.get("strategy") == own:
            if db.scalar("SELECT 1 FROM strategies WHERE name = ?", (new_own,)):
                raise DialboxError(f"a strategy named {new_own!r} exists; delete it first")
            db.conn.execute("UPDATE strategies SET name = ? WHERE name = ?", (new_own, own))
            settings["strategy"] = new_own
        db.conn.execute(
            "UPDATE campaigns SET name = ?, settings = ?, updated_at = ? WHERE id = ?",
            (new_name, json.dumps(settings, sort_keys=True), now, campaign.id),
        )
        audit(db, actor, "campaign.rename", new_name, {"from": campaign.name, "to": new_name}, now)
    return get_campaign_by_id(db, campaign.id)


def find_campaign(db: Database, name: str) -> CampaignRow | None:
    row = db.conn.execute(f"SELECT {_COLUMNS} FROM campaigns WHERE name = ?", (name,)).fetchone()
    return None if row is None else _row(row)


def delete_campaign(db: Database, campaign: CampaignRow, now: float, actor: str) -> None:
    """Delete the campaign with its contacts, attempts and imports (cascade); audited."""
    with db.transaction():
        contacts = sum(counts.contacts_by_state(db, campaign.id).values())
        db.conn.execute("DELETE FROM outbox WHERE campaign_id = ?", (campaign.id,))
        db.conn.execute("DELETE FROM campaigns WHERE id = ?", (campaign.id,))
        audit(db, actor, "campaign.delete", campaign.name, {"contacts": contacts}, now)
