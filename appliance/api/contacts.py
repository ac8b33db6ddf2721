"""Contacts and results: upload a file (the same report as `dialbox import --json`), push one
record (the record feed), read one contact with its attempts, list by state or search, and the
results feed since a cursor (SPEC D2, D4, D5, D6, O4)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from appliance.api.campaigns import services
from appliance.api.context import Services
from appliance.api.models.contacts import (
    Contact,
    ContactRecord,
    ImportPreview,
    ImportReport,
    PushedRecord,
    Result,
)
from appliance.api.problems import Problem
from appliance.api.registry import API
from appliance.api.spec import Call, Param, page_of
from appliance.campaigns import CampaignSettings
from appliance.config.models import ColumnMapping
from appliance.domain import CampaignType, ContactState
from appliance.importing.headers import MapEntry, MapError, config_map, merged, parse_map
from appliance.importing.importer import Cells, import_file, rejects_file
from appliance.importing.preview import preview_file
from appliance.store.campaigns import CampaignRow, get_campaign
from appliance.store.db import Database
from appliance.store.results import contact, contacts_page, results_since, search_contacts

LIMIT = Param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100})
AFTER = Param("after", "query", {"type": "integer", "minimum": 0, "default": 0},
              description="the cursor: `next` of the previous page")  # fmt: skip


@dataclass(frozen=True)
class _Upload:
    """How to read an uploaded file: the query's and the form's parameters, with the config's."""

    mapping: str | None
    mappings: dict[str, ColumnMapping]
    column_map: tuple[MapEntry, ...]
    dry_run: bool


def _import(svc: Services, campaign: CampaignRow, data: bytes, source: str, actor: str,
            how: _Upload) -> dict[str, Any]:  # fmt: skip
    if how.dry_run:
        return preview_file(io.BytesIO(data), campaign=campaign.name, region=campaign.region,
                            mappings=how.mappings, mapping=how.mapping,
                            column_map=how.column_map, where=source).as_dict()  # fmt: skip
    # Its own connection in a worker thread, staged: the file is read and checked aside (in a
    # worker process when big) and published in short transactions, so the dial loop's writes
    # wait at most for one chunk (importing.importer._import_staged).
    db = Database(svc.db.path)
    try:
        report = import_file(db, campaign, io.BytesIO(data), region=campaign.region,
                             mappings=how.mappings, mapping=how.mapping, now=svc.clock.now(),
                             actor=actor, source=source, staged=True,
                             column_map=how.column_map)  # fmt: skip
    finally:
        db.close()
    document = report.as_dict()
    if report.rejected:
        document["rejects_url"] = f"/campaigns/{campaign.name}/imports/{report.import_id}/rejects"
    return document


def _dials(campaign: CampaignRow) -> CampaignRow:
    """The campaign, if it takes contacts to call: an inbound one's contacts are its callers."""
    if campaign.type is CampaignType.INBOUND:
        raise Problem(
            409,
            f"campaign {campaign.name!r} is inbound: it answers calls and never dials, its"
            " contacts are its callers; import the list into an agent, automated or SMS campaign",
        )
    return campaign


MAP_HELP = ("COLUMN=FIELD: read the header column COLUMN as FIELD (phone1..phone5, bp1..bp12, "
            "external_id, priority, timezone, callback_at, owner_agent, phone: the next free "
            "phone, ignore: leave it out; '*=ignore' leaves out every unknown column); repeat "
            "it for more columns. Added to config import.map")  # fmt: skip
DRY_RUN_HELP = "read and check the file, write nothing: how each column is read, the first rejects"


@API.op("POST", "/campaigns/{name}/contacts/upload", summary="Upload a contact file (CSV/TXT)",
        tag="contacts", scope="crm", upload=True,
        params=[Param("mapping", "query", {"type": "string", "minLength": 1},
                      description="a column mapping from config import.mappings"),
                # A URL stays short (aiohttp's request line is at most 8 KiB): more in the form.
                Param("map", "query", {"type": "array", "items": {"type": "string", "minLength": 2,
                      "maxLength": 128}, "maxItems": 32}, description=MAP_HELP),
                Param("dry_run", "query", {"type": "boolean", "default": False},
                      description=DRY_RUN_HELP)],
        form={"map": {"type": "array", "items": {"type": "string"}, "description": MAP_HELP},
              "mapping": {"type": "string", "description": "as the query's mapping"},
              "dry_run": {"type": "boolean", "description": DRY_RUN_HELP}},
        responses={200: ("what landed and what was rejected (the first 1,000 rejects, every reason "
                         "counted), with the import's id; with dry_run, how the file would be read",
                         ImportReport | ImportPreview)},
        description="The file lands whole or not at all. A header row is read by its names "
                    "(docs/config.md, Header names); a file without one, or whose header starts "
                    "Phone1..Phone5, in the ECM column order. A file that cannot be read so (an "
                    "unknown column, too many columns) is refused with 422 saying what to do. A "
                    "few imports run at once; more wait their turn, and beyond that the answer "
                    "is 503 with Retry-After.")  # fmt: skip
