"""`dialbox check-config FILE`: print `ok` or every problem with file, line and key."""

from __future__ import annotations

import argparse
import sys

from appliance.cli.output import add_json_flag, emit
from appliance.config import ConfigError, DialboxConfig, load_config


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("check-config", help="validate a config file")
    p.add_argument("file", nargs="?", help="the file (default: the one dialbox would use)")
    p.add_argument(
        "--connect",
        action="store_true",
        help="also connect to each external list's database and check its table and columns",
    )
    add_json_flag(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.file or args.config)
    except ConfigError as exc:
        if args.json:
            emit(args, {"ok": False, "problems": [vars(p) for p in exc.problems]})
        else:
            for problem in exc.problems:
                print(problem, file=sys.stderr)
        return 1
    if getattr(args, "connect", False) and config.external_lists:
        problems = _external_problems(config)
        if problems:
            if args.json:
                emit(args, {"ok": False, "problems": [{"message": p} for p in problems]})
            else:
                for text in problems:
                    print(text, file=sys.stderr)
            return 1
    emit(args, {"ok": True, "problems": []}, lambda _: "ok")
    return 0


def _external_problems(config: DialboxConfig) -> list[str]:
    """Each external list reached and its table's columns checked (SPEC D9)."""
    from appliance.external.source import ExternalError, Source

    problems = []
    for entry in config.external_lists:
        source = Source(entry)
        try:
            source.run(lambda conn, table: None)
        except ExternalError as exc:
            problems.append(f"external_lists[{entry.name}]: {exc}")
        finally:
            source.close()
    return problems
