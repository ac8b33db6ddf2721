"""The engine on answered calls whose line carries the sound (#24, engine/callaudio.py, SPEC O9,
H7): each answering-machine verdict gives its outcome, evidence, hang-up and machine action; the
consent prompt comes before the recording, which lasts to the call's end and never holds the
attempt up; prompts are said from the library; a line without sound goes as before. The
engine, the store and the planner are real; the line, detector, recorder and library are the
fakes of tests/engine/audio_fakes.py; audio time is frames."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from appliance.clock import ManualClock
from appliance.config.models import DialboxConfig
from appliance.domain import Channel, Outcome
from appliance.drivers.audio import LoopbackChannel, frames_of
from appliance.engine import callaudio
from appliance.engine.callaudio import AudioParts
from appliance.engine.dialer import Engine
from appliance.engine.linepool import LinePool
from appliance.engine.planner import Pick
from appliance.engine.storeplanner import StorePlanner
from appliance.metrics import Metrics
from appliance.scheduler.strategy import parse_strategy, to_dict
from appliance.store import open_database
from appliance.store.selection import abandon_counts
from appliance.store.strategies import save_strategy
from tests.drivers.drivers_fakes import run
from tests.engine.audio_fakes import (
    Beep,
    Detector,
    FarEnd,
    Library,
    Recorder,
    SoundLine,
    tone,
)
from tests.engine.test_engine_direct import NOW, NY1
from tests.scheduler.dbfixtures import add_campaign, add_contact

MESSAGE = tone(1000, 30)  # the campaign's message, 0.6 s
CONSENT = tone(2000, 20)  # "this call is recorded"
VOICEMAIL = tone(3000, 25)  # the message left on machines
AMD = {"budget": 2000}
NOT_RECORDED = "consent prompt consent is not in the prompt library (or not readable): not recorded"


class Rig:
    """One campaign with one contact on one line `l1`, the engine given `parts`."""

    def __init__(
        self,
        tmp: Path,
        settings: dict[str, Any],
        parts: AudioParts,
        *,
        kind: str = "automated",
        sound: bool = True,
        playback: bool = True,
    ) -> None:
        self.db = open_database(tmp / "d.db")
        strategy = {"name": "s", "on": {"Connected": "close", "default": "retry 20s"}}
        save_strategy(self.db, "s", to_dict(parse_strategy(strategy)), 0.0, "test")
        cid = add_campaign(self.db, "c", json.dumps({"strategy": "s", **settings}))
        self.db.conn.execute("UPDATE campaigns SET type = ? WHERE id = ?", (kind, cid))
        self.campaign_id = cid
        add_contact(self.db, cid, [NY1])
        self.config = DialboxConfig.model_validate({
            "database": self.db.path, "timezone": "America/New_York",
            "lines": [{"name": "l1", "kind": "gsm", "device": "/dev/fake-l1"}],
        })  # fmt: skip
        self.clock = ManualClock(NOW)
        self.metrics = Metrics()
        self.line = SoundLine("l1", sound=sound, playback=playback)
        self.pool = LinePool(self.config, lambda _: self.line, db=self.db, clock=self.clock)
        self.engine = Engine(self.config, self.db, self.clock, self.pool,
                             StorePlanner(self.config, self.db, self.clock), self.metrics,
                             audio=parts)  # fmt: skip
        self.far: FarEnd | None = None

    async def answered(self, sound: bytes = b"") -> FarEnd | None:
        """Dial the contact; the callee answers with `sound` (then silence) on the line."""
        await self.line.open()
        assert self.engine.round() == 1
        assert await self.line.dialing() == NY1
        channel = self.line.pick_up()
        self.far = FarEnd(channel, sound) if channel is not None else None
        return self.far

    async def finished(self) -> None:
        await asyncio.gather(*(call.task for call in list(self.engine.calls.values())))

    async def held_then_hung_up(self) -> None:
        """The message said, the callee hangs up; the attempt is recorded."""
        await self.line.held()
        self.line.far_end_hangs_up()
        await self.finished()

    def attempt(self) -> dict[str, Any]:
        cols = ("outcome", "status", "answered_at", "evidence")
        (row,) = list(self.db.conn.execute(f"SELECT {', '.join(cols)} FROM attempts"))
        got = dict(zip(cols, row, strict=True))
        got["evidence"] = json.loads(got["evidence"]) if got["evidence"] else []
        return got

    def sample(self, name: str, **labels: str) -> float:
        text = self.metrics.render().decode()
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                    return float(s.value)
        return 0.0


def _evidence_has(evidence: list[str], text: str) -> bool:
    return any(text in e for e in evidence)


# ---------------------------------------------------------------------- verdicts
def test_a_machine_is_hung_up_on_as_answering_machine_with_the_verdict_s_evidence(
    tmp_path: Path,
) -> None:
    detector = Detector("machine", frames=40)
    rig = Rig(tmp_path, {"amd": AMD, "message": "msg"},
              AudioParts(detect=detector, prompts=Library(msg=MESSAGE)))  # fmt: skip

    async def main() -> None:
        far = await rig.answered()
        await rig.finished()
        assert far is not None and not far.heard_back(MESSAGE)  # no message to a machine

    run(main())
    got = rig.attempt()
    assert got["outcome"] == int(Outcome.ANSWERING_MACHINE) and got["status"] == "done"
    assert "amd machine at 0.80 s" in got["evidence"]
    assert "fake machine: 40 frames" in got["evidence"]
    assert rig.line.hangups == 1 and rig.line.plays == []
    assert detector.settings[0].budget == 2000  # an automated campaign: its own budget
    assert rig.sample("dialbox_amd_verdicts_total", campaign="c", kind="machine") == 1
    assert rig.sample("dialbox_amd_decision_seconds_count", kind="machine") == 1
    assert rig.sample("dialbox_amd_decision_seconds_sum", kind="machine") == pytest.approx(0.8)


def test_a_machine_gets_the_message_after_the_beep_then_is_hung_up(tmp_path: Path) -> None:
    beep = Beep(frames=15)
    rig = Rig(tmp_path, {"amd": AMD, "machine_action": "message", "machine_message": "vm"},
              AudioParts(detect=Detector("machine"), wait_for_beep=beep,
                         prompts=Library(vm=VOICEMAIL)))  # fmt: skip

    async def main() -> None:
        far = await rig.answered()
        await rig.finished()
        assert far is not None and far.heard_back(VOICEMAIL)
        # said after the beep: the frames before it were silence
        said = b"".join(far.said)
        assert beep.at is not None and said.index(VOICEMAIL) >= (beep.at - 1) * 320

    run(main())
    got = rig.attempt()
    assert got["outcome"] == int(Outcome.ANSWERING_MACHINE)
    assert "message left" in got["evidence"] and "said vm" in got["evidence"]
    assert rig.line.hangups == 1


def test_no_beep_no_message_still_answering_machine(tmp_path: Path) -> None:
    rig = Rig(tmp_path, {"amd": AMD, "machine_action": "message", "machine_message": "vm"},
              AudioParts(detect=Detector("machine"), wait_for_beep=Beep(heard=False),
                         prompts=Library(vm=VOICEMAIL)))  # fmt: skip

    async def main() -> None:
        far = await rig.answered()
        await rig.finished()
        assert far is not None and not far.heard_back(VOICEMAIL)

    run(main())
    got = rig.attempt()
    assert got["outcome"] == int(Outcome.ANSWERING_MACHINE)
    assert _evidence_has(got["evidence"], "no message left: no beep")
    assert "message left" not in got["evidence"] and rig.line.hangups == 1


def test_machine_action_live_carries_on_as_a_person_with_the_evidence_kept(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path, {"amd": AMD, "machine_action": "live", "message": "msg"},
              AudioParts(detect=Detector("machine"), prompts=Library(msg=MESSAGE)))  # fmt: skip

    async def main() -> None:
        far = await rig.answered()
        await rig.held_then_hung_up()
        assert far is not None and far.heard_back(MESSAGE)

    run(main())
    got = rig.attempt()
    assert got["outcome"] == int(Outcome.CONNECTED)
    assert "amd machine at 0.80 s" in got["evidence"]
    assert "machine handled as a person (machine_action live)" in got["evidence"]
    assert "said msg" in got["evidence"] and rig.line.plays == []


@pytest.mark.parametrize(
    ("kind", "outcome"), [("fax", Outcome.FAX), ("modem", Outcome.INCOMPATIBLE)]
)
def test_fax_and_modem_tones_end_the_call_with_their_outcome(
    tmp_path: Path, kind: str, outcome: Outcome
) -> None:
    rig = Rig(tmp_path, {"amd": AMD, "message": "msg"},
              AudioParts(detect=Detector(kind, frames=60), prompts=Library(msg=MESSAGE)))  # fmt: skip

    async def main() -> None:
        far = await rig.answered()
        await rig.finished()
        assert far is not None and not far.heard_back(MESSAGE)

    run(main())
    got = rig.attempt()
    assert got["outcome"] == int(outcome)
    assert f"amd {kind} at 1.20 s" in got["evidence"] and rig.line.hangups == 1


@pytest.mark.parametrize("kind", ["person", "undecided"])
def test_a_person_or_no_decision_gets_the_message_at_once_said_from_the_library(
    tmp_path: Path, kind: str
) -> None:
    rig = Rig(tmp_path, {"amd": AMD, "message": "msg"},
              AudioParts(detect=Detector(kind, frames=30), prompts=Library(msg=MESSAGE)))  # fmt: skip

    async def main() -> None:
        far = await rig.answered()
        await rig.held_then_hung_up()
        assert far is not None and far.heard_back(MESSAGE)
        # at once: the message begins within a few frames of the verdict (after 30 frames; the
        # library's pcm is read off the loop, while this far end sends a frame per loop turn),
        # not at the detection's 2 s budget (100 frames)
        said = b"".join(far.said)
        assert said.index(MESSAGE) <= 40 * 320

    run(main())
    got = rig.attempt()
    assert got["outcome"] == int(Outcome.CONNECTED)
    assert f"amd {kind} at 0.60 s" in got["evidence"] and "said msg" in got["evidence"]
    assert rig.line.plays == [] and rig.line.hangups == 0  # the callee hung up


def test_a_message_not_in_the_library_is_played_by_the_module(tmp_path: Path) -> None:
    rig = Rig(tmp_path, {"amd": AMD, "message": "stored"},
              AudioParts(detect=Detector("person"), prompts=Library()))  # fmt: skip

    async def main() -> None:
        await rig.answered()
        await rig.held_then_hung_up()

    run(main())
    assert rig.line.plays == ["stored"] and "played stored" in rig.attempt()["evidence"]


def test_the_far_end_hanging_up_during_detection_is_a_far_end_hang_up(tmp_path: Path) -> None:
    detector = Detector("machine", frames=400)  # would decide after 8 s: the callee goes first
    rig = Rig(tmp_path, {"amd": AMD, "message": "msg"},
              AudioParts(detect=detector, prompts=Library(msg=MESSAGE)))  # fmt: skip

    async def main() -> None:
        far = await rig.answered()
        assert far is not None
        while far.channel.index < 20:
            await asyncio.sleep(0)
        rig.line.far_end_hangs_up()  # the stream ends mid-detection
        await rig.finished()
        assert not far.heard_back(MESSAGE)

    run(main())
    got = rig.attempt()
    assert got["outcome"] == int(Outcome.CONNECTED)  # as without detection
    assert _evidence_has(got["evidence"], "amd hung_up at")
    assert "far end hung up" in got["evidence"]
    assert rig.line.hangups == 0 and rig.line.plays == []


def test_the_sound_ending_under_the_detector_with_the_call_up_goes_on_as_a_person(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(callaudio, "HUNG_UP_GRACE", 0.0)  # the line answers at once: still up
    rig = Rig(tmp_path, {"amd": AMD, "message": "msg"},
              AudioParts(detect=Detector("machine", frames=400), prompts=Library(msg=MESSAGE)))  # fmt: skip

    async def main() -> None:
        far = await rig.answered()
        assert far is not None
        while far.channel.index < 20:
            await asyncio.sleep(0)
        far.channel._finish()  # the audio port failed; the call itself is up
        await rig.held_then_hung_up()

    run(main())
    got = rig.attempt()
    assert got["outcome"] == int(Outcome.CONNECTED)
    assert "the call's sound ended but the call is up: handled as a person" in got["evidence"]
    assert rig.line.plays == ["msg"]  # no sound left: the module's own playback


def test_a_detector_that_fails_leaves_the_call_to_go_on_as_a_person(tmp_path: Path) -> None:
    rig = Rig(tmp_path, {"amd": AMD, "message": "msg"},
              AudioParts(detect=Detector("machine", fail=True), prompts=Library(msg=MESSAGE)))  # fmt: skip

    async def main() -> None:
        await rig.answered()
        await rig.held_then_hung_up()

    run(main())
    got = rig.attempt()
    assert got["outcome"] == int(Outcome.CONNECTED)
    assert _evidence_has(got["evidence"], "amd failed (RuntimeError('detector bug'))")
    assert "said msg" in got["evidence"]


# ---------------------------------------------------------------------- recording
def test_the_consent_prompt_is_said_before_the_recording_which_lasts_to_the_end(
    tmp_path: Path,
) -> None:
    recorder = Recorder()
    rig = Rig(tmp_path, {"record": True, "consent_prompt": "consent", "message": "msg"},
              AudioParts(recorder=recorder, prompts=Library(consent=CONSENT, msg=MESSAGE)))  # fmt: skip

    async def main() -> None:
        far = await rig.answered()
        await rig.held_then_hung_up()
        assert far is not None
        said = b"".join(far.said)
        assert said.index(CONSENT) < said.index(MESSAGE)  # consent first, then the message
        ((recording, details),) = recorder.started
        # begun once the consent prompt was said whole, not before
        assert recording.started_at >= len(frames_of(CONSENT))
        recorded_said = b"".join(f.said for f in recording.frames)
        assert CONSENT not in recorded_said and MESSAGE in recorded_said
        assert details == {"attempt_id": 1, "campaign": "c", "line": "l1", "number": NY1,
                           "agent": None, "direction": "outbound"}  # fmt: skip
        await asyncio.sleep(0)  # the background stop runs
        while rig.engine.audio.stopping:
            await asyncio.sleep(0)
        assert recording.stopped and recording.finished

    run(main())
    evidence = rig.attempt()["evidence"]
    assert evidence.index("said consent prompt consent") < evidence.index("recording")
    assert rig.attempt()["outcome"] == int(Outcome.CONNECTED)


def test_a_consent_prompt_missing_from_the_library_means_no_recording_the_call_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = Recorder()
    rig = Rig(tmp_path, {"record": True, "consent_prompt": "consent", "message": "msg"},
              AudioParts(recorder=recorder, prompts=Library(msg=MESSAGE)))  # fmt: skip

    async def main() -> None:
        far = await rig.answered()
        await rig.held_then_hung_up()
        assert far is not None and far.heard_back(MESSAGE)

    with caplog.at_level(logging.WARNING, logger="appliance.engine.callaudio"):
        run(main())
    got = rig.attempt()
    assert got["outcome"] == int(Outcome.CONNECTED)
    assert NOT_RECORDED in got["evidence"]
    assert recorder.started == []
    assert "consent prompt consent is not in the prompt library" in caplog.text


def test_without_consent_prompt_the_recording_runs_beside_the_detector_from_the_answer(
    tmp_path: Path,
) -> None:
    recorder = Recorder()
    rig = Rig(tmp_path, {"record": True, "amd": AMD},
              AudioParts(detect=Detector("machine", frames=40), recorder=recorder))  # fmt: skip

    async def main() -> None:
        await rig.answered(tone(500, 40))  # the greeting the detector heard
        await rig.finished()
        ((recording, _),) = recorder.started
        assert recording.started_at == 0
        # from the answer (its listener joins on its task's first turn: frame 0 or 1)
        assert recording.frames[0].index <= 1
        greeting = [f.heard for f in recording.frames if f.index < 40]
        assert len(greeting) >= 39 and set(greeting) == {tone(500, 1)}
        while rig.engine.audio.stopping:
            await asyncio.sleep(0)
        assert recording.stopped

    run(main())
    assert rig.attempt()["outcome"] == int(Outcome.ANSWERING_MACHINE)


@pytest.mark.parametrize("mode", ["raise", "hang"])
def test_a_recording_whose_stop_fails_or_hangs_never_holds_the_attempt_up(
    tmp_path: Path, mode: str
) -> None:
    recorder = Recorder(mode=mode)
    rig = Rig(tmp_path, {"record": True, "message": "msg"},
              AudioParts(recorder=recorder, prompts=Library(msg=MESSAGE)))  # fmt: skip

    async def main() -> None:
        await rig.answered()
        await rig.held_then_hung_up()  # returns: the attempt is recorded
        assert rig.attempt()["status"] == "done"
        ((recording, _),) = recorder.started
        assert recording.stopped and not recording.finished
        if mode == "hang":
            assert rig.engine.audio.stopping == 1
            await rig.engine.audio.drain(0.0)  # shutdown: left behind, cancelled
        while rig.engine.audio.stopping:
            await asyncio.sleep(0)
        assert rig.engine.audio.stopping == 0

    run(main())
    assert rig.attempt()["outcome"] == int(Outcome.CONNECTED)


def test_a_recorder_that_cannot_start_costs_the_call_nothing(tmp_path: Path) -> None:
    rig = Rig(tmp_path, {"record": True, "message": "msg"},
              AudioParts(recorder=Recorder(fail_start=True), prompts=Library(msg=MESSAGE)))  # fmt: skip

    async def main() -> None:
        await rig.answered()
        await rig.held_then_hung_up()

    run(main())
    got = rig.attempt()
    assert got["outcome"] == int(Outcome.CONNECTED) and "said msg" in got["evidence"]
    assert "recording not started: recordings directory not writable" in got["evidence"]


def test_frames_a_stalled_recorder_lost_are_counted(tmp_path: Path) -> None:
    recorder = Recorder(stalled=True)
    rig = Rig(tmp_path, {"record": True, "amd": AMD},
              AudioParts(detect=Detector("machine", frames=600), recorder=recorder))  # fmt: skip

    async def main() -> None:
        far = await rig.answered()
        await rig.finished()
        assert far is not None and far.channel.stats.dropped > 0
        assert rig.sample("dialbox_audio_frames_total", line="l1") == far.channel.stats.frames
        assert (rig.sample("dialbox_audio_frames_dropped_total", line="l1", cause="listener")
                == far.channel.stats.dropped)  # fmt: skip

    run(main())
    assert rig.attempt()["outcome"] == int(Outcome.ANSWERING_MACHINE)


# ---------------------------------------------------------------------- no sound
def test_a_line_without_sound_goes_as_today_and_says_what_it_could_not_do(
    tmp_path: Path,
) -> None:
    detector, recorder = Detector("machine"), Recorder()
    rig = Rig(tmp_path, {"record": True, "amd": AMD, "message": "msg"},
              AudioParts(detect=detector, recorder=recorder, prompts=Library(msg=MESSAGE)),
              sound=False)  # fmt: skip

    async def main() -> None:
        assert await rig.answered() is None
        await rig.held_then_hung_up()

    run(main())
    got = rig.attempt()
    assert got["outcome"] == int(Outcome.CONNECTED)
    assert rig.line.plays == ["msg"] and "played msg" in got["evidence"]
    assert (
        "line l1 has no audio path: not recorded, no answering-machine detection"
        in (got["evidence"])
    )
    assert detector.calls == 0 and recorder.started == []


def test_a_campaign_without_audio_settings_on_a_line_with_sound_goes_as_today(
    tmp_path: Path,
) -> None:
    detector, recorder = Detector("machine"), Recorder()
    rig = Rig(tmp_path, {"message": "msg"}, AudioParts(detect=detector, recorder=recorder),
              )  # fmt: skip

    async def main() -> None:
        await rig.answered()
        await rig.held_then_hung_up()

    run(main())
    got = rig.attempt()
    assert got["outcome"] == int(Outcome.CONNECTED) and rig.line.plays == ["msg"]
    assert detector.calls == 0 and recorder.started == []
    assert not _evidence_has(got["evidence"], "amd") and "recording" not in got["evidence"]


# ---------------------------------------------------------------------- agent campaigns
def test_an_agent_campaign_s_machine_is_no_live_answer_and_no_abandon(tmp_path: Path) -> None:
    detector = Detector("machine", frames=40)
    rig = Rig(tmp_path, {"amd": AMD}, AudioParts(detect=detector), kind="agent")

    async def main() -> None:
        await rig.line.open()
        # an agent campaign's dial comes from the pacer; here the engine's own start is used
        campaign = rig.engine.planner.running()[0]
        pick = Pick(1, 1, NY1, Channel.VOICE)
        slot = rig.pool.slots[0]
        assert rig.engine.start(pick, campaign, slot, rig.clock.now(), None) is not None
        await rig.line.dialing()
        channel = rig.line.pick_up()
        assert channel is not None
        FarEnd(channel)
        await rig.finished()

    run(main())
    got = rig.attempt()
    assert got["outcome"] == int(Outcome.ANSWERING_MACHINE)  # not Abandoned: no agent owed
    # the 2-second rule: the detection ends within the connect timeout less the reserve
    assert detector.settings[0].budget == 1500
    # the abandon ledger: no answered call (a machine is no live answer), no abandon
    assert abandon_counts(rig.db, rig.campaign_id, NOW + 1, 86400.0) == (0, 0)


def test_an_agent_campaign_s_person_with_no_agent_is_abandoned_and_hears_the_message(
    tmp_path: Path,
) -> None:
    info = tone(4000, 10)
    rig = Rig(tmp_path, {"amd": AMD},
              AudioParts(detect=Detector("person", frames=30),
                         prompts=Library(**{"info-no-agent": info})), kind="agent")  # fmt: skip

    async def main() -> None:
        await rig.line.open()
        campaign = rig.engine.planner.running()[0]
        pick = Pick(1, 1, NY1, Channel.VOICE)
        assert rig.engine.start(pick, campaign, rig.pool.slots[0], rig.clock.now(), None)
        await rig.line.dialing()
        channel = rig.line.pick_up()
        assert channel is not None
        far = FarEnd(channel)
        await rig.finished()
        assert far.heard_back(info)

    run(main())
    got = rig.attempt()
    assert got["outcome"] == int(Outcome.ABANDONED)
    assert _evidence_has(got["evidence"], "said info-no-agent")
    assert abandon_counts(rig.db, rig.campaign_id, NOW + 1, 86400.0) == (1, 1)


class _Desk:
    """An agents' desk with nobody to take the call: what the engine asked of it."""

    def __init__(self) -> None:
        self.within: list[float | None] = []

    def attach(self, dialer: Any) -> None:
        pass

    async def hand_over(self, *args: Any, within: float | None = None, **kw: Any) -> None:
        self.within.append(within)


