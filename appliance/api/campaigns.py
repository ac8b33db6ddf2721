"""Campaign resources: create, read, update, delete, start/stop/pause/resume, schedule,
strategy, filter, why-not-dialing (C12) and reports (O7)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import zoneinfo
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from appliance import campaign_strategy, names
from appliance.api.context import SERVICES, Services, figures_of
from appliance.api.models import REF_TEMPLATE
from appliance.api.models.campaigns import (
    Campaign,
    CampaignCreate,
    CampaignUpdate,
    Filter,
    Report,
    Schedule,
    StrategyInForce,
    Why,
)
from appliance.api.models.campaigns import (
    Strategy as StrategyBody,
)
from appliance.api.models.strategy_check import StrategyCheck
from appliance.api.problems import Problem
from appliance.api.registry import API
from appliance.api.spec import Call, Param, ref
from appliance.api.times import iso_fields, iso_time
from appliance.campaigns import (
    CampaignSettings,
    OtherCampaign,
    check_email_template,
    check_external_list,
    check_flow,
    inbound_start_problems,
    type_problems,
)
from appliance.config.models import check_region
from appliance.domain import CampaignStatus, CampaignType, ContactState
from appliance.errors import DialboxError
from appliance.scheduler.strategy import StrategyError, parse_strategy
from appliance.store import campaigns as store
from appliance.store.counts import all_contacts_by_state
from appliance.store.results import abandon_rates, outcomes, report

_SETTINGS = CampaignSettings.model_json_schema(ref_template=REF_TEMPLATE)
for _name, _part in _SETTINGS.pop("$defs", {}).items():  # the models it uses (AmdSettings)
    API.schema(_name, _part)
SETTINGS = API.schema("CampaignSettings", _SETTINGS)


def services(call: Call) -> Services:
    return call.request.app[SERVICES]


def describe(
    svc: Services, campaign: store.CampaignRow, counts: dict[str, int] | None = None
) -> dict[str, Any]:
    """The campaign's document; its contacts by state as migration 0014 keeps them (`counts`:
    those already read for it)."""
    document = iso_fields(campaign.as_dict(), ("created_at", "updated_at"))
    document["settings"] = CampaignSettings.model_validate(campaign.settings).model_dump(
        mode="json"
    )
    if counts is None:
        counts = store.contacts_by_state(svc.db, campaign.id)
    document["contacts"] = {"total": sum(counts.values()), "by_state": counts}
    return document


def settings_with(current: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    merged = CampaignSettings.model_validate(current).model_dump(mode="json")
    merged.update(changes)
    for key, value in changes.items():
        if value is None:  # null restores the default (also of a setting that cannot be null)
            merged.pop(key, None)
    try:
        return CampaignSettings.model_validate(merged).model_dump(
            mode="json", exclude_defaults=True
        )
    except ValidationError as exc:
        errors = [
            {"where": "settings." + ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
            for e in exc.errors()
        ]
        detail = "; ".join(f"{e['where']}: {e['message']}" for e in errors)
        raise Problem(422, f"invalid campaign setting: {detail}", errors=errors) from None


def _type_problems(type_: str, settings: dict[str, Any]) -> None:
    """422 for settings the campaign's type does not take (the inbound ones on another)."""
    problems = type_problems(type_, CampaignSettings.model_validate(settings))
    if problems:
        errors = [{"where": f"settings.{key}", "message": text} for key, text in problems]
        raise Problem(
            422,
            "invalid campaign setting: " + "; ".join(e["message"] for e in errors),
            errors=errors,
        )


def _others(svc: Services) -> list[OtherCampaign]:
    return [
        OtherCampaign(c.name, str(c.type), str(c.status),
                      CampaignSettings.model_validate(c.settings))
        for c in store.list_campaigns(svc.db)
    ]  # fmt: skip


def check_inbound_start(svc: Services, name: str, settings: dict[str, Any]) -> None:
    """409 with what to do when an inbound campaign cannot answer (campaigns.inbound_start_problems)."""
    lines = [line.name for line in svc.config().lines]
    problems = inbound_start_problems(
        name, CampaignSettings.model_validate(settings), lines, _others(svc)
    )
    if problems:
        raise Problem(
            409,
            f"inbound campaign {name!r} cannot answer calls: " + "; ".join(problems),
            errors=[{"where": "settings", "message": p} for p in problems],
        )


