"""The console's inbound screens (#23) need a box with an inbound campaign and its missed calls:
`inbound_box` is the fixed box of conftest.py (two lines down, campaign `spring`, a DNC number,
two agents) with an inbound campaign `hotline` answering on gsm0 and five missed calls at fixed
times. The live queue — callers waiting, calls ringing in — exists only while a running engine
answers calls; `QueueApi` serves the real API in a thread of this process, over a Unix socket
as the daemon does, with the engine's inbound snapshot given by the test."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.api.engineview import EngineView, Inbound
from tests.daemon.process import free_port
from tests.tui.conftest import DNC_NUMBER, Box, fixed_box

# Monday 2026-01-05, in UTC: shown as 01-05 HH:MM (the tests that show them run in UTC)
T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC).timestamp()
OPEN_CALLER = "+12125550111"
LONG_CALLER = "private-caller-" + "x" * 60  # not a number: no number to call back


def add_inbound(db_path: Path) -> dict[str, int]:
    """Campaign `hotline` (inbound, stopped, on gsm0, callbacks from `spring`) and its missed
    calls: a caller who hung up in the queue (twice), one withheld, one whose number is on the
    DNC list, one whose caller ID is no number, and one dismissed already."""
    from appliance.domain import CampaignType
    from appliance.store import open_database
    from appliance.store.campaigns import create_campaign
    from appliance.store.inbound import dismiss_missed, record_missed

    db = open_database(db_path)
    try:
        hotline = create_campaign(db, "hotline", CampaignType.INBOUND, "US", {
            "answer_lines": ["gsm0"], "callback_campaign": "spring", "queue_max_wait": 90,
            "windows": "mon-fri 08:00-18:00"}, T0, "test")  # fmt: skip
        ids = {
            "open": record_missed(db, hotline, "gsm0", OPEN_CALLER, "hung_up_in_queue", T0,
                                  waited=42).id,
            "withheld": record_missed(db, hotline, "gsm0", "", "hung_up_ringing", T0 + 60).id,
            "dnc": record_missed(db, hotline, "gsm0", DNC_NUMBER, "overflow", T0 + 120,
                                 waited=90).id,
            "long": record_missed(db, hotline, "gsm0", LONG_CALLER, "closed", T0 + 180).id,
            "gone": record_missed(db, hotline, "gsm0", "+13125550122", "closed", T0 + 240).id,
        }  # fmt: skip
        record_missed(db, hotline, "gsm0", OPEN_CALLER, "hung_up_in_queue", T0 + 300, waited=12)
        dismiss_missed(db, ids["gone"], T0 + 400, "cli:test")
    finally:
        db.close()
    return ids


def inbound_box(tmp: Path) -> tuple[Box, dict[str, int]]:
    box = fixed_box(tmp)
    return box, add_inbound(tmp / "state" / "dialbox.db")


class QueueApi:
    """The API (appliance.api.server) on `tmp/api.sock`, in a thread with its own loop, over a
    database `seed` fills; `engine.inbound.snap` is what the queue shows."""

    def __init__(self, tmp: Path, seed: Callable[[Any], None], now: float) -> None:
        from appliance.engine.inboundview import InboundSnapshot

        self.tmp, self.seed, self.now = tmp, seed, now
        self.socket = str(tmp / "api.sock")
        self.engine = EngineView(Inbound(InboundSnapshot(at=now)))
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._failed: BaseException | None = None

    def __enter__(self) -> QueueApi:
        self._thread.start()
        self._ready.wait(30)
        if self._failed is not None:
            raise self._failed
        return self

    def __exit__(self, *exc: object) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    def _run(self) -> None:
        try:
            self._loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported to the test
            self._failed = exc
            self._ready.set()

    async def _serve(self) -> None:
        from appliance.api.context import Services
        from appliance.api.server import HttpServer, create_app
        from appliance.clock import ManualClock
        from appliance.config.models import ApiSettings, DialboxConfig
        from appliance.store import open_database

        db = open_database(self.tmp / "d.db")
        self.seed(db)
        config = DialboxConfig(database=self.tmp / "d.db", region="US",
                               api=ApiSettings(port=free_port(), socket=Path(self.socket)))  # fmt: skip
        services = Services(db=db, clock=ManualClock(self.now), config=lambda: config,
                            engine=self.engine)  # fmt: skip
        server = HttpServer(create_app(services), config.api)
        await server.start()
        self._stop = asyncio.Event()
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await server.stop()
            db.close()
