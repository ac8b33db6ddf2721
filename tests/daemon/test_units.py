"""The systemd unit: `systemd-analyze verify` accepts it, its security exposure stays at most 2.0,
and it caps the daemon's memory, tasks and open files."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parents[2] / "systemd"
ANALYZE = shutil.which("systemd-analyze")
pytestmark = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")


def _installed_copy(tmp_path: Path) -> Path:
    """The unit as installed, with ExecStart pointing at an executable that exists here."""
    stub = tmp_path / "dialbox"
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    unit = tmp_path / "dialbox.service"
    unit.write_text(
        (UNITS / "dialbox.service").read_text().replace("/opt/dialbox/bin/dialbox", str(stub))
    )
    return unit


def test_unit_verifies_cleanly(tmp_path: Path) -> None:
    assert ANALYZE is not None
    result = subprocess.run(
        [ANALYZE, "verify", "--man=no", str(_installed_copy(tmp_path))],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    problems = [line for line in result.stderr.splitlines() if "dialbox.service" in line]
    assert problems == []


def test_security_exposure_at_most_2_0(tmp_path: Path) -> None:
    assert ANALYZE is not None
    result = subprocess.run(
        [ANALYZE, "security", "--offline=true", "--no-pager", str(_installed_copy(tmp_path))],
        capture_output=True,
        text=True,
        check=False,
    )
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert match, result.stdout[-500:] + result.stderr
    assert float(match.group(1)) <= 2.0


def test_unit_is_type_notify_with_watchdog_and_runs_as_its_own_user() -> None:
    text = (UNITS / "dialbox.service").read_text()
    for line in (
        "Type=notify",
        "WatchdogSec=",
        "User=dialbox",
        "SupplementaryGroups=dialout",
        "ProtectSystem=strict",
        "StateDirectory=dialbox",
        "ExecReload=/bin/kill -HUP $MAINPID",
    ):
        assert line in text


def test_unit_caps_memory_tasks_and_open_files() -> None:
    settings = dict(
        line.split("=", 1)
        for line in (UNITS / "dialbox.service").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    for key in ("MemoryMax", "TasksMax", "LimitNOFILE"):
        assert key in settings, f"dialbox.service sets no {key}="
    assert settings["MemoryMax"].endswith(("M", "G"))
    assert 64 <= int(settings["TasksMax"]) <= 4096
    assert 1024 <= int(settings["LimitNOFILE"]) <= 65536