def _email_template(name: str | None, svc: Services) -> None:
    """The `email_template` setting names a template of the running config (422 if not, #26)."""
    try:
        check_email_template(name, svc.config())
    except DialboxError as exc:
        error = {"where": "settings.email_template", "message": str(exc)}
        raise Problem(422, str(exc), errors=[error]) from None


def _flow(name: str | None, svc: Services) -> None:
    """The `flow` setting names a flow of the running config's flow files (422 if not)."""
    try:
        check_flow(name, svc.config())
    except DialboxError as exc:
        error = {"where": "settings.flow", "message": str(exc)}
        raise Problem(422, str(exc), errors=[error]) from None


def _external(name: str | None, svc: Services) -> None:
    """The `external_list` setting names a configured external list (422 if not)."""
    try:
        check_external_list(name, svc.config())
    except DialboxError as exc:
        error = {"where": "settings.external_list", "message": str(exc)}
        raise Problem(422, str(exc), errors=[error]) from None


def _region(text: str) -> str:
    try:
        return check_region(text)
    except ValueError as exc:
        raise Problem(422, f"region: {exc}") from None


def _filter(text: str | None) -> str | None:
    from appliance.store.filters import compile_filter

    text = (text or "").strip()
    if text:
        compile_filter(text)  # a DialboxError pointing at the bad token → 422
    return text or None


@API.op("GET", "/campaigns", summary="List campaigns with contact counts", tag="campaigns",
        scope="crm", responses={200: ("the campaigns", list[Campaign])})  # fmt: skip
async def list_campaigns(call: Call) -> web.Response:
    svc = services(call)

    def body() -> bytes:
        counts = all_contacts_by_state(svc.db)  # one read of the kept counts for all (#28)
        found = [describe(svc, c, counts.get(c.id, {})) for c in store.list_campaigns(svc.db)]
        return json.dumps(found).encode()

    # the same document until the database changes (store/memo.py): a poll costs one lookup
    return web.Response(body=svc.memo.get("GET /campaigns", body), content_type="application/json")


@API.op("POST", "/campaigns", summary="Create a campaign", tag="campaigns", scope="crm",
        body=CampaignCreate, responses={201: ("created", Campaign)})  # fmt: skip
async def create_campaign(call: Call[CampaignCreate]) -> web.Response:
    svc = services(call)
    body = call.body
    name = names.check_name("campaign", body.name)  # what the pattern cannot say: reserved
    region = _region(body.region) if body.region else svc.config().region
    settings = settings_with({}, body.settings or {})
    _type_problems(body.type, settings)
    _flow(settings.get("flow"), svc)
    _external(settings.get("external_list"), svc)
    _email_template(settings.get("email_template"), svc)
    filter_ = _filter(body.filter)
    if store.find_campaign(svc.db, name) is not None:
        raise Problem(409, f"campaign {name!r} already exists")
    now = svc.clock.now()
    campaign = store.create_campaign(
        svc.db, name, CampaignType(body.type), region, settings, now,
        call.caller.actor,
    )  # fmt: skip
    if filter_:
        campaign = store.update_campaign(
            svc.db, campaign, {"filter": filter_}, now, call.caller.actor
        )
    return web.json_response(describe(svc, campaign), status=201)


@API.op("GET", "/campaigns/{name}", summary="One campaign", tag="campaigns", scope="crm",
        responses={200: ("the campaign", Campaign)})  # fmt: skip
async def get_campaign(call: Call) -> web.Response:
    svc = services(call)
    return web.json_response(describe(svc, store.get_campaign(svc.db, call.path["name"])))


@API.op("PATCH", "/campaigns/{name}", summary="Change a campaign's type, region, filter or settings",
        tag="campaigns", scope="crm", body=CampaignUpdate, responses={200: ("changed", Campaign)},
        description="Changes take effect at the next dial (SPEC C9).")  # fmt: skip
