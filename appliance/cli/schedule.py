"""`dialbox campaign schedule list|add|delete`: a campaign's scheduled start, pause, resume and
stop (SPEC C2) from the command line; the running daemon applies them (engine/schedules.py)."""

from __future__ import annotations

import argparse
from typing import Any

from appliance.cli.context import open_context
from appliance.cli.output import add_json_flag, emit, table
from appliance.errors import DialboxError
from appliance.scheduler.actions import Action

AT_HELP = (
    "HH:MM: every day (or on --days); 'YYYY-MM-DD HH:MM': once, in the campaign's zone;"
    " an ISO 8601 instant with its offset (2026-03-31T18:00:00+02:00): once"
)


def register(csub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = csub.add_parser(
        "schedule", help="list, add and delete a campaign's scheduled start/pause/resume/stop"
    )
    ssub = p.add_subparsers(dest="schedule_action", metavar="ACTION", required=True)

    ls = ssub.add_parser("list", help="the campaign's scheduled actions, next due, last applied")
    ls.add_argument("name")
    add_json_flag(ls)
    ls.set_defaults(func=list_)

    add = ssub.add_parser(
        "add",
        help="schedule an action, e.g. `add spring pause 12:00 --days mon-fri`",
        description="Schedule a start, pause, resume or stop. Actions due at the same minute"
        " apply start, resume, pause, stop: the last wins (docs/scheduler.md).",
    )
    add.add_argument("name")
    add.add_argument("action", choices=[a.value for a in Action])
    add.add_argument("at", help=AT_HELP)
    add.add_argument("--days", help="with HH:MM only: mon-fri, weekdays, weekends, sat,sun")
    add.add_argument("--timezone", help="IANA zone AT is read in (default: the campaign's)")
    add_json_flag(add)
    add.set_defaults(func=add_)

    rm = ssub.add_parser("delete", help="delete a scheduled action by its id (see list)")
    rm.add_argument("name")
    rm.add_argument("id", type=int)
    add_json_flag(rm)
    rm.set_defaults(func=delete)


def list_(args: argparse.Namespace) -> int:
    from appliance.engine.schedules import campaign_timezone, describe, summary
    from appliance.scheduler.timing import iso_utc
    from appliance.store import campaigns
    from appliance.store.schedules import list_actions

    ctx = open_context(args)
    campaign = campaigns.get_campaign(ctx.db, args.name)
    rows = list_actions(ctx.db, campaign.id)
    document = {
        "campaign": campaign.name,
        "status": str(campaign.status),
        "timezone": campaign_timezone(ctx.config, campaign),
        "now": iso_utc(ctx.clock.now()),
        **summary(rows),
        "actions": [describe(row) for row in rows],
    }
    emit(args, document, _human)
    return 0


def _human(document: dict[str, Any]) -> str:
    head = f"{document['campaign']} ({document['status']}), times in {document['timezone']}"
    if not document["actions"]:
        return f"{head}: no scheduled actions; add one with `dialbox campaign schedule add`"
    zone = document["timezone"]
    rows = [
        (a["id"], a["action"], _short(a["at"], a["timezone"], zone), a["days"] or "once",
         _short(a["next_due_local"], a["timezone"], zone) or "done", _outcome(a["last_result"]),
         a["source"])
        for a in document["actions"]
    ]  # fmt: skip
    return head + "\n" + table(rows, ["ID", "ACTION", "AT", "DAYS", "NEXT", "LAST", "FROM"])


def _short(iso: str | None, zone: str, heading: str) -> str:
    """`2026-03-02T12:00:00+01:00` as `2026-03-02 12:00` (the heading names the zone), with its
    offset when the action has a zone of its own; HH:MM stays (with that zone)."""
    if iso is None:
        return ""
    if len(iso) <= 5:
        return iso if zone == heading else f"{iso} {zone}"
    return iso[:16].replace("T", " ") + ("" if zone == heading else iso[19:])


def _outcome(result: str | None) -> str:
    """What the last occurrence did, in a few words (`--json` has the whole sentence)."""
    if result is None:
        return ""
    return result.split(":")[0] if result.startswith(("no change", "not applied")) else result


def add_(args: argparse.Namespace) -> int:
    from appliance.engine.schedules import add_action, describe
    from appliance.store import campaigns

    ctx = open_context(args)
    campaign = campaigns.get_campaign(ctx.db, args.name)
    row = add_action(
        ctx.db, ctx.config, campaign, action=args.action, at=args.at, days=args.days,
        timezone=args.timezone, now=ctx.clock.now(), actor=ctx.actor, source="cli",
    )  # fmt: skip
    emit(
        args,
        describe(row),
        lambda d: (
            f"{campaign.name}: {d['action']} scheduled (id {d['id']}), next at"
            f" {d['next_due_local']}"
        ),
    )
    return 0


def delete(args: argparse.Namespace) -> int:
    from appliance.engine.schedules import describe
    from appliance.store import campaigns
    from appliance.store.schedules import delete_action, get_action

    ctx = open_context(args)
    campaign = campaigns.get_campaign(ctx.db, args.name)
    row = get_action(ctx.db, campaign.id, args.id)
    if row.source == "config":
        raise DialboxError(
            f"scheduled action {row.id} comes from the config file (schedules:); remove it there"
            " and reload the daemon (systemctl reload dialbox)"
        )
    delete_action(ctx.db, row, campaign.name, ctx.clock.now(), ctx.actor)
    emit(args, describe(row), lambda d: f"{campaign.name}: scheduled action {d['id']} deleted")
    return 0
