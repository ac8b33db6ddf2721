"""`dialbox strategy check FILE`: parse a strategy (YAML or JSON) and say what it does that needs a second look."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from appliance.cli.output import add_json_flag, emit
from appliance.errors import DialboxError, NotFound
from appliance.scheduler.strategy import StrategyError, parse_strategy, strategy_warnings, to_dict


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("strategy", help="check call strategies (SPEC C4)")
    ssub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    c = ssub.add_parser(
        "check",
        help="parse a strategy file; errors name the key, warnings name terminal outcomes it changes",
    )
    c.add_argument("file", help="the strategy as YAML or JSON")
    add_json_flag(c)
    c.set_defaults(func=check)


def check(args: argparse.Namespace) -> int:
    path = Path(args.file)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotFound(f"{path}: no such file") from None
    except OSError as exc:
        raise DialboxError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise DialboxError(f"{path}: not YAML or JSON: {exc}") from None
    try:
        strategy = parse_strategy(data, str(path))
    except StrategyError as exc:
        # like check-config: a file with problems exits 1 (2 and 3: a bad request, no file)
        if args.json:
            emit(args, {"ok": False, "problems": [str(exc)], "warnings": []})
        else:
            print(exc, file=sys.stderr)
        return 1
    warnings = strategy_warnings(strategy, str(path))
    document: dict[str, Any] = {
        "ok": True,
        "problems": [],
        "warnings": warnings,
        "strategy": to_dict(strategy),
    }
    emit(args, document, _text)
    return 0


def _text(document: dict[str, Any]) -> str:
    lines = [f"warning: {w}" for w in document["warnings"]]
    lines.append(f"ok: strategy {document['strategy']['name']!r}")
    return "\n".join(lines)
