"""The e-mail channel (#26, docs/email.md): the strategy's e-mail steps, sent through the SMTP relay.

Every engine tick the mailer takes the running campaigns' contacts whose next planned attempt is
an e-mail (the same plan, rules and DNC as the dial loop, which leaves these to it), leases each
with its message made and queued in one transaction (store/email.py), and hands due messages to
the relay, a few at a time, with an asyncio SMTP client (aiosmtplib). No line is used.

- The relay's 250: the attempt closes as EmailSent, the reply and the Message-ID recorded in its
  closing transaction; the strategy decides what follows (by default: closed as E-mail sent).
- 5xx: EmailFailed, the strategy decides (by default the plan's next attempt).
- 4xx, a relay that is down or times out: the message is queued again for a later try
  (`retry_min` doubling up to `retry_max`), the same bytes with the same Message-ID; the
  attempt stays in flight until the relay answers or `give_up_after` passes (EmailFailed).
- A contact with no valid address in the campaign's `email_field`, or whose address is on the
  e-mail DNC list, gets an EmailSkipped attempt: nothing is sent.
- A message that was being handed over when the daemon stopped is never sent again: it is
  recorded as sent, unconfirmed (the relay may have taken it).
"""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import logging
import ssl
from email.utils import parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiosmtplib

from appliance.campaigns import CampaignSettings
from appliance.clock import Clock
from appliance.config.models import DialboxConfig, EmailSettings, ImapBounces
from appliance.config.secrets import read_password
from appliance.domain import Channel, ContactState, Outcome
from appliance.engine.planner import AttemptReport, attempt_payload
from appliance.errors import DialboxError
from appliance.mailing import (
    bounce_facts,
    build_message,
    load_secret,
    make_token,
    new_message_id,
    read_verp,
    unsubscribe_url,
    valid_address,
    verp_sender,
)
from appliance.metrics import Metrics
from appliance.store import email as mail_store
from appliance.store.attempts import Lease, complete, lease
from appliance.store.campaigns import CampaignRow, get_campaign_by_id
from appliance.store.db import Database

if TYPE_CHECKING:
    from appliance.engine.storeplanner import StorePlanner

log = logging.getLogger(__name__)

BATCH = 50  # contacts queued per campaign and tick at most
IMAP_BATCH = 200  # bounces read from the mailbox per poll at most


class RelayTrouble(Exception):
    """The relay did not take the message now; try again later."""


class RelayRefused(Exception):
    """The relay refused the message for good (5xx)."""


def relay_password(settings: EmailSettings) -> str | None:
    relay = settings.relay
    return read_password("email.relay", relay.password_env, relay.password_file)


async def hand_over(settings: EmailSettings, sender: str, to: str, message: bytes) -> str:
    """Give one message to the relay; the relay's reply to DATA (``250 …``). RelayTrouble for
    what may pass (4xx, no connection, a timeout), RelayRefused for a 5xx."""
    relay = settings.relay
    port = relay.port or (465 if relay.security == "smtps" else 587)
    client = aiosmtplib.SMTP(
        hostname=relay.host,
        port=port,
        timeout=relay.timeout,
        use_tls=relay.security == "smtps",
        start_tls=relay.security == "starttls",
        cert_bundle=str(relay.ca_file) if relay.ca_file is not None else None,
    )
    try:
        try:
            await client.connect()
            if relay.user is not None:
                try:
                    await client.login(relay.user, relay_password(settings) or "")
                except aiosmtplib.SMTPResponseException as exc:
                    # the box's own credentials: never the recipient's fault, so never failed
                    raise RelayTrouble(
                        f"relay {relay.host}:{port} refused the login of {relay.user!r}:"
                        f" {exc.code} {exc.message}; check email.relay.user and its password"
                    ) from None
            await client.mail(sender)
            await client.rcpt(to)
            reply = await client.data(message)
        finally:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                await client.quit()
    except aiosmtplib.SMTPResponseException as exc:
        text = f"{exc.code} {exc.message}".strip()
        if 500 <= exc.code < 600:
            raise RelayRefused(text) from None
        raise RelayTrouble(text) from None
    except (aiosmtplib.SMTPException, OSError, TimeoutError, DialboxError) as exc:
        raise RelayTrouble(f"relay {relay.host}:{port}: {exc}") from None
    return f"{reply.code} {reply.message}".strip()


