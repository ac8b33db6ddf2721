"""Staged imports (issue #17 item 3): an import does not starve the dial loop's writes, and a
file still lands whole or not at all — a crash while staging leaves nothing, a crash while
publishing is rolled forward at the next open."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import apsw
import pytest

from appliance.domain import CampaignType, Channel
from appliance.importing.importer import import_file, rejects_file, staging_dir
from appliance.importing.report import read_rejects
from appliance.store import Database, open_database
from appliance.store.attempts import Lease, lease
from appliance.store.campaigns import CampaignRow, create_campaign

NOW = 1_767_225_600.0
AREAS = ("212", "312", "415", "206", "617", "305", "713", "907")
# How the daemon imports uploads and hot-folder files.
DAEMON_IMPORT: dict[str, object] = {"staged": True}


def numbers(count: int, first: int = 0) -> bytes:
    return "".join(
        f"({AREAS[n % len(AREAS)]}) {200 + n // 10000 % 800:03d}-{n % 10000:04d},,,,,Name {n}\n"
        for n in range(first, first + count)
    ).encode()


@pytest.fixture()
def db(tmp_path: Path) -> Database:
    # SQLite only: staging is SQLite's (a stage file beside the database, published in
    # chunks); on PostgreSQL an import is one transaction (store/imports.py)
    return open_database(tmp_path / "d.db")


@pytest.fixture()
def campaign(db: Database) -> CampaignRow:
    return create_campaign(db, "Spring", CampaignType.AUTOMATED, "US", {}, NOW, "test")


def test_dial_writes_go_on_while_a_big_import_runs(
    tmp_path: Path, db: Database, campaign: CampaignRow
) -> None:
    import_file(db, campaign, io.BytesIO(numbers(300)), region="US", mappings={}, now=NOW,
                actor="t", source="first")  # fmt: skip
    ids = [int(i) for (i,) in db.conn.execute("SELECT id FROM contacts ORDER BY id")]
    big = tmp_path / "big.csv"
    big.write_bytes(numbers(60_000, first=1000))
    failures: list[BaseException] = []

    def run_import() -> None:
        other = Database(db.path)
        try:
            import_file(other, campaign, big, region="US", mappings={}, now=NOW, actor="t",
                        source="big", worker=False, **DAEMON_IMPORT)  # type: ignore[arg-type]  # fmt: skip
        except BaseException as exc:
            failures.append(exc)
        finally:
            other.close()

    importer = threading.Thread(target=run_import)
    busy = 0
    longest = 0.0
    during = 0  # dial writes that completed while the import was still running
    importer.start()
    for contact_id in ids:
        started = time.monotonic()
        try:
            assert isinstance(lease(db, contact_id, 1, Channel.VOICE, NOW), Lease)
        except apsw.BusyError:
            busy += 1
        longest = max(longest, time.monotonic() - started)
        if importer.is_alive():
            during += 1
    importer.join()
    print(f"longest dial write during the import: {longest * 1000:.1f} ms")  # a figure, not a test
    assert not failures, failures
    assert busy == 0
    assert during > 0, "the import ended before the dial writes began; make the file bigger"
    assert db.scalar("SELECT count(*) FROM contacts") == 60_300


def test_a_reject_report_is_capped_in_the_report_and_whole_in_its_file(
    db: Database, campaign: CampaignRow
) -> None:
    data = numbers(100) + b"".join(b"not a number %d,,,,,x\n" % n for n in range(2500))
    report = import_file(db, campaign, io.BytesIO(data), region="US", mappings={}, now=NOW,
                         actor="t", source="up", **DAEMON_IMPORT)  # type: ignore[arg-type]  # fmt: skip
    document = report.as_dict()
    assert document["imported"] == 100
    assert document["rejected"] == 2500
    assert len(document["rejects"]) == 1000
    assert document["rejects_omitted"] == 1500
    assert sum(document["rejects_by_reason"].values()) == 2500
    kept = read_rejects(rejects_file(db, report.import_id).read_text(encoding="utf-8"))
    assert [r.line for r in kept] == list(range(101, 2601))


def _crash_script(db_path: Path, data: Path, patch: str) -> str:
    return textwrap.dedent(
        f"""
        import os
        from appliance.importing import importer
        from appliance.store import imports, open_database
        from appliance.store.campaigns import get_campaign
        {patch}
        db = open_database({str(db_path)!r})
        importer.import_file(db, get_campaign(db, "Spring"), {str(data)!r}, region="US",
            mappings={{}}, now=0.0, actor="t", source="f", staged=True)
        """
    )


def _dialable(db_path: Path) -> int:
    db = Database(db_path, readonly=True)
    try:
        return int(db.scalar("SELECT count(*) FROM contacts WHERE state = 'Pending'") or 0)
    finally:
        db.close()


def test_a_crash_while_staging_leaves_no_contact_and_the_next_open_cleans_up(
    tmp_path: Path, db: Database, campaign: CampaignRow
) -> None:
    data = tmp_path / "f.csv"
    data.write_bytes(numbers(20_000))  # big enough for the worker process
    patch = "imports.adopt_zones = lambda *a: os._exit(9)  # checked whole, not yet committed"
    result = subprocess.run([sys.executable, "-c", _crash_script(Path(db.path), data, patch)],
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 9, result.stderr
    assert _dialable(Path(db.path)) == 0
    assert db.scalar("SELECT status FROM imports") == "staging"
    db.close()
    db = open_database(Path(db.path))
    assert db.scalar("SELECT count(*) FROM imports") == 0
    assert db.scalar("SELECT count(*) FROM contacts") == 0
    assert list(staging_dir(db).iterdir()) == []


def test_a_crash_while_publishing_is_rolled_forward_at_the_next_open(
    tmp_path: Path, db: Database, campaign: CampaignRow
) -> None:
    data = tmp_path / "f.csv"
    data.write_bytes(numbers(20_000))
    patch = textwrap.dedent(
        """
        real, chunks = imports.retrying_busy, []
        def crashing(db):
            chunks.append(1)
            if len(chunks) == 3:  # two chunks published
                os._exit(9)
            return real(db)
        imports.retrying_busy = crashing
        imports.PUBLISH_MAX_ROWS = imports.PUBLISH_MIN_ROWS = 1000
        """
    ).replace("\n", "\n        ")
    result = subprocess.run([sys.executable, "-c", _crash_script(Path(db.path), data, patch)],
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 9, result.stderr
    assert db.scalar("SELECT status FROM imports") == "publishing"
    assert 0 < int(db.scalar("SELECT count(*) FROM contacts") or 0) < 20_000
    db.close()
    db = open_database(Path(db.path))
    assert db.scalar("SELECT status, imported FROM imports") == "done"
    assert db.scalar("SELECT imported FROM imports") == 20_000
    assert db.scalar("SELECT count(*) FROM contacts") == 20_000
    assert [p.name for p in staging_dir(db).iterdir() if p.suffix != ".csv"] == []


def test_dialbox_import_stages_its_file_while_a_daemon_holds_the_database(tmp_path: Path) -> None:
    from appliance.cli import main
    from appliance.store.db import daemon_running, hold_daemon_lock

    config = tmp_path / "dialbox.yaml"
    config.write_text(f"database: {tmp_path}/d.db\n")
    cli = ["--config", str(config)]
    assert main([*cli, "campaign", "create", "c", "--type", "automated", "--region", "US"]) == 0
    csv = tmp_path / "c.csv"
    csv.write_bytes(numbers(3000))
    assert not daemon_running(tmp_path / "d.db")
    assert main([*cli, "import", "--campaign", "c", str(csv)]) == 0  # alone: one transaction
    fd = hold_daemon_lock(tmp_path / "d.db")
    assert fd is not None
    try:
        assert daemon_running(tmp_path / "d.db")
        csv.write_bytes(numbers(3000, first=5000))
        assert main([*cli, "import", "--campaign", "c", str(csv)]) == 0
    finally:
        import os

        os.close(fd)
    assert not daemon_running(tmp_path / "d.db")
    db = Database(tmp_path / "d.db", readonly=True)
    try:
        rows = [
            tuple(r) for r in db.conn.execute("SELECT imported, published FROM imports ORDER BY id")
        ]
    finally:
        db.close()
    assert rows == [(3000, 0), (3000, 3000)]  # the second was staged and published in chunks


def test_a_background_writer_lets_the_dial_loops_next_write_go_first() -> None:
    # The dial loop writes several times in one step (a round's leases); waiting behind an
    # import chunk for each added up to half a second of a blocked loop during 20 uploads.
    from appliance.store.db import WriteGate

    gate = WriteGate()
    order: list[str] = []
    waiting = threading.Event()

    def background() -> None:
        waiting.set()
        with gate.hold(urgent=False):
            order.append("chunk")

    with gate.hold(urgent=True):
        order.append("lease 1")
        worker = threading.Thread(target=background)
        worker.start()
        waiting.wait(5)
    # the step's Python between its two writes (a few ms), in which the chunk woke up
    threading.Event().wait(0.005)
    with gate.hold(urgent=True):  # the same step's next write
        order.append("lease 2")
    worker.join(5)
    assert order == ["lease 1", "lease 2", "chunk"]
