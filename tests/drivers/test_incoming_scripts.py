"""Incoming-call scripts of the analog emulators (`--incoming SCRIPT`, TOML or JSON) and the
`dialbox emulate v253|can-card` commands that take them, run as a technician runs them."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import can
import pytest

from appliance.drivers.can.card import Backplane
from appliance.drivers.can.line import CanLine
from appliance.drivers.emulators.plans import (
    IncomingPlan,
    ScheduledCall,
    load_incoming,
    parse_incoming_command,
)
from appliance.drivers.line import CallEnded, Dtmf, IncomingCall, LineUp, Timeouts
from appliance.drivers.v253.modem import VoiceModem
from tests.drivers.drivers_fakes import Collector, run
from tests.drivers.emulated import wait_event

MAIN = "import sys; from appliance.cli import main; sys.exit(main(sys.argv[1:]))"

GOOD_TOML = """
[[calls]]
at = 5
modem = 0
number = "+1 555 000-1"
keys = "1@2.0,9@5.5"
hangup = 20
ring = 12

[[calls]]
at = 30.5
port = "v2531"
number = "withheld"
"""


def test_a_toml_and_a_json_script_give_the_same_calls(tmp_path: Path) -> None:
    toml = tmp_path / "calls.toml"
    toml.write_text(GOOD_TOML)
    calls = load_incoming(toml)
    first = IncomingPlan("+15550001", "number", (("1", 2.0), ("9", 5.5)), 20.0, 12.0)
    assert calls == [
        ScheduledCall(5.0, "0", first),
        ScheduledCall(30.5, "v2531", IncomingPlan("", "withheld")),
    ]
    as_json = tmp_path / "calls.json"
    as_json.write_text(json.dumps([
        {"at": 5, "modem": 0, "number": "+1 555 000-1", "keys": ["1@2.0", "9@5.5"],
         "hangup": 20, "ring": 12},
        {"at": 30.5, "port": "v2531", "number": "withheld"},
    ]))  # fmt: skip
    assert load_incoming(as_json) == calls
    assert parse_incoming_command("withheld keys=#@1 ring=4") == IncomingPlan(
        "", "withheld", (("#", 1.0),), None, 4.0
    )


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("[[calls]]\nat = 1\n", "calls[0].number: missing"),
        ('[[calls]]\nnumber = "12ab"\n', "calls[0].number: '12ab'"),
        ('[[calls]]\nnumber = "1"\n[[calls]]\nnumber = "2"\nkeys = "1@x"\n', "calls[1].keys"),
        ('[[calls]]\nnumber = "1"\nkeys = "1-2"\n', "DIGIT@SECONDS"),
        ('[[calls]]\nnumber = "1"\nkeys = "E@1"\n', "digits 0-9 * # A-D"),
        ('[[calls]]\nnumber = "1"\nring = 0\n', "calls[0].ring: 0: seconds from more than 0"),
        ('[[calls]]\nnumber = "1"\nhangup = -3\n', "calls[0].hangup"),
        ('[[calls]]\nnumber = "1"\nat = "soon"\n', "calls[0].at: 'soon' is not a number"),
        ('[[calls]]\nnumber = "1"\nat = 1e9\n', "calls[0].at"),
        ('[[calls]]\nnumber = "1"\nmodem = 0\nport = "3/1"\n', "modem or port, not both"),
        ('[[calls]]\nnumber = "1"\ncolour = "red"\n', "unknown key(s) ['colour']"),
        ('[[cals]]\nnumber = "1"\n', "unknown key(s) ['cals']"),
        ('calls = "soon"\n', "calls: expected a list"),
        ("[[calls]\n", "not valid TOML"),
        ('[[calls]]\nnumber = "1"\nmodem = 7\n', "calls[0].modem: no modem '7'"),
        ('[[calls]]\nnumber = "' + "1" * 40 + '"\n', "calls[0].number"),
    ],
)
def test_a_bad_script_says_the_file_and_the_field(tmp_path: Path, text: str, error: str) -> None:
    path = tmp_path / "calls.toml"
    path.write_text(text)

    def only_modem_0(name: str) -> None:
        if name not in ("", "0"):
            raise ValueError(f"no modem {name!r}")

    with pytest.raises(ValueError) as caught:
        load_incoming(path, only_modem_0)
    assert str(caught.value).startswith(f"{path}: ") and error in str(caught.value)


def test_an_unreadable_script_says_so(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read it"):
        load_incoming(tmp_path / "missing.toml")
    binary = tmp_path / "calls.json"
    binary.write_bytes(b"\xff\xfe[")
    with pytest.raises(ValueError, match=r"cannot read it|not valid JSON"):
        load_incoming(binary)


# ------------------------------------------------------------------ the commands
def dialbox(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", MAIN, *args], capture_output=True, text=True,
                          timeout=30, check=False)  # fmt: skip


def test_the_commands_refuse_a_bad_script_with_the_file_and_field(tmp_path: Path) -> None:
    script = tmp_path / "calls.toml"
    script.write_text('[[calls]]\nmodem = "v2533"\nnumber = "1"\n')
    v253 = dialbox("emulate", "v253", "--link-dir", str(tmp_path / "links"), "--incoming",
                   str(script))  # fmt: skip
    assert v253.returncode != 0
    assert f"--incoming {script}: calls[0].modem: no modem 'v2533'" in v253.stderr
    script.write_text('[[calls]]\nport = "3/3"\nnumber = "1"\n')
    card = dialbox("emulate", "can-card", "--slots", "3:fxo,fxo,fxs", "--bus", "virtual:x",
                   "--incoming", str(script))  # fmt: skip
    assert card.returncode != 0
    assert f"{script}: calls[0].port: '3/3' is FXS; calls ring in on FXO" in card.stderr


@contextmanager
def emulator(*args: str) -> Iterator[dict[str, object]]:
    proc = subprocess.Popen([sys.executable, "-c", MAIN, "emulate", *args, "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)  # fmt: skip
    try:
        assert proc.stdout is not None
        yield json.loads(proc.stdout.readline())
    finally:
        proc.terminate()
        proc.wait(10)


def test_emulate_v253_places_the_scripted_call(tmp_path: Path) -> None:
    script = tmp_path / "calls.toml"
    # at 60 s x 0.05: three seconds for the driver to open and turn caller ID on first
    script.write_text('[[calls]]\nat = 60\nnumber = "+15550001"\nkeys = "4@1,2@1.5"\nhangup = 3\n')
    with emulator("v253", "--link-dir", str(tmp_path / "links"), "--time-scale", "0.05",
                  "--incoming", str(script)) as info:  # fmt: skip
        assert Path(str(info["control"])).exists()
        link = info["links"][0]["link"]  # type: ignore[index]

        async def main() -> None:
            modem = VoiceModem(str(link), timeouts=Timeouts(command=1.0, probe=0.5), ring_gone=1.0)
            events = Collector()
            modem.subscribe(events)
            await modem.open()
            try:
                assert (await wait_event(events, IncomingCall, timeout=10)).number == "+15550001"
                await modem.answer()
                await wait_event(events, CallEnded)
                assert [e.digit for e in events.items if isinstance(e, Dtmf)] == ["4", "2"]
            finally:
                await modem.close()

        run(main(), timeout=30)


def test_emulate_can_card_takes_calls_from_its_control_socket(tmp_path: Path) -> None:
    link, control = tmp_path / "can0", tmp_path / "card.sock"
    with emulator("can-card", "--slots", "3:fxo,fxo,fxs", "--bus", f"slcan:{link}",
                  "--time-scale", "0.05", "--control", str(control)) as info:  # fmt: skip
        assert info["control"] == str(control)

        async def main() -> None:
            bus = can.Bus(interface="slcan", channel=str(link), sleep_after_open=0)
            host = Backplane(bus)  # heartbeat 1 s: a loaded machine does not lose the card
            line = CanLine(host, 3, 2, min_ring_timeout=0.0, ring_gone=1.0)
            events = Collector()
            line.subscribe(events)
            await line.open()
            try:
                await wait_event(events, LineUp, timeout=10)
                reader, writer = await asyncio.open_unix_connection(str(control))
                writer.write(b"3/2 incoming withheld keys=9@1 hangup=3\n")
                assert await reader.readline() == b"ok\n"
                writer.close()
                assert (await wait_event(events, IncomingCall)).number == ""
                await line.answer()
                await wait_event(events, CallEnded)
                assert [e.digit for e in events.items if isinstance(e, Dtmf)] == ["9"]
            finally:
                await host.stop()  # and the bus with it

        run(main(), timeout=30)
