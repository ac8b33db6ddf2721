"""The reports' store queries (SPEC O7) on a fixture of known attempts in New York time: exact
figures per agent, per line and per campaign, hours and days across both DST changes of 2025,
an agent with no calls, a line with only faults, and one snapshot while another connection writes."""

from __future__ import annotations

from typing import Any

import pytest

from appliance.errors import NotFound
from appliance.periods import PeriodError, make_period
from appliance.store import Database
from appliance.store.agents import save_state
from appliance.store.reports import agents_report, campaigns_report, lines_report
from tests.store.report_fixture import NOW, ZONE, at, build


@pytest.fixture()
def db(db_url: str) -> Database:  # tests/store/conftest.py: each engine
    return build(db_url)


def _period(start: str, end: str | None, by: str) -> Any:
    return make_period(start, end, by, ZONE, NOW)


def _by(rows: list[dict[str, Any]], key: str) -> dict[Any, dict[str, Any]]:
    return {row[key]: row for row in rows}


def test_campaigns_over_the_spring_forward_day(db: Database) -> None:
    report = campaigns_report(db, _period("2025-03-09", None, "total"), now=NOW)
    got = _by(report.rows, "campaign")
    assert set(got) == {"spring", "texts", "empty"}
    assert {k: v for k, v in got["spring"].items() if k != "period"} == {
        "campaign": "spring", "attempts": 8, "calls": 8, "connects": 4, "human": 3,
        "to_agent": 2, "abandoned": 1, "abandon_rate": 0.25, "talk_seconds": 145.0,
        "sms_sent": 0, "sms_failed": 0, "sms_replied": 0, "email_sent": 0, "email_failed": 0,
        "email_bounced": 0, "dnc_skips": 2, "inbound": 0,
    }  # fmt: skip
    texts = got["texts"]
    assert (texts["attempts"], texts["calls"], texts["sms_sent"], texts["sms_failed"],
            texts["sms_replied"], texts["abandon_rate"]) == (3, 0, 2, 1, 1, None)  # fmt: skip
    assert got["empty"]["attempts"] == 0 and got["empty"]["abandon_rate"] is None
    assert got["spring"]["period"] == "2025-03-09T00:00:00-05:00"
    assert report.total["attempts"] == 11 and report.total["abandon_rate"] == 0.25
    assert report.as_dict()["to"] == "2025-03-10T00:00:00-04:00"


def test_hours_of_the_23_hour_day_and_the_day_boundary(db: Database) -> None:
    report = campaigns_report(db, _period("2025-03-09", None, "hour"), campaign="spring", now=NOW)
    labels = [s["period"] for s in report.series]
    assert len(labels) == 23  # 02:00 does not exist that night
    assert labels[:4] == ["2025-03-09T00:00:00-05:00", "2025-03-09T01:00:00-05:00",
                          "2025-03-09T03:00:00-04:00", "2025-03-09T04:00:00-04:00"]  # fmt: skip
    per_hour = {r["period"]: r["attempts"] for r in report.rows}
    assert per_hour == {
        "2025-03-09T01:00:00-05:00": 1,
        "2025-03-09T03:00:00-04:00": 3,
        "2025-03-09T04:00:00-04:00": 3,
        "2025-03-09T12:00:00-04:00": 0,  # no attempt, but the import's two DNC skips
        "2025-03-09T23:00:00-04:00": 1,  # 23:59:59 is still the 8th; midnight is the 9th
    }
    assert {r["period"]: r["dnc_skips"] for r in report.rows if r["dnc_skips"]} == {
        "2025-03-09T12:00:00-04:00": 2
    }
    days = campaigns_report(db, _period("2025-03-08", "2025-03-10", "day"), campaign="spring",
                            now=NOW)  # fmt: skip
    assert [(s["period"], s["attempts"]) for s in days.series] == [
        ("2025-03-08T00:00:00-05:00", 0),
        ("2025-03-09T00:00:00-05:00", 8),
        ("2025-03-10T00:00:00-04:00", 1),
    ]
    assert [r["campaign"] for r in days.rows] == ["spring", "spring"]  # the empty day has no row


