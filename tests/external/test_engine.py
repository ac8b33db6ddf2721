"""The dial engine in process with an external list over a real PostgreSQL (#26): the component's
round (in its worker thread) marks the rows, the engine dials one on its line, the result goes
back to the customer's row, and stopping releases the row not dialed."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import yaml

from appliance.clock import ManualClock
from appliance.config.models import DialboxConfig
from appliance.engine.dialer import Engine
from appliance.engine.extsync import ExternalListsComponent
from appliance.engine.linepool import LinePool
from appliance.engine.storeplanner import StorePlanner
from appliance.store import open_database
from tests.drivers.drivers_fakes import run
from tests.engine.test_engine_direct import NOW, FakeLine
from tests.external.conftest import PASSWORD, Customer, list_config
from tests.pgserver import Postgres
from tests.scheduler.dbfixtures import add_campaign


def test_engine_dials_a_marked_row_writes_it_back_and_stop_releases_the_rest(
    tmp_path: Path, pg: Postgres, customer: Customer
) -> None:
    customer.add(1, 2, "c")
    secret = tmp_path / "pw"
    secret.write_text(PASSWORD)
    raw = yaml.safe_load(
        f"database: {tmp_path}/d.db\ntimezone: America/New_York\n"
        "lines: [{name: l1, kind: gsm, device: /dev/fake-l1}]\n" + list_config(pg, customer, secret)
    )
    config = DialboxConfig.model_validate(raw)
    db = open_database(config.database)
    cid = add_campaign(db, "c", json.dumps({"external_list": "crm"}))
    db.conn.execute("UPDATE campaigns SET type = 'automated' WHERE id = ?", (cid,))
    clock = ManualClock(NOW)
    lines: dict[str, FakeLine] = {}

    def make(cfg: Any) -> FakeLine:
        lines[cfg.name] = FakeLine(cfg.name)
        return lines[cfg.name]

    pool = LinePool(config, make, db=db, clock=clock)
    engine = Engine(config, db, clock, pool, StorePlanner(config, db, clock))
    component = ExternalListsComponent(config, db, clock, drained=pool.release)

    async def main() -> None:
        line = lines["l1"]
        await line.open()
        assert engine.round() == 0  # nothing held yet: nothing to dial
        await asyncio.to_thread(component._round)
        assert customer.states("c") == {1: 3, 2: 3}
        assert engine.round() == 1
        assert await line.dialing() == "+12125550101"
        clock.advance(5)
        await line.answer()
        clock.advance(20)
        line.far_end_hangs_up()
        await asyncio.gather(*(c.task for c in list(engine.calls.values())))
        clock.advance(1)
        await asyncio.to_thread(component._round)
        assert customer.row(1) == (1, 0, "", 1)  # Successful, Connected, 1 attempt
        # stop: after the drain, the row held but not dialed goes back to NotUsed
        stopping = asyncio.Event()
        stopping.set()
        pool.release.set()
        await component.run(stopping)

    run(main())
    assert customer.states("c") == {1: 1, 2: 0}
    assert [r[0] for r in customer.sql("SELECT state FROM changes WHERE id = 2 ORDER BY seq")] == [
        "3",
        "0",
    ]
    db.close()
