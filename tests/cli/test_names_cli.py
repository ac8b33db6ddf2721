"""Hostile names through the real command (#18): exit 2 with one line that says the rule; an older
database's unsafe names keep working, `dialbox doctor` lists them and `campaign rename` mends them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appliance import names
from appliance.cli import main
from appliance.store import open_database

HOSTILE = ["..", "%2e%2e", "spring\n", "spr\x00ing", "\u202espring", "../x", "a b"]


@pytest.fixture()
def config(tmp_path: Path) -> Path:
    path = tmp_path / "dialbox.yaml"
    path.write_text("database: state/d.db\nregion: US\n")
    return path


def run(config: Path, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["--config", str(config), *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def _one_line(err: str) -> str:
    assert err.endswith("\n") and err.count("\n") == 1, repr(err)
    return err


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_campaign_and_token_names_exit_2_with_one_line(
    config: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    for argv in (["campaign", "create", name], ["token", "create", name]):
        code, out, err = run(config, capsys, *argv)
        assert code == 2, (argv, out, err)
        assert names.RULE in _one_line(err) and "is not allowed" in err
    code, out, _ = run(config, capsys, "campaign", "list", "--json")
    assert json.loads(out) == []


def test_reserved_names_say_who_uses_them(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(config, capsys, "campaign", "create", "archive")
    assert code == 2
    assert "'archive' is reserved: the hot folder uses it" in _one_line(err)


def _legacy(config: Path) -> None:
    db = open_database(config.parent / "state" / "d.db")
    with db.transaction():
        for name in ("..", "My Campaign"):
            db.conn.execute(
                "INSERT INTO campaigns(name, type, region, settings, created_at, updated_at)"
                " VALUES (?, 'automated', 'US', ?, 0, 0)",
                (name, json.dumps({"strategy": f"campaign:{name}"})),
            )
            db.conn.execute(
                "INSERT INTO strategies(name, definition, updated_at) VALUES (?, ?, 0)",
                (f"campaign:{name}", json.dumps({"name": "p", "on": {"default": "retry 2h"}})),
            )
        db.conn.execute("INSERT INTO agents(name, updated_at) VALUES ('a\u202eb', 0)")
        db.conn.execute(
            "INSERT INTO tokens(name, scope, hash, created_at) VALUES ('x/y', 'crm', 'h', 0)"
        )
    db.close()


def test_old_unsafe_names_work_are_listed_by_doctor_and_renamed(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _legacy(config)
    # They keep working: shown and started by their exact name.
    code, out, _ = run(config, capsys, "campaign", "start", "My Campaign", "--json")
    assert code == 0 and json.loads(out)["status"] == "running"
    assert run(config, capsys, "campaign", "show", "..")[0] == 0

    code, out, _ = run(config, capsys, "doctor", "--json")
    assert code == 1
    [found] = [v for v in json.loads(out)["violations"] if v["kind"] == "unsafe_name"]
    assert found["count"] == 4
    assert set(found["examples"]) == {
        "campaign '..'",
        "campaign 'My Campaign'",
        "agent 'a\\u202eb'",
        "token 'x/y'",
    }
    assert "dialbox campaign rename" in found["what_to_do"]

    # A rename checks the new name, and carries the campaign's own strategy along.
    code, _, err = run(config, capsys, "campaign", "rename", "..", "archive")
    assert code == 2 and "reserved" in _one_line(err)
    code, out, _ = run(config, capsys, "campaign", "rename", "..", "spring", "--json")
    assert code == 0, out
    renamed = json.loads(out)
    assert renamed["name"] == "spring"
    assert renamed["settings"]["strategy"] == "campaign:spring"
    code, _, err = run(config, capsys, "campaign", "rename", "My Campaign", "my-campaign")
    assert code == 2 and "stop it first" in _one_line(err)
    assert run(config, capsys, "campaign", "stop", "My Campaign")[0] == 0
    code, _, err = run(config, capsys, "campaign", "rename", "My Campaign", "spring")
    assert code == 2 and "already exists" in _one_line(err)
    code, out, _ = run(config, capsys, "campaign", "rename", "My Campaign", "my-campaign")
    assert code == 0
    code, out, _ = run(config, capsys, "doctor", "--json")
    [found] = [v for v in json.loads(out)["violations"] if v["kind"] == "unsafe_name"]
    assert found["count"] == 2  # the agent and the token: recreated, not renamed
    db = open_database(config.parent / "state" / "d.db")
    try:
        strategies = [r[0] for r in db.conn.execute("SELECT name FROM strategies ORDER BY name")]
        audit = [r[0] for r in db.conn.execute("SELECT action FROM audit ORDER BY id")]
    finally:
        db.close()
    assert strategies == ["campaign:my-campaign", "campaign:spring"]
    assert audit.count("campaign.rename") == 2
