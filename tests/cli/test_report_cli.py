"""`dialbox report agents|lines|campaigns` as a user runs it: a real process on the reports'
fixture in New York time — the table, CSV and JSON, and the refusals with their exit status."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.store.report_fixture import build


def dialbox(config: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "appliance", "--config", str(config), *argv],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("report-cli")
    build(tmp / "d.db").close()
    path = tmp / "dialbox.yaml"
    path.write_text("database: d.db\ntimezone: America/New_York\n")
    return path


def test_agents_as_a_table(config: Path) -> None:
    done = dialbox(config, "report", "agents", "--from", "2025-03-09", "--by", "total")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == (
        "agents report, 2025-03-09T00:00:00-05:00 to 2025-03-10T00:00:00-04:00"
        " (America/New_York), by total"
    )
    assert lines[1].split() == ["agent", "calls", "talk", "wrap", "paused", "logged", "in",
                                "occ.", "dispositions"]  # fmt: skip
    anna = next(line for line in lines if line.startswith("anna"))
    assert anna.split() == ["anna", "2", "0:02:00", "0:01:00", "0:10:00", "3:00:00", "1.7%",
                            "no", "interest", "1,", "sale", "1"]  # fmt: skip
    cy = next(line for line in lines if line.startswith("cy"))
    assert cy.split()[-2:] == ["—", "—"]  # never logged in: no occupancy, no dispositions
    assert lines[-1].split()[:3] == ["total", "2", "0:02:00"]


def test_the_two_hours_of_an_autumn_night_are_told_apart(config: Path) -> None:
    done = dialbox(config, "report", "campaigns", "--from", "2025-11-02", "--by", "hour")
    assert done.returncode == 0, done.stderr
    hours = [line.split()[:3] for line in done.stdout.splitlines() if "spring" in line]
    assert hours == [["2025-11-02", "01:00-04", "spring"], ["2025-11-02", "01:00-05", "spring"],
                     ["2025-11-02", "23:00-05", "spring"]]  # fmt: skip


def test_lines_by_hour_as_csv(config: Path) -> None:
    done = dialbox(config, "report", "lines", "--from", "2025-03-09", "--by", "hour", "--csv")
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    gsm1 = [(r["period"], r["faults"], r["signal_dbm"]) for r in rows if r["line"] == "gsm1"]
    assert gsm1 == [("2025-03-09T04:00:00-04:00", "3", "-101"),
                    ("2025-03-09T10:00:00-04:00", "1", "-101")]  # fmt: skip


def test_campaigns_as_json_for_one_campaign(config: Path) -> None:
    done = dialbox(config, "report", "campaigns", "--from", "2025-03-09", "--to",
                   "2025-03-10", "--campaign", "texts", "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["campaign"] == "texts" and doc["by"] == "day"
    assert [(r["period"], r["sms_sent"], r["sms_replied"]) for r in doc["rows"]] == [
        ("2025-03-09T00:00:00-05:00", 2, 1)
    ]
    assert len(doc["series"]) == 2


@pytest.mark.parametrize(
    ("argv", "status", "says"),
    [
        (["agents", "--from", "2015-01-01", "--to", "2025-01-01"], 2,
         "by=day reports cover at most 366 days"),
        (["lines", "--from", "2025-03-10", "--to", "2025-03-09"], 2, "must be before to"),
        (["campaigns", "--from", "soon"], 2, "from: 'soon' is not an ISO 8601 date or time"),
        (["campaigns", "--campaign", "nope"], 3, "no campaign named 'nope'"),
        (["agents", "--csv", "--json"], 2, "contradict"),
        (["people"], 2, "invalid choice: 'people'"),
    ],
)  # fmt: skip
def test_refusals_say_what_to_do(config: Path, argv: list[str], status: int, says: str) -> None:
    done = dialbox(config, "report", *argv)
    assert done.returncode == status, (done.stdout, done.stderr)
    assert says in done.stderr and not done.stdout
