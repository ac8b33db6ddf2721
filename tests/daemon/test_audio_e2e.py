"""The audio path end to end (#24): the real daemon dials over emulated Quectel and SIMCom
modems whose PCM audio ports (ptys) carry the far end's sound; answering-machine detection
decides on what it hears, and every answered call is recorded."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from appliance.cli import main
from appliance.domain import Outcome
from appliance.drivers.audio import RATE
from appliance.drivers.emulators.sounds import sound
from appliance.store.db import Database
from tests.api.client import Api, make_token
from tests.daemon.process import ALWAYS_CALLABLE, DaemonProcess, EmulatorProcess, control

PERSONS = [f"+1212555{n:04d}" for n in range(100, 106)]
MACHINES = [f"+1212555{n:04d}" for n in range(200, 206)]


def script() -> str:
    # Calls last 40 s of the emulator's time (2 s real at 0.05); the sound runs 5 times real
    # time, so the far end talks through the detector's 3 s budget (0.6 s real) with a margin
    # for a loaded host (at 12 s, 0.6 s real, a machine's stream once ended at 2.68 s of audio,
    # before its verdict at 2.54 s had been reached on a busy CI-like box).
    text = 'time_scale = 0.05\naudio_speed = 5.0\nsound = "person"\n'
    for number in PERSONS:
        text += f'[[numbers]]\nnumber = "{number}"\noutcome = "answer"\nring = 2.0\ntalk = 40.0\n'
    for number in MACHINES:
        text += (
            f'[[numbers]]\nnumber = "{number}"\noutcome = "answer"\nring = 2.0\ntalk = 40.0\n'
            'sound = "machine"\n'
        )
    return text


def attempts(db_path: Path) -> list[tuple[object, ...]]:
    db = Database(db_path, readonly=True)
    try:
        return [
            tuple(r)
            for r in db.conn.execute(
                "SELECT a.number, a.line, a.outcome, a.evidence, a.id FROM attempts a ORDER BY a.id"
            )
        ]
    finally:
        db.close()


def test_answering_machines_are_told_from_persons_by_their_sound(tmp_path: Path) -> None:
    quectel = EmulatorProcess(tmp_path / "q", 2, script=script(), profile="quectel")
    simcom = EmulatorProcess(tmp_path / "s", 1, script=script(), profile="simcom")
    links = [(p, "q") for p in quectel.links] + [(p, "s") for p in simcom.links]
    lines = "lines:\n" + "".join(
        f"  - {{name: {kind}{p.name}, device: {p}, audio: {p}-audio}}\n" for p, kind in links
    )
    daemon = DaemonProcess(tmp_path, lines + ALWAYS_CALLABLE + "engine:\n  tick: 0.1\n")
    cli = ["--config", str(daemon.config)]
    try:
        assert main([*cli, "campaign", "create", "c", "--type", "automated", "--region", "US",
                     "--set", "amd={budget: 3000}", "--set", "max_attempts=1"]) == 0  # fmt: skip
        csv = tmp_path / "c.csv"
        csv.write_text("".join(f"{n},,,,,Callee\n" for n in PERSONS + MACHINES))
        assert main([*cli, "import", "--campaign", "c", str(csv)]) == 0
        assert main([*cli, "campaign", "start", "c"]) == 0
        daemon.start()
        daemon.expect("READY")
        db_path = tmp_path / "state" / "dialbox.db"
        deadline = time.monotonic() + 120
        while len([r for r in attempts(db_path) if r[2] is not None]) < 12:
            assert time.monotonic() < deadline, daemon.output()[-4000:]
            assert daemon.proc is not None and daemon.proc.poll() is None, daemon.output()[-4000:]
            time.sleep(0.1)  # polling another process's database
        assert daemon.proc is not None
        daemon.proc.send_signal(signal.SIGTERM)
        assert daemon.proc.wait(60) == 0
        rows = attempts(db_path)
        assert len(rows) == 12
        by_number = {str(r[0]): r for r in rows}
        for number in PERSONS:
            _, _, outcome, evidence, _ = by_number[number]
            assert Outcome(int(str(outcome))) is Outcome.CONNECTED, (number, evidence)
            assert "amd person" in str(evidence), evidence
        for number in MACHINES:
            _, _, outcome, evidence, _ = by_number[number]
            assert Outcome(int(str(outcome))) is Outcome.ANSWERING_MACHINE, (number, evidence)
            assert "amd machine" in str(evidence), evidence
        assert {str(r[1])[0] for r in rows} == {"q", "s"}  # both dialects carried calls
    finally:
        daemon.stop()
        quectel.stop()
        simcom.stop()


def correlation(recorded: np.ndarray, sent: np.ndarray) -> float:
    """The peak of the normalised cross-correlation of `sent` over `recorded` (any lag)."""
    a = recorded.astype(np.float64)
    b = sent.astype(np.float64)
    size = 1 << (len(a) + len(b)).bit_length()
    corr = np.fft.irfft(np.fft.rfft(a, size) * np.conj(np.fft.rfft(b, size)), size)
    best = int(np.argmax(np.abs(corr)))
    lag = best if best < len(a) else best - size
    lo, hi = max(0, lag), min(len(a), lag + len(b))
    if hi - lo < RATE // 2:
        return 0.0
    x, y = a[lo:hi], b[lo - lag : hi - lag]
    return float(np.dot(x, y) / (np.linalg.norm(x) * np.linalg.norm(y) + 1e-9))


def test_every_answered_call_is_recorded_with_the_far_ends_sound(tmp_path: Path) -> None:
    import soundfile

    numbers = [f"+1312555{n:04d}" for n in range(100, 109)]
    plans = "".join(
        f'[[numbers]]\nnumber = "{n}"\noutcome = "answer"\nring = 2.0\ntalk = 30.0\n'
        for n in numbers
    )
    script = 'time_scale = 0.05\naudio_speed = 5.0\nsound = "person-long"\n' + plans
    quectel = EmulatorProcess(tmp_path / "q", 1, script=script, profile="quectel")
    simcom = EmulatorProcess(tmp_path / "s", 1, script=script, profile="simcom")
    # the V.253 emulator's sound and pace are set through its control socket (below)
    (tmp_path / "analog-script.toml").write_text("time_scale = 0.05\n" + plans)
    analog = subprocess.Popen(
        [sys.executable, "-m", "appliance", "emulate", "v253", "--count", "1", "--link-dir",
         str(tmp_path / "analog"), "--script", str(tmp_path / "analog-script.toml"), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    daemon = None
    try:
        assert analog.stdout is not None
        v253 = Path(json.loads(analog.stdout.readline())["links"][0]["link"])
        assert (
            control(tmp_path / "analog" / "control.sock", f"{v253.name} sound person-long") == "ok"
        )
        assert control(tmp_path / "analog" / "control.sock", f"{v253.name} speed 5") == "ok"
        lines = (
            "lines:\n"
            + "".join(
                f"  - {{name: {kind}{p.name}, device: {p}, audio: {p}-audio}}\n"
                for p, kind in ((quectel.links[0], "q"), (simcom.links[0], "s"))
            )
            + f"  - {{name: {v253.name}, kind: v253, device: {v253}, audio: stream}}\n"
        )
        daemon = DaemonProcess(tmp_path, lines + ALWAYS_CALLABLE + "engine:\n  tick: 0.1\n")
        cli = ["--config", str(daemon.config)]
        assert main([*cli, "campaign", "create", "c", "--type", "automated", "--region", "US",
                     "--set", "record=true", "--set", "max_attempts=1"]) == 0  # fmt: skip
        csv = tmp_path / "c.csv"
        csv.write_text("".join(f"{n},,,,,Callee\n" for n in numbers))
        assert main([*cli, "import", "--campaign", "c", str(csv)]) == 0
        assert main([*cli, "campaign", "start", "c"]) == 0
        db_path = tmp_path / "state" / "dialbox.db"
        token = make_token(db_path, "tech", "crm")
        daemon.start()
        daemon.expect("READY")
        api = Api(f"http://127.0.0.1:{daemon.port}", token)
        api.wait_until(lambda: all(line["state"] in ("up", "busy")
                                   for line in api.get("/lines").json()), what="the lines up")  # fmt: skip
        paths = {line["name"]: line for line in api.get("/lines").json()}
        assert {n: p["audio"] for n, p in paths.items()} == {
            "qgsm0": True, "sgsm0": True, "v2530": True}, paths  # fmt: skip
        assert paths["qgsm0"]["audio_path"].startswith("PCM on "), paths
        assert "AT+CPCMREG=1" in paths["sgsm0"]["audio_path"], paths
        assert paths["v2530"]["audio_path"].startswith("voice stream on the data port"), paths
        deadline = time.monotonic() + 120
        while len([r for r in attempts(db_path) if r[2] is not None]) < len(numbers):
            assert time.monotonic() < deadline, daemon.output()[-4000:]
            assert daemon.proc is not None and daemon.proc.poll() is None, daemon.output()[-4000:]
            time.sleep(0.1)  # polling another process's database
        assert daemon.proc is not None
        daemon.proc.send_signal(signal.SIGTERM)
        assert daemon.proc.wait(60) == 0
        db = Database(db_path, readonly=True)
        try:
            answered = [tuple(r) for r in db.conn.execute(
                "SELECT id, line FROM attempts WHERE answered_at IS NOT NULL ORDER BY id")]  # fmt: skip
            recorded = {
                int(str(r[0])): tuple(r[1:])
                for r in db.conn.execute(
                    "SELECT attempt_id, status, path, sha256, line, error FROM recordings"
                )
            }
        finally:
            db.close()
        assert len(answered) == len(numbers)
        assert {str(line)[0] for _, line in answered} == {"q", "s", "v"}  # every kind recorded
        sent = np.frombuffer(sound("person-long"), dtype="<i2")[: 4 * RATE]
        for attempt_id, line in answered:
            status, path, sha, _, error = recorded[int(str(attempt_id))]
            assert status == "complete", (line, error)
            path = tmp_path / "state" / "recordings" / str(path)  # kept relative to the folder
            data = path.read_bytes()
            assert hashlib.sha256(data).hexdigest() == sha
            audio, rate = soundfile.read(str(path), dtype="int16")
            assert rate == RATE and audio.ndim == 2  # stereo: the far end left, the box right
            assert correlation(audio[:, 0], sent) > 0.9, line  # 1.0 on GSM, 0.999 on 8-bit V.253
    finally:
        if daemon is not None:
            daemon.stop()
        quectel.stop()
        simcom.stop()
        analog.terminate()
        analog.wait(10)
