"""SMS replies: SMS responded, and opt-out words put the number on DNC at once (SPEC C13)."""

from __future__ import annotations

import pytest

from appliance.domain import Channel, ContactState, Outcome, Summary
from appliance.store import open_database
from appliance.store.attempts import Completion, Lease, complete, lease
from appliance.store.dnc import is_blocked
from appliance.store.replies import is_opt_out, record_reply


@pytest.mark.parametrize(
    "text",
    ["STOP", "stop", " Stop. ", "opt out", "OPT-OUT", "Unsubscribe!", "revoke",
     "please stop calling me at work", "Stop texting me", "STOP please"],
)  # fmt: skip
def test_opt_out_words(text: str) -> None:
    assert is_opt_out(text)


@pytest.mark.parametrize("text", ["please don't stop", "yes", "STOPPED", "1"])
def test_other_replies_are_not_opt_outs(text: str) -> None:
    assert not is_opt_out(text)


def test_reply_marks_responded_and_stop_blocks_the_number(db_url: str) -> None:
    db = open_database(db_url)  # tests/store/conftest.py: each engine
    db.conn.execute(
        "INSERT INTO campaigns(id, name, type, region, created_at, updated_at) VALUES (1, 's', 'sms', 'US', 0, 0)"
    )
    for cid in (1, 2):
        db.conn.execute(
            "INSERT INTO contacts(id, campaign_id, dedup_key, phone1, e164_1, created_at, updated_at)"
            " VALUES (?, 1, ?, 'x', ?, 0, 0)",
            (cid, cid, f"+1212555010{cid}"),
        )
        got = lease(db, cid, 1, Channel.SMS, 10.0)
        assert isinstance(got, Lease)
        complete(
            db,
            got,
            Completion(Outcome.CONNECTED, ContactState.SMS_SENT, Summary.NO_SUCCESS, next_at=99.0),
            11.0,
        )

    result = record_reply(db, "+12125550101", "Thanks, got it", 20.0)
    assert (result.opted_out, result.contacts) == (False, 1)
    assert db.scalar("SELECT state FROM contacts WHERE id = 1") == ContactState.SMS_RESPONDED
    assert not is_blocked(db, 1, "+12125550101", 21.0)

    result = record_reply(db, "+12125550102", "Stop texting me", 30.0)
    assert (result.opted_out, result.contacts) == (True, 1)
    assert is_blocked(db, 1, "+12125550102", 31.0)
    assert db.scalar("SELECT count(*) FROM audit WHERE action = 'dnc.opt_out'") == 1
