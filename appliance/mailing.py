"""The e-mail channel's message (#26, docs/email.md): addresses, templates, unsubscribe tokens.

A campaign's template (config `email.templates`) names the contact's fields as ``$bp1`` or
``${bp1}`` (string.Template: no expressions, nothing but the value); the values are made safe
for where they go — HTML-escaped in the HTML part, line breaks folded to spaces in the subject —
so a contact's field can neither add markup nor a header. Each message carries
``List-Unsubscribe`` and ``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` (RFC 2369,
RFC 8058) whose link holds a token signed with the box's secret (HMAC-SHA256 over the campaign,
the contact and the address): the API's ``/email/unsubscribe`` checks it and puts the address
on the e-mail DNC list.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import os
import re
import secrets
import string
import urllib.parse
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formataddr, parseaddr
from pathlib import Path
from typing import Any

from appliance.config.models import TEMPLATE_FIELDS, EmailSettings, EmailTemplate

SECRET_FILE = "email-unsubscribe.key"
UNSUBSCRIBE_PATH = "/email/unsubscribe"
_ADDRESS = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@(?=.{1,253}$)"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)


def valid_address(value: str | None) -> str | None:
    """The plain address in a business parameter (``ann@example.com``, or ``Ann
    <ann@example.com>``), or None when there is none that mail can go to."""
    if not value or any(c in value for c in "\r\n\x00"):
        return None
    _, address = parseaddr(value.strip())
    address = address.strip()
    if not _ADDRESS.fullmatch(address) or ".." in address or address.startswith("."):
        return None
    return address


# -- the secret and the tokens ------------------------------------------------------------


def load_secret(state_dir: Path) -> bytes:
    """The box's unsubscribe secret (32 random bytes, file mode 0600 in the state directory),
    made at its first use."""
    path = state_dir / SECRET_FILE
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    state_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except FileExistsError:  # made by another process meanwhile
        return path.read_bytes()
    with os.fdopen(fd, "wb") as out:
        out.write(key)
    return key


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: bytes, payload: str) -> str:
    return _b64(hmac.new(secret, payload.encode("ascii"), hashlib.sha256).digest())


@dataclass(frozen=True)
class Unsubscribe:
    """What a valid token says: whose message it came in."""

    campaign_id: int
    contact_id: int
    address: str


def make_token(secret: bytes, campaign_id: int, contact_id: int, address: str) -> str:
    payload = f"{campaign_id}.{contact_id}.{_b64(address.lower().encode('utf-8'))}"
    return f"{payload}.{_sign(secret, payload)}"


def read_token(secret: bytes, token: str) -> Unsubscribe | None:
    """The token's campaign, contact and address; None for a token this box did not sign (or
    one changed after it was signed)."""
    parts = token.split(".")
    if len(parts) != 4 or len(token) > 1024:
        return None
    payload, signature = ".".join(parts[:3]), parts[3]
    try:
        if not hmac.compare_digest(_sign(secret, payload), signature):
            return None
        address = _unb64(parts[2]).decode("utf-8")
        return Unsubscribe(int(parts[0]), int(parts[1]), address)
    except (ValueError, UnicodeError):
        return None


def verp_sender(secret: bytes, bounce_address: str, attempt_id: int) -> str:
    """The envelope sender of an attempt's message: ``local+ATTEMPT.SIG@domain`` (VERP)."""
    local, _, domain = bounce_address.partition("@")
    tag = f"{attempt_id}.{_sign(secret, f'verp.{attempt_id}')[:12]}"
    return f"{local}+{tag}@{domain}"


def read_verp(secret: bytes, address: str) -> int | None:
    """The attempt a VERP address names, or None (not one, or a tag this box did not sign)."""
    local = parseaddr(address.strip())[1].partition("@")[0]
    _, plus, tag = local.partition("+")
    number, dot, signature = tag.partition(".")
    if not plus or not dot or not number.isdigit() or len(number) > 18:
        return None
    expected = _sign(secret, f"verp.{int(number)}")[:12]
    return int(number) if hmac.compare_digest(expected, signature) else None


def unsubscribe_url(settings: EmailSettings, token: str) -> str:
    return f"{settings.public_url.rstrip('/')}{UNSUBSCRIBE_PATH}?t={urllib.parse.quote(token)}"


# -- the message ---------------------------------------------------------------------------


def _one_line(value: str) -> str:
    """A value for a header: its line breaks (and other controls) become spaces."""
    return re.sub(r"[\x00-\x1f\x7f\u2028\u2029\x85]+", " ", value).strip()