async def update_campaign(call: Call[CampaignUpdate]) -> web.Response:
    svc = services(call)
    campaign = store.get_campaign(svc.db, call.path["name"])
    body, given = call.body, call.body.model_fields_set
    changes: dict[str, Any] = {}
    if body.type is not None:
        changes["type"] = CampaignType(body.type)
    if body.region is not None:
        changes["region"] = _region(body.region)
    if "filter" in given:
        changes["filter"] = _filter(body.filter)
    if body.settings is not None:
        changes["settings"] = settings_with(campaign.settings, body.settings)
        if body.settings.get("flow") is not None:  # a flow named before stays as it is
            _flow(changes["settings"].get("flow"), svc)
        if body.settings.get("external_list") is not None:
            _external(changes["settings"].get("external_list"), svc)
        if body.settings.get("email_template") is not None:  # likewise (#26)
            _email_template(changes["settings"].get("email_template"), svc)
    type_ = str(changes.get("type", campaign.type))
    settings = changes.get("settings", campaign.settings)
    if type_ != campaign.type and CampaignType.INBOUND in (type_, campaign.type):
        _inbound_type_change(svc, campaign, type_)
    if "type" in changes or "settings" in changes:
        _type_problems(type_, settings)
    answering = type_ == CampaignType.INBOUND and campaign.status is not CampaignStatus.STOPPED
    if answering and any(
        settings.get(key) != campaign.settings.get(key)
        for key in ("answer_lines", "callback_campaign")
    ):
        check_inbound_start(svc, campaign.name, settings)  # it answers now: so must its lines
    if changes:
        campaign = store.update_campaign(
            svc.db, campaign, changes, svc.clock.now(), call.caller.actor
        )
    return web.json_response(describe(svc, campaign))


def _inbound_type_change(svc: Services, campaign: store.CampaignRow, type_: str) -> None:
    """A campaign becomes inbound or stops being so only while stopped and without contacts:
    an inbound campaign's contacts are its callers, an outbound one's its list."""
    if campaign.status is not CampaignStatus.STOPPED:
        raise Problem(409, f"campaign {campaign.name!r} is {campaign.status}; stop it first")
    count = sum(store.contacts_by_state(svc.db, campaign.id).values())
    if count:
        raise Problem(
            409,
            f"campaign {campaign.name!r} has {count} contacts and cannot become {type_}: an"
            " inbound campaign's contacts are its callers, an outbound one's its list; create"
            " a new campaign of that type instead",
        )


@API.op("DELETE", "/campaigns/{name}", summary="Delete a stopped campaign with its contacts",
        tag="campaigns", scope="crm", responses={204: ("deleted", None)})  # fmt: skip
async def delete_campaign(call: Call) -> web.Response:
    svc = services(call)
    campaign = store.get_campaign(svc.db, call.path["name"])
    if campaign.status is not CampaignStatus.STOPPED:
        raise Problem(409, f"campaign {campaign.name!r} is {campaign.status}; stop it first")
    in_flight = store.contacts_by_state(svc.db, campaign.id).get(ContactState.SENT_TO_DIALER, 0)
    # an inbound call in progress holds no lease (store/inbound.py): its attempt is in flight
    in_flight = max(in_flight, store.calls_in_flight(svc.db, campaign.id))
    if in_flight:
        raise Problem(
            409,
            f"{in_flight} calls of {campaign.name!r} are still in flight; try again when they end",
        )
    store.delete_campaign(svc.db, campaign, svc.clock.now(), call.caller.actor)
    return web.Response(status=204)


def _status_op(action: str, status: CampaignStatus, allowed: tuple[CampaignStatus, ...]) -> None:
    async def change(call: Call) -> web.Response:
        svc = services(call)
        campaign = store.get_campaign(svc.db, call.path["name"])
        if campaign.status not in allowed and campaign.status is not status:
            raise Problem(
                409, f"campaign {campaign.name!r} is {campaign.status}; it cannot {action}"
            )
        if (
            campaign.type is CampaignType.INBOUND
            and status is CampaignStatus.RUNNING
            and campaign.status is not status
        ):
            check_inbound_start(svc, campaign.name, campaign.settings)
        if campaign.status is not status:
            campaign = store.update_campaign(
                svc.db, campaign, {"status": status}, svc.clock.now(), call.caller.actor
            )
        return web.json_response(describe(svc, campaign))

    change.__name__ = f"{action}_campaign"
    API.op("POST", f"/campaigns/{{name}}/{action}", summary=f"{action.capitalize()} a campaign",
           tag="campaigns", scope="crm", responses={200: (f"the campaign after {action}", Campaign)},
           description=STATUS_HELP[action])(change)  # fmt: skip


