"""A strategy that names a terminal outcome (Connected, WrongNumber, Fax, Banned…) with another
action is stored as given, and the API says so in `warnings` (#17); `default` alone warns of nothing."""

from __future__ import annotations

from pathlib import Path

from tests.api.client import Api, make_token
from tests.daemon.process import DaemonProcess


def test_put_and_get_strategy_warn_about_terminal_outcomes_they_change(
    daemon: DaemonProcess, tmp_path: Path
) -> None:
    token = make_token(tmp_path / "state" / "dialbox.db", "crm", "crm")
    daemon.start()
    daemon.expect("READY")
    api = Api(f"http://127.0.0.1:{daemon.port}", token)
    assert api.post("/campaigns", {"name": "spring", "type": "automated"}).status == 201

    patient = api.request(
        "PUT", "/campaigns/spring/strategy", {"name": "p", "on": {"default": "retry 2h"}}
    )
    assert patient.status == 200, patient
    assert patient.json()["warnings"] == []
    assert patient.json()["on"] == {"default": "retry 2h"}

    stubborn = {"name": "s", "on": {"Connected": "retry 1d", "Fax": "retry 2h"}}
    reply = api.request("PUT", "/campaigns/spring/strategy", stubborn)
    assert reply.status == 200, reply
    warnings = reply.json()["warnings"]
    assert len(warnings) == 2 and "on.Connected" in warnings[0] and "on.Fax" in warnings[1]
    assert api.get("/campaigns/spring/strategy").json()["warnings"] == warnings
