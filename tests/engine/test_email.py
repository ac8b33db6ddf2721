"""The e-mail channel (#26) against a real SMTP server the test starts (aiosmtpd) and the box's
real API over HTTP: the strategy's e-mail step after a busy call, the message as it arrives,
its unsubscribe link followed, the relay refusing (5xx, 4xx), down, a bounce. No mocks of
either side; the clock is the engine's injected ManualClock."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import re
import socket
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiosmtpd.controller import Controller

from appliance.api.context import Services
from appliance.api.server import create_app
from appliance.clock import ManualClock
from appliance.config.models import DialboxConfig
from appliance.domain import ContactState, Outcome
from appliance.drivers.line import CallResult
from appliance.engine.dialer import Engine
from appliance.engine.linepool import LinePool
from appliance.engine.storeplanner import StorePlanner
from appliance.scheduler.strategy import parse_strategy, to_dict
from appliance.store import open_database
from appliance.store.campaigns import get_campaign_by_id
from appliance.store.dnc import is_blocked
from appliance.store.export import attempt_rows
from appliance.store.results import results_since
from appliance.store.strategies import save_strategy
from appliance.store.tokens import create_token
from tests.drivers.drivers_fakes import run
from tests.engine.test_engine_direct import NOW, NY1, FakeLine
from tests.scheduler.dbfixtures import add_campaign, add_contact

ADDRESS = "ann.kowalska@example.org"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Relay:
    """What the test's SMTP server answers: `refuse` a reply such as '550 no such user' to RCPT."""

    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], bytes]] = []
        self.refuse: str | None = None

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          options: Any) -> str:  # fmt: skip
        if self.refuse is not None:
            return self.refuse
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 2.0.0 queued as 4711"


class Rig:
    def __init__(self, tmp: Path, *, relay_port: int, unsubscribe_numbers: bool = True,
                 bounce_address: str | None = None) -> None:  # fmt: skip
        self.tmp = tmp
        self.db = open_database(tmp / "d.db")
        strategy = {
            "name": "e",
            "attempts": [{"channel": "voice", "phone": 1}, {"channel": "email"}],
            "on": {"Busy": "email", "Connected": "close", "default": "retry 2h"},
            "repeat_last": False,
        }
        save_strategy(self.db, "e", to_dict(parse_strategy(strategy)), 0.0, "test")
        settings = {"strategy": "e", "email_field": "bp2", "email_template": "hello",
                    "webhook": "http://crm.example/hook"}  # fmt: skip
        self.campaign = add_campaign(self.db, "spring", json.dumps(settings))
        self.db.conn.execute(
            "UPDATE campaigns SET type = 'automated' WHERE id = ?", (self.campaign,)
        )
        self.contact = add_contact(self.db, self.campaign, [NY1])
        self.set_fields("Ann", ADDRESS)
        self.api_port = free_port()
        self.config = DialboxConfig.model_validate(
            {
                "database": str(tmp / "d.db"),
                "timezone": "America/New_York",
                "lines": [{"name": "l1", "kind": "gsm", "device": "/dev/fake-l1"}],
                "email": {
                    "relay": {"host": "127.0.0.1", "port": relay_port, "security": "none",
                              "timeout": 5},
                    "from": "Spring Sale <sale@shop.example>",
                    "public_url": f"http://127.0.0.1:{self.api_port}",
                    "unsubscribe_numbers": unsubscribe_numbers,
                    "bounce_address": bounce_address,
                    "templates": {
                        "hello": {
                            "subject": "Hello $bp1, we called",
                            "text": "Dear $bp1,\nwe tried $phone1. Unsubscribe: $unsubscribe_url\n",
                            "html": "<p>Dear <b>$bp1</b></p><a href=\"$unsubscribe_url\">stop</a>",
                        }
                    },
                },
            }
        )  # fmt: skip
        self.clock = ManualClock(NOW)
        self.lines: dict[str, FakeLine] = {}
        self.pool = LinePool(self.config, self._line, db=self.db, clock=self.clock)
        self.engine = Engine(
            self.config, self.db, self.clock, self.pool,
            StorePlanner(self.config, self.db, self.clock),
        )  # fmt: skip
        assert self.engine.mailer is not None
        self.mailer = self.engine.mailer

    def _line(self, config: Any) -> FakeLine:
        line = self.lines[config.name] = FakeLine(config.name)
        return line

    def set_fields(self, name: str, address: str | None) -> None:
        self.db.conn.execute(
            "UPDATE contacts SET bp1 = ?, bp2 = ? WHERE id = ?", (name, address, self.contact)
        )

    async def busy_call(self) -> None:
        """The voice attempt: the line reports busy."""
        line = self.lines["l1"]
        if not line.up:
            await line.open()
        assert self.engine.round() == 1
        number = await line.dialing()
        assert line._dialing is not None
        line._dialing.set_result(CallResult(number, Outcome.BUSY, ("BUSY",), {}))
        await asyncio.gather(*(c.task for c in list(self.engine.calls.values())))

    async def mail(self) -> None:
        """One mailer tick and its sends to their end."""
        self.mailer.tick()
        await self.mailer.settle()

    def attempts(self) -> list[dict[str, Any]]:
        cols = ("channel", "outcome", "status", "disposition", "evidence")
        rows = self.db.conn.execute(f"SELECT {', '.join(cols)} FROM attempts ORDER BY id")
        return [dict(zip(cols, row, strict=True)) for row in rows]

    def state(self) -> str:
        row = self.db.conn.execute("SELECT state FROM contacts WHERE id = ?", (self.contact,))
        return str(row.fetchone()[0])

    def send_state(self) -> list[tuple[Any, ...]]:
        return self.db.conn.execute(
            "SELECT state, tries, reply, message_id FROM email_sends ORDER BY attempt_id"
        ).fetchall()

    def outbox(self) -> list[dict[str, Any]]:
        rows = self.db.conn.execute("SELECT payload FROM outbox ORDER BY id")
        return [json.loads(str(row[0])) for row in rows]

    async def serve_api(self) -> web.AppRunner:
        services = Services(self.db, self.clock, lambda: self.config)
        runner = web.AppRunner(create_app(services))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.api_port).start()
        return runner