STATUS_HELP = {
    "start": "An outbound campaign dials; an inbound one answers calls on its answer_lines"
    " (within its windows, its business hours). An inbound campaign starts only when it can"
    " answer: 409 says what is missing (no answer_lines, a line not in the config or already"
    " answering for another inbound campaign, a callback_campaign that does not call).",
    "stop": "An outbound campaign stops dialing (calls in progress end); an inbound one stops"
    " answering (calls in progress end).",
    "pause": "As stop, to be resumed: an inbound campaign keeps its lines from other inbound"
    " campaigns while paused.",
    "resume": "As start, with the same checks for an inbound campaign.",
}


_status_op("start", CampaignStatus.RUNNING, (CampaignStatus.STOPPED, CampaignStatus.PAUSED))
_status_op("stop", CampaignStatus.STOPPED, (CampaignStatus.RUNNING, CampaignStatus.PAUSED))
_status_op("pause", CampaignStatus.PAUSED, (CampaignStatus.RUNNING,))
_status_op("resume", CampaignStatus.RUNNING, (CampaignStatus.PAUSED,))


@API.op("PUT", "/campaigns/{name}/schedule", summary="Set the campaign's windows, dates and holidays",
        tag="campaigns", scope="crm", body=Schedule, responses={200: ("changed", Campaign)})  # fmt: skip
async def set_schedule(call: Call[Schedule]) -> web.Response:
    svc = services(call)
    campaign = store.get_campaign(svc.db, call.path["name"])
    settings = settings_with(campaign.settings, call.body.model_dump(exclude_unset=True))
    campaign = store.update_campaign(
        svc.db, campaign, {"settings": settings}, svc.clock.now(), call.caller.actor
    )
    return web.json_response(describe(svc, campaign))


@API.op("GET", "/campaigns/{name}/strategy", summary="The campaign's strategy", tag="campaigns",
        scope="crm", responses={200: ("the strategy in force", StrategyInForce)},
        description="The campaign's own strategy, or the built-in default (every outcome named)."
        " 409 when the strategy its settings name is not stored or no longer parses.")  # fmt: skip
async def get_campaign_strategy(call: Call) -> web.Response:
    svc = services(call)
    campaign = store.get_campaign(svc.db, call.path["name"])
    try:
        found = campaign_strategy.in_force(svc.db, campaign)
    except DialboxError as exc:
        raise Problem(409, str(exc)) from None
    return web.json_response(campaign_strategy.document(found.strategy))


@API.op("PUT", "/campaigns/{name}/strategy", summary="Replace the campaign's strategy",
        tag="campaigns", scope="crm", body=StrategyBody,
        responses={200: ("the strategy now in force", StrategyInForce)},
        description="Stored as the strategy named after the campaign; takes effect at the next dial."
        " The body is the strategy as docs/scheduler.md writes it in YAML: an action is text"
        " ('retry 2h', 'close Connected') or a mapping ({\"action\": \"sms\", \"after\": \"5m\"});"
        " delays are 90s, 30m, 2h, 1d, 1h30m or seconds. A 422 names the key path and what it"
        " expects. `default` covers the outcomes the strategy does not name except the terminal"
        " ones; naming a terminal outcome with another action is honored and warned about.")  # fmt: skip
async def set_campaign_strategy(call: Call[StrategyBody]) -> web.Response:
    svc = services(call)
    campaign = store.get_campaign(svc.db, call.path["name"])
    try:
        strategy = parse_strategy(call.body.definition(), "body")
    except StrategyError as exc:
        raise Problem(422, str(exc), errors=[_strategy_error(str(exc))]) from None
    campaign_strategy.replace(svc.db, campaign, strategy, svc.clock.now(), call.caller.actor)
    return web.json_response(campaign_strategy.document(strategy))


