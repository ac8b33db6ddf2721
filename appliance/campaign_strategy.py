"""A campaign's call strategy (SPEC C4) as the API and the CLI read and replace it: the one in
force (its own stored one, or the built-in default) and a new one stored under the campaign's
name (`campaign:<name>`), which the dial loop reads at the next dial (C9)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from appliance.campaigns import CampaignSettings
from appliance.errors import DialboxError
from appliance.scheduler.strategy import (
    DEFAULT_STRATEGY,
    Strategy,
    StrategyError,
    parse_strategy,
    strategy_warnings,
    to_dict,
)
from appliance.store import campaigns as store
from appliance.store.db import Database
from appliance.store.strategies import get_strategy, save_strategy


@dataclass(frozen=True)
class InForce:
    strategy: Strategy
    stored_as: str | None  # the stored strategy's name; None: the built-in default


def in_force(db: Database, campaign: store.CampaignRow) -> InForce:
    """The strategy the campaign dials by now; a DialboxError when the one it names is not
    stored or no longer parses (the dial loop refuses it the same way)."""
    name = CampaignSettings.model_validate(campaign.settings).strategy
    if name is None:
        return InForce(DEFAULT_STRATEGY, None)
    stored = get_strategy(db, name)
    if stored is None:
        raise DialboxError(
            f"campaign {campaign.name!r} uses strategy {name!r}, which is not stored;"
            " set one (`dialbox strategy set`, PUT /campaigns/{name}/strategy)"
        )
    try:
        return InForce(parse_strategy(stored.definition, f"strategy {name!r}"), name)
    except StrategyError as exc:
        raise DialboxError(str(exc)) from None


def document(strategy: Strategy) -> dict[str, Any]:
    """The strategy as stored, with the warnings about terminal outcomes it changes."""
    return {**to_dict(strategy), "warnings": strategy_warnings(strategy)}


def replace(
    db: Database, campaign: store.CampaignRow, strategy: Strategy, now: float, actor: str
) -> str:
    """Store `strategy` as the campaign's own and make the campaign use it; its stored name."""
    name = f"campaign:{campaign.name}"
    with db.transaction():
        save_strategy(db, name, to_dict(strategy), now, actor)
        settings = CampaignSettings.model_validate(campaign.settings).model_dump(mode="json")
        settings["strategy"] = name
        changed = CampaignSettings.model_validate(settings).model_dump(
            mode="json", exclude_defaults=True
        )
        if changed != campaign.settings:
            store.update_campaign(db, campaign, {"settings": changed}, now, actor)
    return name
