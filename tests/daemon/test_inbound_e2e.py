"""Issue #23's Must show, with the daemon as a subprocess: `dialbox emulate can-card` behind an
emulated SLCAN adapter on a pty (FXO lines calls ring in on, FXS handsets as agents' seats), the
daemon's CAN lines on python-can's slcan interface, agents over the HTTP API. One daemon and one
emulator serve every step (the card's delays at time scale 0.05: a scripted 20 s is 1 s):

- a call is answered, the caller presses 1 and is put through to the ready agent within 2 s of
  the key; presses 9 (then 1 to confirm) and is on the global DNC list before the call ends;
  presses 2 and a callback contact exists at the next permitted time;
- a caller who hangs up in the queue is a missed call (GET /missed-calls);
- an automated survey stores the answers of a three-question flow and `dialbox export` has them;
- the daemon killed mid-call: the attempt is settled at the next start (dangling), the doctor
  finds nothing stranded, and the line answers again; stopped by SIGTERM mid-call: the call is
  hung up after the drain and recorded.
"""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from appliance.cli import main
from appliance.store.db import Database
from tests.api.client import Api, make_token
from tests.daemon.process import ALWAYS_CALLABLE, DaemonProcess, control

SURVEYED = "+12125550150"
AGENT_KEY, OPT_OUT, CALLBACK, QUEUED, CRASH, LAST = (
    "+12125550101", "+12125550109", "+12125550102", "+13125550177", "+14155550188",
    "+16175550111",
)  # fmt: skip

FLOWS = """
menu:
  start: welcome
  nodes:
    welcome: {play: reminder, next: choose}
    choose:
      ask: reminder
      timeout: 5
      on: {"1": agent, "2": callback, "9": stop}
      give_up: bye
    agent:
      queue:
    callback: {callback: cb, next: bye}
    stop:
      opt_out: confirm
      prompt: reminder
      timeout: 5
      next: bye
      cancel: choose
    bye: {goodbye: reminder}
survey:
  start: q1
  nodes:
    q1: {ask: reminder, question: satisfaction, timeout: 5, on: {"1-5": q2}, give_up: bye}
    q2: {ask: reminder, timeout: 5, on: {"1": q2-yes, "2": q2-no}, give_up: bye}
    q2-yes: {answer: {recommend: "yes"}, next: q3}
    q2-no: {answer: {recommend: "no"}, next: q3}
    q3: {ask: reminder, digits: 3, end_key: "#", timeout: 5, on: {"16-120": keep}, give_up: bye}
    keep: {answer: {age: $input}, next: done}
    done: {disposition: survey-complete, next: bye}
    bye: {goodbye: reminder}
"""


