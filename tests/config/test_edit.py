"""First-run setup edits the config file: comments kept, the result validated before the file
is replaced, a bad change leaving the file exactly as it was."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.config import ConfigError, load_config
from appliance.config.edit import edit_config

TEXT = """\
# the box's database
database: box.db
region: US            # national numbers are read as US numbers
compliance_profile: us
lines:
  - {name: gsm0, device: /dev/ttyUSB0}   # the SIMCom in slot 1
"""


def test_changes_keep_comments_and_validate(tmp_path: Path) -> None:
    path = tmp_path / "dialbox.yaml"
    path.write_text(TEXT)
    config, restart = edit_config(path, {"region": "GB", "compliance_profile": "uk",
                                         "calling_hours": {"start": "09:00", "end": "20:00"},
                                         "name_lines": {"/dev/ttyUSB0": "front-desk", "/dev/ttyUSB1": "back"}})  # fmt: skip
    assert restart is True
    text = path.read_text()
    assert (
        "# the box's database" in text and "# national numbers" in text and "# the SIMCom" in text
    )
    loaded = load_config(path)
    assert (
        (loaded.region, loaded.compliance_profile)
        == ("GB", "uk")
        == (config.region, config.compliance_profile)
    )
    assert [(line.name, line.device) for line in loaded.lines] == [
        ("front-desk", "/dev/ttyUSB0"),
        ("back", "/dev/ttyUSB1"),
    ]
    assert loaded.calling_hours.start.hour == 9 and loaded.calling_hours.end.hour == 20


def test_a_bad_change_names_file_line_and_key_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "dialbox.yaml"
    path.write_text(TEXT)
    with pytest.raises(ConfigError) as caught:
        edit_config(path, {"region": "XX"})
    problem = caught.value.problems[0]
    assert problem.key == "region" and problem.line == 3 and str(path) in str(problem)
    assert path.read_text() == TEXT
    with pytest.raises(ConfigError):
        edit_config(path, {"calling_hours": {"start": "21:00", "end": "08:00"}})
    assert path.read_text() == TEXT
    _, restart = edit_config(path, {"timezone": "America/Chicago"})
    assert restart is False and load_config(path).timezone == "America/Chicago"


def test_unquoted_clock_times_are_read_as_written(tmp_path: Path) -> None:
    # YAML 1.1 makes `08:00` the integer 480; it must still mean eight o'clock.
    path = tmp_path / "dialbox.yaml"
    path.write_text("database: box.db\ncalling_hours:\n  start: 08:30\n  end: 20:15\n")
    hours = load_config(path).calling_hours
    assert (hours.start.hour, hours.start.minute, hours.end.hour, hours.end.minute) == (
        8,
        30,
        20,
        15,
    )


def test_pinning_a_line_to_campaigns(tmp_path: Path) -> None:
    path = tmp_path / "dialbox.yaml"
    path.write_text(TEXT)
    config, _ = edit_config(path, {"pin_lines": {"gsm0": ["spring", "autumn"]}})
    assert config.lines[0].campaigns == ("spring", "autumn")
    assert edit_config(path, {"pin_lines": {"gsm0": []}})[0].lines[0].campaigns == ()
    with pytest.raises(ConfigError):
        edit_config(path, {"pin_lines": {"nope": ["spring"]}})


@pytest.mark.parametrize(
    ("tail", "expected"),
    [
        ("x: " + "[" * 100_000 + "\n", ":7: refused: nested more than 64 levels deep"),
        ("#" + "x" * 2 * 1024 * 1024 + "\n", ": refused: the file is larger than 1 MiB"),
    ],
)
def test_a_hostile_file_is_refused_before_it_is_edited(
    tmp_path: Path, tail: str, expected: str
) -> None:
    path = tmp_path / "dialbox.yaml"
    path.write_text(TEXT + tail)
    with pytest.raises(ConfigError) as err:
        edit_config(path, {"region": "GB"})
    assert str(err.value).startswith(f"{path}:") and expected in str(err.value)
    assert path.read_text() == TEXT + tail


def test_the_custom_profiles_hours_are_written_where_that_profile_reads_them(
    tmp_path: Path,
) -> None:
    """The console's hours form edits what the header shows: under `compliance_profile: custom`
    that is `compliance.calling_hours`, which the box's own `calling_hours` do not narrow."""
    path = tmp_path / "dialbox.yaml"
    path.write_text(TEXT.replace("compliance_profile: us", "compliance_profile: custom"))
    config, _ = edit_config(path, {"custom_calling_hours": "mon-fri 09:00-20:00"})
    assert config.compliance.calling_hours == "mon-fri 09:00-20:00"
    assert load_config(path).compliance.calling_hours == "mon-fri 09:00-20:00"
    assert "# the SIMCom" in path.read_text()
    before = path.read_text()
    for bad in ("whenever", "mon-fri 20:00-09:00", "x" * 300):
        with pytest.raises(ConfigError) as caught:
            edit_config(path, {"custom_calling_hours": bad})
        assert "calling_hours" in str(caught.value)
        assert path.read_text() == before