def _strategy_error(message: str) -> dict[str, str]:
    """The parser's `body.on.Busy.after: what` as a problem's error entry."""
    where, _, what = message.partition(": ")
    return {"where": where, "message": what or message}


def _problem(text: str, entry: str | None = None) -> dict[str, str]:
    """A StrategyError's text ("strategy.on.Busy: …") as where and message; a problem of one
    `entry` checked alone is that entry's, wherever the parser saw it."""
    path, sep, message = text.partition(": ")
    if not sep:
        path, message = "", text
    path = path.removeprefix("strategy").lstrip(".")
    if entry is not None and not path.startswith(entry):
        path = entry
    return {"where": path, "message": message}


def _entry_problems(definition: dict[str, Any]) -> list[dict[str, str]]:
    """Each entry of `on` and `steps_on` checked alone (parse_strategy stops at the first
    problem; an editor shows every row's). With the strategy's own plan when it parses, else a
    voice and an SMS attempt, so that only the entry itself is judged."""
    plan = definition.get("attempts")
    try:
        parse_strategy({"name": "check", **({"attempts": plan} if plan else {})}, "strategy")
    except StrategyError:
        plan = [{"channel": "voice", "phone": 1}, {"channel": "sms", "phone": "same"}]
    base: dict[str, Any] = {"name": "check", **({"attempts": plan} if plan else {})}
    found = []
    entries = [(f"on.{k}", {"on": {k: v}}) for k, v in (definition.get("on") or {}).items()]
    for step, actions in (definition.get("steps_on") or {}).items():
        if isinstance(actions, dict):
            entries += [(f"steps_on.{step}.{k}", {"steps_on": {step: {k: v}}})
                        for k, v in actions.items()]  # fmt: skip
    for where, entry in entries:
        try:
            parse_strategy({**base, **entry}, "strategy")
        except StrategyError as exc:
            found.append(_problem(str(exc), where))
    return found


@API.op("POST", "/campaigns/{name}/strategy/check",
        summary="Check a strategy without saving it: problems by row, warnings, the outcome table",
        tag="campaigns", scope="crm", body=StrategyBody,
        responses={200: ("the verdict (valid or not)", StrategyCheck)},
        description="The same checks as PUT, nothing stored. `errors` names each problem's key "
        "path (every entry of `on` and `steps_on` is also checked alone, so each wrong row is "
        "named); `table` gives every outcome's action in force and where it comes from.")  # fmt: skip
async def check_campaign_strategy(call: Call[StrategyBody]) -> web.Response:
    from appliance.domain import Outcome
    from appliance.scheduler.strategy import TERMINAL, strategy_warnings

    store.get_campaign(services(call).db, call.path["name"])  # 404 for an unknown campaign
    definition = call.body.definition()
    try:
        strategy = parse_strategy(definition, "strategy")
    except StrategyError as exc:
        errors, seen = [], set()
        for problem in [*_entry_problems(definition), _problem(str(exc))]:
            if problem["message"] not in seen:
                seen.add(problem["message"])
                errors.append(problem)
        return web.json_response({"valid": False, "errors": errors, "warnings": [], "table": None})
    table = [
        {
            "outcome": o.label,
            "code": int(o),
            "action": strategy.on[o].text(),
            "source": "named" if o in strategy.named
            else "default" if strategy.default is not None and o not in TERMINAL
            else "built-in",
            "terminal": o in TERMINAL,
        }
        for o in Outcome
    ]  # fmt: skip
    warnings = strategy_warnings(strategy)
    return web.json_response({"valid": True, "errors": [], "warnings": warnings, "table": table})


@API.op("PUT", "/campaigns/{name}/filter", summary="Set or clear the campaign's filter (D8)",
        tag="campaigns", scope="crm", body=Filter, responses={200: ("changed", Campaign)})  # fmt: skip
async def set_filter(call: Call[Filter]) -> web.Response:
    svc = services(call)
    campaign = store.get_campaign(svc.db, call.path["name"])
    campaign = store.update_campaign(
        svc.db,
        campaign,
        {"filter": _filter(call.body.filter)},
        svc.clock.now(),
        call.caller.actor,
    )
    return web.json_response(describe(svc, campaign))


