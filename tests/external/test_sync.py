"""External lists over a real PostgreSQL, in process (SPEC D9): the sync marks the customer's
rows of the campaign, the planner dials only those, each attempt's result is written back (the
four fields) in order, other campaigns' rows are left alone, held rows are released, and a
database that is down, refuses the password or lacks a column is said by `why`."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from appliance.clock import ManualClock
from appliance.config.models import DialboxConfig
from appliance.domain import Outcome
from appliance.engine.extsync import ExternalListsComponent, ExternalSync
from appliance.engine.planner import AttemptReport
from appliance.engine.storeplanner import StorePlanner
from appliance.metrics import Metrics
from appliance.store import open_database
from appliance.store.attempts import Lease, LeaseRefused, complete, lease
from appliance.store.campaigns import get_campaign_by_id
from appliance.store.db import Database
from appliance.store.external import get_status
from tests.external.conftest import PASSWORD, Customer, list_config
from tests.pgserver import Postgres
from tests.scheduler.dbfixtures import add_campaign

# Wednesday 2026-06-10 12:00 in New York: inside calling hours.
NOW = dt.datetime(2026, 6, 10, 16, 0, tzinfo=dt.UTC).timestamp()


class Rig:
    def __init__(self, tmp: Path, pg: Postgres, customer: Customer, extra: str = "",
                 password: str = PASSWORD) -> None:  # fmt: skip
        secret = tmp / "crm.password"
        secret.write_text(password + "\n")
        raw = yaml.safe_load(
            f"database: {tmp}/box.db\nregion: US\n" + list_config(pg, customer, secret, extra)
        )
        self.config = DialboxConfig.model_validate(raw)
        self.db: Database = open_database(self.config.database)
        self.clock = ManualClock(NOW)
        self.sync = ExternalSync(self.config, self.clock)
        self.planner = StorePlanner(self.config, self.db, self.clock)
        self.customer = customer

    def campaign(self, name: str, **settings: Any) -> int:
        cid = add_campaign(self.db, name, json.dumps({"external_list": "crm", **settings}))
        self.db.conn.execute("UPDATE campaigns SET type = 'automated' WHERE id = ?", (cid,))
        return cid

    def dial(self, campaign_id: int, outcomes: list[Outcome]) -> list[Lease]:
        """Pick, lease and finish one attempt per outcome, as the engine does."""
        campaign = get_campaign_by_id(self.db, campaign_id)
        picks = self.planner.pick(campaign, self.clock.now(), len(outcomes), set())
        leases = []
        for pick, outcome in zip(picks, outcomes, strict=False):
            got = lease(self.db, pick.contact_id, pick.phone_index, pick.channel, self.clock.now())
            assert isinstance(got, Lease)
            report = AttemptReport(outcome, (), self.clock.now(), None, "gsm1")
            done = self.planner.decide(campaign, got, report, self.clock.now())
            assert complete(self.db, got, done, self.clock.now())
            leases.append(got)
        return leases

    def key_of(self, contact_id: int) -> int:
        return int(str(self.db.scalar("SELECT external_id FROM contacts WHERE id = ?",
                                      (contact_id,))))  # fmt: skip

    def why(self, campaign_id: int) -> dict[str, Any]:
        campaign = get_campaign_by_id(self.db, campaign_id)
        return self.planner.explain(campaign, self.clock.now(), lines_up=1).as_dict()


def test_dials_the_campaigns_rows_writes_back_four_fields_and_leaves_others(
    tmp_path: Path, pg: Postgres, customer: Customer
) -> None:
    customer.add(1, 4, "c")
    customer.add(101, 3, "other")
    rig = Rig(tmp_path, pg, customer)
    cid = rig.campaign("c")
    rig.sync.round(rig.db)
    # the campaign's rows are MarkedForDialing, the other campaign's untouched
    assert customer.states("c") == {1: 3, 2: 3, 3: 3, 4: 3}
    assert customer.states("other") == {101: 0, 102: 0, 103: 0}
    assert rig.db.scalar("SELECT count(*) FROM contacts WHERE campaign_id = ?", (cid,)) == 4
    assert rig.db.scalar("SELECT bp1 FROM contacts WHERE external_id = '2'") == "Kunde 2"

    leases = rig.dial(cid, [Outcome.BUSY, Outcome.CONNECTED, Outcome.WRONG_NUMBER])
    assert len(leases) == 3
    rig.clock.advance(1)
    rig.sync.round(rig.db)
    for got, outcome in zip(leases, [Outcome.BUSY, Outcome.CONNECTED, Outcome.WRONG_NUMBER],
                            strict=True):  # fmt: skip
        state, last, redial, count = customer.row(rig.key_of(got.contact_id))
        assert last == int(outcome) and count == 1
        next_at = rig.db.scalar("SELECT next_at FROM contacts WHERE id = ?", (got.contact_id,))
        if outcome is Outcome.BUSY:
            assert state == 2 and next_at is not None  # NoSuccess, redial at the strategy's time
            assert abs(float(redial) - float(str(next_at))) < 1
        elif outcome is Outcome.CONNECTED:
            assert state == 1
        else:
            assert state == -1  # Unreachable: a wrong number
    # the fourth row is still held (marked), not dialed; the other campaign never touched
    assert sorted(customer.states("c").values()) == [-1, 1, 2, 3]
    assert customer.states("other") == {101: 0, 102: 0, 103: 0}
    assert customer.sql("SELECT count(*) FROM changes WHERE id > 100") == [["0"]]
    # the busy row is not dialed again before its redial time, though its contact is local
    [last] = rig.dial(cid, [Outcome.BUSY, Outcome.BUSY])
    assert rig.key_of(last.contact_id) == 4
    rig.sync.round(rig.db)
    assert customer.row(4)[:2] == (2, 1) and customer.row(4)[3] == 1


def test_a_row_the_customer_changes_while_not_marked_is_picked_up_next_round(
    tmp_path: Path, pg: Postgres, customer: Customer
) -> None:
    customer.add(1, 1, "c")
    customer.add(2, 1, "c", state=1)  # Successful: not dialable
    rig = Rig(tmp_path, pg, customer)
    cid = rig.campaign("c")
    rig.sync.round(rig.db)
    [got] = rig.dial(cid, [Outcome.CONNECTED])
    rig.sync.round(rig.db)
    assert customer.states("c") == {1: 1, 2: 1}
    assert rig.dial(cid, [Outcome.BUSY]) == []
    # the customer sets both rows back to NoSuccess, one with a redial time in the future
    customer.sql(
        'UPDATE kontakte SET "ContactSuccessful" = 2, "RedialTime" = to_timestamp('
        f"{NOW - 60}) AT TIME ZONE 'UTC' WHERE id = 1"
    )
    customer.sql(
        'UPDATE kontakte SET "ContactSuccessful" = 2, "RedialTime" = to_timestamp('
        f"{NOW + 3600}) AT TIME ZONE 'UTC' WHERE id = 2"
    )
    rig.clock.advance(5)
    rig.sync.round(rig.db)
    assert customer.states("c") == {1: 3, 2: 2}
    [again] = rig.dial(cid, [Outcome.BUSY])
    assert again.contact_id == got.contact_id and again.attempt_no == 2
    rig.sync.round(rig.db)
    assert customer.row(1)[:2] == (2, 1) and customer.row(1)[3] == 2
    # at its redial time the second row comes too
    rig.clock.advance(3600)
    rig.sync.round(rig.db)
    assert customer.states("c")[2] == 3


def test_results_queued_while_postgres_is_down_are_written_back_in_order(
    tmp_path: Path, pg: Postgres, customer: Customer
) -> None:
    customer.add(1, 6, "c")
    rig = Rig(tmp_path, pg, customer)
    cid = rig.campaign("c", max_attempts_per_day=10)
    rig.sync.round(rig.db)
    first = rig.dial(cid, [Outcome.BUSY, Outcome.BUSY])
    pg.stop()
    try:
        # the box goes on dialing what it holds; the results wait in its store
        later = rig.dial(cid, [Outcome.CONNECTED, Outcome.ANSWERING_MACHINE, Outcome.REJECTED])
        rig.clock.advance(1)
        rig.sync.round(rig.db)
        status = get_status(rig.db, cid)
        assert status is not None and status.error is not None
        assert "crm" in status.error and PASSWORD not in status.error
        why = rig.why(cid)
        assert any("cannot be used" in b["text"] for b in why["blockers"]), why
        assert "5 results wait to be written back" in json.dumps(why)
        assert rig.db.scalar("SELECT count(*) FROM external_writes WHERE done_at IS NULL") == 5
        scraped = Metrics(rig.db, now=rig.clock.now).render().decode()
        assert 'dialbox_external_writes_pending{campaign="c"} 5.0' in scraped
        assert 'dialbox_external_list_up{campaign="c",list="crm"} 0.0' in scraped
    finally:
        pg.start()
    rig.clock.advance(5)  # past the back-off
    rig.sync.round(rig.db)
    assert rig.db.scalar("SELECT count(*) FROM external_writes WHERE done_at IS NULL") == 0
    scraped = Metrics(rig.db, now=rig.clock.now).render().decode()
    assert 'dialbox_external_list_up{campaign="c",list="crm"} 1.0' in scraped
    # every result arrived, in the order the attempts ended
    keys = [rig.key_of(g.contact_id) for g in [*first, *later]]
    logged = [
        int(r[0]) for r in customer.sql("SELECT id FROM changes WHERE state != 3 ORDER BY seq")
    ]
    assert logged == keys
    assert [customer.row(k)[1] for k in keys] == [1, 1, 0, 7, 16]


def test_held_rows_are_released_to_their_previous_state_on_stop_and_after_a_crash(
    tmp_path: Path, pg: Postgres, customer: Customer
) -> None:
    customer.add(1, 2, "c")
    customer.add(3, 2, "c", state=2)
    rig = Rig(tmp_path, pg, customer)
    cid = rig.campaign("c")
    rig.sync.round(rig.db)
    assert customer.states("c") == {1: 3, 2: 3, 3: 3, 4: 3}
    # a row released between the planner's pick and the lease (the sync's thread) is not dialed
    picks = rig.planner.pick(get_campaign_by_id(rig.db, cid), NOW, 4, set())
    assert len(picks) == 4
    # a crash: the next start's component releases what the last run held, before any round
    ExternalListsComponent(rig.config, rig.db, rig.clock)
    refused = lease(rig.db, picks[0].contact_id, 1, picks[0].channel, NOW)
    assert isinstance(refused, LeaseRefused) and refused.reason == "released"
    assert rig.dial(cid, [Outcome.BUSY]) == []  # nothing held: nothing dialed
    rig.sync.round(rig.db)  # the releases are written, then the rows are taken again
    assert [r[0] for r in customer.sql("SELECT state FROM changes WHERE id = 3 ORDER BY seq")] == [
        "3",
        "2",
        "3",
    ]
    # a stopped campaign gives its rows back at the next round
    rig.db.conn.execute("UPDATE campaigns SET status = 'stopped' WHERE id = ?", (cid,))
    rig.sync.round(rig.db)
    rig.sync.round(rig.db)
    assert customer.states("c") == {1: 0, 2: 0, 3: 2, 4: 2}


def test_a_wrong_password_stops_the_campaign_and_why_says_so(
    tmp_path: Path, pg: Postgres, customer: Customer
) -> None:
    customer.add(1, 2, "c")
    rig = Rig(tmp_path, pg, customer, password="not-the-password")
    cid = rig.campaign("c")
    other = rig.campaign("d")
    rig.sync.round(rig.db)
    # one refused connection for the list this round; both its campaigns say so
    for campaign_id in (cid, other):
        status = get_status(rig.db, campaign_id)
        assert status is not None and "password authentication failed" in str(status.error)
    assert customer.states("c") == {1: 0, 2: 0}
    assert rig.dial(cid, [Outcome.BUSY]) == []
    why = rig.why(cid)
    assert not why["dialing"]
    assert "password authentication failed" in why["headline"], why
    assert "not-the-password" not in json.dumps(why)


def test_a_mapping_naming_a_missing_column_is_an_error_naming_it(
    tmp_path: Path, pg: Postgres, customer: Customer
) -> None:
    customer.add(1, 1, "c")
    rig = Rig(tmp_path, pg, customer, extra="    key: id\n")
    raw = rig.config.model_dump(by_alias=True)
    raw["external_lists"][0]["columns"] = {"phone1": "Telefon"}
    rig.config = DialboxConfig.model_validate(raw)
    rig.sync = ExternalSync(rig.config, rig.clock)
    rig.planner = StorePlanner(rig.config, rig.db, rig.clock)
    cid = rig.campaign("c")
    rig.sync.round(rig.db)
    why = rig.why(cid)
    assert "no column 'Telefon' (columns.phone1)" in why["headline"], why
    assert customer.states("c") == {1: 0}
    # a field that does not exist is refused when the config is read, naming it
    raw["external_lists"][0]["columns"] = {"phone9": "Tel"}
    with pytest.raises(ValidationError, match="phone9"):
        DialboxConfig.model_validate(raw)
    raw["external_lists"][0]["columns"] = {}
    raw["external_lists"][0]["url"] = "postgresql+psycopg://dialbox:pw@/crm"
    with pytest.raises(ValidationError, match="password_file or password_env"):
        DialboxConfig.model_validate(raw)


def test_a_huge_table_is_read_a_batch_at_a_time_and_why_counts_bounded(
    tmp_path: Path, pg: Postgres, customer: Customer
) -> None:
    customer.add(1, 30_000, "c")
    customer.add(40_001, 5, "c", state=3)  # held by another dialer
    rig = Rig(tmp_path, pg, customer, extra="    batch: 40\n")
    cid = rig.campaign("c")
    rig.sync.round(rig.db)
    assert customer.sql('SELECT count(*) FROM kontakte WHERE "ContactSuccessful" = 3') == [["45"]]
    assert rig.db.scalar("SELECT count(*) FROM contacts") == 40
    rig.sync.round(rig.db)  # still 40 held: nothing more is taken
    assert rig.db.scalar("SELECT count(*) FROM contacts") == 40
    status = get_status(rig.db, cid)
    assert status is not None and status.matching == 10_000 and status.held_by_others == 5
    why = json.dumps(rig.why(cid))
    assert "5 rows of external list crm" in why and "MarkedForDialing by others" in why
    # a campaign with no matching row says so, with the rule
    other = rig.campaign("nobody")
    rig.sync.round(rig.db)
    assert "no row of external list crm matches" in rig.why(other)["headline"]


def test_a_campaign_naming_an_unknown_list_is_refused_by_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from appliance.cli import main

    config = tmp_path / "dialbox.yaml"
    config.write_text(
        f"database: {tmp_path}/box.db\nexternal_lists:\n  - name: crm\n"
        "    url: sqlite:////nonexistent.db\n    table: kontakte\n"
    )
    cli = ["--config", str(config)]
    assert main([*cli, "campaign", "create", "c", "--type", "automated"]) == 0
    assert main([*cli, "campaign", "set", "c", "external_list=erp"]) != 0
    assert "no external list named 'erp'; the config defines: crm" in capsys.readouterr().err
    assert main([*cli, "campaign", "set", "c", "external_list=crm"]) == 0


def test_a_sqlite_file_serves_as_a_trial_list(tmp_path: Path) -> None:
    import sqlalchemy as sa

    trial = tmp_path / "trial.db"
    engine = sa.create_engine(f"sqlite:///{trial}")
    with engine.begin() as conn:
        conn.execute(sa.text(
            "CREATE TABLE kontakte (id INTEGER PRIMARY KEY, CampaignName TEXT,"
            " ContactSuccessful INTEGER NOT NULL DEFAULT 0, LastState INTEGER,"
            " RedialTime DATETIME, NumberOfContacts INTEGER NOT NULL DEFAULT 0, Phone1 TEXT)"
        ))  # fmt: skip
        conn.execute(sa.text(
            "INSERT INTO kontakte(id, CampaignName, Phone1) VALUES"
            " (1, 'c', '(212) 555-0101'), (2, 'c', 'not a number'), (3, 'x', '(212) 555-0103')"
        ))  # fmt: skip
    config = DialboxConfig.model_validate(yaml.safe_load(
        f"database: {tmp_path}/box.db\nexternal_lists:\n  - name: crm\n"
        f"    url: sqlite:///{trial}\n    table: kontakte\n"
    ))  # fmt: skip
    db = open_database(config.database)
    clock = ManualClock(NOW)
    cid = add_campaign(db, "c", json.dumps({"external_list": "crm"}))
    sync = ExternalSync(config, clock)
    sync.round(db)
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT id, ContactSuccessful, LastState FROM kontakte ORDER BY id")).all()  # fmt: skip
    # row 1 marked; row 2's number is no phone number: Unreachable, WrongNumber; row 3 not ours
    assert [tuple(r) for r in rows] == [(1, 3, None), (2, -1, 4), (3, 0, None)]
    planner = StorePlanner(config, db, clock)
    [pick] = planner.pick(get_campaign_by_id(db, cid), NOW, 5, set())
    got = lease(db, pick.contact_id, pick.phone_index, pick.channel, NOW)
    assert isinstance(got, Lease)
    report = AttemptReport(Outcome.ALERTING_TIMEOUT, (), NOW, None, "gsm1")
    assert complete(db, got, planner.decide(get_campaign_by_id(db, cid), got, report, NOW), NOW)
    sync.round(db)
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT ContactSuccessful, LastState, RedialTime,"
                                   " NumberOfContacts FROM kontakte WHERE id = 1")).one()  # fmt: skip
    next_at = float(str(db.scalar("SELECT next_at FROM contacts WHERE id = ?", (got.contact_id,))))
    assert (row[0], row[1], row[3]) == (2, 13, 1)
    assert dt.datetime.fromisoformat(str(row[2])).replace(tzinfo=dt.UTC).timestamp() == next_at


def test_check_config_connect_names_a_missing_column_and_a_wrong_password(
    tmp_path: Path, pg: Postgres, customer: Customer, capsys: pytest.CaptureFixture[str]
) -> None:
    from appliance.cli import main

    secret = tmp_path / "pw"
    secret.write_text(PASSWORD)
    config = tmp_path / "dialbox.yaml"
    body = f"database: {tmp_path}/box.db\n" + list_config(pg, customer, secret)
    config.write_text(body)
    assert main(["check-config", str(config), "--connect"]) == 0
    config.write_text(body.replace("{bp1: Name}", "{bp1: Name, phone2: Mobil}"))
    assert main(["check-config", str(config)]) == 0  # offline: the file itself is fine
    assert main(["check-config", str(config), "--connect"]) == 1
    err = capsys.readouterr().err
    assert "external_lists[crm]: external list crm: table 'kontakte' has no column 'Mobil'" in err
    assert "(columns.phone2)" in err
    secret.write_text("Zq9-not-it")
    config.write_text(body)
    assert main(["check-config", str(config), "--connect"]) == 1
    err = capsys.readouterr().err
    assert "password authentication failed" in err and "Zq9-not-it" not in err


def test_a_mark_whose_commit_fails_is_given_back_and_taken_again_later(
    tmp_path: Path, pg: Postgres, customer: Customer
) -> None:
    customer.add(1, 2, "c")
    # the customer's database refuses the mark at COMMIT (a deferred check), after the box
    # mirrored the rows: the box must neither dial them nor leave them held
    customer.sql(
        "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN"
        " RAISE EXCEPTION 'marks refused at commit'; END $$ LANGUAGE plpgsql;"
        " CREATE CONSTRAINT TRIGGER refuse_marks AFTER UPDATE ON kontakte DEFERRABLE INITIALLY"
        ' DEFERRED FOR EACH ROW WHEN (NEW."ContactSuccessful" = 3) EXECUTE FUNCTION refuse()'
    )
    rig = Rig(tmp_path, pg, customer)
    cid = rig.campaign("c")
    rig.sync.round(rig.db)
    assert customer.states("c") == {1: 0, 2: 0}
    assert rig.dial(cid, [Outcome.BUSY]) == []
    status = get_status(rig.db, cid)
    assert status is not None and "marks refused at commit" in str(status.error)
    owed = rig.db.conn.execute("SELECT row_key, kind FROM external_writes ORDER BY id").fetchall()
    assert [tuple(r) for r in owed] == [("1", "release"), ("2", "release")]
    customer.sql("DROP TRIGGER refuse_marks ON kontakte")
    rig.sync.round(rig.db)  # the releases change nothing (the rows were never marked); taken now
    assert customer.states("c") == {1: 3, 2: 3}
    assert [r[0] for r in customer.sql("SELECT state FROM changes ORDER BY seq")] == ["3", "3"]
    assert len(rig.dial(cid, [Outcome.BUSY, Outcome.BUSY])) == 2


@pytest.mark.parametrize(
    ("summary", "next_at", "expected"),
    [(1, None, 1), (1, NOW, 1), (2, NOW, 2), (2, None, -1), (-1, None, -1), (3, NOW, 2),
     (0, None, -1)],
)  # fmt: skip
def test_contact_successful_written_back(
    summary: int, next_at: float | None, expected: int
) -> None:
    from appliance.store.external import contact_state_code

    assert contact_state_code(summary, next_at) == expected


def test_the_password_may_come_from_the_environment_and_its_absence_is_said(
    tmp_path: Path,
    pg: Postgres,
    customer: Customer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from appliance.cli import main

    config = tmp_path / "dialbox.yaml"
    body = f"database: {tmp_path}/box.db\n" + list_config(pg, customer, tmp_path / "none")
    config.write_text(body.replace(f"password_file: {tmp_path / 'none'}", "password_env: CRM_PW"))
    monkeypatch.delenv("CRM_PW", raising=False)
    assert main(["check-config", str(config), "--connect"]) == 1
    assert "the environment variable CRM_PW is not set" in capsys.readouterr().err
    monkeypatch.setenv("CRM_PW", PASSWORD)
    assert main(["check-config", str(config), "--connect"]) == 0
