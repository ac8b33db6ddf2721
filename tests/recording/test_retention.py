"""Retention (SPEC O9, #24) on a ManualClock: by age, and by the disk budget — the oldest first,
until the kept ones fit — with an alert when the budget forced deletions; the rows stay, marked
deleted, so the attempt keeps its record (the export shows it); a file already gone or one that
cannot be removed; the daemon's periodic component."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from appliance.clock import ManualClock
from appliance.config.models import RecordingSettings
from appliance.domain import Channel
from appliance.metrics import Metrics
from appliance.recording.retention import DAY, Retention, RetentionComponent
from appliance.store import Database, open_database
from appliance.store.attempts import lease
from appliance.store.campaigns import get_campaign
from appliance.store.export import ATTEMPT_COLUMNS, attempt_rows
from appliance.store.recordings import get_recording, insert_recording, kept_bytes

NOW = 1_800_000_000.0
MB = 1024 * 1024


def _recording(db: Database, root: Path, attempt: int, started: float, size: int) -> int:
    rel = f"2027/01/{attempt:02d}/{attempt}-gsm1.flac"
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_bytes(os.urandom(size))
    return insert_recording(db, attempt_id=attempt, campaign="spring", line="gsm1",
                            number="+48601234567", agent=None, direction="outbound",
                            started_at=started, duration=60.0, path=rel, format="flac",
                            bytes=size, sha256="0" * 64, status="complete")  # fmt: skip


def _audit(db: Database) -> list[tuple[str, str, dict[str, object]]]:
    return [
        (str(actor), str(target), json.loads(str(detail)))
        for actor, target, detail in db.conn.execute(
            "SELECT actor, target, detail FROM audit WHERE action = 'recording.delete' ORDER BY id"
        )
    ]


def test_recordings_older_than_retain_days_are_deleted_and_their_rows_kept(tmp_path: Path) -> None:
    db = open_database(tmp_path / "box.db")
    root = tmp_path / "rec"
    clock = ManualClock(NOW)
    metrics = Metrics()
    old = _recording(db, root, 1, NOW - 91 * DAY, 1000)
    edge = _recording(db, root, 2, NOW - 89 * DAY, 1000)
    new = _recording(db, root, 3, NOW - 3600, 1000)
    retention = Retention(db, RecordingSettings(retain_days=90), root, clock, metrics)

    report = retention.run_once()
    assert report.deleted_age == [old] and report.deleted_budget == [] and not report.alert
    assert not (root / "2027/01/01/1-gsm1.flac").exists()
    row = get_recording(db, old)
    assert row is not None and row.status == "deleted" and row.deleted_why == "age"
    assert row.deleted_at == NOW and row.sha256 == "0" * 64  # the record stays
    assert [get_recording(db, i).status for i in (edge, new)] == ["complete", "complete"]  # type: ignore[union-attr]
    assert metrics.recordings_deleted.labels("age")._value.get() == 1
    assert metrics.recordings_budget_alert._value.get() == 0
    assert _audit(db) == [("retention", str(old), {"why": "age", "attempt_id": 1, "bytes": 1000})]

    clock.advance(2 * DAY)  # now the edge one is 91 days old too
    assert retention.run_once().deleted_age == [edge]
    assert retention.run_once().deleted_age == []  # nothing twice
    assert kept_bytes(db) == 1000


def test_the_disk_budget_deletes_the_oldest_first_and_raises_an_alert(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = open_database(tmp_path / "box.db")
    root = tmp_path / "rec"
    metrics = Metrics()
    size = 400 * 1024
    # Made out of order: the oldest is the one that *started* first, not the lowest id.
    ids = {day: _recording(db, root, day, NOW - day * DAY, size) for day in (3, 5, 1, 4, 2)}
    retention = Retention(db, RecordingSettings(budget_mb=1), root, ManualClock(NOW), metrics)

    report = retention.run_once()
    # 2000 KiB against 1024: the 5-day-old goes (1600 left), the 4 (1200), the 3 (800: fits).
    assert report.deleted_budget == [ids[5], ids[4], ids[3]] and report.alert
    assert report.kept_bytes == 2 * size <= MB and kept_bytes(db) == 2 * size
    assert sorted(p.name for p in root.rglob("*.flac")) == ["1-gsm1.flac", "2-gsm1.flac"]
    assert metrics.recordings_budget_alert._value.get() == 1
    assert metrics.recordings_deleted.labels("budget")._value.get() == 3
    assert metrics.recordings_bytes._value.get() == 2 * size
    assert any("forced the deletion of 3 recordings" in r.message and "budget_mb" in r.message
               for r in caplog.records)  # fmt: skip
    assert [get_recording(db, ids[d]).deleted_why for d in (5, 4, 3)] == ["budget"] * 3  # type: ignore[union-attr]

    report = retention.run_once()  # within the budget now: no deletion, the alert clears
    assert not report.alert and metrics.recordings_budget_alert._value.get() == 0


def test_a_file_already_gone_is_marked_deleted_and_one_that_cannot_go_is_kept(
    tmp_path: Path,
) -> None:
    db = open_database(tmp_path / "box.db")
    root = tmp_path / "rec"
    gone = _recording(db, root, 1, NOW - 100 * DAY, 10)
    stuck = _recording(db, root, 2, NOW - 100 * DAY, 10)
    (root / "2027/01/01/1-gsm1.flac").unlink()
    # A directory where the file should be: unlink fails (EISDIR/EPERM), even for root.
    (root / "2027/01/02/2-gsm1.flac").unlink()
    (root / "2027/01/02/2-gsm1.flac").mkdir()
    report = Retention(db, RecordingSettings(), root, ManualClock(NOW)).run_once()
    assert report.deleted_age == [gone] and report.failed == [stuck]
    row = get_recording(db, gone)
    assert row is not None and row.status == "deleted" and row.error is not None
    assert "already gone" in row.error
    assert get_recording(db, stuck).status == "complete"  # type: ignore[union-attr]


def test_the_export_keeps_the_recording_of_an_attempt_after_retention(tmp_path: Path) -> None:
    db = open_database(tmp_path / "box.db")
    db.conn.execute(
        "INSERT INTO campaigns(id, name, type, region, created_at, updated_at)"
        " VALUES (1, 'spring', 'agent', 'PL', 0, 0)"
    )
    for cid in (1, 2):
        db.conn.execute(
            "INSERT INTO contacts(id, campaign_id, dedup_key, phone1, e164_1, created_at,"
            " updated_at) VALUES (?, 1, ?, '601234567', '+4860123456' || ?, 0, 0)",
            (cid, cid, cid),
        )
    first = lease(db, 1, 1, Channel.VOICE, NOW - 100 * DAY)
    second = lease(db, 2, 1, Channel.VOICE, NOW)
    assert not isinstance(first, type(None)) and hasattr(first, "attempt_id")
    root = tmp_path / "rec"
    old = _recording(db, root, first.attempt_id, NOW - 100 * DAY, 10)  # type: ignore[union-attr]
    Retention(db, RecordingSettings(), root, ManualClock(NOW)).run_once()
    rows = list(attempt_rows(db, get_campaign(db, "spring")))
    assert list(rows[0]) == list(ATTEMPT_COLUMNS)
    assert [(r["recording_id"], r["recording_status"], r["recording_sha256"]) for r in rows] == [
        (old, "deleted", "0" * 64),
        (None, None, None),
    ]
    assert rows[1]["attempt_id"] == second.attempt_id  # type: ignore[union-attr]


def test_the_component_runs_a_pass_at_start_then_each_period_until_the_daemon_stops(
    tmp_path: Path,
) -> None:
    db = open_database(tmp_path / "box.db")
    root = tmp_path / "rec"
    old = _recording(db, root, 1, NOW - 100 * DAY, 10)
    retention = Retention(db, RecordingSettings(), root, ManualClock(NOW))
    component = RetentionComponent(retention, period=3600)

    async def main() -> None:
        stopping = asyncio.Event()
        task = asyncio.create_task(component.run(stopping))
        await component.ready.wait()
        await asyncio.sleep(0)
        stopping.set()
        await asyncio.wait_for(task, 5)

    asyncio.run(main())
    assert retention.last is not None and retention.last.deleted_age == [old]


def test_the_daemon_runs_retention_on_its_config(tmp_path: Path) -> None:
    from appliance.config.models import ApiSettings, DialboxConfig
    from appliance.daemon.runner import Daemon
    from appliance.daemon.wiring import components

    config = DialboxConfig(database=tmp_path / "state" / "box.db", region="PL",
                           api=ApiSettings(port=18999),
                           recordings=RecordingSettings(retain_days=7, budget_mb=5))  # fmt: skip

    async def main() -> None:
        daemon = Daemon(None, config=config)
        try:
            parts = components(daemon)
            (component,) = [p for p in parts if isinstance(p, RetentionComponent)]
            retention = component.retention
            assert retention.directory == tmp_path / "state" / "recordings"  # beside the database
            assert (retention.settings.retain_days, retention.settings.budget_mb) == (7, 5)
            assert retention.metrics is daemon.metrics and retention.db is daemon.db
            component.reload(
                config.model_copy(update={"recordings": RecordingSettings(retain_days=3)})
            )
            assert retention.settings.retain_days == 3
        finally:
            daemon.db.close()

    asyncio.run(main())
