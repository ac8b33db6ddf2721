"""Inbound calls in the store (#23): the caller's contact made once per number and closed, the
attempt in flight without a lease, the known contacts matched, the completion with the flow's
steps, answers and fields in one transaction — and the hostile cases: a withheld or garbled
caller ID, a flow of ten thousand steps with NaN times and NULs, a completion twice, a crash."""

from __future__ import annotations

import io
import json
import math

import pytest

from appliance.domain import CampaignType, Channel, ContactState, Outcome, Summary
from appliance.errors import DialboxError
from appliance.store import Database
from appliance.store.attempts import Completion, Lease, complete, lease, sweep_dangling
from appliance.store.campaigns import CampaignRow, create_campaign
from appliance.store.doctor import attempt_count_mismatches, stale_leases, unheld_in_flight
from appliance.store.export import ATTEMPT_COLUMNS, export
from appliance.store.flowrecords import MAX_STEPS, FlowRecord, FlowStep, flow_payload
from appliance.store.inbound import (
    caller_number,
    complete_inbound,
    inbound_payload,
    record_inbound,
)
from appliance.store.results import contact, results_since
from appliance.store.selection import abandon_counts

NOW = 1_800_000_000.0
ANN = "+48601234567"


@pytest.fixture()
def db(engine_db: Database) -> Database:  # tests/store/conftest.py: each engine
    return engine_db


def _campaign(db: Database, name: str, kind: CampaignType) -> CampaignRow:
    return create_campaign(db, name, kind, "PL", {}, NOW - 86400, "test")


def _contact_row(db: Database, contact_id: int) -> tuple[object, ...]:
    row = db.conn.execute(
        "SELECT state, summary, attempts, lease_id, e164_1, phone1 FROM contacts WHERE id = ?",
        (contact_id,),
    ).fetchone()
    assert row is not None
    return tuple(row)


def _dialed(db: Database, campaign: CampaignRow, number: str, at: float) -> int:
    """An outbound contact with `number`, called once (the call the caller now returns)."""
    db.conn.execute(
        "INSERT INTO contacts(campaign_id, dedup_key, phone1, e164_1, bp1, created_at,"
        " updated_at) VALUES (?, ?, ?, ?, 'Ann Nowak', 0, 0)",
        (campaign.id, hash(number) & 0xFFFF, number, number),
    )
    contact_id = db.conn.last_insert_rowid()
    got = lease(db, contact_id, 1, Channel.VOICE, at)
    assert isinstance(got, Lease)
    done = Completion(Outcome.ALERTING_TIMEOUT, ContactState.NOT_CONNECTED, Summary.NO_SUCCESS,
                      next_at=at + 3600)  # fmt: skip
    assert complete(db, got, done, at + 30)
    return contact_id


def test_a_caller_becomes_one_closed_contact_per_number_and_matches_the_call_it_returns(
    db: Database,
) -> None:
    inbound = _campaign(db, "IN", CampaignType.INBOUND)
    out = _campaign(db, "OUT", CampaignType.AGENT)
    dialed = _dialed(db, out, ANN, NOW - 600)

    first = record_inbound(db, inbound, "gsm1", "601 234 567", NOW)  # national, as +CLIP gives it
    assert (first.number, first.caller_id, first.attempt_no, first.new_caller) == (
        ANN, "601 234 567", 1, True)  # fmt: skip
    assert [(m.contact_id, m.campaign, m.fields["bp1"]) for m in first.matched] == [
        (dialed, "OUT", "Ann Nowak")
    ]
    # closed from the start, never leased: an inbound campaign never dials it
    assert _contact_row(db, first.contact_id) == (
        "Connected", int(Summary.SUCCESSFUL), 1, None, ANN, "601 234 567")  # fmt: skip
    attempt = db.conn.execute(
        "SELECT direction, status, number, line, answered_at, dialed_at, phone_index FROM attempts"
        " WHERE id = ?",
        (first.attempt_id,),
    ).fetchone()
    assert tuple(attempt) == ("in", "in_flight", ANN, "gsm1", NOW, None, 1)  # type: ignore[arg-type]

    again = record_inbound(db, inbound, "gsm2", "+48 601 234 567", NOW + 60)
    assert (again.contact_id, again.attempt_no, again.new_caller) == (first.contact_id, 2, False)
    assert first.contact_id not in [m.contact_id for m in again.matched]  # not itself
    # the lease invariants and the attempt counter hold with two calls in flight at once
    assert unheld_in_flight(db) == [] and stale_leases(db) == []
    assert attempt_count_mismatches(db) == []


