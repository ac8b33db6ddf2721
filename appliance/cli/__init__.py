"""The `dialbox` command: one argparse tree; each subcommand lives in its own module here."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from appliance import __version__
from appliance.errors import DialboxError

# Each module defines `register(subparsers)` and sets `func` on the parsers it adds.
COMMAND_MODULES: tuple[str, ...] = (
    "appliance.cli.check_config",
    "appliance.cli.campaign",
    "appliance.cli.importer",
    "appliance.cli.dnc",
    "appliance.cli.export",
    "appliance.cli.plan",
    "appliance.cli.strategy",
    "appliance.cli.doctor",
    "appliance.cli.demo",
    "appliance.cli.lines",
    "appliance.cli.emulate",
    "appliance.cli.run",
    "appliance.cli.console",
    "appliance.cli.token",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dialbox",
        description="dialbox: outbound campaign dialer appliance",
    )
    parser.add_argument("--version", action="version", version=f"dialbox {__version__}")
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="config file (else $DIALBOX_CONFIG, else /etc/dialbox/dialbox.yaml, else defaults)",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue  # a command whose module is not part of this build
        module.register(sub)
    _accept_global_options(parser)
    return parser


def _accept_global_options(parser: argparse.ArgumentParser) -> None:
    """Let `--config FILE` and `-v` follow any subcommand too (`dialbox import --config X …`)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                if "--config" not in child._option_string_actions:
                    child.add_argument(
                        "--config",
                        metavar="FILE",
                        default=argparse.SUPPRESS,
                        help=argparse.SUPPRESS,
                    )
                if "-v" not in child._option_string_actions:
                    child.add_argument(
                        "-v",
                        "--verbose",
                        action="count",
                        default=argparse.SUPPRESS,
                        help=argparse.SUPPRESS,
                    )
                _accept_global_options(child)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        result = args.func(args)
    except DialboxError as exc:
        print(f"dialbox: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    return int(result or 0)
