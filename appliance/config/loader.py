"""Find, read and validate dialbox.yaml; every error names the file, line and key (SPEC O1)."""

from __future__ import annotations

import glob
import itertools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import ValidationError

from appliance.config.models import DialboxConfig

# Problem and ConfigError live in problems.py (stdlib only) and are used from here too.
from appliance.config.problems import ConfigError as ConfigError
from appliance.config.problems import Problem as Problem
from appliance.config.safeyaml import Constructor, Refused, compose, one_line, read_text

if TYPE_CHECKING:
    from appliance.flows import Flows

SYSTEM_CONFIG = Path("/etc/dialbox/dialbox.yaml")
_Path = tuple[str | int, ...]
_MESSAGE_CHARS = 300


def state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "dialbox"


def resolve_config_path(explicit: str | os.PathLike[str] | None) -> Path | None:
    """--config FILE, else $DIALBOX_CONFIG, else /etc/dialbox/dialbox.yaml if present, else None."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("DIALBOX_CONFIG")
    if env:
        return Path(env)
    if SYSTEM_CONFIG.exists():
        return SYSTEM_CONFIG
    return None


def default_config() -> DialboxConfig:
    """Built-in defaults: the database under $XDG_STATE_HOME/dialbox/."""
    return DialboxConfig(database=state_dir() / "dialbox.db")


def load_config(path: str | os.PathLike[str] | None = None) -> DialboxConfig:
    """Load the config found by the shared lookup rule (or `path`); defaults when there is none."""
    found = resolve_config_path(path)
    if found is None:
        return default_config()
    return parse_config(read_config_text(found), str(found), base_dir=found.resolve().parent)


def read_config_text(path: Path) -> str:
    """The file's text, read within the limits of safeyaml (size, UTF-8); ConfigError if not."""
    try:
        return read_text(path)
    except OSError as exc:
        raise ConfigError([Problem(str(path), None, "", f"cannot read: {exc.strerror}")]) from None
    except Refused as exc:
        raise ConfigError([Problem(str(path), exc.line, "", exc.message)]) from None


def compose_config(text: str, filename: str) -> yaml.Node | None:
    """The YAML node graph of a config's text, within safeyaml's limits; ConfigError if not."""
    try:
        return compose(text)
    except Refused as exc:
        raise ConfigError([Problem(filename, exc.line, "", exc.message)]) from None


def parse_config(text: str, filename: str, base_dir: Path | None = None) -> DialboxConfig:
    lines: dict[_Path, int] = {}
    node = compose_config(text, filename)
    problems: list[Problem] = []
    data: Any = {}
    if node is not None:
        # One constructor per document: it keeps every node it has constructed.
        data = _to_python(node, (), lines, problems, filename, Constructor())
    if problems:
        raise ConfigError(problems)
    if not isinstance(data, dict):
        raise ConfigError(
            [Problem(filename, 1, "", "the file must be a mapping of keys to values")]
        )
    data.setdefault("database", str(state_dir() / "dialbox.db"))
    try:
        config = DialboxConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_problems(exc, filename, lines)) from None
    config = _resolve_paths(config, base_dir) if base_dir else config
    if config.flows:
        config_flows(config, filename, lines)  # a bad flow file stops the box like a bad key
    return config


def config_flows(
    config: DialboxConfig, filename: str = "dialbox.yaml", lines: Mapping[_Path, int] | None = None
) -> Flows:
    """The call flows defined by the files `flows:` names (relative names were made absolute
    when the file was loaded); ConfigError with every problem: a name that matches no file (at
    its line in the config file), and each flow file's own."""
    # Imported here: appliance.flows reads with safeyaml, and importing that runs this package.
    from appliance.flows import load_flows
    from appliance.flows.model import MAX_FILES

    files: dict[str, None] = {}  # in order, each once
    problems: list[Problem] = []
    for i, pattern in enumerate(config.flows):
        line = (lines or {}).get(("flows", i)) or (lines or {}).get(("flows",))
        if glob.escape(pattern) == pattern:  # a plain file name
            found = [pattern] if os.path.isfile(pattern) else []
            why = "is a directory: name the files in it, e.g. flows/*.yaml" if os.path.isdir(
                pattern) else "no such file"  # fmt: skip
        else:
            # iglob, not recursive, and no further than a flow file too many: `/*/*/*` is
            # refused (too many files) without walking the whole disk.
            matches = (p for p in glob.iglob(pattern) if os.path.isfile(p))
            found = sorted(itertools.islice(matches, MAX_FILES + 1))
            why = "matches no file"
        if not found:
            problems.append(Problem(filename, line, f"flows[{i}]", f"{pattern}: {why}; correct "
                                    "the name or remove it from flows:"))  # fmt: skip
        files.update(dict.fromkeys(found))
    if problems:
        raise ConfigError(problems)
    return load_flows(files)


