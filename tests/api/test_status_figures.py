"""`GET /status`, `GET /campaigns` and `/metrics` over real HTTP read the figures #28 keeps:
contacts by state as they are now (migration 0014), the scanned ones (abandon rates, the last
hour's outcomes) from one snapshot with its age (`figures_as_of`, `figures_age_seconds`),
recomputed in a worker thread when stale and waited for when too old to show. Hostile: a
wrong token, an unknown campaign, the console and a scraper asking at once."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from appliance.api.context import Services
from appliance.api.server import HttpServer, create_app
from appliance.clock import ManualClock
from appliance.config.models import ApiSettings, DialboxConfig
from appliance.domain import CampaignType, Channel, ContactState, Outcome, Summary
from appliance.importing.importer import import_file
from appliance.metrics import Metrics
from appliance.store import counts, open_database
from appliance.store.attempts import Completion, Lease, complete, lease
from appliance.store.campaigns import CampaignRow, create_campaign
from appliance.store.db import Database
from appliance.store.figures import TTL, Figures
from appliance.store.tokens import create_token
from tests.daemon.process import free_port

NOW = 1_781_107_200.0


@asynccontextmanager
async def served(tmp_path: Path) -> AsyncIterator[tuple[Database, ManualClock, Services, Any]]:
    path = tmp_path / "d.db"
    db = open_database(path)
    config = DialboxConfig(database=path, api=ApiSettings(port=free_port()))
    token = create_token(db, "crm", "admin", NOW, "test")
    clock = ManualClock(NOW)
    figures = Figures.for_file(db)  # scanned on a read-only connection in a worker thread
    metrics = Metrics(db, now=clock.now, figures=figures)
    services = Services(db=db, clock=clock, config=lambda: config, metrics=metrics,
                        figures=figures)  # fmt: skip
    server = HttpServer(create_app(services), config.api)
    await server.start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        async with aiohttp.ClientSession() as session:

            async def get(path: str, secret: str = token) -> tuple[int, Any]:
                async with session.get(
                    base + path, headers={"Authorization": f"Bearer {secret}"}
                ) as r:
                    text = await r.text()
                    if r.content_type == "text/plain":
                        return r.status, text
                    return r.status, await r.json(content_type=None)

            yield db, clock, services, get
    finally:
        await server.stop()
        figures.close()
        db.close()


def _call(db: Database, campaign: CampaignRow, now: float, outcome: Outcome) -> None:
    contact = db.scalar(
        "SELECT id FROM contacts WHERE campaign_id = ? AND state = 'Pending' LIMIT 1",
        (campaign.id,),
    )
    got = lease(db, int(str(contact)), 1, Channel.VOICE, now)
    assert isinstance(got, Lease)
    state = ContactState.CONNECTED if outcome is Outcome.CONNECTED else ContactState.NOT_CONNECTED
    complete(db, got, Completion(outcome, state, Summary.NO_SUCCESS, answered_at=now + 5,
                                 dialed_at=now + 1), now + 30)  # fmt: skip


def test_status_campaigns_and_metrics_read_the_kept_figures_with_their_age(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with served(tmp_path) as (db, clock, services, get):
            spring = create_campaign(db, "spring", CampaignType.AGENT, "US", {}, NOW, "t")
            rows = "".join(f"{2125550100 + i}\n" for i in range(20)).encode()
            import_file(db, spring, io.BytesIO(rows), region="US", mappings={}, now=NOW,
                        actor="t", source="f.csv", rejects_out=io.StringIO())  # fmt: skip
            _call(db, spring, NOW - 600, Outcome.CONNECTED)
            _call(db, spring, NOW - 500, Outcome.ABANDONED)

            status, doc = await get("/status")
            assert status == 200, doc
            (row,) = doc["campaigns"]
            assert row["contacts"] == 20
            assert row["by_state"] == {"Connected": 1, "Not Connected": 1, "Pending": 18}
            assert row["abandon"] == {"24h": 0.5, "30d": 0.5}
            assert doc["outcomes_last_hour"] == {"Connected": 1, "Abandoned": 1}
            assert doc["figures_as_of"] == "2026-06-10T16:00:00.000Z"
            assert doc["figures_age_seconds"] == 0.0

            # another call: the contacts' counts change at once, the scanned figures when the
            # snapshot is next computed; the answer says how old they are
            _call(db, spring, NOW - 400, Outcome.ABANDONED)
            clock.advance(2.0)
            status, doc = await get("/status")
            (row,) = doc["campaigns"]
            assert row["by_state"] == {"Connected": 1, "Not Connected": 2, "Pending": 17}
            assert row["abandon"]["24h"] == 0.5 and doc["figures_age_seconds"] == 2.0

            # stale: served as it is while the next is computed in the background
            clock.advance(TTL)
            status, doc = await get("/status")
            assert doc["figures_age_seconds"] == 2.0 + TTL
            fresh = await services.figures.refresh(clock.now())  # the one that request began
            assert fresh.as_of == NOW + 2.0 + TTL
            status, doc = await get("/status")
            assert doc["campaigns"][0]["abandon"]["24h"] == round(2 / 3, 4)
            assert doc["figures_age_seconds"] == 0.0

            # /campaigns and /campaigns/{name}: the same kept counts
            status, listed = await get("/campaigns")
            assert status == 200
            assert listed[0]["contacts"] == {
                "total": 20,
                "by_state": {"Connected": 1, "Not Connected": 2, "Pending": 17},
            }
            status, one = await get("/campaigns/spring")
            assert one["contacts"] == listed[0]["contacts"]
            # /metrics: the same figures, and their age
            status, text = await get("/metrics")
            assert status == 200
            assert 'dialbox_contacts{campaign="spring",state="Not Connected"} 2.0' in text
            assert "dialbox_figures_age_seconds 0.0" in text
            assert counts.drift(db) == []

    asyncio.run(scenario())


def test_figures_too_old_to_show_are_computed_before_the_answer(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with served(tmp_path) as (db, clock, _services, get):
            spring = create_campaign(db, "spring", CampaignType.AGENT, "US", {}, NOW, "t")
            rows = "".join(f"{2125550100 + i}\n" for i in range(4)).encode()
            import_file(db, spring, io.BytesIO(rows), region="US", mappings={}, now=NOW,
                        actor="t", source="f.csv", rejects_out=io.StringIO())  # fmt: skip
            status, doc = await get("/status")
            assert doc["campaigns"][0]["abandon"]["24h"] == 0.0
            _call(db, spring, NOW + 10, Outcome.ABANDONED)
            clock.advance(3600.0)  # nobody asked for an hour: that snapshot is not shown
            status, doc = await get("/status")
            assert status == 200 and doc["figures_age_seconds"] == 0.0
            assert doc["campaigns"][0]["abandon"]["24h"] == 1.0
            # the console and a scraper at once: one computation, the same figures
            clock.advance(100.0)
            (_, a), (_, b) = await asyncio.gather(get("/status"), get("/status"))
            assert a["figures_as_of"] == b["figures_as_of"] == "2026-06-10T17:01:40.000Z"

    asyncio.run(scenario())


def test_hostile_requests_get_4xx_not_figures(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with served(tmp_path) as (_db, _clock, _services, get):
            status, doc = await get("/status", "not-a-token")
            assert status == 401 and "campaigns" not in doc
            status, doc = await get("/campaigns", "")
            assert status == 401
            status, doc = await get("/campaigns/nope")
            assert status == 404 and "create it" in doc["detail"]

    asyncio.run(scenario())


def test_why_counts_the_contacts_at_most_every_few_seconds_and_says_when(tmp_path: Path) -> None:
    from appliance.store.campaigns import update_campaign

    async def scenario() -> None:
        async with served(tmp_path) as (db, clock, _services, get):
            spring = create_campaign(db, "spring", CampaignType.AGENT, "US", {}, NOW, "t")
            rows = "".join(f"{2125550100 + i}\n" for i in range(6)).encode()
            import_file(db, spring, io.BytesIO(rows), region="US", mappings={}, now=NOW,
                        actor="t", source="f.csv", rejects_out=io.StringIO())  # fmt: skip
            status, first = await get("/campaigns/spring/why")
            assert status == 200, first
            assert first["counts_as_of"] == "2026-06-10T16:00:00.000Z"
            assert first["counts_age_seconds"] == 0.0
            clock.advance(2.0)
            status, again = await get("/campaigns/spring/why")
            assert again["counts_age_seconds"] == 2.0 and again["at"] != first["at"]
            assert again["counts"] == first["counts"] and sum(first["counts"].values()) == 6
            # the campaign changed: counted again at once
            update_campaign(db, spring, {"filter": "bp1 = 'x'"}, clock.now(), "t")
            status, changed = await get("/campaigns/spring/why")
            assert changed["counts_age_seconds"] == 0.0
            clock.advance(TTL)
            status, later = await get("/campaigns/spring/why")
            assert later["counts_age_seconds"] == 0.0
            status, doc = await get("/campaigns/nope/why")
            assert status == 404 and "known campaigns: spring" in doc["detail"]

    asyncio.run(scenario())


def test_kept_answers_change_with_the_database_whoever_writes(tmp_path: Path) -> None:
    # #28: /campaigns, /status's campaigns and /metrics' per-campaign text are kept until the
    # database changes (store/memo.py). A write by another process (a `dialbox` command), by
    # another connection of this one, or by the daemon's own connection shows in the very
    # next answer; with nothing written, the answers are served again, not rebuilt.
    import subprocess
    import sys

    async def scenario() -> None:
        async with served(tmp_path) as (db, _clock, services, get):
            spring = create_campaign(db, "spring", CampaignType.AGENT, "US", {}, NOW, "t")
            rows = "".join(f"{2125550100 + i}\n" for i in range(5)).encode()
            import_file(db, spring, io.BytesIO(rows), region="US", mappings={}, now=NOW,
                        actor="t", source="f.csv", rejects_out=io.StringIO())  # fmt: skip
            _, first = await get("/campaigns")
            _, status = await get("/status")
            _, text = await get("/metrics")
            misses = services.memo.misses
            assert (await get("/campaigns"))[1] == first
            assert (await get("/status"))[1]["campaigns"] == status["campaigns"]
            assert services.memo.misses == misses  # served again, not rebuilt

            # another process: a campaign paused from the command line's own connection
            subprocess.run(
                [sys.executable, "-c", "import apsw, sys; c = apsw.Connection(sys.argv[1]);"
                 " c.execute(\"UPDATE campaigns SET status = 'paused'\")", str(db.path)],
                check=True,
            )  # fmt: skip
            _, listed = await get("/campaigns")
            assert listed[0]["status"] == "paused"
            _, doc = await get("/status")
            assert doc["campaigns"][0]["status"] == "paused"

            # another connection in this process: a contact added
            other = Database(db.path)
            with other.transaction():
                other.conn.execute(
                    "INSERT INTO contacts(campaign_id, dedup_key, phone1, e164_1, state,"
                    " created_at, updated_at) VALUES (?, 'x', '2125559999', '+12125559999',"
                    " 'Pending', 0, 0)",
                    (spring.id,),
                )
            other.close()
            _, listed = await get("/campaigns")
            assert listed[0]["contacts"]["total"] == 6
            _, text = await get("/metrics")
            assert 'dialbox_contacts{campaign="spring",state="Pending"} 6.0' in text

            # the daemon's own connection: a call ends
            _call(db, spring, NOW - 60, Outcome.CONNECTED)
            _, doc = await get("/status")
            assert doc["campaigns"][0]["by_state"] == {"Connected": 1, "Pending": 5}
            _, listed = await get("/campaigns")
            assert listed[0]["contacts"]["by_state"] == {"Connected": 1, "Pending": 5}

    asyncio.run(scenario())
