"""`dialbox import`: load a contact file into a campaign (SPEC D2), or watch a hot folder (D3)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from appliance.campaigns import CampaignSettings
from appliance.cli.context import Context, open_context
from appliance.cli.output import add_json_flag, emit, table
from appliance.errors import DialboxError
from appliance.importing.importer import import_file
from appliance.importing.report import ImportReport
from appliance.store.campaigns import get_campaign
from appliance.store.db import daemon_running

HUMAN_REJECTS = 50  # the terminal shows this many rejects; --rejects FILE or --json has them all


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "import",
        help="import a contact file into a campaign, or watch a hot folder",
        description=(
            "Import a CSV/TXT contact file: the ECM column order (Phone1..Phone5, BP1..BP12, "
            "header optional) or a named-column file read through a mapping from config "
            "`import.mappings`. Bad rows are reported and skipped; good rows land in one "
            "transaction; importing the same rows again adds nothing. Callback times without "
            "an offset are UTC."
        ),
    )
    p.add_argument("file", nargs="?", type=Path, help="the file to import (.csv or .txt)")
    p.add_argument("--campaign", help="campaign to import into (required with FILE)")
    p.add_argument("--mapping", help="column mapping to read the file with (default: automatic)")
    p.add_argument("--rejects", type=Path, metavar="FILE", help="write the reject report as CSV")
    p.add_argument(
        "--watch",
        type=Path,
        metavar="DIR",
        help="watch DIR (default: config import.hot_folder): files in DIR/<campaign>/ are "
        "imported, then archived to DIR/archive/<campaign>/",
    )
    p.add_argument("--once", action="store_true", help="with --watch: process what is there, exit")
    add_json_flag(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.watch is not None or args.once:
        if args.file is not None or args.campaign:
            raise DialboxError("--watch takes no FILE or --campaign: the folder names the campaign")
        return _watch(args)
    if args.file is None or not args.campaign:
        raise DialboxError("give --campaign NAME and a FILE to import (or --watch DIR)")
    ctx = open_context(args)
    try:
        report = _import(ctx, args)
    finally:
        ctx.db.close()
    emit(args, report.as_dict(), lambda _: _human(report))
    return 0


def _import(ctx: Context, args: argparse.Namespace) -> ImportReport:
    campaign = get_campaign(ctx.db, args.campaign)
    mapping = args.mapping or CampaignSettings.model_validate(campaign.settings).mapping
    rejects_out = None
    if args.rejects is not None:
        try:
            rejects_out = args.rejects.open("w", encoding="utf-8", newline="")
        except OSError as exc:
            raise DialboxError(
                f"cannot write the reject report {args.rejects}: {exc.strerror}"
            ) from None
    try:
        return import_file(
            ctx.db,
            campaign,
            args.file,
            region=campaign.region,
            mappings=ctx.config.import_.mappings,
            mapping=mapping,
            now=ctx.clock.now(),
            actor=ctx.actor,
            source=str(args.file),
            rejects_out=rejects_out,
            # A running daemon dials on this database: stage the file and publish it in short
            # transactions, so its dial loop never waits for the whole file (one lock for all
            # of it is the fast path, for when nothing else writes).
            staged=daemon_running(ctx.db.path),
        )
    finally:
        if rejects_out is not None:
            rejects_out.close()


def _human(report: ImportReport) -> str:
    lines = [report.summary()]
    if report.rejects:
        shown = report.rejects[:HUMAN_REJECTS]
        lines.append("")
        lines.append(
            table(
                [(r.line, r.field or "(row)", r.reason, r.value) for r in shown],
                ["line", "field", "reason", "value"],
            )
        )
        hidden = len(report.rejects) - len(shown) + report.rejects_omitted
        if hidden:
            lines.append(f"… and {hidden} more rejects (--rejects FILE writes them all as CSV)")
    return "\n".join(lines)


def _watch(args: argparse.Namespace) -> int:
    from appliance.importing.hotfolder import HotFolder

    ctx = open_context(args)
    folder = args.watch or ctx.config.import_.hot_folder
    if folder is None:
        raise DialboxError(
            "no folder to watch: give --watch DIR or set import.hot_folder in the config"
        )
    hot = HotFolder(
        ctx.db,
        Path(folder),
        clock=ctx.clock,
        mappings=ctx.config.import_.mappings,
        settle_seconds=ctx.config.import_.settle_seconds,
        actor=ctx.actor,
    )
    try:
        if args.once:
            results = hot.scan_until_idle()
            emit(args, [r.as_dict() for r in results], _human_results)
        else:
            if not args.json:
                print(f"watching {folder} (Ctrl-C to stop)", file=sys.stderr)
            asyncio.run(hot.run(on_result=lambda r: emit(args, r.as_dict(), _human_results_one)))
    finally:
        ctx.db.close()
    return 0


def _human_results(documents: list[dict[str, Any]]) -> str:
    if not documents:
        return "nothing to import"
    return "\n".join(_human_results_one(d) for d in documents)


def _human_results_one(document: dict[str, Any]) -> str:
    return str(document["message"])