def test_the_repeated_hour_of_the_fall_back_day(db: Database) -> None:
    report = campaigns_report(db, _period("2025-11-02", None, "hour"), now=NOW)
    labels = [s["period"] for s in report.series]
    assert len(labels) == 25
    assert labels[1:3] == ["2025-11-02T01:00:00-04:00", "2025-11-02T01:00:00-05:00"]
    assert [s["attempts"] for s in report.series[1:3]] == [1, 1]
    assert report.series[-1]["period"] == "2025-11-02T23:00:00-05:00"
    assert report.series[-1]["attempts"] == 1
    days = campaigns_report(db, _period("2025-11-02", "2025-11-03", "day"), now=NOW)
    assert [(s["period"], s["attempts"]) for s in days.series] == [
        ("2025-11-02T00:00:00-04:00", 3),  # 25 hours: both 01:30s and 23:30
        ("2025-11-03T00:00:00-05:00", 1),
    ]


def test_agents_time_calls_dispositions_and_occupancy(db: Database) -> None:
    report = agents_report(db, _period("2025-03-09", None, "total"), now=NOW)
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
    hours = agents_report(db, _period("2025-03-09", None, "hour"), now=NOW)
    anna = {r["period"]: r for r in hours.rows if r["agent"] == "anna"}
    assert sorted(anna) == ["2025-03-09T01:00:00-05:00", "2025-03-09T03:00:00-04:00",
                            "2025-03-09T04:00:00-04:00"]  # fmt: skip
    first = anna["2025-03-09T01:00:00-05:00"]
    assert (first["logged_in_seconds"], first["paused_seconds"], first["talk_seconds"],
            first["wrap_seconds"], first["calls"]) == (3600.0, 600.0, 60.0, 30.0, 1)  # fmt: skip
    assert anna["2025-03-09T04:00:00-04:00"]["calls"] == 0
    assert sum(s["logged_in_seconds"] for s in hours.series) == 10800.0 + 3600.0


def test_an_agent_still_logged_in_counts_up_to_now(db: Database) -> None:
    save_state(db, "cy", "ready", at("2025-03-09T20:00:00-04:00"), seat="s1", campaigns=[])
    now = at("2025-03-09T20:30:00-04:00")
    report = agents_report(db, make_period("2025-03-09", None, "total", ZONE, now), now=now)
    assert _by(report.rows, "agent")["cy"]["logged_in_seconds"] == 1800.0


def test_agents_calls_narrowed_to_a_campaign(db: Database) -> None:
    report = agents_report(db, _period("2025-03-09", None, "total"), campaign="texts", now=NOW)
    anna = _by(report.rows, "agent")["anna"]
    assert anna["calls"] == 0 and anna["logged_in_seconds"] == 10800.0  # time stays the agent's


def test_lines_outcomes_faults_and_signal(db: Database) -> None:
    report = lines_report(db, _period("2025-03-09", None, "total"), now=NOW)
    got = _by(report.rows, "line")
    assert {k: v for k, v in got["gsm0"].items() if k != "period"} == {
        "line": "gsm0", "attempts": 7, "calls": 5, "sms": 2, "human": 3, "machine": 1,
        "no_answer": 1, "busy": 0, "invalid": 0, "faults": 0, "busy_seconds": 211.0,
        "inbound": 0, "signal_dbm": -67, "state": "up", "last_error": None,
        "recorded_at": "2025-03-09T12:00:00-04:00",
    }  # fmt: skip
    gsm1 = got["gsm1"]  # nothing but faults
    assert (gsm1["attempts"], gsm1["calls"], gsm1["sms"], gsm1["faults"], gsm1["human"],
            gsm1["signal_dbm"], gsm1["state"]) == (4, 3, 1, 4, 0, -101, "down")  # fmt: skip
    assert got["gsm2"]["attempts"] == 0 and got["gsm2"]["signal_dbm"] == -80
    hours = lines_report(db, _period("2025-03-09", None, "hour"), now=NOW)
    assert {(r["period"], r["line"]): r["faults"] for r in hours.rows if r["faults"]} == {
        ("2025-03-09T04:00:00-04:00", "gsm1"): 3,
        ("2025-03-09T10:00:00-04:00", "gsm1"): 1,
    }
    assert all(r["signal_dbm"] == -101 for r in hours.rows if r["line"] == "gsm1")


