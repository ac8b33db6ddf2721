"""Missed calls and callbacks in the store (#23): repeats of an open missed call add to it, a
callback is a contact of an outbound campaign that the planner dials at its due time — and the
refusals, each with its reason and nothing written: a DNC or block-listed number, a withheld
one, a campaign that does not call, no permitted time, a missed call handled already, two
writers on the same missed call at once."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from pathlib import Path

import pytest

from appliance.config.models import DialboxConfig
from appliance.domain import CampaignStatus, CampaignType
from appliance.engine.storeplanner import StorePlanner
from appliance.store import Database, open_database
from appliance.store.campaigns import CampaignRow, create_campaign
from appliance.store.dnc import add_numbers, block_number
from appliance.store.inbound import (
    Callback,
    Refused,
    dismiss_missed,
    get_missed,
    list_missed,
    make_callback,
    record_inbound,
    record_missed,
)

NOW = dt.datetime(2026, 3, 7, 9, 0, tzinfo=dt.UTC).timestamp()  # a Saturday
MONDAY_9 = dt.datetime(2026, 3, 9, 8, 0, tzinfo=dt.UTC).timestamp()  # 09:00 in Warsaw
ANN, BOB = "+48601234567", "+48601234568"


@pytest.fixture()
def db(engine_db: Database) -> Database:  # tests/store/conftest.py: each engine
    return engine_db


def _campaigns(db: Database) -> tuple[CampaignRow, CampaignRow]:
    inbound = create_campaign(db, "IN", CampaignType.INBOUND, "PL", {}, NOW - 86400, "t")
    out = create_campaign(db, "OUT", CampaignType.AGENT, "PL",
                          {"windows": "mon-fri 09:00-17:00", "timezone": "Europe/Warsaw"},
                          NOW - 86400, "t")  # fmt: skip
    return inbound, out


def _counts(db: Database) -> tuple[int, int]:
    contacts = db.scalar("SELECT count(*) FROM contacts")
    opened = db.scalar("SELECT count(*) FROM missed_calls WHERE status = 'open'")
    return int(str(contacts)), int(str(opened))


def test_repeats_of_an_open_missed_call_add_to_it_and_withheld_ones_never_do(
    db: Database,
) -> None:
    inbound, _ = _campaigns(db)
    first = record_missed(db, inbound, "gsm1", "601234567", "hung_up_ringing", NOW, waited=12.5)
    again = record_missed(db, inbound, "gsm2", "+48601234567", "hung_up_in_queue", NOW + 60,
                          waited=95.0)  # fmt: skip
    assert again.id == first.id
    assert (again.calls, again.at, again.last_at, again.reason, again.line, again.waited) == (
        2, NOW, NOW + 60, "hung_up_in_queue", "gsm2", 95.0)  # fmt: skip
    hidden = [record_missed(db, inbound, "gsm1", "", "closed", NOW + n) for n in range(2)]
    assert hidden[0].id != hidden[1].id and hidden[0].number == "" and hidden[0].calls == 1
    assert dismiss_missed(db, first.id, NOW + 70, "api:crm").status == "dismissed"  # type: ignore[union-attr]
    later = record_missed(db, inbound, "gsm1", ANN, "overflow", NOW + 80)
    assert later.id not in (first.id, *(h.id for h in hidden)) and later.calls == 1
    with pytest.raises(ValueError, match="unknown missed call reason"):
        record_missed(db, inbound, "gsm1", ANN, "bored", NOW)
    nonsense = record_missed(db, inbound, "gsm1", ANN, "closed", NOW, waited=float("nan"))
    assert nonsense.waited is None


def test_a_missed_call_knows_the_caller_s_contact(db: Database) -> None:
    inbound, _ = _campaigns(db)
    call = record_inbound(db, inbound, "gsm1", ANN, NOW - 3600)  # called before, answered
    missed = record_missed(db, inbound, "gsm1", ANN, "hung_up_ringing", NOW,
                           attempt_id=call.attempt_id)  # fmt: skip
    assert (missed.contact_id, missed.attempt_id) == (call.contact_id, call.attempt_id)
    stranger = record_missed(db, inbound, "gsm1", BOB, "hung_up_ringing", NOW)
    assert stranger.contact_id is None


def _config(db: Database) -> DialboxConfig:
    return DialboxConfig(database=Path(db.path), timezone="Europe/Warsaw", region="PL")


def _due(db: Database, campaign: CampaignRow, number: str, now: float) -> float | None:
    from appliance.phones import zones_for
    from appliance.scheduler.callbacks import callback_due

    planner = StorePlanner(_config(db), db)
    return callback_due(planner.rules_for(campaign), zones_for(number), now)


def test_a_callback_is_a_contact_the_planner_dials_at_the_next_permitted_time(
    db: Database,
) -> None:
    inbound, out = _campaigns(db)
    call = record_inbound(db, inbound, "gsm1", ANN, NOW - 600)
    db.conn.execute("UPDATE contacts SET bp1 = 'Ann Nowak' WHERE id = ?", (call.contact_id,))
    missed = record_missed(db, inbound, "gsm1", ANN, "hung_up_in_queue", NOW)
    due = _due(db, out, ANN, NOW)
    assert due == MONDAY_9  # Saturday: the campaign's window opens on Monday at 09:00

    made = make_callback(db, out, ANN, due, NOW, actor="api:crm", owner="anna",
                         missed_call_id=missed.id, fields_from=missed.contact_id)  # fmt: skip
    assert isinstance(made, Callback) and not made.already
    row = db.conn.execute(
        "SELECT campaign_id, state, e164_1, callback_at, owner_agent, bp1, external_id, zs1"
        " FROM contacts WHERE id = ?",
        (made.contact_id,),
    ).fetchone()
    assert row is not None and tuple(row)[:7] == (
        out.id, "Pending", ANN, MONDAY_9, "anna", "Ann Nowak", f"callback:{ANN}")  # fmt: skip
    assert row[7] is not None  # judged in the number's zone, as an imported contact
    after = get_missed(db, missed.id)
    assert after is not None and (after.status, after.callback_contact_id, after.handled_by) == (
        "callback_made", made.contact_id, "api:crm")  # fmt: skip
    assert (after.callback_campaign, after.callback_due_at, after.callback_owner) == (
        "OUT", MONDAY_9, "anna")  # fmt: skip

    planner = StorePlanner(_config(db), db)
    out_running = dataclasses.replace(out, status=CampaignStatus.RUNNING)
    assert planner.plan(out_running, MONDAY_9 - 60, 5) == []  # not before its time
    assert [p.contact_id for p in planner.plan(out_running, MONDAY_9, 5)] == [made.contact_id]

    # the same number again: its open callback stays, no second contact
    second = record_missed(db, inbound, "gsm1", ANN, "hung_up_ringing", NOW + 60)
    again = make_callback(db, out, ANN, due, NOW + 60, actor="api:crm", missed_call_id=second.id)
    assert isinstance(again, Callback) and again.already and again.contact_id == made.contact_id
    assert db.scalar("SELECT count(*) FROM contacts WHERE campaign_id = ?", (out.id,)) == 1


@pytest.mark.parametrize("listing", ["global", "campaign", "block"])
def test_a_callback_for_a_listed_number_is_refused_with_the_list_and_nothing_written(
    db: Database, listing: str
) -> None:
    inbound, out = _campaigns(db)
    missed = record_missed(db, inbound, "gsm1", ANN, "hung_up_in_queue", NOW)
    if listing == "block":
        block_number(db, ANN, "WrongNumber", NOW - 10)
    else:
        add_numbers(db, [ANN], campaign_id=out.id if listing == "campaign" else None,
                    campaign="OUT" if listing == "campaign" else None, now=NOW - 10,
                    actor="t", reason="asked on the phone")  # fmt: skip
    before = _counts(db)
    refused = make_callback(db, out, ANN, MONDAY_9, NOW, actor="t", missed_call_id=missed.id)
    assert isinstance(refused, Refused) and refused.code == "dnc"
    assert ANN in refused.reason and "never called back" in refused.reason
    assert {"global": "global list", "campaign": "campaign:OUT list", "block": "block list"}[
        listing] in refused.reason  # fmt: skip
    assert _counts(db) == before  # no contact, the missed call still open


def test_a_withheld_caller_is_kept_as_a_missed_call_but_cannot_be_called_back(
    db: Database,
) -> None:
    inbound, out = _campaigns(db)
    missed = record_missed(db, inbound, "gsm1", "", "hung_up_ringing", NOW)
    assert (missed.number, missed.status) == ("", "open")
    before = _counts(db)
    refused = make_callback(db, out, missed.number, None, NOW, actor="t", missed_call_id=missed.id)
    assert isinstance(refused, Refused) and refused.code == "withheld"
    assert "withheld" in refused.reason and "dismiss" in refused.reason
    assert _counts(db) == before


def test_callbacks_come_only_from_campaigns_that_call_and_only_at_a_permitted_time(
    db: Database,
) -> None:
    inbound, out = _campaigns(db)
    sms = create_campaign(db, "TEXTS", CampaignType.SMS, "PL", {}, NOW, "t")
    for target in (inbound, sms):
        refused = make_callback(db, target, ANN, MONDAY_9, NOW, actor="t")
        assert isinstance(refused, Refused) and refused.code == "campaign"
        assert "does not call" in refused.reason
    never = make_callback(db, out, ANN, None, NOW, actor="t")
    assert isinstance(never, Refused) and never.code == "no_time"
    ended = create_campaign(db, "ENDED", CampaignType.AGENT, "PL", {"end_date": "2026-01-31"},
                            NOW, "t")  # fmt: skip
    assert _due(db, ended, ANN, NOW) is None  # past its end date: no permitted time
    assert db.scalar("SELECT count(*) FROM contacts") == 0


def test_a_missed_call_is_handled_once(db: Database) -> None:
    inbound, out = _campaigns(db)
    missed = record_missed(db, inbound, "gsm1", ANN, "overflow", NOW)
    assert isinstance(dismiss_missed(db, missed.id, NOW, "api:a"), type(missed))
    twice = dismiss_missed(db, missed.id, NOW, "api:b")
    assert isinstance(twice, Refused) and twice.code == "handled" and "api:a" in twice.reason
    late = make_callback(db, out, ANN, MONDAY_9, NOW, actor="t", missed_call_id=missed.id)
    assert isinstance(late, Refused) and late.code == "handled"
    gone = dismiss_missed(db, 999, NOW, "t")
    assert isinstance(gone, Refused) and gone.code == "gone"
    assert db.scalar("SELECT count(*) FROM contacts") == 0


def _race(path: Path, out: CampaignRow, missed_id: int, number: str, dismiss: bool) -> list[object]:
    """A callback and a second writer (another callback, or a dismissal), each on its own
    connection in its own thread, let go at the same instant; what each got."""
    barrier = threading.Barrier(2)
    got: list[object] = []

    def write(which: str) -> None:
        own = Database(path)
        try:
            barrier.wait()
            if which == "dismiss":
                got.append(dismiss_missed(own, missed_id, NOW, "api:two"))
            else:
                got.append(make_callback(own, out, number, MONDAY_9, NOW, actor=f"api:{which}",
                                         missed_call_id=missed_id))  # fmt: skip
        finally:
            own.close()

    threads = [threading.Thread(target=write, args=("one",)),
               threading.Thread(target=write, args=("dismiss" if dismiss else "two",))]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return got


def test_two_writers_on_the_same_missed_call_at_once_handle_it_once(tmp_path: Path) -> None:
    path = tmp_path / "race.db"
    db = open_database(path)
    inbound, out = _campaigns(db)
    for round_ in range(10):
        missed = record_missed(db, inbound, "gsm1", f"+4860123{round_:04d}", "overflow", NOW)
        got = _race(path, out, missed.id, missed.number, dismiss=round_ % 2 == 0)
        refused = [g for g in got if isinstance(g, Refused)]
        assert len(got) == 2 and len(refused) == 1 and refused[0].code == "handled", got
        final = get_missed(db, missed.id)
        assert final is not None and final.status in ("callback_made", "dismissed")
        made = db.scalar(
            "SELECT count(*) FROM contacts WHERE campaign_id = ? AND e164_1 = ?",
            (out.id, missed.number),
        )
        assert made == (1 if final.status == "callback_made" else 0)


def test_missed_calls_are_listed_by_campaign_and_status_in_pages(db: Database) -> None:
    inbound, _ = _campaigns(db)
    other = create_campaign(db, "IN2", CampaignType.INBOUND, "PL", {}, NOW, "t")
    ids = [record_missed(db, inbound, "gsm1", f"+4860123{n:04d}", "overflow", NOW + n).id
           for n in range(5)]  # fmt: skip
    record_missed(db, other, "gsm2", ANN, "closed", NOW)
    dismiss_missed(db, ids[1], NOW + 10, "t")
    assert [m.id for m in list_missed(db, campaign_id=inbound.id)] == ids
    assert [m.id for m in list_missed(db, campaign_id=inbound.id, status="open")] == [
        ids[0], *ids[2:]]  # fmt: skip
    page = list_missed(db, campaign_id=inbound.id, limit=2)
    rest = list_missed(db, campaign_id=inbound.id, after=page[-1].id, limit=10)
    assert [m.id for m in page + rest] == ids
    assert len(list_missed(db)) == 6
    with pytest.raises(ValueError):
        list_missed(db, status="lost")
