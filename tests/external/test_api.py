"""External lists over the REST API (#26): a campaign naming a list the config lacks is refused
with 422 naming it; `why` tells what the sync found (here: a table the database does not have)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from appliance.api.context import Services
from appliance.api.server import HttpServer, create_app
from appliance.clock import ManualClock
from appliance.config.models import ApiSettings, DialboxConfig, ExternalList
from appliance.engine.extsync import ExternalSync
from appliance.store import open_database
from appliance.store.tokens import create_token
from tests.daemon.process import free_port

NOW = 1_780_000_000.0


def test_api_refuses_an_unknown_list_and_why_names_the_missing_table(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = open_database(tmp_path / "d.db")
        trial = ExternalList(name="crm", url=f"sqlite:///{tmp_path}/empty.db", table="kontakte")
        config = DialboxConfig(database=tmp_path / "d.db", external_lists=(trial,),
                               api=ApiSettings(port=free_port()))  # fmt: skip
        clock = ManualClock(NOW)
        token = create_token(db, "admin", "admin", NOW, "test")
        server = HttpServer(create_app(Services(db=db, clock=clock, config=lambda: config)),
                            config.api)  # fmt: skip
        await server.start()
        headers = {"Authorization": f"Bearer {token}"}
        base = f"http://127.0.0.1:{server.port}"
        try:
            async with aiohttp.ClientSession(headers=headers) as s:
                body = {"name": "c", "type": "automated", "settings": {"external_list": "erp"}}
                async with s.post(base + "/campaigns", json=body) as r:
                    doc = await r.json(content_type=None)
                    assert r.status == 422, doc
                    assert "no external list named 'erp'; the config defines: crm" in str(doc)
                body["settings"] = {"external_list": "crm"}
                async with s.post(base + "/campaigns", json=body) as r:
                    assert r.status in (200, 201), await r.text()
                async with s.patch(base + "/campaigns/c",
                                   json={"settings": {"external_list": "nope"}}) as r:  # fmt: skip
                    assert r.status == 422
                async with s.post(base + "/campaigns/c/start") as r:
                    assert r.status == 200, await r.text()
                ExternalSync(config, clock).round(db)
                async with s.get(base + "/campaigns/c/why") as r:
                    doc = await r.json(content_type=None)
                assert r.status == 200 and doc["dialing"] is False, doc
                [ext] = [b for b in doc["blockers"] if b["reason"] == "external_list"]
                assert "the database has no table 'kontakte'" in ext["text"], doc
        finally:
            await server.stop()
            db.close()

    asyncio.run(scenario())