def test_csv_has_the_rows_with_a_header(db: Database) -> None:
    report = agents_report(db, _period("2025-03-09", None, "total"), now=NOW)
    lines = report.csv().splitlines()
    assert lines[0] == (
        "period,agent,calls,talk_seconds,wrap_seconds,paused_seconds,logged_in_seconds,"
        "occupancy,dispositions"
    )
    assert lines[1] == (
        "2025-03-09T00:00:00-05:00,anna,2,120.0,60.0,600.0,10800.0,0.0167,no interest=1; sale=1"
    )
    assert lines[3].startswith("2025-03-09T00:00:00-05:00,cy,0,") and lines[3].endswith(",,")


def test_a_campaign_that_does_not_exist(db: Database) -> None:
    with pytest.raises(NotFound, match="known campaigns: empty, spring, texts"):
        lines_report(db, _period("2025-03-09", None, "day"), campaign="nope", now=NOW)


def test_one_snapshot_while_another_connection_writes(db: Database) -> None:
    """A writer commits between the report's queries (the hook runs it just before the
    imports are read): the report counts neither its attempt nor its import."""
    period = _period("2025-03-09", None, "total")
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
                    (at("2025-03-09T09:00:00-04:00"),),
                )
                writer.conn.execute(
                    "INSERT INTO imports(campaign_id, source, started_at, dnc) VALUES (1, 'x', ?, 5)",
                    (at("2025-03-09T09:00:00-04:00"),),
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
        ("2025-03-10", "2025-03-09", "day", "must be before to"),
        ("2025-03-09T10:00", "2025-03-09T10:00", "hour", "must be before to"),
        ("yesterday", None, "day", "from: 'yesterday' is not an ISO 8601 date or time"),
        ("2025-03-09", "2026-13-45", "day", "to: '2026-13-45' is not an ISO 8601"),
        ("2025-03-09", None, "week", "by: 'week' is not one of hour, day, total"),
        ("9999-12-31", None, "day", "out of range"),
        ("9999-12-31T00:00", "9999-12-31T10:00", "day", "give one from 1970 to 2199"),
        ("0001-01-01", None, "hour", "from: the date is out of range"),
        ("\x00" * 100, None, "day", "is not an ISO 8601"),
    ],
)
def test_periods_refused_with_what_to_write(start: str, end: str | None, by: str,
                                            says: str) -> None:  # fmt: skip
    with pytest.raises(PeriodError, match=says.replace("(", r"\(")):
        make_period(start, end, by, ZONE, NOW)


def test_period_defaults_and_forms() -> None:
    today = make_period(None, None, None, ZONE, at("2025-03-09T15:00:00-04:00"))
    assert today.as_dict() == {"from": "2025-03-09T00:00:00-05:00",
                               "to": "2025-03-10T00:00:00-04:00", "by": "day",
                               "timezone": ZONE}  # fmt: skip
    given = make_period("2025-03-09T09:30:00Z", "2025-03-09T12:00", "hour", ZONE, NOW)
    assert given.as_dict()["from"] == "2025-03-09T05:30:00-04:00"
    assert given.as_dict()["to"] == "2025-03-09T12:00:00-04:00"  # no offset: local time
    assert [b.label for b in given.buckets()][:2] == ["2025-03-09T05:00:00-04:00",
                                                      "2025-03-09T06:00:00-04:00"]  # fmt: skip
    assert given.buckets()[0].start == given.start  # clipped to the period