async def upload_contacts(call: Call) -> web.Response:
    svc = services(call)
    campaign = _dials(get_campaign(svc.db, call.path["name"]))
    config = svc.config().import_
    mappings = dict(config.mappings)
    mapping = (
        call.query.get("mapping")
        or next(iter(call.form.get("mapping", [])), None)
        or CampaignSettings.model_validate(campaign.settings).mapping
    )
    if mapping is not None and mapping not in mappings:
        raise Problem(422, f"no column mapping named {mapping!r}; config import.mappings has: "
                      f"{', '.join(sorted(mappings)) or 'none'}")  # fmt: skip
    try:
        given = parse_map([*call.query.get("map", []), *call.form.get("map", [])], option="map")
    except MapError as exc:
        raise Problem(422, str(exc), errors=[{"where": "map", "message": str(exc)}]) from None
    dry_run = call.query.get("dry_run", False) or any(
        v.strip().lower() in ("true", "1", "yes") for v in call.form.get("dry_run", [])
    )
    how = _Upload(mapping, mappings, merged(config_map(config.map), given), dry_run)
    async with svc.imports.slot():
        document = await asyncio.to_thread(
            _import, svc, campaign, call.body, "api upload", call.caller.actor, how
        )
    return web.json_response(document)


@API.op("GET", "/campaigns/{name}/imports/{id}/rejects",
        summary="The full reject report of an import (CSV or JSON lines)", tag="contacts",
        scope="crm",
        params=[Param("id", "path", {"type": "integer", "minimum": 1}, True),
                Param("format", "query", {"enum": ["csv", "jsonl"], "default": "csv"},
                      description="csv (line, field, reason, value) or jsonl (one reject a line)")],
        responses={200: ("every reject of the import, in file order", str,
                         ("text/csv", "application/x-ndjson"))})  # fmt: skip
async def import_rejects(call: Call) -> web.StreamResponse:
    svc = services(call)
    campaign = get_campaign(svc.db, call.path["name"])
    import_id = call.path["id"]
    found = svc.db.conn.execute(
        "SELECT rejected FROM imports WHERE id = ? AND campaign_id = ?", (import_id, campaign.id)
    ).fetchone()
    if found is None:
        raise Problem(404, f"campaign {campaign.name!r} has no import {import_id}")
    path = rejects_file(svc.db, import_id) if svc.db.path != ":memory:" else None
    if path is None or not path.exists():
        if found[0]:
            raise Problem(404, f"the reject report of import {import_id} was not kept")
        path = None
    as_jsonl = call.query.get("format") == "jsonl"
    response = web.StreamResponse(
        headers={"Content-Type": "application/x-ndjson" if as_jsonl else "text/csv; charset=utf-8"}
    )
    await response.prepare(call.request)
    if path is None:
        if not as_jsonl:
            await response.write(b"line,field,reason,value\n")
    else:
        with path.open(encoding="utf-8", newline="") as report:
            if as_jsonl:
                reader = csv.DictReader(report)
                lines = []
                for row in reader:
                    lines.append(json.dumps({"line": int(row["line"]), "field": row["field"] or None,
                                             "reason": row["reason"], "value": row["value"]}))  # fmt: skip
                    if len(lines) == 1000:
                        await response.write(("\n".join(lines) + "\n").encode())
                        lines = []
                if lines:
                    await response.write(("\n".join(lines) + "\n").encode())
            else:
                while chunk := report.read(1 << 16):
                    await response.write(chunk.encode())
    await response.write_eof()
    return response


@API.op("POST", "/campaigns/{name}/contacts", summary="Push one contact record (the record feed)",
        tag="contacts", scope="crm", body=ContactRecord,
        responses={201: ("imported", PushedRecord), 200: ("already there (a duplicate); see the report", PushedRecord)},
        description="A record that fails the checks is refused with 422 and its reasons "
                    "(`errors`: field and reason each).")  # fmt: skip
