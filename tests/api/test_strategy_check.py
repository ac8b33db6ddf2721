"""`POST /campaigns/{name}/strategy/check` over real HTTP: the console's strategy editor checks
each draft here. A valid draft gets every outcome's action in force and its warnings; a wrong one
gets each problem at its row (not only the first); nothing is stored either way."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.client import Api, make_token
from tests.daemon.process import DaemonProcess


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    tmp: Path = tmp_path_factory.mktemp("check")
    daemon = DaemonProcess(tmp)
    token = make_token(tmp / "state" / "dialbox.db", "crm", "crm")
    daemon.start()
    try:
        daemon.expect("READY")
        api = Api(f"http://127.0.0.1:{daemon.port}", token)
        assert api.post("/campaigns", {"name": "spring", "type": "automated"}).status == 201
        yield api
        assert "ERROR appliance.api" not in daemon.output(), daemon.output()[-4000:]
    finally:
        daemon.stop()


def _check(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    reply = api.post("/campaigns/spring/strategy/check", body)
    assert reply.status == 200, reply
    return reply.json()  # type: ignore[no-any-return]


def test_a_valid_draft_gets_the_table_in_force_and_its_warnings(api: Api) -> None:
    before = api.get("/campaigns/spring/strategy").json()
    verdict = _check(api, {"name": "p", "on": {"Busy": "retry 30m", "Fax": "retry 1d",
                                               "default": "retry 4h"}})  # fmt: skip
    assert verdict["valid"] is True and verdict["errors"] == []
    rows = {r["outcome"]: r for r in verdict["table"]}
    assert rows["Busy"] == {"outcome": "Busy", "code": 1, "action": "retry 30m",
                            "source": "named", "terminal": False}  # fmt: skip
    assert rows["NoAnswer" if "NoAnswer" in rows else "AlertingTimeout"]["source"] == "default"
    assert rows["Connected"]["source"] == "built-in"  # a default never covers a terminal one
    assert rows["Connected"]["action"] == "close Connected"
    assert rows["Fax"]["terminal"] and rows["Fax"]["action"] == "retry 1d"
    assert len(verdict["warnings"]) == 1 and verdict["warnings"][0].startswith("on.Fax:")
    assert api.get("/campaigns/spring/strategy").json() == before  # nothing stored


def test_every_wrong_row_is_named_with_what_is_wrong(api: Api) -> None:
    verdict = _check(api, {"name": "p", "on": {"Busy": "retri 2h", "Fax": "retry soon",
                                               "Knocking": "sms", "Nonsense": "retry"}})  # fmt: skip
    assert verdict["valid"] is False and verdict["table"] is None
    where = {e["where"]: e["message"] for e in verdict["errors"]}
    assert set(where) >= {"on.Busy", "on.Fax.after", "on.Knocking", "on.Nonsense"}, where
    assert "is not an action" in where["on.Busy"] and "retry" in where["on.Busy"]
    assert "not a delay" in where["on.Fax.after"]
    assert "SMS attempt" in where["on.Knocking"]  # needs one in the plan: says which to add
    assert "Nonsense" in where["on.Nonsense"]
    # With an SMS attempt in the plan the switch is fine: only the plan's own problems remain.
    plan = [{"channel": "voice", "wait": "1h"}, {"channel": "sms", "phone": 1}]
    fixed = _check(api, {"name": "p", "attempts": plan, "on": {"Knocking": "sms"}})
    assert [e["where"] for e in fixed["errors"]] == ["attempts[0].wait"], fixed


def test_a_body_the_api_cannot_read_and_an_unknown_campaign_are_4xx(api: Api) -> None:
    assert api.post("/campaigns/spring/strategy/check", {"on": {}}).status == 422  # no name
    assert api.post("/campaigns/spring/strategy/check", {"name": "p", "on": "x"}).status == 422
    reply = api.post("/campaigns/nope/strategy/check", {"name": "p"})
    assert reply.status == 404 and "nope" in reply.json()["detail"]
