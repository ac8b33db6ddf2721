"""The e-mail channel's endpoints (#26, docs/email.md): the unsubscribe link every message carries
(RFC 2369 List-Unsubscribe, RFC 8058 one-click) and bounces reported by a mail system.

``GET /email/unsubscribe?t=TOKEN`` shows a confirmation page with a button; ``POST`` (the
button, or a mail client's one-click POST with ``List-Unsubscribe=One-Click``) puts the address
on the e-mail DNC list at once — and the contact's numbers on the global DNC list where config
``email.unsubscribe_numbers`` says so. The token is the box's HMAC of the campaign, the contact
and the address: no API token is needed, and a token not signed by this box (or changed) is
403 with nothing added.
"""

from __future__ import annotations

import html
from typing import Any

from aiohttp import web
from pydantic import Field

from appliance.api.campaigns import services
from appliance.api.models import Body, Document
from appliance.api.problems import Problem
from appliance.api.registry import API
from appliance.api.spec import Call, Param, read_body
from appliance.api.times import iso_time
from appliance.domain import Outcome
from appliance.mailing import Unsubscribe, load_secret, read_token, valid_address
from appliance.store import email as mail_store
from appliance.store.campaigns import audit
from appliance.store.dnc import add_numbers

TOKEN = Param("t", "query", {"type": "string", "minLength": 1, "maxLength": 1024}, True)
_AS_HTML: dict[str, Any] = {"text/html": {"type": "string"}}
_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{title}</title></head>
<body style="font-family: sans-serif; max-width: 32em; margin: 3em auto">
<h1>{title}</h1>{body}</body></html>
"""


class Unsubscribed(Document):
    address: str
    added: bool = Field(description="false: the address was on the list already")
    numbers: int = Field(description="numbers of the contact put on the global DNC list")


class BounceReport(Body):
    """a bounce, as a mail system reports it"""

    message_id: str | None = Field(
        None, min_length=3, max_length=998, description="the bounced message's Message-ID"
    )
    recipient: str | None = Field(
        None,
        min_length=3,
        max_length=998,
        description="or the address the bounce came to: the VERP envelope sender"
        " (config email.bounce_address), which names the attempt",
    )
    reason: str | None = Field(None, max_length=2000, description="what the bounce said")


class BounceResult(Document):
    attempt_id: int
    contact_id: int
    outcome: str
    already: bool = Field(description="a bounce for this message was recorded before")
    state: str | None = Field(description="the contact's state after it (null: left as it was)")


def _page(title: str, body: str, status: int = 200) -> web.Response:
    return web.Response(
        status=status,
        text=_PAGE.format(title=html.escape(title), body=body),
        content_type="text/html",
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


def _checked(call: Call[Any]) -> tuple[Any, Unsubscribe]:
    svc = services(call)
    config = svc.config()
    if config.email is None:
        raise Problem(404, "this box sends no e-mail (config has no email section)")
    secret = load_secret(config.database.parent)
    found = read_token(secret, call.query["t"])
    if found is None:
        raise Problem(
            403,
            "this unsubscribe link is not valid (changed or not from this box); use the link"
            " of the message as it came",
        )
    return svc, found


@API.op("GET", "/email/unsubscribe", summary="The unsubscribe link's confirmation page",
        tag="email", scope=None, params=[TOKEN],
        responses={200: ("a page with a button that unsubscribes", str, "text/html"),
                   403: ("the token is not valid", None),
                   404: ("this box sends no e-mail (no email section in its config)", None)},
        description="What a message's List-Unsubscribe link opens: nothing changes until the "
                    "button is pressed (a POST).")  # fmt: skip
async def unsubscribe_page(call: Call[Any]) -> web.StreamResponse:
    try:
        _, found = _checked(call)
    except Problem as exc:
        if exc.status != 403:
            raise
        return _page("Link not valid", f"<p>{html.escape(exc.detail)}</p>", 403)
    action = html.escape(f"?t={call.query['t']}", quote=True)
    body = (
        f"<p>Stop e-mail to <b>{html.escape(found.address)}</b>?</p>"
        f'<form method="post" action="{action}">'
        '<input type="hidden" name="List-Unsubscribe" value="One-Click">'
        '<button type="submit">Unsubscribe</button></form>'
    )
    return _page("Unsubscribe", body)


@API.op("POST", "/email/unsubscribe", summary="Unsubscribe: the address on the e-mail DNC list",
        tag="email", scope=None, params=[TOKEN], max_body=4096,
        media={"application/x-www-form-urlencoded": {
            "type": "object", "properties": {"List-Unsubscribe": {"const": "One-Click"}}}},
        responses={200: ("done (also when it was done before)", Unsubscribed,
                         _AS_HTML),
                   403: ("the token is not valid: nothing added", None),
                   404: ("this box sends no e-mail (no email section in its config)", None)},
        description="RFC 8058 one-click: a mail client's POST with List-Unsubscribe=One-Click "
                    "does it at once, as does the page's button. The answer is HTML for a "
                    "browser (Accept: text/html), else JSON.")  # fmt: skip
async def unsubscribe(call: Call[Any]) -> web.StreamResponse:
    await read_body(call.request, 4096)
    svc, found = _checked(call)
    config = svc.config()
    now = svc.clock.now()
    source = f"unsubscribe:campaign {found.campaign_id} contact {found.contact_id}"
    numbers: list[str] = []
    with svc.db.transaction():
        added = mail_store.add_address(svc.db, found.address, found.campaign_id, now, source)
        audit(svc.db, "unsubscribe", "email.unsubscribe", found.address,
              {"campaign_id": found.campaign_id, "contact_id": found.contact_id, "added": added},
              now)  # fmt: skip
        if config.email is not None and config.email.unsubscribe_numbers:
            numbers = mail_store.contact_numbers(svc.db, found.contact_id)
            if numbers:
                add_numbers(svc.db, numbers, campaign_id=None, campaign=None, now=now,
                            actor="unsubscribe", reason="e-mail unsubscribe", source=source)  # fmt: skip
    if "text/html" in call.request.headers.get("Accept", ""):
        return _page("Unsubscribed", f"<p>{html.escape(found.address)} gets no more e-mail.</p>")
    return web.json_response(
        Unsubscribed(address=found.address, added=added, numbers=len(numbers)).model_dump()
    )


@API.op("POST", "/email/bounces", summary="Report a bounce: the message's attempt failed",
        tag="email", scope="crm", body=BounceReport,
        responses={200: ("recorded", BounceResult), 404: ("no sent message has that Message-ID", None)},
        description="A mail system (or the CRM) reports a bounce by the message's Message-ID "
                    "(or the VERP address it came to): "
                    "the attempt's outcome becomes EmailBounced and, where it was the contact's "
                    "last attempt, the strategy decides what follows (by default the plan's next "
                    "attempt). The same bounce again changes nothing.")  # fmt: skip
async def bounce(call: Call[BounceReport]) -> web.Response:
    from appliance.engine.mailer import apply_bounce, find_bounced
    from appliance.engine.storeplanner import StorePlanner

    svc = services(call)
    given = call.body
    if given.message_id is None and given.recipient is None:
        raise Problem(422, "give message_id (the bounced message's Message-ID) or recipient")
    secret = load_secret(svc.config().database.parent)
    found = find_bounced(svc.db, secret, given.message_id, given.recipient)
    if found is None:
        if given.message_id is None:
            raise Problem(
                404,
                f"{given.recipient!r} is not a bounce address of a message this box sent"
                " (bounces+ATTEMPT.TAG@…, config email.bounce_address)",
            )
        raise Problem(
            404,
            f"no message this box sent has the Message-ID {given.message_id!r}; give it as"
            " in the bounced message's Message-ID header",
        )
    got = found.lease
    state = None
    if not found.already:
        planner = StorePlanner(svc.config(), svc.db)
        state = apply_bounce(svc.db, planner, svc.metrics, found, given.reason or "bounced",
                             svc.clock.now())  # fmt: skip
    doc = BounceResult(attempt_id=got.attempt_id, contact_id=got.contact_id,
                       outcome=Outcome.EMAIL_BOUNCED.label, already=found.already,
                       state=str(state) if state is not None else None)  # fmt: skip
    return web.json_response(doc.model_dump())


class EmailDncEntry(Document):
    address: str
    campaign_id: int | None = Field(description="whose message the unsubscribe came in")
    added_at: str = Field(description="ISO 8601")
    source: str


class EmailDncPage(Document):
    items: list[EmailDncEntry]
    next: str | None = Field(description="give as `after` for the next page; null: the last")


class EmailDncAdd(Body):
    address: str = Field(min_length=3, max_length=320)


ADDRESS = Param("address", "query", {"type": "string", "minLength": 3, "maxLength": 320}, True)


def _address(text: str) -> str:
    address = valid_address(text)
    if address is None:
        raise Problem(422, f"{text!r} is not an e-mail address like ann@example.org")
    return address.lower()


@API.op("GET", "/email/dnc", summary="The e-mail DNC list (unsubscribed addresses)", tag="email",
        scope="crm",
        params=[Param("after", "query", {"type": "string", "maxLength": 320, "default": ""}),
                Param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 1000,
                                         "default": 100})],
        responses={200: ("a page of the list, in address order", EmailDncPage)})  # fmt: skip
async def email_dnc(call: Call[Any]) -> web.Response:
    svc = services(call)
    limit = int(call.query.get("limit", 100))
    rows = mail_store.listed(svc.db, str(call.query.get("after", "")), limit)
    items = [
        EmailDncEntry(address=a, campaign_id=c, added_at=iso_time(t) or "", source=s).model_dump()
        for a, c, t, s in rows
    ]
    return web.json_response({"items": items, "next": rows[-1][0] if len(rows) == limit else None})


@API.op("POST", "/email/dnc", summary="Put an address on the e-mail DNC list", tag="email",
        scope="crm", body=EmailDncAdd,
        responses={200: ("done (also when it was listed)", Unsubscribed)})  # fmt: skip
async def add_email_dnc(call: Call[EmailDncAdd]) -> web.Response:
    svc = services(call)
    address, now = _address(call.body.address), svc.clock.now()
    with svc.db.transaction():
        added = mail_store.add_address(svc.db, address, None, now, call.caller.actor)
        audit(svc.db, call.caller.actor, "email.dnc.add", address, {"added": added}, now)
    return web.json_response({"address": address, "added": added, "numbers": 0})


@API.op("DELETE", "/email/dnc", summary="Take an address off the e-mail DNC list", tag="email",
        scope="admin", params=[ADDRESS],
        responses={200: ("taken off", Unsubscribed), 404: ("the address is not listed", None)},
        description="An address that unsubscribed receives e-mail again: only an admin may, "
                    "and it is audited (email.dnc.remove).")  # fmt: skip
async def remove_email_dnc(call: Call[Any]) -> web.Response:
    svc = services(call)
    address, now = _address(str(call.query["address"])), svc.clock.now()
    with svc.db.transaction():
        if not mail_store.remove_address(svc.db, address):
            raise Problem(404, f"{address} is not on the e-mail DNC list")
        audit(svc.db, call.caller.actor, "email.dnc.remove", address, {}, now)
    return web.json_response({"address": address, "added": False, "numbers": 0})
