"""Contact file import (SPEC D2): good rows land, bad rows are reported with line and reason, once."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from appliance.cli import main
from appliance.config.models import ColumnMapping
from appliance.domain import CampaignType
from appliance.errors import DialboxError
from appliance.importing.importer import ImportReport, import_file
from appliance.importing.report import read_rejects
from appliance.store import Database, open_database
from appliance.store.campaigns import CampaignRow, create_campaign

NOW = 1_767_225_600.0
LONG_PHONE = "+1 (212) 555-0100 0000000000"[:28] + "9"  # 29 characters
LONG_BP = "x" * 256

# The must-show file: BOM, CRLF, a header, quoted commas, a quoted newline, and one of each
# bad row. Lines: 1 header, 2 good, 3-4 good (quoted newline), 5 too-long phone, 6 invalid
# number, 7 too-long parameter, 8 empty Phone1, 9 duplicate of line 2, 10 good, 11 blank.
MUST_SHOW = (
    "\ufeffPhone1,Phone2,Phone3,Phone4,Phone5,BP1,BP2,BP3\r\n"
    '(212) 555-0100,,,,,"Doe, Jane",ACC-1,12.50\r\n'
    '+1 415 555 0199,(646) 555-0142,,,,"Smith\r\nJohn",ACC-2,7\r\n'
    f"{LONG_PHONE},,,,,Long,ACC-3,1\r\n"
    "(212) 000-0000,,,,,Invalid,ACC-4,1\r\n"
    f"(305) 555-0123,,,,,{LONG_BP},ACC-5,1\r\n"
    ",(305) 555-0124,,,,No phone1,ACC-6,1\r\n"
    '(212) 555-0100,,,,,"Doe, Jane",ACC-1,12.50\r\n'
    "+44 20 7946 0958,,,,,London,ACC-7,3\r\n"
    "\r\n"
).encode()


@pytest.fixture()
def db(engine_db: Database) -> Database:  # tests/store/conftest.py: each engine
    return engine_db


@pytest.fixture()
def campaign(db: Database) -> CampaignRow:
    return create_campaign(db, "Spring", CampaignType.AGENT, "US", {}, NOW, "test")


def run_import(
    db: Database, campaign: CampaignRow, data: bytes, **kwargs: object
) -> tuple[dict[str, object], str]:
    out = io.StringIO()
    options: dict[str, object] = {"region": "US", "mappings": {}, "now": NOW, "actor": "test"}
    options.update(kwargs)
    report = import_file(
        db,
        campaign,
        io.BytesIO(data),
        source="upload.csv",
        rejects_out=out,
        **options,  # type: ignore[arg-type]
    )
    return report.as_dict(), out.getvalue()


def import_path(
    db: Database,
    campaign: CampaignRow,
    path: Path,
    worker: bool | None = None,
    bulk: bool | None = None,
) -> ImportReport:
    return import_file(db, campaign, path, region="US", mappings={}, now=NOW, actor="t",
                       source="f", worker=worker, bulk=bulk)  # fmt: skip


def contacts(
    db: Database, columns: str = "source_line, phone1, e164_1, bp1"
) -> list[tuple[object, ...]]:
    return [tuple(r) for r in db.conn.execute(f"SELECT {columns} FROM contacts ORDER BY id")]


def test_must_show_file_imports_every_good_row_and_reports_every_bad_one(
    db: Database, campaign: CampaignRow
) -> None:
    report, rejects_csv = run_import(db, campaign, MUST_SHOW)
    assert (report["rows"], report["imported"], report["rejected"], report["duplicates"]) == (
        8,
        3,
        4,
        1,
    )
    assert [(r["line"], r["field"]) for r in report["rejects"]] == [  # type: ignore[union-attr]
        (5, "Phone1"),
        (6, "Phone1"),
        (7, "BP1"),
        (8, "Phone1"),
    ]
    reasons = [r["reason"] for r in report["rejects"]]  # type: ignore[union-attr]
    assert reasons[0] == "longer than 28 characters (29)"
    assert "not a valid number" in reasons[1]
    assert reasons[2] == "longer than 255 characters (256)"
    assert reasons[3] == "Phone1 is mandatory and empty"
    assert contacts(db) == [
        (2, "(212) 555-0100", "+12125550100", "Doe, Jane"),
        (3, "+1 415 555 0199", "+14155550199", "Smith\r\nJohn"),
        (10, "+44 20 7946 0958", "+442079460958", "London"),
    ]
    assert [r.line for r in read_rejects(rejects_csv)] == [5, 6, 7, 8]

    again, _ = run_import(db, campaign, MUST_SHOW)
    assert (again["imported"], again["duplicates"], again["rejected"]) == (0, 4, 4)
    assert db.scalar("SELECT count(*) FROM contacts") == 3


def test_stored_contact_has_e164_zone_sets_and_parameters(
    db: Database, campaign: CampaignRow
) -> None:
    run_import(db, campaign, MUST_SHOW)
    row = db.conn.execute(
        "SELECT phone2, e164_2, z1.zones, z2.zones, bp2, bp3, state, import_id, priority"
        " FROM contacts LEFT JOIN zone_sets z1 ON z1.id = zs1 LEFT JOIN zone_sets z2 ON z2.id = zs2"
        " WHERE source_line = 3"
    ).fetchone()
    assert row == (
        "(646) 555-0142",
        "+16465550142",
        "America/Los_Angeles",
        "America/New_York",
        "ACC-2",
        "7",
        "Pending",
        1,
        0,
    )
    # zone strings are interned: one row per distinct set
    assert db.scalar("SELECT count(*) FROM zone_sets WHERE zones = 'America/New_York'") == 1


def test_import_is_recorded_and_audited(db: Database, campaign: CampaignRow) -> None:
    run_import(db, campaign, MUST_SHOW)
    assert db.conn.execute(
        "SELECT source, rows, imported, rejected, duplicates, dnc, finished_at FROM imports"
    ).fetchall() == [("upload.csv", 8, 3, 4, 1, 0, NOW)]
    action, target, detail = db.conn.execute(
        "SELECT action, target, detail FROM audit WHERE action = 'contacts.import'"
    ).fetchone()
    assert (action, target, json.loads(detail)["imported"]) == ("contacts.import", "Spring", 3)


def test_a_campaign_deleted_before_the_import_takes_nothing_and_checks_stay_on(
    db: Database, campaign: CampaignRow
) -> None:
    """The import checks its campaign itself (it skips the per-row foreign-key lookups), and
    the connection's foreign-key checking is as it was afterwards (SQLite's pragma)."""
    sqlite = db.engine == "sqlite"
    run_import(db, campaign, MUST_SHOW)
    assert not sqlite or db.scalar("PRAGMA foreign_keys") == 1
    db.conn.execute("DELETE FROM campaigns WHERE id = ?", (campaign.id,))  # cascades
    with pytest.raises(DialboxError, match="'Spring' was deleted"):
        run_import(db, campaign, MUST_SHOW)
    assert db.scalar("SELECT count(*) FROM contacts") == 0
    assert db.scalar("SELECT count(*) FROM imports") == 0
    assert not sqlite or db.scalar("PRAGMA foreign_keys") == 1


def test_ecm_file_without_header_lf_and_trailing_fields_optional(
    db: Database, campaign: CampaignRow
) -> None:
    data = b"2125550100\n2125550101,,,,,Ann\n\n2125550102,2125550103\n"
    report, _ = run_import(db, campaign, data)
    assert (report["imported"], report["rejected"], report["layout"]) == (3, 0, "ecm")
    assert [r[0] for r in contacts(db)] == [1, 2, 4]


def test_a_row_of_more_than_17_columns_below_the_first_is_a_reject(
    db: Database, campaign: CampaignRow
) -> None:
    data = ("2125550101\n2125550100" + "," * 17 + "\n").encode()
    report, _ = run_import(db, campaign, data)
    assert report["imported"] == 1
    assert report["rejects"] == [
        {
            "line": 2,
            "field": None,
            "reason": "18 fields, more than the 17 of Phone1..Phone5, BP1..BP12",
            "value": "",
        }
    ]


def test_a_first_line_of_more_than_17_columns_without_header_refuses_the_file(
    db: Database, campaign: CampaignRow
) -> None:
    """#22: the first record says how the file is read; 18 columns are no ECM file, and were
    read as one before, the extra cells lost."""
    data = ("2125550100" + ",x" * 17 + "\n2125550101\n").encode()
    with pytest.raises(DialboxError) as refused:
        run_import(db, campaign, data)
    message = str(refused.value)
    assert message.startswith("upload.csv: line 1: 18 columns")
    assert "at most 17 (Phone1..Phone5, BP1..BP12)" in message
    assert "Put a header naming the columns" in message
    assert db.scalar("SELECT count(*) FROM imports") == 0


def test_all_numbers_on_dnc_imports_as_dnc_listed(db: Database, campaign: CampaignRow) -> None:
    other = create_campaign(db, "Other", CampaignType.AGENT, "US", {}, NOW, "test")
    db.conn.execute(
        "INSERT INTO dnc(e164, campaign_id, kind, added_at, expires_at) VALUES"
        " ('+12125550100', NULL, 'dnc', 0, NULL),"  # global
        " ('+12125550101', ?, 'block', 0, NULL),"  # this campaign, block list
        " ('+12125550102', ?, 'dnc', 0, NULL),"  # another campaign's list
        " ('+12125550103', NULL, 'dnc', 0, ?),"  # expired
        " ('+12125550104', NULL, 'dnc', 0, NULL)",
        (campaign.id, other.id, NOW - 1),
    )
    data = b"2125550100\n2125550101\n2125550102\n2125550103\n2125550104,2125550105\n"
    report, _ = run_import(db, campaign, data)
    assert (report["imported"], report["dnc"]) == (5, 2)
    assert dict(db.conn.execute("SELECT e164_1, state FROM contacts")) == {
        "+12125550100": "DNC Listed",
        "+12125550101": "DNC Listed",
        "+12125550102": "Pending",
        "+12125550103": "Pending",
        "+12125550104": "Pending",  # its second number may still be dialed
    }


MAPPINGS = {
    "crm": ColumnMapping(
        columns={
            "phone1": "Mobile",
            "phone2": "Home Phone",
            "bp1": "Full Name",
            "external_id": "Customer ID",
            "priority": "Prio",
            "callback_at": "Call back",
        }
    ),
    "manual_only": ColumnMapping(columns={"phone1": "Tel"}, match_headers=False),
}


def test_named_columns_are_mapped_automatically(db: Database, campaign: CampaignRow) -> None:
    data = textwrap.dedent(
        """\
        Customer ID,full name,Mobile,Ignored,Home Phone,Prio,Call back
        C1,Ann,2125550100,zzz,,5,2026-03-01T14:30:00-05:00
        C2,Bob,2125550101,,bad,x,
        """
    ).encode()
    report, _ = run_import(db, campaign, data, mappings=MAPPINGS)
    assert report["layout"] == "crm"
    assert report["imported"] == 1
    assert [(r["line"], r["field"]) for r in report["rejects"]] == [  # type: ignore[union-attr]
        (3, "Home Phone"),
        (3, "Prio"),
    ]
    assert contacts(db, "external_id, bp1, priority, callback_at") == [
        ("C1", "Ann", 5, 1_772_393_400.0)
    ]


def test_mapping_chosen_by_name_and_missing_columns_named(
    db: Database, campaign: CampaignRow
) -> None:
    report, _ = run_import(
        db, campaign, b"Tel\n2125550100\n", mappings=MAPPINGS, mapping="manual_only"
    )
    assert report["imported"] == 1
    with pytest.raises(DialboxError, match="missing: Tel"):
        run_import(db, campaign, b"Phone\n2125550100\n", mappings=MAPPINGS, mapping="manual_only")
    with pytest.raises(DialboxError, match="no column mapping named 'nope'"):
        run_import(db, campaign, b"2125550100\n", mappings=MAPPINGS, mapping="nope")


def test_unknown_header_is_refused_with_the_mappings_it_could_have_been(
    db: Database, campaign: CampaignRow
) -> None:
    with pytest.raises(
        DialboxError, match=r"(?s)line 1: unknown column 'Handy Nummer' \(column 1\).*crm needs"
    ):
        run_import(db, campaign, b"Handy Nummer,Name\n2125550100,Ann\n", mappings=MAPPINGS)
    assert db.scalar("SELECT count(*) FROM imports") == 0


def test_not_utf8_names_byte_offset_and_line_and_imports_nothing(
    db: Database, campaign: CampaignRow
) -> None:
    data = b"2125550100,Ann\n2125550101,Ren\xe9e\n"
    with pytest.raises(DialboxError, match=r"not UTF-8 text \(byte 29, line 2"):
        run_import(db, campaign, data)
    assert db.scalar("SELECT count(*) FROM contacts") == 0
    assert db.scalar("SELECT count(*) FROM imports") == 0


def test_worker_process_gives_the_same_result(
    db: Database, campaign: CampaignRow, tmp_path: Path
) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(MUST_SHOW)
    report = import_path(db, campaign, path, worker=True)
    assert (report.imported, report.rejected, report.duplicates) == (3, 4, 1)
    assert [r.line for r in report.rejects] == [5, 6, 7, 8]


@pytest.mark.parametrize("worker", [False, True])
def test_rebuilding_the_dedup_index_gives_the_same_contacts_and_reports(
    tmp_path: Path, worker: bool
) -> None:
    """`bulk`: the import finds duplicates itself (in the file, and against the campaign's
    contacts) and builds contacts_dedup again; the result is the row-by-row import's."""
    path = tmp_path / "f.csv"
    path.write_bytes(MUST_SHOW)
    again = tmp_path / "g.csv"  # two rows already in, one new, and the new one twice
    again.write_bytes(
        b'(212) 555-0100,,,,,"Doe, Jane",ACC-1,12.50\n(305) 555-0199,,,,,New\n'
        b"+1 305 555 0199,,,,,New\n+44 20 7946 0958,,,,,London,ACC-7,3\n"
    )
    outcomes = []
    for bulk in (False, True):
        db = open_database(tmp_path / f"{bulk}.db")
        campaign = create_campaign(db, "Spring", CampaignType.AGENT, "US", {}, NOW, "test")
        other = create_campaign(db, "Other", CampaignType.AGENT, "US", {}, NOW, "test")
        index_sql = db.scalar("SELECT sql FROM sqlite_master WHERE name = 'contacts_dedup'")
        reports = [
            import_path(db, target, file, worker=worker, bulk=bulk).as_dict()
            for target, file in ((campaign, path), (other, path), (campaign, again))
        ]
        for report in reports:
            report.pop("file")
            report.pop("import_id")
        assert db.scalar("SELECT sql FROM sqlite_master WHERE name = 'contacts_dedup'") == index_sql
        outcomes.append((reports, contacts(db, "campaign_id, source_line, e164_1, bp1")))
    assert outcomes[0] == outcomes[1]
    reports, rows = outcomes[1]
    assert [(r["imported"], r["duplicates"]) for r in reports] == [(3, 1), (3, 1), (1, 3)]
    assert len(rows) == 7


