"""DNC, per-campaign and block lists (D7): what is blocked where and until when, files, CLI."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from appliance.cli import main
from appliance.domain import Channel
from appliance.errors import DialboxError
from appliance.store import Database, dnc, open_database
from appliance.store.attempts import LeaseRefused, lease

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z
A, B, C = "+12125550101", "+12125550102", "+12125550103"


@pytest.fixture()
def db(engine_db: Database) -> Database:  # tests/store/conftest.py: each engine
    db = engine_db
    for cid, name, region in ((1, "Spring", "US"), (2, "Autumn", "GB")):
        db.conn.execute(
            "INSERT INTO campaigns(id, name, type, region, created_at, updated_at)"
            " VALUES (?, ?, 'agent', ?, 0, 0)",
            (cid, name, region),
        )
    return db


def add(
    db: Database,
    numbers: list[str],
    campaign: int | None = None,
    *,
    now: float = NOW,
    kind: str = dnc.DNC,
    reason: str | None = None,
    expires_at: float | None = None,
) -> dnc.Changes:
    return dnc.add_numbers(
        db,
        numbers,
        campaign_id=campaign,
        campaign={None: None, 1: "Spring", 2: "Autumn"}[campaign],
        now=now,
        actor="test",
        kind=kind,
        reason=reason,
        expires_at=expires_at,
    )


def test_global_list_applies_to_every_campaign_and_campaign_lists_to_their_own(
    db: Database,
) -> None:
    add(db, [A])
    add(db, [B], campaign=1)
    assert dnc.blocked_numbers(db, 1, [A, B, C], NOW) == {A, B}
    assert dnc.blocked_numbers(db, 2, [A, B, C], NOW) == {A}
    assert dnc.blocked_numbers(db, None, [A, B, C], NOW) == {A}
    assert dnc.is_blocked(db, 1, B, NOW) and not dnc.is_blocked(db, 2, B, NOW)


def test_expired_entries_do_not_count(db: Database) -> None:
    add(db, [A], expires_at=NOW + 60)
    assert dnc.is_blocked(db, 1, A, NOW + 59)
    assert not dnc.is_blocked(db, 1, A, NOW + 60)
    assert dnc.blocked_numbers(db, 1, [A], NOW + 3600) == set()
    [entry] = dnc.listings(db, A)
    assert not entry.active(NOW + 60) and entry.as_dict(NOW + 60)["active"] is False
    assert list(dnc.entries(db, NOW + 60)) == []
    assert [e.e164 for e in dnc.entries(db, NOW + 60, include_expired=True)] == [A]


def test_adding_again_never_shortens_a_listing(db: Database) -> None:
    assert add(db, [A]).added == 1
    changes = add(db, [A], expires_at=NOW + 60)
    assert (changes.added, changes.already) == (0, 1)
    assert dnc.is_blocked(db, 1, A, NOW + 86400 * 365)  # still permanent

    add(db, [B], expires_at=NOW + 600)
    add(db, [B], expires_at=NOW + 60)
    assert dnc.is_blocked(db, 1, B, NOW + 300)
    add(db, [B], expires_at=NOW + 6000)
    assert dnc.is_blocked(db, 1, B, NOW + 3000)
    add(db, [B])
    assert dnc.is_blocked(db, 1, B, NOW + 86400 * 365)


def test_an_expired_entry_added_again_counts_as_added_from_then(db: Database) -> None:
    add(db, [A], expires_at=NOW + 60)
    later = NOW + 120
    changes = add(db, [A], now=later, expires_at=later + 60)
    assert changes.added == 1
    [entry] = dnc.listings(db, A)
    assert (entry.added_at, entry.expires_at) == (later, later + 60)


def test_remove_takes_a_number_off_one_list_only(db: Database) -> None:
    add(db, [A])
    add(db, [A], campaign=1)
    removed, absent = dnc.remove_numbers(
        db, [A, C], campaign_id=None, campaign=None, now=NOW, actor="test"
    )
    assert (removed, absent) == ([A], [C])
    assert dnc.is_blocked(db, 1, A, NOW) and not dnc.is_blocked(db, 2, A, NOW)


def test_wrong_number_and_fax_go_on_the_permanent_block_list(db: Database) -> None:
    assert dnc.block_number(db, C, "WrongNumber", NOW, source="attempt:7") is True
    assert dnc.block_number(db, C, "Fax", NOW + 1) is False
    assert dnc.blocked_numbers(db, 1, [C], NOW + 10**9) == {C}
    assert dnc.blocked_numbers(db, None, [C], NOW) == {C}
    [entry] = dnc.listings(db, C)
    assert (entry.list_name, entry.kind, entry.reason, entry.expires_at) == (
        "block",
        "block",
        "WrongNumber",
        None,
    )
    assert db.scalar("SELECT actor FROM audit WHERE action = 'dnc.block'") == "daemon"
    with pytest.raises(DialboxError, match="global and permanent"):
        add(db, [A], campaign=1, kind=dnc.BLOCK)


def test_changes_are_audited(db: Database) -> None:
    add(db, [A, B], campaign=1, reason="asked by phone", expires_at=NOW + 86400)
    dnc.remove_numbers(db, [A], campaign_id=1, campaign="Spring", now=NOW, actor="test")
    rows = db.conn.execute("SELECT actor, action, target, detail FROM audit ORDER BY id").fetchall()
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("test", "dnc.add", "campaign:Spring"),
        ("test", "dnc.remove", "campaign:Spring"),
    ]
    detail = json.loads(str(rows[0][3]))
    assert detail["numbers"] == [A, B] and detail["reason"] == "asked by phone"
    assert detail["expires_at"] == "2027-01-16T08:00:00Z"


def test_lookups_cover_long_batches(db: Database) -> None:
    numbers = [f"+1212555{n:04d}" for n in range(1200)]
    listed = set(numbers[::97]) | {numbers[-1]}
    add(db, sorted(listed), campaign=2)
    assert dnc.blocked_numbers(db, 2, numbers, NOW) == listed
    assert dnc.blocked_numbers(db, 1, numbers, NOW) == set()


def test_the_lease_refuses_a_number_listed_after_import(db: Database) -> None:
    db.conn.execute(
        "INSERT INTO contacts(id, campaign_id, dedup_key, phone1, e164_1, created_at, updated_at)"
        " VALUES (1, 1, 1, '2125550101', ?, 0, 0)",
        (A,),
    )
    add(db, [A], campaign=1)
    assert lease(db, 1, 1, Channel.VOICE, NOW) == LeaseRefused(1, "dnc")


FILE = (
    "\ufeffPhone,Name\r\n"
    "2125550101,Ann\r\n"
    "\r\n"
    "# a comment\r\n"
    '"(212) 555-0102","Bob, Jr."\r\n'
    "12345,Short\r\n"
    "+44 20 7946 0958\r\n"
    "2125550101\r\n"
    "not a number\r\n"
)


def import_text(db: Database, text: str, campaign: int | None = None) -> dnc.Changes:
    stream = io.StringIO(text.removeprefix("\ufeff"), newline="")
    return dnc.import_numbers(
        db,
        stream,
        region="US",
        campaign_id=campaign,
        campaign=None,
        now=NOW,
        actor="test",
        source="file:x.csv",
    )


def test_import_lands_good_lines_and_reports_bad_ones_by_line(db: Database) -> None:
    changes = import_text(db, FILE)
    assert (changes.added, changes.already) == (3, 1)
    assert [(r.line, r.text) for r in changes.rejected] == [(6, "12345"), (9, "not a number")]
    assert "not a valid number" in changes.rejected[0].reason
    assert dnc.blocked_numbers(db, 1, [A, B, "+442079460958"], NOW) == {A, B, "+442079460958"}


def test_importing_the_same_file_twice_adds_nothing(db: Database) -> None:
    import_text(db, FILE)
    again = import_text(db, FILE)
    assert (again.added, again.already, len(again.rejected)) == (0, 4, 2)
    assert db.scalar("SELECT count(*) FROM dnc") == 3


def test_a_first_line_that_is_a_number_is_not_taken_for_a_header(db: Database) -> None:
    assert import_text(db, "2125550101\n2125550102\n").added == 2
    assert [r.line for r in import_text(db, "123\n2125550103\n").rejected] == [1]


def test_undecodable_lines_are_rejected_one_by_one(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "mixed.txt"
    path.write_bytes(b"2125550101\n\xff\xfe55\n2125550102\n")
    with path.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as stream:
        changes = dnc.import_numbers(
            db, stream, region="US", campaign_id=None, campaign=None, now=NOW, actor="t", source="x"
        )
    assert changes.added == 2
    assert [(r.line, r.reason) for r in changes.rejected] == [(2, "not UTF-8 text")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2027-01-31", "2027-02-01T05:00:00+00:00"),  # through the end of that day, New York
        ("2027-01-31T18:30", "2027-01-31T23:30:00+00:00"),
        ("2027-01-31 18:30:00Z", "2027-01-31T18:30:00+00:00"),
        ("2027-01-31T18:30+01:00", "2027-01-31T17:30:00+00:00"),
        ("30d", "2027-02-14T08:00:00+00:00"),
    ],
)
def test_expiry_text(text: str, expected: str) -> None:
    when = dnc.parse_expiry(text, "America/New_York", NOW)
    assert datetime.fromtimestamp(when, UTC).isoformat() == expected


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("2020-01-01", "in the past"),
        ("soon", "expected a date"),
        # the edges of the calendar (#18: each was an OverflowError or ValueError, a 500)
        ("9999-12-31", "out of range"),
        ("9999-12-31T23:59:59-23:59", "out of range"),
        ("0001-01-01T00:00:00+23:59", "out of range"),
    ],
)
def test_bad_expiry_text_says_what_is_accepted(text: str, words: str) -> None:
    with pytest.raises(DialboxError, match=words):
        dnc.parse_expiry(text, "UTC", NOW)


# -- the command line --------------------------------------------------------------------------


@pytest.fixture()
def config(tmp_path: Path) -> Path:
    path = tmp_path / "dialbox.yaml"
    path.write_text("database: state/d.db\nregion: US\n")
    return path


def run(config: Path, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["--config", str(config), *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_add_check_list_remove(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(config, capsys, "campaign", "create", "Spring", "--region", "GB")[0] == 0
    code, out, _ = run(
        config, capsys, "dnc", "add", "(212) 555-0101", "--reason", "asked", "--json"
    )
    assert code == 0 and json.loads(out)["numbers"] == [A]
    # a campaign's list reads national numbers in the campaign's region
    code, out, _ = run(
        config, capsys, "dnc", "add", "020 7946 0958", "--campaign", "Spring", "--json"
    )
    assert json.loads(out) == {
        "list": "campaign:Spring",
        "numbers": ["+442079460958"],
        "added": 1,
        "already_listed": 0,
    }
    run(config, capsys, "dnc", "add", "2125550103", "--block")

    code, out, _ = run(config, capsys, "dnc", "check", "+44 20 7946 0958", "--json")
    doc = json.loads(out)
    assert doc["listed"] and [e["list"] for e in doc["lists"]] == ["campaign:Spring"]
    code, out, _ = run(config, capsys, "dnc", "check", "2125550103")
    assert "block" in out and "permanent" in out
    code, out, _ = run(config, capsys, "dnc", "check", "2125550199", "--json")
    assert json.loads(out)["listed"] is False

    code, out, _ = run(config, capsys, "dnc", "list", "--json")
    assert [(e["e164"], e["list"]) for e in json.loads(out)] == [
        (A, "global"),
        ("+442079460958", "campaign:Spring"),
        (C, "block"),
    ]
    code, out, _ = run(config, capsys, "dnc", "list", "--block")
    assert C in out and A not in out

    code, out, _ = run(config, capsys, "dnc", "remove", "2125550101", "2125550102", "--json")
    assert json.loads(out) == {"list": "global", "removed": [A], "not_listed": [B]}


def test_cli_errors_change_nothing(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(config, capsys, "dnc", "add", "2125550101", "12")
    assert code == 2 and "'12'" in err and "nothing changed" in err
    code, _, err = run(config, capsys, "dnc", "add", "2125550101", "--campaign", "Nope")
    assert code == 3 and "no campaign named 'Nope'" in err
    code, _, err = run(config, capsys, "dnc", "add", "2125550101", "--block", "--expires", "30d")
    assert code == 2 and "permanent" in err
    code, _, err = run(config, capsys, "dnc", "import", "missing.csv")
    assert code == 3 and "missing.csv" in err
    code, out, _ = run(config, capsys, "dnc", "list", "--json")
    assert json.loads(out) == []


def test_cli_import_in_a_real_process(config: Path, tmp_path: Path) -> None:
    path = tmp_path / "dnc.csv"
    path.write_bytes(FILE.encode("utf-8"))
    command = [
        sys.executable,
        "-c",
        "import sys; from appliance.cli import main; sys.exit(main(sys.argv[1:]))",
        "dnc",
        "import",
        str(path),
        "--expires",
        "2099-12-31",
        "--config",
        str(config),
    ]
    done = subprocess.run([*command, "--json"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert (doc["added"], doc["already_listed"]) == (3, 1)
    assert [r["line"] for r in doc["rejected"]] == [6, 9]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 0
    assert "0 added, 4 already listed, 2 rejected" in done.stdout
    assert "line 6: '12345'" in done.stdout
    db = open_database(tmp_path / "state" / "d.db")
    assert db.scalar("SELECT count(*) FROM audit WHERE action = 'dnc.import'") == 2
