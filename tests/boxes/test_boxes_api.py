"""`GET /boxes`, `POST /boxes/{id}/drain` and `/resume` over real HTTP (#27): lines, heartbeat
age, version and state; drain audited and refused to tokens without the admin scope; an unknown
box 404 with what to do; `dialbox_box_up{box}` in /metrics."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp

from appliance.api.context import Services
from appliance.api.server import HttpServer, create_app
from appliance.clock import ManualClock
from appliance.config.models import ApiSettings, DialboxConfig
from appliance.metrics import Metrics
from appliance.store import open_database
from appliance.store.boxes import get_box, heartbeat, register
from appliance.store.db import Database
from appliance.store.tokens import create_token
from tests.daemon.process import free_port

START = dt.datetime(2026, 3, 2, 7, 0, tzinfo=dt.UTC).timestamp()

Call = Callable[..., Awaitable[tuple[int, Any]]]


@asynccontextmanager
async def served(
    tmp_path: Path,
) -> AsyncIterator[tuple[Database, ManualClock, Any, Call, dict[str, str]]]:
    db = open_database(tmp_path / "d.db")
    clock = ManualClock(START)
    config = DialboxConfig(
        database=tmp_path / "d.db", api=ApiSettings(port=free_port()), box={"id": "alpha"}
    )  # type: ignore[arg-type]
    tokens = {
        scope: create_token(db, scope, scope, START, "test")  # type: ignore[arg-type]
        for scope in ("admin", "crm")
    }
    engine = SimpleNamespace(box_id="alpha", draining=False)
    metrics = Metrics(db, now=clock.now, box_silence=10.0)
    services = Services(db=db, clock=clock, config=lambda: config, engine=engine, metrics=metrics)
    server = HttpServer(create_app(services), config.api)
    await server.start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        async with aiohttp.ClientSession() as session:

            async def call(
                method: str, path: str, body: Any = None, secret: str = tokens["admin"]
            ) -> tuple[int, Any]:
                headers = {"Authorization": f"Bearer {secret}"}
                async with session.request(method, base + path, json=body, headers=headers) as r:
                    text = await r.text()
                    if text.startswith(("{", "[")):
                        return r.status, json.loads(text)
                    return r.status, text

            yield db, clock, engine, call, tokens
    finally:
        await server.stop()
        db.close()


def test_boxes_listed_drained_and_resumed(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with served(tmp_path) as (db, clock, engine, call, tokens):
            lines = [{"name": "gsm0", "up": True, "busy": False, "campaign": None}]
            register(db, "alpha", "0.1.0", clock.now(), lines)
            register(db, "beta", "0.1.0", clock.now(), [])
            clock.advance(4)
            heartbeat(db, "alpha", clock.now(), 30.0, lines)
            clock.advance(8)  # beta silent 12 s: more than two heartbeats (5 s)
            status, boxes = await call("GET", "/boxes")
            assert status == 200, boxes
            by_id = {b["id"]: b for b in boxes}
            assert by_id["alpha"]["state"] == "up" and by_id["alpha"]["this_box"]
            assert by_id["alpha"]["heartbeat_age_seconds"] == 8.0
            assert by_id["alpha"]["lines"] == lines and by_id["alpha"]["lines_up"] == 1
            assert by_id["alpha"]["version"] == "0.1.0"
            assert by_id["alpha"]["heartbeat_at"].endswith("Z")
            assert by_id["beta"]["state"] == "silent" and not by_id["beta"]["this_box"]

            # /metrics: alpha up, beta down
            status, text = await call("GET", "/metrics")
            assert 'dialbox_box_up{box="alpha"} 1.0' in text
            assert 'dialbox_box_up{box="beta"} 0.0' in text

            # a CRM token may not drain a box: nothing changes
            status, refused = await call("POST", "/boxes/alpha/drain", secret=tokens["crm"])
            assert status == 403, refused
            row = get_box(db, "alpha")
            assert row is not None and not row.draining

            status, other = await call("POST", "/boxes/beta/drain")
            assert status == 200 and other["draining"]
            assert not engine.draining  # another box: it hears it at its heartbeat
            row = get_box(db, "beta")
            assert row is not None and row.draining
            status, drained = await call("POST", "/boxes/alpha/drain")
            assert status == 200 and drained["draining"], drained
            assert engine.draining  # this box: at once
            status, resumed = await call("POST", "/boxes/alpha/resume")
            assert status == 200 and not resumed["draining"] and not engine.draining
            audited = [
                (str(a), str(t))
                for a, t in db.conn.execute(
                    "SELECT action, target FROM audit WHERE action LIKE 'box.%' ORDER BY id"
                )
            ]
            assert audited == [
                ("box.drain", "beta"), ("box.drain", "alpha"), ("box.resume", "alpha")
            ]  # fmt: skip

            # an unknown box: 404 saying where the boxes are listed; nothing audited
            status, problem = await call("POST", "/boxes/nobody/drain")
            assert status == 404 and "GET /boxes" in problem["detail"], problem
            assert db.scalar("SELECT count(*) FROM audit WHERE target = 'nobody'") == 0

    asyncio.run(scenario())
