"""The e-mail channel in the real daemon (#26): a campaign made over the API sends its
e-mail step through a real SMTP server the test starts (aiosmtpd), the result is in the feed,
and the message's one-click unsubscribe link works against the daemon's own API."""

from __future__ import annotations

import re
import signal
import urllib.request
from pathlib import Path

from aiosmtpd.controller import Controller

from tests.api.client import Api, make_token
from tests.daemon.process import ALWAYS_CALLABLE, DaemonProcess, free_port
from tests.engine.test_email import Relay, _message


def test_the_daemon_sends_the_email_step_and_its_link_unsubscribes(tmp_path: Path) -> None:
    handler = Relay()
    relay = Controller(handler, hostname="127.0.0.1", port=free_port())
    relay.start()
    daemon = DaemonProcess(tmp_path)
    daemon.config.write_text(
        daemon.config.read_text()
        + ALWAYS_CALLABLE
        + "engine:\n  tick: 0.1\n"
        + "email:\n"
        + f"  relay: {{host: 127.0.0.1, port: {relay.port}, security: none}}\n"
        + "  from: 'Shop <shop@shop.example>'\n"
        + f"  public_url: http://127.0.0.1:{daemon.port}\n"
        + "  templates:\n    hello: {subject: 'Hello $bp1', text: 'Dear $bp1, see $unsubscribe_url'}\n"
    )
    token = make_token(tmp_path / "state" / "dialbox.db", "crm", "crm")
    try:
        daemon.start()
        daemon.expect("READY")
        api = Api(f"http://127.0.0.1:{daemon.port}", token)
        made = api.post("/campaigns", {"name": "mail", "type": "automated", "region": "US",
                                       "settings": {"email_field": "bp2",
                                                    "email_template": "hello"}})  # fmt: skip
        assert made.status == 201, made
        strategy = {"name": "mail-only", "attempts": [{"channel": "email"}], "on": {}}
        assert api.request("PUT", "/campaigns/mail/strategy", strategy).status == 200
        csv = b"(212) 555-1000,,,,,Ann,ann@example.org\n(212) 555-1001,,,,,Ben,not-an-address\n"
        up = api.post("/campaigns/mail/contacts/upload", raw=csv, content_type="text/csv")
        assert up.status in (200, 201), up
        assert api.post("/campaigns/mail/start").status == 200

        def done() -> bool:
            items = api.get("/results?campaign=mail").json()["items"]
            return len(items) == 2

        api.wait_until(done, 60, "both contacts' e-mail attempts")
        items = api.get("/results?campaign=mail").json()["items"]
        assert sorted(i["outcome"] for i in items) == ["EmailSent", "EmailSkipped"]
        assert {i["channel"] for i in items} == {"email"}
        ((_, rcpts, raw),) = handler.received
        assert rcpts == ["ann@example.org"]
        msg = _message(raw)
        assert msg["Subject"] == "Hello Ann"
        link = re.search(r"<(http://[^>]+)>", msg["List-Unsubscribe"])
        assert link is not None
        request = urllib.request.Request(
            link.group(1), data=b"List-Unsubscribe=One-Click", method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 200
            assert b'"added": true' in answer.read()
        assert daemon.proc is not None
        daemon.proc.send_signal(signal.SIGTERM)
        assert daemon.proc.wait(30) == 0
    finally:
        daemon.stop()
        relay.stop()
