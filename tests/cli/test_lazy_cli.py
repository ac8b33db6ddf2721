"""`dialbox` imports only the module of the command given (#21): `--version` starts at once."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from appliance.cli import COMMANDS, build_parser


def _helps(parser: argparse.ArgumentParser) -> dict[str, str | None]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return {a.dest: a.help for a in action._choices_actions}
    raise AssertionError("no subcommands")


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_the_help_listed_for_a_command_is_its_modules(command: str) -> None:
    """`dialbox --help` lists the table's lines; they must say what the modules say."""
    whole = _helps(build_parser(command))
    assert list(whole) == list(COMMANDS)  # every command, in the table's order
    assert whole[command] == COMMANDS[command][1]


def _imported_by(*argv: str) -> set[str]:
    script = (
        "import sys\n"
        "from appliance.cli import main\n"
        "try:\n"
        f"    main({list(argv)!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('\\n'.join(sys.modules), file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    return set(result.stderr.split())


def test_version_imports_no_command() -> None:
    modules = _imported_by("--version")
    assert not {m for m in modules if m.startswith("appliance.cli.")}
    assert not {"pydantic", "aiohttp", "apsw", "textual"} & modules


def test_why_imports_its_own_module_only() -> None:
    modules = _imported_by("why", "--help")
    assert "appliance.cli.plan" in modules
    assert not {"appliance.cli.run", "appliance.cli.demo", "appliance.daemon", "aiohttp"} & modules
