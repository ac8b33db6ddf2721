"""Missed calls of inbound campaigns (SPEC C14, #23): list them, call one back (a contact in an
agent or automated campaign at the next permitted time for the number), or dismiss it."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from appliance.api.campaigns import services
from appliance.api.context import Services
from appliance.api.models.inbound import CallbackRequest, MissedCall
from appliance.api.problems import Problem
from appliance.api.registry import API
from appliance.api.spec import Call, Param, page_of
from appliance.api.times import iso_time
from appliance.campaigns import CampaignSettings
from appliance.errors import DialboxError
from appliance.store import missed as store
from appliance.store.agents import get_agent
from appliance.store.callers import matches
from appliance.store.campaigns import CampaignRow, find_campaign, get_campaign, get_campaign_by_id

ID = Param("id", "path", {"type": "integer", "minimum": 1}, True)
LIMIT = Param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100})
AFTER = Param("after", "query", {"type": "integer", "minimum": 0, "default": 0},
              description="the cursor: `next` of the previous page")  # fmt: skip
# Why a callback or a dismissal was refused (store.missed.Refused.code) -> the answer's status
STATUS_OF = {"gone": 404, "campaign": 422}  # the rest (handled, withheld, dnc, no_time): 409


def document(svc: Services, found: store.MissedCall) -> dict[str, Any]:
    return found.as_dict(iso_time)


def _found(svc: Services, missed_id: int) -> store.MissedCall:
    found = store.get_missed(svc.db, missed_id)
    if found is None:
        raise Problem(404, f"there is no missed call {missed_id}; GET /missed-calls lists them")
    return found


def _refused(refusal: store.Refused) -> Problem:
    return Problem(STATUS_OF.get(refusal.code, 409), refusal.reason,
                   errors=[{"where": "missed call", "message": refusal.code}])  # fmt: skip


@API.op("GET", "/missed-calls", summary="Missed calls of inbound campaigns, oldest first, paged",
        tag="inbound", scope="crm",
        params=[Param("campaign", "query", {"type": "string", "minLength": 1, "maxLength": 64},
                      description="only this inbound campaign's"),
                Param("status", "query", {"enum": list(store.STATUSES)},
                      description="only those open, called back (callback_made) or dismissed"),
                AFTER, LIMIT],
        responses={200: ("a page of missed calls", page_of(API.model(MissedCall)))},
        description="Keyset paging in id order — the order to call them back in: pass `next`"
                    " as `after` until it is null. A number's repeated missed calls while one is"
                    " open add to it (`calls`, `last_at`).")  # fmt: skip
async def list_missed_calls(call: Call) -> web.Response:
    svc = services(call)
    campaign_id = None
    if "campaign" in call.query:
        campaign_id = get_campaign(svc.db, call.query["campaign"]).id
    limit = call.query.get("limit", 100)
    items = store.list_missed(svc.db, campaign_id=campaign_id, status=call.query.get("status"),
                              after=call.query.get("after", 0), limit=limit)  # fmt: skip
    return web.json_response(
        {
            "items": [document(svc, m) for m in items],
            "next": items[-1].id if len(items) == limit else None,
        }
    )


@API.op("GET", "/missed-calls/{id}", summary="One missed call, with the known contacts of its number",
        tag="inbound", scope="crm", params=[ID],
        responses={200: ("the missed call", MissedCall)})  # fmt: skip
async def get_missed_call(call: Call) -> web.Response:
    svc = services(call)
    found = _found(svc, call.path["id"])
    doc = document(svc, found)
    doc["matched"] = [
        {**m.as_dict(), "last_call_at": iso_time(m.last_call_at)}
        for m in matches(svc.db, found.number)
    ]
    return web.json_response(doc)


def _target(svc: Services, missed: store.MissedCall, given: str | None) -> CampaignRow:
    """The campaign that calls back: the one named, else the inbound campaign's callback_campaign."""
    name = given
    if name is None:
        inbound = get_campaign_by_id(svc.db, missed.campaign_id)
        name = CampaignSettings.model_validate(inbound.settings).callback_campaign
        if name is None:
            raise Problem(
                422,
                f'name the campaign that calls back ({{"campaign": "…"}}), or set inbound'
                f" campaign {missed.campaign!r}'s callback_campaign",
                errors=[{"where": "body.campaign", "message": "required here"}],
            )
    target = find_campaign(svc.db, name)
    if target is None:
        raise Problem(422, f"there is no campaign named {name!r} to call back from",
                      errors=[{"where": "body.campaign", "message": "no such campaign"}])  # fmt: skip
    return target