def _to_python(
    node: yaml.Node,
    path: _Path,
    lines: dict[_Path, int],
    problems: list[Problem],
    filename: str,
    constructor: Constructor,
) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = str(_scalar(key_node, path, problems, filename, constructor))
            if key in result:
                problems.append(
                    Problem(
                        filename,
                        key_node.start_mark.line + 1,
                        _dotted((*path, key)),
                        "key given twice",
                    )
                )
                continue
            child = (*path, key)
            result[key] = _to_python(value_node, child, lines, problems, filename, constructor)
            lines[child] = key_node.start_mark.line + 1
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _to_python(item, (*path, i), lines, problems, filename, constructor)
            for i, item in enumerate(node.value)
        ]
    return _scalar(node, path, problems, filename, constructor)


def _scalar(
    node: yaml.Node, path: _Path, problems: list[Problem], filename: str, constructor: Constructor
) -> Any:
    """A scalar's value; an unknown tag (`!shell`) or an over-long number is a problem."""
    try:
        return constructor.construct_object(node, deep=True)
    except (yaml.YAMLError, ValueError) as exc:
        line = node.start_mark.line + 1
        message = f"cannot read this value: {one_line(exc)}"
        problems.append(Problem(filename, line, _dotted(path), message))
        return None


def _dotted(path: _Path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _problems(exc: ValidationError, filename: str, lines: Mapping[_Path, int]) -> list[Problem]:
    problems = []
    for error in exc.errors():
        loc: _Path = tuple(p for p in error["loc"] if isinstance(p, str | int))
        # pydantic reports model validators at the model's own path and aliases by alias name
        loc = tuple("import" if p == "import_" else p for p in loc)
        line = None
        for cut in range(len(loc), -1, -1):
            if loc[:cut] in lines:
                line = lines[loc[:cut]]
                break
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = f"unknown key {loc[-1]!r}" + _allowed_hint(loc)
        elif error["type"] == "missing":
            message = "required key is missing"
        message = message.removeprefix("Value error, ")
        if len(message) > _MESSAGE_CHARS:  # it quotes the value, and that may be a megabyte
            message = message[:_MESSAGE_CHARS] + "…"
        problems.append(Problem(filename, line, _dotted(loc), message))
    return problems


def _allowed_hint(loc: _Path) -> str:
    model: Any = DialboxConfig
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = _field(model, part)
        if field is None:
            return ""
        model = _model_of(field.annotation)
        if model is None:
            return ""
    names = sorted(f.alias or name for name, f in model.model_fields.items())
    return f" (allowed here: {', '.join(names)})"


def _field(model: Any, name: str) -> Any:
    for fname, field in model.model_fields.items():
        if name in (fname, field.alias):
            return field
    return None


def _model_of(annotation: Any) -> Any:
    from typing import get_args

    from pydantic import BaseModel

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def _resolve_paths(config: DialboxConfig, base: Path) -> DialboxConfig:
    def fix(p: Path | None) -> Path | None:
        return None if p is None or p.is_absolute() else Path(os.path.normpath(base / p))

    updates: dict[str, Any] = {}
    if fix(config.database):
        updates["database"] = fix(config.database)
    if config.store is not None and fix(config.store.password_file):
        updates["store"] = config.store.model_copy(
            update={"password_file": fix(config.store.password_file)}
        )
    imp = config.import_
    if fix(imp.hot_folder):
        updates["import_"] = imp.model_copy(update={"hot_folder": fix(imp.hot_folder)})
    if fix(config.api.socket):
        updates["api"] = config.api.model_copy(update={"socket": fix(config.api.socket)})
    for key in ("recordings", "prompts"):  # the audio path's directories (#24)
        section = getattr(config, key)
        if fix(section.directory):
            updates[key] = section.model_copy(update={"directory": fix(section.directory)})
    if config.email is not None:  # the relay's files (#26)
        relay = config.email.relay
        files = {k: fix(getattr(relay, k)) for k in ("password_file", "ca_file")}
        files = {k: v for k, v in files.items() if v is not None}
        email_updates: dict[str, Any] = {}
        if files:
            email_updates["relay"] = relay.model_copy(update=files)
        imap = config.email.imap
        if imap is not None:
            found = {k: fix(getattr(imap, k)) for k in ("password_file", "ca_file")}
            found = {k: v for k, v in found.items() if v is not None}
            if found:
                email_updates["imap"] = imap.model_copy(update=found)
        if email_updates:
            updates["email"] = config.email.model_copy(update=email_updates)
    if config.flows:  # names and globs of flow files, relative to the config file
        updates["flows"] = tuple(os.path.normpath(base / p) for p in config.flows)
    return config.model_copy(update=updates) if updates else config
