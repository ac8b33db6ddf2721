"""Uploads read by header name over real HTTP against `dialbox run` (#22): the rules of
`dialbox import` — the CRM export by its names, the unknown column refused with 422 and the
accepted names, `map=` in the query and in the form, `dry_run`, and the daemon's hot folder
with the config's `import.map`."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator

import pytest

from tests.api.client import Api, Reply, make_token
from tests.daemon.process import DaemonProcess

CRM = (
    b"phone,mobile,first_name,last_name,email,amount\n"
    b"(212) 555-0100,+1 415 555 0199,Jane,Doe,jane@example.com,12.50\n"
    b"2125550101,,John,Smith,john@example.com,7\n"
)
ODD = b"phone,first_name,Filiale\n2125550102,Ann,WAW\n"


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Api, DaemonProcess]]:
    tmp = tmp_path_factory.mktemp("headers")
    daemon = DaemonProcess(
        tmp,
        f"region: US\nimport:\n  hot_folder: {tmp}/hot\n  settle_seconds: 0\n"
        "  map:\n    Kundentyp: bp5\n",
    )
    token = make_token(tmp / "state" / "dialbox.db", "crm", "admin")
    try:
        daemon.start()
        daemon.expect("READY")
        api = Api(f"http://127.0.0.1:{daemon.port}", token)
        made = api.post("/campaigns", {"name": "acme", "type": "automated", "region": "US"})
        assert made.status == 201, made
        yield api, daemon
        assert "ERROR appliance.api" not in daemon.output(), daemon.output()[-4000:]
    finally:
        daemon.stop()


def upload(api: Api, data: bytes, query: str = "") -> Reply:
    return api.post(f"/campaigns/acme/contacts/upload{query}", raw=data, content_type="text/csv")


def multipart(api: Api, data: bytes, fields: list[tuple[str, str]]) -> Reply:
    boundary = "dialbox-test-boundary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="c.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n".encode()
        + data
        + b"\r\n"
    )
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return api.post("/campaigns/acme/contacts/upload", raw=body,
                    content_type=f"multipart/form-data; boundary={boundary}")  # fmt: skip


def count(api: Api) -> int:
    return len(api.get("/campaigns/acme/contacts?limit=1000").json()["items"])


def test_a_crm_export_uploads_by_its_header_names(box: tuple[Api, DaemonProcess]) -> None:
    api, _ = box
    reply = upload(api, CRM)
    assert reply.status == 200, reply
    document = reply.json()
    assert (document["layout"], document["imported"]) == ("header", 2)
    assert [c["field"] for c in document["columns"]] == [
        "phone1", "phone2", "bp1", "bp2", "bp4", "bp3",
    ]  # fmt: skip


def test_an_unknown_column_is_a_422_naming_the_accepted_names_and_nothing_lands(
    box: tuple[Api, DaemonProcess],
) -> None:
    api, _ = box
    before = count(api)
    reply = upload(api, ODD)
    assert reply.status == 422, reply
    assert reply.headers["Content-Type"].startswith("application/problem+json")
    detail = reply.json()["detail"]
    assert "line 1: unknown column 'Filiale' (column 3)" in detail
    assert "Accepted names" in detail and "map=Filiale=bp6" in detail
    assert count(api) == before


def test_map_in_the_query_and_in_the_form(box: tuple[Api, DaemonProcess]) -> None:
    api, _ = box
    query = "?" + urllib.parse.urlencode([("map", "Filiale=bp9"), ("map", "first_name=bp12")])
    reply = upload(api, ODD, query)
    assert reply.status == 200, reply
    assert reply.json()["columns"][1:] == [
        {"column": "first_name", "field": "bp12"}, {"column": "Filiale", "field": "bp9"},
    ]  # fmt: skip
    other = b"phone,Filiale\n2125550103,KRK\n"
    reply = multipart(api, other, [("map", "Filiale=bp9")])
    assert reply.status == 200, reply
    assert reply.json()["imported"] == 1
    assert multipart(api, other, []).status == 422


def test_a_map_naming_no_field_is_a_422(box: tuple[Api, DaemonProcess]) -> None:
    api, _ = box
    reply = upload(api, ODD, "?map=" + urllib.parse.quote("Filiale=bp13"))
    assert reply.status == 422, reply
    problem = reply.json()
    assert "map 'Filiale=bp13': 'bp13' is not a contact field" in problem["detail"]
    assert problem["errors"][0]["where"] == "map"


def test_a_dry_run_shows_the_columns_and_writes_nothing(box: tuple[Api, DaemonProcess]) -> None:
    api, _ = box
    before = count(api)
    data = b"phone,first_name,Kundentyp\n2125550199,Zed,gold\nnope,Bad,x\n"
    reply = upload(api, data, "?dry_run=true")
    assert reply.status == 200, reply
    document = reply.json()
    assert (document["dry_run"], document["valid"], document["rejected"]) == (True, 1, 1)
    assert document["columns"][2] == {"column": "Kundentyp", "field": "bp5"}  # config map
    assert document["rejects"][0]["line"] == 3
    assert count(api) == before
    assert multipart(api, data, [("dry_run", "true")]).json()["dry_run"] is True
    assert count(api) == before


def test_the_daemons_hot_folder_reads_by_name_with_the_config_map(
    box: tuple[Api, DaemonProcess],
) -> None:
    api, daemon = box
    folder = daemon.tmp / "hot" / "acme"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ".crm.csv.part").write_bytes(b"phone,email,Kundentyp\n2125550177,h@x.com,gold\n")
    (folder / ".crm.csv.part").rename(folder / "crm.csv")  # complete at once
    (folder / ".odd.csv.part").write_bytes(ODD)
    (folder / ".odd.csv.part").rename(folder / "odd.csv")
    archive, failed = daemon.tmp / "hot" / "archive" / "acme", daemon.tmp / "hot" / "failed"
    api.wait_until(lambda: any(archive.glob("*-crm.csv")) and any(failed.glob("*-odd.csv")),
                   timeout=30, what="both files moved")  # fmt: skip
    [reason] = failed.glob("*-odd.csv.reason.txt")
    assert "unknown column 'Filiale'" in reason.read_text()
    contacts = api.get("/campaigns/acme/contacts?limit=1000").json()["items"]
    found = [c for c in contacts if c.get("e164_1") == "+12125550177"]
    assert [(c["bp4"], c["bp5"]) for c in found] == [("h@x.com", "gold")]
