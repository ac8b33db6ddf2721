"""Searching a campaign's contacts (the console's Contacts pane, SPEC O4): by a number's digits
however written, an external id's start, a parameter's text; wildcards taken literally; and each
request examines a bounded window, its cursor going on where it stopped."""

from __future__ import annotations

import pytest

from appliance.store import Database
from appliance.store.campaigns import get_campaign
from appliance.store.results import search_contacts
from tests.scheduler.dbfixtures import add_campaign, add_contact


@pytest.fixture()
def db(engine_db: Database) -> Database:  # tests/store/conftest.py: each engine
    return engine_db


def _found(db: Database, text: str, state: str | None = None) -> list[str | None]:
    items, _ = search_contacts(db, get_campaign(db, "c"), text=text, state=state, after=0, limit=50)
    return [c["bp1"] for c in items]


def test_a_search_finds_a_contact_by_number_external_id_or_parameter(db: Database) -> None:
    cid = add_campaign(db, "c")
    other = add_campaign(db, "other")
    add_contact(db, cid, ["+12125550101"], bp1="Ann Smith")
    add_contact(db, cid, ["+33612345678"], bp1="Bo 100%_off", state="Not Connected")
    add_contact(db, cid, ["+12125550103", "+13125550199"], bp1="Cy")
    add_contact(db, other, ["+12125550101"], bp1="Ann in another campaign")
    db.conn.execute("UPDATE contacts SET external_id = 'CRM-0042' WHERE bp1 = 'Cy'")

    assert _found(db, "ann") == ["Ann Smith"]  # case-insensitive, this campaign only
    assert _found(db, "(212) 555-0101") == ["Ann Smith"]  # as the technician writes it
    assert _found(db, "0612 345 678") == ["Bo 100%_off"]  # national: the trunk 0 dropped
    assert _found(db, "312-555-0199") == ["Cy"]  # the second phone
    assert _found(db, "crm-00") == ["Cy"]  # an external id's start
    assert _found(db, "%") == ["Bo 100%_off"]  # a wildcard is a character
    assert _found(db, "_") == ["Bo 100%_off"]
    assert _found(db, "Bo", state="Not Connected") == ["Bo 100%_off"]
    assert _found(db, "Ann", state="Not Connected") == []
    assert _found(db, "nobody") == []


def test_each_search_request_examines_a_bounded_window_and_goes_on_from_its_cursor(
    db: Database,
) -> None:
    cid = add_campaign(db, "c")
    ids = [add_contact(db, cid, [f"+1212555{n:04d}"], bp1="x" if n % 7 else "seven")
           for n in range(30)]  # fmt: skip
    campaign = get_campaign(db, "c")
    found, after, requests = [], 0, 0
    while after is not None:
        page, nxt = search_contacts(db, campaign, text="seven", state=None, after=after,
                                    limit=50, window=8)  # fmt: skip
        requests += 1
        assert len(page) <= 2  # at most 8 contacts examined: 0, 7 | 14 | 21 | 28
        found += [c["contact_id"] for c in page]
        after = nxt
    assert found == [ids[n] for n in range(0, 30, 7)]
    assert requests == 4  # 8 + 8 + 8 + 6 contacts: the last window ran out, next is None
    # A full page stops the scan at its last hit: the next request starts after it.
    page, nxt = search_contacts(db, campaign, text="seven", state=None, after=0, limit=2)
    assert [c["contact_id"] for c in page] == [ids[0], ids[7]] and nxt == ids[7]