def find_bounced(
    db: Database, secret: bytes, message_id: str | None, recipient: str | None
) -> mail_store.Bounced | None:
    """The sent message a bounce names: by its Message-ID, else by the VERP address the bounce
    came to (`email.bounce_address`)."""
    if message_id:
        return mail_store.find_sent(db, message_id)
    attempt = read_verp(secret, recipient) if recipient else None
    mid = mail_store.message_id_of(db, attempt) if attempt is not None else None
    return mail_store.find_sent(db, mid) if mid else None


def apply_bounce(
    db: Database,
    planner: StorePlanner,
    metrics: Metrics | None,
    found: mail_store.Bounced,
    reason: str,
    now: float,
) -> ContactState | None:
    """The attempt's outcome becomes EmailBounced (pushed to the webhook again); where it is
    the contact's last attempt, the strategy decides what follows. The contact's new state
    (None: left as it was)."""
    got = found.lease
    reason = " ".join(reason.split())[:2000] or "bounced"
    campaign = get_campaign_by_id(db, got.campaign_id)
    report = AttemptReport(Outcome.EMAIL_BOUNCED, (f"bounce: {reason}",), None, None, None,
                           disposition="email bounced")  # fmt: skip
    decided = planner.decide(campaign, got, report, now) if found.reopen else None
    payload = None
    if campaign.settings.get("webhook"):
        payload = {
            "direction": "out", "campaign": campaign.name, "contact_id": got.contact_id,
            "attempt_id": got.attempt_id, "attempt_no": got.attempt_no, "number": got.number,
            "channel": "email", "line": None, "outcome": Outcome.EMAIL_BOUNCED.label,
            "code": int(Outcome.EMAIL_BOUNCED), "disposition": "email bounced",
            "ended_at": now, "email": {"address": found.address, "bounce": reason},
        }  # fmt: skip
    mail_store.record_bounce(db, found, reason, now, decided, payload)
    if metrics is not None:
        metrics.record_email(campaign.name, "bounced")
    log.info("e-mail attempt %s to %s bounced: %s", got.attempt_id, found.address, reason)
    return decided.new_state if decided is not None else None


def _imap_password(imap: ImapBounces) -> str:
    password = read_password("email.imap", imap.password_env, imap.password_file)
    assert password is not None  # the config requires one of the two
    return password


@contextlib.contextmanager
def _mailbox(imap: ImapBounces) -> Any:
    """A logged-in IMAP connection with the bounce mailbox selected (blocking: a thread's)."""
    context = ssl.create_default_context(
        cafile=str(imap.ca_file) if imap.ca_file is not None else None
    )
    client: imaplib.IMAP4
    if imap.security == "ssl":
        client = imaplib.IMAP4_SSL(imap.host, imap.port or 993, ssl_context=context,
                                   timeout=imap.timeout)  # fmt: skip
    else:
        client = imaplib.IMAP4(imap.host, imap.port or 143, timeout=imap.timeout)
        if imap.security == "starttls":
            client.starttls(ssl_context=context)
    try:
        client.login(imap.user, _imap_password(imap))
        kind, _ = client.select(imap.mailbox)
        if kind != "OK":
            raise imaplib.IMAP4.error(f"no mailbox {imap.mailbox!r}")
        yield client
    finally:
        with contextlib.suppress(imaplib.IMAP4.error, OSError):
            client.logout()


def fetch_unseen(imap: ImapBounces) -> list[tuple[bytes, bytes]]:
    """(uid, message) of the mailbox's unseen messages, left unseen (BODY.PEEK)."""
    out: list[tuple[bytes, bytes]] = []
    with _mailbox(imap) as client:
        kind, found = client.uid("SEARCH", "UNSEEN")
        uids = found[0].split()[:IMAP_BATCH] if kind == "OK" and found and found[0] else []
        for uid in uids:
            kind, data = client.uid("FETCH", uid, "(BODY.PEEK[])")
            for item in data if kind == "OK" else []:
                if isinstance(item, tuple) and len(item) == 2:
                    out.append((uid, bytes(item[1])))
    return out


def mark_seen(imap: ImapBounces, uids: list[bytes]) -> None:
    with _mailbox(imap) as client:
        client.uid("STORE", b",".join(uids), "+FLAGS", "(\\Seen)")


