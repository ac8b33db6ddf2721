"""Bounces read from a real IMAP mailbox (#26): Debian's Dovecot, started by the test in a
temporary directory on a loopback port and torn down after; the box reads the unseen messages,
fails the attempts they name (by the returned Message-ID, or the VERP address they came to),
and marks them seen. Skipped where Dovecot is not installed (package dovecot-imapd)."""

from __future__ import annotations

import imaplib
import json
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from appliance.config.models import ImapBounces
from appliance.domain import ContactState, Outcome
from tests.drivers.drivers_fakes import run
from tests.engine.test_email import Rig, _message, free_port
from tests.engine.test_email import relay as relay  # the fixture: a real SMTP server
from tests.scheduler.dbfixtures import add_contact

DOVECOT = shutil.which("dovecot") or (
    "/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None
)
pytestmark = pytest.mark.skipif(DOVECOT is None, reason="dovecot is not installed (dovecot-imapd)")
PASSWORD = "b0unce"


class Mailbox:
    def __init__(self, port: int) -> None:
        self.port = port

    def client(self) -> imaplib.IMAP4:
        client = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        client.login("bounces", PASSWORD)
        client.select("INBOX")
        return client

    def append(self, message: bytes) -> None:
        client = self.client()
        try:
            assert client.append("INBOX", None, None, message)[0] == "OK"
        finally:
            client.logout()

    def unseen(self) -> int:
        client = self.client()
        try:
            _, found = client.search(None, "UNSEEN")
            return len(found[0].split())
        finally:
            client.logout()


