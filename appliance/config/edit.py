"""Changing the config file from the console's first-run setup: region, time zone, compliance
profile, calling hours (the box's, and the custom profile's), holidays, the lines' names and which campaigns a line is pinned to — with the technician's comments kept
(ruamel.yaml round-trips them), validated exactly as `dialbox check-config` would before the
file is replaced (atomically), so a bad change never reaches the disk."""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from appliance.config.loader import (
    ConfigError,
    Problem,
    compose_config,
    parse_config,
    read_config_text,
)
from appliance.config.models import DialboxConfig

BOX_KEYS = ("region", "timezone", "compliance_profile", "holidays_country")


def _yaml() -> YAML:
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 100
    return yaml


def edit_config(path: Path, changes: dict[str, Any]) -> tuple[DialboxConfig, bool]:
    """Apply `changes` to the file at `path`; returns the new config and whether the lines
    changed (the daemon opens lines only at start). Raises ConfigError, naming the file, line
    and key, and leaves the file alone when the result would not load."""
    yaml = _yaml()
    text = read_config_text(path)
    # ruamel.yaml has no limits of its own: the file passes check-config's (size, nesting,
    # aliases, nodes) before ruamel reads it.
    compose_config(text, str(path))
    data = yaml.load(text) or CommentedMap()
    for key in BOX_KEYS:
        if key in changes:
            if changes[key] in (None, ""):
                data.pop(key, None)
            else:
                data[key] = changes[key]
    if "calling_hours" in changes:
        hours = changes["calling_hours"]
        data["calling_hours"] = CommentedMap([("start", hours["start"]), ("end", hours["end"])])
    if "custom_calling_hours" in changes:  # the custom profile's own hours (it ignores the above)
        compliance = data.setdefault("compliance", CommentedMap())
        compliance["calling_hours"] = changes["custom_calling_hours"]
    lines_changed = False
    for device, name in (changes.get("name_lines") or {}).items():
        lines = data.setdefault("lines", CommentedSeq())
        for line in lines:
            if str(line.get("device")) == device:
                if line.get("name") != name:
                    line["name"] = name
                    lines_changed = True
                break
        else:
            lines.append(CommentedMap([("name", name), ("device", device)]))
            lines_changed = True
    for name, campaigns in (changes.get("pin_lines") or {}).items():
        for line in data.get("lines") or []:
            if str(line.get("name")) == name:
                if campaigns:
                    line["campaigns"] = list(campaigns)
                else:
                    line.pop("campaigns", None)
                break
        else:
            raise ConfigError([Problem(str(path), None, "lines", f"no line named {name!r} to pin")])
    out = io.StringIO()
    yaml.dump(data, out)
    new_text = out.getvalue()
    config = parse_config(new_text, str(path), base_dir=path.resolve().parent)
    _replace(path, new_text)
    return config, lines_changed


def _replace(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        mode = path.stat().st_mode & 0o777
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
