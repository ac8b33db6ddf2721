"""Replies and keys through the real daemon: SMS responded, STOP → DNC at once, DTMF kept (C1, C11, C13)."""

from __future__ import annotations

from pathlib import Path

from appliance.cli import main
from tests.daemon.campaign import FAST_CALLS, box

SCRIPT = (
    FAST_CALLS
    + """
[[numbers]]
number = "+12125550100"
outcome = "answer"
ring = 1.0
talk = 20.0
dtmf = "1#"
"""
)


def test_keys_replies_and_opt_out(tmp_path: Path) -> None:
    with box(tmp_path, modems=2, contacts=20, script=SCRIPT) as b:
        cli = ["--config", str(b.daemon.config)]
        create = [
            "campaign",
            "create",
            "s",
            "--type",
            "sms",
            "--region",
            "US",
            "--set",
            "sms_text=Hello",
        ]
        assert main([*cli, *create]) == 0
        assert main([*cli, "import", "--campaign", "s", str(tmp_path / "contacts.csv")]) == 0
        assert main([*cli, "campaign", "start", "s"]) == 0
        b.daemon.start()
        b.daemon.expect("READY")
        b.wait_until(b.settled, what="both campaigns done")

        [(disposition,)] = b.query(
            "SELECT a.disposition FROM attempts a JOIN campaigns c ON c.id = a.campaign_id"
            " WHERE c.name = 'c' AND a.number = '+12125550100'"
        )
        assert disposition == "keys 1#"

        assert b.emulator.control("gsm0 sms-in +12125550101 Thanks, see you") == "ok"
        assert b.emulator.control("gsm1 sms-in +12125550102 STOP") == "ok"
        b.wait_until(
            lambda: b.query("SELECT count(*) FROM dnc WHERE e164 = '+12125550102'") == [(1,)],
            what="the opt-out on the DNC list",
        )
        b.wait_until(
            lambda: b.query(
                "SELECT k.state FROM contacts k JOIN campaigns c ON c.id = k.campaign_id"
                " WHERE c.name = 's' AND k.e164_1 = '+12125550101'"
            ) == [("SMS responded",)],
            what="the reply marking its contact",
        )  # fmt: skip
        assert b.query("SELECT source FROM dnc WHERE e164 = '+12125550102'") == [("sms-reply",)]