def test_the_agent_gets_the_connect_time_the_detection_left(tmp_path: Path) -> None:
    # The 2-second rule counts from the answer: a person found 1.2 s after it leaves the agent
    # 0.8 s of the 2 s connect timeout (docs/audio.md).
    rig = Rig(tmp_path, {"amd": AMD}, AudioParts(detect=Detector("person", frames=60)),
              kind="agent")  # fmt: skip
    desk = _Desk()
    rig.engine.desk = rig.engine.agents.desk = desk  # type: ignore[assignment]

    async def main() -> None:
        await rig.line.open()
        campaign = rig.engine.planner.running()[0]
        pick = Pick(1, 1, NY1, Channel.VOICE)
        assert rig.engine.start(pick, campaign, rig.pool.slots[0], rig.clock.now(), None)
        await rig.line.dialing()
        channel = rig.line.pick_up()
        assert channel is not None
        FarEnd(channel)
        await rig.finished()

    run(main())
    (within,) = desk.within
    assert within is not None and 0.7 < within <= 0.8
    got = rig.attempt()
    assert got["outcome"] == int(Outcome.ABANDONED) and "amd person at 1.20 s" in got["evidence"]


def test_a_restarted_pacer_replays_answered_machines_faxes_and_modems_as_no_live_answers(
    tmp_path: Path,
) -> None:
    # Found by the audio path's detector after the answer, they have `answered_at`; the live
    # pacer counted them non-live (`AgentCalls.unanswered`), and so must the replay (#19).
    from appliance.campaigns import CampaignSettings
    from appliance.engine.pacing import Pacers

    db = open_database(tmp_path / "p.db")
    cid = add_campaign(db, "c", '{"pacing": "predictive"}')
    outcomes = [Outcome.ANSWERING_MACHINE, Outcome.FAX, Outcome.INCOMPATIBLE, Outcome.CONNECTED]
    for n, outcome in enumerate(outcomes):
        contact = add_contact(db, cid, [f"+121255500{n:02d}"])
        db.conn.execute(
            "INSERT INTO attempts(contact_id, campaign_id, attempt_no, phone_index, number,"
            " channel, status, queued_at, dialed_at, answered_at, ended_at, outcome)"
            " VALUES (?, ?, 1, 1, ?, 'voice', 'done', ?, ?, ?, ?, ?)",
            (contact, cid, f"+121255500{n:02d}", NOW + n, NOW + n, NOW + n + 5, NOW + n + 9,
             int(outcome)),
        )  # fmt: skip
    pacer = Pacers(db, 15.0).get(cid, CampaignSettings(pacing="predictive"), 0.03, NOW + 60)
    assert pacer.stats.answers == 1  # the person only
    assert abandon_counts(db, cid, NOW + 60, 86400.0) == (1, 0)


