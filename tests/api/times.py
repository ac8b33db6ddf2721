"""What an instant in an API answer must be: ISO 8601 with an offset, never epoch seconds — and
a walk over every GET operation of /openapi.json that collects what breaks that."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from tests.api.client import Api

# Named like an instant: created_at, since, wrap_until, time, started, ...
TIME_NAME = re.compile(
    r"^(at|time|when|since|until|started|ended|timestamp|period)$"
    r"|_(at|time|since|until|stamp|timestamp)$|^(time|started|ended)_"
)
# Named like a time but a length of time or a zone, not an instant.
NOT_AN_INSTANT = re.compile(r"_seconds$|timeout|timezone|_ms$")
# Epoch seconds of 2001..2286: a number this big anywhere is most likely an instant left raw.
EPOCH_LIKE = (1e9, 1e10)


def iso_problem(value: Any) -> str | None:
    """Why `value` is not an ISO 8601 instant with an offset (None: it is one)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str):
        return f"{value!r} is not ISO 8601 text"
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return f"{value!r} is not ISO 8601"
    return None if moment.tzinfo is not None else f"{value!r} has no offset"


def epoch_fields(node: Any, where: str = "$") -> Iterator[str]:
    """Every place in a JSON document where an instant is not ISO 8601 with an offset."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            here = f"{where}.{key}"
            named = TIME_NAME.search(str(key)) and not NOT_AN_INSTANT.search(str(key))
            if named and not isinstance(value, dict | list):
                why = iso_problem(value)
                if why:
                    yield f"{here}: {why}"
            else:
                yield from epoch_fields(value, here)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from epoch_fields(item, f"{where}[{i}]")
    elif (
        isinstance(node, int | float)
        and not isinstance(node, bool)
        and EPOCH_LIKE[0] <= node < EPOCH_LIKE[1]
    ):
        yield f"{where}: {node!r} looks like epoch seconds"


def _query_value(name: str, schema: dict[str, Any], known: Mapping[str, str]) -> str:
    if name in known:
        return known[name]
    if "enum" in schema:
        return str(schema["enum"][0])
    if schema.get("type") == "integer":
        return str(schema.get("minimum", 1))
    if schema.get("format") == "date-time":
        return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    if schema.get("format") == "date":
        return dt.date.today().isoformat()
    raise AssertionError(f"the walk cannot fill the required query parameter {name!r}; add it")


def walk_gets(
    api: Api, path_values: Callable[[str, str], str | None], query: Mapping[str, str]
) -> dict[str, list[str]]:
    """GET every operation of the API's document that answers JSON, its path parameters filled
    by `path_values(path, param)`, its required query parameters by `query` or their schema;
    what each answer has that is not an ISO instant, by the path fetched."""
    document = api.get("/openapi.json").json()
    found: dict[str, list[str]] = {}
    for template, item in document["paths"].items():
        op = item.get("get")
        if op is None or template in ("/openapi.json", "/metrics"):
            continue
        if "text/event-stream" in op["responses"].get("200", {}).get("content", {}):
            continue  # an event stream never ends; it sends the documents GETs give (#25)
        answers = op.get("responses", {}).get("200", {}).get("content", {})
        if answers and "application/json" not in answers:
            continue  # a page for people, e.g. the e-mail unsubscribe link's (#26)
        url = template
        params = []
        for p in op.get("parameters", []):
            if p["in"] == "path":
                value = path_values(template, p["name"])
                assert value is not None, f"the walk cannot fill {{{p['name']}}} of {template}"
                url = url.replace("{" + p["name"] + "}", value)
            elif p.get("required"):
                params.append(f"{p['name']}={_query_value(p['name'], p['schema'], query)}")
        if params:
            url += "?" + "&".join(params)
        reply = api.get(url)
        assert reply.status == 200, (url, reply)
        if not reply.headers.get("Content-Type", "").startswith("application/json"):
            continue
        found[url] = list(epoch_fields(reply.json()))
    return found
