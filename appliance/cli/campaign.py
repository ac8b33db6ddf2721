"""`dialbox campaign create|list|show|set|rename|start|stop|pause|resume|schedule`: campaigns from
the command line (`schedule`: appliance/cli/schedule.py)."""

from __future__ import annotations

import argparse
from typing import Any

from appliance.campaigns import (
    CampaignSettings,
    OtherCampaign,
    apply_settings,
    check_email_template,
    check_external_list,
    check_flow,
    inbound_start_problems,
    parse_assignments,
    type_problems,
)
from appliance.cli import schedule
from appliance.cli.context import open_context
from appliance.cli.output import add_json_flag, emit, table
from appliance.config.models import check_region
from appliance.domain import CampaignStatus, CampaignType
from appliance.errors import DialboxError
from appliance.names import RULE
from appliance.store import campaigns as store
from appliance.store.export import iso_utc


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("campaign", help="create, list, show and change campaigns")
    csub = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    c = csub.add_parser("create", help="create a campaign")
    c.add_argument("name", help=f"the campaign's name: {RULE}")
    c.add_argument("--type", choices=[t.value for t in CampaignType], default="agent")
    c.add_argument("--region", help="default region for national numbers (default: the box's)")
    c.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an initial setting (repeatable)",
    )
    add_json_flag(c)
    c.set_defaults(func=create)

    ls = csub.add_parser("list", help="list campaigns with contact counts")
    add_json_flag(ls)
    ls.set_defaults(func=list_)

    sh = csub.add_parser("show", help="show one campaign")
    sh.add_argument("name")
    add_json_flag(sh)
    sh.set_defaults(func=show)

    st = csub.add_parser("set", help="change settings: type, region, filter or any setting key")
    st.add_argument("name")
    st.add_argument("assignments", nargs="+", metavar="KEY=VALUE")
    add_json_flag(st)
    st.set_defaults(func=set_)

    rn = csub.add_parser(
        "rename", help="rename a stopped campaign (its own strategy moves with it)"
    )
    rn.add_argument("name", help="its name now (any name it has, also one from before the rule)")
    rn.add_argument("new_name", help=f"the new name: {RULE}")
    add_json_flag(rn)
    rn.set_defaults(func=rename)

    for action, status in (
        ("start", CampaignStatus.RUNNING),
        ("stop", CampaignStatus.STOPPED),
        ("pause", CampaignStatus.PAUSED),
        ("resume", CampaignStatus.RUNNING),
    ):
        a = csub.add_parser(action, help=f"{action} a campaign")
        a.add_argument("name")
        add_json_flag(a)
        a.set_defaults(func=change_status, status=status)

    schedule.register(csub)


def _describe(campaign: store.CampaignRow, counts: dict[str, int]) -> dict[str, Any]:
    document = campaign.as_dict()
    for key in ("created_at", "updated_at"):  # ISO 8601, as the API writes them
        document[key] = iso_utc(document[key])
    document["settings"] = CampaignSettings.model_validate(campaign.settings).model_dump()
    document["contacts"] = {"total": sum(counts.values()), "by_state": counts}
    return document


def _human(document: dict[str, Any]) -> str:
    lines = [
        f"{document['name']}  ({document['type']}, region {document['region']}, {document['status']})"
    ]
    if document.get("filter"):
        lines.append(f"  filter: {document['filter']}")
    for key, value in document["settings"].items():
        if key == "dispositions" and value:  # one a line: code, label, action (#25)
            lines.append(f"  {key}:")
            lines += [f"    {d['code']}: {d['label']} -> {d['action']}"
                      + (f" ({d['callback_for']})" if d.get("callback_for") else "")
                      for d in value]  # fmt: skip
        elif value is not None:
            lines.append(f"  {key}: {value}")
    lines.append(f"  contacts: {document['contacts']['total']}")
    for state, count in document["contacts"]["by_state"].items():
        lines.append(f"    {state}: {count}")
    return "\n".join(lines)


def _check_type(type_: str, settings: CampaignSettings) -> None:
    """The settings the campaign's type does not take (the inbound ones on another type)."""
    problems = type_problems(type_, settings)
    if problems:
        raise DialboxError("invalid campaign setting: " + "; ".join(text for _, text in problems))


def create(args: argparse.Namespace) -> int:
    ctx = open_context(args)
    try:
        region = check_region(args.region) if args.region else ctx.config.region
    except ValueError as exc:
        raise DialboxError(f"--region: {exc}") from None
    settings = apply_settings(CampaignSettings(), parse_assignments(args.set))
    _check_type(args.type, settings)
    check_flow(settings.flow, ctx.config)
    check_external_list(settings.external_list, ctx.config)
    check_email_template(settings.email_template, ctx.config)
    campaign = store.create_campaign(
        ctx.db,
        args.name,
        CampaignType(args.type),
        region,
        settings.model_dump(exclude_defaults=True),
        ctx.clock.now(),
        ctx.actor,
    )
    emit(args, _describe(campaign, {}), lambda d: f"created campaign {d['name']}")
    return 0


