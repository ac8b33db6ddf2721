"""The `dialbox` command: one argparse tree; each subcommand lives in its own module here."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import sys
from collections.abc import Sequence

from appliance import __version__
from appliance.errors import DialboxError

# Every command: the module that registers it (`register(subparsers)`, which sets `func` on
# the parsers it adds) and its one line of help. Only the module of the command given is
# imported: the others (aiohttp, pydantic, the daemon's wiring) cost a second and more, and
# `dialbox --version` imports none. tests/cli/test_lazy_cli.py holds these lines to the modules'.
COMMANDS: dict[str, tuple[str, str]] = {
    "check-config": ("appliance.cli.check_config", "validate a config file"),
    "campaign": ("appliance.cli.campaign", "create, list, show and change campaigns"),
    "import": (
        "appliance.cli.importer",
        "import a contact file into a campaign, or watch a hot folder",
    ),
    "dnc": ("appliance.cli.dnc", "do-not-call lists: add, remove, check, list, import"),
    "export": ("appliance.cli.export", "export a campaign's contacts or attempts as CSV or JSON"),
    "report": (
        "appliance.cli.report",
        "reports per agent, line or campaign over a period, by hour or day",
    ),
    "plan": (
        "appliance.cli.plan",
        "list the next dials a campaign would make, without dialing or changing anything",
    ),
    "why": ("appliance.cli.plan", "why a campaign dials nothing or fewer than it could"),
    "strategy": (
        "appliance.cli.strategy",
        "show, set, edit and check call strategies (SPEC C4)",
    ),
    "doctor": (
        "appliance.cli.doctor",
        "check the records' invariants (stranded contacts, leases, outcomes, limits,"
        " integrity); exit 1 on any violation",
    ),
    "demo": (
        "appliance.cli.demo",
        "run the sample campaigns on emulated modems and a local database",
    ),
    "lines": ("appliance.cli.lines", "probe and test lines (modem ports)"),
    "emulate": ("appliance.cli.emulate", "run emulated line hardware"),
    "run": ("appliance.cli.run", "run the daemon in the foreground"),
    "console": (
        "appliance.cli.console",
        "the technician's console (Textual), a client of the running daemon",
    ),
    "token": ("appliance.cli.token", "create, list and revoke API tokens"),
    "db": ("appliance.cli.db", "the store's schema: migrate, check, back up"),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The `dialbox` parser with `command` whole (its module imported and registered) and
    every other command as a stub that has only its name and help."""
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
    chosen = COMMANDS[command][0] if command in COMMANDS else None
    registered = False
    for name, (module_name, text) in COMMANDS.items():
        if module_name == chosen:
            if not registered:  # one module may add several commands (plan, why)
                registered = True
                importlib.import_module(module_name).register(sub)
        elif importlib.util.find_spec(module_name) is not None:  # else not part of this build
            # Every option and argument is the module's: a stub takes none (not even -h).
            sub.add_parser(name, help=text, add_help=False)
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
    argv = list(sys.argv[1:] if argv is None else argv)
    # argparse itself finds the command (options before it, abbreviations, --help, --version
    # and a missing or unknown command are answered here), then its module is imported.
    known, _ = build_parser().parse_known_args(argv)
    args = build_parser(known.command).parse_args(argv)
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
