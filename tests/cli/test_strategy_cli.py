"""`dialbox strategy check FILE`: problems exit 1 with the key path; terminal outcomes a strategy
changes are warned about (#17), a bare `default:` is not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appliance.cli import main


def _check(tmp_path: Path, text: str, *flags: str) -> int:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return main(["strategy", "check", str(path), *flags])


def test_a_terminal_override_is_warned_and_a_default_is_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _check(tmp_path, "name: p\non:\n  default: retry 2h\n", "--json") == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["ok"], doc["warnings"]) == (True, [])
    text = "name: s\non:\n  Connected: retry 1d\n  WrongNumber: retry 2h\n  default: retry 2h\n"
    assert _check(tmp_path, text, "--json") == 0
    doc = json.loads(capsys.readouterr().out)
    assert [w.split(":")[0].rsplit(".", 2)[1:] for w in doc["warnings"]] == [
        ["on", "Connected"],
        ["on", "WrongNumber"],
    ]
    assert _check(tmp_path, text) == 0
    out = capsys.readouterr().out
    assert out.count("warning: ") == 2 and "permanent block list" in out


def test_a_bad_strategy_exits_1_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _check(tmp_path, "name: x\non: {Busy: redial}\n") == 1
    assert "on.Busy: 'redial' is not an action" in capsys.readouterr().err
    assert main(["strategy", "check", str(tmp_path / "none.yaml")]) == 3
