"""The reports' store queries (SPEC O7) on a fixture of known attempts in New York time: exact
figures per agent, per line and per campaign, hours and days across both DST changes of 2026,
an agent with no calls, a line with only faults, and one snapshot while another connection writes."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from pathlib import Path
from typing import Any

import pytest

from appliance.domain import Outcome
from appliance.errors import NotFound
from appliance.periods import PeriodError, make_period
from appliance.store import Database, open_database
from appliance.store.agents import put_agent, save_state
from appliance.store.reports import agents_report, campaigns_report, lines_report

ZONE = "America/New_York"
NY = zoneinfo.ZoneInfo(ZONE)
NOW = dt.datetime(2026, 12, 1, tzinfo=NY).timestamp()  # after everything in the fixture


def at(text: str) -> float:
    """A local time with its offset written out, as seconds since the epoch."""
    return dt.datetime.fromisoformat(text).timestamp()


class Fixture:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.contacts = 0

    def campaign(self, name: str, type_: str = "agent") -> int:
        self.db.conn.execute(
            "INSERT INTO campaigns(name, type, region, created_at, updated_at)"
            " VALUES (?, ?, 'US', 0, 0)",
            (name, type_),
        )
        return self.db.conn.last_insert_rowid()

    def attempt(self, campaign: int, queued: str, *, line: str, outcome: Outcome | None,
                answered: float | None = None, length: float = 60.0, agent: str | None = None,
                disposition: str | None = None, channel: str = "voice", status: str = "done",
                state: str = "Not Connected") -> None:  # fmt: skip
        """One attempt queued at `queued` (local, with offset), dialed 1 s later, answered
        `answered` s after queueing, ended `length` s after the answer (or the dial)."""
        self.contacts += 1
        n = self.contacts
        self.db.conn.execute(
            "INSERT INTO contacts(id, campaign_id, dedup_key, phone1, e164_1, state, created_at,"
            " updated_at) VALUES (?, ?, ?, ?, ?, ?, 0, 0)",
            (n, campaign, n, f"+1212555{n:04d}", f"+1212555{n:04d}", state),
        )
        t = at(queued)
        answered_at = None if answered is None else t + answered
        ended = (answered_at if answered_at is not None else t + 1) + length
        self.db.conn.execute(
            "INSERT INTO attempts(contact_id, campaign_id, attempt_no, phone_index, number,"
            " channel, line, agent, status, queued_at, dialed_at, answered_at, ended_at, outcome,"
            " disposition) VALUES (?, ?, 1, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (n, campaign, f"+1212555{n:04d}", channel, line, agent, status, t, t + 1,
             answered_at, ended, None if outcome is None else int(outcome), disposition),
        )  # fmt: skip

    def line(self, name: str, signal: int | None, state: str = "up") -> None:
        self.db.conn.execute(
            "INSERT INTO lines(name, kind, device, state, info, updated_at)"
            " VALUES (?, 'gsm', '/dev/x', ?, ?, ?)",
            (name, state, f'{{"signal_dbm": {"null" if signal is None else signal}}}',
             at("2026-03-08T12:00:00-04:00")),
        )  # fmt: skip

    def states(self, agent: str, *changes: tuple[str, str]) -> None:
        for when, state in changes:
            save_state(self.db, agent, state, at(when), seat="s1", campaigns=["spring"])


@pytest.fixture()
def db(tmp_path: Path) -> Database:
    db = open_database(tmp_path / "reports.db")
    f = Fixture(db)
    spring, texts = f.campaign("spring"), f.campaign("texts", "sms")
    f.campaign("empty")
    for name in ("anna", "ben", "cy"):
        put_agent(db, name, extension="s1", group=None, skills=[], now=0.0, actor="test")
    for name, signal, state in (("gsm0", -67, "up"), ("gsm1", -101, "down"), ("gsm2", -80, "up")):
        f.line(name, signal, state)
    with db.transaction():
        # 8 March 2026: New York springs forward at 02:00 EST to 03:00 EDT (a 23-hour day).
        f.attempt(
            spring,
            "2026-03-08T01:30:00-05:00",
            line="gsm0",
            outcome=Outcome.CONNECTED,
            answered=10,
            length=60,
            agent="anna",
            disposition="sale",
        )
        f.attempt(
            spring,
            "2026-03-08T03:15:00-04:00",
            line="gsm0",
            outcome=Outcome.AGENT_HANG_UP,
            answered=10,
            length=60,
            agent="anna",
            disposition="no interest",
        )
        f.attempt(
            spring,
            "2026-03-08T03:40:00-04:00",
            line="gsm0",
            outcome=Outcome.ABANDONED,
            answered=10,
            length=10,
        )
        f.attempt(
            spring,
            "2026-03-08T03:50:00-04:00",
            line="gsm0",
            outcome=Outcome.ANSWERING_MACHINE,
            answered=10,
            length=15,
        )
        f.attempt(
            spring,
            "2026-03-08T23:59:59-04:00",
            line="gsm0",
            outcome=Outcome.ALERTING_TIMEOUT,
            length=30,
        )
        f.attempt(spring, "2026-03-09T00:00:00-04:00", line="gsm0", outcome=Outcome.BUSY, length=5)
        # gsm1 only fails: an error, no line, one left dangling, an SMS that was not sent
        f.attempt(
            spring,
            "2026-03-08T04:10:00-04:00",
            line="gsm1",
            outcome=Outcome.ERROR_OCCURRED,
            length=2,
        )
        f.attempt(
            spring, "2026-03-08T04:20:00-04:00", line="gsm1", outcome=Outcome.NO_LINE, length=0
        )
        f.attempt(
            spring,
            "2026-03-08T04:30:00-04:00",
            line="gsm1",
            outcome=None,
            status="dangling",
            length=0,
        )
        f.attempt(
            texts,
            "2026-03-08T10:00:00-04:00",
            line="gsm0",
            outcome=Outcome.CONNECTED,
            channel="sms",
            state="SMS responded",
            length=0,
        )
        f.attempt(
            texts,
            "2026-03-08T10:05:00-04:00",
            line="gsm0",
            outcome=Outcome.CONNECTED,
            channel="sms",
            state="SMS sent",
            length=0,
        )
        f.attempt(
            texts,
            "2026-03-08T10:10:00-04:00",
            line="gsm1",
            outcome=Outcome.ERROR_OCCURRED,
            channel="sms",
            length=0,
        )
        # 1 November 2026: back at 02:00 EDT to 01:00 EST (a 25-hour day, 01:00 twice).
        f.attempt(spring, "2026-11-01T01:30:00-04:00", line="gsm0", outcome=Outcome.BUSY)
        f.attempt(spring, "2026-11-01T01:30:00-05:00", line="gsm0", outcome=Outcome.BUSY)
        f.attempt(spring, "2026-11-01T23:30:00-05:00", line="gsm0", outcome=Outcome.BUSY)
        f.attempt(spring, "2026-11-02T00:10:00-05:00", line="gsm0", outcome=Outcome.BUSY)
        db.conn.execute(
            "INSERT INTO imports(campaign_id, source, started_at, finished_at, dnc)"
            " VALUES (?, 'file', ?, ?, 2)",
            (spring, at("2026-03-08T12:00:00-04:00"), at("2026-03-08T12:00:05-04:00")),
        )
    # anna: logged in 01:00 EST to 05:00 EDT (3 h, the skipped hour is not there), paused the
    # first 10 minutes, two calls of 60 s talk and 30 s wrap-up
    f.states("anna", ("2026-03-08T01:00:00-05:00", "paused"), ("2026-03-08T01:10:00-05:00", "ready"),
             ("2026-03-08T01:30:10-05:00", "talking"), ("2026-03-08T01:31:10-05:00", "wrap_up"),
             ("2026-03-08T01:31:40-05:00", "ready"), ("2026-03-08T03:15:10-04:00", "talking"),
             ("2026-03-08T03:16:10-04:00", "wrap_up"), ("2026-03-08T03:16:40-04:00", "ready"),
             ("2026-03-08T05:00:00-04:00", "logged_out"))  # fmt: skip
    # ben: paused since the evening before, logged out at 01:00; no calls
    f.states("ben", ("2026-03-07T23:00:00-05:00", "paused"),
             ("2026-03-08T01:00:00-05:00", "logged_out"))  # fmt: skip
    return db


def _period(start: str, end: str | None, by: str) -> Any:
    return make_period(start, end, by, ZONE, NOW)


def _by(rows: list[dict[str, Any]], key: str) -> dict[Any, dict[str, Any]]:
    return {row[key]: row for row in rows}


def test_campaigns_over_the_spring_forward_day(db: Database) -> None:
    report = campaigns_report(db, _period("2026-03-08", None, "total"), now=NOW)
    got = _by(report.rows, "campaign")
    assert set(got) == {"spring", "texts", "empty"}
    assert {k: v for k, v in got["spring"].items() if k != "period"} == {
        "campaign": "spring", "attempts": 8, "calls": 8, "connects": 4, "human": 3,
        "to_agent": 2, "abandoned": 1, "abandon_rate": 0.25, "talk_seconds": 145.0,
        "sms_sent": 0, "sms_failed": 0, "sms_replied": 0, "dnc_skips": 2,
    }  # fmt: skip
    texts = got["texts"]
    assert (texts["attempts"], texts["calls"], texts["sms_sent"], texts["sms_failed"],
            texts["sms_replied"], texts["abandon_rate"]) == (3, 0, 2, 1, 1, None)  # fmt: skip
    assert got["empty"]["attempts"] == 0 and got["empty"]["abandon_rate"] is None
    assert got["spring"]["period"] == "2026-03-08T00:00:00-05:00"
    assert report.total["attempts"] == 11 and report.total["abandon_rate"] == 0.25
    assert report.as_dict()["to"] == "2026-03-09T00:00:00-04:00"


def test_hours_of_the_23_hour_day_and_the_day_boundary(db: Database) -> None:
    report = campaigns_report(db, _period("2026-03-08", None, "hour"), campaign="spring", now=NOW)
    labels = [s["period"] for s in report.series]
    assert len(labels) == 23  # 02:00 does not exist that night
    assert labels[:4] == ["2026-03-08T00:00:00-05:00", "2026-03-08T01:00:00-05:00",
                          "2026-03-08T03:00:00-04:00", "2026-03-08T04:00:00-04:00"]  # fmt: skip
    per_hour = {r["period"]: r["attempts"] for r in report.rows}
    assert per_hour == {
        "2026-03-08T01:00:00-05:00": 1,
        "2026-03-08T03:00:00-04:00": 3,
        "2026-03-08T04:00:00-04:00": 3,
        "2026-03-08T12:00:00-04:00": 0,  # no attempt, but the import's two DNC skips
        "2026-03-08T23:00:00-04:00": 1,  # 23:59:59 is still the 8th; midnight is the 9th
    }
    assert {r["period"]: r["dnc_skips"] for r in report.rows if r["dnc_skips"]} == {
        "2026-03-08T12:00:00-04:00": 2
    }
    days = campaigns_report(db, _period("2026-03-07", "2026-03-09", "day"), campaign="spring",
                            now=NOW)  # fmt: skip
    assert [(s["period"], s["attempts"]) for s in days.series] == [
        ("2026-03-07T00:00:00-05:00", 0),
        ("2026-03-08T00:00:00-05:00", 8),
        ("2026-03-09T00:00:00-04:00", 1),
    ]
    assert [r["campaign"] for r in days.rows] == ["spring", "spring"]  # the empty day has no row


def test_the_repeated_hour_of_the_fall_back_day(db: Database) -> None:
    report = campaigns_report(db, _period("2026-11-01", None, "hour"), now=NOW)
    labels = [s["period"] for s in report.series]
    assert len(labels) == 25
    assert labels[1:3] == ["2026-11-01T01:00:00-04:00", "2026-11-01T01:00:00-05:00"]
    assert [s["attempts"] for s in report.series[1:3]] == [1, 1]
    assert report.series[-1]["period"] == "2026-11-01T23:00:00-05:00"
    assert report.series[-1]["attempts"] == 1
    days = campaigns_report(db, _period("2026-11-01", "2026-11-02", "day"), now=NOW)
    assert [(s["period"], s["attempts"]) for s in days.series] == [
        ("2026-11-01T00:00:00-04:00", 3),  # 25 hours: both 01:30s and 23:30
        ("2026-11-02T00:00:00-05:00", 1),
    ]


def test_agents_time_calls_dispositions_and_occupancy(db: Database) -> None:
    report = agents_report(db, _period("2026-03-08", None, "total"), now=NOW)
    got = _by(report.rows, "agent")
    assert {k: v for k, v in got["anna"].items() if k != "period"} == {
        "agent": "anna", "calls": 2, "talk_seconds": 120.0, "wrap_seconds": 60.0,
        "paused_seconds": 600.0, "logged_in_seconds": 10800.0, "occupancy": 0.0167,
        "dispositions": {"no interest": 1, "sale": 1},
    }  # fmt: skip
    # ben made no call: logged in (paused) from the evening before until 01:00, one hour of it
    # in this day
    assert {k: v for k, v in got["ben"].items() if k != "period"} == {
        "agent": "ben", "calls": 0, "talk_seconds": 0.0, "wrap_seconds": 0.0,
        "paused_seconds": 3600.0, "logged_in_seconds": 3600.0, "occupancy": 0.0,
        "dispositions": {},
    }  # fmt: skip
    assert got["cy"]["logged_in_seconds"] == 0.0 and got["cy"]["occupancy"] is None
    hours = agents_report(db, _period("2026-03-08", None, "hour"), now=NOW)
    anna = {r["period"]: r for r in hours.rows if r["agent"] == "anna"}
    assert sorted(anna) == ["2026-03-08T01:00:00-05:00", "2026-03-08T03:00:00-04:00",
                            "2026-03-08T04:00:00-04:00"]  # fmt: skip
    first = anna["2026-03-08T01:00:00-05:00"]
    assert (first["logged_in_seconds"], first["paused_seconds"], first["talk_seconds"],
            first["wrap_seconds"], first["calls"]) == (3600.0, 600.0, 60.0, 30.0, 1)  # fmt: skip
    assert anna["2026-03-08T04:00:00-04:00"]["calls"] == 0
    assert sum(s["logged_in_seconds"] for s in hours.series) == 10800.0 + 3600.0


def test_an_agent_still_logged_in_counts_up_to_now(db: Database) -> None:
    save_state(db, "cy", "ready", at("2026-03-08T20:00:00-04:00"), seat="s1", campaigns=[])
    now = at("2026-03-08T20:30:00-04:00")
    report = agents_report(db, make_period("2026-03-08", None, "total", ZONE, now), now=now)
    assert _by(report.rows, "agent")["cy"]["logged_in_seconds"] == 1800.0


def test_agents_calls_narrowed_to_a_campaign(db: Database) -> None:
    report = agents_report(db, _period("2026-03-08", None, "total"), campaign="texts", now=NOW)
    anna = _by(report.rows, "agent")["anna"]
    assert anna["calls"] == 0 and anna["logged_in_seconds"] == 10800.0  # time stays the agent's


def test_lines_outcomes_faults_and_signal(db: Database) -> None:
    report = lines_report(db, _period("2026-03-08", None, "total"), now=NOW)
    got = _by(report.rows, "line")
    assert {k: v for k, v in got["gsm0"].items() if k != "period"} == {
        "line": "gsm0", "attempts": 7, "calls": 5, "sms": 2, "human": 3, "machine": 1,
        "no_answer": 1, "busy": 0, "invalid": 0, "faults": 0, "busy_seconds": 211.0,
        "signal_dbm": -67, "state": "up", "last_error": None,
        "recorded_at": "2026-03-08T12:00:00-04:00",
    }  # fmt: skip
    gsm1 = got["gsm1"]  # nothing but faults
    assert (gsm1["attempts"], gsm1["calls"], gsm1["sms"], gsm1["faults"], gsm1["human"],
            gsm1["signal_dbm"], gsm1["state"]) == (4, 3, 1, 4, 0, -101, "down")  # fmt: skip
    assert got["gsm2"]["attempts"] == 0 and got["gsm2"]["signal_dbm"] == -80
    hours = lines_report(db, _period("2026-03-08", None, "hour"), now=NOW)
    assert {(r["period"], r["line"]): r["faults"] for r in hours.rows if r["faults"]} == {
        ("2026-03-08T04:00:00-04:00", "gsm1"): 3,
        ("2026-03-08T10:00:00-04:00", "gsm1"): 1,
    }
    assert all(r["signal_dbm"] == -101 for r in hours.rows if r["line"] == "gsm1")


def test_csv_has_the_rows_with_a_header(db: Database) -> None:
    report = agents_report(db, _period("2026-03-08", None, "total"), now=NOW)
    lines = report.csv().splitlines()
    assert lines[0] == (
        "period,agent,calls,talk_seconds,wrap_seconds,paused_seconds,logged_in_seconds,"
        "occupancy,dispositions"
    )
    assert lines[1] == (
        "2026-03-08T00:00:00-05:00,anna,2,120.0,60.0,600.0,10800.0,0.0167,no interest=1; sale=1"
    )
    assert lines[3].startswith("2026-03-08T00:00:00-05:00,cy,0,") and lines[3].endswith(",,")


def test_a_campaign_that_does_not_exist(db: Database) -> None:
    with pytest.raises(NotFound, match="known campaigns: empty, spring, texts"):
        lines_report(db, _period("2026-03-08", None, "day"), campaign="nope", now=NOW)


def test_one_snapshot_while_another_connection_writes(db: Database) -> None:
    """A writer commits between the report's queries (the hook runs it just before the
    imports are read): the report counts neither its attempt nor its import."""
    period = _period("2026-03-08", None, "total")
    before = campaigns_report(db, period, now=NOW).as_dict()
    writer = Database(db.path)
    wrote: list[bool] = []

    def write_between(cursor: Any, sql: str, bindings: Any) -> bool:
        if "FROM b CROSS JOIN imports" in sql and not wrote:
            wrote.append(True)
            with writer.transaction():
                writer.conn.execute(
                    "INSERT INTO attempts(contact_id, campaign_id, attempt_no, number, channel,"
                    " status, queued_at, outcome) VALUES (1, 1, 2, '+1', 'voice', 'done', ?, 0)",
                    (at("2026-03-08T09:00:00-04:00"),),
                )
                writer.conn.execute(
                    "INSERT INTO imports(campaign_id, source, started_at, dnc) VALUES (1, 'x', ?, 5)",
                    (at("2026-03-08T09:00:00-04:00"),),
                )
        return True

    db.conn.exec_trace = write_between
    try:
        during = campaigns_report(db, period, now=NOW).as_dict()
    finally:
        db.conn.exec_trace = None
    assert wrote and during == before
    after = campaigns_report(db, period, now=NOW).as_dict()
    assert after["total"]["attempts"] == before["total"]["attempts"] + 1
    assert after["total"]["dnc_skips"] == before["total"]["dnc_skips"] + 5
    writer.close()


@pytest.mark.parametrize(
    ("start", "end", "by", "says"),
    [
        ("2016-01-01", "2026-01-01", "day", "3654 days long; by=day reports cover at most 366"),
        ("2026-01-01", "2026-03-01", "hour", "at most 31 days; ask by=day"),
        ("2026-03-09", "2026-03-08", "day", "must be before to"),
        ("2026-03-08T10:00", "2026-03-08T10:00", "hour", "must be before to"),
        ("yesterday", None, "day", "from: 'yesterday' is not an ISO 8601 date or time"),
        ("2026-03-08", "2026-13-45", "day", "to: '2026-13-45' is not an ISO 8601"),
        ("2026-03-08", None, "week", "by: 'week' is not one of hour, day, total"),
        ("9999-12-31", None, "day", "out of range"),
        ("\x00" * 100, None, "day", "is not an ISO 8601"),
    ],
)
def test_periods_refused_with_what_to_write(start: str, end: str | None, by: str,
                                            says: str) -> None:  # fmt: skip
    with pytest.raises(PeriodError, match=says.replace("(", r"\(")):
        make_period(start, end, by, ZONE, NOW)


def test_period_defaults_and_forms() -> None:
    today = make_period(None, None, None, ZONE, at("2026-03-08T15:00:00-04:00"))
    assert today.as_dict() == {"from": "2026-03-08T00:00:00-05:00",
                               "to": "2026-03-09T00:00:00-04:00", "by": "day",
                               "timezone": ZONE}  # fmt: skip
    given = make_period("2026-03-08T09:30:00Z", "2026-03-08T12:00", "hour", ZONE, NOW)
    assert given.as_dict()["from"] == "2026-03-08T05:30:00-04:00"
    assert given.as_dict()["to"] == "2026-03-08T12:00:00-04:00"  # no offset: local time
    assert [b.label for b in given.buckets()][:2] == ["2026-03-08T05:00:00-04:00",
                                                      "2026-03-08T06:00:00-04:00"]  # fmt: skip
    assert given.buckets()[0].start == given.start  # clipped to the period