def _owner(svc: Services, owner: str | None) -> str | None:
    """The callback's owner, an agent the box knows or a group one of them is in."""
    if owner is None:
        return None
    if owner.startswith("@"):
        known = svc.db.scalar("SELECT 1 FROM agents WHERE group_name = ? LIMIT 1", (owner[1:],))
        what = f"no agent is in group {owner[1:]!r}"
    else:
        known = get_agent(svc.db, owner)
        what = f"there is no agent named {owner!r} (PUT /agents/{{name}} makes one)"
    if known is None:
        raise Problem(422, what, errors=[{"where": "body.owner", "message": what}])
    return owner


def _due(svc: Services, target: CampaignRow, number: str, now: float) -> float | None:
    """The next permitted time for the number in the target campaign (the planner's rules)."""
    from appliance.engine.storeplanner import StorePlanner
    from appliance.phones import zones_for
    from appliance.scheduler.callbacks import callback_due

    if not number:
        return None  # withheld: the store refuses it with its reason
    try:
        rules = StorePlanner(svc.config(), svc.db).rules_for(target)
    except DialboxError as exc:
        raise Problem(409, f"campaign {target.name!r} cannot call now: {exc}") from None
    return callback_due(rules, zones_for(number), now)


@API.op("POST", "/missed-calls/{id}/callback",
        summary="Call a missed call back: a contact in an outbound campaign, due at the next permitted time",
        tag="inbound", scope="crm", params=[ID], body=CallbackRequest,
        responses={200: ("the missed call, called back (`callback` says with what)", MissedCall)},
        description="Makes a contact with the caller's number in `campaign` (an agent or"
                    " automated campaign; default: the inbound campaign's callback_campaign),"
                    " due at the next time that campaign's windows and its profile's calling"
                    " hours allow a call to the number, for `owner` if given, with the business"
                    " fields of the caller's known contact. A number that already has an open"
                    " callback there keeps it (`callback.already`). 409: the missed call was"
                    " handled already, the number is withheld or on a DNC or block list, or no"
                    " time within a year is permitted; 422: a campaign that does not call, an"
                    " unknown owner.")  # fmt: skip
async def call_back(call: Call[CallbackRequest]) -> web.Response:
    svc = services(call)
    missed = _found(svc, call.path["id"])
    target = _target(svc, missed, call.body.campaign)
    owner = _owner(svc, call.body.owner)
    now = svc.clock.now()
    due = _due(svc, target, missed.number, now) if missed.status == "open" else None
    made = store.make_callback(svc.db, target, missed.number, due, now, actor=call.caller.actor,
                               owner=owner, missed_call_id=missed.id,
                               fields_from=missed.contact_id)  # fmt: skip
    if isinstance(made, store.Refused):
        raise _refused(made)
    doc = document(svc, _found(svc, missed.id))
    if doc["callback"] is not None:
        doc["callback"]["already"] = made.already
    return web.json_response(doc)


@API.op("POST", "/missed-calls/{id}/dismiss", summary="Close a missed call without calling back",
        tag="inbound", scope="crm", params=[ID],
        responses={200: ("the missed call, dismissed", MissedCall)},
        description="409 when it was called back or dismissed already.")  # fmt: skip
async def dismiss(call: Call) -> web.Response:
    svc = services(call)
    done = store.dismiss_missed(svc.db, call.path["id"], svc.clock.now(), call.caller.actor)
    if isinstance(done, store.Refused):
        raise _refused(done)
    return web.json_response(document(svc, done))
