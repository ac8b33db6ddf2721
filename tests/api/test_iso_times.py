"""Every instant the API answers with is ISO 8601 with an offset (#22): a running daemon (a
subprocess) with campaigns, contacts, an agent on a call over an emulated line card, a preview,
a callback, DNC entries, tokens, log lines and audit entries — and every GET operation of its
own /openapi.json walked at three moments, each answer searched for an epoch number."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path

from tests.api.client import Api, make_token
from tests.api.times import epoch_fields, iso_problem, walk_gets
from tests.daemon.process import ALWAYS_CALLABLE, DaemonProcess

SCRIPT = """time_scale = 0.05
[[numbers]]
number = "+12125550100"
outcome = "answer"
ring = 4
talk = 400
"""


def test_the_walk_finds_epoch_numbers_and_bare_times() -> None:
    doc = {
        "created_at": 1767225600.5,
        "items": [{"since": 1767225600}, {"time": "2026-01-01T00:00:00"}],
        "odd": {"x": 1767225600.0},
        "fine": {"at": "2026-01-01T00:00:00.000Z", "call_seconds": 12.5, "timezone": "UTC"},
        "ids": [1, 2, 3],
    }
    assert sorted(epoch_fields(doc)) == [
        "$.created_at: 1767225600.5 is not ISO 8601 text",
        "$.items[0].since: 1767225600 is not ISO 8601 text",
        "$.items[1].time: '2026-01-01T00:00:00' has no offset",
        "$.odd.x: 1767225600.0 looks like epoch seconds",
    ]


def test_the_console_reads_the_instants_it_shows() -> None:
    from tui.client import instant
    from tui.panes.agents import _call

    assert instant("2026-01-01T00:00:30.500Z") == 1767225630.5
    assert instant("2026-01-01T01:00:30+01:00") == 1767225630.0
    assert [instant(v) for v in (None, 1767225630.5, "soon", "2026-01-01T00:00:30")] == [None] * 4
    agent = {"state": "talking", "call": {"number": "+12125550100", "started_at": None,
                                          "connected_at": "2026-01-01T00:00:30.000Z"}}  # fmt: skip
    now = dt.datetime.fromtimestamp(1767225630.0 + 42, dt.UTC)
    assert _call(agent, now) == "+12125550100 42s"


def _missed_call(db: Path) -> int:
    from appliance.store import open_database
    from appliance.store.campaigns import get_campaign
    from appliance.store.inbound import record_missed

    store = open_database(db)
    try:
        campaign = get_campaign(store, "in")
        return record_missed(store, campaign, "card3-1", "(212) 555-0142", "hung_up_in_queue",
                             time.time(), waited=42.0).id  # fmt: skip
    finally:
        store.close()


def _prompt(db: Path) -> str:
    """A prompt dropped in the prompts folder beside the database (#24): 0.1 s of a tone."""
    import math
    import wave

    folder = db.parent / "prompts"
    folder.mkdir(parents=True, exist_ok=True)
    with wave.open(str(folder / "hello.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"".join(int(8000 * math.sin(i / 5)).to_bytes(2, "little", signed=True)
                               for i in range(800)))  # fmt: skip
    return "hello"


def _recording(db: Path) -> int:
    """A call recording as the recorder leaves it (#24): its file beside the database."""
    from appliance.store import open_database
    from appliance.store.recordings import insert_recording

    rel = "2027/01/15/1-card3-1.wav"
    (db.parent / "recordings" / rel).parent.mkdir(parents=True, exist_ok=True)
    (db.parent / "recordings" / rel).write_bytes(b"RIFF....WAVE")
    store = open_database(db)
    try:
        return insert_recording(store, attempt_id=1, campaign="sales", line="card3-1",
                                number="+12125550100", agent="anna", direction="outbound",
                                started_at=time.time(), duration=1.0, path=rel, format="wav",
                                bytes=12, sha256="0" * 64, status="complete")  # fmt: skip
    finally:
        store.close()


def _no_epoch(found: dict[str, list[str]]) -> None:
    bad = {url: problems for url, problems in found.items() if problems}
    assert not bad, json.dumps(bad, indent=1)


def test_every_get_answers_instants_as_iso_8601(tmp_path: Path) -> None:
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
        + "agents:\n  wrap_up: 600\n"
        + ALWAYS_CALLABLE
        + "engine:\n  tick: 0.1\n"
    )  # fmt: skip
    daemon = DaemonProcess(tmp_path, config)
    db = tmp_path / "state" / "dialbox.db"
    admin = make_token(db, "admin", "admin")
    make_token(db, "crm-acme", "crm")
    try:
        assert emulator.stdout is not None
        assert json.loads(emulator.stdout.readline())["cards"][0]["slot"] == 3
        daemon.start()
        daemon.expect("READY")
        api = Api(f"http://127.0.0.1:{daemon.port}", admin)

        for name, pacing in (("sales", "progressive"), ("leads", "timed_preview")):
            made = api.post("/campaigns", {"name": name, "type": "agent", "region": "US",
                                           "settings": {"pacing": pacing, "preview_seconds": 3600}})  # fmt: skip
            assert made.status == 201, made
        upload = api.post("/campaigns/sales/contacts/upload", raw=b"(212) 555-0100,,,,,Ann\n12\n",
                          content_type="text/csv")  # fmt: skip
        assert upload.json()["rejected"] == 1, upload
        import_id = upload.json()["import_id"]
        assert api.post("/campaigns/leads/contacts", {"phone1": "(212) 555-0177"}).status == 201
        dnc = api.post("/dnc", {"numbers": ["+12125550199"], "expires": "30d"})
        assert dnc.status == 200, dnc
        strategy = {"name": "s", "on": {"Busy": {"action": "retry", "after": "5m"}}}
        assert api.request("PUT", "/campaigns/sales/strategy", strategy).status == 200
        assert api.request("PUT", "/agents/anna", {"extension": "desk1"}).status == 201
        login = api.post("/agents/anna/login", {"campaigns": ["sales", "leads"]})
        assert login.status == 200, login
        api.wait_until(lambda: api.get("/agents/anna").json()["seat_up"], what="the seat up")
        assert api.post("/agents/anna/ready").status == 200
        assert api.post("/campaigns/sales/start").status == 200

        contact_id = api.get("/campaigns/sales/contacts").json()["items"][0]["contact_id"]
        # a missed call of an inbound campaign (#23), as the engine records it, called back
        for name, kind in (("in", "inbound"), ("later", "agent")):  # "later" stays stopped
            made = api.post("/campaigns", {"name": name, "type": kind, "region": "US"})
            assert made.status == 201, made
        missed_id = _missed_call(db)
        recording_id = _recording(db)
        prompt = _prompt(db)
        called = api.post(f"/missed-calls/{missed_id}/callback", {"campaign": "later"})
        assert called.status == 200 and called.json()["callback"]["due_at"].endswith("Z"), called

        def path_values(template: str, param: str) -> str | None:
            if template.startswith("/agents/"):
                return "anna"
            if template.startswith("/lines/"):
                return "card3-1"
            if template.startswith("/dnc/numbers/"):
                return "+12125550199"
            if template.startswith("/contacts/"):
                return str(contact_id)
            if template.startswith("/missed-calls/"):
                return str(missed_id)
            if template.startswith("/recordings/"):
                return str(recording_id)
            if template.startswith("/prompts/"):
                return prompt
            if template.startswith("/campaigns/"):
                return "sales" if param == "name" else str(import_id)
            return None

        query = {"campaign": "sales", "format": "jsonl"}

        # 1. anna talking: the screen pop's call has started_at and connected_at.
        api.wait_until(lambda: api.get("/agents/anna").json()["state"] == "talking",
                       timeout=60, what="anna talking")  # fmt: skip
        talking = api.get("/agents/anna").json()
        assert iso_problem(talking["call"]["connected_at"]) is None, talking
        assert talking["call"]["connected_at"].endswith("Z")
        _no_epoch(walk_gets(api, path_values, query))

        # 2. wrap-up: wrap_until; a disposition with a callback an hour on.
        assert api.post("/agents/anna/hangup").status == 200
        api.wait_until(lambda: api.get("/agents/anna").json()["state"] == "wrap_up",
                       timeout=60, what="wrap-up")  # fmt: skip
        wrap = api.get("/agents/anna").json()
        assert wrap["wrap_until"] > wrap["since"]  # ISO in UTC with Z sorts as time does
        assert dt.datetime.fromisoformat(wrap["wrap_until"]).tzinfo is not None
        _no_epoch(walk_gets(api, path_values, query))
        callback = dt.datetime.fromtimestamp(time.time() + 3600, dt.UTC).isoformat()
        done = api.post("/agents/anna/disposition",
                        {"disposition": "new_contact", "callback_at": callback, "callback_for": "self"})  # fmt: skip
        assert done.status == 200, done
        assert not list(epoch_fields(done.json()))

        # 3. the timed preview of `leads` offered to anna: offered_at, dials_at.
        assert api.post("/campaigns/leads/start").status == 200
        api.wait_until(lambda: api.get("/agents/anna").json()["preview"] is not None,
                       timeout=60, what="a preview offered")  # fmt: skip
        preview = api.get("/agents/anna").json()["preview"]
        offered = dt.datetime.fromisoformat(preview["offered_at"])
        assert dt.datetime.fromisoformat(preview["dials_at"]) - offered == dt.timedelta(hours=1)
        found = walk_gets(api, path_values, query)
        _no_epoch(found)
        listed = api.get("/agents/anna/list?campaign=sales").json()
        assert listed and listed[0]["callback_at"].endswith("Z"), listed
        audit = api.get("/audit?limit=1000").json()
        assert audit and all(iso_problem(e["at"]) is None for e in audit)
        logs = api.get("/logs?level=DEBUG").json()
        assert logs and all(line["time"].endswith("Z") for line in logs)
        tokens = api.get("/setup").json()["tokens"]
        assert {t["name"] for t in tokens} == {"admin", "crm-acme"}
        assert all(t["created_at"].endswith("Z") for t in tokens)
        # Every GET of the document was walked (a new one joins the walk by itself).
        assert len(found) >= 20, sorted(found)
    finally:
        daemon.stop()
        emulator.terminate()
        emulator.wait(10)
