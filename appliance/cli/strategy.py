"""`dialbox strategy show|set|edit|check`: a campaign's call strategy (SPEC C4) in the YAML form
docs/scheduler.md shows — read, replaced from a file or stdin, edited in $VISUAL/$EDITOR, or a
file checked. Like the other campaign commands these work on the store; the dial loop reads the
strategy at its next dial (C9)."""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from appliance import campaign_strategy
from appliance.cli.context import open_context
from appliance.cli.output import add_json_flag, emit
from appliance.domain import Outcome
from appliance.errors import DialboxError, NotFound
from appliance.scheduler.strategy import (
    DEFAULT_STRATEGY,
    Strategy,
    StrategyError,
    parse_strategy,
    strategy_warnings,
    to_dict,
)
from appliance.store import campaigns as store


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("strategy", help="show, set, edit and check call strategies (SPEC C4)")
    ssub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    sh = ssub.add_parser("show", help="print a campaign's strategy as YAML (the form `set` reads)")
    sh.add_argument("campaign")
    add_json_flag(sh)
    sh.set_defaults(func=show)
    st = ssub.add_parser(
        "set", help="check a strategy file (YAML or JSON) and make it the campaign's own"
    )
    st.add_argument("campaign")
    st.add_argument("file", help="the strategy as YAML or JSON; - reads stdin")
    add_json_flag(st)
    st.set_defaults(func=set_)
    ed = ssub.add_parser(
        "edit",
        help="edit a campaign's strategy in $VISUAL or $EDITOR; checked when saved, "
        "reopened with the error on top until it parses; unchanged or emptied: nothing changes",
    )
    ed.add_argument("campaign")
    ed.set_defaults(func=edit)
    c = ssub.add_parser(
        "check",
        help="parse a strategy file; errors name the key, warnings name terminal outcomes it changes",
    )
    c.add_argument("file", help="the strategy as YAML or JSON; - reads stdin")
    add_json_flag(c)
    c.set_defaults(func=check)


# -- the YAML form ---------------------------------------------------------------------------


def _flow(value: Any) -> str:
    """One value in YAML's flow style: `retry 2h`, `{channel: voice, phone: 1}`, `'on'`."""
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, allow_unicode=True)
    return text.removesuffix("\n").removesuffix("\n...")


def to_yaml(strategy: Strategy) -> str:
    """The strategy as docs/scheduler.md writes one; `parse_strategy` reads it back the same."""
    data = to_dict(strategy)
    lines = [f"name: {_flow(data['name'])}", "attempts:"]
    lines += [f"  - {_flow(attempt)}" for attempt in data["attempts"]]
    lines.append(f"repeat_last: {_flow(data['repeat_last'])}")
    lines.append("on:" if data["on"] else "on: {}")
    lines += [f"  {_flow(outcome)}: {_flow(action)}" for outcome, action in data["on"].items()]
    if data["steps_on"]:
        lines.append("steps_on:")
        for step, actions in data["steps_on"].items():
            lines.append(f"  {int(step)}: {_flow(actions)}")
    return "\n".join(lines) + "\n"


_FORMS = [
    "Actions: retry [DELAY], next_number [DELAY], sms [DELAY], block [DELAY], close [STATE]",
    "  as text (NoAnswer: retry 30m) or a mapping (Busy: {action: sms, after: 5m}).",
    "Delays: 90s, 30m, 2h, 1d, 1h30m or seconds. Attempts: {channel: voice|sms,",
    "  phone: 1..5|next|same, wait: DELAY (SMS: wait for a reply)}. docs/scheduler.md.",
]


def _comments(strategy: Strategy, warnings: list[str], forms: bool = False) -> list[str]:
    """The comments above the strategy: the forms (for an editor), what the outcomes it does
    not name get (its `default`, or the built-in action of a terminal one), its warnings."""
    lines = list(_FORMS) if forms else []
    open_ = [o for o in Outcome if o not in strategy.named]
    if open_:
        lines.append("Not named, so `default` or (terminal outcomes) the built-in action:")
        lines += [f"  {o.label}: {strategy.on[o].text()}" for o in open_]
    lines += [f"warning: {w}" for w in warnings]
    return [f"# {line}".rstrip() for line in lines]


