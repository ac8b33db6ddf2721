"""Tokens on TCP: none, wrong, revoked, wrong scope → 401/403 and nothing changed; the Unix
socket needs none (file permissions guard it); /metrics and /healthz need none."""

from __future__ import annotations

from pathlib import Path

from appliance.cli import main
from tests.api.client import Api, make_token, unix_request
from tests.daemon.process import DaemonProcess


def _changes(daemon: DaemonProcess) -> tuple[int, int]:
    from appliance.store.db import Database

    db = Database(daemon.tmp / "state" / "dialbox.db", readonly=True)
    try:
        return (
            int(db.scalar("SELECT count(*) FROM campaigns") or 0),
            int(db.scalar("SELECT count(*) FROM audit") or 0),
        )
    finally:
        db.close()


def test_tokens_scopes_and_the_unix_socket(daemon: DaemonProcess, tmp_path: Path) -> None:
    db_path = tmp_path / "state" / "dialbox.db"
    crm = make_token(db_path, "crm-acme", "crm")
    agent = make_token(db_path, "desk-1", "agent")
    revoked = make_token(db_path, "old", "admin")
    assert main(["--config", str(daemon.config), "token", "revoke", "old"]) == 0
    daemon.start()
    daemon.expect("READY")
    api = Api(f"http://127.0.0.1:{daemon.port}")
    create = {"name": "spring", "type": "automated"}
    before = _changes(daemon)

    for token, status in ((None, 401), ("dbx_not-a-token", 401), (revoked, 401), (agent, 403)):
        reply = api.post("/campaigns", create, token=token)
        assert reply.status == status, (token, reply)
        assert reply.headers["Content-Type"].startswith("application/problem+json")
        problem = reply.json()
        assert problem["status"] == status and problem["detail"]
        if status == 401:
            assert "Bearer" in reply.headers["WWW-Authenticate"]
    assert "scope 'crm'" in api.post("/campaigns", create, token=agent).json()["detail"]
    assert _changes(daemon) == before  # nothing changed, nothing audited

    # A crm token may create campaigns but not test lines or read the log (admin).
    made = api.post("/campaigns", create, token=crm)
    assert made.status == 201 and made.json()["name"] == "spring"
    assert api.get("/logs", token=crm).status == 403
    assert api.post("/lines/gsm0/test-call", {"number": "+12125550100"}, token=crm).status == 403

    # Public: health and metrics (scrapers carry no token).
    assert api.get("/healthz").status == 200
    assert b"dialbox_build_info" in api.get("/metrics").body
    assert api.get("/openapi.json").json()["openapi"] == "3.1.0"

    # The Unix socket: no token; the audit log names the local user.
    local = unix_request(tmp_path / "api.sock", "POST", "/campaigns/spring/pause")
    assert local.status == 409  # stopped campaigns cannot pause: the answer says so
    started = unix_request(tmp_path / "api.sock", "POST", "/campaigns/spring/start")
    assert started.status == 200 and started.json()["status"] == "running"
    audit = unix_request(tmp_path / "api.sock", "GET", "/audit").json()
    actors = [(a["actor"], a["action"]) for a in audit]
    assert ("api:crm-acme", "campaign.create") in actors
    assert any(
        actor.startswith("local:") and action == "campaign.update" for actor, action in actors
    )
