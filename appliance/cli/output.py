"""Output conventions shared by every command: `--json` prints one JSON document and nothing else."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON document on stdout")


def emit(
    args: argparse.Namespace, document: Any, human: Callable[[Any], str] | None = None
) -> None:
    """Print `document` as JSON when --json was given, else its human form."""
    if getattr(args, "json", False):
        json.dump(document, sys.stdout, ensure_ascii=False, default=str)
        sys.stdout.write("\n")
    elif human is not None:
        text = human(document)
        if text:
            print(text)
    else:
        print(json.dumps(document, ensure_ascii=False, indent=2, default=str))


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """A plain fixed-width text table."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
