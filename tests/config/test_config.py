"""Config: the example loads; every error names file, line and key; lookup order is the shared rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.cli import main
from appliance.config import ConfigError, load_config, resolve_config_path
from appliance.config.loader import parse_config

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "dialbox.yaml"


def test_example_config_loads_with_paths_relative_to_the_file() -> None:
    config = load_config(EXAMPLE)
    assert config.region == "US"
    assert config.database == EXAMPLE.parent.parent / "var" / "dialbox.db"
    assert config.lines[0].name == "gsm0"
    assert config.import_.mappings["crm_export"].columns["phone1"] == "Mobile"


def _problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "box.yaml")
    return [str(p) for p in info.value.problems]


def test_unknown_key_names_file_line_key_and_allowed_keys() -> None:
    text = "database: x.db\nlines:\n  - name: a\n    device: /dev/ttyUSB0\n    kindd: gsm\n"
    [problem] = _problems(text)
    assert problem.startswith("box.yaml:5: lines[0].kindd: unknown key 'kindd'")
    assert "kind" in problem and "device" in problem


def test_bad_values_are_each_reported_at_their_line() -> None:
    text = (
        "database: x.db\n"
        "region: ZZ\n"
        "calling_hours:\n"
        "  start: '22:00'\n"
        "  end: '08:00'\n"
        "api:\n"
        "  port: 70000\n"
    )
    problems = _problems(text)
    assert any(p.startswith("box.yaml:2: region:") and "ZZ" in p for p in problems)
    assert any(p.startswith("box.yaml:3: calling_hours:") and "after start" in p for p in problems)
    assert any(p.startswith("box.yaml:7: api.port:") for p in problems)


def test_invalid_yaml_and_duplicate_keys() -> None:
    assert _problems("a: [1\n")[0].startswith("box.yaml:2: not valid YAML")
    assert _problems("database: a\ndatabase: b\n") == ["box.yaml:2: database: key given twice"]


def test_lines_must_have_unique_names_and_valid_kind() -> None:
    text = "lines:\n  - {name: a, device: x}\n  - {name: a, device: y, kind: isdn}\n"
    problems = _problems(text)
    assert any("lines[1].kind" in p and "'gsm'" in p for p in problems)


def test_defaults_put_the_database_under_xdg_state_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DIALBOX_CONFIG", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    monkeypatch.setattr("appliance.config.loader.SYSTEM_CONFIG", tmp_path / "absent.yaml")
    assert resolve_config_path(None) is None
    assert load_config(None).database == tmp_path / "dialbox" / "dialbox.db"


def test_lookup_order_flag_then_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = tmp_path / "env.yaml"
    monkeypatch.setenv("DIALBOX_CONFIG", str(env_file))
    assert resolve_config_path(None) == env_file
    assert resolve_config_path(str(tmp_path / "flag.yaml")) == tmp_path / "flag.yaml"


def test_check_config_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(EXAMPLE)]) == 0
    assert capsys.readouterr().out.strip() == "ok"
    bad = tmp_path / "bad.yaml"
    bad.write_text("database: x.db\nlog_level: LOUD\n")
    assert main(["check-config", str(bad)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:2: log_level:" in err
    assert main(["check-config", str(tmp_path / "missing.yaml")]) == 1
    assert "cannot read" in capsys.readouterr().err


def test_a_line_and_a_seat_on_one_card_port_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "d.yaml"
    path.write_text(
        "database: d.db\nlines:\n  - {name: l1, kind: can, device: 'virtual:a/3/1'}\n"
        "seats:\n  - {name: s1, kind: can, device: 'virtual:a/3/1'}\n"
    )
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "s1 and l1 are both on the port virtual:a/3/1" in str(err.value)


def test_line_seat_and_mapping_names_follow_the_name_rule() -> None:
    # #18: one rule for every name; each refusal at its file:line with the rule and the reason.
    text = (
        "database: x.db\n"
        "lines:\n"
        "  - name: ../x\n"
        "    device: /dev/a\n"
        "  - name: ..\n"
        "    device: /dev/b\n"
        "seats:\n"
        "  - name: archive\n"
        "    kind: phone\n"
        "    number: '+48601234567'\n"
        "import:\n"
        "  mappings:\n"
        "    ..:\n"
        "      columns: {phone1: Mobile}\n"
    )
    problems = _problems(text)
    rule = "names are 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
    assert f"box.yaml:3: lines[0].name: line name '../x' is not allowed: {rule}" in problems
    assert f"box.yaml:5: lines[1].name: line name '..' is not allowed: {rule}" in problems
    assert any(
        p.startswith("box.yaml:8: seats[0].name: 'archive' is reserved: the hot folder uses it")
        for p in problems
    ), problems
    assert any(
        p.startswith("box.yaml:12: import.mappings:")
        and f"mapping name '..' is not allowed: {rule}" in p
        for p in problems
    ), problems


def test_aliases_nesting_and_size_within_the_limits_still_load() -> None:
    text = (
        "database: x.db\n"
        "lines:\n"
        "  - {name: a, device: /dev/ttyUSB0, campaigns: &both [spring, autumn]}\n"
        "  - {name: b, device: /dev/ttyUSB1, campaigns: *both}\n"
        "import:\n  mappings:\n    crm:\n      columns: {phone1: &col Mobile}\n"
        "    crm2:\n      columns: {phone1: *col}\n"
    )
    config = parse_config(text, "box.yaml")
    assert config.lines[1].campaigns == ("spring", "autumn")
    assert config.import_.mappings["crm2"].columns["phone1"] == "Mobile"
    # 64 levels (the root mapping is the first) are YAML the loader reads; 65 are refused
    assert [p.split(" (")[0] for p in _problems("x: " + "[" * 63 + "]" * 63 + "\n")] == [
        "box.yaml:1: x: unknown key 'x'"
    ]
    assert _problems("x: " + "[" * 64 + "]" * 64 + "\n") == [
        "box.yaml:1: refused: nested more than 64 levels deep"
    ]