@pytest.fixture()
def relay() -> Any:
    handler = Relay()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield handler, controller.port
    finally:
        controller.stop()


def _message(raw: bytes) -> email.message.EmailMessage:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, email.message.EmailMessage)
    return parsed


def test_an_email_step_after_a_busy_call_delivers_the_message_and_its_unsubscribe_link_works(
    tmp_path: Path, relay: Any
) -> None:
    handler, port = relay
    rig = Rig(tmp_path, relay_port=port)

    async def main() -> None:
        await rig.busy_call()
        assert rig.state() == ContactState.NOT_CONNECTED
        await rig.mail()
        assert len(handler.received) == 1
        sender, rcpts, raw = handler.received[0]
        assert (sender, rcpts) == ("sale@shop.example", [ADDRESS])
        msg = _message(raw)
        assert msg["Subject"] == "Hello Ann, we called"
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert "Dear Ann," in text and NY1 in text
        html_part = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
        assert "<b>Ann</b>" in html_part
        link = re.search(r"<(http://[^>]+)>", msg["List-Unsubscribe"])
        assert link is not None and link.group(1) in text
        # As written on the wire: the link itself, not an RFC 2047 encoded word.
        head = raw.split(b"\r\n\r\n", 1)[0].decode()
        assert f"\r\nList-Unsubscribe: <{link.group(1)}>\r\n" in head
        # The attempt's closing transaction recorded the Message-ID and the relay's 250.
        voice, mail = rig.attempts()
        assert (voice["channel"], voice["outcome"]) == ("voice", int(Outcome.BUSY))
        assert (mail["channel"], mail["outcome"], mail["status"]) == (
            "email",
            int(Outcome.EMAIL_SENT),
            "done",
        )
        assert msg["Message-ID"].strip("<>") in mail["disposition"]
        assert "smtp 250 2.0.0 queued as 4711" in json.loads(mail["evidence"])
        assert rig.send_state()[0][:3] == ("sent", 1, "250 2.0.0 queued as 4711")
        assert rig.state() == ContactState.EMAIL_SENT
        # The export and the results feed show it.
        (_, row) = attempt_rows(rig.db, get_campaign_by_id(rig.db, rig.campaign))
        assert (row["channel"], row["outcome"], row["line"]) == ("email", "EmailSent", None)
        assert (row["email_address"], f"<{row['message_id']}>") == (ADDRESS, msg["Message-ID"])
        (_, fed) = results_since(rig.db, 0, 10)
        assert (fed["channel"], fed["outcome_code"]) == ("email", 20)
        pushed = rig.outbox()[-1]
        assert (pushed["channel"], pushed["outcome"], pushed["code"]) == ("email", "EmailSent", 20)
        assert pushed["email"]["address"] == ADDRESS

        # Nothing more is sent: the contact is closed.
        await rig.mail()
        assert len(handler.received) == 1

        runner = await rig.serve_api()
        try:
            async with aiohttp.ClientSession() as http:
                async with http.get(link.group(1)) as page:
                    assert page.status == 200
                    body = await page.text()
                    assert "Unsubscribe" in body and ADDRESS in body
                # Opening the page changes nothing.
                assert rig.db.conn.execute("SELECT count(*) FROM email_dnc").fetchone()[0] == 0
                # The page's button: a form POST.
                async with http.post(link.group(1), data={"List-Unsubscribe": "One-Click"},
                                     headers={"Accept": "text/html"}) as done:  # fmt: skip
                    assert done.status == 200
                    assert "gets no more e-mail" in await done.text()
                # A mail client's one-click POST (RFC 8058) again: done, nothing added twice.
                async with http.post(
                    link.group(1), data=b"List-Unsubscribe=One-Click",
                    headers={"Content-Type": "application/x-www-form-urlencoded"},
                ) as again:  # fmt: skip
                    assert again.status == 200
                    assert (await again.json())["added"] is False
        finally:
            await runner.cleanup()
        listed = rig.db.conn.execute("SELECT address FROM email_dnc").fetchall()
        assert listed == [(ADDRESS,)]
        assert is_blocked(rig.db, rig.campaign, NY1, rig.clock.now())  # unsubscribe_numbers
        audit = rig.db.conn.execute(
            "SELECT count(*) FROM audit WHERE action = 'email.unsubscribe'"
        ).fetchone()
        assert audit[0] == 2

    run(main())


