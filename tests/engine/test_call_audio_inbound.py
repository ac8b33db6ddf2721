"""An inbound campaign with `record` records the calls it answers as outgoing ones are (#24):
consent prompt first, the recording to the call's end, direction "inbound"; a line without
sound answers as before. The answered call (engine/inboundcall.py `AnsweredCall`) runs on the
real store, with no flow (straight to the queue) and no agents: the wait runs out and the box
hangs up."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from appliance.campaigns import CampaignSettings
from appliance.clock import ManualClock
from appliance.config.models import LineConfig
from appliance.domain import Outcome
from appliance.drivers.audio import frames_of
from appliance.engine.callaudio import AudioParts, CallAudio
from appliance.engine.inboundcall import AnsweredCall, Ringing
from appliance.engine.linepool import Slot
from appliance.store import open_database
from appliance.store.campaigns import get_campaign_by_id
from tests.drivers.drivers_fakes import run
from tests.engine.audio_fakes import FarEnd, Library, Recorder, SoundLine, tone
from tests.engine.test_engine_direct import NOW
from tests.scheduler.dbfixtures import add_campaign

CONSENT = tone(2000, 20)


class Host:
    """The inbound side as an answered call sees it (`CallHost`)."""

    def __init__(self, tmp: Path, audio: CallAudio) -> None:
        self.db = open_database(tmp / "d.db")
        self.clock = ManualClock(NOW)
        self.planner: Any = None
        self.desk = None
        self.metrics = None
        self.audio = audio
        self.results: list[str] = []

    def track(self, call: Any) -> None:
        pass

    def untrack(self, attempt_id: int) -> None:
        pass

    def missed(self, ring: Any, reason: str) -> None:
        self.results.append(f"missed {reason}")

    def count(self, campaign: str, result: str) -> None:
        self.results.append(result)


def _answer(tmp: Path, settings: dict[str, Any], parts: AudioParts, sound: bool = True) -> Any:
    host = Host(tmp, CallAudio(parts))
    cid = add_campaign(host.db, "in", json.dumps({"queue_max_wait": 5, **settings}))
    host.db.conn.execute("UPDATE campaigns SET type = 'inbound' WHERE id = ?", (cid,))
    campaign = get_campaign_by_id(host.db, cid)
    line = SoundLine("l1", sound=sound)
    slot = Slot(LineConfig(name="l1", kind="gsm", device="/dev/fake-l1"), line, up=True)
    ring = Ringing(slot, "+12125550199", NOW, campaign)
    call = AnsweredCall(host, ring, campaign, CampaignSettings.model_validate(settings), None)
    return host, line, call


def _attempt(host: Host) -> dict[str, Any]:
    (row,) = list(host.db.conn.execute("SELECT outcome, direction, evidence FROM attempts"))
    return {"outcome": row[0], "direction": row[1], "evidence": json.loads(row[2])}


def test_an_inbound_call_is_recorded_after_its_consent_prompt(tmp_path: Path) -> None:
    recorder = Recorder()
    host, line, call = _answer(tmp_path, {"record": True, "consent_prompt": "consent"},
                               AudioParts(recorder=recorder, prompts=Library(consent=CONSENT)))  # fmt: skip

    async def main() -> None:
        far: list[FarEnd] = []

        async def answered() -> None:  # the sound starts with the answer
            while line.channel is None:
                await asyncio.sleep(0)
            far.append(FarEnd(line.channel))

        feeder = asyncio.ensure_future(answered())
        await call.run(lambda: None)
        await feeder
        assert far[0].heard_back(CONSENT)
        ((recording, details),) = recorder.started
        assert recording.started_at >= len(frames_of(CONSENT))
        assert details["direction"] == "inbound" and details["agent"] is None
        while host.audio.stopping:
            await asyncio.sleep(0)
        assert recording.stopped

    run(main())
    got = _attempt(host)
    assert got["direction"] == "in" and got["outcome"] == int(Outcome.NO_AGENT)
    assert got["evidence"].index("said consent prompt consent") < got["evidence"].index("recording")


def test_an_inbound_call_on_a_line_without_sound_is_answered_as_before(tmp_path: Path) -> None:
    recorder = Recorder()
    host, _line, call = _answer(tmp_path, {"record": True},
                               AudioParts(recorder=recorder), sound=False)  # fmt: skip

    async def main() -> None:
        await call.run(lambda: None)

    run(main())
    got = _attempt(host)
    assert got["outcome"] == int(Outcome.NO_AGENT) and recorder.started == []
    assert "line l1 has no audio path: not recorded" in got["evidence"]
    assert host.results == ["overflow"]