@pytest.fixture()
def mailbox() -> Iterator[Mailbox]:
    assert DOVECOT is not None
    base = Path(tempfile.mkdtemp(prefix="dialbox-dovecot-"))
    base.chmod(0o755)
    if os.geteuid() == 0:  # the mail process runs as nobody; Dovecot's own users for the rest
        internal, login, owner = "dovecot", "dovenull", pwd.getpwnam("nobody")
    else:
        me = pwd.getpwuid(os.geteuid())
        internal, login, owner = me.pw_name, me.pw_name, me
    home = base / "home"
    home.mkdir()
    os.chown(home, owner.pw_uid, owner.pw_gid)
    (base / "passwd").write_text(f"bounces:{{PLAIN}}{PASSWORD}\n")
    port = free_port()
    (base / "dovecot.conf").write_text(f"""\
protocols = imap
listen = 127.0.0.1
base_dir = {base}/run
state_dir = {base}/state
log_path = {base}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
default_internal_user = {internal}
default_login_user = {login}
first_valid_uid = {owner.pw_uid}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {base}/passwd
}}
userdb {{
  driver = static
  args = uid={owner.pw_uid} gid={owner.pw_gid} home={home}/%u
}}
mail_location = maildir:~/Maildir
service imap-login {{
  chroot =
  inet_listener imap {{
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
""")
    proc = subprocess.Popen([DOVECOT, "-F", "-c", str(base / "dovecot.conf")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while True:  # ready once it accepts connections
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log = (
                        (base / "dovecot.log").read_text()
                        if (base / "dovecot.log").exists()
                        else ""
                    )
                    pytest.fail(
                        f"dovecot did not start: {proc.stderr.read() if proc.stderr else ''} {log}"
                    )
                time.sleep(0.05)
        yield Mailbox(port)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        shutil.rmtree(base, ignore_errors=True)


def dsn(original: bytes, to: str, diagnostic: str) -> bytes:
    """A delivery status notification as an MTA writes it (RFC 3464, multipart/report): the
    returned message's headers attached as text/rfc822-headers."""
    headers = original.split(b"\r\n\r\n", 1)[0].decode()
    return (
        "From: MAILER-DAEMON@mx.example.org\r\n"
        f"To: {to}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <dsn.1@mx.example.org>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n'
        "\r\n--B\r\nContent-Type: text/plain\r\n\r\n"
        "This is the mail system. Your message could not be delivered.\r\n"
        "\r\n--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.org\r\n\r\n"
        "Final-Recipient: rfc822; ann.kowalska@example.org\r\nAction: failed\r\n"
        f"Status: 5.1.1\r\nDiagnostic-Code: smtp; {diagnostic}\r\n"
        "\r\n--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"{headers}\r\n"
        "\r\n--B--\r\n"
    ).encode()


def _with_imap(rig: Rig, port: int, password_file: Path) -> None:
    assert rig.config.email is not None
    imap = {"host": "127.0.0.1", "port": port, "security": "none", "user": "bounces",
            "password_file": password_file, "poll": 60}  # fmt: skip
    email = rig.config.email.model_copy(update={"imap": ImapBounces.model_validate(imap)})
    rig.engine.reload(rig.config.model_copy(update={"email": email}))


def test_bounces_in_the_mailbox_fail_their_attempts_and_are_marked_seen(
    tmp_path: Path, relay: Any, mailbox: Mailbox
) -> None:
    handler, port = relay
    rig = Rig(tmp_path, relay_port=port, bounce_address="bounces@shop.example")
    wrong, right = tmp_path / "wrong.secret", tmp_path / "right.secret"
    wrong.write_text("guess\n")
    right.write_text(PASSWORD + "\n")
    second = add_contact(rig.db, rig.campaign, ["+12125550102"])
    rig.db.conn.execute("UPDATE contacts SET bp1 = 'Ben', bp2 = 'ben@example.org' WHERE id = ?",
                        (second,))  # fmt: skip

    async def send_both() -> None:
        await rig.busy_call()
        await rig.busy_call()
        await rig.mail()

    run(send_both())
    # (envelope sender: the VERP address, recipients, message), by recipient: Ann, then Ben
    (ann, _, ann_raw), (ben, _, _) = sorted(handler.received, key=lambda r: r[1][0])
    # Ann's bounce returns her message's headers; Ben's names only the VERP address it came to.
    mailbox.append(dsn(ann_raw, ann, "550 5.1.1 <ann.kowalska@example.org>: mailbox unknown"))
    plain = EmailMessage()
    plain["From"], plain["To"], plain["Subject"] = "MAILER-DAEMON@mx.example.org", ben, "failure"
    plain.set_content("Delivery to ben@example.org failed permanently.")
    mailbox.append(plain.as_bytes())
    other = EmailMessage()
    other["From"], other["To"], other["Subject"] = "boss@shop.example", "bounces@shop.example", "hi"
    other.set_content("Message-ID: <not-ours@example.org> is quoted here")
    mailbox.append(other.as_bytes())

    _with_imap(rig, mailbox.port, wrong)

    async def read() -> None:
        rig.mailer.tick()
        await rig.mailer.settle()

    run(read())  # a refused login: nothing read, nothing changed, all left unseen
    assert mailbox.unseen() == 3
    assert [a["outcome"] for a in rig.attempts()[2:]] == [int(Outcome.EMAIL_SENT)] * 2

    _with_imap(rig, mailbox.port, right)
    rig.clock.advance(60)
    run(read())
    assert mailbox.unseen() == 0
    by_address = {
        row[0]: json.loads(row[1])
        for row in rig.db.conn.execute(
            "SELECT s.address, a.evidence FROM attempts a JOIN email_sends s"
            " ON s.attempt_id = a.id WHERE a.outcome = ?", (int(Outcome.EMAIL_BOUNCED),)
        )
    }  # fmt: skip
    assert set(by_address) == {"ann.kowalska@example.org", "ben@example.org"}
    assert (
        "bounce: Diagnostic-Code: smtp; 550 5.1.1 <ann.kowalska@example.org>: mailbox unknown"
        in (by_address["ann.kowalska@example.org"])
    )
    assert "bounce: failure" in by_address["ben@example.org"]
    assert rig.state() == ContactState.RETRIES_COMPLETED
    assert _message(ann_raw)["Message-ID"]  # (the one the DSN returned)

    # Read again after the poll: nothing new, nothing recorded twice.
    rig.clock.advance(60)
    run(read())
    assert (
        rig.db.conn.execute(
            "SELECT count(*) FROM outbox WHERE payload LIKE '%EmailBounced%'"
        ).fetchone()[0]
        == 2
    )
