"""Read a YAML file someone else may have written, within hard limits on size, encoding, nesting,
aliases and nodes, so that a hostile file is refused at once instead of expanded (#18)."""

from __future__ import annotations

import codecs
import os
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.reader import ReaderError

# A complete config is a few KiB; nothing larger is read, and only this much is ever in memory.
MAX_BYTES = 1024 * 1024
# pyyaml's composer recurses once per level: refuse long before Python's recursion limit.
MAX_DEPTH = 64
# Every node, an alias counting as all the nodes it stands for ("billion laughs": 9 levels of
# 10 aliases stand for 10⁹ strings in a 600-byte file). A box with 128 lines and as many seats
# has about 3000; 20000 nodes take pyyaml about a second and 25 MB to read.
MAX_NODES = 20_000
MAX_ALIASES = 1000
# No number, bool, null or date is longer; turning digits into an int is quadratic in their
# number (YAML 1.1's base-60 `1:2:3` too).
MAX_NUMBER_CHARS = 100


class Refused(Exception):
    """Why the text was not read further, and the 1-based line where that was seen (if any)."""

    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def read_text(path: str | os.PathLike[str]) -> str:
    """The file as text: UTF-8 (a BOM allowed), at most MAX_BYTES — never more is read.

    Raises OSError when the file cannot be opened or read, Refused when it is too large or not
    UTF-8."""
    with open(path, "rb") as f:
        data = f.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise Refused(
            data.count(b"\n", 0, MAX_BYTES) + 1,
            f"refused: the file is larger than {MAX_BYTES // (1024 * 1024)} MiB, the limit for a "
            "config file (a complete one is a few KiB): is this the right file?",
        )
    bom = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        return data[bom:].decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = bom + exc.start
        raise Refused(
            data.count(b"\n", 0, offset) + 1,
            f"not UTF-8 text (byte 0x{data[offset]:02x} at offset {offset}); save it as UTF-8",
        ) from None


def compose(text: str) -> yaml.Node | None:
    """The document's node graph (aliases share their anchor's node), or None for an empty one.

    Raises Refused for invalid YAML and for anything past the limits above."""
    try:
        loader = _Loader(text)  # the reader checks every character here
        try:
            node: yaml.Node | None = loader.get_single_node()
        finally:
            loader.dispose()
    except ReaderError as exc:
        raise Refused(
            text.count("\n", 0, exc.position) + 1,
            f"not valid YAML: character U+{exc.character:04X} is not allowed here "
            "(a control character); remove it",
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        raise Refused(mark.line + 1 if mark else None, f"not valid YAML: {one_line(exc)}") from None
    except yaml.YAMLError as exc:
        raise Refused(None, f"not valid YAML: {one_line(exc)}") from None
    return node


def one_line(exc: Exception) -> str:
    """What a pyyaml error says, without its multi-line location (the caller gives file:line)."""
    problem = getattr(exc, "problem", None) or str(exc)
    return " ".join(str(problem).split())


class _Loader(yaml.SafeLoader):
    """pyyaml's safe loader, counting as it composes: nesting depth, alias uses, and the nodes
    the document expands to. The counts are checked before each node is composed, so the line
    of a refusal is where the limit was crossed."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0
        self._aliases = 0
        self._sizes: dict[yaml.Node, int] = {}  # anchored node → the nodes it expands to

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        line = event.start_mark.line + 1
        if isinstance(event, yaml.AliasEvent):
            node = super().compose_node(parent, index)
            size = self._sizes.get(node) if node is not None else None
            if size is None:  # the anchor is still being composed: the alias is inside it
                raise Refused(line, f"refused: the alias *{event.anchor} is inside its own anchor")
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise Refused(line, f"refused: more than {MAX_ALIASES} aliases (*name)")
            self._count(size, line)
            return node
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise Refused(line, f"refused: nested more than {MAX_DEPTH} levels deep")
        start = self._nodes
        self._count(1, line)
        node = super().compose_node(parent, index)
        self._depth -= 1
        if event.anchor is not None and node is not None:
            self._sizes[node] = self._nodes - start
        return node

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        # A plain scalar this long is text: pyyaml's implicit-type patterns would only
        # backtrack over it (to them `1:1:1:…` a megabyte long may be a base-60 number).
        if kind is yaml.ScalarNode and implicit[0] and len(value) > MAX_NUMBER_CHARS:
            return self.DEFAULT_SCALAR_TAG
        return super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]

    def _count(self, nodes: int, line: int) -> None:
        self._nodes += nodes
        if self._nodes > MAX_NODES:
            what = "aliases expand this file to" if self._aliases else "this file has"
            raise Refused(line, f"refused: {what} more than {MAX_NODES} nodes")


class Constructor(SafeConstructor):
    """Turns scalar nodes into values with the safe YAML rules, refusing over-long numbers.
    One per document: it remembers every node it constructed."""

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        if len(node.value) > MAX_NUMBER_CHARS:
            raise ConstructorError(
                None,
                None,
                f"a number of {len(node.value)} characters (at most {MAX_NUMBER_CHARS})",
                node.start_mark,
            )
        value: int = super().construct_yaml_int(node)
        return value


Constructor.yaml_constructors = {
    **SafeConstructor.yaml_constructors,
    "tag:yaml.org,2002:int": Constructor.construct_yaml_int,
}
