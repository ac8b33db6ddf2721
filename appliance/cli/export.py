"""`dialbox export`: a campaign's contacts, or every attempt, as CSV or JSON (SPEC D6)."""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from appliance.cli.context import open_context
from appliance.errors import DialboxError
from appliance.store import dialect
from appliance.store.campaigns import get_campaign
from appliance.store.export import export as write_export
from appliance.store.filters import compile_filter

WriteFn = Callable[[TextIO], int]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "export",
        help="export a campaign's contacts or attempts as CSV or JSON",
        description="Every contact with its state, summary, attempts and last outcome; with"
        " --attempts, one row per attempt. UTF-8; times are ISO 8601 UTC.",
    )
    p.add_argument("--campaign", metavar="NAME", required=True)
    p.add_argument("--attempts", action="store_true", help="one row per attempt (D6 results)")
    p.add_argument(
        "--format",
        choices=("csv", "json"),
        help="csv (default) or json: one JSON array; FILE ending in .json implies json",
    )
    p.add_argument("--json", action="store_true", help="the same as --format json")
    p.add_argument("--output", "-o", metavar="FILE", type=Path, help="write here, not to stdout")
    p.add_argument(
        "--where",
        metavar="FILTER",
        help="only contacts matching a filter, e.g. 'bp3 == \"gold\"' (docs/filters.md)",
    )
    p.set_defaults(func=run)


def _format(args: argparse.Namespace) -> str:
    if args.json and args.format == "csv":
        raise DialboxError("--json and --format csv contradict each other; give one")
    if args.json:
        return "json"
    if args.format:
        return str(args.format)
    output: Path | None = args.output
    return "json" if output is not None and output.suffix.lower() == ".json" else "csv"


def run(args: argparse.Namespace) -> int:
    ctx = open_context(args)
    campaign = get_campaign(ctx.db, args.campaign)
    where = compile_filter(args.where, dialect.of(ctx.db)) if args.where else None
    fmt = _format(args)
    what = "attempts" if args.attempts else "contacts"

    def write(out: TextIO) -> int:
        return write_export(ctx.db, campaign, out, attempts=args.attempts, fmt=fmt, where=where)

    if args.output is None:
        _to_stdout(write)
        return 0
    count = _to_file(args.output, write)
    noun = what if count != 1 else what[:-1]
    print(f"exported {count} {noun} of {campaign.name} to {args.output}")
    return 0


def _to_stdout(write: WriteFn) -> None:
    """UTF-8 whatever the locale, line ends exactly as written (CSV's CRLF)."""
    sys.stdout.flush()
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:
        write(sys.stdout)
        return
    out = io.TextIOWrapper(buffer, encoding="utf-8", newline="", write_through=False)
    try:
        write(out)
        out.flush()
    finally:
        out.detach()


def _to_file(path: Path, write: WriteFn) -> int:
    """Write next to `path` and rename at the end: a failed export never leaves half a file."""
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    except OSError as exc:
        raise DialboxError(f"cannot write {path}: {exc.strerror}") from None
    try:
        with open(fd, "w", encoding="utf-8", newline="") as out:
            count = write(out)
        umask = os.umask(0o022)
        os.umask(umask)
        os.chmod(temp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual mode
        os.replace(temp, path)
    except OSError as exc:
        Path(temp).unlink(missing_ok=True)
        raise DialboxError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return count
