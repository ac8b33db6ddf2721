"""`dialbox plan` (the next dials, as a dry run) and `dialbox why` (why a campaign dials nothing or fewer: SPEC C12)."""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
from typing import Any

from appliance.campaigns import CampaignSettings
from appliance.cli.context import open_context
from appliance.cli.output import add_json_flag, emit, table
from appliance.domain import CampaignType
from appliance.engine.storeplanner import StorePlanner
from appliance.engine.why import (
    box_shares,
    boxes_lines_up,
    boxes_text,
    campaign_lines_up,
    usable_lines,
)
from appliance.errors import DialboxError
from appliance.scheduler.plan import utc_text
from appliance.scheduler.windows import ScheduleError, local_time
from appliance.store.campaigns import get_campaign
from appliance.store.selection import lines_up

DEFAULT_PLAN_LINES = 10


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "plan",
        help="list the next dials a campaign would make, without dialing or changing anything",
    )
    p.add_argument("--campaign", required=True, metavar="NAME")
    p.add_argument("--at", metavar="ISO-TIME", help="judge at this time (default: now)")
    p.add_argument(
        "--lines",
        type=int,
        metavar="N",
        help="how many dials (default: the lines the campaign may use, else 10)",
    )
    add_json_flag(p)
    p.set_defaults(func=plan)

    w = sub.add_parser("why", help="why a campaign dials nothing or fewer than it could")
    w.add_argument("--campaign", required=True, metavar="NAME")
    w.add_argument("--at", metavar="ISO-TIME", help="judge at this time (default: now)")
    add_json_flag(w)
    w.set_defaults(func=why)


def plan(args: argparse.Namespace) -> int:
    ctx = open_context(args)
    campaign = get_campaign(ctx.db, args.campaign)
    planner = StorePlanner(ctx.config, ctx.db)
    cr = planner.rules_for(campaign)
    now = parse_at(args.at, cr.timezone, ctx.clock.now())
    count = args.lines
    if count is None:
        count = len(usable_lines(ctx.config, campaign)) or DEFAULT_PLAN_LINES
        settings = CampaignSettings.model_validate(campaign.settings)
        if settings.max_lines is not None:
            count = min(count, settings.max_lines)
    if count < 1:
        raise DialboxError(f"--lines must be at least 1, got {count}")
    dials = planner.plan(campaign, now, count)
    gates = planner.gates(campaign, now)
    blocked = [b["text"] for b in gates_blockers(gates.status.value, gates.window_closed)]
    document: dict[str, Any] = {
        "campaign": campaign.name,
        "at": utc_text(now),
        "at_local": local_time(now, cr.timezone).isoformat(timespec="seconds"),
        "timezone": cr.timezone,
        "profile": cr.profile.name,
        "strategy": cr.strategy.name,
        "lines": count,
        "would_dial": not blocked,
        "blocked_by": blocked,
        "dials": [d.as_dict() for d in dials],
    }
    emit(args, document, _plan_text)
    return 0


def gates_blockers(status: str, window_closed: str | None) -> list[dict[str, str]]:
    out = []
    if status != "running":
        out.append({"reason": status, "text": f"the campaign is {status}"})
    if window_closed:
        out.append({"reason": "outside_window", "text": f"the campaign is {window_closed}"})
    return out


def _plan_text(doc: dict[str, Any]) -> str:
    head = (
        f"Campaign {doc['campaign']} at {doc['at_local']} ({doc['timezone']}),"
        f" profile {doc['profile']}, strategy {doc['strategy']}:"
    )
    lines = [head]
    if doc["blocked_by"]:
        lines.append(
            "It would dial nothing now: "
            + "; ".join(doc["blocked_by"])
            + ". Were it running and open, these would be next:"
        )
    if not doc["dials"]:
        lines.append("No contact may be dialed at this moment; `dialbox why` says why.")
        return "\n".join(lines)
    rows = [
        (d["contact_id"], d["phone_index"], d["number"], d["channel"], d["why"])
        for d in doc["dials"]
    ]
    lines.append(table(rows, ["contact", "phone", "number", "channel", "why"]))
    return "\n".join(lines)


def why(args: argparse.Namespace) -> int:
    ctx = open_context(args)
    campaign = get_campaign(ctx.db, args.campaign)
    planner = StorePlanner(ctx.config, ctx.db)
    cr = planner.rules_for(campaign)
    now = parse_at(args.at, cr.timezone, ctx.clock.now())
    up = lines_up(ctx.db, ctx.config.box.id)
    count = campaign_lines_up(ctx.config, campaign, up)
    # Several boxes on the store (#27): every leasing box's lines, and each box's part
    box = ctx.config.box
    shares = box_shares(ctx.db, campaign, ctx.clock.now(), box.heartbeat_seconds,
                        box.sweep_after_seconds)  # fmt: skip
    if len(shares) > 1 and campaign.type is not CampaignType.INBOUND:
        count = boxes_lines_up(shares)
    explanation = planner.explain(campaign, now, count, up=up)
    document = explanation.as_dict()
    document["at"] = utc_text(now)
    document["profile"] = {"name": cr.profile.name, "rules": cr.profile.rules_text()}
    text = explanation.text()
    if len(shares) > 1:
        document["boxes"] = [dataclasses.asdict(share) for share in shares]
        text += boxes_text(shares)
    emit(args, document, lambda _doc: text)
    return 0


def parse_at(text: str | None, timezone: str, now: float) -> float:
    """`--at` as a UTC timestamp: ISO 8601; without an offset it is read in `timezone`."""
    if text is None:
        return now
    try:
        moment = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise DialboxError(
            f"--at {text!r} is not an ISO 8601 time such as 2026-03-08T14:30 or 2026-03-08T14:30:00Z"
        ) from None
    if moment.tzinfo is None:
        try:
            from appliance.scheduler.windows import zone

            moment = moment.replace(tzinfo=zone(timezone))
        except ScheduleError as exc:
            raise DialboxError(str(exc)) from None
    return moment.timestamp()
