"""DNC resources (SPEC D7): list and search, add, remove, check one number, import a file."""

from __future__ import annotations

import asyncio
import io
import itertools
from typing import Any

from aiohttp import web

from appliance.api.campaigns import services
from appliance.api.context import Services
from appliance.api.models.dnc import DncChange, DncChanged, DncCheck, DncEntry
from appliance.api.problems import Problem
from appliance.api.registry import API
from appliance.api.spec import Call, Param
from appliance.phones import InvalidPhone, normalize
from appliance.store import dnc
from appliance.store.campaigns import CampaignRow, get_campaign
from appliance.store.db import Database

CAMPAIGN = Param("campaign", "query", {"type": "string", "minLength": 1})


def _campaign(svc: Services, name: str | None) -> CampaignRow | None:
    return None if name is None else get_campaign(svc.db, name)


def _e164(numbers: list[str], region: str) -> list[str]:
    good, bad = [], []
    for text in numbers:
        try:
            good.append(normalize(text, region))
        except InvalidPhone as exc:
            bad.append({"where": text, "message": str(exc)})
    if bad:
        raise Problem(422, f"not phone numbers for region {region}, nothing changed: "
                      + "; ".join(f"{b['where']!r}: {b['message']}" for b in bad[:5]), errors=bad)  # fmt: skip
    return good


@API.op("GET", "/dnc", summary="List DNC and block entries, or search by number prefix", tag="dnc",
        scope="crm",
        params=[Param("list", "query", {"enum": ["all", "global", "block", "campaign"], "default": "all"}),
                CAMPAIGN,
                Param("prefix", "query", {"type": "string", "pattern": "^\\+?[0-9]*$"},
                      description="E.164 digits the number starts with"),
                Param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100})],
        responses={200: ("entries", list[DncEntry])})  # fmt: skip
async def list_dnc(call: Call) -> web.Response:
    svc = services(call)
    which = call.query.get("list", "all")
    campaign = _campaign(svc, call.query.get("campaign"))
    if which == "campaign" and campaign is None:
        raise Problem(422, "list=campaign needs campaign=NAME")
    now = svc.clock.now()
    prefix = call.query.get("prefix", "").lstrip("+")
    found = (
        e
        for e in dnc.entries(
            svc.db, now, lists=which, campaign_id=campaign.id if campaign else None
        )
        if not prefix or e.e164.lstrip("+").startswith(prefix)
    )
    return web.json_response(
        [e.as_dict(now) for e in itertools.islice(found, call.query.get("limit", 100))]
    )


@API.op("POST", "/dnc", summary="Put numbers on a DNC list or the block list", tag="dnc", scope="crm",
        body=DncChange, responses={200: ("what changed", DncChanged)})  # fmt: skip
async def add_dnc(call: Call[DncChange]) -> web.Response:
    svc = services(call)
    body = call.body
    block = body.block
    if block and (body.campaign or body.expires):
        raise Problem(422, "block is the global, permanent block list: no campaign or expires")
    campaign = _campaign(svc, body.campaign)
    numbers = _e164(body.numbers, campaign.region if campaign else svc.config().region)
    now = svc.clock.now()
    expires = dnc.parse_expiry(body.expires, svc.config().timezone, now) if body.expires else None
    kind = dnc.BLOCK if block else dnc.DNC
    changes = dnc.add_numbers(
        svc.db, numbers, campaign_id=campaign.id if campaign else None,
        campaign=campaign.name if campaign else None, kind=kind, reason=body.reason,
        source="api", expires_at=expires, now=now, actor=call.caller.actor,
    )  # fmt: skip
    document: dict[str, Any] = {
        "list": dnc.list_label(campaign.name if campaign else None, kind),
        "numbers": numbers,
        **changes.as_dict(),
    }
    del document["rejected"]
    return web.json_response(document)


@API.op("DELETE", "/dnc/numbers/{number}", summary="Take a number off a DNC list or the block list",
        tag="dnc", scope="crm",
        params=[CAMPAIGN, Param("block", "query", {"type": "boolean", "default": False})],
        responses={200: ("what changed", DncChanged)})  # fmt: skip
async def remove_dnc(call: Call) -> web.Response:
    svc = services(call)
    campaign = _campaign(svc, call.query.get("campaign"))
    block = call.query.get("block", False)
    if block and campaign is not None:
        raise Problem(422, "block is the global block list: no campaign")
    kind = dnc.BLOCK if block else dnc.DNC
    numbers = _e164([call.path["number"]], campaign.region if campaign else svc.config().region)
    removed, absent = dnc.remove_numbers(
        svc.db, numbers, campaign_id=campaign.id if campaign else None,
        campaign=campaign.name if campaign else None, kind=kind, now=svc.clock.now(),
        actor=call.caller.actor,
    )  # fmt: skip
    label = dnc.list_label(campaign.name if campaign else None, kind)
    return web.json_response({"list": label, "removed": removed, "not_listed": absent})


@API.op("GET", "/dnc/numbers/{number}", summary="Check one number against the lists", tag="dnc",
        scope="crm", params=[CAMPAIGN], responses={200: ("where it is listed", DncCheck)})  # fmt: skip
async def check_dnc(call: Call) -> web.Response:
    svc = services(call)
    campaign = _campaign(svc, call.query.get("campaign"))
    e164 = _e164([call.path["number"]], campaign.region if campaign else svc.config().region)[0]
    now = svc.clock.now()
    found = dnc.listings(svc.db, e164, campaign_id=campaign.id if campaign else None,
                         only_for_campaign=campaign is not None)  # fmt: skip
    active = [e.as_dict(now) for e in found if e.active(now)]
    return web.json_response(
        {
            "number": call.path["number"],
            "e164": e164,
            "campaign": campaign.name if campaign else None,
            "listed": bool(active),
            "lists": active,
            "expired": [e.as_dict(now) for e in found if not e.active(now)],
        }
    )


def _import(svc: Services, data: bytes, campaign: CampaignRow | None, actor: str,
            reason: str | None) -> dict[str, Any]:  # fmt: skip
    db = Database(svc.db.path)
    try:
        changes = dnc.import_numbers(
            db, io.StringIO(data.decode("utf-8-sig", errors="replace")),
            region=campaign.region if campaign else svc.config().region,
            campaign_id=campaign.id if campaign else None,
            campaign=campaign.name if campaign else None, now=svc.clock.now(), actor=actor,
            source="api import", reason=reason,
        )  # fmt: skip
    finally:
        db.close()
    return {"list": dnc.list_label(campaign.name if campaign else None), **changes.as_dict()}


@API.op("POST", "/dnc/import", summary="Import a file of numbers onto a DNC list", tag="dnc",
        scope="crm", upload=True,
        params=[CAMPAIGN, Param("reason", "query", {"type": "string"})],
        responses={200: ("added, already listed, and the rejected lines with reasons", DncChanged)})  # fmt: skip
async def import_dnc(call: Call) -> web.Response:
    svc = services(call)
    campaign = _campaign(svc, call.query.get("campaign"))
    document = await asyncio.to_thread(
        _import, svc, call.body, campaign, call.caller.actor, call.query.get("reason")
    )
    return web.json_response(document)
