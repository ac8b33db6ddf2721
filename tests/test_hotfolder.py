"""Hot folder (SPEC D3): complete files are imported once, archived with their rejects; nothing is lost."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from appliance.cli import main
from appliance.clock import ManualClock
from appliance.domain import CampaignType
from appliance.importing.hotfolder import HotFolder
from appliance.importing.inotify import RenameWatcher
from appliance.importing.report import read_rejects
from appliance.store import Database, open_database
from appliance.store.campaigns import create_campaign

GOOD = b"Phone1,BP1\n2125550100,Ann\n2125550101,Bob\n123,Bad\n"
START = 1_767_225_600.0  # 2026-01-01T00:00:00Z


@pytest.fixture()
def db(tmp_path: Path) -> Database:
    database = open_database(tmp_path / "d.db")
    create_campaign(database, "Spring", CampaignType.AGENT, "US", {}, START, "test")
    return database


@pytest.fixture()
def clock() -> ManualClock:
    return ManualClock(START)


def folder(db: Database, root: Path, clock: ManualClock, watcher: bool = False) -> HotFolder:
    return HotFolder(db, root, clock=clock, mappings={}, settle_seconds=5.0, watcher=watcher)


def contacts(db: Database) -> int:
    return int(db.scalar("SELECT count(*) FROM contacts") or 0)


def test_file_is_imported_only_after_it_settles_then_archived_with_rejects(
    db: Database, tmp_path: Path, clock: ManualClock
) -> None:
    root = tmp_path / "hot"
    hot = folder(db, root, clock)
    (root / "Spring").mkdir()
    (root / "Spring" / "list.csv").write_bytes(GOOD)

    assert hot.scan() == []  # just appeared: not yet known to be complete
    clock.advance(4.9)
    assert hot.scan() == []
    clock.advance(0.1)
    [result] = hot.scan()

    assert result.ok and result.campaign == "Spring"
    assert (result.report.imported, result.report.rejected) == (2, 1)  # type: ignore[union-attr]
    archived = root / "archive" / "Spring" / "20260101T000005Z-list.csv"
    assert result.moved_to == archived
    assert archived.read_bytes() == GOOD
    rejects = read_rejects((archived.parent / (archived.name + ".rejects.csv")).read_text())
    assert [(r.line, r.field) for r in rejects] == [(4, "Phone1")]
    assert not (root / "Spring" / "list.csv").exists()
    assert contacts(db) == 2
    assert hot.scan() == []


def test_growing_file_is_not_read_until_stable(
    db: Database, tmp_path: Path, clock: ManualClock
) -> None:
    root = tmp_path / "hot"
    hot = folder(db, root, clock)
    path = root / "Spring" / "big.csv"
    path.parent.mkdir()
    path.write_bytes(b"Phone1,BP1\n2125550100,Ann\n")
    for n in range(4):  # the writer keeps appending, each time before the file settles
        assert hot.scan() == []
        clock.advance(4.0)
        with path.open("ab") as f:
            f.write(f"21255502{n:02d},More\n".encode())
    assert hot.scan() == []
    assert contacts(db) == 0 and path.exists()
    clock.advance(5.0)
    [result] = hot.scan()
    assert result.ok and contacts(db) == 5


def test_renamed_in_file_is_imported_at_once_and_temp_names_are_ignored(
    db: Database, tmp_path: Path, clock: ManualClock
) -> None:
    if RenameWatcher.open() is None:
        pytest.skip("inotify is Linux-only")
    root = tmp_path / "hot"
    (root / "Spring").mkdir(parents=True)
    hot = folder(db, root, clock, watcher=True)
    hot.scan()  # starts watching the campaign folder
    part = root / "Spring" / "drop.csv.part"
    part.write_bytes(GOOD)
    (root / "Spring" / ".hidden.csv").write_bytes(GOOD)
    (root / "Spring" / "x.tmp").write_bytes(GOOD)
    assert hot.scan() == []
    os.rename(part, root / "Spring" / "drop.csv")
    [result] = hot.scan()  # no settling wait: a rename is a complete file
    assert result.ok and result.source.name == "drop.csv"
    clock.advance(3600)
    assert hot.scan() == []  # dotfiles, .part and .tmp are never read
    assert (root / "Spring" / ".hidden.csv").exists() and (root / "Spring" / "x.tmp").exists()


def test_unknown_campaign_goes_to_failed_with_a_reason(
    db: Database, tmp_path: Path, clock: ManualClock
) -> None:
    root = tmp_path / "hot"
    (root / "Autumn").mkdir(parents=True)
    (root / "Autumn" / "list.csv").write_bytes(GOOD)
    (root / "stray.csv").write_bytes(GOOD)
    hot = folder(db, root, clock)
    hot.scan()
    clock.advance(5)
    results = {r.source.name: r for r in hot.scan()}

    failed = root / "failed" / "20260101T000005Z-list.csv"
    assert results["list.csv"].moved_to == failed and not results["list.csv"].ok
    assert failed.read_bytes() == GOOD
    reason = (root / "failed" / "20260101T000005Z-list.csv.reason.txt").read_text()
    assert "no campaign named 'Autumn'" in reason and "Spring" in reason
    assert "folder named after their campaign" in results["stray.csv"].reason  # type: ignore[operator]
    assert contacts(db) == 0


def test_an_import_error_moves_the_file_to_failed_and_imports_nothing(
    db: Database, tmp_path: Path, clock: ManualClock
) -> None:
    root = tmp_path / "hot"
    (root / "Spring").mkdir(parents=True)
    (root / "Spring" / "latin1.csv").write_bytes(b"2125550100,Ren\xe9e\n")
    hot = folder(db, root, clock)
    hot.scan()
    clock.advance(5)
    [result] = hot.scan()
    assert not result.ok and "not UTF-8" in (result.reason or "")
    assert (root / "failed" / "20260101T000005Z-latin1.csv.reason.txt").exists()
    assert not list((root / "archive").glob("**/*.rejects.csv"))
    assert contacts(db) == 0


def test_files_present_at_start_are_processed_and_same_names_do_not_collide(
    db: Database, tmp_path: Path, clock: ManualClock
) -> None:
    root = tmp_path / "hot"
    (root / "spring").mkdir(parents=True)  # the folder name matches case-insensitively
    (root / "spring" / "a.csv").write_bytes(GOOD)
    ticks: list[float] = []

    def sleep(seconds: float) -> None:
        ticks.append(seconds)
        clock.advance(seconds)

    first = folder(db, root, clock).scan_until_idle(sleep=sleep)
    assert [r.ok for r in first] == [True] and sum(ticks) >= 5
    (root / "spring" / "a.csv").write_bytes(GOOD)
    clock.set(START)  # same second again: the archive keeps both
    second = folder(db, root, clock).scan_until_idle(sleep=sleep)
    assert second[0].report.imported == 0  # type: ignore[union-attr]
    names = sorted(p.name for p in (root / "archive" / "Spring").iterdir())
    assert names == [
        "20260101T000005Z-a-1.csv",
        "20260101T000005Z-a-1.csv.rejects.csv",
        "20260101T000005Z-a.csv",
        "20260101T000005Z-a.csv.rejects.csv",
    ]


def test_run_loop_imports_and_stops(db: Database, tmp_path: Path, clock: ManualClock) -> None:
    root = tmp_path / "hot"
    (root / "Spring").mkdir(parents=True)
    (root / "Spring" / "a.csv").write_bytes(GOOD)
    hot = HotFolder(db, root, clock=clock, mappings={}, settle_seconds=0.0, watcher=False)
    seen = []

    async def go() -> None:
        stop = asyncio.Event()

        def on_result(result: object) -> None:
            seen.append(result)
            stop.set()

        await asyncio.wait_for(hot.run(on_result=on_result, poll_seconds=0.01, stop=stop), 10)

    asyncio.run(go())
    assert len(seen) == 1 and contacts(db) == 2


def test_cli_watch_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "dialbox.yaml"
    config.write_text("database: d.db\nimport:\n  hot_folder: hot\n  settle_seconds: 0\n")
    assert main(["--config", str(config), "campaign", "create", "Spring"]) == 0
    (tmp_path / "hot" / "Spring").mkdir(parents=True)
    (tmp_path / "hot" / "Spring" / "a.csv").write_bytes(GOOD)
    capsys.readouterr()
    assert main(["--config", str(config), "import", "--once", "--json"]) == 0
    [document] = json.loads(capsys.readouterr().out)
    assert document["status"] == "imported" and document["report"]["imported"] == 2


def test_symlinks_never_lead_the_hot_folder_out_of_its_directory(
    db: Database, tmp_path: Path, clock: ManualClock
) -> None:
    # #18: a campaign folder or a file that is a symlink to elsewhere is never read, and an
    # archive folder that leads elsewhere is never written through.
    root = tmp_path / "hot"
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "secret.csv").write_bytes(GOOD)
    hot = folder(db, root, clock)
    create_campaign(db, "Autumn", CampaignType.AGENT, "US", {}, START, "test")
    os.symlink(outside, root / "Autumn")  # the whole campaign folder
    (root / "Spring").mkdir()
    os.symlink(outside / "secret.csv", root / "Spring" / "linked.csv")  # one file
    assert hot.scan() == []  # just seen: settling
    clock.advance(60)
    results = hot.scan()
    assert contacts(db) == 0
    assert (outside / "secret.csv").read_bytes() == GOOD  # still there, untouched
    assert [(r.ok, r.source.name) for r in results] == [(False, "linked.csv")]
    assert "symbolic link" in (results[0].reason or "")
    assert results[0].moved_to.is_symlink()  # the link moved, not what it points at

    # An archive folder made a symlink to elsewhere: the import is not archived through it.
    (root / "archive").mkdir(exist_ok=True)
    os.symlink(outside, root / "archive" / "Spring")
    (root / "Spring" / "list.csv").write_bytes(GOOD)
    assert hot.scan() == []
    clock.advance(60)
    [result] = hot.scan()
    assert not result.ok and "leads out of" in (result.reason or "")
    assert sorted(p.name for p in outside.iterdir()) == ["secret.csv"]
    assert contacts(db) == 0
    # …nor through an archive or failed folder that is itself a link elsewhere.
    os.unlink(root / "archive" / "Spring")
    os.rename(root / "archive", tmp_path / "old-archive")
    os.rename(root / "failed", tmp_path / "old-failed")
    os.symlink(outside, root / "archive")
    os.symlink(outside, root / "failed")
    (root / "Spring" / "list.csv").write_bytes(GOOD)
    assert hot.scan() == []
    clock.advance(60)
    [result] = hot.scan()
    assert not result.ok and result.moved_to == root / "Spring" / "list.csv"
    assert sorted(p.name for p in outside.iterdir()) == ["secret.csv"]
    assert contacts(db) == 0


def test_the_hot_folder_reads_headers_by_name_with_the_configs_map(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """#22: the hot folder reads a file as `dialbox import` does; it has no --map, so config
    import.map places its columns, and a file with an unknown column goes to failed/ with the
    accepted names beside it."""
    config = tmp_path / "dialbox.yaml"
    config.write_text(
        "database: d.db\nimport:\n  hot_folder: hot\n  settle_seconds: 0\n"
        "  map:\n    Kundentyp: bp5\n"
    )
    assert main(["--config", str(config), "campaign", "create", "Spring"]) == 0
    spring = tmp_path / "hot" / "Spring"
    spring.mkdir(parents=True)
    (spring / "crm.csv").write_text(
        "phone,first_name,email,Kundentyp\n2125550100,Jane,jane@example.com,gold\n"
    )
    (spring / "odd.csv").write_text("phone,first_name,Filiale\n2125550101,John,WAW\n")
    capsys.readouterr()
    assert main(["--config", str(config), "import", "--once", "--json"]) == 0
    documents = {Path(d["source"]).name: d for d in json.loads(capsys.readouterr().out)}
    crm = documents["crm.csv"]
    assert crm["status"] == "imported" and crm["report"]["imported"] == 1
    assert crm["report"]["columns"][3] == {"column": "Kundentyp", "field": "bp5"}
    odd = documents["odd.csv"]
    assert odd["status"] == "failed"
    assert "line 1: unknown column 'Filiale' (column 3)" in odd["reason"]
    reason = Path(odd["moved_to"]).with_name(Path(odd["moved_to"]).name + ".reason.txt")
    assert "Accepted names" in reason.read_text()
    db = open_database(tmp_path / "d.db")
    assert db.scalar("SELECT bp5 FROM contacts") == "gold"
    assert db.scalar("SELECT count(*) FROM contacts") == 1


def test_a_failed_file_s_reason_is_there_before_the_file_is(
    db: Database, tmp_path: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whoever watches failed/ (a person, a script, the daemon's own test) and sees a file
    there must find its reason beside it: the file used to move first and its reason to be
    written after, and a reader in between found none."""
    root = tmp_path / "hot"
    (root / "Autumn").mkdir(parents=True)
    (root / "Autumn" / "list.csv").write_bytes(GOOD)
    seen: list[bool] = []
    real = os.replace

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        target = Path(dst)
        if target.parent.name == "failed" and target.suffix == ".csv":
            seen.append(target.with_name(target.name + ".reason.txt").exists())
        real(src, dst)

    monkeypatch.setattr("appliance.importing.hotfolder.os.replace", replace)
    hot = folder(db, root, clock)
    hot.scan()
    clock.advance(5)
    [result] = hot.scan()
    assert not result.ok and seen == [True]
    assert (
        "no campaign named 'Autumn'"
        in (root / "failed" / "20260101T000005Z-list.csv.reason.txt").read_text()
    )
