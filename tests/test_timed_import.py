"""The hot folder's timed import (`import.schedule`) on a ManualClock: files wait for the time,
a run missed while the box was down happens once when it is back, the DST change day."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from appliance.clock import ManualClock
from appliance.config.loader import ConfigError, parse_config
from appliance.domain import CampaignType
from appliance.importing.hotfolder import HotFolder
from appliance.importing.timed import TimedImport
from appliance.scheduler.timing import parse_daily_times
from appliance.store import Database, open_database
from appliance.store.campaigns import create_campaign

ZONE = "Europe/Warsaw"
GOOD = b"Phone1,BP1\n2125550100,Ann\n2125550101,Bob\n"
LATER = b"Phone1,BP1\n2125550102,Cat\n"


def at(*args: int) -> float:
    return dt.datetime(*args, tzinfo=ZoneInfo(ZONE)).timestamp()  # type: ignore[misc]


class Box:
    def __init__(self, tmp: Path, start: float, schedule: list[str]) -> None:
        self.tmp = tmp
        self.clock = ManualClock(start)
        self.times = parse_daily_times(schedule, ZONE)
        self.root = tmp / "hot"
        self.db = open_database(tmp / "d.db")
        create_campaign(self.db, "Spring", CampaignType.AGENT, "US", {}, start, "test")
        self.hot = self._folder()

    def _folder(self) -> HotFolder:
        timed = TimedImport(self.db, "hot-folder:test", self.times, ZONE, self.clock)
        return HotFolder(
            self.db, self.root, clock=self.clock, mappings={}, settle_seconds=5.0,
            watcher=False, schedule=timed,
        )  # fmt: skip

    def drop(self, name: str, data: bytes = GOOD) -> None:
        (self.root / "Spring").mkdir(parents=True, exist_ok=True)
        (self.root / "Spring" / name).write_bytes(data)

    def scan_at(self, when: float) -> list[str]:
        self.clock.set(when)
        return [r.source.name for r in self.hot.scan() if r.ok]

    def contacts(self) -> int:
        return int(self.db.scalar("SELECT count(*) FROM contacts") or 0)

    def restart(self) -> None:
        self.hot.close()
        self.db.close()
        self.db: Database = open_database(self.tmp / "d.db")
        self.hot = self._folder()


def test_files_wait_for_the_time_then_are_imported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    box = Box(tmp_path, at(2026, 3, 2, 5, 0), ["06:30"])
    box.drop("night.csv")
    with caplog.at_level(logging.INFO):
        for minute in range(0, 90, 5):  # 05:00 … 06:25: complete, but not the time
            assert box.scan_at(at(2026, 3, 2, 5, 0) + minute * 60) == []
    assert box.contacts() == 0
    assert "1 file(s) wait for the timed import at 2026-03-02T06:30:00+01:00" in caplog.text
    assert caplog.text.count("wait for the timed import") == 1  # said once, not every scan
    assert box.scan_at(at(2026, 3, 2, 6, 30)) == ["night.csv"]
    assert box.contacts() == 2
    # Dropped after the run: waits for tomorrow's.
    box.drop("late.csv", LATER)
    assert box.scan_at(at(2026, 3, 2, 6, 40)) == []
    assert box.scan_at(at(2026, 3, 3, 6, 29)) == []
    assert box.scan_at(at(2026, 3, 3, 6, 30)) == ["late.csv"]


def test_a_file_still_being_written_at_the_time_is_imported_once_complete(tmp_path: Path) -> None:
    box = Box(tmp_path, at(2026, 3, 2, 6, 0), ["06:30"])
    box.drop("a.csv")
    box.scan_at(at(2026, 3, 2, 6, 10))
    box.drop("b.csv", LATER)  # appears at 06:30 exactly: not settled yet
    assert box.scan_at(at(2026, 3, 2, 6, 30)) == ["a.csv"]
    assert box.scan_at(at(2026, 3, 2, 6, 30, 5)) == ["b.csv"]  # the run was still open
    assert box.contacts() == 3


def test_a_run_missed_while_the_box_was_down_happens_once_when_it_is_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    box = Box(tmp_path, at(2026, 3, 2, 5, 0), ["06:30", "mon-fri 13:00"])
    box.drop("night.csv")
    box.scan_at(at(2026, 3, 2, 5, 10))
    box.clock.set(at(2026, 3, 2, 8, 0))  # down from 05:10 to 08:00
    box.restart()
    with caplog.at_level(logging.INFO):
        assert box.scan_at(at(2026, 3, 2, 8, 0)) == []  # seen anew: settling (5 s)
        assert box.scan_at(at(2026, 3, 2, 8, 0, 5)) == ["night.csv"]
    assert "timed import of 2026-03-02T06:30:00+01:00 was missed" in caplog.text
    box.drop("more.csv", LATER)
    box.restart()  # again: the missed run is not owed twice
    assert box.scan_at(at(2026, 3, 2, 8, 5)) == []
    assert box.scan_at(at(2026, 3, 2, 13, 0)) == ["more.csv"]


def test_a_new_schedule_owes_no_run_from_before_it_existed(tmp_path: Path) -> None:
    box = Box(tmp_path, at(2026, 3, 2, 10, 0), ["06:30"])
    box.drop("x.csv")
    assert box.scan_at(at(2026, 3, 2, 10, 5)) == []
    assert box.scan_at(at(2026, 3, 3, 6, 30)) == ["x.csv"]


def test_the_run_on_the_day_the_clocks_skip_its_time(tmp_path: Path) -> None:
    # Europe/Warsaw, 2026-03-29: 02:00 → 03:00; a 02:30 run happens at 03:00.
    box = Box(tmp_path, at(2026, 3, 28, 12, 0), ["02:30"])
    box.drop("x.csv")
    assert box.scan_at(dt.datetime(2026, 3, 29, 0, 59, tzinfo=dt.UTC).timestamp()) == []
    assert box.scan_at(dt.datetime(2026, 3, 29, 1, 0, tzinfo=dt.UTC).timestamp()) == ["x.csv"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('"25:00"', "import.schedule: schedule: '25:00': at: '25:00' is not a time of day"),
        ('["06:30", "funday 07:00"]', "'funday' is not a day"),
        ('"soon"', "is not a time of day like 06:30"),
        ("[]", "give at least one time"),
    ],
)
def test_a_bad_schedule_is_refused_with_its_line(value: str, message: str) -> None:
    text = f"database: /tmp/x.db\nimport:\n  hot_folder: /tmp/h\n  schedule: {value}\n"
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "dialbox.yaml")
    assert str(caught.value).startswith("dialbox.yaml:4: import.schedule")
    assert message in str(caught.value)


def test_an_unquoted_time_is_read_as_written() -> None:
    text = "database: /tmp/x.db\nimport:\n  hot_folder: /tmp/h\n  schedule: [06:30, 13:00]\n"
    assert parse_config(text, "dialbox.yaml").import_.schedule == ("06:30", "13:00")


def test_a_schedule_without_a_hot_folder_is_refused() -> None:
    text = "database: /tmp/x.db\nimport:\n  schedule: '06:30'\n"
    with pytest.raises(
        ConfigError, match=r"dialbox\.yaml:2: import: schedule times the hot folder"
    ):
        parse_config(text, "dialbox.yaml")
