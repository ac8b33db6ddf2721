"""Contacts and results: upload a file (the same report as `dialbox import --json`), push one
record (the record feed), read one contact with its attempts, list by state, and the results
feed since a cursor (SPEC D2, D4, D5, D6)."""

from __future__ import annotations

import asyncio
import csv
import io
from typing import Any

from aiohttp import web

from appliance.api.campaigns import services
from appliance.api.context import Services
from appliance.api.problems import Problem
from appliance.api.registry import API
from appliance.api.spec import Call, Param, page_of
from appliance.campaigns import CampaignSettings
from appliance.config.models import CONTACT_COLUMNS, ColumnMapping
from appliance.domain import ContactState
from appliance.store.campaigns import CampaignRow, get_campaign
from appliance.store.db import Database
from appliance.store.importer import import_file
from appliance.store.results import contact, contacts_page, results_since

REJECT = {
    "type": "object",
    "properties": {
        "line": {"type": "integer"},
        "field": {"type": ["string", "null"]},
        "reason": {"type": "string"},
        "value": {"type": "string"},
    },
}
IMPORT_REPORT = API.schema(
    "ImportReport",
    {
        "type": "object",
        "required": ["campaign", "rows", "imported", "rejected", "duplicates", "dnc", "rejects"],
        "properties": {
            "file": {"type": "string"},
            "campaign": {"type": "string"},
            "import_id": {"type": ["integer", "null"]},
            "layout": {"type": "string"},
            "rows": {"type": "integer"},
            "imported": {"type": "integer"},
            "rejected": {"type": "integer"},
            "duplicates": {"type": "integer"},
            "dnc": {"type": "integer"},
            "rejects": {"type": "array", "items": REJECT},
            "rejects_omitted": {"type": "integer"},
        },
    },
)
RECORD = API.schema(
    "ContactRecord",
    {
        "type": "object",
        "required": ["phone1"],
        "additionalProperties": False,
        "description": "one contact as the record feed takes it (SPEC D1); times are ISO 8601",
        "properties": {
            name: {"type": ["string", "integer"]} if name == "priority" else {"type": "string"}
            for name in CONTACT_COLUMNS
        },
    },
)
CONTACT = API.schema(
    "Contact",
    {
        "type": "object",
        "required": ["contact_id", "campaign", "state"],
        "properties": {
            "contact_id": {"type": "integer"},
            "campaign": {"type": "string"},
            "external_id": {"type": ["string", "null"]},
            "state": {"enum": [s.value for s in ContactState]},
            "attempts": {"oneOf": [{"type": "integer"}, {"type": "array"}]},
        },
    },
)
RESULT = API.schema(
    "Result",
    {
        "type": "object",
        "required": ["seq", "attempt_id", "contact_id", "campaign", "status"],
        "properties": {
            "seq": {"type": "integer"},
            "attempt_id": {"type": "integer"},
            "contact_id": {"type": "integer"},
            "campaign": {"type": "string"},
            "status": {"enum": ["done", "dangling"]},
            "outcome": {"type": ["string", "null"]},
            "outcome_code": {"type": ["integer", "null"]},
            "contact_state": {"type": "string"},
        },
    },
)
PUSHED = API.schema(
    "PushedRecord",
    {
        "type": "object",
        "required": ["report"],
        "properties": {"report": IMPORT_REPORT, "contact": {"oneOf": [CONTACT, {"type": "null"}]}},
    },
)
LIMIT = Param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100})
AFTER = Param("after", "query", {"type": "integer", "minimum": 0, "default": 0},
              description="the cursor: `next` of the previous page")  # fmt: skip


def _import(svc: Services, campaign: CampaignRow, data: bytes, source: str, actor: str,
            mapping: str | None, mappings: dict[str, ColumnMapping]) -> dict[str, Any]:  # fmt: skip
    # Its own connection in a worker thread: the event loop (and so dialing) keeps running; the
    # file's rows land in one transaction as with `dialbox import`.
    db = Database(svc.db.path)
    try:
        report = import_file(db, campaign, io.BytesIO(data), region=campaign.region,
                             mappings=mappings, mapping=mapping, now=svc.clock.now(),
                             actor=actor, source=source, worker=False)  # fmt: skip
    finally:
        db.close()
    return report.as_dict()


