"""GET /reports/agents|lines|campaigns over real HTTP against the daemon (a subprocess) on the
reports' fixture, in the box's time zone (America/New_York): JSON and CSV bodies, and the
refusals — dates that are not ISO 8601, from after to, ten years, a campaign that does not
exist, a wrong token — each a problem document saying what to do."""

from __future__ import annotations

import csv
import io
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.client import Api, make_token
from tests.daemon.process import DaemonProcess
from tests.store.report_fixture import build


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Api, DaemonProcess]]:
    tmp = tmp_path_factory.mktemp("reports-api")
    (tmp / "state").mkdir()
    build(tmp / "state" / "dialbox.db").close()
    token = make_token(tmp / "state" / "dialbox.db", "crm-reports", "crm")
    daemon = DaemonProcess(tmp, "timezone: America/New_York\n")
    daemon.start()
    daemon.expect("READY")
    yield Api(f"http://127.0.0.1:{daemon.port}", token), daemon
    daemon.stop()


def _json(api: Api, path: str) -> Any:
    reply = api.get(path)
    assert reply.status == 200, reply
    assert reply.headers["Content-Type"].startswith("application/json")
    return reply.json()


def test_agents_as_json(box: tuple[Api, DaemonProcess]) -> None:
    api, _ = box
    doc = _json(api, "/reports/agents?from=2025-03-09&by=total")
    assert (doc["report"], doc["from"], doc["to"], doc["by"], doc["timezone"]) == (
        "agents", "2025-03-09T00:00:00-05:00", "2025-03-10T00:00:00-04:00", "total",
        "America/New_York",
    )  # fmt: skip
    anna = next(r for r in doc["rows"] if r["agent"] == "anna")
    assert anna == {
        "period": "2025-03-09T00:00:00-05:00", "agent": "anna", "calls": 2,
        "talk_seconds": 120.0, "wrap_seconds": 60.0, "paused_seconds": 600.0,
        "logged_in_seconds": 10800.0, "occupancy": 0.0167,
        "dispositions": {"no interest": 1, "sale": 1},
    }  # fmt: skip
    ben = next(r for r in doc["rows"] if r["agent"] == "ben")
    assert (ben["calls"], ben["logged_in_seconds"], ben["occupancy"]) == (0, 3600.0, 0.0)
    assert doc["columns"][:3] == ["period", "agent", "calls"]


def test_lines_by_hour_as_csv(box: tuple[Api, DaemonProcess]) -> None:
    api, _ = box
    reply = api.get("/reports/lines?from=2025-03-09&by=hour&format=csv")
    assert reply.status == 200, reply
    assert reply.headers["Content-Type"].startswith("text/csv")
    assert "dialbox-lines-2025-03-09-hour.csv" in reply.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(reply.body.decode())))
    faults = {(r["period"], r["line"]): r["faults"] for r in rows if r["faults"] != "0"}
    assert faults == {
        ("2025-03-09T04:00:00-04:00", "gsm1"): "3",
        ("2025-03-09T10:00:00-04:00", "gsm1"): "1",
    }
    assert reply.body.startswith(b"period,line,attempts,calls,sms,human,machine,no_answer,")


def test_campaigns_by_day_when_the_client_accepts_csv(box: tuple[Api, DaemonProcess]) -> None:
    api, _ = box
    reply = api.request("GET", "/reports/campaigns?from=2025-03-08&to=2025-03-10&campaign=spring")
    assert reply.headers["Content-Type"].startswith("application/json")
    req = urllib.request.Request(
        api.base + "/reports/campaigns?from=2025-03-08&to=2025-03-10&campaign=spring",
        headers={"Authorization": f"Bearer {api.token}", "Accept": "text/csv"},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.headers["Content-Type"].startswith("text/csv")
        body = resp.read().decode()
    assert body.splitlines() == [
        "period,campaign,attempts,calls,connects,human,to_agent,abandoned,abandon_rate,"
        "talk_seconds,sms_sent,sms_failed,sms_replied,email_sent,email_failed,email_bounced,"
        "dnc_skips,inbound",
        "2025-03-09T00:00:00-05:00,spring,8,8,4,3,2,1,0.25,145.0,0,0,0,0,0,0,2,0",
        "2025-03-10T00:00:00-04:00,spring,1,1,0,0,0,0,,0.0,0,0,0,0,0,0,0,0",
    ]
    doc = _json(api, "/reports/campaigns?from=2025-03-09&by=total")
    assert doc["total"]["attempts"] == 11 and doc["total"]["sms_replied"] == 1


@pytest.mark.parametrize(
    ("query", "status", "says"),
    [
        ("from=last%20tuesday", 422, "from: 'last tuesday' is not an ISO 8601 date or time"),
        ("from=2025-03-10&to=2025-03-09", 422, "must be before to"),
        ("from=2015-01-01&to=2025-01-01", 422, "by=day reports cover at most 366 days"),
        ("from=2025-01-01&to=2025-03-01&by=hour", 422, "at most 31 days; ask by=day"),
        ("by=week", 422, "by"),
        ("from=" + "9" * 100, 422, "from"),
        ("from=2025-03-09&campaign=nope", 404, "no campaign named 'nope'; known campaigns:"),
        ("format=xml", 422, "format"),
        ("from=9999-12-31T00:00&to=9999-12-31T10:00", 422, "give one from 1970 to 2199"),
    ],
)
def test_bad_parameters_are_refused_with_a_problem(
    box: tuple[Api, DaemonProcess], query: str, status: int, says: str
) -> None:
    api, _ = box
    for kind in ("agents", "lines", "campaigns"):
        reply = api.get(f"/reports/{kind}?{query}")
        assert reply.status == status, (kind, reply)
        assert reply.headers["Content-Type"].startswith("application/problem+json")
        assert says in reply.json()["detail"], reply.json()


def test_a_wrong_token_is_refused(box: tuple[Api, DaemonProcess]) -> None:
    api, _ = box
    for token in ("dbx_wrong", ""):
        reply = Api(api.base, token or None).get("/reports/agents")
        assert reply.status == 401, reply
        assert "Bearer" in reply.headers["WWW-Authenticate"]