def test_a_forged_or_tampered_unsubscribe_token_is_403_and_adds_nothing(
    tmp_path: Path, relay: Any
) -> None:
    handler, port = relay
    rig = Rig(tmp_path, relay_port=port)

    async def main() -> None:
        await rig.busy_call()
        await rig.mail()
        link = re.search(r"<(http://[^>]+)>", _message(handler.received[0][2])["List-Unsubscribe"])
        assert link is not None
        url = link.group(1)
        token = url.split("t=", 1)[1]
        payload, sig = token.rsplit(".", 1)
        other = payload.split(".")
        # Another contact's id under the same signature; a signature made up; a bare word.
        tampered = [f"{other[0]}.{int(other[1]) + 1}.{other[2]}.{sig}",
                    f"{payload}.{'A' * len(sig)}", "hello"]  # fmt: skip
        base = url.split("?", 1)[0]
        runner = await rig.serve_api()
        try:
            async with aiohttp.ClientSession() as http:
                for bad in tampered:
                    async with http.get(base, params={"t": bad}) as page:
                        assert page.status == 403
                        assert "not valid" in await page.text()
                    async with http.post(base, params={"t": bad},
                                         data=b"List-Unsubscribe=One-Click") as post:  # fmt: skip
                        assert post.status == 403
                async with http.post(base) as missing:
                    assert missing.status == 422
        finally:
            await runner.cleanup()
        assert rig.db.conn.execute("SELECT count(*) FROM email_dnc").fetchone()[0] == 0
        assert not is_blocked(rig.db, rig.campaign, NY1, rig.clock.now())

    run(main())