async def push_contact(call: Call[ContactRecord]) -> web.Response:
    svc = services(call)
    campaign = _dials(get_campaign(svc.db, call.path["name"]))
    cells = Cells(call.body.cells())
    report = import_file(svc.db, campaign, cells, region=campaign.region, mappings={},
                         mapping="record", now=svc.clock.now(), actor=call.caller.actor,
                         source="api record", worker=False)  # fmt: skip
    if report.rejected:
        reasons = [
            {"where": f"body.{r.field.lower()}" if r.field else "body", "message": r.reason}
            for r in report.rejects
        ]
        raise Problem(
            422,
            "the record was not imported: "
            + "; ".join(f"{r.field}: {r.reason}" if r.field else r.reason for r in report.rejects),
            errors=reasons,
        )
    document = report.as_dict()
    document["file"] = "record"
    found = None
    if report.imported:
        row = svc.db.scalar("SELECT max(id) FROM contacts WHERE import_id = ?", (report.import_id,))
        found = contact(svc.db, int(row)) if row is not None else None
        if found is not None:
            found.pop("attempts")
    return web.json_response({"report": document, "contact": found}, status=201 if found else 200)


def _labels(svc: Services, campaign: CampaignRow) -> dict[str, str]:
    """The campaign's own names of the contact fields: the columns of its column mapping
    (setting `mapping`, config import.mappings), e.g. {"bp3": "Amount due"}."""
    name = CampaignSettings.model_validate(campaign.settings).mapping
    found = svc.config().import_.mappings.get(name) if name else None
    return dict(found.columns) if found is not None else {}


_PAGE = page_of(API.model(Contact))
_PAGE["properties"]["labels"] = {
    "type": "object",
    "additionalProperties": {"type": "string"},
    "description": "the campaign's names of contact fields from its column mapping, e.g. "
    '{"bp3": "Amount due"}; empty without one',
}


@API.op("GET", "/campaigns/{name}/contacts", summary="List a campaign's contacts, by state, paged",
        tag="contacts", scope="crm",
        params=[Param("state", "query", {"enum": [s.value for s in ContactState]}),
                Param("q", "query", {"type": "string", "minLength": 1, "maxLength": 100},
                      description="search: a number holding these digits, an external id "
                                  "starting so, a business parameter (a name…) holding it"),
                AFTER, LIMIT],
        responses={200: ("a page of contacts", _PAGE)},
        description="Keyset paging in contact id order: pass `next` as `after` until it is "
                    "null. With `q` each request examines at most 50,000 contacts, so a page "
                    "may be short (even empty) while `next` still goes on.")  # fmt: skip
async def list_contacts(call: Call) -> web.Response:
    svc = services(call)
    campaign = get_campaign(svc.db, call.path["name"])
    limit = call.query.get("limit", 100)
    state, after = call.query.get("state"), call.query.get("after", 0)
    text = call.query.get("q", "").strip()
    if text:
        items, after_this = search_contacts(svc.db, campaign, text=text, state=state,
                                            after=after, limit=limit)  # fmt: skip
    else:
        items = contacts_page(svc.db, campaign, state=state, after=after, limit=limit)
        after_this = items[-1]["contact_id"] if len(items) == limit else None
    return web.json_response({"items": items, "next": after_this, "labels": _labels(svc, campaign)})


@API.op("GET", "/contacts/{id}", summary="One contact with its attempts and their evidence",
        tag="contacts", scope="crm",
        params=[Param("id", "path", {"type": "integer", "minimum": 1}, True)],
        responses={200: ("the contact", Contact)})  # fmt: skip
async def get_contact(call: Call) -> web.Response:
    svc = services(call)
    found = contact(svc.db, call.path["id"])
    if found is None:
        raise Problem(404, f"no contact with id {call.path['id']}")
    return web.json_response(found)


@API.op("GET", "/results", summary="Attempt results since a cursor, oldest first",
        tag="results", scope="crm",
        params=[Param("campaign", "query", {"type": "string", "minLength": 1}), AFTER, LIMIT],
        responses={200: ("a page of results; poll again with after=next", page_of(API.model(Result)))},
        description="Every ended attempt (done or dangling) once, in the order results came to be. "
                    "`next` is the cursor to pass as `after`; it stays put when nothing is new.")  # fmt: skip
async def list_results(call: Call) -> web.Response:
    svc = services(call)
    campaign_id = None
    if "campaign" in call.query:
        campaign_id = get_campaign(svc.db, call.query["campaign"]).id
    after = call.query.get("after", 0)
    items = results_since(svc.db, after, call.query.get("limit", 100), campaign_id)
    return web.json_response({"items": items, "next": items[-1]["seq"] if items else after})
