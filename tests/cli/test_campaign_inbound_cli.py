"""`dialbox campaign` and inbound campaigns (#23), through the real command: created with its
settings, refused on another type, started only when its lines answer, `none` restoring a
default; the same checks as the API's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appliance.cli import main


@pytest.fixture()
def config(tmp_path: Path) -> Path:
    path = tmp_path / "dialbox.yaml"
    path.write_text(
        "database: state/d.db\nregion: PL\n"
        "lines:\n  - {name: gsm1, device: 'loop://'}\n  - {name: gsm2, device: 'loop://'}\n"
    )
    return path


def run(config: Path, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["--config", str(config), *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_an_inbound_campaign_from_the_command_line(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(config, capsys, "campaign", "create", "IN", "--type", "inbound",
                         "--set", "queue_max_wait=60", "--json")  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["settings"]["queue_max_wait"] == 60

    code, _, err = run(config, capsys, "campaign", "start", "IN")
    assert code == 2 and "answer_lines" in err, err
    code, _, err = run(config, capsys, "campaign", "set", "IN", "answer_lines=[gsm3]")
    assert code == 0, err
    code, _, err = run(config, capsys, "campaign", "start", "IN")
    assert code == 2 and "gsm3" in err and "gsm1, gsm2" in err, err
    run(config, capsys, "campaign", "set", "IN", "answer_lines=[gsm1]")
    code, out, err = run(config, capsys, "campaign", "start", "IN", "--json")
    assert code == 0 and json.loads(out)["status"] == "running", err

    code, _, err = run(config, capsys, "campaign", "create", "OUT", "--set", "answer_lines=[gsm2]")
    assert code == 2 and "answer_lines is a setting of inbound campaigns" in err, err
    code, _, err = run(config, capsys, "campaign", "set", "IN", "type=agent")
    assert code == 2 and "only while stopped" in err, err
    run(config, capsys, "campaign", "stop", "IN")
    code, _, err = run(config, capsys, "campaign", "set", "IN", "type=agent")
    assert code == 2 and "answer_lines=none" not in err and "clear it (none" in err, err
    code, out, err = run(config, capsys, "campaign", "set", "IN", "type=agent", "answer_lines=none",
                         "queue_max_wait=none", "--json")  # fmt: skip
    assert code == 0 and json.loads(out)["type"] == "agent", err
    run(config, capsys, "campaign", "set", "IN", "type=inbound")

    # no list goes into it, whichever way it comes
    listing = config.parent / "list.csv"
    listing.write_text("+48601234567,,,,,Ann\n")
    code, _, err = run(config, capsys, "import", str(listing), "--campaign", "IN")
    assert code == 2 and "is inbound" in err and "import the list into" in err, err
    code, out, err = run(config, capsys, "campaign", "set", "IN", "queue_max_wait=none", "--json")
    assert code == 0 and json.loads(out)["settings"]["queue_max_wait"] == 120, err
