"""`dialbox check-config` on files an attacker wrote: each is refused at once, in one line that
names the file (and the line, where there is one), with exit status 1 and no traceback (#18)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest


def _alias_bomb(path: Path) -> None:
    # "billion laughs": 9 levels of 10 aliases would expand to 10⁹ strings
    lines = ["database: x.db", 'lol0: &l0 "lol"']
    for i in range(1, 10):
        lines.append(f"lol{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]")
    path.write_text("\n".join(lines) + "\n")


def _huge(path: Path) -> None:
    # 64 MiB of comments after a valid line (sparse: the test box's disk is not filled)
    with path.open("w") as f:
        f.write("database: x.db\n")
        f.truncate(64 * 1024 * 1024)


def _deep(path: Path) -> None:
    path.write_text("database: x.db\nx: " + "[" * 100_000 + "\n")


def _binary(path: Path) -> None:
    path.write_bytes(b"\xff\xfe" + bytes(range(256)) * 4)


def _latin1(path: Path) -> None:
    path.write_bytes(b"database: x.db\n# Zo\xf3\nregion: PL\n")


def _cycle(path: Path) -> None:
    path.write_text("database: x.db\nx: &a [*a]\n")


def _unknown_tag(path: Path) -> None:
    path.write_text("database: x.db\nregion: !shell rm\n")


def _long_number(path: Path) -> None:
    path.write_text("database: x.db\napi:\n  port: !!int " + "9" * 5000 + "\n")


def _sexagesimal(path: Path) -> None:
    # YAML 1.1 base-60 integers: 1:1:1:… costs quadratic time to turn into an int
    path.write_text("database: x.db\napi:\n  port: !!int 1" + ":1" * 300_000 + "\n")


def _control_character(path: Path) -> None:
    path.write_text("database: x.db\nregion: P\x00L\n")


CASES: dict[str, tuple[Callable[[Path], None], str]] = {
    "alias bomb": (_alias_bomb, ":7: refused: aliases expand this file to more than 20000 nodes"),
    "64 MiB file": (_huge, ": refused: the file is larger than 1 MiB"),
    "100k nesting": (_deep, ":2: refused: nested more than 64 levels deep"),
    "binary": (_binary, ":1: not UTF-8 text (byte 0xff at offset 0); save it as UTF-8"),
    "latin-1 comment": (_latin1, ":2: not UTF-8 text (byte 0xf3 at offset 19); save it as UTF-8"),
    "alias cycle": (_cycle, ":2: refused: the alias *a is inside its own anchor"),
    "unknown tag": (_unknown_tag, ":2: region: cannot read this value:"),
    "5000-digit number": (_long_number, ":3: api.port: cannot read this value: a number of 5000"),
    "base-60 number": (_sexagesimal, ":3: api.port: cannot read this value: a number of 600001"),
    "NUL character": (_control_character, ":2: not valid YAML: character U+0000"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_file_is_refused_in_one_line(tmp_path: Path, case: str) -> None:
    make, expected = CASES[case]
    path = tmp_path / "hostile.yaml"
    make(path)
    done = subprocess.run(
        [sys.executable, "-m", "appliance", "check-config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr[-2000:]
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr[-2000:]
    assert lines[0].startswith(str(path) + ":"), lines[0]
    assert expected in lines[0], lines[0]
    assert done.stdout == ""