def test_a_call_flow_s_prompts_are_said_from_the_library_or_played_by_the_module(
    tmp_path: Path,
) -> None:
    from appliance.flows import load_flows

    (tmp_path / "f.yaml").write_text(
        "survey:\n  start: hello\n  nodes:\n"
        "    hello:\n      play: hello\n      next: bye\n"
        "    bye:\n      goodbye: stored-bye\n"
    )
    hello = tone(1500, 15)
    rig = Rig(tmp_path, {"flow": "survey", "record": True, "consent_prompt": "consent"},
              AudioParts(recorder=Recorder(), prompts=Library(hello=hello, consent=CONSENT)))  # fmt: skip
    rig.engine.flows = load_flows([tmp_path / "f.yaml"])

    async def main() -> None:
        far = await rig.answered()
        await rig.finished()
        assert far is not None
        said = b"".join(far.said)
        assert said.index(CONSENT) < said.index(hello)  # the consent prompt first

    run(main())
    got = rig.attempt()
    assert rig.line.plays == ["stored-bye"]  # not in the library: the module's file
    assert "said consent prompt consent" in got["evidence"] and "recording" in got["evidence"]
    assert "flow survey" in got["evidence"]


def test_a_prompt_that_is_not_pcm_is_played_by_the_module_and_the_call_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rig = Rig(tmp_path, {"message": "msg", "record": True, "consent_prompt": "consent"},
              AudioParts(recorder=Recorder(),
                         prompts=Library(msg=b"\x01\x02\x03", consent=b"")))  # fmt: skip

    async def main() -> None:
        await rig.answered()
        await rig.held_then_hung_up()

    with caplog.at_level(logging.WARNING, logger="appliance.engine.callaudio"):
        run(main())
    got = rig.attempt()
    assert got["outcome"] == int(Outcome.CONNECTED)
    assert rig.line.plays == ["msg"] and "played msg" in got["evidence"]
    assert NOT_RECORDED in got["evidence"]
    assert "prompt msg from the library is not 16-bit PCM (3 bytes)" in caplog.text