def test_withheld_and_garbled_caller_ids_make_a_contact_of_their_own_per_call(
    db: Database,
) -> None:
    inbound = _campaign(db, "IN", CampaignType.INBOUND)
    a = record_inbound(db, inbound, "gsm1", "", NOW)
    b = record_inbound(db, inbound, "gsm1", "", NOW + 1)
    assert a.contact_id != b.contact_id and (a.number, b.number) == ("", "")
    assert a.matched == () and a.attempt_no == 1
    garbage = "\x00\x1b[31m" + "9" * 10_000 + "\udcff"
    c = record_inbound(db, inbound, "gsm1", garbage, NOW + 2)
    assert c.number == "" and len(c.caller_id) <= 28 and c.caller_id.isprintable()
    assert c.contact_id not in (a.contact_id, b.contact_id)
    assert caller_number("Unknown", "PL") == ("", "Unknown")


def test_only_an_inbound_campaign_records_inbound_calls(db: Database) -> None:
    out = _campaign(db, "OUT", CampaignType.AGENT)
    with pytest.raises(DialboxError, match="not inbound"):
        record_inbound(db, out, "gsm1", ANN, NOW)
    assert db.scalar("SELECT count(*) FROM attempts") == 0


SURVEY = FlowRecord(
    steps=(
        FlowStep(NOW + 1, "welcome", "play", "welcome.amr"),
        FlowStep(NOW + 5, "q1", "digit", "4"),
        FlowStep(NOW + 9, "q2", "digit", "1"),
    ),
    answers={"q1": "4", "q2": "yes"},
    disposition="survey done",
    fields={"BP3": "satisfied"},
    end="hung_up",
)


def test_the_end_of_a_call_keeps_its_flow_with_its_outcome_in_one_transaction(
    db: Database,
) -> None:
    inbound = _campaign(db, "IN", CampaignType.INBOUND)
    call = record_inbound(db, inbound, "gsm1", ANN, NOW)
    payload = inbound_payload(call, Outcome.CONNECTED, NOW + 20, flow=SURVEY)
    assert complete_inbound(db, call.attempt_id, Outcome.CONNECTED, NOW + 20, flow=SURVEY,
                            outbox_payload=payload)  # fmt: skip
    # a second completion (a late event) changes nothing
    assert not complete_inbound(db, call.attempt_id, Outcome.ABANDONED, NOW + 30)

    doc = contact(db, call.contact_id)
    assert doc is not None and doc["bp3"] == "satisfied" and doc["last_outcome"] == "Connected"
    (attempt,) = doc["attempts"]
    assert (attempt["direction"], attempt["status"], attempt["disposition"]) == (
        "in", "done", "survey done")  # fmt: skip
    assert attempt["answers"] == {"q1": "4", "q2": "yes"}
    assert [(s["node"], s["kind"], s["detail"]) for s in attempt["steps"]] == [
        ("welcome", "play", "welcome.amr"), ("q1", "digit", "4"), ("q2", "digit", "1")]  # fmt: skip
    assert attempt["steps"][0]["at"].endswith("Z")  # ISO 8601, as every instant of the API

    (result,) = results_since(db, 0, 10)
    assert (result["direction"], result["answers"]["q2"]) == ("in", "yes")
    (sent,) = db.conn.execute("SELECT payload FROM outbox").fetchall()
    hook = json.loads(str(sent[0]))
    assert (hook["direction"], hook["number"], hook["outcome"], hook["answers"]) == (
        "in", ANN, "Connected", {"q1": "4", "q2": "yes"})  # fmt: skip
    assert [s["node"] for s in hook["steps"]] == ["welcome", "q1", "q2"]
    assert hook["fields"] == {"bp3": "satisfied"} and hook["dialed_at"] is None


def test_the_inbound_webhook_document_has_every_key_of_the_outbound_one() -> None:
    outbound_keys = {"campaign", "contact_id", "attempt_id", "attempt_no", "number", "channel",
                     "line", "outcome", "code", "dialed_at", "answered_at", "ended_at"}  # fmt: skip
    added = flow_payload(SURVEY, NOW)
    assert set(added) == {"direction", "steps", "answers", "disposition", "fields"}
    assert added["direction"] == "out" and flow_payload(None, NOW)["steps"] == []
    from appliance.store.inbound import InboundCall

    call = InboundCall(7, 3, 1, "IN", 2, ANN, "601234567", "gsm1", NOW, False, ())
    doc = inbound_payload(call, Outcome.AGENT_TRANSFER, NOW + 9, agent="anna")
    assert outbound_keys <= set(doc) and doc["direction"] == "in" and doc["agent"] == "anna"
    json.dumps(doc)  # plain JSON, as the outbox keeps it


