"""Tokens on TCP: none, wrong, revoked, wrong scope → 401/403 and nothing changed; the Unix
socket needs none (file permissions guard it); /metrics and /healthz need none."""

from __future__ import annotations

import http.client
import json
from pathlib import Path

from appliance.cli import main
from appliance.store.db import Database
from tests.api.client import Api, make_token, unix_request
from tests.daemon.process import DaemonProcess


def _changes(daemon: DaemonProcess) -> tuple[int, int]:
    from appliance.store.db import Database

    db = Database(daemon.tmp / "state" / "dialbox.db", readonly=True)
    try:
        return (
            int(db.scalar("SELECT count(*) FROM campaigns") or 0),
            # Failed authentications are audited (auth.failed); nothing else is.
            int(db.scalar("SELECT count(*) FROM audit WHERE action NOT LIKE 'auth.%'") or 0),
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
    assert _changes(daemon) == before  # nothing changed, nothing audited but the failures

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


def _from(address: str, port: int) -> http.client.HTTPConnection:
    """A keep-alive connection whose source is `address` (all of 127/8 is local on Linux)."""
    return http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(address, 0))


def _get(conn: http.client.HTTPConnection, path: str, token: str) -> tuple[int, dict[str, str]]:
    conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
    resp = conn.getresponse()
    resp.read()
    return resp.status, dict(resp.getheaders())


def test_wrong_tokens_are_limited_per_address_and_audited_boundedly(
    daemon: DaemonProcess, tmp_path: Path
) -> None:
    good = make_token(tmp_path / "state" / "dialbox.db", "crm-acme", "crm")
    daemon.start()
    daemon.expect("READY")
    attacker = _from("127.0.0.1", daemon.port)
    statuses = []
    retry_after = set()
    for i in range(1000):
        status, headers = _get(attacker, "/campaigns", f"dbx_wrong-{i}")
        statuses.append(status)
        if status == 429:
            retry_after.add(headers.get("Retry-After"))
    attacker.close()
    # A burst of 10 is answered 401; every later try is refused unchecked (the test runs in far
    # less than the 30 s the first block lasts).
    assert statuses[:10] == [401] * 10, statuses[:12]
    assert set(statuses[10:]) == {429}, sorted(set(statuses[10:]))
    assert None not in retry_after and all(int(v) >= 1 for v in retry_after), retry_after

    # The limited address is refused even with a valid token; another address is not.
    limited = _from("127.0.0.1", daemon.port)
    assert _get(limited, "/campaigns", good)[0] == 429
    limited.close()
    other = _from("127.0.0.2", daemon.port)
    assert _get(other, "/campaigns", good)[0] == 200
    other.close()
    # The local console on the Unix socket is not limited by address.
    assert unix_request(tmp_path / "api.sock", "GET", "/campaigns").status == 200

    audit = unix_request(tmp_path / "api.sock", "GET", "/audit?limit=1000").json()
    failed = [a for a in audit if a["action"] == "auth.failed"]
    assert 1 <= len(failed) <= 5, len(failed)
    assert all(a["target"] == "127.0.0.1" for a in failed)
    assert not any("dbx_wrong" in json.dumps(a) for a in audit)  # no secrets in the audit

    metrics = Api(f"http://127.0.0.1:{daemon.port}").get("/metrics").body.decode()
    assert 'dialbox_auth_failures_total{reason="unknown"} 10.0' in metrics
    assert 'dialbox_auth_failures_total{reason="limited"} 991.0' in metrics

    # On a drain the daemon writes the summary of what it did not audit one by one.
    assert daemon.proc is not None
    daemon.proc.terminate()
    assert daemon.proc.wait(30) == 0
    db = Database(tmp_path / "state" / "dialbox.db", readonly=True)
    try:
        rows = db.conn.execute(
            "SELECT action, detail FROM audit WHERE action LIKE 'auth.%' ORDER BY id"
        ).fetchall()
    finally:
        db.close()
    summaries = [json.loads(str(d)) for a, d in rows if a == "auth.suppressed"]
    assert len([a for a, _ in rows if a == "auth.failed"]) == len(failed)
    assert len(summaries) == 1 and summaries[0]["suppressed"] == 1001 - len(failed)


def test_every_operation_with_a_scope_refuses_no_token_and_a_wrong_one(
    daemon: DaemonProcess,
) -> None:
    """What schemathesis' ignored_auth check did (it is off: its probes come from one address,
    which gets limited): each operation that needs a token answers 401 without one and with a
    wrong one. Each operation's probes come from an address of their own (127.0.1.N)."""
    from appliance.api.server import openapi_document

    daemon.start()
    daemon.expect("READY")
    document = openapi_document()
    operations = [
        (method.upper(), path)
        for path, item in document["paths"].items()  # type: ignore[union-attr]
        for method, op in item.items()
        if "x-dialbox-scope" in op
    ]
    assert len(operations) > 40
    for n, (method, path) in enumerate(operations, start=1):
        url = path.replace("{", "").replace("}", "")  # any name: refused before it is looked up
        conn = _from(f"127.0.1.{n}", daemon.port)
        for headers in ({}, {"Authorization": "Bearer dbx_not-a-token"}):
            conn.request(method, url, headers=headers)
            resp = conn.getresponse()
            resp.read()
            assert resp.status == 401, (method, path, headers, resp.status)
        conn.close()
