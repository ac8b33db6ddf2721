"""The strategy API takes every form the docs show (#22: `{action: sms, after: 5m}` was a 422),
over real HTTP against `dialbox run`; bad forms are 422s that name the key and what was
expected, and change nothing; concurrent writers leave one whole strategy."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from appliance.scheduler.strategy import parse_strategy, strategy_warnings, to_dict
from tests.api.client import Api, make_token
from tests.daemon.process import DaemonProcess
from tests.strategy_examples import as_json, strategies

BAD: list[tuple[dict[str, Any], str, str]] = [
    ({"Busy": {"after": "5m"}}, "body.on.Busy", "'action' is a required property"),
    ({"Busy": {"action": "retry", "delay": "5m"}}, "body.on.Busy", "'delay' was unexpected"),
    ({"Busy": {"action": "retry", "after": "soon"}}, "body.on.Busy.after", "'soon' is not a delay like 90s, 30m, 2h, 1d"),
    ({"Busy": {"action": "retry", "after": True}}, "body.on.Busy.after", "True is not of type 'string', 'number'"),
    ({"Busy": {"action": "retry", "after": -5}}, "body.on.Busy.after", "-5 is less than the minimum of 0"),
    ({"Busy": ["retry", "2h"]}, "body.on.Busy", "expected an action (retry, next_number, sms, email, block or close) as text"),
    ({"Busy": "redial"}, "body.on.Busy", "'redial' is not an action; expected one of retry"),
    ({"Busy": {"action": "close", "after": "5m"}}, "body.on.Busy", "'close' takes no delay"),
    ({"Bussy": "retry"}, "body.on.Bussy", "unknown outcome 'Bussy'"),
]  # fmt: skip


@pytest.fixture()
def api(daemon: DaemonProcess, tmp_path: Path) -> Api:
    token = make_token(tmp_path / "state" / "dialbox.db", "crm", "crm")
    daemon.start()
    daemon.expect("READY")
    client = Api(f"http://127.0.0.1:{daemon.port}", token)
    assert client.post("/campaigns", {"name": "spring", "type": "automated"}).status == 201
    return client


def test_every_strategy_the_docs_show_is_taken_as_json(api: Api) -> None:
    examples = strategies()
    assert len(examples) >= 3
    for example in examples:
        body = as_json(example.data)
        reply = api.request("PUT", "/campaigns/spring/strategy", body)
        assert reply.status == 200, (example.where, reply)
        parsed = parse_strategy(example.data)
        expected = {**to_dict(parsed), "warnings": strategy_warnings(parsed)}
        assert reply.json() == expected, example.where
        assert api.get("/campaigns/spring/strategy").json() == expected
    assert api.get("/campaigns/spring").json()["settings"]["strategy"] == "campaign:spring"


def test_the_mapping_form_and_the_text_form_store_the_same(api: Api) -> None:
    attempts = [{"channel": "voice"}, {"channel": "sms", "phone": "same", "wait": "1d"}]
    mapping = {"name": "m", "attempts": attempts,
               "on": {"Busy": {"action": "sms", "after": "5m"}, "NoAnswer": {"action": "retry", "after": 5400},
                      "Fax": {"action": "close", "state": "DNC Listed"}}}  # fmt: skip
    reply = api.request("PUT", "/campaigns/spring/strategy", mapping)
    assert reply.status == 200, reply
    assert reply.json()["on"] == {
        "Fax": "close DNC Listed",
        "Busy": "sms 5m",
        "AlertingTimeout": "retry 90m",
    }
    assert reply.json()["attempts"][1] == {"channel": "sms", "phone": "same", "wait": "1d"}
    assert [w.split(":")[0] for w in reply.json()["warnings"]] == ["on.Fax"]


@pytest.mark.parametrize(("on", "where", "what"), BAD)
def test_a_bad_form_is_a_422_naming_the_key_and_changes_nothing(
    api: Api, on: dict[str, Any], where: str, what: str
) -> None:
    good = {"name": "g", "on": {"Busy": "retry 1h"}}
    assert api.request("PUT", "/campaigns/spring/strategy", good).status == 200
    reply = api.request("PUT", "/campaigns/spring/strategy", {"name": "b", "on": on})
    assert reply.status == 422, reply
    problem = reply.json()
    assert f"{where}: " in problem["detail"] and what in problem["detail"], problem
    assert any(e["where"] == where for e in problem["errors"]), problem
    assert api.get("/campaigns/spring/strategy").json()["name"] == "g"


def test_concurrent_writers_leave_one_whole_strategy(api: Api) -> None:
    def body(i: int) -> dict[str, Any]:
        return {"name": f"s{i}", "on": {"Busy": {"action": "retry", "after": f"{i + 1}m"},
                                        "NoAnswer": f"retry {i + 1}h"}}  # fmt: skip

    replies: list[int] = []
    threads = [
        threading.Thread(
            target=lambda i=i: replies.append(
                api.request("PUT", "/campaigns/spring/strategy", body(i)).status
            )
        )
        for i in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert replies == [200] * 8
    final = api.get("/campaigns/spring/strategy").json()
    i = int(final["name"][1:])
    assert final["on"] == {"Busy": f"retry {i + 1}m", "AlertingTimeout": f"retry {i + 1}h"}