@API.op("POST", "/campaigns/{name}/contacts/upload", summary="Upload a contact file (CSV/TXT)",
        tag="contacts", scope="crm", upload=True,
        params=[Param("mapping", "query", {"type": "string", "minLength": 1},
                      description="a column mapping from config import.mappings")],
        responses={200: ("what landed and what was rejected, with line and reason", IMPORT_REPORT)})  # fmt: skip
async def upload_contacts(call: Call) -> web.Response:
    svc = services(call)
    campaign = get_campaign(svc.db, call.path["name"])
    mappings = dict(svc.config().import_.mappings)
    mapping = (
        call.query.get("mapping") or CampaignSettings.model_validate(campaign.settings).mapping
    )
    if mapping is not None and mapping not in mappings:
        raise Problem(422, f"no column mapping named {mapping!r}; config import.mappings has: "
                      f"{', '.join(sorted(mappings)) or 'none'}")  # fmt: skip
    document = await asyncio.to_thread(
        _import, svc, campaign, call.body, "api upload", call.caller.actor, mapping, mappings
    )
    return web.json_response(document)


@API.op("POST", "/campaigns/{name}/contacts", summary="Push one contact record (the record feed)",
        tag="contacts", scope="crm", body=RECORD,
        responses={201: ("imported", PUSHED), 200: ("already there (a duplicate) or rejected; see the report", PUSHED)})  # fmt: skip
async def push_contact(call: Call) -> web.Response:
    svc = services(call)
    campaign = get_campaign(svc.db, call.path["name"])
    record: dict[str, Any] = {k: str(v) for k, v in call.body.items()}
    fields = list(record)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(fields)
    writer.writerow([record[f] for f in fields])
    mappings = {"record": ColumnMapping(columns={f: f for f in fields}, match_headers=False)}
    report = import_file(svc.db, campaign, io.BytesIO(out.getvalue().encode()), region=campaign.region,
                         mappings=mappings, mapping="record", now=svc.clock.now(),
                         actor=call.caller.actor, source="api record", worker=False)  # fmt: skip
    document = report.as_dict()
    document["file"] = "record"
    found = None
    if report.imported:
        row = svc.db.scalar("SELECT max(id) FROM contacts WHERE import_id = ?", (report.import_id,))
        found = contact(svc.db, int(row)) if row is not None else None
        if found is not None:
            found.pop("attempts")
    return web.json_response({"report": document, "contact": found}, status=201 if found else 200)


@API.op("GET", "/campaigns/{name}/contacts", summary="List a campaign's contacts, by state, paged",
        tag="contacts", scope="crm",
        params=[Param("state", "query", {"enum": [s.value for s in ContactState]}), AFTER, LIMIT],
        responses={200: ("a page of contacts", page_of(CONTACT))})  # fmt: skip
async def list_contacts(call: Call) -> web.Response:
    svc = services(call)
    campaign = get_campaign(svc.db, call.path["name"])
    limit = call.query.get("limit", 100)
    items = contacts_page(svc.db, campaign, state=call.query.get("state"),
                          after=call.query.get("after", 0), limit=limit)  # fmt: skip
    return web.json_response(
        {"items": items, "next": items[-1]["contact_id"] if len(items) == limit else None}
    )


@API.op("GET", "/contacts/{id}", summary="One contact with its attempts and their evidence",
        tag="contacts", scope="crm",
        params=[Param("id", "path", {"type": "integer", "minimum": 1}, True)],
        responses={200: ("the contact", CONTACT)})  # fmt: skip
async def get_contact(call: Call) -> web.Response:
    svc = services(call)
    found = contact(svc.db, call.path["id"])
    if found is None:
        raise Problem(404, f"no contact with id {call.path['id']}")
    return web.json_response(found)


@API.op("GET", "/results", summary="Attempt results since a cursor, oldest first",
        tag="results", scope="crm",
        params=[Param("campaign", "query", {"type": "string", "minLength": 1}), AFTER, LIMIT],
        responses={200: ("a page of results; poll again with after=next", page_of(RESULT))},
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
