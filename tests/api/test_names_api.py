"""Hostile names through the real daemon's API (#18): refused with the rule and the reason, never
a path segment; names from before the rule (rows written with SQL) are still found and dialed."""

from __future__ import annotations

import urllib.parse
from pathlib import Path

from appliance import names
from appliance.store import open_database
from appliance.store.tokens import digest
from tests.api.client import Api, make_token
from tests.daemon.process import DaemonProcess

HOSTILE = ["%2e%2e", "..", "spring\n", "spr\ning", "spring\x00", "\u202espring", "../x", "-x"]
RESERVED = ["archive", "failed", "Archive"]
LEGACY = ["..", "My Campaign", "archive"]


def _legacy_rows(db_path: Path) -> str:
    """Campaigns, an agent and a token named as the box allowed before; the token's secret."""
    db = open_database(db_path)
    try:
        with db.transaction():
            for name in LEGACY:
                db.conn.execute(
                    "INSERT INTO campaigns(name, type, region, settings, created_at, updated_at)"
                    " VALUES (?, 'automated', 'US', '{}', 0, 0)",
                    (name,),
                )
            db.conn.execute("INSERT INTO agents(name, updated_at) VALUES ('@old agent', 0)")
            db.conn.execute(
                "INSERT INTO tokens(name, scope, hash, created_at) VALUES (?, 'admin', ?, 0)",
                ("old crm\n", digest("dbx_legacy-secret")),
            )
    finally:
        db.close()
    return "dbx_legacy-secret"


def _refused(reply: object, *, why: str) -> dict[str, object]:
    status = reply.status  # type: ignore[attr-defined]
    assert 400 <= status < 500, reply
    assert reply.headers["Content-Type"].startswith("application/problem+json"), reply  # type: ignore[attr-defined]
    problem: dict[str, object] = reply.json()  # type: ignore[attr-defined]
    assert why in str(problem["detail"]), problem
    return problem


def test_hostile_names_are_refused_and_old_names_still_work(
    daemon: DaemonProcess, tmp_path: Path
) -> None:
    db_path = tmp_path / "state" / "dialbox.db"
    token = make_token(db_path, "admin")
    legacy_secret = _legacy_rows(db_path)
    daemon.start()
    daemon.expect("READY")
    api = Api(f"http://127.0.0.1:{daemon.port}", token)

    for name in HOSTILE:
        # A NUL is refused before any name is judged, wherever it stands in a body (limits.py).
        why = "NUL character" if "\x00" in name else names.RULE
        _refused(api.post("/campaigns", {"name": name, "type": "automated"}), why=why)
        _refused(api.post("/tokens", {"name": name, "scope": "crm"}), why=why)
        quoted = urllib.parse.quote(name, safe="")
        reply = api.request("PUT", f"/agents/{quoted}", {})
        assert 400 <= reply.status < 500 and reply.status != 201, (name, reply)
    for name in RESERVED:
        why = f"{name!r} is reserved: the hot folder uses it"
        _refused(api.post("/campaigns", {"name": name, "type": "automated"}), why=why)
        _refused(api.post("/tokens", {"name": name}), why=why)
        _refused(api.request("PUT", f"/agents/{name}", {}), why=why)
    # Nothing of those was made.
    listed = {c["name"] for c in api.get("/campaigns").json()}
    assert listed == set(LEGACY)

    # '..' is never a path segment: not the campaign, whichever way it is written.
    for path in ("/campaigns/%2e%2e", "/campaigns/%2E%2E", "/campaigns/.%2e", "/campaigns/%2e"):
        reply = api.get(path)
        assert reply.status in (400, 404), (path, reply)
        assert reply.headers["Content-Type"].startswith("application/problem+json")
        assert "settings" not in reply.json(), (path, reply)
    assert api.request("POST", "/campaigns/%2e%2e/start").status in (400, 404)

    # Names from before the rule: found by their exact text, started, listed.
    for name in ("My Campaign", "archive"):
        quoted = urllib.parse.quote(name, safe="")
        shown = api.get(f"/campaigns/{quoted}")
        assert shown.status == 200 and shown.json()["name"] == name, shown
        started = api.post(f"/campaigns/{quoted}/start")
        assert started.status == 200 and started.json()["status"] == "running", started
    # …and an old agent is still updated in place; an old token still signs requests.
    updated = api.request("PUT", "/agents/%40old%20agent", {"group": "sales"})
    assert updated.status == 200 and updated.json()["group"] == "sales", updated
    assert api.get("/campaigns", token=legacy_secret).status == 200

    # The document tells clients the rule: the pattern on every name field and path parameter.
    document = api.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    assert schemas["CampaignCreate"]["properties"]["name"]["pattern"] == names.PATTERN
    assert schemas["TokenCreate"]["properties"]["name"]["pattern"] == names.PATTERN
    for path, item in document["paths"].items():
        for operation in item.values():
            for param in operation.get("parameters", []):
                if param["in"] == "path" and param["name"] == "name":
                    assert param["schema"]["pattern"] == names.LOOKUP_PATTERN, (path, param)
                    assert names.PATTERN in param["schema"]["description"], path
