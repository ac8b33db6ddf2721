"""A campaign's dispositions and script set from the command line (#25): a YAML list, shown one
a line; a malformed list is a clear error (exit 2) that names the entry and what is expected,
and changes nothing; `none` restores the default set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appliance.cli import main


@pytest.fixture()
def config(tmp_path: Path) -> Path:
    path = tmp_path / "dialbox.yaml"
    path.write_text("database: state/d.db\nregion: PL\n")
    return path


def run(config: Path, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["--config", str(config), *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


LIST = ("dispositions=[{code: sale, label: Sale, action: close},"
        " {code: later, label: Call back, action: callback group},"
        " {code: no_answer, label: No answer, action: retry 1h}]")  # fmt: skip


def test_set_show_and_restore(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(config, capsys, "campaign", "create", "sales", "--type", "agent")[0] == 0
    code, out, err = run(config, capsys, "campaign", "set", "sales", LIST, "script=Good morning")
    assert code == 0, err
    assert "    sale: Sale -> close Connected\n" in out
    assert "    later: Call back -> callback (group)\n" in out
    assert "    no_answer: No answer -> retry 1h\n" in out and "  script: Good morning" in out

    code, out, _ = run(config, capsys, "campaign", "show", "sales", "--json")
    settings = json.loads(out)["settings"]
    assert [d["code"] for d in settings["dispositions"]] == ["sale", "later", "no_answer"]
    assert settings["dispositions"][1]["callback_for"] == "group"

    code, _, err = run(config, capsys, "campaign", "set", "sales",
                       "dispositions=[{code: Sale, label: Sale, action: close}]")  # fmt: skip
    assert code == 2
    assert "dispositions.0.code" in err and "lower-case letters" in err, err
    code, _, err = run(config, capsys, "campaign", "set", "sales",
                       "dispositions=[{code: x, label: X, action: retry}]")  # fmt: skip
    assert code == 2 and "dispositions.0.action" in err and "retry needs a delay" in err, err
    code, _, err = run(config, capsys, "campaign", "set", "sales", "dispositions=end")
    assert code == 2 and "expected a list of dispositions" in err, err
    code, out, _ = run(config, capsys, "campaign", "show", "sales", "--json")
    assert json.loads(out)["settings"]["dispositions"] == settings["dispositions"]  # unchanged

    code, out, _ = run(config, capsys, "campaign", "set", "sales", "dispositions=none", "--json")
    assert code == 0 and json.loads(out)["settings"]["dispositions"] is None  # the default set
