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
from appliance.importing.headers import MapEntry, config_map, merged, parse_map
from appliance.importing.importer import import_file
from appliance.importing.preview import Preview, preview_file
from appliance.importing.report import ImportReport
from appliance.store.campaigns import get_campaign
from appliance.store.db import daemon_running

HUMAN_REJECTS = 50  # the terminal shows this many rejects; --rejects FILE or --json has them all


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "import",
        help="import a contact file into a campaign, or watch a hot folder",
        description=(
            "Import a CSV/TXT contact file. A header row is read by its names (phone, mobile, "
            "first_name, last_name, email, amount…: docs/config.md, Header names); a file "
            "without a header, or whose header starts Phone1..Phone5, is read in the ECM column "
            "order (Phone1..Phone5, BP1..BP12); a mapping from config `import.mappings` reads "
            "a header of its own. Unknown columns are refused unless --map places them. Bad "
            "rows are reported and skipped; good rows land in one transaction; importing the "
            "same rows again adds nothing. Callback times without an offset are UTC. Exit "
            "status: 0 when rows are in the campaign, 1 when the file was refused or no row "
            "was accepted, 2 for a wrong command, 3 for an unknown campaign."
        ),
    )
    p.add_argument("file", nargs="?", type=Path, help="the file to import (.csv or .txt)")
    p.add_argument("--campaign", help="campaign to import into (required with FILE)")
    p.add_argument("--mapping", help="column mapping to read the file with (default: automatic)")
    p.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="COLUMN=FIELD",
        help="read the header column COLUMN as FIELD (phone1..phone5, bp1..bp12, external_id, "
        "priority, timezone, callback_at, owner_agent, phone: the next free phone, ignore: "
        "leave it out); '*=ignore' leaves out every unknown column; repeatable",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="show how the file would be read (column -> field) and its first rejects; "
        "write nothing",
    )
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
        if args.map or args.dry_run:
            raise DialboxError(
                "--watch takes no --map or --dry-run: set import.map in the config for the "
                "hot folder's files"
            )
        return _watch(args)
    if args.file is None or not args.campaign:
        raise DialboxError("give --campaign NAME and a FILE to import (or --watch DIR)")
    given = parse_map(args.map)  # a wrong --map is refused before anything is opened
    ctx = open_context(args)
    try:
        column_map = merged(config_map(ctx.config.import_.map), given)
        if args.dry_run:
            preview = _preview(ctx, args, column_map)
        else:
            report = _import(ctx, args, column_map)
    finally:
        ctx.db.close()
    if args.dry_run:
        emit(args, preview.as_dict(), lambda _: preview.human())
        return 0 if preview.valid else 1
    emit(args, report.as_dict(), lambda _: _human(report))
    if report.imported or report.duplicates:
        return 0
    if not args.json:
        print(_nothing(report), file=sys.stderr)
    return 1


def _nothing(report: ImportReport) -> str:
    """Why exit 1: what to look at."""
    if not report.rows:
        header = bool(report.columns) and report.columns[0][0] is not None
        return f"nothing imported: {report.file} has no rows{' below its header' if header else ''}"
    return (
        f"nothing imported: every one of the {report.rows} rows was rejected; see the reasons "
        "above (--dry-run shows how the columns are read)"
    )


def _preview(ctx: Context, args: argparse.Namespace, column_map: tuple[MapEntry, ...]) -> Preview:
    campaign = get_campaign(ctx.db, args.campaign)
    return preview_file(
        args.file,
        campaign=campaign.name,
        region=campaign.region,
        mappings=ctx.config.import_.mappings,
        mapping=args.mapping or CampaignSettings.model_validate(campaign.settings).mapping,
        column_map=column_map,
    )


def _import(
    ctx: Context, args: argparse.Namespace, column_map: tuple[MapEntry, ...]
) -> ImportReport:
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
            column_map=column_map,
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
    if report.layout != "ecm":  # a header read by name or a mapping: say what went where
        placed = [f"{name} -> {field}" for name, field in report.columns if field and name]
        left = [name for name, field in report.columns if not field and name]
        lines.append(
            "columns: " + ", ".join(placed) + (f"; left out: {', '.join(left)}" if left else "")
        )
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
        column_map=config_map(ctx.config.import_.map),
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
