"""Bad flow files through `dialbox check-config`: each problem at its file:line with the node or
key path and what to do, all of them at once; the good files pass."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from appliance.cli import main
from appliance.config import ConfigError, load_config

GOOD = """\
menu:
  start: welcome
  nodes:
    welcome:
      play: welcome
      next: choose
    choose:
      ask: press-1-or-2
      on:
        "1": agent
        "2": bye
    agent:
      queue:
      overflow: bye
    bye:
      goodbye: thanks
"""

# name: (flow file, the line, the key path and a piece of the message)
CASES: dict[str, tuple[str, str]] = {
    "undefined node": (
        GOOD.replace('"2": bye', '"2": by'),
        ":11: menu.nodes.choose.on.2: no node named 'by' in flow menu (did you mean 'bye'?)",
    ),
    "undefined start": (
        GOOD.replace("start: welcome", "start: hello"),
        ":2: menu.start: no node named 'hello'",
    ),
    "missing prompt": (
        GOOD.replace("play: welcome", "play:"),
        ":5: menu.nodes.welcome.play: the prompt is missing: give a stored message's name",
    ),
    "missing prompt (empty)": (
        GOOD.replace("goodbye: thanks", "goodbye: ''"),
        ":16: menu.nodes.bye.goodbye: the prompt is missing",
    ),
    "malformed prompt": (
        GOOD.replace("play: welcome", 'play: "wel come\\""'),
        ":5: menu.nodes.welcome.play: 'wel come\"' is not a prompt name",
    ),
    "unreachable node": (
        GOOD + "    old:\n      hang_up:\n",
        ":17: menu.nodes.old: no way leads here from start (welcome): link to it",
    ),
    "digit collision": (
        GOOD.replace('"2": bye', '"1,2": bye'),
        ":11: menu.nodes.choose.on.1,2: input 1 is also in the branch '1' (line 10)",
    ),
    "range collision": (
        GOOD.replace('"1": agent', '"1-5": agent').replace('"2": bye', '"3": bye'),
        ":11: menu.nodes.choose.on.3: input 3 is also in the branch '1-5'",
    ),
    "key longer than digits": (
        GOOD.replace('"2": bye', '"22": bye'),
        ":11: menu.nodes.choose.on.22: 22 takes 2 keys but digits is 1: set digits: 2",
    ),
    "key not made of keys": (
        GOOD.replace('"2": bye', '"2a": bye'),
        ":11: menu.nodes.choose.on.2a: '2a' is not an input: use keys 0-9, * and #",
    ),
    "end key is a branch key": (
        GOOD.replace('"2": bye', '"#": bye').replace(
            "ask: press-1-or-2", "ask: p\n      end_key: '#'"
        ),
        ":12: menu.nodes.choose.on.#: '#' holds the end key #",
    ),
    "unquoted end key": (
        GOOD.replace("ask: press-1-or-2", "ask: p\n      end_key: #"),
        ':9: menu.nodes.choose.end_key: end_key is "#" or "*", quoted, not \'\' (a bare # starts',
    ),
    "typo in a key": (
        GOOD.replace("ask: press-1-or-2", "ask: p\n      timout: 3"),
        ":9: menu.nodes.choose.timout: unknown key 'timout' (did you mean 'timeout'?)",
    ),
    "a key of another kind": (
        GOOD.replace("ask: press-1-or-2", "ask: p\n      next: bye"),
        ":9: menu.nodes.choose.next: 'next' belongs to play and set",
    ),
    "typo in a kind": (
        GOOD.replace("play: welcome", "paly: welcome"),
        ":4: menu.nodes.welcome: the node does nothing: give it one of play, ask",
    ),
    "two kinds": (
        GOOD.replace("play: welcome", "play: welcome\n      hang_up:"),
        ":4: menu.nodes.welcome: a node does one thing; this one has play and hang_up",
    ),
    "negative timeout": (
        GOOD.replace("ask: press-1-or-2", "ask: p\n      timeout: -1"),
        ":9: menu.nodes.choose.timeout: a number of seconds above 0 to 60, not '-1'",
    ),
    "too many retries": (
        GOOD.replace("ask: press-1-or-2", "ask: p\n      retries: 1000"),
        ":9: menu.nodes.choose.retries: a whole number from 0 to 9, not '1000'",
    ),
    "a circle without a key": (
        GOOD.replace("overflow: bye", "overflow: again")
        + "    again:\n      play: hold\n      next: agent\n",
        ":12: menu.nodes.agent: agent → again → agent can go round with no key pressed",
    ),
    "give_up back to itself": (
        GOOD.replace('"2": bye', '"2": bye\n      give_up: choose'),
        ":7: menu.nodes.choose: choose → choose can go round with no key pressed",
    ),
    "$input with no input before": (
        GOOD.replace("play: welcome", "set: {bp1: $input}"),
        ":4: menu.nodes.welcome.bp1: $input may have no value here",
    ),
    "unknown $ word": (
        GOOD.replace("play: welcome", "set: {bp1: $inptu}"),
        ":5: menu.nodes.welcome.set.bp1: '$inptu' is not known: the only $ word is $input",
    ),
    "a field a flow may not set": (
        GOOD.replace("play: welcome", "set: {phone1: '0'}"),
        ":5: menu.nodes.welcome.set.phone1: a flow sets the contact's fields bp1..bp12",
    ),
    "opt-out without its prompt": (
        GOOD.replace("goodbye: thanks", "opt_out: confirm"),
        ":15: menu.nodes.bye.prompt: the prompt is missing",
    ),
    "bad flow name": (
        GOOD.replace("menu:", "../menu:", 1),
        ":1: ../menu: flow name '../menu' is not allowed",
    ),
    "not a flow file": ("- a\n- b\n", ":1: a flow file maps flow names to flows"),
    "empty flow file": ("", ":1: the file defines no flow"),
    "alias bomb": (
        'a: &a ["x","x","x","x","x","x","x","x","x","x"]\n'
        + "".join(
            f"{c}: &{c} [{', '.join([f'*{p}'] * 10)}]\n"
            for p, c in zip("abcdef", "bcdefg", strict=True)
        ),
        ":5: refused: aliases expand this file to more than 20000 nodes",
    ),
}


def _box(tmp_path: Path, flow_text: str, flows: str = "flows/*.yaml") -> Path:
    (tmp_path / "flows").mkdir(exist_ok=True)
    (tmp_path / "flows" / "main.yaml").write_text(flow_text)
    config = tmp_path / "dialbox.yaml"
    config.write_text(f"database: d.db\nflows:\n  - {flows}\n")
    return config


def test_good_flow_files_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _box(tmp_path, GOOD)
    assert main(["check-config", str(config)]) == 0
    assert capsys.readouterr().out.strip() == "ok"
    assert load_config(config).flows == (str(tmp_path / "flows" / "*.yaml"),)


@pytest.mark.parametrize("case", list(CASES))
def test_each_bad_flow_file_is_named_at_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    text, expected = CASES[case]
    config = _box(tmp_path, text)
    assert main(["check-config", str(config)]) == 1
    err = capsys.readouterr().err
    assert str(tmp_path / "flows" / "main.yaml") + expected in err, err
    assert "Traceback" not in err


def test_all_problems_at_once_through_the_real_command(tmp_path: Path) -> None:
    text = (
        GOOD.replace('"2": bye', '"2": by')
        .replace("play: welcome", "play:")
        .replace("ask: press-1-or-2", "ask: p\n      timout: 3")
        + "    old:\n      hang_up:\n"
    )
    config = _box(tmp_path, text)
    done = subprocess.run(
        [sys.executable, "-m", "appliance", "check-config", str(config)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    file = str(tmp_path / "flows" / "main.yaml")
    lines = done.stderr.splitlines()
    assert [line.split(": ")[0] for line in lines] == [
        f"{file}:5",
        f"{file}:9",
        f"{file}:12",
        f"{file}:18",
    ], done.stderr
    assert done.stdout == ""


def test_flow_names_that_match_no_file_are_named_at_their_config_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "dialbox.yaml"
    (tmp_path / "dir").mkdir()
    config.write_text("database: d.db\nflows:\n  - nothere.yaml\n  - ivr/*.yaml\n  - dir\n")
    assert main(["check-config", str(config)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"{config}:3: flows[0]: {tmp_path}/nothere.yaml: no such file; correct the name or remove it from flows:",
        f"{config}:4: flows[1]: {tmp_path}/ivr/*.yaml: matches no file; correct the name or remove it from flows:",
        f"{config}:5: flows[2]: {tmp_path}/dir: is a directory: name the files in it, e.g. flows/*.yaml; correct the name or remove it from flows:",
    ]


def test_a_flow_name_used_in_two_files_is_refused(tmp_path: Path) -> None:
    config = _box(tmp_path, GOOD)
    (tmp_path / "flows" / "other.yaml").write_text(GOOD)
    with pytest.raises(ConfigError) as info:
        load_config(config)
    [problem] = info.value.problems
    assert str(problem).startswith(f"{tmp_path}/flows/other.yaml:1: menu: a flow of this name is "
                                   f"also in {tmp_path}/flows/main.yaml:1")  # fmt: skip


def test_a_flow_over_the_size_bound_is_refused(tmp_path: Path) -> None:
    nodes = "".join(f"    n{i}: {{play: p, next: n{i + 1}}}\n" for i in range(200))
    config = _box(tmp_path, f"big:\n  start: n0\n  nodes:\n{nodes}    n200: {{hang_up: }}\n")
    with pytest.raises(ConfigError) as info:
        load_config(config)
    messages = [str(p) for p in info.value.problems]
    assert any(":3: big.nodes: 201 nodes; a flow has at most 200" in m for m in messages)
    assert any(":1: big: a silent caller is led through 201 nodes (n0 → … → n200)" in m
               for m in messages)  # fmt: skip


def test_a_long_silent_way_is_refused_even_in_a_small_enough_flow(tmp_path: Path) -> None:
    nodes = "".join(f"    n{i}: {{play: p, next: n{i + 1}}}\n" for i in range(101))
    config = _box(tmp_path, f"long:\n  start: n0\n  nodes:\n{nodes}    n101: {{hang_up: }}\n")
    with pytest.raises(ConfigError) as info:
        load_config(config)
    [problem] = info.value.problems
    assert "a silent caller is led through 102 nodes" in str(problem)


def test_a_huge_hostile_flow_file_gets_a_short_answer(tmp_path: Path) -> None:
    # 4900 nodes (under the YAML node limit), each linking to no node (4900 problems, and 4899
    # nodes unreachable), or all in one circle
    count = 4900
    dangling = "".join(f"    n{i}: {{goto: x{i}}}\n" for i in range(count))
    circle = "".join(f"    n{i}: {{goto: n{(i + 1) % count}}}\n" for i in range(count))
    for nodes, last in ((dangling, "and 9700 more problems"), (circle, None)):
        config = _box(tmp_path, f"big:\n  start: n0\n  nodes:\n{nodes}")
        with pytest.raises(ConfigError) as info:
            load_config(config)
        problems = [str(p) for p in info.value.problems]
        assert len(problems) <= 101
        assert ":3: big.nodes: 4900 nodes; a flow has at most 200" in problems[0]
        if last:
            assert problems[-1].endswith(last)
        else:
            assert problems[1].endswith(
                "big.nodes.n0: n0 → n1 → n2 → n3 → … (4900 nodes) … → n4898 → n4899 → n0 can go "
                "round with no key pressed, so a silent line would loop forever (an ask's "
                "give_up and an opt-out's cancel need no key): make the caller answer an ask "
                "on the way, or lead out of the circle"
            )


def test_a_name_a_megabyte_long_is_quoted_short(tmp_path: Path) -> None:
    name = "n" * 900_000
    config = _box(tmp_path, f"f:\n  start: a\n  nodes:\n    a: {{goto: {name}}}\n")
    with pytest.raises(ConfigError) as info:
        load_config(config)
    [problem] = info.value.problems
    assert len(str(problem)) < 1000
    assert problem.line == 4 and problem.message.startswith("no node named 'nnnn")
