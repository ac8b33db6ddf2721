"""`dialbox campaign …` through the real command: create, list, show, set, status changes, audit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appliance.cli import main
from appliance.store import open_database


@pytest.fixture()
def config(tmp_path: Path) -> Path:
    path = tmp_path / "dialbox.yaml"
    path.write_text("database: state/d.db\nregion: US\n")
    return path


def run(config: Path, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["--config", str(config), *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_create_show_set_and_audit(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        config, capsys, "campaign", "create", "Spring", "--type", "sms", "--region", "pl", "--json"
    )
    assert code == 0
    doc = json.loads(out)
    assert (doc["name"], doc["type"], doc["region"], doc["status"]) == (
        "Spring",
        "sms",
        "PL",
        "stopped",
    )

    code, out, _ = run(
        config, capsys, "campaign", "set", "Spring", "ratio=2.5", "order=lifo", "--json"
    )
    assert code == 0
    assert json.loads(out)["settings"]["ratio"] == 2.5
    assert json.loads(out)["settings"]["order"] == "lifo"

    code, out, _ = run(config, capsys, "campaign", "start", "Spring", "--json")
    assert json.loads(out)["status"] == "running"

    code, out, _ = run(config, capsys, "campaign", "list", "--json")
    assert [c["name"] for c in json.loads(out)] == ["Spring"]
    listed = json.loads(out)[0]  # instants as the API writes them (#22)
    assert listed["created_at"].endswith("Z") and listed["updated_at"] >= listed["created_at"]

    db = open_database(config.parent / "state" / "d.db")
    actions = [r[0] for r in db.conn.execute("SELECT action FROM audit ORDER BY id")]
    assert actions == ["campaign.create", "campaign.update", "campaign.update"]


def test_errors_are_clear_and_change_nothing(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(config, capsys, "campaign", "create", "A")[0] == 0
    code, _, err = run(config, capsys, "campaign", "create", "A")
    assert code == 2 and "already exists" in err
    code, _, err = run(config, capsys, "campaign", "set", "A", "ring_timeout=10")
    assert code == 2 and "ring_timeout" in err and "15" in err
    code, _, err = run(config, capsys, "campaign", "set", "A", "colour=red")
    assert code == 2 and "unknown campaign setting" in err and "colour" in err
    code, _, err = run(config, capsys, "campaign", "show", "B")
    assert code == 3 and "no campaign named 'B'" in err and "A" in err
    code, out, _ = run(config, capsys, "campaign", "show", "A", "--json")
    assert json.loads(out)["settings"]["ring_timeout"] == 25


def test_config_flag_is_accepted_after_the_subcommand(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["campaign", "create", "Late", "--config", str(config)]) == 0
    assert (config.parent / "state" / "d.db").exists()
