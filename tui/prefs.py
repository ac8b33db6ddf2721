"""What the technician chose in the console and finds again at the next start: a small JSON file
under the user's config directory, `$XDG_CONFIG_HOME/dialbox/console.json` (else
`~/.config/dialbox/console.json`); `$DIALBOX_CONSOLE_PREFS` names another file (tests do).

A missing, unreadable or mangled file is no error: the console starts with its defaults and says
why once; a file it cannot write leaves the choice in force until the console closes."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def prefs_path() -> Path:
    named = os.environ.get("DIALBOX_CONSOLE_PREFS")
    if named:
        return Path(named).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base).expanduser() / "dialbox" / "console.json"


class Prefs:
    """Sections of plain JSON values (`prefs.get("contacts", "columns")`), written at once."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or prefs_path()
        self.problem: str | None = None  # why the file was not read or written, for a note
        self.data: dict[str, Any] = {}
        try:
            loaded = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            self.problem = f"console preferences in {self.path} not read ({exc}); using defaults"
            return
        if isinstance(loaded, dict):
            self.data = loaded
        else:
            self.problem = (
                f"console preferences in {self.path} are not a JSON object; using defaults"
            )

    def get(self, section: str, key: str, default: Any = None) -> Any:
        part = self.data.get(section)
        return part.get(key, default) if isinstance(part, dict) else default

    def set(self, section: str, key: str, value: Any) -> bool:
        """Keep the value and write the file (atomically); False, with `problem`, if it failed."""
        part = self.data.get(section)
        if not isinstance(part, dict):
            part = self.data[section] = {}
        part[key] = value
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(self.data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
            tmp.replace(self.path)
        except OSError as exc:
            self.problem = f"cannot save console preferences to {self.path}: {exc.strerror or exc}"
            return False
        self.problem = None
        return True
