"""`GET /campaigns/{name}/why` of an inbound campaign over real HTTP (#23): one with no line to
answer on says so; once it names a line, only its being stopped is left."""

from __future__ import annotations

import asyncio
from pathlib import Path

from appliance.domain import CampaignType
from appliance.store.campaigns import create_campaign, get_campaign, update_campaign
from tests.api.test_inbound_status import NOW, served


def test_why_says_an_inbound_campaign_with_no_line_answers_no_call(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with served(tmp_path, None) as (db, get):
            campaign = create_campaign(db, "IN", CampaignType.INBOUND, "PL", {}, NOW, "t")
            status, doc = await get("/campaigns/IN/why")
            assert status == 200, doc
            assert doc["dialing"] is False
            assert [b["reason"] for b in doc["blockers"]][:2] == ["stopped", "no_line"]
            assert "set answer_lines to the configured lines" in doc["text"]
            update_campaign(db, campaign, {"settings": {"answer_lines": ["gsm2"]}}, NOW, "t")
            status, doc = await get("/campaigns/IN/why")
            assert doc["blockers"][0]["reason"] == "stopped"
            assert "line gsm2: unknown" in doc["text"]  # no daemon has recorded the lines
            assert get_campaign(db, "IN").settings["answer_lines"] == ["gsm2"]

    asyncio.run(scenario())
