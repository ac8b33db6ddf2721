"""An agent desktop drives the box over real HTTP: the daemon (a subprocess) dials over an
emulated line card (`dialbox emulate can-card` behind an emulated SLCAN adapter on a pty), whose
FXS port is the agent's handset. The agent logs in, goes ready, receives the screen pop when the
answered call is bridged to the handset, sets a disposition with a callback for themself — and
the callback is dialed at its time, to them."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.api.client import Api, make_token
from tests.daemon.process import ALWAYS_CALLABLE, DaemonProcess

SCRIPT = """time_scale = 0.05
[[numbers]]
number = "+12125550100"
outcome = "answer"
ring = 4
talk = 60
"""


def _results(api: Api) -> list[dict[str, Any]]:
    return list(api.get("/results?campaign=sales&after=0&limit=50").json()["items"])


def test_agent_flow_login_ready_screen_pop_disposition_callback(tmp_path: Path) -> None:
    link = tmp_path / "can0"
    (tmp_path / "card.toml").write_text(SCRIPT)
    emulator = subprocess.Popen(
        [sys.executable, "-m", "appliance", "emulate", "can-card", "--slots", "3:fxo,fxo,fxs",
         "--bus", f"slcan:{link}", "--script", str(tmp_path / "card.toml"),
         "--handsets", "lift=0.3", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    config = (
        "lines:\n"
        + "".join(f"  - {{name: card3-{p}, kind: can, device: 'slcan:{link}/3/{p}'}}\n" for p in (1, 2))
        + f"seats:\n  - {{name: desk1, kind: can, device: 'slcan:{link}/3/3'}}\n"
        + "agents:\n  wrap_up: 120\n"  # the agent's disposition ends the wrap-up
        + ALWAYS_CALLABLE
        + "engine:\n  tick: 0.1\n"
    )  # fmt: skip
    daemon = DaemonProcess(tmp_path, config)
    db = tmp_path / "state" / "dialbox.db"
    admin = make_token(db, "admin", "admin")
    anna_token = make_token(db, "anna", "agent")
    ben_token = make_token(db, "ben", "agent")
    try:
        assert emulator.stdout is not None
        assert json.loads(emulator.stdout.readline())["cards"][0]["slot"] == 3
        daemon.start()
        daemon.expect("READY")
        base = f"http://127.0.0.1:{daemon.port}"
        api, anna = Api(base, admin), Api(base, anna_token)

        made = api.post("/campaigns", {"name": "sales", "type": "agent", "region": "US",
                                       "settings": {"pacing": "progressive"}})  # fmt: skip
        assert made.status == 201, made
        csv = b"(212) 555-0100,,,,,Ann Smith,AC-1\n"
        assert (
            api.post("/campaigns/sales/contacts/upload", raw=csv, content_type="text/csv").status
            == 200
        )
        put = api.request("PUT", "/agents/anna", {"extension": "desk1", "group": "sales"})
        assert put.status == 201 and put.json()["state"] == "logged_out", put

        # An agent token acts on its own agent only; it cannot touch campaigns.
        assert Api(base, ben_token).post("/agents/anna/ready").status == 403
        assert anna.post("/campaigns/sales/start").status == 403

        login = anna.post("/agents/anna/login", {"campaigns": ["sales"]})
        assert login.status == 200 and login.json()["state"] == "paused", login
        assert login.json()["seat"] == "desk1"
        api.wait_until(lambda: anna.get("/agents/anna").json()["seat_up"], what="the seat up")
        assert anna.post("/agents/anna/ready").json()["state"] == "ready"
        assert api.post("/campaigns/sales/start").json()["status"] == "running"

        # The screen pop: the answered call bridged to the handset, with the contact's data.
        api.wait_until(lambda: anna.get("/agents/anna").json()["state"] == "talking",
                       timeout=60, what="anna talking")  # fmt: skip
        pop = anna.get("/agents/anna").json()["call"]
        assert pop["number"] == "+12125550100" and pop["connected_at"] is not None
        assert pop["contact"]["bp1"] == "Ann Smith" and pop["contact"]["bp2"] == "AC-1"

        # The callee hangs up; the agent is in wrap-up until the disposition.
        api.wait_until(lambda: anna.get("/agents/anna").json()["state"] == "wrap_up",
                       timeout=60, what="wrap-up")  # fmt: skip
        first = _results(api)
        assert (
            len(first) == 1 and first[0]["agent"] == "anna" and first[0]["outcome"] == "Connected"
        )
        callback_at = time.time() + 5.0
        iso = dt.datetime.fromtimestamp(callback_at, dt.UTC).isoformat()
        done = anna.post("/agents/anna/disposition",
                         {"disposition": "new_contact", "callback_at": iso, "callback_for": "self"})  # fmt: skip
        assert done.status == 200 and done.json()["state"] == "ready", done
        contact = api.get(f"/contacts/{first[0]['contact_id']}").json()
        assert contact["state"] == "Not Connected" and contact["owner_agent"] == "anna"
        assert contact["attempts"][0]["disposition"] == "new_contact"

        # The callback is dialed at its time, and goes to anna again.
        api.wait_until(lambda: len(_results(api)) == 2, timeout=90, what="the callback dialed")
        second = _results(api)[1]
        assert second["contact_id"] == first[0]["contact_id"]
        assert second["agent"] == "anna" and second["outcome"] == "Connected", second
        queued = dt.datetime.fromisoformat(second["queued_at"]).timestamp()
        assert queued >= callback_at - 0.001  # not before its time (to the millisecond shown)

        metrics = api.get("/metrics").body.decode()
        assert 'dialbox_agents{state="wrap_up"} 1.0' in metrics
        # The callback's call ends as a wrong number: blocked for good (D7), the contact closed.
        wrong = anna.post("/agents/anna/disposition", {"disposition": "wrong_number",
                                                       "note": "not Ann's number"})  # fmt: skip
        assert wrong.status == 200 and wrong.json()["state"] == "ready", wrong
        blocked = api.get("/dnc/numbers/+12125550100").json()
        assert blocked["listed"] and [e["list"] for e in blocked["lists"]] == ["block"], blocked
        contact = api.get(f"/contacts/{first[0]['contact_id']}").json()
        assert contact["state"] == "Retries Completed" and contact["next_at"] is None, contact
        audit = daemon_audit(db)
        assert ("api:anna", "agent.ready") in audit and ("api:anna", "attempt.disposition") in audit
    finally:
        daemon.stop()
        emulator.terminate()
        emulator.wait(10)


def daemon_audit(path: Path) -> set[tuple[str, str]]:
    from appliance.store.db import Database

    db = Database(path, readonly=True)
    try:
        return {(str(a), str(b)) for a, b in db.conn.execute("SELECT actor, action FROM audit")}
    finally:
        db.close()