def test_worker_reports_file_problems_and_a_failed_bulk_import_keeps_the_dedup_index(
    db: Database, campaign: CampaignRow, tmp_path: Path
) -> None:
    if db.engine == "postgresql":
        pytest.skip("the bulk path (dedup index dropped and made again) is SQLite's alone")
    path = tmp_path / "f.csv"
    path.write_bytes(b"2125550100\n\xff\n")
    with pytest.raises(DialboxError, match="byte 11, line 2"):
        import_path(db, campaign, path, worker=True, bulk=True)
    assert db.scalar("SELECT count(*) FROM imports") == 0
    assert db.scalar("SELECT count(*) FROM sqlite_master WHERE name = 'contacts_dedup'") == 1


def _dialbox() -> str:
    return str(Path(sys.executable).parent / "dialbox")


def test_cli_json_then_second_import_adds_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "dialbox.yaml"
    config.write_text("database: state/d.db\nregion: US\n")
    data = tmp_path / "contacts.csv"
    data.write_bytes(MUST_SHOW)
    assert main(["--config", str(config), "campaign", "create", "Spring"]) == 0
    command = [_dialbox(), "--config", str(config), "import", "--campaign", "Spring", str(data)]

    first = subprocess.run(
        [*command, "--json", "--rejects", str(tmp_path / "r.csv")], capture_output=True, text=True
    )
    assert first.returncode == 0, first.stderr
    document = json.loads(first.stdout)
    assert (
        document["imported"],
        document["rejected"],
        document["duplicates"],
        document["dnc"],
    ) == (3, 4, 1, 0)
    assert document["file"] == str(data)
    assert [r["line"] for r in document["rejects"]] == [5, 6, 7, 8]
    assert len(read_rejects((tmp_path / "r.csv").read_text())) == 4

    second = subprocess.run([*command, "--json"], capture_output=True, text=True)
    assert second.returncode == 0
    assert json.loads(second.stdout)["imported"] == 0

    capsys.readouterr()
    assert main(command[1:]) == 0
    human = capsys.readouterr().out
    assert "0 imported into 'Spring'" in human and "Phone1 is mandatory" in human

    assert main([*command[1:4], "--campaign", "Nope", str(data), "--json"]) == 3
    out = capsys.readouterr()
    assert "no campaign named 'Nope'" in out.err and out.out == ""


