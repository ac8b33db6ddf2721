"""`dialbox dnc add|remove|check|list|import`: the global, per-campaign and block lists (SPEC D7)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from appliance.cli.context import Context, open_context
from appliance.cli.output import add_json_flag, emit
from appliance.errors import DialboxError, NotFound
from appliance.phones import InvalidPhone, normalize
from appliance.store import dnc
from appliance.store.campaigns import CampaignRow, get_campaign


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("dnc", help="do-not-call lists: add, remove, check, list, import")
    dsub = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    def campaign_option(parser: argparse.ArgumentParser, what: str) -> None:
        parser.add_argument(
            "--campaign", metavar="NAME", help=f"{what} the campaign's own list (default: global)"
        )

    def expires_option(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--expires",
            metavar="WHEN",
            help="date (listed through that day), date and time, or days ('30d'); default never",
        )
        parser.add_argument("--reason", metavar="TEXT", help="why the numbers are listed")

    a = dsub.add_parser("add", help="put numbers on a list")
    a.add_argument("numbers", nargs="+", metavar="NUMBER")
    campaign_option(a, "add to")
    expires_option(a)
    a.add_argument(
        "--block", action="store_true", help="the permanent block list (never dialed again)"
    )
    add_json_flag(a)
    a.set_defaults(func=add)

    r = dsub.add_parser("remove", help="take numbers off a list")
    r.add_argument("numbers", nargs="+", metavar="NUMBER")
    campaign_option(r, "remove from")
    r.add_argument("--block", action="store_true", help="the permanent block list")
    add_json_flag(r)
    r.set_defaults(func=remove)

    c = dsub.add_parser("check", help="say which lists hold a number")
    c.add_argument("number", metavar="NUMBER")
    c.add_argument("--campaign", metavar="NAME", help="only the lists that apply to this campaign")
    add_json_flag(c)
    c.set_defaults(func=check)

    ls = dsub.add_parser("list", help="list the numbers on the lists")
    which = ls.add_mutually_exclusive_group()
    which.add_argument("--campaign", metavar="NAME", help="only this campaign's list")
    which.add_argument("--global", dest="global_", action="store_true", help="only the global list")
    which.add_argument("--block", action="store_true", help="only the block list")
    ls.add_argument("--include-expired", action="store_true", help="show expired entries too")
    add_json_flag(ls)
    ls.set_defaults(func=list_)

    i = dsub.add_parser(
        "import", help="import a file: one number per line, or the first column of a CSV"
    )
    i.add_argument("file", type=Path, metavar="FILE")
    campaign_option(i, "import into")
    expires_option(i)
    add_json_flag(i)
    i.set_defaults(func=import_)


def _campaign(ctx: Context, name: str | None) -> CampaignRow | None:
    return None if name is None else get_campaign(ctx.db, name)


def _region(ctx: Context, campaign: CampaignRow | None) -> str:
    return campaign.region if campaign is not None else ctx.config.region


def _normalize_all(numbers: list[str], region: str) -> list[str]:
    """Every argument in E.164, or one error naming each bad argument (nothing is changed)."""
    good: list[str] = []
    bad: list[str] = []
    for text in numbers:
        try:
            good.append(normalize(text, region))
        except InvalidPhone as exc:
            bad.append(f"{text!r}: {exc}")
    if bad:
        raise DialboxError(
            f"not a phone number for region {region}, nothing changed: " + "; ".join(bad)
        )
    return good


def _expiry(ctx: Context, text: str | None) -> float | None:
    if text is None:
        return None
    return dnc.parse_expiry(text, ctx.config.timezone, ctx.clock.now())


def add(args: argparse.Namespace) -> int:
    ctx = open_context(args)
    if args.block and (args.campaign or args.expires):
        raise DialboxError(
            "--block is the global, permanent block list: no --campaign or --expires"
        )
    campaign = _campaign(ctx, args.campaign)
    numbers = _normalize_all(args.numbers, _region(ctx, campaign))
    changes = dnc.add_numbers(
        ctx.db,
        numbers,
        campaign_id=campaign.id if campaign else None,
        campaign=campaign.name if campaign else None,
        kind=dnc.BLOCK if args.block else dnc.DNC,
        reason=args.reason,
        source="cli",
        expires_at=_expiry(ctx, args.expires),
        now=ctx.clock.now(),
        actor=ctx.actor,
    )
    label = dnc.list_label(
        campaign.name if campaign else None, dnc.BLOCK if args.block else dnc.DNC
    )
    document = {"list": label, "numbers": numbers, **changes.as_dict()}
    del document["rejected"]
    emit(
        args,
        document,
        lambda d: f"{label} list: {d['added']} added, {d['already_listed']} already listed",
    )
    return 0


def remove(args: argparse.Namespace) -> int:
    ctx = open_context(args)
    if args.block and args.campaign:
        raise DialboxError("--block is the global block list: no --campaign")
    campaign = _campaign(ctx, args.campaign)
    kind = dnc.BLOCK if args.block else dnc.DNC
    removed, absent = dnc.remove_numbers(
        ctx.db,
        _normalize_all(args.numbers, _region(ctx, campaign)),
        campaign_id=campaign.id if campaign else None,
        campaign=campaign.name if campaign else None,
        kind=kind,
        now=ctx.clock.now(),
        actor=ctx.actor,
    )
    label = dnc.list_label(campaign.name if campaign else None, kind)

    def human(d: dict[str, Any]) -> str:
        text = f"{label} list: {len(d['removed'])} removed"
        return text + (f"; not on it: {', '.join(d['not_listed'])}" if d["not_listed"] else "")

    emit(args, {"list": label, "removed": removed, "not_listed": absent}, human)
    return 0


def check(args: argparse.Namespace) -> int:
    ctx = open_context(args)
    campaign = _campaign(ctx, args.campaign)
    region = _region(ctx, campaign)
    try:
        e164 = normalize(args.number, region)
    except InvalidPhone as exc:
        raise DialboxError(
            f"{args.number!r} is not a phone number for region {region}: {exc}"
        ) from None
    now = ctx.clock.now()
    found = dnc.listings(
        ctx.db,
        e164,
        campaign_id=campaign.id if campaign else None,
        only_for_campaign=campaign is not None,
    )
    active = [e.as_dict(now) for e in found if e.active(now)]
    expired = [e.as_dict(now) for e in found if not e.active(now)]
    document = {
        "number": args.number,
        "e164": e164,
        "campaign": campaign.name if campaign else None,
        "listed": bool(active),
        "lists": active,
        "expired": expired,
    }
    emit(args, document, _check_text)
    return 0


def _check_text(d: dict[str, Any]) -> str:
    scope = f" that apply to campaign {d['campaign']}" if d["campaign"] else ""
    if not d["lists"]:
        lines = [f"{d['e164']} is on no DNC or block list{scope}"]
    else:
        lines = [f"{d['e164']} is on {len(d['lists'])} list(s){scope}:"]
        for e in d["lists"]:
            until = f"until {e['expires_at']}" if e["expires_at"] else "permanent"
            why = f"  ({e['reason']})" if e["reason"] else ""
            lines.append(f"  {e['list']:<24} since {e['added_at']}  {until}{why}")
    lines += [f"  expired: {e['list']} on {e['expires_at']}" for e in d["expired"]]
    return "\n".join(lines)


def list_(args: argparse.Namespace) -> int:
    ctx = open_context(args)
    now = ctx.clock.now()
    campaign = _campaign(ctx, args.campaign)
    lists = (
        "campaign" if campaign else "global" if args.global_ else "block" if args.block else "all"
    )
    rows = dnc.entries(
        ctx.db,
        now,
        lists=lists,
        campaign_id=campaign.id if campaign else None,
        include_expired=args.include_expired,
    )
    out = sys.stdout
    if args.json:  # streamed: a list can hold millions of numbers
        out.write("[")
        for n, entry in enumerate(rows):
            out.write(
                ("," if n else "") + "\n" + json.dumps(entry.as_dict(now), ensure_ascii=False)
            )
        out.write("\n]\n")
        return 0
    count = 0
    for entry in rows:
        if count == 0:
            out.write(f"{'NUMBER':<16}  {'LIST':<24}  {'ADDED':<20}  {'EXPIRES':<20}  REASON\n")
        e = entry.as_dict(now)
        expires = (e["expires_at"] or "never") + ("" if e["active"] else " (expired)")
        out.write(
            f"{e['e164']:<16}  {e['list']:<24}  {e['added_at']:<20}  {expires:<20}  {e['reason'] or ''}".rstrip()
            + "\n"
        )
        count += 1
    if count == 0:
        out.write("no numbers listed\n")
    return 0


def import_(args: argparse.Namespace) -> int:
    ctx = open_context(args)
    campaign = _campaign(ctx, args.campaign)
    path: Path = args.file
    try:
        stream = path.open(encoding="utf-8-sig", errors="surrogateescape", newline="")
    except OSError as exc:
        error = NotFound if isinstance(exc, FileNotFoundError) else DialboxError
        raise error(f"cannot read {path}: {exc.strerror}") from None
    with stream:
        changes = dnc.import_numbers(
            ctx.db,
            stream,
            region=_region(ctx, campaign),
            campaign_id=campaign.id if campaign else None,
            campaign=campaign.name if campaign else None,
            reason=args.reason,
            source=f"file:{path.name}",
            expires_at=_expiry(ctx, args.expires),
            now=ctx.clock.now(),
            actor=ctx.actor,
        )
    label = dnc.list_label(campaign.name if campaign else None)
    document = {"file": str(path), "list": label, **changes.as_dict()}

    def human(d: dict[str, Any]) -> str:
        lines = [
            f"{path} -> {label} list: {d['added']} added, {d['already_listed']} already listed,"
            f" {len(d['rejected'])} rejected"
        ]
        lines += [f"  line {r['line']}: {r['text']!r}: {r['reason']}" for r in d["rejected"]]
        return "\n".join(lines)

    emit(args, document, human)
    return 0
