"""`dialbox emulate gsm` and `dialbox lines probe|call|sms` as a technician runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

SCRIPT = """
time_scale = 0.02
[[numbers]]
number = "+15550000002"
outcome = "busy"
[[numbers]]
number = "+15550000001"
outcome = "answer"
ring = 2
talk = 2
"""


MAIN = "import sys; from appliance.cli import main; sys.exit(main(sys.argv[1:]))"


def dialbox(*args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", MAIN, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield from _emulate(tmp_path_factory.mktemp("emu"), "simcom")


def _emulate(tmp: Path, profile: str) -> Iterator[Path]:
    (tmp / "script.toml").write_text(SCRIPT)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            MAIN,
            "emulate",
            "gsm",
            "--count",
            "2",
            "--link-dir",
            str(tmp / "links"),
            "--profile",
            profile,
            "--script",
            str(tmp / "script.toml"),
            "--json",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    ready = json.loads(proc.stdout.readline())  # printed once the ptys exist
    assert [Path(link["link"]).name for link in ready["links"]] == ["gsm0", "gsm1"]
    yield tmp / "links"
    proc.terminate()
    assert proc.wait(10) == 0


def test_probe_json(emulator: Path) -> None:
    done = dialbox("lines", "probe", str(emulator / "gsm1"), "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert set(doc) >= {
        "manufacturer",
        "model",
        "revision",
        "imei",
        "imsi",
        "sim",
        "registered",
        "operator",
        "signal_dbm",
        "profile",
    }
    assert doc["profile"] == "simcom" and doc["registered"] is True
    assert doc["quirks"] == {} and doc["call_progress"].startswith("clcc-urc indications")


def test_probe_reports_quirks_and_call_progress_of_a_wavecom(tmp_path: Path) -> None:
    """#20: a Wavecom answers AT+CPIN? without OK; the probe used to fail ("no final result
    within 5 s"). Now it comes up and says which quirks and call-state strategy are in force."""
    for links in _emulate(tmp_path, "wavecom"):
        done = dialbox("lines", "probe", str(links / "gsm0"), "--json")
        assert done.returncode == 0, done.stderr
        doc = json.loads(done.stdout)
        assert doc["profile"] == "wavecom" and doc["sim"] == "READY"
        assert doc["quirks"] == {"cpin-no-ok": "profile", "atd-held": "profile"}
        assert doc["call_progress"].startswith("wind indications")
        human = dialbox("lines", "probe", str(links / "gsm0"))
        assert "cpin-no-ok (profile), atd-held (profile)" in human.stdout, human.stdout


def test_call_json_outcomes(emulator: Path) -> None:
    busy = json.loads(
        dialbox("lines", "call", str(emulator / "gsm0"), "+15550000002", "--json").stdout
    )
    assert (busy["outcome"], busy["code"]) == ("Busy", 1)
    assert busy["evidence"][0] == "ATD+15550000002;" and "durations" in busy
    answered = json.loads(
        dialbox("lines", "call", str(emulator / "gsm0"), "+15550000001", "--json").stdout
    )
    assert answered["outcome"] == "Connected" and answered["durations"]["talk"] > 0
    refused = dialbox("lines", "call", str(emulator / "gsm0"), "+1555", "--ring-timeout", "5")
    assert refused.returncode == 2 and "at least 15" in refused.stderr


def test_sms_json(emulator: Path) -> None:
    done = dialbox(
        "lines",
        "sms",
        str(emulator / "gsm1"),
        "+447700900123",
        "Grüße " * 60,
        "--json",
        "--wait-report",
        "5",
    )
    doc = json.loads(done.stdout)
    assert doc["status"] == "sent" and doc["parts"] == 3 and len(doc["references"]) == 3
    assert all(r["delivered"] for r in doc["reports"]) and len(doc["reports"]) == 3


def test_absent_port_and_silent_port_fail_clearly(tmp_path: Path) -> None:
    absent = dialbox("lines", "probe", str(tmp_path / "ttyUSB9"))
    assert absent.returncode == 2 and "no such port" in absent.stderr
    assert absent.stdout == ""
    silent = dialbox("lines", "probe", "loop://", timeout=30)  # echoes, never answers OK
    assert silent.returncode == 2 and "nothing answers AT" in silent.stderr
