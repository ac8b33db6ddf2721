"""`dialbox emulate gsm --incoming FILE`: scripted callers, validated, rung, journaled (issue 23)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.cli import main
from appliance.drivers.emulators.gsm.callers import IncomingPlan, load_incoming, parse_incoming
from appliance.drivers.emulators.gsm.script import ScriptError
from appliance.drivers.gsm.modem import GsmModem
from appliance.drivers.line import CallEnded, Dtmf, IncomingCall
from tests.drivers.drivers_fakes import Collector, run
from tests.drivers.emulated import TIMEOUTS, wait_event

GOOD = """
[[calls]]
at = 50
modem = "gsm0"
number = "+48601234567"
keys = "1@10,2@20"
hangup = 40
ring = 1000

[[calls]]
at = 0
number = "withheld"
"""

# (file name, content, what the error must say besides the file's name)
BAD = [
    ("a.toml", "[[calls]]\nnumber = '+1'\n", "calls[0]: at is missing"),
    ("b.toml", "[[calls]]\nat = 1\n", "calls[0]: number is missing"),
    ("c.toml", "[[calls]]\nat = 1\nnumber = '+1'\nhangupp = 3\n", "unknown key(s) ['hangupp']"),
    ("d.toml", "[[calls]]\nat = -1\nnumber = '+1'\n", "calls[0].at: -1: expected seconds >= 0"),
    ("e.toml", "[[calls]]\nat = 1\nnumber = 48601\n", "calls[0].number: 48601: expected a string"),
    (
        "f.toml",
        "[[calls]]\nat = 1\nnumber = '+1'\nkeys = '1@2,x@3'\n",
        "calls[0].keys: 'x@3': expected KEY@SECONDS",
    ),
    (
        "g.toml",
        "[[calls]]\nat = 1\nnumber = '+1'\nkeys = '1@5'\nhangup = 5\n",
        "calls[0].keys: 1@5 not before hangup=5",
    ),
    ("h.toml", "[[calls]]\nat = 1\nnumber = '+1'\nmodem = 2\n", "calls[0].modem: 2: expected 0..1"),
    ("i.toml", "[[calls]]\nat = 1\nnumber = '+1'\nring = 'long'\n", "calls[0].ring: 'long'"),
    ("j.toml", "[[call]]\nat = 1\n", "unknown key(s) ['call']"),
    ("k.toml", "calls = 3\n", "calls: expected a list of calls"),
    ("l.toml", "[[calls]\n", "l.toml: "),  # TOML syntax: the parser's own words
    ("m.json", '[{"at": 1, "number": "+1", "hangup": true}]', "calls[0].hangup: True"),
    ("n.json", '{"calls": [1]}', "calls[0]: expected a table"),
    ("o.json", "", "o.json: Expecting value"),
]


def test_incoming_script_is_read_into_timed_incoming_events(tmp_path: Path) -> None:
    path = tmp_path / "calls.toml"
    path.write_text(GOOD)
    events = load_incoming(path, modems=1)
    assert [(e.at, e.action, e.modem) for e in events] == [(50, "incoming", 0), (0, "incoming", 0)]
    assert parse_incoming(events[0].argument) == IncomingPlan(
        "+48601234567", (("1", 10.0), ("2", 20.0)), hangup=40.0, ring=1000.0
    )
    assert parse_incoming(events[1].argument) == IncomingPlan("")
    as_json = tmp_path / "calls.json"
    as_json.write_text(json.dumps({"calls": [{"at": 1, "number": "*100#", "keys": "#@0"}]}))
    assert load_incoming(as_json, 1)[0].argument == "*100# keys=#@0"


@pytest.mark.parametrize(("name", "content", "said"), BAD, ids=[b[0] for b in BAD])
def test_incoming_script_errors_name_the_file_and_the_field(
    tmp_path: Path, name: str, content: str, said: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(ScriptError) as error:
        load_incoming(path, modems=2)
    assert str(error.value).startswith(f"{path}: "), error.value
    assert said in str(error.value), error.value


def test_cli_refuses_a_bad_incoming_script_before_starting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "calls.toml"
    path.write_text("[[calls]]\nat = 1\nnumber = '+1'\nmodem = 3\n")
    links = tmp_path / "links"
    argv = ["emulate", "gsm", "--count", "2", "--link-dir", str(links), "--incoming", str(path)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"dialbox: error: --incoming {path}: calls[0].modem: 3: expected 0..1" in err
    assert not links.exists()  # nothing was started
    assert main([*argv[:-1], str(tmp_path / "absent.toml")]) == 2
    assert "absent.toml" in capsys.readouterr().err


def test_scripted_caller_rings_presses_keys_hangs_up_and_is_journaled(tmp_path: Path) -> None:
    """The emulator as a process with --incoming: the driver on its pty is rung, answers, gets
    the caller's keys and the caller's hang-up; the journal has the call's whole story."""
    (tmp_path / "calls.toml").write_text(GOOD.split("[[calls]]\nat = 0")[0])
    journal = tmp_path / "journal.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "appliance", "emulate", "gsm", "--profile", "quectel",
         "--link-dir", str(tmp_path / "m"), "--incoming", str(tmp_path / "calls.toml"),
         "--time-scale", "0.02", "--journal", str(journal), "--json"],
        stdout=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    link = json.loads(proc.stdout.readline())["links"][0]["link"]

    async def session() -> None:
        modem = GsmModem(link, name="gsm0", timeouts=TIMEOUTS, poll_interval=0.05,
                         min_ring_timeout=0.0, sim_wait=3.0)  # fmt: skip
        events = Collector()
        modem.subscribe(events)
        await modem.open()
        try:
            incoming = await wait_event(events, IncomingCall, 0, timeout=10.0)
            assert incoming.number == "+48601234567"
            await modem.answer()
            ended = await wait_event(events, CallEnded, 0, timeout=5.0)
            assert ended.result.end_reason == "far end hung up"
            assert [e.digit for e in events.items if isinstance(e, Dtmf)] == ["1", "2"]
        finally:
            await modem.close()

    try:
        run(session(), timeout=30)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
    story = [json.loads(line) for line in journal.read_text().splitlines()]
    control = [e for e in story if e["event"] == "control"]
    assert control[0]["command"] == "0 incoming +48601234567 keys=1@10,2@20 hangup=40 ring=1000"
    calls = [e for e in story if e["event"] != "control"]
    assert [e["event"] for e in calls] == ["incoming", "answer", "key", "key", "end"]
    assert calls[0]["number"] == "+48601234567" and calls[0]["withheld"] is False
    assert [e["key"] for e in calls[2:4]] == ["1", "2"]
    assert calls[-1]["by"] == "far end" and calls[-1]["answered"] is True
    assert len({e["call"] for e in calls}) == 1