def test_a_crash_mid_import_leaves_nothing(tmp_path: Path) -> None:
    """Kill the process (no cleanup at all) after two batches went into the database."""
    db_path = tmp_path / "d.db"
    db = open_database(db_path)
    create_campaign(db, "Spring", CampaignType.AGENT, "US", {}, NOW, "test")
    db.close()
    data = tmp_path / "f.csv"
    data.write_text("".join(f"212555{n:04d}\n" for n in range(5000)))
    script = textwrap.dedent(
        f"""
        import os
        from appliance.importing import importer
        from appliance.store import open_database
        from appliance.store.campaigns import get_campaign
        real, calls = importer._write_batch, []
        def crashing(*args):
            real(*args)
            calls.append(1)
            if len(calls) == 2:
                os._exit(9)
        importer._write_batch = crashing
        db = open_database({str(db_path)!r})
        importer.import_file(db, get_campaign(db, "Spring"), {str(data)!r}, region="US",
            mappings={{}}, now=0.0, actor="t", source="f", worker=False)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 9, result.stderr
    db = open_database(db_path)
    assert db.scalar("SELECT count(*) FROM contacts") == 0
    assert db.scalar("SELECT count(*) FROM imports") == 0


def test_sample_campaign_file_imports_with_its_six_deliberate_rejects(
    db: Database, campaign: CampaignRow
) -> None:
    sample = Path(__file__).parents[2] / "examples" / "sample-campaign.csv"
    report, _ = run_import(db, campaign, sample.read_bytes())
    assert (report["rows"], report["imported"], report["rejected"], report["duplicates"]) == (
        200,
        193,
        6,
        1,
    )
    assert [(r["line"], r["field"]) for r in report["rejects"]] == [  # type: ignore[union-attr]
        (16, "Phone1"),
        (43, "Phone1"),
        (79, "Phone2"),
        (105, "Phone1"),
        (130, "BP11 (Notes)"),
        (152, "Phone1"),
    ]
    # several numbers reach more than one time zone (SPEC C3 judges all of them)
    assert db.scalar("SELECT count(*) FROM zone_sets WHERE zones LIKE '%|%'") >= 3


def test_header_of_ecm_names_in_another_order_is_read_by_name(
    db: Database, campaign: CampaignRow
) -> None:
    report, _ = run_import(db, campaign, b"Phone 1,BP3,phone2\n2125550100,gold,2125550101\n")
    assert report["imported"] == 1
    assert contacts(db, "e164_1, e164_2, bp1, bp3") == [
        ("+12125550100", "+12125550101", None, "gold")
    ]


def test_unmapped_columns_after_the_mapped_ones_are_ignored(
    db: Database, campaign: CampaignRow
) -> None:
    mappings = {"m": ColumnMapping(columns={"phone1": "Mobile", "bp2": "Name"})}
    report, _ = run_import(
        db,
        campaign,
        b"Mobile,Name,Notes,More\n2125550100,Ann,ignore me,and me\n",
        mappings=mappings,
    )
    assert (report["layout"], report["imported"]) == ("m", 1)
    assert contacts(db, "bp1, bp2, bp3, bp12") == [(None, "Ann", None, None)]


def test_shared_checking_with_the_worker_keeps_file_order_lines_and_zone_ids(
    tmp_path: Path,
) -> None:
    """The worker's batches are the batches checking in this process gives."""
    from appliance.importing.pipeline import Batch, Job, messages

    lines = [f"{a}55501{n:02d},,,,,{n}" for n in range(40) for a in ("212", "907", "808", "605")]
    lines[7] = "not a number,,,,,7"
    lines[50] = "2125550100,,,,," + "x" * 300
    path = tmp_path / "f.csv"
    path.write_text("\n".join(lines) + "\n")
    job = Job(where="f", region="US", mappings={}, mapping=None, known_zones={"": 5}, batch_rows=3)

    def batches(worker: bool) -> list[tuple[object, ...]]:
        found = [m for m in messages(path, job, worker) if isinstance(m, Batch)]
        return [(b.row_list(), b.rejects, b.rejected_rows) for b in found]

    alone, shared = batches(False), batches(True)
    assert shared == alone and len(alone) == 54
    assert [r.line for _, rejects, _ in alone for r in rejects] == [8, 51]
    rows = [r for rows, _, _ in alone for r in rows]
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)  # file order
    # zone_sets ids agree although two processes handed them out
    ids = {r[7]: r[12] for r in rows}
    assert len({ids["+12125550100"], ids["+19075550100"], ids["+18085550100"]}) == 3
