"""Calls ringing in on GSM modems (SPEC C14, issue #23): the real daemon in one process, the
emulated Quectel modems over real ptys (`+CLIP`, `ATA`, the caller's keys as `+QTONEDET`), the
emulator's journal the far end's record of what the caller did and when."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from appliance.config.models import (
    ApiSettings,
    CustomCompliance,
    DialboxConfig,
    EngineSettings,
    LineConfig,
)
from appliance.daemon.wiring import build_daemon
from appliance.domain import CampaignStatus, CampaignType, Outcome
from appliance.drivers.emulators.gsm import journal
from appliance.drivers.emulators.gsm.farm import Farm
from appliance.drivers.emulators.gsm.script import parse
from appliance.store.campaigns import create_campaign, get_campaign, update_campaign
from tests.daemon.process import free_port
from tests.drivers.drivers_fakes import run
from tests.engine.inbound_rig import FLOWS, Rig

CALLER = "+12125550123"
SCALE = 0.05  # a scripted 20 s is 1 real second


@contextlib.asynccontextmanager
async def gsm_rig(tmp: Path) -> AsyncIterator[tuple[Rig, Farm]]:
    farm = Farm(2, tmp / "modems", "quectel", 1, parse({"time_scale": SCALE}),
                journal=tmp / "journal.jsonl")  # fmt: skip
    await farm.start(control=False)
    flows = tmp / "flows.yaml"
    flows.write_text(FLOWS)
    config = DialboxConfig(
        database=tmp / "dialbox.db", region="US", timezone="UTC", compliance_profile="custom",
        compliance=CustomCompliance(calling_hours="daily 00:00-24:00"),
        lines=tuple(LineConfig(name=f"gsm{i}", device=str(tmp / "modems" / f"gsm{i}"))
                    for i in range(2)),
        engine=EngineSettings(tick=0.05, drain_timeout=1.0), api=ApiSettings(port=free_port()),
        flows=(str(flows),),
    )  # fmt: skip
    daemon = build_daemon(None, config)
    now = daemon.clock.now()
    create_campaign(daemon.db, "cb", CampaignType.AGENT, "US", {}, now, "test")
    create_campaign(daemon.db, "in", CampaignType.INBOUND, "US",
                    {"answer_lines": ["gsm0", "gsm1"], "flow": "menu"}, now, "test")  # fmt: skip
    update_campaign(daemon.db, get_campaign(daemon.db, "in"),
                    {"status": CampaignStatus.RUNNING}, now, "test")  # fmt: skip
    task = asyncio.create_task(daemon.run())
    try:
        while daemon.engine is None or not daemon.engine.ready.is_set():
            assert not task.done(), task
            await asyncio.sleep(0.02)  # polls the daemon's start, as test_agent_calls does
        r = Rig(daemon, None, 2)  # type: ignore[arg-type]
        await r.until(lambda: daemon.engine.pool.up_count() == 2, "the modems up")
        yield r, farm
    finally:
        daemon.request_stop("test over")
        await asyncio.wait_for(task, 30)
        await farm.stop()


def test_gsm_callers_opt_out_call_twice_at_once_and_a_modem_lost_mid_flow(tmp_path: Path) -> None:
    async def main() -> None:
        async with gsm_rig(tmp_path) as (r, farm):
            # 9 then 1: the number is on the DNC list after the caller's "1" and before the end
            farm.control(f"0 incoming {CALLER} keys=9@4,1@8 hangup=400 ring=200")
            await r.until(lambda: len(r.done()) == 1, "the opt-out recorded")
            [call] = r.done()
            added = r.one("SELECT added_at FROM dnc WHERE e164 = ?", (CALLER,))
            far = journal.read(tmp_path / "journal.jsonl")
            [confirm] = [e for e in far if e["event"] == "key" and e["key"] == "1"]
            [end] = [e for e in far if e["event"] == "end" and e["number"] == CALLER]
            assert confirm["t"] <= added + 0.05 and added < end["t"], (confirm, added, end)
            assert end["by"] == "host" and call["outcome"] == int(Outcome.CONNECTED)
            assert call["line"] == "gsm0" and call["number"] == CALLER

            # the same caller on both modems at once: two calls of one caller, both served
            other = "+13125550177"
            farm.control(f"0 incoming {other} keys=2@4 hangup=60 ring=200")
            farm.control(f"1 incoming {other} keys=2@5 hangup=60 ring=200")
            await r.until(lambda: len(r.done()) == 3, "both calls recorded")
            both = [a for a in r.done() if a["number"] == other]
            assert {a["line"] for a in both} == {"gsm0", "gsm1"}
            assert len({a["contact_id"] for a in both}) == 1

            # the modem unplugged mid-flow: an error recorded, and it answers again once back
            farm.control(f"1 incoming {CALLER} ring=200")  # presses nothing: the menu waits
            await r.until(lambda: r.engine.inbound.snapshot().in_flow != (), "the call up")
            farm.control("1 unplug")
            await r.until(lambda: len(r.done()) == 4, "the lost call recorded")
            lost = max(r.done(), key=lambda a: a["id"])
            assert lost["outcome"] == int(Outcome.ERROR_OCCURRED), lost
            assert not r.engine.pool.slot("gsm1").busy and r.missed() == []
            farm.control("1 replug")
            await r.until(lambda: r.engine.pool.slot("gsm1").up, "gsm1 back", timeout=40)
            farm.control(f"1 incoming {other} keys=2@4 hangup=60 ring=200")
            await r.until(lambda: len(r.done()) == 5, "answered again")
            again = max(r.done(), key=lambda a: a["id"])
            assert again["line"] == "gsm1" and again["outcome"] == int(Outcome.CONNECTED)

    run(main(), timeout=120)
