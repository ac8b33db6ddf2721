"""A CRM drives the box over real HTTP: create a campaign, upload a CSV (rejects reported with
their lines), start it, push two records, poll results to completion — while its webhook
receiver is down for a while and then up: every result delivered, in order per contact."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from appliance.store.db import Database
from tests.api.client import Api, make_token
from tests.api.receiver import Receiver
from tests.daemon.process import (
    ALWAYS_CALLABLE,
    DaemonProcess,
    EmulatorProcess,
    free_port,
    lines_config,
)

FINAL_OR_WAITING = {"Pending", "Sent to Dialer"}
ENGINE = (
    "engine:\n  tick: 0.1\n  webhook_timeout: 2\n  webhook_retry_min: 0.2\n  webhook_retry_max: 1\n"
)


def _csv(count: int) -> bytes:
    rows = [f"(212) 555-{1000 + i:04d},,,,,Callee {i},AC-{i:04d}" for i in range(count)]
    rows.insert(3, "12,,,,,too short")  # file line 4
    rows.insert(7, "(212) 555-1000,(212) 555-10x1,,,,bad second phone")  # file line 8
    return ("\n".join(rows) + "\n").encode()


def _all_results(api: Api, campaign: str) -> list[dict[str, Any]]:
    results, after = [], 0
    while True:
        page = api.get(f"/results?campaign={campaign}&after={after}&limit=50").json()
        results += page["items"]
        if not page["items"]:
            return results
        after = page["next"]


def _contacts(api: Api, campaign: str) -> list[dict[str, Any]]:
    items, after = [], 0
    while True:
        page = api.get(f"/campaigns/{campaign}/contacts?after={after}&limit=20").json()
        items += page["items"]
        if page["next"] is None:
            return items
        after = page["next"]


def test_crm_flow_with_a_webhook_that_is_down_then_up(tmp_path: Path) -> None:
    emulator = EmulatorProcess(
        tmp_path / "modems", 4, script="time_scale = 0.02\n", profile="simcom"
    )
    daemon = DaemonProcess(tmp_path, lines_config(emulator.links) + ALWAYS_CALLABLE + ENGINE)
    receiver = Receiver(free_port())
    token = make_token(tmp_path / "state" / "dialbox.db", "crm-acme", "crm")
    try:
        daemon.start()
        daemon.expect("READY")
        api = Api(f"http://127.0.0.1:{daemon.port}", token)

        made = api.post("/campaigns", {"name": "acme", "type": "automated", "region": "US",
                                       "settings": {"webhook": receiver.url}})  # fmt: skip
        assert made.status == 201, made

        report = api.post("/campaigns/acme/contacts/upload", raw=_csv(40), content_type="text/csv")
        assert report.status == 200, report
        doc = report.json()
        assert (doc["rows"], doc["imported"], doc["rejected"]) == (42, 40, 2)
        assert [(r["line"], r["field"]) for r in doc["rejects"]] == [(4, "Phone1"), (8, "Phone2")]

        assert api.post("/campaigns/acme/start").json()["status"] == "running"
        pushed = [
            api.post("/campaigns/acme/contacts", {"phone1": "+1 415 555 0101", "external_id": "crm-1", "bp1": "Ann"}),
            api.post("/campaigns/acme/contacts", {"phone1": "(206) 555-0102", "external_id": "crm-2", "priority": 5}),
        ]  # fmt: skip
        assert [p.status for p in pushed] == [201, 201], pushed
        ids = [p.json()["contact"]["contact_id"] for p in pushed]
        assert [p.json()["contact"]["external_id"] for p in pushed] == ["crm-1", "crm-2"]

        # Results come while the receiver is down; some are owed to it.
        api.wait_until(lambda: len(_all_results(api, "acme")) >= 10, what="ten results")
        receiver.start()

        def complete() -> bool:
            states = {c["state"] for c in _contacts(api, "acme")}
            return not states & FINAL_OR_WAITING

        api.wait_until(complete, timeout=180, what="every contact final or waiting")
        results = _all_results(api, "acme")
        contacts = _contacts(api, "acme")
        assert len(contacts) == 42
        # Every contact was dialed, and the feed has each attempt exactly once.
        assert {r["contact_id"] for r in results} == {c["contact_id"] for c in contacts}
        assert len({r["attempt_id"] for r in results}) == len(results)
        assert [r["seq"] for r in results] == sorted(r["seq"] for r in results)
        assert set(ids) <= {r["contact_id"] for r in results}
        one = api.get(f"/contacts/{ids[0]}").json()
        assert one["external_id"] == "crm-1" and one["attempts"] and one["attempts"][0]["evidence"]

        # The webhook: every result, at least once, in order per contact.
        api.wait_until(lambda: {p["attempt_id"] for p in receiver.received}
                       >= {r["attempt_id"] for r in results}, timeout=60, what="every result pushed")  # fmt: skip
        seen: dict[int, list[int]] = {}
        for payload in receiver.received:
            seen.setdefault(payload["contact_id"], []).append(payload["attempt_no"])
        for contact_id, numbers in seen.items():
            firsts = list(dict.fromkeys(numbers))
            assert firsts == sorted(firsts), (contact_id, numbers)
        # The receiver's down time was felt: deliveries were retried, none was given up.
        db = Database(tmp_path / "state" / "dialbox.db", readonly=True)
        try:
            assert int(db.scalar("SELECT max(tries) FROM outbox") or 0) >= 2
            assert db.scalar("SELECT count(*) FROM outbox WHERE delivered_at IS NULL") == 0
        finally:
            db.close()
    finally:
        receiver.stop()
        daemon.stop()
        emulator.stop()