def test_a_5xx_refusal_fails_the_attempt_and_a_4xx_is_retried_with_the_same_message(
    tmp_path: Path, relay: Any
) -> None:
    handler, port = relay
    rig = Rig(tmp_path, relay_port=port)

    async def main() -> None:
        await rig.busy_call()
        handler.refuse = "451 4.3.0 try again later"
        await rig.mail()
        assert handler.received == []
        ((state, tries, reply, message_id),) = rig.send_state()
        assert (state, tries, reply) == ("queued", 1, "451 4.3.0 try again later")
        assert rig.attempts()[1]["status"] == "in_flight"  # not lost
        # Not due yet: nothing is tried.
        await rig.mail()
        assert rig.send_state()[0][1] == 1
        rig.clock.advance(60)
        handler.refuse = None
        await rig.mail()
        assert len(handler.received) == 1
        assert _message(handler.received[0][2])["Message-ID"] == f"<{message_id}>"
        assert rig.send_state()[0][:2] == ("sent", 2)
        # Sent is sent: more ticks never send it twice.
        rig.clock.advance(3600)
        await rig.mail()
        assert len(handler.received) == 1

    run(main())

    rig2 = Rig(tmp_path / "b", relay_port=port)

    async def refused() -> None:
        await rig2.busy_call()
        handler.refuse = "550 5.1.1 no such user"
        await rig2.mail()
        _, mail = rig2.attempts()
        assert (mail["outcome"], mail["status"]) == (int(Outcome.EMAIL_FAILED), "done")
        assert "smtp 550 5.1.1 no such user" in json.loads(mail["evidence"])
        assert rig2.send_state()[0][0] == "failed"
        # The strategy decided: no attempt follows the plan's last (repeat_last false).
        assert rig2.state() == ContactState.RETRIES_COMPLETED

    handler.received.clear()
    run(refused())
    assert handler.received == []