@API.op("GET", "/campaigns/{name}/why", summary="Why the campaign dials nothing or fewer (C12)",
        tag="campaigns", scope="floor", responses={200: ("the reasons, with counts", Why)},
        description="An inbound campaign: why it answers no call, or not as meant — stopped or"
        " paused, no answer line or none up, closed now (when it opens next, in its timezone),"
        " its flow not set or not defined, no agent logged in or ready with the skill its queue"
        " asks; `dialing` is true when it answers calls.")  # fmt: skip
async def why(call: Call) -> web.Response:
    from appliance.engine.storeplanner import StorePlanner
    from appliance.engine.why import box_shares, boxes_lines_up, boxes_text, campaign_lines_up
    from appliance.store.selection import lines_up

    svc = services(call)
    campaign = store.get_campaign(svc.db, call.path["name"])
    config = svc.config()
    planner = StorePlanner(config, svc.db)
    now = svc.clock.now()
    engine = svc.engine
    # The running pool knows which lines are up and in service; without one, what was recorded.
    state = engine.pool.in_service() if engine is not None else lines_up(svc.db, config.box.id)
    up = campaign_lines_up(config, campaign, state)
    # Several boxes on the store (#27): the campaign's lines are every leasing box's
    shares = box_shares(svc.db, campaign, svc.clock.now(), config.box.heartbeat_seconds,
                        config.box.sweep_after_seconds)  # fmt: skip
    if len(shares) > 1 and campaign.type is not CampaignType.INBOUND:
        up = boxes_lines_up(shares)
    seats = engine.agents_out_of_reach(campaign) if engine is not None else None
    # The contacts' reasons are a scan of the campaign: counted at most once per few seconds
    # (the gates — status, window, lines, agents, abandon cap — are judged now)
    counted, counted_at = None, now
    if campaign.type is not CampaignType.INBOUND:
        counted, counted_at = figures_of(svc).why_counts(
            campaign.id, campaign.updated_at, now, lambda: planner.reasons(campaign, now)
        )
    explanation = planner.explain(campaign, now, up, seats, state, counted)
    document = explanation.as_dict()
    document["at"] = iso_time(now)
    document["counts_as_of"] = iso_time(counted_at)
    document["counts_age_seconds"] = round(max(0.0, now - counted_at), 3)
    document["text"] = explanation.text()
    if len(shares) > 1:
        document["boxes"] = [dataclasses.asdict(share) for share in shares]
        document["text"] += boxes_text(shares)
    return web.json_response(document)


@API.op("GET", "/campaigns/{name}/report", summary="Attempts, contact and abandon rates, talk time by hour or day",
        tag="reports", scope="crm", responses={200: ("the report", Report)},
        params=[Param("by", "query", {"enum": ["hour", "day"], "default": "day"}),
                Param("days", "query", {"type": "integer", "minimum": 1, "maximum": 366, "default": 7},
                      description="how many days back from now")])  # fmt: skip
async def campaign_report(call: Call) -> web.Response:
    svc = services(call)
    campaign = store.get_campaign(svc.db, call.path["name"])
    tz = CampaignSettings.model_validate(campaign.settings).timezone or svc.config().timezone
    now = svc.clock.now()
    offset = dt.datetime.fromtimestamp(now, zoneinfo.ZoneInfo(tz)).utcoffset() or dt.timedelta()
    since = now - call.query.get("days", 7) * 86400.0
    rows = report(svc.db, campaign, by=call.query.get("by", "day"), since=since, until=now + 1,
                  offset=offset.total_seconds())  # fmt: skip
    from appliance.engine.storeplanner import StorePlanner

    share = StorePlanner(svc.config(), svc.db).false_positive_share(campaign)
    abandon = abandon_rates(svc.db, campaign.id, now, share)
    return web.json_response(
        {
            "campaign": campaign.name,
            "by": call.query.get("by", "day"),
            "timezone": tz,
            "rows": rows,
            "contacts_by_state": store.contacts_by_state(svc.db, campaign.id),
            "outcomes": outcomes(svc.db, campaign.id, since),
            "abandon": abandon,
        }
    )


__all__ = ["SETTINGS", "describe", "ref", "services"]