def test_a_hostile_flow_result_is_bounded_and_never_loses_the_completion(db: Database) -> None:
    inbound = _campaign(db, "IN", CampaignType.INBOUND)
    call = record_inbound(db, inbound, "gsm1", ANN, NOW)
    steps = tuple(FlowStep(NOW + i, "loop\x00", "digit", "x" * 5000) for i in range(10_000))
    steps += (FlowStep(math.nan, "n", "play", "nan time"),)
    flow = FlowRecord(
        steps=steps,
        answers={f"q{i}": "9" * 1000 for i in range(500)} | {"": "no id"},
        disposition="d" * 10_000,
        fields={"bp1": "\udcffAnn\x00", "password": "x", "bp99": "y"},
    )
    assert complete_inbound(db, call.attempt_id, Outcome.CONNECTED, NOW + 60, flow=flow)
    kept = db.conn.execute(
        "SELECT count(*), max(length(detail)), max(length(node)) FROM attempt_steps"
    ).fetchone()
    assert kept is not None
    assert kept[0] == MAX_STEPS + 1 + 2  # the first 500, "truncated", two refused fields
    assert kept[1] <= 500 and kept[2] <= 64
    assert db.scalar("SELECT detail FROM attempt_steps WHERE kind = 'truncated'") == (
        "9501 more steps were not kept")  # fmt: skip
    assert db.scalar("SELECT count(*) FROM attempt_answers") == 100
    assert db.scalar("SELECT max(length(answer)) FROM attempt_answers") == 255
    assert db.scalar("SELECT bp1 FROM contacts WHERE id = ?", (call.contact_id,)) == "?Ann"
    assert db.scalar("SELECT length(disposition) FROM attempts") == 255
    assert db.scalar("SELECT status FROM attempts") == "done"


def test_an_answered_automated_call_keeps_its_flow_with_the_strategy_s_decision(
    db: Database,
) -> None:
    out = _campaign(db, "SURVEY", CampaignType.AUTOMATED)
    db.conn.execute(
        "INSERT INTO contacts(campaign_id, dedup_key, phone1, e164_1, created_at, updated_at)"
        " VALUES (?, 1, ?, ?, 0, 0)",
        (out.id, ANN, ANN),
    )
    got = lease(db, db.conn.last_insert_rowid(), 1, Channel.VOICE, NOW)
    assert isinstance(got, Lease)
    done = Completion(Outcome.CONNECTED, ContactState.CONNECTED, Summary.SUCCESSFUL,
                      answered_at=NOW + 10)  # fmt: skip
    assert complete(db, got, done, NOW + 60, flow=SURVEY)
    doc = contact(db, got.contact_id)
    assert doc is not None and doc["state"] == "Connected" and doc["bp3"] == "satisfied"
    (attempt,) = doc["attempts"]
    assert (attempt["direction"], attempt["disposition"], attempt["answers"]) == (
        "out", "survey done", {"q1": "4", "q2": "yes"})  # fmt: skip


def test_the_export_carries_direction_steps_and_answers(db: Database) -> None:
    inbound = _campaign(db, "IN", CampaignType.INBOUND)
    call = record_inbound(db, inbound, "gsm1", ANN, NOW)
    assert complete_inbound(db, call.attempt_id, Outcome.CONNECTED, NOW + 20, flow=SURVEY)
    record_inbound(db, inbound, "gsm1", "", NOW + 30)  # still in flight, no flow

    out = io.StringIO(newline="")
    assert export(db, inbound, out, attempts=True, fmt="csv") == 2
    import csv

    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert list(rows[0]) == list(ATTEMPT_COLUMNS)
    assert (rows[0]["direction"], json.loads(rows[0]["answers"])) == (
        "in",
        {"q1": "4", "q2": "yes"},
    )
    assert [s["kind"] for s in json.loads(rows[0]["steps"])] == ["play", "digit", "digit"]
    assert (rows[1]["steps"], rows[1]["answers"], rows[1]["number"]) == ("", "", "")

    out = io.StringIO()
    export(db, inbound, out, attempts=True, fmt="json")
    first, second = json.loads(out.getvalue())
    assert first["answers"] == {"q1": "4", "q2": "yes"} and first["steps"][1]["detail"] == "4"
    assert (second["steps"], second["answers"], second["direction"]) == ([], {}, "in")


def test_a_crash_leaves_the_inbound_call_dangling_and_its_caller_closed(db: Database) -> None:
    inbound = _campaign(db, "IN", CampaignType.INBOUND)
    call = record_inbound(db, inbound, "gsm1", ANN, NOW)
    decided: list[int] = []

    def decide(got: Lease, now: float) -> Completion | None:
        decided.append(got.attempt_id)  # the strategy is never asked about an inbound call
        return None

    (swept,) = sweep_dangling(db, NOW + 600, decide=decide)
    assert (swept.attempt_id, swept.requeued, swept.state) == (
        call.attempt_id, False, ContactState.CONNECTED)  # fmt: skip
    assert decided == []
    assert _contact_row(db, call.contact_id)[:4] == ("Connected", 1, 1, None)
    assert not complete_inbound(db, call.attempt_id, Outcome.CONNECTED, NOW + 700)


def test_inbound_calls_are_not_calls_made_for_the_abandon_ledger(db: Database) -> None:
    inbound = _campaign(db, "IN", CampaignType.INBOUND)
    for n in range(3):  # callers who hung up in the queue
        call = record_inbound(db, inbound, "gsm1", f"+4860123456{n}", NOW + n)
        complete_inbound(db, call.attempt_id, Outcome.ABANDONED, NOW + n + 30)
    assert abandon_counts(db, inbound.id, NOW + 100, 86400.0) == (0, 0)