class Mailer:
    """The engine's e-mail side (one per engine)."""

    def __init__(
        self,
        config: DialboxConfig,
        db: Database,
        clock: Clock,
        planner: StorePlanner,
        metrics: Metrics | None = None,
    ) -> None:
        self.config = config
        self.db = db
        self.clock = clock
        self.planner = planner
        self.metrics = metrics
        self.tasks: dict[int, asyncio.Task[None]] = {}  # attempt id -> its send
        self._recovered = False
        self._secret: bytes | None = None
        self._imap_task: asyncio.Task[None] | None = None
        self._next_poll = 0.0

    def secret(self) -> bytes:
        if self._secret is None:
            self._secret = load_secret(Path(self.config.database).parent)
        return self._secret

    def in_flight(self) -> list[int]:
        return list(self.tasks)

    # -- each tick ------------------------------------------------------------------------
    def tick(self, exclude: frozenset[int] = frozenset()) -> None:
        """Queue the due e-mail steps and start the due sends; `exclude`: contacts the dial
        loop has in flight."""
        now = self.clock.now()
        if not self._recovered:
            self._recovered = True
            self._recover(now)
        settings = self.config.email
        for campaign in self.planner.running():
            try:
                self._queue(campaign, settings, now, exclude)
            except DialboxError as exc:
                log.error("campaign %s: e-mail steps not sent: %s", campaign.name, exc)
        if settings is None:
            return
        self._poll(now, settings)
        free = settings.max_sending - len(self.tasks)
        if free <= 0:
            return
        for send in mail_store.due(self.db, now, free, set(self.tasks)):
            aid = send.lease.attempt_id
            self.tasks[aid] = asyncio.create_task(self._run(aid, send), name=f"email {aid}")

    async def _run(self, aid: int, send: mail_store.Send) -> None:
        try:
            await self._deliver(send)
        finally:
            self.tasks.pop(aid, None)

    async def settle(self) -> None:
        """Wait for the sends in flight and a mailbox read (tests; the drain)."""
        while self.tasks or (self._imap_task is not None and not self._imap_task.done()):
            pending = [*self.tasks.values(), *([self._imap_task] if self._imap_task else [])]
            await asyncio.gather(*pending, return_exceptions=True)

    # -- bounces from the mailbox ------------------------------------------------------------
    def _poll(self, now: float, settings: EmailSettings) -> None:
        imap = settings.imap
        if imap is None or now < self._next_poll:
            return
        if self._imap_task is not None and not self._imap_task.done():
            return
        self._next_poll = now + imap.poll
        self._imap_task = asyncio.create_task(self._read_bounces(imap), name="email bounces")

    async def _read_bounces(self, imap: ImapBounces) -> None:
        """Unseen messages of the bounce mailbox: each that names a message the box sent fails
        its attempt (EmailBounced); every one read is marked seen (what is not a bounce of the
        box's is logged and left for people)."""
        try:
            fetched = await asyncio.to_thread(fetch_unseen, imap)
        except (OSError, imaplib.IMAP4.error, DialboxError) as exc:
            log.warning("bounce mailbox %s@%s not read: %s", imap.user, imap.host, exc)
            return
        read: list[bytes] = []
        for uid, raw in fetched:
            facts = bounce_facts(raw)
            found = None
            for mid in facts.message_ids:
                found = found or find_bounced(self.db, self.secret(), mid, None)
            for address in facts.recipients:
                found = found or find_bounced(self.db, self.secret(), None, address)
            if found is None:
                log.info("bounce mailbox: message %s names no message this box sent (%s)",
                         uid.decode(), ", ".join(facts.message_ids) or "no Message-ID")  # fmt: skip
            elif not found.already:
                try:
                    apply_bounce(self.db, self.planner, self.metrics, found, facts.reason,
                                 self.clock.now())  # fmt: skip
                except DialboxError as exc:
                    log.error("bounce for attempt %s not recorded: %s", found.lease.attempt_id, exc)
                    continue  # left unseen: read again at the next poll
            read.append(uid)
        if read:
            try:
                await asyncio.to_thread(mark_seen, imap, read)
            except (OSError, imaplib.IMAP4.error, DialboxError) as exc:
                log.warning("bounce mailbox: read messages not marked seen: %s", exc)

    async def drain(self, timeout: float) -> None:
        if not self.tasks:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.settle(), timeout)

    # -- queueing -------------------------------------------------------------------------
    def _queue(
        self,
        campaign: CampaignRow,
        settings: EmailSettings | None,
        now: float,
        exclude: frozenset[int],
    ) -> None:
        rules = self.planner.rules_for(campaign)
        if not any(spec.channel is Channel.EMAIL for spec in rules.strategy.attempts):
            return
        if rules.schedule.closed_reason(now) is not None:
            return
        planned = self.planner.plan_email(campaign, now, BATCH, sorted(exclude))
        cs = CampaignSettings.model_validate(campaign.settings)
        template = settings.templates.get(cs.email_template or "") if settings else None
        for dial in planned:
            if dial.channel is not Channel.EMAIL:
                continue
            fields = mail_store.contact_fields(self.db, dial.contact_id)
            raw = fields.get(cs.email_field) if cs.email_field else None
            address = valid_address(raw)
            why = None
            if settings is None:
                why = "the box sends no e-mail: its config has no email section (docs/email.md)"
            elif cs.email_field is None:
                why = "the campaign names no email_field (the business parameter with the address)"
            elif template is None:
                why = f"the campaign's email_template {cs.email_template!r} is not in the config"
            elif address is None:
                why = f"no valid address in {cs.email_field}" + (f" ({raw!r})" if raw else "")
            elif mail_store.is_listed(self.db, address):
                why = f"{address} is on the e-mail DNC list"
            if why is not None or settings is None or template is None or address is None:
                self._skip(campaign, dial.contact_id, dial.phone_index, now, why or "")
                continue
            message_id = new_message_id(settings)
            token = make_token(self.secret(), campaign.id, dial.contact_id, address)
            try:
                message = build_message(
                    settings, template, fields, address, message_id,
                    unsubscribe_url(settings, token),
                )  # fmt: skip
            except (ValueError, TypeError, LookupError) as exc:  # one contact's, not the rest's
                log.exception("campaign %s: contact %s: message not made", campaign.name,
                              dial.contact_id)  # fmt: skip
                self._skip(campaign, dial.contact_id, dial.phone_index, now,
                           f"the message could not be made: {exc}")  # fmt: skip
                continue
            got = mail_store.queue(
                self.db, dial.contact_id, dial.phone_index, now,
                address=address, message_id=message_id, message=message,
            )  # fmt: skip
            if isinstance(got, Lease):
                log.info("campaign %s: e-mail to contact %s queued (attempt %s, <%s>)",
                         campaign.name, dial.contact_id, got.attempt_id, message_id)  # fmt: skip

    def _skip(
        self, campaign: CampaignRow, contact_id: int, phone: int, now: float, why: str
    ) -> None:
        got = lease(self.db, contact_id, phone, Channel.EMAIL, now, box=self.config.box.id)
        if not isinstance(got, Lease):
            return
        report = AttemptReport(Outcome.EMAIL_SKIPPED, (why,), now, None, None,
                               disposition="email skipped")  # fmt: skip
        self._close(campaign, got, report, now)
        log.info("campaign %s: contact %s: e-mail step skipped: %s", campaign.name, contact_id, why)
        self._count(campaign.name, "skipped")

    # -- sending --------------------------------------------------------------------------
    async def _deliver(self, send: mail_store.Send) -> None:
        got = send.lease
        settings = self.config.email
        if settings is None or not mail_store.claim(self.db, got.attempt_id):
            return
        campaign = get_campaign_by_id(self.db, got.campaign_id)
        started = self.clock.now()
        if mail_store.is_listed(self.db, send.address):  # unsubscribed while it waited
            report = AttemptReport(Outcome.EMAIL_SKIPPED,
                                   (f"{send.address} is on the e-mail DNC list",
                                    f"message-id <{send.message_id}>"), started, None, None,
                                   disposition="email skipped")  # fmt: skip
            self._close(campaign, got, report, started, sent=False, reply="not sent: on DNC",
                        send=send)  # fmt: skip
            self._count(campaign.name, "skipped")
            return
        sender = parseaddr(settings.from_)[1]
        if settings.bounce_address is not None:
            sender = verp_sender(self.secret(), settings.bounce_address, got.attempt_id)
        try:
            reply = await hand_over(settings, sender, send.address, send.message)
        except RelayTrouble as exc:
            now = self.clock.now()
            if now - send.created_at >= settings.give_up_after:
                self._failed(campaign, send, f"given up after {now - send.created_at:.0f} s: {exc}")
                return
            delay = min(settings.retry_max, settings.retry_min * 2**send.tries)
            mail_store.defer(self.db, got.attempt_id, now + delay, str(exc))
            log.warning("e-mail attempt %s to %s not taken (%s): next try in %.0f s",
                        got.attempt_id, send.address, exc, delay)  # fmt: skip
            self._count(campaign.name, "deferred")
            return
        except RelayRefused as exc:
            self._failed(campaign, send, str(exc))
            return
        except Exception as exc:  # a bug must not leave the message claimed without a word
            log.exception("e-mail attempt %s failed inside the box", got.attempt_id)
            mail_store.defer(self.db, got.attempt_id, self.clock.now() + settings.retry_max,
                             f"internal error: {exc!r}")  # fmt: skip
            return
        now = self.clock.now()
        evidence = (f"smtp {reply}", f"message-id <{send.message_id}>", f"to {send.address}")
        report = AttemptReport(Outcome.EMAIL_SENT, evidence, started, None, None,
                               disposition=f"email sent <{send.message_id}>")  # fmt: skip
        self._close(campaign, got, report, now, sent=True, reply=reply, send=send)
        self._count(campaign.name, "sent")

    def _failed(self, campaign: CampaignRow, send: mail_store.Send, why: str) -> None:
        now = self.clock.now()
        evidence = (f"smtp {why}", f"message-id <{send.message_id}>", f"to {send.address}")
        report = AttemptReport(Outcome.EMAIL_FAILED, evidence, now, None, None,
                               disposition="email failed")  # fmt: skip
        self._close(campaign, send.lease, report, now, sent=False, reply=why, send=send)
        log.warning("e-mail attempt %s to %s failed: %s", send.lease.attempt_id, send.address, why)
        self._count(campaign.name, "failed")

    def _close(
        self,
        campaign: CampaignRow,
        got: Lease,
        report: AttemptReport,
        now: float,
        *,
        sent: bool | None = None,
        reply: str = "",
        send: mail_store.Send | None = None,
    ) -> None:
        completion = self.planner.decide(campaign, got, report, now)
        payload = self.payload(campaign, got, report, now, send)
        if sent is None:
            complete(self.db, got, completion, now, outbox_payload=payload)
        else:
            mail_store.finish(self.db, got, completion, now, sent=sent, reply=reply,
                              outbox_payload=payload)  # fmt: skip

    def payload(
        self,
        campaign: CampaignRow,
        got: Lease,
        report: AttemptReport,
        now: float,
        send: mail_store.Send | None,
    ) -> dict[str, Any] | None:
        """The webhook document of an e-mail attempt: the call's shape, channel 'email', and
        the address and Message-ID."""
        cs = CampaignSettings.model_validate(campaign.settings)
        if not cs.webhook:
            return None
        return attempt_payload(campaign.name, got, report, now, "email") | {
            "email": {
                "address": send.address if send else None,
                "message_id": send.message_id if send else None,
            },
        }

    def _recover(self, now: float) -> None:
        """Messages claimed when the daemon stopped: recorded as sent, unconfirmed, never
        handed over again (the relay may have taken them)."""
        for send in mail_store.interrupted(self.db):
            try:
                campaign = get_campaign_by_id(self.db, send.lease.campaign_id)
            except LookupError:
                continue
            why = "the daemon stopped while handing it to the relay: not sent again (it may have gone out)"
            evidence = (why, f"message-id <{send.message_id}>", f"to {send.address}")
            report = AttemptReport(Outcome.EMAIL_SENT, evidence, now, None, None,
                                   disposition=f"email unconfirmed <{send.message_id}>")  # fmt: skip
            try:
                self._close(campaign, send.lease, report, now, sent=True, reply="unconfirmed",
                            send=send)  # fmt: skip
            except DialboxError as exc:
                log.error("e-mail attempt %s not settled: %s", send.lease.attempt_id, exc)
            log.warning("e-mail attempt %s: %s", send.lease.attempt_id, why)

    def _count(self, campaign: str, result: str) -> None:
        if self.metrics is not None:
            self.metrics.record_email(campaign, result)