def list_(args: argparse.Namespace) -> int:
    ctx = open_context(args)
    documents = [
        _describe(c, store.contacts_by_state(ctx.db, c.id)) for c in store.list_campaigns(ctx.db)
    ]
    emit(
        args,
        documents,
        lambda docs: (
            table(
                [
                    (d["name"], d["type"], d["region"], d["status"], d["contacts"]["total"])
                    for d in docs
                ],
                ["NAME", "TYPE", "REGION", "STATUS", "CONTACTS"],
            )
            if docs
            else "no campaigns; create one with `dialbox campaign create NAME`"
        ),
    )
    return 0


def show(args: argparse.Namespace) -> int:
    ctx = open_context(args)
    campaign = store.get_campaign(ctx.db, args.name)
    emit(args, _describe(campaign, store.contacts_by_state(ctx.db, campaign.id)), _human)
    return 0


def set_(args: argparse.Namespace) -> int:
    ctx = open_context(args)
    campaign = store.get_campaign(ctx.db, args.name)
    assignments = parse_assignments(args.assignments)
    changes: dict[str, Any] = {}
    if "type" in assignments:
        value = assignments.pop("type")
        if value not in {t.value for t in CampaignType}:
            raise DialboxError(f"type must be one of: {', '.join(t.value for t in CampaignType)}")
        changes["type"] = CampaignType(value)
    if "region" in assignments:
        try:
            changes["region"] = check_region(assignments.pop("region"))
        except ValueError as exc:
            raise DialboxError(f"region: {exc}") from None
    if "filter" in assignments:
        from appliance.store.filters import compile_filter

        text = assignments.pop("filter").strip()
        if text:
            compile_filter(text)  # raises a DialboxError that points at the bad token
        changes["filter"] = text or None
    if assignments:
        current = CampaignSettings.model_validate(campaign.settings)
        settings = apply_settings(current, assignments)
        if "flow" in assignments:
            check_flow(settings.flow, ctx.config)
        if "external_list" in assignments:
            check_external_list(settings.external_list, ctx.config)
        if "email_template" in assignments:
            check_email_template(settings.email_template, ctx.config)
        changes["settings"] = settings.model_dump(exclude_defaults=True)
    type_ = str(changes.get("type", campaign.type))
    if type_ != campaign.type and CampaignType.INBOUND in (type_, campaign.type):
        count = sum(store.contacts_by_state(ctx.db, campaign.id).values())
        if campaign.status is not CampaignStatus.STOPPED or count:
            raise DialboxError(
                f"campaign {campaign.name!r} becomes or stops being inbound only while stopped"
                " and without contacts (an inbound campaign's contacts are its callers); create"
                " a new campaign of that type instead"
            )
    _check_type(type_, CampaignSettings.model_validate(changes.get("settings", campaign.settings)))
    campaign = store.update_campaign(ctx.db, campaign, changes, ctx.clock.now(), ctx.actor)
    emit(args, _describe(campaign, store.contacts_by_state(ctx.db, campaign.id)), _human)
    return 0


def rename(args: argparse.Namespace) -> int:
    ctx = open_context(args)
    campaign = store.get_campaign(ctx.db, args.name)
    campaign = store.rename_campaign(ctx.db, campaign, args.new_name, ctx.clock.now(), ctx.actor)
    emit(
        args,
        _describe(campaign, store.contacts_by_state(ctx.db, campaign.id)),
        lambda d: (
            f"campaign {args.name!r} is now {d['name']}; rename its hot folder folder and"
            " any lines' `campaigns:` pins that name it"
        ),
    )
    return 0


def change_status(args: argparse.Namespace) -> int:
    ctx = open_context(args)
    campaign = store.get_campaign(ctx.db, args.name)
    if (
        campaign.type is CampaignType.INBOUND
        and args.status is CampaignStatus.RUNNING
        and campaign.status is not CampaignStatus.RUNNING
    ):
        others = [
            OtherCampaign(c.name, str(c.type), str(c.status),
                          CampaignSettings.model_validate(c.settings))
            for c in store.list_campaigns(ctx.db)
        ]  # fmt: skip
        problems = inbound_start_problems(
            campaign.name,
            CampaignSettings.model_validate(campaign.settings),
            [line.name for line in ctx.config.lines],
            others,
        )
        if problems:
            raise DialboxError(
                f"inbound campaign {campaign.name!r} cannot answer calls: " + "; ".join(problems)
            )
    campaign = store.update_campaign(
        ctx.db, campaign, {"status": args.status}, ctx.clock.now(), ctx.actor
    )
    emit(
        args,
        _describe(campaign, store.contacts_by_state(ctx.db, campaign.id)),
        lambda d: f"campaign {d['name']} is {d['status']}",
    )
    return 0
