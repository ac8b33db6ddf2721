"""A fixture of known attempts in New York time for the reports' tests (store, API, CLI,
console): two campaigns with attempts across both DST changes of 2025, an empty one, three
agents (one with calls, one with time and no calls, one with neither), three lines (one with
only faults, one idle)."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from pathlib import Path

from appliance.domain import Outcome
from appliance.store import Database, open_database
from appliance.store.agents import put_agent, save_state

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
             at("2025-03-09T12:00:00-04:00")),
        )  # fmt: skip

    def states(self, agent: str, *changes: tuple[str, str]) -> None:
        for when, state in changes:
            save_state(self.db, agent, state, at(when), seat="s1", campaigns=["spring"])


def build(path: Path | str) -> Database:
    """The fixture's database at `path` (open: close it when done)."""
    db = open_database(path)
    f = Fixture(db)
    spring, texts = f.campaign("spring"), f.campaign("texts", "sms")
    f.campaign("empty")
    for name in ("anna", "ben", "cy"):
        put_agent(db, name, extension="s1", group=None, skills=[], now=0.0, actor="test")
    for name, signal, state in (("gsm0", -67, "up"), ("gsm1", -101, "down"), ("gsm2", -80, "up")):
        f.line(name, signal, state)
    with db.transaction():
        # 9 March 2025: New York springs forward at 02:00 EST to 03:00 EDT (a 23-hour day).
        f.attempt(
            spring,
            "2025-03-09T01:30:00-05:00",
            line="gsm0",
            outcome=Outcome.CONNECTED,
            answered=10,
            length=60,
            agent="anna",
            disposition="sale",
        )
        f.attempt(
            spring,
            "2025-03-09T03:15:00-04:00",
            line="gsm0",
            outcome=Outcome.AGENT_HANG_UP,
            answered=10,
            length=60,
            agent="anna",
            disposition="no interest",
        )
        f.attempt(
            spring,
            "2025-03-09T03:40:00-04:00",
            line="gsm0",
            outcome=Outcome.ABANDONED,
            answered=10,
            length=10,
        )
        f.attempt(
            spring,
            "2025-03-09T03:50:00-04:00",
            line="gsm0",
            outcome=Outcome.ANSWERING_MACHINE,
            answered=10,
            length=15,
        )
        f.attempt(
            spring,
            "2025-03-09T23:59:59-04:00",
            line="gsm0",
            outcome=Outcome.ALERTING_TIMEOUT,
            length=30,
        )
        f.attempt(spring, "2025-03-10T00:00:00-04:00", line="gsm0", outcome=Outcome.BUSY, length=5)
        # gsm1 only fails: an error, no line, one left dangling, an SMS that was not sent
        f.attempt(
            spring,
            "2025-03-09T04:10:00-04:00",
            line="gsm1",
            outcome=Outcome.ERROR_OCCURRED,
            length=2,
        )
        f.attempt(
            spring, "2025-03-09T04:20:00-04:00", line="gsm1", outcome=Outcome.NO_LINE, length=0
        )
        f.attempt(
            spring,
            "2025-03-09T04:30:00-04:00",
            line="gsm1",
            outcome=None,
            status="dangling",
            length=0,
        )
        f.attempt(
            texts,
            "2025-03-09T10:00:00-04:00",
            line="gsm0",
            outcome=Outcome.CONNECTED,
            channel="sms",
            state="SMS responded",
            length=0,
        )
        f.attempt(
            texts,
            "2025-03-09T10:05:00-04:00",
            line="gsm0",
            outcome=Outcome.CONNECTED,
            channel="sms",
            state="SMS sent",
            length=0,
        )
        f.attempt(
            texts,
            "2025-03-09T10:10:00-04:00",
            line="gsm1",
            outcome=Outcome.ERROR_OCCURRED,
            channel="sms",
            length=0,
        )
        # 2 November 2025: back at 02:00 EDT to 01:00 EST (a 25-hour day, 01:00 twice).
        f.attempt(spring, "2025-11-02T01:30:00-04:00", line="gsm0", outcome=Outcome.BUSY)
        f.attempt(spring, "2025-11-02T01:30:00-05:00", line="gsm0", outcome=Outcome.BUSY)
        f.attempt(spring, "2025-11-02T23:30:00-05:00", line="gsm0", outcome=Outcome.BUSY)
        f.attempt(spring, "2025-11-03T00:10:00-05:00", line="gsm0", outcome=Outcome.BUSY)
        db.conn.execute(
            "INSERT INTO imports(campaign_id, source, started_at, finished_at, dnc)"
            " VALUES (?, 'file', ?, ?, 2)",
            (spring, at("2025-03-09T12:00:00-04:00"), at("2025-03-09T12:00:05-04:00")),
        )
    # anna: logged in 01:00 EST to 05:00 EDT (3 h, the skipped hour is not there), paused the
    # first 10 minutes, two calls of 60 s talk and 30 s wrap-up
    f.states("anna", ("2025-03-09T01:00:00-05:00", "paused"), ("2025-03-09T01:10:00-05:00", "ready"),
             ("2025-03-09T01:30:10-05:00", "talking"), ("2025-03-09T01:31:10-05:00", "wrap_up"),
             ("2025-03-09T01:31:40-05:00", "ready"), ("2025-03-09T03:15:10-04:00", "talking"),
             ("2025-03-09T03:16:10-04:00", "wrap_up"), ("2025-03-09T03:16:40-04:00", "ready"),
             ("2025-03-09T05:00:00-04:00", "logged_out"))  # fmt: skip
    # ben: paused since the evening before, logged out at 01:00; no calls
    f.states("ben", ("2025-03-08T23:00:00-05:00", "paused"),
             ("2025-03-09T01:00:00-05:00", "logged_out"))  # fmt: skip
    return db
