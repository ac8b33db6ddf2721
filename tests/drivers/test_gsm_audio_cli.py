"""GSM call audio as the technician and the end-to-end tests meet it (#24): the emulator lists
each modem's audio pty, takes the audio control commands over its socket, scripts sounds per
number; `lines probe --audio` says the audio path; the factory passes `lines[].audio`."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.config.models import LineConfig
from appliance.drivers.audio import frames_of
from appliance.drivers.emulators.gsm.farm import ControlError, Farm
from appliance.drivers.emulators.gsm.script import ScriptError, parse
from appliance.drivers.emulators.sounds import sound
from appliance.drivers.gsm.modem import GsmModem
from appliance.engine.factory import make_line
from tests.drivers.test_cli_lines import MAIN, dialbox
from tests.drivers.test_gsm_audio import line, take, wait_for

SCRIPT = """
time_scale = 0.02
sound = "silence"
[[numbers]]
number = "+15550000001"
outcome = "answer"
ring = 1
talk = 50
sound = "fax"
"""


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, object]]]:
    tmp = tmp_path_factory.mktemp("emu")
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
            "quectel",
            "--script",
            str(tmp / "script.toml"),
            "--journal",
            str(tmp / "journal.jsonl"),
            "--json",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    yield tmp / "links", json.loads(proc.stdout.readline())
    proc.terminate()
    assert proc.wait(10) == 0


def control(path: Path, *commands: str) -> list[str]:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(str(path))
        stream = sock.makefile("rw")
        answers = []
        for command in commands:
            stream.write(command + "\n")
            stream.flush()
            answers.append(stream.readline().strip())
        return answers


def test_the_farm_lists_each_modems_audio_pty(emulator: tuple[Path, dict[str, object]]) -> None:
    _, listing = emulator
    modems = listing["links"]
    assert isinstance(modems, list)
    assert [Path(m["audio"]).name for m in modems] == ["gsm0-audio", "gsm1-audio"]
    assert all(Path(m["audio_device"]).exists() for m in modems)
    assert Path(modems[0]["audio"]).resolve() == Path(modems[0]["audio_device"])


def test_audio_control_commands(emulator: tuple[Path, dict[str, object]], tmp_path: Path) -> None:
    links, _ = emulator
    capture = tmp_path / "said.raw"
    answers = control(
        links / "control.sock",
        "gsm0 sound machine",
        "gsm0 sound robot",
        f"gsm0 capture {capture}",
        "gsm0 capture off",
        "gsm1 capture /nonexistent/dir/said.raw",
        "* audio-garbage on",
        "* audio-garbage off",
        "gsm0 audio-stop on",
        "gsm0 audio-stop off",
    )
    assert answers[0] == "ok" and answers[2:4] == ["ok", "ok"]
    assert answers[1] == (
        "error: sound 'robot': use one of person, person-long, machine, silence, fax, modem"
    )
    assert answers[4].startswith("error: capture: ") and "No such file" in answers[4]
    assert answers[5:] == ["ok"] * 4
    assert capture.exists()


def test_probe_says_the_audio_path(emulator: tuple[Path, dict[str, object]]) -> None:
    links, _ = emulator
    done = dialbox("lines", "probe", str(links / "gsm1"), "--audio", str(links / "gsm1-audio"),
                   "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["audio"] == f"PCM on {links / 'gsm1-audio'} (AT+QPCMV=1,0)"
    done = dialbox("lines", "probe", str(links / "gsm1"))
    assert done.returncode == 0, done.stderr
    assert "audio          no audio path: not configured (lines[].audio)" in done.stdout


def test_a_test_call_reports_what_it_heard(emulator: tuple[Path, dict[str, object]]) -> None:
    links, _ = emulator
    done = dialbox("lines", "call", str(links / "gsm1"), "+15550000001", "--audio",
                   str(links / "gsm1-audio"), "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["outcome"] == "Connected"
    assert doc["audio"]["frames"] >= 20 and doc["audio"]["loudest"] > 5000  # the fax's CNG
    journal = [json.loads(x) for x in (links.parent / "journal.jsonl").read_text().splitlines()]
    audio = [e for e in journal if e["event"] == "audio"]
    assert [(e["modem"], e["number"], e["sound"]) for e in audio] == [
        ("gsm1", "+15550000001", "fax")
    ]
    done = dialbox("lines", "call", str(links / "gsm1"), "+15550000001", "--audio",
                   str(links / "gsm1-missing"))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "audio     no audio path: " in done.stdout and "no such port" in done.stdout


def test_the_factory_gives_a_gsm_line_its_audio_port() -> None:
    made = make_line(LineConfig(name="g1", device="/dev/ttyUSB2", audio="/dev/ttyUSB4"))
    assert isinstance(made, GsmModem) and made.audio_path.url == "/dev/ttyUSB4"
    plain = make_line(LineConfig(name="g2", device="/dev/ttyUSB6"))
    assert isinstance(plain, GsmModem) and plain.audio_path.port is None


def test_script_sounds_per_number_and_default_and_their_errors() -> None:
    script = parse({"sound": "silence", "audio_speed": 4, "numbers": [
        {"number": "+1555", "outcome": "answer", "sound": "fax"}]})  # fmt: skip
    assert script.sound == "silence" and script.audio_speed == 4.0
    assert script.numbers["+1555"].sound == "fax"
    with pytest.raises(ScriptError, match=r"numbers\[0\]: sound 'robot'; expected one of"):
        parse({"numbers": [{"number": "+1", "sound": "robot"}]})
    with pytest.raises(ScriptError, match="audio_speed 0; expected > 0"):
        parse({"audio_speed": 0})
    with tempfile.TemporaryDirectory() as tmp:
        farm = Farm(1, Path(tmp), "simcom")
        with pytest.raises(ControlError, match="use one of person"):
            farm.control("gsm0 sound robot")


def test_simcom_refuses_pcm_without_a_call_and_captures_to_a_file(tmp_path: Path) -> None:
    async def main() -> None:
        async with line("simcom") as (farm, modem):
            emulated = farm.modems[0]
            response = await modem.session.run(modem._cmd("AT+CPCMREG=1"))
            assert response.final.text == "+CME ERROR: 3" and not emulated.audio.enabled
            said = tmp_path / "said.raw"
            farm.control(f"gsm0 capture {said}")
            farm.control("gsm0 sound fax")  # the next call's far end, over the number's own
            await modem.dial("+15550000101", 30)
            channel = modem.audio
            assert channel is not None and emulated.audio.source == "fax"
            frames = await take(channel, 10)
            assert all(f.heard == frames_of(sound("fax"))[f.index] for f in frames)
            prompt = sound("modem")[: 320 * 10]
            assert await channel.say(prompt)
            await wait_for(lambda: prompt in said.read_bytes())
            await modem.hang_up()
            await modem.dial("+15550000101", 30)  # `sound` was for one call: the script's now
            assert emulated.audio.source == "person"
            await modem.hang_up()

    asyncio.run(main())
