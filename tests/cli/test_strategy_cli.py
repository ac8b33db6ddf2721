"""`dialbox strategy check|show|set|edit`: problems exit 1 with the key path; terminal outcomes a
strategy changes are warned about (#17), a bare `default:` is not; a campaign's strategy shown as
the docs write it, set from a file or stdin, edited in $VISUAL until it parses (#22)."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest
import yaml

from appliance.cli import main
from appliance.scheduler.strategy import DEFAULT_STRATEGY, parse_strategy, to_dict


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


# -- show, set, edit (#22) ---------------------------------------------------------------------

DOCS_EXAMPLE = """name: voice-then-sms
attempts:
  - {channel: voice, phone: 1}
  - {channel: voice, phone: next}
  - {channel: sms, phone: 1, wait: 1d}
on:
  NoAnswer: retry 30m
  Busy: {action: sms, after: 5m}
  default: retry 2h
steps_on:
  2: {Busy: close Not Connected}
"""

# An editor that plays a script: each run takes the next round (write a text, keep the file,
# or fail) and records what it was shown.
EDITOR = """import json, pathlib, sys
state = pathlib.Path(sys.argv[1])
rounds = json.loads(state.read_text())
target = pathlib.Path(sys.argv[2])
shown = json.loads((state.parent / "shown.json").read_text()) if (state.parent / "shown.json").exists() else []
shown.append(target.read_text())
(state.parent / "shown.json").write_text(json.dumps(shown))
step = rounds.pop(0)
state.write_text(json.dumps(rounds))
if "write" in step:
    target.write_text(step["write"])