def test_a_relay_that_is_down_keeps_the_message_queued_until_it_is_up(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there yet
    rig = Rig(tmp_path, relay_port=port)

    async def main() -> None:
        await rig.busy_call()
        await rig.mail()
        ((state, tries, reply, _),) = rig.send_state()
        assert (state, tries) == ("queued", 1) and "127.0.0.1" in reply
        rig.clock.advance(60)
        await rig.mail()
        assert rig.send_state()[0][:2] == ("queued", 2)  # backoff doubles: next in 120 s
        rig.clock.advance(60)
        await rig.mail()
        assert rig.send_state()[0][1] == 2
        handler = Relay()
        controller = Controller(handler, hostname="127.0.0.1", port=port)
        controller.start()
        try:
            rig.clock.advance(60)
            await rig.mail()
        finally:
            controller.stop()
        assert len(handler.received) == 1
        assert rig.send_state()[0][:2] == ("sent", 3)
        assert rig.state() == ContactState.EMAIL_SENT

    run(main())


def test_a_crlf_in_a_contact_field_adds_no_header(tmp_path: Path, relay: Any) -> None:
    handler, port = relay
    rig = Rig(tmp_path, relay_port=port)
    rig.set_fields("Ann\r\nBcc: victim@evil.example\r\n\r\n<script>x</script>", ADDRESS)

    async def main() -> None:
        await rig.busy_call()
        await rig.mail()

    run(main())
    ((_, rcpts, raw),) = handler.received
    assert rcpts == [ADDRESS]
    msg = _message(raw)
    headers = raw.split(b"\r\n\r\n", 1)[0]
    assert msg["Bcc"] is None and b"\nBcc:" not in headers
    assert "\n" not in msg["Subject"] and msg["Subject"].startswith("Hello Ann Bcc:")
    html_part = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "<script>" not in html_part and "&lt;script&gt;" in html_part


def test_a_contact_without_a_valid_address_skips_the_step_with_email_skipped(
    tmp_path: Path, relay: Any
) -> None:
    handler, port = relay
    rig = Rig(tmp_path, relay_port=port)
    rig.set_fields("Ann", "not an address\r\nBcc: x@y.example")

    async def main() -> None:
        await rig.busy_call()
        await rig.mail()

    run(main())
    assert handler.received == []
    _, mail = rig.attempts()
    assert (mail["channel"], mail["outcome"], mail["status"]) == (
        "email",
        int(Outcome.EMAIL_SKIPPED),
        "done",
    )
    assert "no valid address in bp2" in json.loads(mail["evidence"])[0]
    assert rig.state() == ContactState.RETRIES_COMPLETED


def test_a_bounce_marks_the_attempt_bounced_and_an_unknown_one_is_404(
    tmp_path: Path, relay: Any
) -> None:
    handler, port = relay
    rig = Rig(tmp_path, relay_port=port)
    token = create_token(rig.db, "mta", "crm", NOW, "test")

    async def main() -> None:
        await rig.busy_call()
        await rig.mail()
        message_id = _message(handler.received[0][2])["Message-ID"]
        runner = await rig.serve_api()
        base = f"http://127.0.0.1:{rig.api_port}/email/bounces"
        auth = {"Authorization": f"Bearer {token}"}
        try:
            async with aiohttp.ClientSession() as http:
                async with http.post(base, json={"message_id": "<nobody@nowhere>"},
                                     headers=auth) as unknown:  # fmt: skip
                    assert unknown.status == 404
                    assert "Message-ID" in (await unknown.json())["detail"]
                async with http.post(base, json={"message_id": message_id}) as anonymous:
                    assert anonymous.status == 401
                async with http.post(base, json={"message_id": message_id,
                                                 "reason": "550 mailbox unknown"},
                                     headers=auth) as done:  # fmt: skip
                    assert done.status == 200
                    doc = await done.json()
                    assert (doc["outcome"], doc["already"]) == ("EmailBounced", False)
                    assert doc["state"] == ContactState.RETRIES_COMPLETED
                async with http.post(base, json={"message_id": message_id},
                                     headers=auth) as again:  # fmt: skip
                    assert (await again.json())["already"] is True
        finally:
            await runner.cleanup()
        _, mail = rig.attempts()
        assert mail["outcome"] == int(Outcome.EMAIL_BOUNCED)
        assert "bounce: 550 mailbox unknown" in json.loads(mail["evidence"])
        assert rig.outbox()[-1]["outcome"] == "EmailBounced"

    run(main())


def test_the_dial_loop_leaves_email_steps_to_the_mailer_and_a_restart_never_sends_twice(
    tmp_path: Path, relay: Any
) -> None:
    from appliance.store import email as mail_store
    from appliance.store.attempts import sweep_dangling

    handler, port = relay
    rig = Rig(tmp_path, relay_port=port)

    async def main() -> None:
        await rig.busy_call()
        assert rig.engine.round() == 0  # the line is free, but the next attempt is an e-mail
        assert rig.lines["l1"].dialed == [NY1]
        handler.refuse = "421 4.7.0 busy, later"
        await rig.mail()
        assert rig.send_state()[0][0] == "queued"
        # The daemon dies while handing the message over (claimed, no answer recorded).
        (send,) = mail_store.due(rig.db, rig.clock.now() + 60, 5, set())
        assert mail_store.claim(rig.db, send.lease.attempt_id)
        # The restart's dangling sweep leaves e-mails waiting for the relay alone.
        assert sweep_dangling(rig.db, rig.clock.now()) == []
        handler.refuse = None
        rig.clock.advance(3600)
        again = Engine(rig.config, rig.db, rig.clock, rig.pool,
                       StorePlanner(rig.config, rig.db, rig.clock))  # fmt: skip
        assert again.mailer is not None
        again.mailer.tick()
        await again.mailer.settle()

    run(main())
    assert handler.received == []  # it may have gone out: never handed over twice
    _, mail = rig.attempts()
    assert (mail["outcome"], mail["status"]) == (int(Outcome.EMAIL_SENT), "done")
    assert "not sent again" in json.loads(mail["evidence"])[0]
    assert rig.send_state()[0][:3] == ("sent", 2, "unconfirmed")


def test_a_campaign_naming_a_template_the_config_lacks_is_a_422(tmp_path: Path) -> None:
    rig = Rig(tmp_path, relay_port=free_port())
    token = create_token(rig.db, "crm", "crm", NOW, "test")

    async def main() -> None:
        runner = await rig.serve_api()
        url = f"http://127.0.0.1:{rig.api_port}/campaigns/spring"
        auth = {"Authorization": f"Bearer {token}"}
        try:
            async with aiohttp.ClientSession() as http:
                body = {"settings": {"email_template": "autumn"}}
                async with http.patch(url, json=body, headers=auth) as refused:
                    assert refused.status == 422
                    detail = (await refused.json())["detail"]
                    assert "no e-mail template named 'autumn'" in detail and "hello" in detail
                body = {"settings": {"email_field": "bp2", "email_template": "hello"}}
                async with http.patch(url, json=body, headers=auth) as fine:
                    assert fine.status == 200
        finally:
            await runner.cleanup()

    run(main())


def test_a_line_dials_the_next_call_while_the_mailer_sends_the_email_step(
    tmp_path: Path, relay: Any
) -> None:
    handler, port = relay
    rig = Rig(tmp_path, relay_port=port)

    async def main() -> None:
        await rig.busy_call()
        other = add_contact(rig.db, rig.campaign, ["+12125550102"])
        line = rig.lines["l1"]
        assert rig.engine.round() == 1  # the e-mail step takes no line: the next call goes out
        assert await line.dialing() == "+12125550102"
        rig.mailer.tick(frozenset(c.lease.contact_id for c in rig.engine.calls.values()))
        await rig.mailer.settle()
        assert [rcpts for _, rcpts, _ in handler.received] == [[ADDRESS]]
        assert line._dialing is not None
        line._dialing.set_result(CallResult("+12125550102", Outcome.BUSY, ("BUSY",), {}))
        await asyncio.gather(*(c.task for c in list(rig.engine.calls.values())))
        row = rig.db.conn.execute("SELECT step FROM contacts WHERE id = ?", (other,)).fetchone()
        assert row[0] == 1  # its e-mail step is next (its bp2 is empty: it will be skipped)

    run(main())


def test_a_bounce_to_the_verp_address_names_its_attempt_and_a_forged_tag_does_not(
    tmp_path: Path, relay: Any
) -> None:
    handler, port = relay
    rig = Rig(tmp_path, relay_port=port, bounce_address="bounces@shop.example")
    token = create_token(rig.db, "mta", "crm", NOW, "test")

    async def main() -> None:
        await rig.busy_call()
        await rig.mail()
        sender = handler.received[0][0]
        assert re.fullmatch(r"bounces\+2\.[A-Za-z0-9_-]{12}@shop\.example", sender)
        runner = await rig.serve_api()
        base = f"http://127.0.0.1:{rig.api_port}/email/bounces"
        auth = {"Authorization": f"Bearer {token}"}
        forged = re.sub(r"\.[^@]+@", ".AAAAAAAAAAAA@", sender)
        other = sender.replace("+2.", "+1.")
        try:
            async with aiohttp.ClientSession() as http:
                for bad in (forged, other, "bounces@shop.example", "nonsense"):
                    async with http.post(base, json={"recipient": bad}, headers=auth) as r:
                        assert r.status == 404, bad
                for body in ({}, {"message_id": "x" * 5000}, {"message_id": 7},
                             {"message_id": "<a@b>", "colour": "red"}):  # fmt: skip
                    async with http.post(base, json=body, headers=auth) as r:
                        assert r.status == 422, body
                async with http.post(base, data=b"{not json", headers={
                        **auth, "Content-Type": "application/json"}) as r:  # fmt: skip
                    assert r.status == 400
                assert rig.attempts()[1]["outcome"] == int(Outcome.EMAIL_SENT)  # nothing changed
                async with http.post(base, json={"recipient": sender}, headers=auth) as done:
                    assert done.status == 200
                    assert (await done.json())["attempt_id"] == 2
        finally:
            await runner.cleanup()
        assert rig.attempts()[1]["outcome"] == int(Outcome.EMAIL_BOUNCED)

    run(main())


def test_a_relay_down_for_longer_than_give_up_after_fails_the_attempt(tmp_path: Path) -> None:
    rig = Rig(tmp_path, relay_port=free_port())

    async def main() -> None:
        await rig.busy_call()
        await rig.mail()
        assert rig.send_state()[0][0] == "queued"
        rig.clock.advance(3 * 86400)
        await rig.mail()

    run(main())
    _, mail = rig.attempts()
    assert (mail["outcome"], mail["status"]) == (int(Outcome.EMAIL_FAILED), "done")
    assert "given up after 259200 s" in json.loads(mail["evidence"])[0]
    assert rig.send_state()[0][0] == "failed"
    assert rig.state() == ContactState.RETRIES_COMPLETED


def test_without_an_email_section_the_step_is_skipped_saying_so_not_left_waiting(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path, relay_port=free_port())
    rig.engine.reload(rig.config.model_copy(update={"email": None}))

    async def main() -> None:
        await rig.busy_call()
        await rig.mail()

    run(main())
    _, mail = rig.attempts()
    assert mail["outcome"] == int(Outcome.EMAIL_SKIPPED)
    assert "config has no email section" in json.loads(mail["evidence"])[0]
    assert rig.send_state() == []


def test_an_address_unsubscribed_while_its_message_waits_for_the_relay_gets_nothing(
    tmp_path: Path, relay: Any
) -> None:
    from appliance.store import email as mail_store

    handler, port = relay
    rig = Rig(tmp_path, relay_port=port)

    async def main() -> None:
        await rig.busy_call()
        handler.refuse = "451 4.3.0 later"
        await rig.mail()
        handler.refuse = None
        assert mail_store.add_address(rig.db, ADDRESS.upper(), None, rig.clock.now(), "test")
        rig.clock.advance(60)
        await rig.mail()

    run(main())
    assert handler.received == []
    _, mail = rig.attempts()
    assert (mail["outcome"], mail["status"]) == (int(Outcome.EMAIL_SKIPPED), "done")
    assert rig.send_state()[0][:3] == ("failed", 2, "not sent: on DNC")


def test_the_link_still_unsubscribes_after_its_campaign_was_deleted(
    tmp_path: Path, relay: Any
) -> None:
    handler, port = relay
    rig = Rig(tmp_path, relay_port=port)

    async def main() -> None:
        await rig.busy_call()
        await rig.mail()
        link = re.search(r"<(http://[^>]+)>", _message(handler.received[0][2])["List-Unsubscribe"])
        assert link is not None
        with rig.db.transaction():
            rig.db.conn.execute("DELETE FROM campaigns WHERE id = ?", (rig.campaign,))
        runner = await rig.serve_api()
        try:
            async with (
                aiohttp.ClientSession() as http,
                http.post(link.group(1), data=b"List-Unsubscribe=One-Click") as done,
            ):
                assert done.status == 200
                assert (await done.json()) == {"address": ADDRESS, "added": True, "numbers": 0}
        finally:
            await runner.cleanup()
        listed = rig.db.conn.execute("SELECT address, campaign_id FROM email_dnc").fetchall()
        assert listed == [(ADDRESS, None)]

    run(main())


def test_the_email_dnc_list_is_read_added_to_and_only_an_admin_takes_one_off(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path, relay_port=free_port())
    crm = create_token(rig.db, "crm", "crm", NOW, "test")
    admin = create_token(rig.db, "root", "admin", NOW, "test")

    async def main() -> None:
        runner = await rig.serve_api()
        base = f"http://127.0.0.1:{rig.api_port}/email/dnc"
        as_crm = {"Authorization": f"Bearer {crm}"}
        as_admin = {"Authorization": f"Bearer {admin}"}
        try:
            async with aiohttp.ClientSession() as http:
                for address in ("Zed@Example.org", "amy@example.org"):
                    async with http.post(base, json={"address": address}, headers=as_crm) as r:
                        assert r.status == 200 and (await r.json())["added"] is True
                async with http.post(base, json={"address": "x\r\nBcc: y@z.org"},
                                     headers=as_crm) as bad:  # fmt: skip
                    assert bad.status == 422
                async with http.get(base, params={"limit": "1"}, headers=as_crm) as page:
                    first = await page.json()
                assert [i["address"] for i in first["items"]] == ["amy@example.org"]
                async with http.get(base, params={"after": first["next"]}, headers=as_crm) as page:
                    rest = await page.json()
                assert [i["address"] for i in rest["items"]] == ["zed@example.org"]
                assert rest["next"] is None and rest["items"][0]["source"] == "api:crm"
                gone = {"address": "zed@example.org"}
                async with http.delete(base, params=gone, headers=as_crm) as refused:
                    assert refused.status == 403
                async with http.delete(base, params=gone, headers=as_admin) as done:
                    assert done.status == 200
                async with http.delete(base, params=gone, headers=as_admin) as again:
                    assert again.status == 404
        finally:
            await runner.cleanup()
        actions = [r[0] for r in rig.db.conn.execute("SELECT action FROM audit ORDER BY id")]
        assert actions.count("email.dnc.add") == 2 and actions.count("email.dnc.remove") == 1

    run(main())