class Card:
    """`dialbox emulate can-card` with its control socket."""

    def __init__(self, tmp: Path) -> None:
        self.link = tmp / "can0"
        self.control_path = tmp / "card.sock"
        script = tmp / "card.toml"
        script.write_text(
            f'[[numbers]]\nnumber = "{SURVEYED}"\noutcome = "answer"\nring = 2.0\n'
            'talk = 400.0\ndtmf = "4135#"\n'
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "appliance", "emulate", "can-card", "--slots",
             "3:fxo,fxo,fxo,fxs", "--bus", f"slcan:{self.link}", "--time-scale", "0.05",
             "--seed", "3", "--handsets", "lift=0.2", "--script", str(script),
             "--control", str(self.control_path), "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        assert self.proc.stdout is not None
        assert json.loads(self.proc.stdout.readline())["cards"][0]["slot"] == 3

    def control(self, command: str) -> str:
        return control(self.control_path, command)

    def ring(self, port: int, command: str) -> None:
        assert self.control(f"3/{port} incoming {command}") == "ok"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def _config(card: Card, flows: Path) -> str:
    device = f"slcan:{card.link}/3"
    return (
        "region: US\ntimezone: UTC\n" + ALWAYS_CALLABLE
        + "engine:\n  tick: 0.1\n  drain_timeout: 1\nagents:\n  wrap_up: 0.5\n"
        + f"flows: [{flows}]\n"
        + "lines:\n"
        + "".join(f"  - {{name: in{p}, kind: can, device: '{device}/{p}', campaigns: [in]}}\n"
                  for p in (1, 2))
        + f"  - {{name: out3, kind: can, device: '{device}/3', campaigns: [survey]}}\n"
        + f"seats:\n  - {{name: desk1, kind: can, device: '{device}/4'}}\n"
    )  # fmt: skip


class Box:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.db_path = tmp / "state" / "dialbox.db"

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        db = Database(self.db_path, readonly=True)
        try:
            return [tuple(r) for r in db.conn.execute(sql, params)]
        finally:
            db.close()

    def until(self, condition: Callable[[], bool], what: str, daemon: DaemonProcess) -> None:
        deadline = time.monotonic() + 30
        while not condition():
            if time.monotonic() > deadline:
                attempts = self.query("SELECT id, number, status, outcome, evidence FROM attempts")
                raise AssertionError(f"timed out waiting for {what}: {attempts}\n"
                                     f"{daemon.output()[-3000:]}")  # fmt: skip
            assert daemon.proc is not None and daemon.proc.poll() is None, daemon.output()[-3000:]
            time.sleep(0.05)  # polls another process's database

    def call(self, number: str) -> dict[str, Any]:
        """The inbound call from `number` (the last one), once recorded."""
        cols = ("id", "status", "outcome", "agent", "answered_at", "ended_at", "contact_id")
        rows = self.query(f"SELECT {', '.join(cols)} FROM attempts WHERE direction = 'in'"
                          " AND number = ? ORDER BY id DESC LIMIT 1", (number,))  # fmt: skip
        return dict(zip(cols, rows[0], strict=True)) if rows else {}

    def done(self, number: str) -> bool:
        return self.call(number).get("status") == "done"

    def steps(self, attempt_id: int) -> list[tuple[Any, ...]]:
        return self.query("SELECT at, kind, detail FROM attempt_steps WHERE attempt_id = ?"
                          " ORDER BY seq", (attempt_id,))  # fmt: skip


def test_inbound_calls_and_a_survey_through_the_real_daemon(tmp_path: Path) -> None:
    card = Card(tmp_path)
    flows = tmp_path / "flows.yaml"
    flows.write_text(FLOWS)
    daemon = DaemonProcess(tmp_path, _config(card, flows))
    box = Box(tmp_path)
    cli = ["--config", str(daemon.config)]
    tomorrow = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).date()
    for args in (
        ["cb", "--type", "agent", "--set", "timezone=UTC", "--set", f"start_date={tomorrow}"],
        ["survey", "--type", "automated", "--set", "flow=survey"],
        ["in", "--type", "inbound", "--set", "answer_lines=[in1, in2]", "--set", "flow=menu",
         "--set", "queue_max_wait=30", "--set", "callback_campaign=cb"],
    ):  # fmt: skip
        assert main([*cli, "campaign", "create", *args[:1], "--region", "US", *args[1:]]) == 0
    contacts = tmp_path / "survey.csv"
    contacts.write_text(f"{SURVEYED},,,,,Surveyed\n")
    assert main([*cli, "import", "--campaign", "survey", str(contacts)]) == 0
    for name in ("in", "survey"):
        assert main([*cli, "campaign", "start", name]) == 0
    token = make_token(box.db_path, "crm", "admin")
    try:
        daemon.start()
        daemon.expect("READY")
        api = Api(f"http://127.0.0.1:{daemon.port}", token)
        assert api.request("PUT", "/agents/agent1", {"extension": "desk1"}).status == 201
        api.wait_until(lambda: api.post("/agents/agent1/login", {"campaigns": ["in"],
                       "ready": True}).status == 200, timeout=30, what="the seat up")  # fmt: skip

        # 1: put through to the ready agent within 2 s of the key
        card.ring(1, f"{AGENT_KEY} keys=1@6 hangup=80 ring=200")
        api.wait_until(lambda: api.get("/agents/agent1").json()["state"] == "talking",
                       timeout=30, what="the agent talking")  # fmt: skip
        pop = api.get("/agents/agent1").json()["call"]
        assert pop["campaign"] == "in" and pop["contact"]["caller_id"] == AGENT_KEY, pop
        box.until(lambda: box.done(AGENT_KEY), "the agent's call recorded", daemon)
        call = box.call(AGENT_KEY)
        assert call["agent"] == "agent1" and call["outcome"] == 0, call
        steps = box.steps(call["id"])
        key = next(at for at, kind, detail in steps if kind == "input" and detail == "1")
        bridged = next(at for at, kind, detail in steps if kind == "queue")
        assert 0 <= bridged - key < 2.0, steps
        assert pop["connected_at"] is not None

        # 9, then 1: on the global DNC list before the call ends
        card.ring(2, f"{OPT_OUT} keys=9@6,1@9 hangup=400 ring=200")
        box.until(lambda: box.done(OPT_OUT), "the opt-out call recorded", daemon)
        [(added, campaign_id)] = box.query("SELECT added_at, campaign_id FROM dnc WHERE e164 = ?",
                                           (OPT_OUT,))  # fmt: skip
        assert campaign_id is None and added < box.call(OPT_OUT)["ended_at"]

        # 2: a callback contact in cb at its next permitted time (its start date, midnight UTC)
        card.ring(1, f"{CALLBACK} keys=2@6 hangup=400 ring=200")
        box.until(lambda: box.done(CALLBACK), "the callback call recorded", daemon)
        [(due, state)] = box.query(
            "SELECT k.callback_at, k.state FROM contacts k JOIN campaigns c ON c.id = k.campaign_id"
            " WHERE c.name = 'cb' AND k.e164_1 = ?", (CALLBACK,)
        )  # fmt: skip
        midnight = dt.datetime.combine(tomorrow, dt.time(), dt.UTC).timestamp()
        assert (due, state) == (midnight, "Pending")

        # a caller who hangs up in the queue (the agent paused): a missed call
        assert api.post("/agents/agent1/pause", {"reason": "lunch"}).status == 200
        card.ring(2, f"{QUEUED} keys=1@6 hangup=30 ring=200")
        box.until(lambda: box.done(QUEUED), "the queued call recorded", daemon)
        missed = api.get("/missed-calls").json()
        items = missed["items"] if isinstance(missed, dict) else missed
        [entry] = [m for m in items if m["number"] == QUEUED]
        assert entry["reason"] == "hung_up_in_queue" and entry["status"] == "open", entry
        assert entry["attempt_id"] == box.call(QUEUED)["id"]

        # the survey: three answers stored and exported
        box.until(lambda: box.query("SELECT count(*) FROM attempts WHERE direction = 'out'"
                                    " AND status = 'done'") == [(1,)], "the survey", daemon)  # fmt: skip
        export = subprocess.run(
            [sys.executable, "-m", "appliance", *cli, "export", "--campaign", "survey",
             "--attempts", "--json"], capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        [row] = json.loads(export.stdout)
        assert row["answers"] == {"satisfaction": "4", "recommend": "yes", "age": "35"}, row
        assert row["disposition"] == "survey-complete" and row["direction"] == "out"

        # killed mid-call: settled at the next start, nothing stranded, answered again
        card.ring(1, f"{CRASH} hangup=200 ring=200")  # presses nothing: the menu waits
        box.until(lambda: box.call(CRASH).get("status") == "in_flight", "the call up", daemon)
        assert daemon.proc is not None
        daemon.proc.send_signal(signal.SIGKILL)
        daemon.proc.wait(10)
        daemon.start()
        daemon.expect("READY")
        assert box.call(CRASH)["status"] == "dangling"
        doctor = subprocess.run([sys.executable, "-m", "appliance", *cli, "doctor", "--json"],
                                capture_output=True, text=True, timeout=60)  # fmt: skip
        assert doctor.returncode == 0, doctor.stdout + doctor.stderr
        api.wait_until(lambda: all(line["state"] in ("up", "busy")
                                   for line in api.get("/lines").json()),
                       timeout=30, what="the lines up again")  # fmt: skip
        # (port 1 still carries the call the killed daemon answered, until the caller goes)
        card.ring(2, f"{CRASH} keys=2@6 hangup=400 ring=200")
        box.until(lambda: box.done(CRASH), "the next call answered", daemon)
        text = api.get("/metrics").body.decode()
        assert 'dialbox_inbound_calls_total{campaign="in",result="hung_up"} 1.0' in text, text

        # SIGTERM with a caller in the menu: the call is hung up after the drain and recorded
        card.ring(2, f"{LAST} ring=200")
        box.until(lambda: box.call(LAST).get("status") == "in_flight", "the last call", daemon)
        daemon.proc.send_signal(signal.SIGTERM)
        assert daemon.proc.wait(30) == 0
        assert box.call(LAST)["status"] == "done"
        assert box.query("SELECT count(*) FROM attempts WHERE status = 'in_flight'") == [(0,)]
    finally:
        daemon.stop()
        card.stop()