def render(
    template: EmailTemplate, fields: Mapping[str, str | None]
) -> tuple[str, str, str | None]:
    """(subject, text, html) with the contact's fields put in: every field a template may name
    is known (missing values are empty), so nothing is left as a placeholder."""
    values = {name: str(fields.get(name) or "") for name in TEMPLATE_FIELDS}
    subject = string.Template(template.subject).substitute(
        {k: _one_line(v) for k, v in values.items()}
    )
    text = string.Template(template.text).substitute(values)
    body_html = None
    if template.html is not None:
        body_html = string.Template(template.html).substitute(
            {k: html.escape(v, quote=True) for k, v in values.items()}
        )
    return _one_line(subject), text, body_html


def new_message_id(settings: EmailSettings) -> str:
    """A Message-ID (without brackets) on the sender's domain."""
    domain = parseaddr(settings.from_)[1].rpartition("@")[2] or "dialbox.invalid"
    return f"{uuid.uuid4().hex}.dialbox@{domain}"


def build_message(
    settings: EmailSettings,
    template: EmailTemplate,
    fields: Mapping[str, str | None],
    to: str,
    message_id: str,
    unsubscribe: str,
) -> bytes:
    """The whole message as it goes to the relay (CRLF line ends, RFC 5322)."""
    subject, text, body_html = render(
        template, {**fields, "email": to, "unsubscribe_url": unsubscribe}
    )
    # Lines up to RFC 5322's hard limit: a folded List-Unsubscribe would be RFC 2047-encoded
    # (its link has no space to fold at), which mail clients do not read as a link.
    message = EmailMessage(policy=SMTP.clone(max_line_length=998))
    name, sender = parseaddr(settings.from_)
    message["From"] = formataddr((_one_line(name), sender))
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = f"<{message_id}>"
    message["Date"] = _date_now()
    links = [f"<{unsubscribe}>"]
    if settings.unsubscribe_mailto:
        links.append(f"<mailto:{settings.unsubscribe_mailto}?subject=unsubscribe>")
    message["List-Unsubscribe"] = ", ".join(links)
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(text)
    if body_html is not None:
        message.add_alternative(body_html, subtype="html")
    return message.as_bytes()


def _date_now() -> str:
    from email.utils import formatdate

    return formatdate(usegmt=True)


# -- bounces -------------------------------------------------------------------------------

_MESSAGE_ID_LINE = re.compile(r"^Message-ID:\s*<([^<>\s]+)>", re.IGNORECASE | re.MULTILINE)
_RECIPIENT_HEADERS = ("To", "Delivered-To", "X-Original-To", "Envelope-To")


@dataclass(frozen=True)
class BounceFacts:
    """What a bounce (a delivery status notification, RFC 3464, or a plainer one) names."""

    message_ids: tuple[str, ...]  # of the messages it returns (not its own)
    recipients: tuple[str, ...]  # the addresses it came to (a VERP address among them)
    reason: str


def bounce_facts(raw: bytes) -> BounceFacts:
    """The returned message's Message-ID (from a message/rfc822 or text/rfc822-headers part,
    else a ``Message-ID:`` line quoted in the text), the addresses the bounce came to, and the
    reason (the delivery status's Diagnostic-Code or Status, else the subject)."""
    import email as email_package
    from email import policy

    bounce = email_package.message_from_bytes(raw, policy=policy.compat32)
    own = (bounce.get("Message-ID") or "").strip().strip("<>")
    ids: list[str] = []
    reason = ""

    def note(mid: str | None) -> None:
        mid = (mid or "").strip().strip("<>").strip()
        if mid and mid != own and mid not in ids:
            ids.append(mid)

    for part in bounce.walk():
        kind = part.get_content_type()
        if kind == "message/rfc822":
            inner: Any = part.get_payload()
            for item in inner if isinstance(inner, list) else [inner]:
                if hasattr(item, "get"):
                    note(item.get("Message-ID"))
        elif kind == "message/delivery-status":
            blocks: Any = part.get_payload()
            for block in blocks if isinstance(blocks, list) else []:
                for key in ("Diagnostic-Code", "Status", "Action"):
                    if not reason and block.get(key):
                        reason = f"{key}: {_one_line(str(block.get(key)))}"
        elif kind in ("text/rfc822-headers", "text/plain"):
            text: Any = part.get_payload(decode=True)
            if isinstance(text, bytes):
                for mid in _MESSAGE_ID_LINE.findall(text.decode("utf-8", "replace")):
                    note(mid)
    recipients = tuple(
        parseaddr(str(value))[1]
        for name in _RECIPIENT_HEADERS
        for value in bounce.get_all(name) or []
        if parseaddr(str(value))[1]
    )
    reason = reason or _one_line(str(bounce.get("Subject") or "bounced"))
    return BounceFacts(tuple(ids), recipients, reason[:2000])