def test_a_detector_that_never_answers_is_given_up_on_and_the_call_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The detector's budget is audio time; a stream that stalls (no frame, no end) would hold
    # the call: the engine gives up on it by the wall clock. (Budget and grace shrunk to 10 ms:
    # the detector below never returns, so the guard is the only way on.)
    from appliance.campaigns import AmdSettings, CampaignSettings
    from appliance.engine.callaudio import CallAudio

    monkeypatch.setattr(callaudio, "MIN_AMD", 0.0)
    monkeypatch.setattr(callaudio, "DETECT_GRACE", 0.0)

    async def never(channel: Any, settings: Any) -> Any:
        await asyncio.Event().wait()

    async def main() -> None:
        line = SoundLine("l1")
        line.dialed.append(NY1)
        line.channel = channel = LoopbackChannel("l1")
        evidence: list[str] = []
        settings = CampaignSettings(amd=AmdSettings())
        sound = CallAudio(AudioParts(detect=never)).sound(
            line, settings, evidence, campaign="c", attempt_id=1, number=NY1, agent=None,
            direction="outbound",
        )  # fmt: skip
        assert sound is not None
        screened = await sound.screen(budget_cap=0.01)
        assert not screened.ended and channel.active
        assert "amd undecided at 0.00 s" in evidence
        assert "no verdict within 0.0 s: handled as a person" in evidence

    run(main())


def test_a_reload_gives_the_recorder_the_new_recordings_settings(tmp_path: Path) -> None:
    from appliance.config.models import RecordingSettings
    from appliance.recording.recorder import Recorder as RealRecorder

    db = open_database(tmp_path / "r.db")
    recorder = RealRecorder(db, RecordingSettings(format="flac"), tmp_path / "rec",
                            ManualClock(NOW))  # fmt: skip
    box = Rig(tmp_path, {"record": True}, AudioParts(recorder=recorder))
    assert recorder.format == "flac"
    changed = box.config.model_copy(update={"recordings": RecordingSettings(format="wav",
                                                                            retain_days=7)})  # fmt: skip
    box.engine.reload(changed)  # SIGHUP: what the daemon's reload hands every component
    assert (recorder.format, recorder.settings.retain_days) == ("wav", 7)
