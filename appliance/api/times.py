"""Instants in the API. Every instant a response carries is ISO 8601 in UTC with a `Z`, to the
millisecond — `2027-01-15T08:00:00.250Z`, as the results feed and the contacts have always
sent them (store.export.iso_utc, the one formatter); every instant a request gives is ISO 8601
with an offset (`Z`, `+01:00`)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Any

from appliance.api.problems import Problem
from appliance.store.export import iso_utc

# The instants a datetime can show in any zone: a day inside the years 1-9999.
_EARLIEST = dt.datetime(1, 1, 2, tzinfo=dt.UTC).timestamp()
_LATEST = dt.datetime(9999, 12, 30, tzinfo=dt.UTC).timestamp()


def iso_time(ts: float | None) -> str | None:
    """Epoch seconds as the API writes an instant (None stays None)."""
    return iso_utc(ts)


def iso_fields(document: dict[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """`document` with each of `keys` it holds as a number written as an instant (in place)."""
    for key in keys:
        value = document.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            document[key] = iso_utc(value)
    return document


# The keys free-form JSON (an audit entry's detail) names its instants with.
_INSTANT_KEY = re.compile(r"(^|_)at$|^(since|until)$")


def iso_named(node: Any) -> Any:
    """Free-form JSON (an audit entry's detail, written by many parts of the box) with every
    number under a key named like an instant (`at`, `*_at`, `since`, `until`) as an instant."""
    if isinstance(node, list):
        return [iso_named(item) for item in node]
    if not isinstance(node, dict):
        return node
    return {
        key: iso_utc(value)
        if _INSTANT_KEY.search(str(key))
        and isinstance(value, int | float)
        and not isinstance(value, bool)
        else iso_named(value)
        for key, value in node.items()
    }


def parse_time(text: str, where: str) -> float:
    """Epoch seconds from an ISO 8601 instant with an offset; a 422 naming `where` otherwise."""
    try:
        moment = dt.datetime.fromisoformat(
            text.strip().replace("Z", "+00:00").replace("z", "+00:00")
        )
    except ValueError:
        raise Problem(
            422, f"{where} {text!r} is not an ISO 8601 time such as 2026-11-24T10:00:00Z"
        ) from None
    if moment.tzinfo is None:
        raise Problem(422, f"{where} {text!r} needs an offset, e.g. {text}Z or {text}+01:00")
    stamp = moment.timestamp()
    if not _EARLIEST < stamp < _LATEST:  # shown in any zone, it would be year 0 or 10000
        raise Problem(422, f"{where} {text!r} must fall within the years 1-9999")
    return stamp
