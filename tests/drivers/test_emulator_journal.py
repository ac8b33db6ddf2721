"""`dialbox emulate gsm --journal FILE`: every ATD and its call's fate, on disk at once (issue 17)."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import serial

SCRIPT = """time_scale = 0.02
[[numbers]]
number = "+15550000001"
outcome = "answer"
ring = 1
talk = 1000
[[numbers]]
number = "+15550000002"
outcome = "busy"
ring = 1
[[numbers]]
number = "+15550000003"
outcome = "no-network"
"""


def start(tmp: Path, journal: Path) -> subprocess.Popen[bytes]:
    (tmp / "s.toml").write_text(SCRIPT)
    proc = subprocess.Popen(
        [sys.executable, "-m", "appliance", "emulate", "gsm", "--count", "2", "--link-dir",
         str(tmp / "m"), "--script", str(tmp / "s.toml"), "--journal", str(journal), "--json"],
        stdout=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    assert json.loads(proc.stdout.readline())["journal"] == str(journal)
    return proc


def events(journal: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in journal.read_text().splitlines()]


def wait_for(journal: Path, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 10
    while len(found := events(journal)) < count:
        assert time.monotonic() < deadline, found
        time.sleep(0.02)  # polling another process's file
    return found


def chat(port: serial.Serial, command: bytes, until: bytes = b"OK\r\n") -> bytes:
    port.write(command + b"\r")
    reply: bytes = port.read_until(until)
    assert reply.endswith(until), reply
    return reply


def registered(port: serial.Serial) -> None:
    """Ask until the module has booted and registered (it ignores commands while booting)."""
    port.timeout = 0.5
    deadline = time.monotonic() + 10
    while True:
        port.write(b"AT+CREG?\r")
        if b"+CREG: 0,1" in port.read_until(b"OK\r\n"):
            break
        assert time.monotonic() < deadline, "the emulated modem never registered"
    port.timeout = 5


def control(tmp: Path, command: str) -> None:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(5)
        sock.connect(str(tmp / "m" / "control.sock"))
        sock.sendall(command.encode() + b"\n")
        assert sock.recv(100) == b"ok\n"


def test_the_journal_records_each_atd_and_its_fate_and_survives_a_kill(tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    proc = start(tmp_path, journal)
    try:
        with (
            serial.Serial(str(tmp_path / "m" / "gsm0"), timeout=5) as a,
            serial.Serial(str(tmp_path / "m" / "gsm1"), timeout=5) as b,
        ):
            registered(a)
            registered(b)
            chat(a, b"ATD+15550000001;")
            chat(b, b"ATD+15550000002;")
            wait_for(journal, 6)  # 2 dials, 2 alerting, the answer, the busy call's end
            assert chat(b, b"ATD+15550000003;", b"ERROR\r\n")  # no network: refused
            wait_for(journal, 7)
            chat(a, b"ATH")
            control(tmp_path, "gsm0 urc hello")
        seen = wait_for(journal, 9)
    finally:
        proc.kill()  # SIGKILL: nothing is flushed at exit, yet every line is there
        proc.wait(10)
    dials = [e for e in seen if e["event"] == "dial"]
    assert len(dials) == 3
    assert [(d["modem"], d["number"], d.get("plan"), d.get("refused")) for d in dials] == [
        ("gsm0", "+15550000001", "answer", None),
        ("gsm1", "+15550000002", "busy", None),
        ("gsm1", "+15550000003", None, "+CME ERROR: 30"),
    ]
    answered, busy = dials[0]["call"], dials[1]["call"]
    ends = {e["call"]: e for e in seen if e["event"] == "end"}
    assert ends[busy]["by"] == "far end" and ends[busy]["cause"] == 17
    assert not ends[busy]["answered"]
    assert ends[answered]["by"] == "host" and ends[answered]["answered"]
    assert any(e["event"] == "answer" and e["call"] == answered for e in seen)
    assert seen[-1]["event"] == "control" and seen[-1]["command"] == "gsm0 urc hello"
    assert all(isinstance(e["t"], float) and abs(e["t"] - time.time()) < 60 for e in seen)

    # a new emulator on the same journal appends; its calls get new ids; an unplug ends the call
    proc = start(tmp_path, journal)
    try:
        with serial.Serial(str(tmp_path / "m" / "gsm0"), timeout=5) as a:
            registered(a)
            chat(a, b"ATD+15550000001;")
            wait_for(journal, len(seen) + 3)  # dial, alerting, answer
            control(tmp_path, "gsm0 unplug")
        after = wait_for(journal, len(seen) + 5)[len(seen) :]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
    assert after[0]["event"] == "dial" and after[0]["call"] > max(d["call"] for d in dials)
    assert [e["event"] for e in after] == ["dial", "alerting", "answer", "control", "end"]
    assert after[-1]["by"] == "module gone" and after[-1]["why"] == "unplugged"
    assert after[-1]["answered"]
