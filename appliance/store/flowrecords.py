"""A call flow's record on its attempt (issue #23): the steps it took, the answers it got, the
contact fields it set — written in the transaction that completes the attempt, read back for the
contact view, the results feed, the export (D6) and the webhook.

A flow's result comes from appliance/flows (`FlowResult`), which the store does not import: any
object of that shape will do (`FlowOutcome`). What it holds comes from callers pressing keys and
from flow files, so it is bounded and made plain text here before it is kept: a completion must
never fail on it (the attempt's outcome would be lost with it).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from appliance.domain import BP_FIELDS, MAX_BP_CHARS
from appliance.store import dialect
from appliance.store.db import Database

MAX_STEPS = 500  # steps kept per attempt; beyond, one step says how many more there were
MAX_ANSWERS = 100  # answers kept per attempt
MAX_NAME_CHARS = 64  # a node, kind or question id
MAX_DETAIL_CHARS = 500  # a step's detail
MAX_ANSWER_CHARS = 255


class StepLike(Protocol):
    """One step of a flow (appliance.flows.Step)."""

    @property
    def at(self) -> float: ...
    @property
    def node(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def detail(self) -> str: ...


class FlowOutcome(Protocol):
    """What a flow run gives back (appliance.flows.FlowResult)."""

    @property
    def steps(self) -> Sequence[StepLike]: ...
    @property
    def answers(self) -> Mapping[str, str]: ...
    @property
    def disposition(self) -> str | None: ...
    @property
    def fields(self) -> Mapping[str, str]: ...
    @property
    def end(self) -> str: ...


@dataclass(frozen=True)
class FlowStep:
    """A step, as the store keeps it (also what tests and the box's own notes make)."""

    at: float
    node: str
    kind: str
    detail: str = ""


@dataclass(frozen=True)
class FlowRecord:
    """A flow's result as the store keeps it (`FlowOutcome`'s shape)."""

    steps: tuple[FlowStep, ...] = ()
    answers: Mapping[str, str] = field(default_factory=dict)
    disposition: str | None = None
    fields: Mapping[str, str] = field(default_factory=dict)
    end: str = "hung_up"


def _text(value: object, limit: int) -> str:
    """Plain text of at most `limit` characters: no NULs, no lone surrogates."""
    text = value if isinstance(value, str) else ("" if value is None else str(value))
    text = text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _time(value: object, fallback: float) -> float:
    try:
        at = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return fallback
    return at if math.isfinite(at) else fallback


def contact_field(name: str) -> str | None:
    """The contact column a flow's `set_field` name writes (bp1..bp12, any case), or None."""
    key = name.strip().lower() if isinstance(name, str) else ""
    return key if key in BP_FIELDS else None


def clean(flow: FlowOutcome, now: float) -> FlowRecord:
    """The flow's result bounded and as plain text: at most MAX_STEPS steps (then one step
    `truncated` saying how many more), MAX_ANSWERS answers; a field that is not a contact field
    (bp1..bp12) is not set but noted as a step `field_refused`."""
    steps: list[FlowStep] = []
    given = list(flow.steps or ())
    for step in given[:MAX_STEPS]:
        steps.append(
            FlowStep(
                _time(getattr(step, "at", None), now),
                _text(getattr(step, "node", ""), MAX_NAME_CHARS),
                _text(getattr(step, "kind", ""), MAX_NAME_CHARS) or "step",
                _text(getattr(step, "detail", ""), MAX_DETAIL_CHARS),
            )
        )
    last = steps[-1].at if steps else now
    if len(given) > MAX_STEPS:
        more = len(given) - MAX_STEPS
        steps.append(FlowStep(last, "", "truncated", f"{more} more steps were not kept"))
    answers: dict[str, str] = {}
    for question, answer in list((flow.answers or {}).items())[:MAX_ANSWERS]:
        key = _text(question, MAX_NAME_CHARS)
        if key:
            answers[key] = _text(answer, MAX_ANSWER_CHARS)
    fields: dict[str, str] = {}
    for name, value in (flow.fields or {}).items():
        column = contact_field(name)
        if column is None:
            steps.append(
                FlowStep(last, "", "field_refused",
                         f"{_text(name, MAX_NAME_CHARS)!r} is not a contact field (bp1..bp12)")
            )  # fmt: skip
        else:
            fields[column] = _text(value, MAX_BP_CHARS)
    disposition = None if flow.disposition is None else _text(flow.disposition, MAX_ANSWER_CHARS)
    return FlowRecord(tuple(steps), answers, disposition or None, fields,
                      _text(getattr(flow, "end", ""), MAX_NAME_CHARS))  # fmt: skip


def write_flow(db: Database, attempt_id: int, contact_id: int, flow: FlowRecord) -> None:
    """Keep a cleaned flow result on its attempt and set its fields on the contact. Call inside
    the transaction that completes the attempt."""
    db.conn.executemany(
        "INSERT INTO attempt_steps(attempt_id, seq, at, node, kind, detail)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (attempt_id, seq) DO UPDATE SET at = excluded.at,"
        " node = excluded.node, kind = excluded.kind, detail = excluded.detail",
        [(attempt_id, n, s.at, s.node, s.kind, s.detail) for n, s in enumerate(flow.steps, 1)],
    )
    db.conn.executemany(
        "INSERT INTO attempt_answers(attempt_id, question, answer) VALUES (?, ?, ?)"
        " ON CONFLICT (attempt_id, question) DO UPDATE SET answer = excluded.answer",
        [(attempt_id, q, a) for q, a in flow.answers.items()],
    )
    if flow.fields:
        sets = ", ".join(f"{column} = ?" for column in flow.fields)  # bp1..bp12 only (clean)
        db.conn.execute(
            f"UPDATE contacts SET {sets} WHERE id = ?", (*flow.fields.values(), contact_id)
        )


def steps_document(flow: FlowRecord) -> list[dict[str, Any]]:
    """The steps as the webhook sends them (times in epoch seconds, as its other times)."""
    return [{"at": s.at, "node": s.node, "kind": s.kind, "detail": s.detail} for s in flow.steps]


def flow_payload(flow: FlowOutcome | None, now: float, direction: str = "out") -> dict[str, Any]:
    """What a call flow adds to an attempt's webhook document: its direction, steps, answers,
    disposition and the fields it set (empty without a flow). The engine's `_payload` for an
    answered automated call merges it in; `store.inbound.inbound_payload` includes it."""
    record = clean(flow, now) if flow is not None else FlowRecord()
    return {
        "direction": direction,
        "steps": steps_document(record),
        "answers": dict(record.answers),
        "disposition": record.disposition,
        "fields": dict(record.fields),
    }


# The SQL (over `attempts a`) of an attempt's steps as a JSON array of [at, node, kind, detail]
# and its answers as a JSON object: what the export, the results feed and the contact view read.
def steps_sql(d: dialect.Dialect) -> str:
    values = ["s.at", "s.node", "s.kind", "s.detail"]
    return (
        f"(SELECT {d.json_arrays(values, 's.seq')} FROM attempt_steps s WHERE s.attempt_id = a.id)"
    )


def answers_sql(d: dialect.Dialect) -> str:
    return (
        f"(SELECT {d.json_object('q.question', 'q.answer')} FROM attempt_answers q"
        " WHERE q.attempt_id = a.id)"
    )


def read_steps(text: object, iso: Any) -> list[dict[str, Any]]:
    """steps_sql's value as documents, `at` as `iso` makes it (ISO 8601 in the API)."""
    rows = json.loads(str(text)) if text else []
    return [{"at": iso(r[0]), "node": r[1], "kind": r[2], "detail": r[3]} for r in rows]


def read_answers(text: object) -> dict[str, str]:
    found = json.loads(str(text)) if text else {}
    return dict(found) if isinstance(found, dict) else {}
