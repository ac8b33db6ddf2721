"""Operations whose bodies are pydantic models (appliance/api/models/), through the real daemon on
an emulated line: a good body does what it did as JSON, a bad one is the 422 it always was (the
same where and message), and defaults the model declares apply."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.client import Api, Reply
from tests.api.fuzz import Box, fuzz_box


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Box]:
    with fuzz_box(tmp_path_factory.mktemp("typed")) as made:
        yield made
        assert "ERROR appliance.api" not in made.daemon.output(), made.daemon.output()[-4000:]


@pytest.fixture()
def admin(box: Box) -> Api:
    return Api(box.base, box.tokens["admin"])


def problem(reply: Reply, status: int = 422) -> dict[str, Any]:
    assert reply.status == status, reply
    document: dict[str, Any] = json.loads(reply.body)
    return document


def line(admin: Api) -> str:
    name: str = admin.get("/lines").json()[0]["name"]
    return name


def test_a_test_call_and_a_test_sms_take_their_bodies(admin: Api) -> None:
    name = line(admin)
    called = admin.post(f"/lines/{name}/test-call", {"number": "+12125550100", "hold": 0})
    assert called.status == 200 and {"outcome", "code"} <= set(called.json()), called
    sent = admin.post(f"/lines/{name}/test-sms", {"number": "+12125550100", "text": "hello"})
    assert sent.status == 200 and {"status", "parts"} <= set(sent.json()), sent


def test_a_bad_test_call_body_is_the_schema_422(admin: Api) -> None:
    name = line(admin)
    refused = problem(
        admin.post(f"/lines/{name}/test-call", {"number": "+12125550100", "ring_timeout": 5})
    )
    assert refused["errors"] == [
        {
            "where": "body.ring_timeout",
            "pointer": "/ring_timeout",
            "message": "5 is less than the minimum of 15",
        }
    ]
    refused = problem(admin.post(f"/lines/{name}/test-sms", {"number": "+12125550100", "txt": "x"}))
    assert [e["message"] for e in refused["errors"]] == [
        "Additional properties are not allowed ('txt' was unexpected)",
        "'text' is a required property",
    ] or [e["message"] for e in refused["errors"]] == [
        "'text' is a required property",
        "Additional properties are not allowed ('txt' was unexpected)",
    ]


def test_dnc_changes_take_their_bodies(admin: Api, tmp_path: Path) -> None:
    added = admin.post("/dnc", {"numbers": ["+12125550111"], "reason": "asked", "expires": "90d"})
    assert added.status == 200 and added.json()["list"] == "global", added
    listed = admin.get("/dnc/numbers/+12125550111").json()
    assert listed["listed"] and listed["lists"][0]["reason"] == "asked"
    blocked = admin.post("/dnc", {"numbers": ["+12125550112"], "block": True})
    assert blocked.status == 200 and blocked.json()["list"] == "block", blocked
    both = problem(
        admin.post("/dnc", {"numbers": ["+12125550113"], "block": True, "expires": "1d"})
    )
    assert both["detail"] == "block is the global, permanent block list: no campaign or expires"
    empty = problem(admin.post("/dnc", {"numbers": [""]}))
    assert empty["errors"][0]["where"] == "body.numbers.0"
    assert problem(admin.post("/dnc", {"numbers": ["+12125550114"], "campaign": None}))["errors"]


def test_setup_changes_only_the_keys_given(admin: Api) -> None:
    before = admin.get("/setup").json()["config"]
    changed = admin.request(
        "PATCH", "/setup", {"calling_hours": {"start": "09:00", "end": "20:00"}}
    )
    assert changed.status == 200 and changed.json()["region"] == before["region"], changed
    after = admin.get("/setup").json()["config"]
    assert after["box_hours"] == "09:00-20:00" and after["timezone"] == before["timezone"]
    refused = problem(
        admin.request("PATCH", "/setup", {"calling_hours": {"start": "9:00", "end": "20:00"}})
    )
    assert refused["errors"][0]["where"] == "body.calling_hours.start"
    assert problem(admin.request("PATCH", "/setup", {"colour": "red"}))["errors"]
    # the custom profile's own hours (the console's hours form edits both)
    custom = admin.request("PATCH", "/setup", {"custom_calling_hours": "mon-fri 09:00-20:00"})
    assert custom.status == 200, custom
    assert admin.get("/setup").json()["config"]["custom_calling_hours"] == "mon-fri 09:00-20:00"
    for bad in ("whenever", "x" * 201, ""):
        refused = admin.request("PATCH", "/setup", {"custom_calling_hours": bad})
        assert refused.status == 422, refused
    assert admin.get("/setup").json()["config"]["custom_calling_hours"] == "mon-fri 09:00-20:00"


def test_a_token_and_a_probe_take_their_bodies(admin: Api) -> None:
    made = admin.post("/tokens", {"name": "typed-crm"})
    assert made.status == 201 and made.json()["scope"] == "crm" and made.json()["token"], made
    agent = admin.post("/tokens", {"name": "typed-agent", "scope": "agent"})
    assert agent.status == 201 and agent.json()["scope"] == "agent", agent
    bad = problem(admin.post("/tokens", {"name": "-x"}))
    assert bad["errors"][0]["message"].endswith(
        "names are 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
    )
    assert admin.post("/setup/probe", {"device": "/dev/no-such-modem"}).status == 404


def test_campaign_bodies_change_only_what_they_name(admin: Api) -> None:
    made = admin.post("/campaigns", {"name": "typed", "filter": "bp1 = 'x'"})
    assert made.status == 201, made
    assert made.json()["type"] == "agent" and made.json()["filter"] == "bp1 = 'x'"
    region = made.json()["region"]
    # PATCH without filter keeps it; with filter null clears it.
    kept = admin.request("PATCH", "/campaigns/typed", {"type": "automated"}).json()
    assert (
        kept["type"] == "automated" and kept["filter"] == "bp1 = 'x'" and kept["region"] == region
    )
    cleared = admin.request("PATCH", "/campaigns/typed", {"filter": None}).json()
    assert cleared["filter"] is None and cleared["type"] == "automated"
    # A schedule sets the keys it names and leaves the others.
    first = admin.request("PUT", "/campaigns/typed/schedule", {"windows": "mon-fri 09:00-17:00"})
    assert first.status == 200, first
    second = admin.request("PUT", "/campaigns/typed/schedule", {"skip_holidays": False}).json()
    assert second["settings"]["windows"] == "mon-fri 09:00-17:00"
    assert second["settings"]["skip_holidays"] is False
    bad = problem(admin.request("PUT", "/campaigns/typed/schedule", {"start_date": "soon"}))
    assert bad["errors"][0]["where"] == "body.start_date"
    filtered = admin.request("PUT", "/campaigns/typed/filter", {"filter": "bp2 = 'y'"}).json()
    assert filtered["filter"] == "bp2 = 'y'"
    assert problem(admin.request("PUT", "/campaigns/typed/filter", {}))["errors"][0]["message"] == (
        "'filter' is a required property"
    )


STRATEGIES: list[dict[str, Any]] = [
    {"name": "two", "attempts": [{"phone": 1}, {"channel": "sms", "phone": "next", "wait": "1h"}],
     "on": {"Busy": "retry 10m", "default": "next_number"}, "steps_on": {"2": {"NoAnswer": "block"}},
     "repeat_last": True},
    {"name": "bare"},
    {"name": "odd", "attempts": [{"phone": 2, "colour": "red"}]},
    {"name": "late", "attempts": [{"wait": "1h"}]},
]  # fmt: skip


@pytest.mark.parametrize("definition", STRATEGIES, ids=lambda d: d["name"])
def test_a_strategy_body_is_parsed_as_the_json_it_came_as(
    admin: Api, definition: dict[str, Any]
) -> None:
    from appliance.campaign_strategy import document
    from appliance.scheduler.strategy import StrategyError, parse_strategy

    reply = admin.request("PUT", "/campaigns/seed/strategy", definition)
    try:
        expected = json.loads(json.dumps(document(parse_strategy(definition, "body"))))
    except StrategyError as exc:
        detail = problem(reply)["detail"]
        # A key no attempt has is the schema's to refuse (its message names it), the rest the parser's.
        assert (
            "'colour' was unexpected" in detail
            if definition["name"] == "odd"
            else detail == str(exc)
        )
    else:
        assert reply.status == 200 and reply.json() == expected, reply
