"""docs/config.md stays true: every config key and campaign setting the code accepts is documented."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel

from appliance.campaigns import CampaignSettings
from appliance.config.models import DialboxConfig

DOC = (Path(__file__).resolve().parents[2] / "docs" / "config.md").read_text()


def _keys(model: type[BaseModel]) -> set[str]:
    keys: set[str] = set()
    for name, field in model.model_fields.items():
        keys.add(field.alias or name)
        nested: Any = field.annotation
        for candidate in (nested, *getattr(nested, "__args__", ())):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                keys |= _keys(candidate)
    return keys


def test_every_config_key_is_documented() -> None:
    from appliance.config.models import ColumnMapping

    missing = sorted(k for k in _keys(DialboxConfig) | _keys(ColumnMapping) if f"`{k}`" not in DOC)
    assert missing == []


def test_every_campaign_setting_is_documented() -> None:
    missing = sorted(k for k in CampaignSettings.model_fields if f"| `{k}` |" not in DOC)
    assert missing == []
