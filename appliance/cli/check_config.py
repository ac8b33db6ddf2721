"""`dialbox check-config FILE`: print `ok` or every problem with file, line and key."""

from __future__ import annotations

import argparse
import sys

from appliance.cli.output import add_json_flag, emit
from appliance.config import ConfigError, load_config


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("check-config", help="validate a config file")
    p.add_argument("file", nargs="?", help="the file (default: the one dialbox would use)")
    add_json_flag(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        load_config(args.file or args.config)
    except ConfigError as exc:
        if args.json:
            emit(args, {"ok": False, "problems": [vars(p) for p in exc.problems]})
        else:
            for problem in exc.problems:
                print(problem, file=sys.stderr)
        return 1
    emit(args, {"ok": True, "problems": []}, lambda _: "ok")
    return 0