# -- reading a file --------------------------------------------------------------------------


def _read(name: str) -> tuple[str, str]:
    """The text of FILE (or stdin for `-`) and how errors name it."""
    if name == "-":
        return sys.stdin.read(), "stdin"
    path = Path(name)
    try:
        return path.read_text(encoding="utf-8"), str(path)
    except FileNotFoundError:
        raise NotFound(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise DialboxError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise DialboxError(f"{path}: cannot read it: {exc.strerror or exc}") from None


def _parse(text: str, source: str) -> Strategy:
    """The strategy in `text` (YAML or JSON); a StrategyError says what is wrong and where."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise StrategyError(f"{source}: not YAML or JSON: {exc}") from None
    return parse_strategy(data, source)


def _problem(args: argparse.Namespace, exc: StrategyError) -> int:
    # like check-config: a strategy with problems exits 1 (2 and 3: a bad request, no file)
    if args.json:
        emit(args, {"ok": False, "problems": [str(exc)], "warnings": []})
    else:
        print(f"dialbox: error: {exc}", file=sys.stderr)
    return 1


# -- the commands ----------------------------------------------------------------------------


def show(args: argparse.Namespace) -> int:
    ctx = open_context(args)
    campaign = store.get_campaign(ctx.db, args.campaign)
    found = campaign_strategy.in_force(ctx.db, campaign)
    if args.json:
        emit(args, campaign_strategy.document(found.strategy))
        return 0
    where = f"stored as {found.stored_as!r}" if found.stored_as else "the built-in default"
    head = f"# campaign {campaign.name}: {where}; change it with `dialbox strategy edit {campaign.name}`"
    print(head)
    for line in _comments(found.strategy, strategy_warnings(found.strategy)):
        print(line)
    print(to_yaml(found.strategy), end="")
    return 0


def set_(args: argparse.Namespace) -> int:
    ctx = open_context(args)
    campaign = store.get_campaign(ctx.db, args.campaign)
    text, source = _read(args.file)
    try:
        strategy = _parse(text, source)
    except StrategyError as exc:
        return _problem(args, exc)
    stored = campaign_strategy.replace(ctx.db, campaign, strategy, ctx.clock.now(), ctx.actor)
    document = {"ok": True, "stored_as": stored, **campaign_strategy.document(strategy)}
    emit(args, document, lambda d: _stored_text(campaign.name, d))
    return 0


def _stored_text(campaign: str, document: dict[str, Any]) -> str:
    lines = [f"warning: {w}" for w in document["warnings"]]
    lines.append(
        f"campaign {campaign}: strategy {document['name']!r} stored as {document['stored_as']!r};"
        " it applies from the next dial"
    )
    return "\n".join(lines)


def check(args: argparse.Namespace) -> int:
    text, source = _read(args.file)
    try:
        strategy = _parse(text, source)
    except StrategyError as exc:
        return _problem(args, exc)
    document: dict[str, Any] = {
        "ok": True,
        "problems": [],
        "warnings": strategy_warnings(strategy, source),
        "strategy": to_dict(strategy),
    }
    emit(args, document, _checked_text)
    return 0


def _checked_text(document: dict[str, Any]) -> str:
    lines = [f"warning: {w}" for w in document["warnings"]]
    lines.append(f"ok: strategy {document['strategy']['name']!r}")
    return "\n".join(lines)


# -- edit ------------------------------------------------------------------------------------

_ERROR_MARK = "# ERROR: "


def _editor() -> list[str]:
    command = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    try:
        words = shlex.split(command)
    except ValueError as exc:
        raise DialboxError(f"$VISUAL/$EDITOR {command!r} cannot be read: {exc}") from None
    if not words:
        raise DialboxError("$VISUAL/$EDITOR is empty; set it to an editor, e.g. EDITOR=nano")
    return words


def _run_editor(editor: list[str], path: Path) -> None:
    try:
        done = subprocess.run([*editor, str(path)], check=False)
    except OSError as exc:
        raise DialboxError(
            f"cannot start the editor {editor[0]!r}: {exc.strerror or exc}; set $VISUAL or $EDITOR"
        ) from None
    if done.returncode != 0:
        raise DialboxError(
            f"the editor {editor[0]!r} exited with status {done.returncode}; nothing changed"
        )


def _without_errors(text: str) -> str:
    """The text without the error block a previous round put on top."""
    lines = text.splitlines(keepends=True)
    while lines and (lines[0].startswith(_ERROR_MARK) or lines[0].startswith("#   ")):
        lines.pop(0)
    return "".join(lines)


def _with_error(text: str, error: str) -> str:
    message = str(error).splitlines() or [""]
    block = [_ERROR_MARK + message[0]] + [f"#   {line}" for line in message[1:]]
    block.append("#   Fix it and save to try again; save it unchanged or empty to give up.")
    return "\n".join(block) + "\n" + _without_errors(text)


def _blank(text: str) -> bool:
    return all(not line.strip() or line.lstrip().startswith("#") for line in text.splitlines())


def edit(args: argparse.Namespace) -> int:
    ctx = open_context(args)
    campaign = store.get_campaign(ctx.db, args.campaign)
    editor = _editor()
    try:
        current: Strategy | None = campaign_strategy.in_force(ctx.db, campaign).strategy
        problem = None
    except DialboxError as exc:  # the strategy it names is gone or no longer parses: anew
        current, problem = None, str(exc)
    start = current or DEFAULT_STRATEGY
    head = [
        f"# The call strategy of campaign {campaign.name}. Save to store it; save it unchanged",
        "# or empty to change nothing.",
    ]
    original = "\n".join(head + _comments(start, strategy_warnings(start), True)) + "\n"
    original += to_yaml(start)
    if problem is not None:
        original = _with_error(original, problem)
    strategy, code = _edit_until_valid(editor, original, campaign.name)
    if strategy is None:
        return code
    if current is not None and to_dict(strategy) == to_dict(current):
        print(f"no changes: campaign {campaign.name}'s strategy stays", file=sys.stderr)
        return 0
    stored = campaign_strategy.replace(ctx.db, campaign, strategy, ctx.clock.now(), ctx.actor)
    print(
        _stored_text(campaign.name, {"stored_as": stored, **campaign_strategy.document(strategy)})
    )
    return 0


def _edit_until_valid(
    editor: list[str], original: str, campaign: str
) -> tuple[Strategy | None, int]:
    """The strategy the editor leaves in a temporary file, opened again with the error on top
    until it parses; (None, exit status) when the person gives up: saved unchanged (0), empty
    or with the same error again (1; the text kept in a file named on stderr)."""
    with tempfile.TemporaryDirectory(prefix="dialbox-strategy-") as folder:
        path = Path(folder) / "strategy.yaml"
        path.write_text(original, encoding="utf-8")
        shown = original
        while True:
            _run_editor(editor, path)
            text = path.read_text(encoding="utf-8", errors="replace")
            if _blank(text):
                print("the file is empty: nothing changed", file=sys.stderr)
                return None, 1
            if text == original:
                print(f"no changes: campaign {campaign}'s strategy stays", file=sys.stderr)
                return None, 0
            try:
                return _parse(text, "strategy"), 0
            except StrategyError as exc:
                if text == shown:  # saved again without a change: give up, keep the text
                    fd, name = tempfile.mkstemp(prefix="dialbox-strategy-", suffix=".yaml")
                    os.close(fd)
                    Path(name).write_text(_without_errors(text), encoding="utf-8")
                    print(
                        f"dialbox: error: {exc}\nnothing changed; your text is in {name}"
                        f" (`dialbox strategy set {campaign} {name}` once it is fixed)",
                        file=sys.stderr,
                    )
                    return None, 1
                shown = _with_error(text, str(exc))
                path.write_text(shown, encoding="utf-8")
