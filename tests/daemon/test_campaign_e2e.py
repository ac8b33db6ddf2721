"""The real daemon dials a campaign over real ptys to emulated modems, end to end (issue 6)."""

from __future__ import annotations

import shutil
import signal
import subprocess
import urllib.request
from pathlib import Path

import pytest

from appliance.domain import Outcome
from tests.daemon.campaign import box

RETRY_2H = {Outcome.BUSY, Outcome.ALERTING_TIMEOUT, Outcome.ANSWERING_MACHINE, Outcome.UNREACHABLE,
            Outcome.REJECTED}  # fmt: skip


def test_campaign_completes_with_states_that_match_the_strategy(tmp_path: Path) -> None:
    with box(tmp_path, modems=8, contacts=300) as b:
        b.daemon.start()
        b.daemon.expect("READY")
        b.wait_until(b.settled, what="every contact dialed")
        rows = b.query(
            "SELECT k.state, k.next_at, k.attempts, a.outcome, a.ended_at, a.status FROM contacts k"
            " JOIN attempts a ON a.id = (SELECT max(id) FROM attempts WHERE contact_id = k.id)"
        )
        assert len(rows) == 300
        seen = set()
        for state, next_at, attempts, code, ended_at, status in rows:
            outcome = Outcome(code)
            seen.add(outcome)
            assert (attempts, status) == (1, "done")
            if outcome is Outcome.CONNECTED:
                assert (state, next_at) == ("Connected", None)
            elif outcome in RETRY_2H:  # Polish seed: no answer, busy, voicemail -> again in 2 h
                assert state == "Not Connected"
                assert next_at == pytest.approx(float(str(ended_at)) + 7200, abs=1)
            else:
                raise AssertionError(f"unexpected outcome {outcome.label}")
        assert {Outcome.CONNECTED, Outcome.BUSY, Outcome.ALERTING_TIMEOUT} <= seen

        with urllib.request.urlopen(
            f"http://127.0.0.1:{b.daemon.port}/metrics", timeout=10
        ) as response:
            metrics = response.read()
        text = metrics.decode()
        total = sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("dialbox_calls_total{")
        )
        assert total == 300
        assert 'dialbox_contacts{campaign="c",state="Connected"}' in text
        assert 'dialbox_lines{kind="gsm",state="up"} 8.0' in text
        assert b.query("SELECT count(*) FROM lines WHERE state = 'up' AND kind = 'gsm'") == [(8,)]
        promtool = shutil.which("promtool")
        if promtool:
            check = subprocess.run(
                [promtool, "check", "metrics"], input=metrics, capture_output=True, check=False
            )
            assert check.returncode == 0 and not check.stdout.strip(), check.stdout + check.stderr

        assert b.daemon.proc is not None
        b.daemon.proc.send_signal(signal.SIGTERM)
        assert b.daemon.proc.wait(30) == 0
        assert b.query("SELECT count(*) FROM attempts WHERE status != 'done'") == [(0,)]


@pytest.mark.parametrize("fault", ["unplug", "silent", "garbage", "reboot"])
def test_a_faulty_modem_leaves_the_campaign_running_and_comes_back(
    tmp_path: Path, fault: str
) -> None:
    # More contacts than the healthy lines can finish while gsm1 is away, so that gsm1 has
    # something left to dial when it is back.
    with box(tmp_path, modems=3, contacts=500) as b:
        b.daemon.start()
        b.daemon.expect("READY")
        b.wait_until(
            lambda: b.query("SELECT count(*) FROM attempts")[0][0] >= 10, what="10 attempts"
        )  # type: ignore[operator]
        on = {
            "unplug": "unplug",
            "silent": "silent on",
            "garbage": "garbage on",
            "reboot": "reboot",
        }[fault]
        assert b.emulator.control(f"gsm1 {on}") == "ok"
        if fault == "unplug":  # the lines table tells `why` and the console at once
            b.wait_until(
                lambda: b.query("SELECT state FROM lines WHERE name = 'gsm1'") == [("down",)]
            )
        before = b.query("SELECT count(*) FROM attempts WHERE line != 'gsm1'")[0][0]
        # the other lines go on dialing while gsm1 is in trouble
        b.wait_until(
            lambda: (
                b.query("SELECT count(*) FROM attempts WHERE line != 'gsm1'")[0][0] >= before + 20
            ),  # type: ignore[operator]
            what="20 more attempts on the healthy lines",
        )
        off = {
            "unplug": "replug",
            "silent": "silent off",
            "garbage": "garbage off",
            "reboot": None,
        }[fault]
        if off:
            assert b.emulator.control(f"gsm1 {off}") == "ok"
        recovered_from = b.query("SELECT max(id) FROM attempts")[0][0]
        b.wait_until(
            lambda: b.query("SELECT count(*) FROM attempts WHERE line = 'gsm1' AND id > ? AND status = 'done'",
                            (recovered_from,))[0][0] >= 3,  # type: ignore[operator]
            what="gsm1 dialing again",
        )  # fmt: skip
        assert b.daemon.proc is not None
        b.daemon.proc.send_signal(signal.SIGTERM)  # drain: calls in flight end and are recorded
        assert b.daemon.proc.wait(60) == 0
        # nothing lost, nothing dialed twice: every contact handed to a line has exactly one
        # finished attempt; a call cut by the fault is ErrorOccurred and waits the strategy's
        # 10 minutes before it is tried again
        assert b.query("SELECT count(*) FROM attempts WHERE status != 'done'") == [(0,)]
        assert b.query("SELECT count(*) FROM contacts WHERE state = 'Sent to Dialer'") == [(0,)]
        assert b.query("SELECT max(attempts) FROM contacts") == [(1,)]
        assert b.query("SELECT count(*) FROM attempts") == b.query(
            "SELECT count(*) FROM contacts WHERE attempts = 1"
        )
        assert b.query("SELECT count(DISTINCT contact_id) FROM attempts") == b.query(
            "SELECT count(*) FROM attempts"
        )
        for state, next_at, ended_at in b.query(
            "SELECT k.state, k.next_at, a.ended_at FROM contacts k JOIN attempts a ON a.contact_id = k.id"
            " WHERE a.outcome = ?",
            (int(Outcome.ERROR_OCCURRED),),
        ):
            assert state == "Not Connected"
            assert next_at == pytest.approx(float(str(ended_at)) + 600, abs=1)
