"""Reading flow files: each within safeyaml's limits, every problem of every file (file:line,
the key path, what to do) gathered into one ConfigError, the way dialbox.yaml's are."""

from __future__ import annotations

import os
from collections.abc import Iterable

from appliance.config.problems import ConfigError, Problem
from appliance.config.safeyaml import Refused, read_text
from appliance.flows import model as m
from appliance.flows.check import check_flow
from appliance.flows.parse import parse_file

MAX_PROBLEMS = 100  # shown for one file
MAX_CHARS = 300  # of a problem's key path and of its message (a name may be a megabyte long)


def load_flows(paths: Iterable[str | os.PathLike[str]]) -> dict[str, m.Flow]:
    """The flows of these files by name; ConfigError with every problem if any file has one."""
    problems: list[Problem] = []
    flows: dict[str, m.Flow] = {}
    files = list(paths)
    if len(files) > m.MAX_FILES:
        raise ConfigError([Problem(str(files[m.MAX_FILES]), None, "",
                                   f"{len(files)} flow files; at most {m.MAX_FILES}: put "
                                   "several flows in one file")])  # fmt: skip
    for path in files:
        file = str(path)
        try:
            text = read_text(path)
        except OSError as exc:
            problems.append(Problem(file, None, "", f"cannot read: {exc.strerror or exc}"))
            continue
        except Refused as exc:
            problems.append(Problem(file, exc.line, "", exc.message))
            continue
        parsed, found = parse_file(text, file)
        for item in parsed:
            found.extend(Problem(file, *issue) for issue in check_flow(item.flow, item.broken))
            flow = item.flow
            other = flows.get(flow.name)
            if other is not None:
                found.append(Problem(file, flow.line, flow.name,
                                     f"a flow of this name is also in {other.file}:{other.line}; "
                                     "flow names are unique across the flow files: rename one"))  # fmt: skip
            else:
                flows[flow.name] = flow
        found = sorted((_bounded(p) for p in found), key=lambda p: p.line or 0)
        if len(found) > MAX_PROBLEMS:  # a hostile or wrong file: the first ones say enough
            more = len(found) - MAX_PROBLEMS
            found[MAX_PROBLEMS:] = [Problem(file, None, "", f"and {more} more problems")]
        problems.extend(found)
    if len(flows) > m.MAX_FLOWS:
        problems.append(Problem(str(files[-1]), None, "",
                                f"{len(flows)} flows; at most {m.MAX_FLOWS} in all"))  # fmt: skip
    if problems:
        raise ConfigError(problems)
    return flows


def _bounded(problem: Problem) -> Problem:
    def cut(text: str) -> str:
        return text if len(text) <= MAX_CHARS else text[:MAX_CHARS] + "…"

    return Problem(problem.file, problem.line, cut(problem.key), cut(problem.message))
