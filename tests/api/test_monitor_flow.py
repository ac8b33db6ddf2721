"""A supervisor listens in on an agent's call over real HTTP (SPEC A6): the daemon (a subprocess)
dials over an emulated line card (`dialbox emulate can-card`, fxo,fxo,fxs,fxs, behind an emulated
SLCAN adapter on a pty); FXS port 3 is the agent's handset, port 4 the supervisor's. The card
itself says what it mixes (its control socket's `status`): the bridge's members, the mode, who
hears whom. Hostile cases beside: the wrong tokens, an unknown agent or seat, the agent's own
seat, no call, the supervisor hanging up, the call ending while listening, and an older card
that cannot conference (422 with the reason)."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.api.client import Api, make_token
from tests.api.test_agent_flow import daemon_audit
from tests.daemon.process import ALWAYS_CALLABLE, DaemonProcess, control

SCRIPT = """time_scale = 0.05
[[numbers]]
number = "+12125550100"
outcome = "answer"
ring = 4
talk = 3000
"""


class Room:
    def __init__(self, tmp: Path, daemon: DaemonProcess, sock: Path) -> None:
        self.db = tmp / "state" / "dialbox.db"
        self.daemon = daemon
        self.sock = sock
        base = f"http://127.0.0.1:{daemon.port}"
        self.base = base
        self.admin = Api(base, make_token(self.db, "admin", "admin"))
        self.boss = Api(base, make_token(self.db, "boss", "admin"))  # may do supervisor ops
        self.anna = Api(base, make_token(self.db, "anna", "agent"))

    def ports(self) -> dict[str, dict[str, Any]]:
        """What the emulated card reports of its ports."""
        answer = control(self.sock, "3 status")
        assert answer.startswith("ok "), answer
        return {p["port"]: p for p in json.loads(answer[3:])["ports"]}

    def talking(self) -> dict[str, Any]:
        """anna logged in at desk1, ready, the campaign running: until she is on a call."""
        api, anna = self.admin, self.anna
        made = api.post("/campaigns", {"name": "sales", "type": "agent", "region": "US",
                                       "settings": {"pacing": "progressive"}})  # fmt: skip
        assert made.status == 201, made
        csv = b"(212) 555-0100,,,,,Ann Smith,AC-1\n"
        upload = api.post("/campaigns/sales/contacts/upload", raw=csv, content_type="text/csv")
        assert upload.status == 200, upload
        put = api.request("PUT", "/agents/anna", {"extension": "desk1", "group": "sales"})
        assert put.status in (200, 201), put
        assert anna.post("/agents/anna/login", {"campaigns": ["sales"]}).status == 200
        api.wait_until(lambda: anna.get("/agents/anna").json()["seat_up"], what="the seat up")
        assert anna.post("/agents/anna/ready").json()["state"] == "ready"
        assert api.post("/campaigns/sales/start").json()["status"] == "running"
        api.wait_until(lambda: anna.get("/agents/anna").json()["state"] == "talking",
                       timeout=60, what="anna talking")  # fmt: skip
        call: dict[str, Any] = anna.get("/agents/anna").json()["call"]
        return call

    def lines(self) -> dict[str, dict[str, Any]]:
        """GET /lines once the card is up (discovered after the daemon says READY)."""

        def up() -> bool:
            return all(ln["state"] != "down" for ln in self.boss.get("/lines").json())

        self.boss.wait_until(up, timeout=30, what="the card's lines up")
        return {line["name"]: line for line in self.boss.get("/lines").json()}

    def watching(self) -> Any:
        return self.boss.get("/agents/anna/monitor").json()


@contextlib.contextmanager
def room(tmp: Path, conference: str = "listen,whisper,barge") -> Iterator[Room]:
    link, sock = tmp / "can0", tmp / "card.sock"
    (tmp / "card.toml").write_text(SCRIPT)
    emulator = subprocess.Popen(
        [sys.executable, "-m", "appliance", "emulate", "can-card", "--slots", "3:fxo,fxo,fxs,fxs",
         "--bus", f"slcan:{link}", "--script", str(tmp / "card.toml"), "--handsets", "lift=0.3",
         "--control", str(sock), "--conference", conference, "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    config = (
        "lines:\n"
        + "".join(f"  - {{name: card3-{p}, kind: can, device: 'slcan:{link}/3/{p}'}}\n" for p in (1, 2))
        + "seats:\n"
        + f"  - {{name: desk1, kind: can, device: 'slcan:{link}/3/3'}}\n"
        + f"  - {{name: sup1, kind: can, device: 'slcan:{link}/3/4'}}\n"
        + "agents:\n  wrap_up: 120\n"
        + ALWAYS_CALLABLE
        + "engine:\n  tick: 0.1\n"
    )  # fmt: skip
    daemon = DaemonProcess(tmp, config)
    try:
        assert emulator.stdout is not None
        said = json.loads(emulator.stdout.readline())
        assert said["cards"][0]["slot"] == 3
        daemon.start()
        daemon.expect("READY")
        yield Room(tmp, daemon, sock)
    finally:
        daemon.stop()
        emulator.terminate()
        emulator.wait(10)


def test_listen_barge_whisper_on_the_emulated_card(tmp_path: Path) -> None:
    with room(tmp_path) as r:
        boss, anna = r.boss, r.anna
        lines = r.lines()
        assert lines["card3-1"]["conference"] == ["listen", "whisper", "barge"]
        assert "3-party bridge on card 3" in lines["card3-1"]["conference_path"]

        # Before any call: unknown agent 404, a known agent without a call 409.
        assert boss.post("/agents/zed/monitor", {"seat": "sup1", "mode": "listen"}).status == 404
        assert r.admin.request("PUT", "/agents/anna", {"extension": "desk1"}).status == 201
        idle = boss.post("/agents/anna/monitor", {"seat": "sup1", "mode": "listen"})
        assert idle.status == 409 and "agent anna has no call now" in idle.json()["detail"], idle

        call = r.talking()
        line = call["line"]
        port = f"3/{line.rsplit('-', 1)[1]}"
        listen = {"seat": "sup1", "mode": "listen"}

        # Hostile: an agent's token (even for their own call), a CRM token, wrong seats, modes.
        assert anna.post("/agents/anna/monitor", listen).status == 403
        crm = Api(r.base, make_token(r.db, "crm1", "crm"))
        assert crm.post("/agents/anna/monitor", listen).status == 403
        unknown = boss.post("/agents/anna/monitor", {"seat": "nope", "mode": "listen"})
        assert unknown.status == 404 and "seats: desk1, sup1" in unknown.json()["detail"]
        own = boss.post("/agents/anna/monitor", {"seat": "desk1", "mode": "listen"})
        assert own.status == 422 and "agent anna's own seat" in own.json()["detail"], own
        assert boss.post("/agents/anna/monitor", {"seat": "sup1", "mode": "spy"}).status == 422
        assert boss.post("/agents/anna/monitor", {"seat": "sup1", "mode": "listen",
                                                  "volume": 11}).status == 422  # fmt: skip
        assert r.watching() == {"agent": "anna", "seat": None, "mode": None, "line": None}

        # Listen: sup1's handset is on hook, rung, lifted (the card's scripted handset), joined.
        got = boss.post("/agents/anna/monitor", listen)
        assert got.status == 200, got
        assert got.json() == {"agent": "anna", "seat": "sup1", "mode": "listen", "line": line}
        ports = r.ports()
        assert ports[port]["conference"] == {"mode": "listen", "call": port, "agent": "3/3",
                                             "supervisor": "3/4"}  # fmt: skip
        assert ports["3/4"]["hears"] == [port, "3/3"]  # the supervisor hears both
        assert ports[port]["hears"] == ["3/3"] and ports["3/3"]["hears"] == [port]  # not heard
        assert ports["3/4"]["state"] == 9 and r.watching()["mode"] == "listen"

        # Barge: a three-way call.
        barge = boss.post("/agents/anna/monitor", {"seat": "sup1", "mode": "barge"})
        assert barge.status == 200 and barge.json()["mode"] == "barge", barge
        ports = r.ports()
        assert ports[port]["conference"]["mode"] == "barge"
        assert ports[port]["hears"] == ["3/3", "3/4"] and ports["3/3"]["hears"] == [port, "3/4"]

        # Whisper: the agent hears the supervisor, the customer does not.
        whisper = boss.post("/agents/anna/monitor", {"seat": "sup1", "mode": "whisper"})
        assert whisper.status == 200 and whisper.json()["mode"] == "whisper", whisper
        ports = r.ports()
        assert ports["3/3"]["conference"]["mode"] == "whisper"
        assert ports["3/3"]["hears"] == [port, "3/4"] and ports[port]["hears"] == ["3/3"]

        # The end by the supervisor's page; again: nobody listens in.
        ended = boss.request("DELETE", "/agents/anna/monitor")
        assert ended.status == 200 and ended.json()["mode"] == "whisper", ended
        ports = r.ports()
        assert ports[port]["conference"] is None and ports["3/4"]["state"] == 6
        assert ports[port]["bridge"] == "3/3"  # anna's call goes on
        again = boss.request("DELETE", "/agents/anna/monitor")
        assert again.status == 409 and "nobody listens in" in again.json()["detail"]

        # The supervisor hangs up: the card ends the conference; the call goes on.
        assert boss.post("/agents/anna/monitor", listen).status == 200  # handset still up
        assert control(r.sock, "3/4 hang-up") == "ok"
        assert r.ports()[port]["conference"] is None
        boss.wait_until(lambda: r.watching()["seat"] is None, timeout=10, what="the end seen")
        assert anna.get("/agents/anna").json()["state"] == "talking"

        # The call ends while the supervisor listens: the conference goes with it.
        assert boss.post("/agents/anna/monitor", listen).status == 200  # rung, lifted again
        assert r.ports()["3/4"]["conference"]["supervisor"] == "3/4"
        assert anna.post("/agents/anna/hangup").status == 200
        boss.wait_until(lambda: anna.get("/agents/anna").json()["state"] == "wrap_up",
                        timeout=30, what="wrap-up")  # fmt: skip
        ports = r.ports()
        assert ports["3/4"]["conference"] is None and ports["3/4"]["state"] == 6
        after = boss.post("/agents/anna/monitor", listen)
        assert after.status == 409 and "no call" in after.json()["detail"], after

        audit = daemon_audit(r.db)
        assert ("api:boss", "agent.monitor") in audit and ("api:boss", "agent.unmonitor") in audit
        assert ("api:anna", "agent.monitor") not in audit  # refused by scope before it ran
        refused = _audit_details(r.db, "agent.monitor")
        assert any("own seat" in d.get("refused", "") for d in refused)
        assert any(d.get("mode") == "barge" and d.get("line") == line for d in refused)


def test_an_older_card_cannot_conference_and_the_api_says_why(tmp_path: Path) -> None:
    with room(tmp_path, conference="none") as r:
        lines = r.lines()
        assert lines["card3-1"]["conference"] == []
        assert "cannot conference" in lines["card3-1"]["conference_path"]
        r.talking()
        got = r.boss.post("/agents/anna/monitor", {"seat": "sup1", "mode": "barge"})
        assert got.status == 422, got
        assert "cannot bridge a third party in barge mode" in got.json()["detail"]
        assert "no object 0x200B" in got.json()["detail"]
        ports = r.ports()
        assert all(p["conference"] is None for p in ports.values())
        assert ports["3/4"]["state"] == 0  # not even rung


def _audit_details(path: Path, action: str) -> list[dict[str, Any]]:
    from appliance.store.db import Database

    db = Database(path, readonly=True)
    try:
        rows = db.conn.execute("SELECT detail FROM audit WHERE action = ?", (action,))
        return [json.loads(str(d)) for (d,) in rows]
    finally:
        db.close()
