"""Dispositions as configuration over real HTTP (#25): an agent ends a call with a code of the
campaign's list and its action lands on the contact in the same transaction — "wrong number"
puts the number on the permanent block list (the dial-time check then refuses it), "no answer"
makes the contact due in exactly 2 h, "new contact" with a date is a callback for the agent —
and the hostile requests: an unknown code, a code that needs a date without one, a date in the
past, another agent's token, a campaign's own list, a malformed setting, a contact dialed again
meanwhile. The API runs in this process on a ManualClock with the agent desk; the calls the
agents had are in the store as the engine leaves them (leased, then completed)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from appliance.api.context import Services
from appliance.api.server import HttpServer, create_app
from appliance.clock import ManualClock
from appliance.config.models import ApiSettings, DialboxConfig
from appliance.domain import Channel, ContactState, Outcome, Summary
from appliance.engine.agents import AgentDesk
from appliance.store import open_database
from appliance.store.agents import put_agent
from appliance.store.attempts import Completion, Lease, LeaseRefused, complete, lease
from appliance.store.campaigns import get_campaign
from appliance.store.db import Database
from appliance.store.dnc import is_blocked
from appliance.store.tokens import create_token
from tests.daemon.process import free_port
from tests.scheduler.dbfixtures import add_contact

NOW = dt.datetime(2026, 3, 9, 9, 0, tzinfo=dt.UTC).timestamp()  # a Monday
ANN, ANN_MOBILE, BOB, CAROL = "+48601234567", "+48601234599", "+48601234568", "+48601234569"

Call = Callable[..., Awaitable[tuple[int, Any]]]


def _iso(when: float) -> str:
    return dt.datetime.fromtimestamp(when, dt.UTC).isoformat()


class Box:
    def __init__(self, db: Database, clock: ManualClock, call: Call, tokens: dict[str, str]):
        self.db, self.clock, self.call, self.tokens = db, clock, call, tokens

    def contact(self, contact_id: int) -> dict[str, Any]:
        cols = ("state", "summary", "next_at", "next_phone", "callback_at", "owner_agent",
                "lease_id", "step")  # fmt: skip
        row = self.db.conn.execute(
            f"SELECT {', '.join(cols)} FROM contacts WHERE id = ?", (contact_id,)
        ).fetchone()
        return dict(zip(cols, row, strict=True))

    def called(self, campaign: str, numbers: list[str], agent: str = "anna") -> tuple[int, int]:
        """A contact of `campaign` the engine called on its first number and gave to `agent`,
        the call over (wrap-up): (contact id, attempt id)."""
        campaign_id = get_campaign(self.db, campaign).id
        contact_id = add_contact(self.db, campaign_id, numbers)
        got = lease(self.db, contact_id, 1, Channel.VOICE, self.clock.now(), agent=agent)
        assert isinstance(got, Lease), got
        self.clock.advance(60)
        done = Completion(Outcome.CONNECTED, ContactState.CONNECTED, Summary.SUCCESSFUL,
                          agent=agent, answered_at=self.clock.now() - 50)  # fmt: skip
        assert complete(self.db, got, done, self.clock.now())
        return contact_id, got.attempt_id

    async def dispose(self, attempt: int, code: str, agent: str = "anna",
                      token: str | None = None, **more: Any) -> tuple[int, Any]:  # fmt: skip
        body = {"disposition": code, "attempt_id": attempt, **more}
        secret = self.tokens[token or agent]
        return await self.call("POST", f"/agents/{agent}/disposition", body, secret)


@asynccontextmanager
async def box(tmp_path: Path) -> AsyncIterator[Box]:
    db = open_database(tmp_path / "d.db")
    clock = ManualClock(NOW)
    config = DialboxConfig(database=tmp_path / "d.db", timezone="Europe/Warsaw", region="PL",
                           api=ApiSettings(port=free_port()))  # fmt: skip
    tokens = {name: create_token(db, name, scope, NOW, "test")  # type: ignore[arg-type]
              for name, scope in (("crm", "crm"), ("anna", "agent"), ("ben", "agent"))}  # fmt: skip
    for name in ("anna", "ben"):
        put_agent(db, name, extension=None, group="sales", skills=(), now=NOW, actor="test")
    desk = AgentDesk(config, db, clock, {})
    services = Services(db=db, clock=clock, config=lambda: config, desk=desk)
    server = HttpServer(create_app(services), config.api)
    await server.start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        async with aiohttp.ClientSession() as session:

            async def call(method: str, path: str, body: Any = None,
                           secret: str = tokens["crm"]) -> tuple[int, Any]:  # fmt: skip
                headers = {"Authorization": f"Bearer {secret}"}
                async with session.request(method, base + path, json=body, headers=headers) as r:
                    return r.status, await r.json(content_type=None)

            b = Box(db, clock, call, tokens)
            for name in ("sales", "other"):
                status, doc = await call("POST", "/campaigns", {"name": name, "type": "agent",
                                                                "region": "PL"})  # fmt: skip
                assert status == 201, doc
            yield b
    finally:
        await server.stop()
        db.close()


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_the_desk_shows_the_default_set_and_the_script(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with box(tmp_path) as b:
            status, desk = await b.call("GET", "/campaigns/sales/desk", None, b.tokens["anna"])
            assert status == 200, desk
            assert desk["campaign"] == "sales" and desk["script"] is None
            assert [(d["code"], d["label"], d["action"]) for d in desk["dispositions"]] == [
                ("end", "End of handling", "close Connected"),
                ("new_contact", "New contact (pick a date)", "callback"),
                ("no_answer", "No answer", "retry 2h"),
                ("wrong_number", "Wrong number", "block"),
                ("voicemail", "Voicemail", "retry 2h"),
                ("busy", "Busy", "retry 2h"),
                ("fax", "Fax", "block"),
            ]
            by_code = {d["code"]: d for d in desk["dispositions"]}
            assert by_code["no_answer"]["after"] == 7200 and by_code["no_answer"]["state"] is None
            assert by_code["end"]["state"] == "Connected" and by_code["end"]["after"] is None
            assert by_code["new_contact"]["needs_date"] is True
            assert by_code["new_contact"]["callback_for"] == "self"
            assert [c for c, d in by_code.items() if d["needs_date"]] == ["new_contact"]
            assert all(d["callback_for"] is None for c, d in by_code.items() if c != "new_contact")

            script = "Dzień dobry, dzwonię z firmy Acme…\n" * 10
            status, doc = await b.call("PATCH", "/campaigns/sales", {"settings": {
                "script": script,
                "dispositions": [
                    {"code": "sale", "label": "Sale", "action": "close"},
                    {"code": "later", "label": "Call back (team)", "action": "callback group"},
                    {"code": "no_answer", "label": "No answer", "action": "retry 1h30m"},
                    {"code": "robinson", "label": "Do not call", "action": "dnc"},
                ]}})  # fmt: skip
            assert status == 200, doc
            status, desk = await b.call("GET", "/campaigns/sales/desk", None, b.tokens["ben"])
            assert status == 200 and desk["script"] == script
            assert desk["dispositions"] == [
                {"code": "sale", "label": "Sale", "action": "close Connected", "after": None,
                 "state": "Connected", "needs_date": False, "callback_for": None},
                {"code": "later", "label": "Call back (team)", "action": "callback",
                 "after": None, "state": None, "needs_date": True, "callback_for": "group"},
                {"code": "no_answer", "label": "No answer", "action": "retry 90m",
                 "after": 5400, "state": None, "needs_date": False, "callback_for": None},
                {"code": "robinson", "label": "Do not call", "action": "dnc", "after": None,
                 "state": "DNC Listed", "needs_date": False, "callback_for": None},
            ]  # fmt: skip

            # hostile: no campaign of that name; no token
            status, problem = await b.call("GET", "/campaigns/nope/desk", None, b.tokens["anna"])
            assert status == 404 and "nope" in problem["detail"]
            status, _ = await b.call("GET", "/campaigns/sales/desk", None, "not-a-token")
            assert status == 401
            status, problem = await b.call("PATCH", "/campaigns/sales",
                                           {"settings": {"script": "x" * 8001}})  # fmt: skip
            assert status == 422 and "settings.script" in problem["detail"], problem

    run(scenario)


def test_wrong_number_blocks_the_number_for_good_and_moves_to_the_next(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with box(tmp_path) as b:
            contact, attempt = b.called("sales", [ANN, ANN_MOBILE])
            status, doc = await b.dispose(attempt, "wrong_number", note="a pizzeria")
            assert status == 200, doc
            now = b.clock.now()
            assert is_blocked(b.db, None, ANN, now)  # the permanent block list (D7)
            assert not is_blocked(b.db, None, ANN_MOBILE, now)
            after = b.contact(contact)
            assert (after["state"], after["next_phone"], after["next_at"]) == (
                "Not Connected",
                2,
                now,
            )  # the strategy's block: the contact's next number, due now
            assert b.db.scalar("SELECT disposition FROM attempts WHERE id = ?",
                               (attempt,)) == "wrong_number"  # fmt: skip
            details = b.db.scalar(
                "SELECT detail FROM audit WHERE action = 'attempt.disposition' AND target = ?",
                (str(attempt),),
            )
            assert '"note": "a pizzeria"' in details and '"blocked": true' in details

            # The dial-time check refuses the blocked number, in this campaign and any other.
            refused = lease(b.db, contact, 1, Channel.VOICE, now)
            assert isinstance(refused, LeaseRefused) and refused.reason == "dnc"
            elsewhere = add_contact(b.db, get_campaign(b.db, "other").id, [ANN])
            refused = lease(b.db, elsewhere, 1, Channel.VOICE, now)
            assert isinstance(refused, LeaseRefused) and refused.reason == "dnc"
            status, dnc = await b.call("GET", f"/dnc/numbers/{ANN}")
            assert status == 200 and dnc["listed"] is True, dnc
            assert [e["list"] for e in dnc["lists"]] == ["block"], dnc

            # A contact with one number: blocked, and closed (nothing else to dial).
            single, attempt = b.called("sales", [BOB])
            assert (await b.dispose(attempt, "fax"))[0] == 200
            assert is_blocked(b.db, None, BOB, b.clock.now())
            closed = b.contact(single)
            assert (closed["state"], closed["next_at"], closed["summary"]) == (
                "Retries Completed",
                None,
                int(Summary.UNREACHABLE),
            )

    run(scenario)


def test_no_answer_is_due_in_exactly_two_hours_and_end_closes(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with box(tmp_path) as b:
            contact, attempt = b.called("sales", [ANN])
            # the agent had a callback of their own on it: a retry clears it
            b.db.conn.execute("UPDATE contacts SET owner_agent = 'anna', callback_at = ?"
                              " WHERE id = ?", (NOW + 99, contact))  # fmt: skip
            status, doc = await b.dispose(attempt, "no_answer")
            assert status == 200, doc
            after = b.contact(contact)
            assert after["state"] == "Not Connected"
            assert after["next_at"] == b.clock.now() + 7200.0
            assert (after["callback_at"], after["owner_agent"]) == (None, None)
            assert not is_blocked(b.db, None, ANN, b.clock.now())

            # Said again on the same call, later: the agent's last word counts.
            b.clock.advance(30)
            assert (await b.dispose(attempt, "end"))[0] == 200
            closed = b.contact(contact)
            assert (closed["state"], closed["next_at"], closed["summary"]) == (
                "Connected",
                None,
                int(Summary.SUCCESSFUL),
            )

    run(scenario)


def test_new_contact_with_a_date_is_a_callback_for_the_agent(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with box(tmp_path) as b:
            contact, attempt = b.called("sales", [ANN])
            when = NOW + 3 * 86400
            status, doc = await b.dispose(attempt, "new_contact", callback_at=_iso(when))
            assert status == 200, doc
            after = b.contact(contact)
            assert (after["state"], after["next_at"], after["callback_at"], after["owner_agent"]) == (
                "Not Connected", when, when, "anna",
            )  # fmt: skip
            status, listed = await b.call("GET", "/agents/anna/list?campaign=sales", None,
                                          b.tokens["anna"])  # fmt: skip
            assert status == 200 and listed[0]["contact_id"] == contact
            assert listed[0]["callback_due"] is False
            b.clock.set(when)
            status, listed = await b.call("GET", "/agents/anna/list?campaign=sales", None,
                                          b.tokens["anna"])  # fmt: skip
            assert listed[0]["callback_due"] is True  # red at its time
            # ben does not see anna's callback
            status, listed = await b.call("GET", "/agents/ben/list?campaign=sales", None,
                                          b.tokens["ben"])  # fmt: skip
            assert contact not in [row["contact_id"] for row in listed]

            # for the group
            other, attempt = b.called("sales", [BOB])
            status, doc = await b.dispose(attempt, "new_contact", callback_at=_iso(when + 3600),
                                          callback_for="group")  # fmt: skip
            assert status == 200, doc
            assert b.contact(other)["owner_agent"] == "@sales"

    run(scenario)


def test_hostile_dispositions_are_refused_and_change_nothing(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with box(tmp_path) as b:
            contact, attempt = b.called("sales", [ANN])
            before = b.contact(contact)

            status, problem = await b.dispose(attempt, "call back")  # the old free text
            assert status == 422, problem
            assert "unknown disposition 'call back'" in problem["detail"]
            assert ("end, new_contact, no_answer, wrong_number, voicemail, busy, fax"
                    in problem["detail"])  # fmt: skip

            status, problem = await b.dispose(attempt, "new_contact")
            assert status == 422 and "needs callback_at" in problem["detail"], problem
            status, problem = await b.dispose(attempt, "new_contact", callback_at=None)
            assert status == 422 and "needs callback_at" in problem["detail"], problem

            status, problem = await b.dispose(attempt, "new_contact",
                                              callback_at=_iso(b.clock.now() - 60))  # fmt: skip
            assert status == 422 and "in the past" in problem["detail"], problem
            status, problem = await b.dispose(attempt, "new_contact", callback_at="tomorrow")
            assert status == 422, problem

            status, problem = await b.dispose(attempt, "no_answer",
                                              callback_at=_iso(b.clock.now() + 60))  # fmt: skip
            assert status == 422 and "takes no callback_at" in problem["detail"], problem
            assert "new_contact" in problem["detail"]

            # another agent's token, on anna's agent; ben on anna's call
            status, problem = await b.dispose(attempt, "end", token="ben")
            assert status == 403, problem
            status, problem = await b.dispose(attempt, "end", agent="ben")
            assert status == 403 and "not agent ben's call" in problem["detail"], problem

            # a huge note, a huge code, a body field the API does not know
            status, problem = await b.dispose(attempt, "end", note="x" * 201)
            assert status == 422, problem
            status, problem = await b.dispose(attempt, "e" * 65)
            assert status == 422, problem
            status, problem = await b.dispose(attempt, "end", outcome="Connected")
            assert status == 422, problem

            assert b.contact(contact) == before
            assert b.db.scalar("SELECT disposition FROM attempts WHERE id = ?", (attempt,)) is None
            assert not is_blocked(b.db, None, ANN, b.clock.now())
            assert b.db.scalar(
                "SELECT count(*) FROM audit WHERE action = 'attempt.disposition'"
            ) == 0  # fmt: skip

    run(scenario)


def test_a_campaigns_own_list_replaces_the_default_set(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with box(tmp_path) as b:
            status, doc = await b.call("PATCH", "/campaigns/sales", {"settings": {"dispositions": [
                {"code": "sale", "label": "Sale", "action": "close"},
                {"code": "robinson", "label": "Do not call", "action": "dnc"},
                {"code": "sms_me", "label": "Send a text", "action": "sms"},
            ]}})  # fmt: skip
            assert status == 200, doc
            contact, attempt = b.called("sales", [ANN])
            status, problem = await b.dispose(attempt, "wrong_number")  # of the default set
            assert status == 422, problem
            assert "campaign sales's codes are sale, robinson, sms_me" in problem["detail"]
            assert not is_blocked(b.db, None, ANN, b.clock.now())

            # sms with a strategy that sends none: said plainly, nothing written
            status, problem = await b.dispose(attempt, "sms_me")
            assert status == 422 and "no SMS attempt" in problem["detail"], problem
            assert b.contact(contact)["state"] == "Connected"

            status, doc = await b.dispose(attempt, "robinson")
            assert status == 200, doc
            assert b.contact(contact)["state"] == "DNC Listed"
            assert is_blocked(b.db, get_campaign(b.db, "sales").id, ANN, b.clock.now())
            assert not is_blocked(b.db, None, ANN, b.clock.now())  # the campaign's list only

            # the other campaign keeps the default set
            _, attempt = b.called("other", [BOB])
            assert (await b.dispose(attempt, "busy"))[0] == 200

    run(scenario)


def test_sms_switches_to_the_strategys_next_sms_attempt(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with box(tmp_path) as b:
            status, doc = await b.call("PUT", "/campaigns/sales/strategy", {
                "name": "voice-then-sms",
                "attempts": [{"channel": "voice", "phone": 1}, {"channel": "voice", "phone": 1},
                             {"channel": "sms", "phone": "same"}],
            })  # fmt: skip
            assert status == 200, doc
            status, doc = await b.call("PATCH", "/campaigns/sales", {"settings": {"dispositions": [
                {"code": "text", "label": "Send a text in 5 min", "action": "sms 5m"},
            ]}})  # fmt: skip
            assert status == 200, doc
            contact, attempt = b.called("sales", [ANN])
            status, doc = await b.dispose(attempt, "text")
            assert status == 200, doc
            after = b.contact(contact)
            assert (after["state"], after["next_at"], after["step"]) == (
                "Not Connected",
                b.clock.now() + 300,
                2,
            )  # the third planned attempt, the SMS

    run(scenario)


def test_a_malformed_dispositions_setting_is_a_clear_422(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with box(tmp_path) as b:
            cases = [
                ([{"code": "Sale!", "label": "Sale", "action": "close"}],
                 "settings.dispositions.0.code", "lower-case letters"),
                ([{"code": "sale", "label": "Sale", "action": "retry"}],
                 "settings.dispositions.0.action", "retry needs a delay"),
                ([{"code": "sale", "label": "Sale", "action": "close Pending"}],
                 "settings.dispositions.0.action", "closes as one of Connected"),
                ([{"code": "sale", "label": "Sale", "action": "teleport"}],
                 "settings.dispositions.0.action", "'teleport' is not an action"),
                ([{"code": "a", "label": "A", "action": "block"},
                  {"code": "a", "label": "B", "action": "dnc"}],
                 "settings.dispositions", "a given twice"),
                ([], "settings.dispositions", "at least one"),
                ("end", "settings.dispositions", "expected a list of dispositions"),
                ([{"code": "x", "label": "X", "action": "block", "callback_for": "self"}],
                 "settings.dispositions.0", "callback_for belongs to a callback"),
                ([{"code": "x", "label": "X", "action": "retry 400d"}],
                 "settings.dispositions.0.action", "between 0 and 366 days"),
            ]  # fmt: skip
            for value, where, words in cases:
                status, problem = await b.call(
                    "PATCH", "/campaigns/sales", {"settings": {"dispositions": value}}
                )
                assert status == 422, (value, problem)
                assert where in [e["where"] for e in problem["errors"]], (value, problem)
                assert words in problem["detail"], (value, problem)
            status, doc = await b.call("GET", "/campaigns/sales")
            assert "dispositions" not in doc["settings"] or doc["settings"]["dispositions"] is None

    run(scenario)


def test_a_contact_dialed_again_meanwhile_is_not_overwritten(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with box(tmp_path) as b:
            contact, attempt = b.called("sales", [ANN, ANN_MOBILE])
            b.db.conn.execute("UPDATE contacts SET state = 'Not Connected', next_at = ?"
                              " WHERE id = ?", (b.clock.now(), contact))  # fmt: skip
            again = lease(b.db, contact, 1, Channel.VOICE, b.clock.now(), agent="ben")
            assert isinstance(again, Lease)
            leased = b.contact(contact)

            status, problem = await b.dispose(attempt, "wrong_number")
            assert status == 409, problem
            assert (
                f"contact {contact} is being dialed now (attempt {again.attempt_id})"
                in (problem["detail"])
            )
            assert b.contact(contact) == leased
            assert b.db.scalar("SELECT disposition FROM attempts WHERE id = ?", (attempt,)) is None
            assert not is_blocked(b.db, None, ANN, b.clock.now())

            # that dial ends; the old attempt's disposition would still undo what it decided
            b.clock.advance(30)
            complete(b.db, again, Completion(Outcome.BUSY, ContactState.NOT_CONNECTED,
                                             Summary.NO_SUCCESS, next_at=NOW + 999), b.clock.now())  # fmt: skip
            settled = b.contact(contact)
            status, problem = await b.dispose(attempt, "no_answer")
            assert status == 409 and "was dialed again since" in problem["detail"], problem
            assert b.contact(contact) == settled

    run(scenario)


def test_an_inbound_campaign_offers_only_what_needs_no_redial(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with box(tmp_path) as b:
            status, doc = await b.call("POST", "/campaigns", {"name": "in", "type": "inbound"})
            assert status == 201, doc
            status, desk = await b.call("GET", "/campaigns/in/desk", None, b.tokens["anna"])
            assert status == 200, desk
            assert [d["code"] for d in desk["dispositions"]] == ["end", "wrong_number", "fax"]

            contact, attempt = b.called("in", [CAROL])
            before = b.contact(contact)
            status, problem = await b.dispose(attempt, "no_answer")
            assert status == 422, problem
            assert "cannot end a call of inbound campaign in" in problem["detail"]
            assert "its codes are end, wrong_number, fax" in problem["detail"]
            assert b.contact(contact) == before
            status, doc = await b.dispose(attempt, "wrong_number")
            assert status == 200, doc
            assert is_blocked(b.db, None, CAROL, b.clock.now())

    run(scenario)
