"""Exporting results (D6): contacts with state and last outcome, attempts one per row, CSV and JSON."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from appliance.cli import main
from appliance.domain import ContactState, Outcome, Summary
from appliance.store import Database, dialect, open_database
from appliance.store.campaigns import get_campaign
from appliance.store.export import (
    ATTEMPT_COLUMNS,
    CONTACT_COLUMNS,
    attempt_rows,
    export,
    write_csv,
    write_json,
)
from appliance.store.filters import compile_filter

T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z
TRICKY_BP = 'Zoë, "the boss"\nline two; 中文'


def seed(db: Database) -> None:
    """Two campaigns; Spring has three contacts (one dialed twice, one on the CRM), Autumn one."""
    conn = db.conn
    conn.execute(
        "INSERT INTO campaigns(id, name, type, region, created_at, updated_at)"
        " VALUES (1, 'Spring', 'agent', 'US', 0, 0), (2, 'Autumn', 'agent', 'US', 0, 0)"
    )

    def contact(cid: int, campaign: int, phone: str, **extra: Any) -> None:
        columns = {
            "id": cid,
            "campaign_id": campaign,
            "dedup_key": cid,
            "phone1": phone,
            "e164_1": "+1" + "".join(ch for ch in phone if ch.isdigit())[-10:],
            "created_at": T0,
            "updated_at": T0,
            **extra,
        }
        conn.execute(
            f"INSERT INTO contacts({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
            tuple(columns.values()),
        )

    contact(
        1,
        1,
        "(212) 555-0101",
        phone2="212 555 0199",
        e164_2="+12125550199",
        external_id="CRM-1",
        bp1="gold",
        bp2="150",
        bp12=TRICKY_BP,
        state=str(ContactState.CONNECTED),
        summary=int(Summary.SUCCESSFUL),
        attempts=2,
        last_outcome=int(Outcome.CONNECTED),
        last_attempt_at=T0 + 7200,
        priority=5,
    )
    contact(
        2,
        1,
        "2125550102",
        bp1="silver",
        bp2="20",
        state=str(ContactState.SENT_TO_DIALER),
        summary=3,
        attempts=1,
    )
    contact(3, 2, "2125550103")  # Autumn's: never in Spring's export
    contact(4, 1, "2125550104", bp1="gold", bp2="n/a")
    attempts = [
        # id, contact, no, phone, number, line, agent, status, queued, dialed, answered, ended, outcome, disposition
        (
            1,
            1,
            1,
            1,
            "+12125550101",
            "gsm0",
            None,
            "done",
            T0,
            T0 + 1,
            None,
            T0 + 26,
            int(Outcome.BUSY),
            None,
        ),
        (
            2,
            2,
            1,
            1,
            "+12125550102",
            "gsm1",
            None,
            "in_flight",
            T0 + 5,
            T0 + 5.25,
            None,
            None,
            None,
            None,
        ),
        (
            3,
            1,
            2,
            2,
            "+12125550199",
            "gsm0",
            "anna",
            "done",
            T0 + 7200,
            T0 + 7200.5,
            T0 + 7210,
            T0 + 7300,
            0,
            "sale",
        ),
    ]
    for row in attempts:
        conn.execute(
            "INSERT INTO attempts(id, contact_id, campaign_id, attempt_no, phone_index, number, channel,"
            " line, agent, status, queued_at, dialed_at, answered_at, ended_at, outcome, disposition)"
            " VALUES (?, ?, (SELECT campaign_id FROM contacts WHERE id = ?), ?, ?, ?, 'voice',"
            " ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (row[0], row[1], row[1], *row[2:]),
        )


@pytest.fixture()
def db(engine_db: Database) -> Database:  # tests/store/conftest.py: each engine
    db = engine_db
    seed(db)
    return db


def exported(db: Database, **kw: Any) -> str:
    out = io.StringIO(newline="")
    export(db, get_campaign(db, "Spring"), out, **kw)
    return out.getvalue()


def test_contacts_csv_has_every_contact_with_state_summary_and_last_outcome(db: Database) -> None:
    text = exported(db)
    assert text.startswith(",".join(CONTACT_COLUMNS) + "\r\n")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert [r["contact_id"] for r in rows] == ["1", "2", "4"]
    first = rows[0]
    assert {k: first[k] for k in ("external_id", "state", "summary", "summary_label")} == {
        "external_id": "CRM-1",
        "state": "Connected",
        "summary": "1",
        "summary_label": "Successful",
    }
    assert (first["attempts"], first["last_outcome"], first["last_outcome_code"]) == (
        "2",
        "Connected",
        "0",
    )
    assert first["last_attempt_at"] == "2027-01-15T10:00:00.000Z"
    assert (first["phone1"], first["e164_1"], first["phone2"], first["e164_2"]) == (
        "(212) 555-0101",
        "+12125550101",
        "212 555 0199",
        "+12125550199",
    )
    assert (first["bp1"], first["bp2"], first["bp12"], first["priority"]) == (
        "gold",
        "150",
        TRICKY_BP,
        "5",
    )
    assert (rows[1]["state"], rows[1]["summary_label"], rows[1]["last_outcome"]) == (
        "Sent to Dialer",
        "MarkedForDialing",
        "",
    )
    assert rows[2]["last_attempt_at"] == "" and rows[2]["summary_label"] == "NotUsed"


def test_attempts_csv_has_one_row_per_attempt_with_the_d6_fields(db: Database) -> None:
    rows = list(csv.DictReader(io.StringIO(exported(db, attempts=True), newline="")))
    assert list(rows[0]) == list(ATTEMPT_COLUMNS)
    assert [(r["attempt_id"], r["contact_id"], r["attempt_no"]) for r in rows] == [
        ("1", "1", "1"),
        ("2", "2", "1"),
        ("3", "1", "2"),
    ]
    busy, in_flight, sale = rows
    assert (busy["outcome"], busy["outcome_code"], busy["line"], busy["channel"]) == (
        "Busy",
        "1",
        "gsm0",
        "voice",
    )
    assert (busy["queued_at"], busy["dialed_at"], busy["answered_at"], busy["ended_at"]) == (
        "2027-01-15T08:00:00.000Z",
        "2027-01-15T08:00:01.000Z",
        "",
        "2027-01-15T08:00:26.000Z",
    )
    assert (in_flight["status"], in_flight["outcome"], in_flight["dialed_at"]) == (
        "in_flight",
        "",
        "2027-01-15T08:00:05.250Z",
    )
    assert (sale["number"], sale["phone_index"], sale["agent"], sale["disposition"]) == (
        "+12125550199",
        "2",
        "anna",
        "sale",
    )
    assert sale["external_id"] == "CRM-1" and sale["outcome"] == "Connected"


def test_json_is_one_array_with_typed_values(db: Database) -> None:
    contacts = json.loads(exported(db, fmt="json"))
    assert [c["contact_id"] for c in contacts] == [1, 2, 4]
    assert contacts[0]["bp12"] == TRICKY_BP and contacts[0]["attempts"] == 2
    assert contacts[2]["last_outcome"] is None and contacts[2]["phone2"] is None
    attempts = json.loads(exported(db, fmt="json", attempts=True))
    assert [a["outcome"] for a in attempts] == ["Busy", None, "Connected"]


def test_an_empty_campaign_exports_a_header_or_an_empty_array(db: Database) -> None:
    db.conn.execute(
        "INSERT INTO campaigns(id, name, type, region, created_at, updated_at)"
        " VALUES (3, 'Empty', 'sms', 'US', 0, 0)"
    )
    empty = get_campaign(db, "Empty")
    out = io.StringIO(newline="")
    assert export(db, empty, out) == 0
    assert out.getvalue() == ",".join(CONTACT_COLUMNS) + "\r\n"
    out = io.StringIO()
    assert export(db, empty, out, fmt="json", attempts=True) == 0
    assert json.loads(out.getvalue()) == []


def test_a_filter_narrows_contacts_and_attempts(db: Database) -> None:
    where = compile_filter('bp1 == "GOLD" and bp2 > 100', dialect.of(db))
    rows = list(csv.DictReader(io.StringIO(exported(db, where=where), newline="")))
    assert [r["contact_id"] for r in rows] == ["1"]
    spring = get_campaign(db, "Spring")
    assert [a["attempt_id"] for a in attempt_rows(db, spring, where=where)] == [1, 3]


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_rows_are_written_as_they_come(fmt: str) -> None:
    """Constant memory: nothing is collected before writing, so row N is out before N+1 is read."""
    out = io.StringIO(newline="")
    seen: list[int] = []

    def rows() -> Iterator[dict[str, Any]]:
        for n in range(3):
            seen.append(len(out.getvalue()))
            yield dict.fromkeys(CONTACT_COLUMNS, n)

    count = write_csv(rows(), CONTACT_COLUMNS, out) if fmt == "csv" else write_json(rows(), out)
    assert count == 3
    assert seen[0] < seen[1] < seen[2]


# -- the command line --------------------------------------------------------------------------


@pytest.fixture()
def config(tmp_path: Path) -> Path:
    path = tmp_path / "dialbox.yaml"
    path.write_text("database: state/d.db\nregion: US\n")
    seed(open_database(tmp_path / "state" / "d.db"))
    return path


def test_cli_export_to_a_file(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "out" / "spring.json"
    target.parent.mkdir()
    code = main(["--config", str(config), "export", "--campaign", "spring", "-o", str(target)])
    assert code == 0
    assert capsys.readouterr().out == f"exported 3 contacts of Spring to {target}\n"
    assert [c["contact_id"] for c in json.loads(target.read_text("utf-8"))] == [1, 2, 4]
    assert [p.name for p in target.parent.iterdir()] == ["spring.json"]  # no temp file left


def test_cli_export_errors(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--config", str(config), "export", "--campaign", "Nope"])
    assert code == 3 and "no campaign named 'Nope'" in capsys.readouterr().err
    code = main(["--config", str(config), "export", "--campaign", "Spring", "--where", "bp1 ="])
    err = capsys.readouterr().err
    assert code == 2 and "filter error at the end: expected a value" in err


def test_cli_export_attempts_to_stdout_is_utf8_whatever_the_locale(config: Path) -> None:
    command = [
        sys.executable,
        "-c",
        "import sys; from appliance.cli import main; sys.exit(main(sys.argv[1:]))",
        "--config",
        str(config),
        "export",
        "--campaign",
        "Spring",
    ]
    env = {**os.environ, "PYTHONIOENCODING": "ascii"}
    done = subprocess.run(command, capture_output=True, env=env, check=False)
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout.decode("utf-8"), newline="")))
    assert rows[0]["bp12"] == TRICKY_BP
    done = subprocess.run([*command, "--attempts", "--json"], capture_output=True, check=False)
    assert done.returncode == 0, done.stderr
    assert [a["attempt_no"] for a in json.loads(done.stdout)] == [1, 1, 2]
