"""`dialbox import` as a person runs it (#22): a CRM export by its header, a refused file and
exit status 1, `--map`, `--dry-run` writing nothing, the ECM file as before."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.store import open_database

CRM = (
    "phone,mobile,first_name,last_name,email,amount\n"
    "(212) 555-0100,+1 415 555 0199,Jane,Doe,jane@example.com,12.50\n"
    "2125550101,,John,Smith,john@example.com,7\n"
)


class Box:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.config = tmp / "dialbox.yaml"
        self.config.write_text(
            "database: state/d.db\nregion: US\nimport:\n  map:\n    Segment Code: bp8\n"
        )
        assert self.run("campaign", "create", "Spring").returncode == 0

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        dialbox = str(Path(sys.executable).parent / "dialbox")
        return subprocess.run(
            [dialbox, "--config", str(self.config), *args], capture_output=True, text=True
        )

    def file(self, name: str, text: str) -> str:
        path = self.tmp / name
        path.write_text(text, encoding="utf-8")
        return str(path)

    def contacts(self) -> int:
        done = self.run("export", "--campaign", "Spring", "--json")
        return len(json.loads(done.stdout))


@pytest.fixture()
def box(tmp_path: Path) -> Box:
    return Box(tmp_path)


def test_a_crm_export_imports_with_no_mapping_and_says_how_it_read_the_columns(box: Box) -> None:
    done = box.run("import", "--campaign", "Spring", box.file("crm.csv", CRM))
    assert done.returncode == 0, done.stderr
    assert "2 imported into 'Spring'" in done.stdout
    assert (
        "columns: phone -> phone1, mobile -> phone2, first_name -> bp1, last_name -> bp2, "
        "email -> bp4, amount -> bp3" in done.stdout
    )


def test_an_unknown_column_is_refused_with_the_accepted_names_and_exit_1(box: Box) -> None:
    path = box.file("odd.csv", "phone,first_name,Kundentyp\n2125550100,Jane,gold\n")
    done = box.run("import", "--campaign", "Spring", path)
    assert done.returncode == 1
    assert "line 1: unknown column 'Kundentyp' (column 3)" in done.stderr
    assert "Accepted names" in done.stderr and "bp4 (email" in done.stderr
    assert done.stdout == ""
    mapped = box.run("import", "--campaign", "Spring", path, "--map", "Kundentyp=bp5", "--json")
    assert mapped.returncode == 0, mapped.stderr
    document = json.loads(mapped.stdout)
    assert document["imported"] == 1
    assert document["columns"][2] == {"column": "Kundentyp", "field": "bp5"}


def test_a_map_naming_no_field_is_a_wrong_command_exit_2(box: Box) -> None:
    done = box.run("import", "--campaign", "Spring", box.file("c.csv", CRM), "--map", "x=bp13")
    assert done.returncode == 2
    assert "--map 'x=bp13': 'bp13' is not a contact field; use one of phone1" in done.stderr


def test_nothing_imported_is_exit_1_and_duplicates_only_is_exit_0(box: Box) -> None:
    header_only = box.run("import", "--campaign", "Spring", box.file("h.csv", "phone,email\n"))
    assert header_only.returncode == 1
    assert (
        "nothing imported: " in header_only.stderr
        and "no rows below its header" in header_only.stderr
    )
    bad = box.run("import", "--campaign", "Spring", box.file("b.csv", "phone\n123\nabc\n"))
    assert bad.returncode == 1
    assert "every one of the 2 rows was rejected" in bad.stderr
    crm = box.file("crm.csv", CRM)
    assert box.run("import", "--campaign", "Spring", crm).returncode == 0
    again = box.run("import", "--campaign", "Spring", crm, "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["duplicates"] == 2


def test_dry_run_shows_the_columns_and_first_rejects_and_writes_nothing(box: Box) -> None:
    path = box.file("d.csv", CRM + "not a phone,,Bad,Row,b@x.com,1\n")
    done = box.run("import", "--campaign", "Spring", path, "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "dry run for campaign 'Spring', nothing written" in done.stdout
    assert "first_name  -> bp1" in done.stdout
    assert "line 4  phone: not a phone number  [not a phone]" in done.stdout
    assert box.contacts() == 0
    db = open_database(box.tmp / "state" / "d.db")
    assert db.scalar("SELECT count(*) FROM imports") == 0
    assert db.scalar("SELECT count(*) FROM audit WHERE action = 'contacts.import'") == 0
    db.close()
    assert not (box.tmp / "state" / "d.db.imports").exists()
    as_json = json.loads(
        box.run("import", "--campaign", "Spring", path, "--dry-run", "--json").stdout
    )
    assert (as_json["dry_run"], as_json["valid"], as_json["rejected"]) == (True, 2, 1)
    nothing = box.run(
        "import", "--campaign", "Spring", box.file("e.csv", "phone\nabc\n"), "--dry-run"
    )
    assert nothing.returncode == 1


def test_the_config_map_places_a_column_for_every_import(box: Box) -> None:
    path = box.file("s.csv", "phone,Segment Code\n2125550100,retail\n")
    done = box.run("import", "--campaign", "Spring", path, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["columns"][1] == {"column": "Segment Code", "field": "bp8"}


def test_the_ecm_file_without_header_imports_as_before(box: Box) -> None:
    path = box.file("ecm.csv", '(212) 555-0100,+1 415 555 0199,,,,"Doe, Jane",AC-1,12.50\n')
    done = box.run("import", "--campaign", "Spring", path, "--json")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert (document["layout"], document["imported"]) == ("ecm", 1)
    assert document["columns"][5] == {"column": None, "field": "bp1"}
    exported = json.loads(box.run("export", "--campaign", "Spring", "--json").stdout)
    assert (exported[0]["bp1"], exported[0]["bp2"], exported[0]["bp3"]) == (
        "Doe, Jane",
        "AC-1",
        "12.50",
    )