sys.exit(step.get("exit", 0))
"""


@pytest.fixture()
def box(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    config = tmp_path / "dialbox.yaml"
    config.write_text(f"database: {tmp_path}/d.db\n")
    monkeypatch.setenv("DIALBOX_CONFIG", str(config))
    assert main(["campaign", "create", "spring"]) == 0
    return tmp_path


def _editor(box: Path, monkeypatch: pytest.MonkeyPatch, *rounds: dict[str, object]) -> Path:
    (box / "editor.py").write_text(EDITOR)
    (box / "rounds.json").write_text(json.dumps(list(rounds)))
    monkeypatch.setenv("VISUAL", f"{sys.executable} {box / 'editor.py'} {box / 'rounds.json'}")
    return box / "shown.json"


def _stored(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    capsys.readouterr()
    assert main(["strategy", "show", "spring", "--json"]) == 0
    return dict(json.loads(capsys.readouterr().out))


def test_show_prints_the_default_as_yaml_that_reads_back(
    box: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["strategy", "show", "spring"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("# campaign spring: the built-in default")
    assert "\non:\n  Connected: close Connected\n" in text
    assert "  - {channel: voice, phone: 1}\n" in text
    again = parse_strategy(yaml.safe_load(text))
    assert again == DEFAULT_STRATEGY
    assert _stored(capsys) == {**to_dict(DEFAULT_STRATEGY), "warnings": []}


def test_set_takes_the_docs_form_from_a_file_or_stdin_and_show_gives_it_back(
    box: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (box / "s.yaml").write_text(DOCS_EXAMPLE)
    assert main(["strategy", "set", "spring", str(box / "s.yaml")]) == 0
    out = capsys.readouterr().out
    assert "strategy 'voice-then-sms' stored as 'campaign:spring'" in out
    expected = parse_strategy(yaml.safe_load(DOCS_EXAMPLE))
    assert _stored(capsys) == {**to_dict(expected), "warnings": []}

    assert main(["strategy", "show", "spring"]) == 0
    shown = capsys.readouterr().out
    assert "  Busy: sms 5m\n" in shown and "steps_on:\n  2: {Busy: close Not Connected}\n" in shown
    # What show prints, set takes back unchanged (stdin).
    monkeypatch.setattr(sys, "stdin", io.StringIO(shown.replace("voice-then-sms", "v2")))
    assert main(["strategy", "set", "spring", "-", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["ok"] and document["name"] == "v2"
    assert {**document, "name": "voice-then-sms"} == {
        "ok": True,
        "stored_as": "campaign:spring",
        **to_dict(expected),
        "warnings": [],
    }


def test_set_warns_of_terminal_outcomes(box: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (box / "s.yaml").write_text("name: s\non:\n  Connected: {action: retry, after: 1d}\n")
    assert main(["strategy", "set", "spring", str(box / "s.yaml")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("warning: on.Connected: retry 1d replaces the built-in close Connected")


@pytest.mark.parametrize(
    ("text", "code", "message"),
    [
        ("name: x\non: {Busy: {after: 5m}}\n", 1, "s.yaml.on.Busy: the mapping has no 'action'"),
        ("name: x\non: {Busy: retry soon}\n", 1, "s.yaml.on.Busy.after: 'soon' is not a delay"),
        ("name: [x\n", 1, "s.yaml: not YAML or JSON"),
        ("- just\n- a list\n", 1, "s.yaml: expected a mapping with 'attempts' and 'on'"),
        (b"name: \xff\n", 2, "s.yaml: not UTF-8 text"),
    ],
)
def test_set_refuses_a_bad_file_and_keeps_the_strategy(
    box: Path, capsys: pytest.CaptureFixture[str], text: str | bytes, code: int, message: str
) -> None:
    path = box / "s.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    assert main(["strategy", "set", "spring", str(path)]) == code
    assert message in capsys.readouterr().err
    assert _stored(capsys)["name"] == "default"


def test_set_and_show_of_a_campaign_or_file_that_does_not_exist_exit_3(
    box: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (box / "s.yaml").write_text(DOCS_EXAMPLE)
    assert main(["strategy", "set", "autumn", str(box / "s.yaml")]) == 3
    assert main(["strategy", "show", "autumn"]) == 3
    assert main(["strategy", "edit", "autumn"]) == 3
    assert main(["strategy", "set", "spring", str(box / "none.yaml")]) == 3
    assert "no campaign" in capsys.readouterr().err


def test_edit_reopens_with_the_error_on_top_until_it_parses(
    box: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    shown = _editor(box, monkeypatch, {"write": "name: e\non:\n  Busy: redial\n"},
                    {"write": "name: e\non:\n  Busy: {action: retry, after: 5m}\n"})  # fmt: skip
    capsys.readouterr()
    assert main(["strategy", "edit", "spring"]) == 0
    assert "strategy 'e' stored as 'campaign:spring'" in capsys.readouterr().out
    first, second = json.loads(shown.read_text())
    assert first.startswith("# The call strategy of campaign spring.")
    assert "\nname: default\n" in first and "# Actions: retry [DELAY]" in first
    assert second.startswith(
        "# ERROR: strategy.on.Busy: 'redial' is not an action; expected one of retry"
    )
    assert second.endswith("name: e\non:\n  Busy: redial\n")  # the text as it was left
    assert _stored(capsys)["on"] == {"Busy": "retry 5m"}


def test_edit_unchanged_or_the_same_strategy_changes_nothing(
    box: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _editor(box, monkeypatch, {})
    assert main(["strategy", "edit", "spring"]) == 0
    assert "no changes" in capsys.readouterr().err
    # The default, written out again in another order and spacing, is still the default.
    text = yaml.safe_dump(to_dict(DEFAULT_STRATEGY), sort_keys=True)
    _editor(box, monkeypatch, {"write": text})
    assert main(["strategy", "edit", "spring"]) == 0
    assert "no changes" in capsys.readouterr().err
    assert main(["campaign", "show", "spring", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["settings"]["strategy"] is None


@pytest.mark.parametrize(
    ("rounds", "code", "message"),
    [
        ([{"write": ""}], 1, "the file is empty: nothing changed"),
        ([{"write": "# only a comment\n\n"}], 1, "the file is empty"),
        ([{"write": "name: e\non: {Busy: redial}\n"}, {}], 1, "your text is in"),
        ([{"write": "name: e\n", "exit": 3}], 2, "exited with status 3; nothing changed"),
    ],
)
def test_edit_emptied_abandoned_or_failed_stores_nothing(
    box: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    rounds: list[dict[str, object]],
    code: int,
    message: str,
) -> None:
    _editor(box, monkeypatch, *rounds)
    capsys.readouterr()
    assert main(["strategy", "edit", "spring"]) == code
    err = capsys.readouterr().err
    assert message in err
    if "your text is in" in err:
        kept = Path(err.split("your text is in ")[1].split(" ")[0])
        assert kept.read_text() == "name: e\non: {Busy: redial}\n"
        kept.unlink()
    assert _stored(capsys)["name"] == "default"


def test_edit_without_a_usable_editor_says_so(
    box: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VISUAL", str(box / "no-such-editor"))
    assert main(["strategy", "edit", "spring"]) == 2
    assert "cannot start the editor" in capsys.readouterr().err
    monkeypatch.setenv("VISUAL", "'unclosed")
    assert main(["strategy", "edit", "spring"]) == 2
    assert "cannot be read" in capsys.readouterr().err


def test_edit_repairs_a_campaign_whose_strategy_is_gone(
    box: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["campaign", "set", "spring", "strategy=ghost"]) == 0
    capsys.readouterr()
    assert main(["strategy", "show", "spring"]) == 2
    assert "uses strategy 'ghost', which is not stored" in capsys.readouterr().err
    shown = _editor(box, monkeypatch, {"write": "name: back\non: {default: retry 1h}\n"})
    assert main(["strategy", "edit", "spring"]) == 0
    first = json.loads(shown.read_text())[0]
    assert first.startswith("# ERROR: campaign 'spring' uses strategy 'ghost', which is not stored")
    assert "\nname: default\n" in first
    assert _stored(capsys)["on"] == {"default": "retry 1h"}
