"""Scheduled campaign actions (SPEC C2) applied on a ManualClock: on time, once, after a restart,
across DST, and the hostile cases — a time in the past, actions at the same minute, a deleted
campaign, garbage times."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from appliance.clock import ManualClock
from appliance.config.models import DialboxConfig, ScheduleEntry
from appliance.domain import CampaignStatus, CampaignType
from appliance.engine.schedules import ScheduledActions, add_action
from appliance.errors import DialboxError
from appliance.store import campaigns as campaigns_store
from appliance.store import open_database
from appliance.store.db import Database
from appliance.store.schedules import list_actions

WARSAW = ZoneInfo("Europe/Warsaw")


def at(*args: int) -> float:
    """A wall-clock time in Warsaw as UTC seconds."""
    return dt.datetime(*args, tzinfo=WARSAW).timestamp()  # type: ignore[misc]


class Box:
    """A database, a config and a clock; `restart()` opens everything again as the daemon does."""

    def __init__(self, tmp: Path, start: float, **config: object) -> None:
        self.path = tmp / "s.db"
        self.clock = ManualClock(start)
        self.config = DialboxConfig(database=self.path, timezone="Europe/Warsaw", **config)  # type: ignore[arg-type]
        self.db = open_database(self.path)
        self.schedules = ScheduledActions(self.config, self.db, self.clock)

    def campaign(
        self, name: str = "spring", status: CampaignStatus = CampaignStatus.RUNNING
    ) -> campaigns_store.CampaignRow:
        row = campaigns_store.create_campaign(
            self.db, name, CampaignType.AGENT, "PL", {}, self.clock.now(), "test"
        )
        return campaigns_store.update_campaign(
            self.db, row, {"status": status}, self.clock.now(), "test"
        )

    def add(self, action: str, when: str, days: str | None = None, name: str = "spring") -> int:
        campaign = campaigns_store.get_campaign(self.db, name)
        return add_action(
            self.db, self.config, campaign, action=action, at=when, days=days,
            now=self.clock.now(), actor="test", source="api",
        ).id  # fmt: skip

    def status(self, name: str = "spring") -> CampaignStatus:
        return campaigns_store.get_campaign(self.db, name).status

    def restart(self) -> list[object]:
        self.db.close()
        self.db = open_database(self.path)
        self.schedules = ScheduledActions(self.config, self.db, self.clock)
        return list(self.schedules.start())


def test_a_due_action_is_applied_once_and_not_again_after_a_restart(tmp_path: Path) -> None:
    box = Box(tmp_path, at(2026, 3, 2, 8, 0))
    box.campaign()
    box.add("pause", "2026-03-02 12:00")
    box.clock.set(at(2026, 3, 2, 11, 59, 59))
    assert box.schedules.apply_due() == []
    assert box.status() is CampaignStatus.RUNNING
    box.clock.set(at(2026, 3, 2, 12, 0))
    applied = box.schedules.apply_due()
    assert [(a.step.due.action, a.late) for a in applied] == [("pause", False)]  # type: ignore[attr-defined]
    assert box.status() is CampaignStatus.PAUSED
    # Someone resumes it by hand: the one-off pause, already applied, must not pause it again.
    campaigns_store.update_campaign(
        box.db, campaigns_store.get_campaign(box.db, "spring"),
        {"status": CampaignStatus.RUNNING}, box.clock.now(), "test",
    )  # fmt: skip
    box.clock.advance(5)
    assert box.schedules.apply_due() == []
    assert box.restart() == []
    assert box.status() is CampaignStatus.RUNNING
    (row,) = list_actions(box.db, campaigns_store.get_campaign(box.db, "spring").id)
    assert row.next_due_at is None and row.last_due_at == at(2026, 3, 2, 12, 0)
    assert row.last_result == "running → paused"
    audit = box.db.scalar("SELECT count(*) FROM audit WHERE actor = 'schedule'")
    assert audit == 1


def test_daily_pause_and_resume_over_a_day(tmp_path: Path) -> None:
    box = Box(tmp_path, at(2026, 3, 2, 8, 0))
    box.campaign()
    box.add("pause", "12:00", "mon-fri")
    box.add("resume", "13:00", "mon-fri")
    seen = []
    for hour in range(8, 24):
        box.clock.set(at(2026, 3, 2, hour, 0, 30))
        box.schedules.apply_due()
        seen.append(box.status())
    assert seen[4] is CampaignStatus.PAUSED  # 12:00:30
    assert seen[5] is CampaignStatus.RUNNING  # 13:00:30
    assert seen.count(CampaignStatus.PAUSED) == 1
    # Saturday: nothing is due (Tuesday to Friday's were applied on the way); Monday again.
    box.clock.set(at(2026, 3, 7, 0, 0))
    assert len(box.schedules.apply_due()) == 8
    box.clock.set(at(2026, 3, 7, 12, 30))
    assert box.schedules.apply_due() == []
    assert box.status() is CampaignStatus.RUNNING
    box.clock.set(at(2026, 3, 9, 12, 30))
    box.schedules.apply_due()
    assert box.status() is CampaignStatus.PAUSED


def test_a_missed_stop_leaves_the_campaign_stopped_after_a_restart(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    box = Box(tmp_path, at(2026, 3, 2, 8, 0))
    box.campaign()
    box.add("stop", "2026-03-02 18:00")
    box.add("resume", "19:00")  # daily: a resume cannot run a stopped campaign
    box.clock.set(at(2026, 3, 3, 9, 0))  # the box was off from 17:00 to 09:00 next day
    with caplog.at_level(logging.INFO):
        applied = box.restart()
    assert box.status() is CampaignStatus.STOPPED
    assert len(applied) == 2  # stop 18:00, then resume 19:00 (no change)
    assert "schedule catch-up at start" in caplog.text
    assert "was due 2026-03-02T18:00:00+01:00 (missed)" in caplog.text
    rows = {r.action: r for r in list_actions(box.db, 1)}
    assert rows["resume"].last_result is not None and "no change" in rows["resume"].last_result


def test_a_missed_pause_and_resume_leave_it_running(tmp_path: Path) -> None:
    box = Box(tmp_path, at(2026, 3, 2, 8, 0))
    box.campaign()
    box.add("pause", "2026-03-02 12:00")
    box.add("resume", "2026-03-02 13:00")
    box.clock.set(at(2026, 3, 2, 14, 0))
    applied = box.restart()
    assert [a.step.after for a in applied] == [CampaignStatus.PAUSED, CampaignStatus.RUNNING]  # type: ignore[attr-defined]
    assert box.status() is CampaignStatus.RUNNING


def test_days_of_daily_actions_missed_are_replayed_in_order(tmp_path: Path) -> None:
    box = Box(tmp_path, at(2026, 3, 2, 8, 0))
    box.campaign()
    box.add("pause", "12:00")
    box.add("resume", "13:00")
    box.clock.set(at(2026, 3, 5, 12, 30))  # three days down, back in Thursday's lunch
    applied = box.restart()
    assert len(applied) == 7  # pause and resume Mon-Wed, pause Thu
    assert box.status() is CampaignStatus.PAUSED
    box.clock.set(at(2026, 3, 5, 13, 0))
    box.schedules.apply_due()
    assert box.status() is CampaignStatus.RUNNING


def test_a_daily_time_on_the_dst_days(tmp_path: Path) -> None:
    # Europe/Warsaw: 2026-03-29 02:00 → 03:00, 2026-10-25 03:00 → 02:00.
    box = Box(tmp_path, at(2026, 3, 27, 12, 0))
    box.campaign()
    box.add("pause", "02:30")
    box.add("resume", "12:00")
    due = []
    t = box.clock.now()
    while t < at(2026, 3, 31, 0, 0):
        t += 60
        box.clock.set(t)
        due += [a.step.due.at for a in box.schedules.apply_due() if a.step.due.action == "pause"]  # type: ignore[attr-defined]
    # The clocks skip 02:30 on the 29th: due when they jump, at 03:00 CEST.
    assert [dt.datetime.fromtimestamp(x, WARSAW).isoformat() for x in due] == [
        "2026-03-28T02:30:00+01:00", "2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00",
    ]  # fmt: skip
    box.clock.set(at(2026, 10, 24, 12, 0))
    box.schedules.apply_due()
    due = []
    t = box.clock.now()
    while t < at(2026, 10, 26, 12, 0):
        t += 60
        box.clock.set(t)
        due += [a.step.due.at for a in box.schedules.apply_due() if a.step.due.action == "pause"]  # type: ignore[attr-defined]
    # 02:30 happens twice on the 25th: the pause is due once, at the first.
    assert [dt.datetime.fromtimestamp(x, WARSAW).isoformat() for x in due] == [
        "2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00",
    ]  # fmt: skip


def test_a_one_off_in_the_past_is_refused(tmp_path: Path) -> None:
    box = Box(tmp_path, at(2026, 3, 2, 8, 0))
    box.campaign()
    with pytest.raises(DialboxError, match=r"in the past .*give a time still to come"):
        box.add("stop", "2026-03-02 07:59")
    with pytest.raises(DialboxError, match="more than 10 years away"):
        box.add("stop", "2199-01-01 00:00")
    assert list_actions(box.db, 1) == []


@pytest.mark.parametrize(
    ("when", "days", "message"),
    [
        ("tomorrow", None, "is not a time"),
        ("25:00", None, "not a time of day"),
        ("2026-02-30 09:00", None, "not a valid date"),
        ("12:00", "funday", "not a day"),
        ("2026-03-03 09:00", "daily", "goes with a time of day"),
        ("9999-01-01T00:00Z", None, "not a year"),
        ("\x00", None, "is not a time"),
    ],
)
def test_garbage_times_are_refused_with_what_to_write(
    tmp_path: Path, when: str, days: str | None, message: str
) -> None:
    box = Box(tmp_path, at(2026, 3, 2, 8, 0))
    box.campaign()
    with pytest.raises(DialboxError, match=message):
        box.add("pause", when, days)
    with pytest.raises(DialboxError, match="not an action"):
        box.add("explode", "12:00")


def test_actions_at_the_same_minute_apply_in_the_defined_order(tmp_path: Path) -> None:
    box = Box(tmp_path, at(2026, 3, 2, 8, 0))
    box.campaign(status=CampaignStatus.STOPPED)
    box.add("stop", "2026-03-02 12:00")
    box.add("pause", "2026-03-02 12:00")
    box.add("start", "2026-03-02 12:00")
    box.add("resume", "12:00")
    box.clock.set(at(2026, 3, 2, 12, 0))
    applied = box.schedules.apply_due()
    assert [str(a.step.due.action) for a in applied] == ["start", "resume", "pause", "stop"]  # type: ignore[attr-defined]
    assert box.status() is CampaignStatus.STOPPED


def test_pause_and_resume_at_the_same_minute_leave_it_paused(tmp_path: Path) -> None:
    box = Box(tmp_path, at(2026, 3, 2, 8, 0))
    box.campaign()
    box.add("resume", "2026-03-02 12:00")
    box.add("pause", "2026-03-02 12:00")
    box.clock.set(at(2026, 3, 2, 12, 0, 1))
    box.schedules.apply_due()
    assert box.status() is CampaignStatus.PAUSED  # pause after resume: the safer state wins


def test_a_deleted_campaign_takes_its_pending_actions_with_it(tmp_path: Path) -> None:
    box = Box(tmp_path, at(2026, 3, 2, 8, 0))
    campaign = box.campaign(status=CampaignStatus.STOPPED)
    box.campaign("autumn")
    box.add("start", "2026-03-02 12:00")
    box.add("stop", "2026-03-02 12:00", name="autumn")
    campaigns_store.delete_campaign(box.db, campaign, box.clock.now(), "test")
    assert box.db.scalar("SELECT count(*) FROM scheduled_actions") == 1
    box.clock.set(at(2026, 3, 2, 12, 0))
    applied = box.schedules.apply_due()
    assert [a.campaign for a in applied] == ["autumn"]  # type: ignore[attr-defined]
    assert box.status("autumn") is CampaignStatus.STOPPED


def test_config_entries_are_kept_in_step_with_the_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    entries = (
        ScheduleEntry(campaign="spring", action="pause", at="12:00", days="mon-fri"),
        ScheduleEntry(campaign="spring", action="start", at="2026-03-01 09:00"),  # past
        ScheduleEntry(campaign="later", action="stop", at="18:00"),
    )
    box = Box(tmp_path, at(2026, 3, 2, 8, 0), schedules=entries)
    box.campaign()
    with caplog.at_level(logging.INFO):
        box.restart()
    rows = list_actions(box.db, 1)
    assert [(r.action, r.source, r.next_due_at is None) for r in rows] == [
        ("pause", "config", False), ("start", "config", True),
    ]  # fmt: skip
    assert rows[1].last_result is not None and "not applied" in rows[1].last_result
    assert "no campaign named 'later'" in caplog.text
    box.restart()  # again: nothing added twice
    assert len(list_actions(box.db, 1)) == 2
    # The file loses the pause: its row goes; the campaign `later` appears: its entry lands.
    box.config = box.config.model_copy(update={"schedules": entries[1:]})
    box.campaign("later")
    box.restart()
    assert [r.action for r in list_actions(box.db, 1)] == ["start"]
    assert [r.action for r in list_actions(box.db, 2)] == ["stop"]


def test_an_action_added_by_another_process_is_picked_up(tmp_path: Path) -> None:
    box = Box(tmp_path, at(2026, 3, 2, 8, 0))
    box.campaign()
    other: Database = open_database(box.path)  # the CLI, while the daemon runs
    add_action(
        other, box.config, campaigns_store.get_campaign(other, "spring"), action="stop",
        at="2026-03-02T09:00:00Z", now=box.clock.now(), actor="cli:test", source="cli",
    )  # fmt: skip
    box.clock.set(at(2026, 3, 2, 10, 0))  # 09:00Z is 10:00 in Warsaw
    assert [str(a.step.due.action) for a in box.schedules.apply_due()] == ["stop"]  # type: ignore[attr-defined]
    assert box.status() is CampaignStatus.STOPPED
    other.close()


def test_a_campaign_holds_at_most_max_actions(tmp_path: Path) -> None:
    from appliance.engine.schedules import MAX_ACTIONS

    box = Box(tmp_path, at(2026, 3, 2, 8, 0))
    box.campaign()
    for _ in range(MAX_ACTIONS):
        box.add("pause", "12:00")
    with pytest.raises(DialboxError, match="delete some"):
        box.add("pause", "12:00")
    box.clock.set(at(2026, 3, 2, 12, 0))
    assert len(box.schedules.apply_due()) == MAX_ACTIONS  # applied together, one transaction
    assert box.status() is CampaignStatus.PAUSED
