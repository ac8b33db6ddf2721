"""`GET /campaigns/{name}/contacts` over real HTTP, as the console's Contacts pane uses it: by
state, searched, paged by cursor with a bounded page size, the campaign's names for its fields
(its column mapping); bad parameters are 4xx saying what is wrong, never 500."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from appliance.cli import main
from tests.api.client import Api, make_token
from tests.daemon.process import DaemonProcess

MAPPING = "import:\n  mappings:\n    crm:\n      columns: {phone1: Phone, bp1: First name, external_id: Id}\n"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    tmp = tmp_path_factory.mktemp("listing")
    daemon = DaemonProcess(tmp, MAPPING)
    cli = ["--config", str(daemon.config)]
    assert main([*cli, "campaign", "create", "crm", "--type", "automated", "--region", "US"]) == 0
    assert main([*cli, "campaign", "set", "crm", "mapping=crm"]) == 0
    rows = ["Phone,First name,Id"] + [
        f"(212) 555-{i:04d},Person {i},ID-{i:04d}" for i in range(250)
    ]
    (tmp / "crm.csv").write_text("\n".join(rows) + "\n")
    assert main([*cli, "import", "--campaign", "crm", str(tmp / "crm.csv")]) == 0
    token = make_token(tmp / "state" / "dialbox.db", "crm", "crm")
    daemon.start()
    try:
        daemon.expect("READY")
        yield Api(f"http://127.0.0.1:{daemon.port}", token)
        assert "ERROR appliance.api" not in daemon.output(), daemon.output()[-4000:]
    finally:
        daemon.stop()


def _all(api: Api, query: str) -> tuple[list[dict[str, Any]], int]:
    items: list[dict[str, Any]] = []
    after: int | None = 0
    requests = 0
    while after is not None:
        page = api.get(f"/campaigns/crm/contacts?{query}&after={after}").json()
        items += page["items"]
        after = page["next"]
        requests += 1
    return items, requests


def test_pages_follow_the_cursor_and_carry_the_campaigns_field_names(api: Api) -> None:
    first = api.get("/campaigns/crm/contacts?limit=100").json()
    assert len(first["items"]) == 100 and first["next"] == first["items"][-1]["contact_id"]
    assert first["labels"] == {"phone1": "Phone", "bp1": "First name", "external_id": "Id"}
    items, requests = _all(api, "limit=100")
    assert len(items) == 250 and requests == 3
    assert len({c["contact_id"] for c in items}) == 250
    assert items[0]["bp1"] == "Person 0" and items[0]["external_id"] == "ID-0000"


def test_state_and_search_narrow_the_list(api: Api) -> None:
    assert _all(api, "state=Connected")[0] == []
    assert len(_all(api, "state=Pending&limit=1000")[0]) == 250
    by_name = _all(api, "q=" + quote("person 17"))[0]
    assert sorted(c["bp1"] for c in by_name) == [
        "Person 17",
        *(f"Person {n}" for n in range(170, 180)),
    ]
    assert [c["bp1"] for c in _all(api, "q=" + quote("(212) 555-0042"))[0]] == ["Person 42"]
    assert [c["bp1"] for c in _all(api, "q=id-0099")[0]] == ["Person 99"]
    assert _all(api, "q=" + quote("Person 17") + "&state=Connected")[0] == []


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=ten", "limit"),
        ("after=-1", "after"),
        ("state=Happy", "state"),
        ("q=", "q"),
        ("q=" + "x" * 101, "q"),
        ("q=%00", "q"),
    ],
)
def test_bad_parameters_are_refused_with_what_is_wrong(api: Api, query: str, says: str) -> None:
    reply = api.get(f"/campaigns/crm/contacts?{query}")
    assert 400 <= reply.status < 500, reply
    assert says in reply.json()["detail"], reply.json()


def test_an_unknown_campaign_is_404(api: Api) -> None:
    reply = api.get("/campaigns/nope/contacts")
    assert reply.status == 404 and "nope" in reply.json()["detail"]
