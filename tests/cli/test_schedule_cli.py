"""`dialbox campaign schedule list|add|delete` through the real command (SPEC C2)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from appliance.cli import main


@pytest.fixture()
def config(tmp_path: Path) -> Path:
    path = tmp_path / "dialbox.yaml"
    path.write_text("database: state/d.db\ntimezone: Europe/Warsaw\n")
    assert main(["--config", str(path), "campaign", "create", "spring"]) == 0
    return path


def run(config: Path, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["--config", str(config), "campaign", "schedule", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_add_list_and_delete(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        config, capsys, "add", "spring", "pause", "12:00", "--days", "mon-fri", "--json"
    )
    assert code == 0
    lunch = json.loads(out)
    assert (lunch["at"], lunch["days"], lunch["repeats"], lunch["source"]) == (
        "12:00",
        "mon-fri",
        True,
        "cli",
    )
    assert lunch["next_due_local"].endswith(("T12:00:00+01:00", "T12:00:00+02:00"))
    next_year = dt.date.today().year + 1
    code, out, _ = run(config, capsys, "add", "spring", "stop", f"{next_year}-03-31 18:00",
                       "--timezone", "America/New_York")  # fmt: skip
    assert code == 0 and "stop scheduled (id 2)" in out

    code, out, _ = run(config, capsys, "list", "spring")
    assert code == 0
    assert out.splitlines()[0] == "spring (stopped), times in Europe/Warsaw"
    assert f"{next_year}-03-31 18:00-04:00" in out and "mon-fri" in out
    assert max(len(line) for line in out.splitlines()) <= 80

    code, out, _ = run(config, capsys, "list", "spring", "--json")
    document = json.loads(out)
    assert [a["id"] for a in document["actions"]] == [1, 2]
    assert document["next_due"]["id"] == 1 and document["last_applied"] is None

    assert run(config, capsys, "delete", "spring", "1")[0] == 0
    code, _, err = run(config, capsys, "delete", "spring", "1")
    assert code == 3 and "no scheduled action 1" in err
    assert [
        a["id"] for a in json.loads(run(config, capsys, "list", "spring", "--json")[1])["actions"]
    ] == [2]


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (("spring", "stop", "2020-01-01 09:00"), "in the past"),
        (("spring", "stop", "teatime"), "is not a time"),
        (("spring", "pause", "12:00", "--days", "caturday"), "not a day"),
        (("spring", "pause", "12:00", "--timezone", "Mars/Base"), "not an IANA time zone"),
        (("autumn", "pause", "12:00"), "no campaign named 'autumn'"),
    ],
)
def test_bad_input_is_refused_with_what_to_write(
    config: Path, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], words: str
) -> None:
    code, _, err = run(config, capsys, "add", *argv)
    assert code != 0 and words in err
    _, out, _ = run(config, capsys, "list", "spring", "--json")
    assert json.loads(out)["actions"] == []


def test_an_action_from_the_config_file_is_not_deleted_here(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from appliance.clock import SystemClock
    from appliance.config import load_config
    from appliance.engine.schedules import ScheduledActions
    from appliance.store import open_database

    config.write_text(
        config.read_text() + "schedules:\n  - {campaign: spring, action: pause, at: '12:00'}\n"
    )
    loaded = load_config(config)
    db = open_database(loaded.database)
    ScheduledActions(loaded, db, SystemClock()).sync_config()  # what the daemon does at start
    db.close()
    code, _, err = run(config, capsys, "delete", "spring", "1")
    assert code != 0 and "comes from the config file" in err
    assert len(json.loads(run(config, capsys, "list", "spring", "--json")[1])["actions"]) == 1
