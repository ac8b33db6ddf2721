"""The e-mail relay over TLS with a login (#26): STARTTLS and SMTPS to a real aiosmtpd server
with a certificate the test makes (checked against `ca_file`), the password from a file; a
refused login is the box's trouble — retried, never the contact's failure."""

from __future__ import annotations

import json
import ssl
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from appliance.domain import ContactState
from tests.daemon.test_tls import OPENSSL, self_signed
from tests.drivers.drivers_fakes import run
from tests.engine.test_email import ADDRESS, Relay, Rig, free_port

pytestmark = pytest.mark.skipif(OPENSSL is None, reason="openssl is not installed")


class TlsRelay(Relay):
    def __init__(self) -> None:
        super().__init__()
        self.tls_seen: list[bool] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.tls_seen.append(server.transport.get_extra_info("ssl_object") is not None)
        return await super().handle_DATA(server, session, envelope)


def _login(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"box", b"s3cret")
    return AuthResult(success=ok, handled=False)  # refused: aiosmtpd answers 535


def _rig(tmp: Path, port: int, security: str, ca: Path, password: str) -> Rig:
    tmp.mkdir(parents=True, exist_ok=True)
    secret = tmp / "smtp.secret"
    secret.write_text(password + "\n")
    rig = Rig(tmp, relay_port=port)
    relay = rig.config.email.relay.model_copy(  # type: ignore[union-attr]
        update={"security": security, "user": "box", "password_file": secret, "ca_file": ca}
    )
    email = rig.config.email.model_copy(update={"relay": relay})  # type: ignore[union-attr]
    rig.engine.reload(rig.config.model_copy(update={"email": email}))
    return rig


def _server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    return context


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # the smtps server
@pytest.mark.parametrize("security", ["starttls", "smtps"])
def test_a_message_goes_out_over_tls_after_a_login_and_a_wrong_password_is_retried(
    tmp_path: Path, security: str
) -> None:
    cert, key = self_signed(tmp_path)
    handler = TlsRelay()
    options: dict[str, Any] = {"authenticator": _login, "auth_required": True}
    if security == "starttls":
        options |= {"tls_context": _server_context(cert, key), "require_starttls": True}
    else:
        # (aiosmtpd knows only STARTTLS as TLS for AUTH; this connection is TLS from the start)
        options |= {"ssl_context": _server_context(cert, key), "auth_require_tls": False}
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), **options)
    controller.start()
    try:
        wrong = _rig(tmp_path / "wrong", controller.port, security, cert, "guess")

        async def refused() -> None:
            await wrong.busy_call()
            await wrong.mail()

        run(refused())
        assert handler.received == []
        ((state, tries, reply, _),) = wrong.send_state()
        assert (state, tries) == ("queued", 1) and "refused the login of 'box'" in reply
        assert "535" in reply and wrong.attempts()[1]["status"] == "in_flight"

        rig = _rig(tmp_path / "right", controller.port, security, cert, "s3cret")

        async def main() -> None:
            await rig.busy_call()
            await rig.mail()

        run(main())
    finally:
        controller.stop()
    ((_, rcpts, _),) = handler.received
    assert rcpts == [ADDRESS] and handler.tls_seen == [True]
    assert rig.state() == ContactState.EMAIL_SENT
    assert "smtp 250 2.0.0 queued as 4711" in json.loads(rig.attempts()[1]["evidence"])


def test_a_relay_whose_certificate_is_not_trusted_is_not_sent_to(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    other, _ = self_signed(tmp_path, "other")  # the CA the box trusts is another one
    handler = TlsRelay()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(),
                            tls_context=_server_context(cert, key), require_starttls=True,
                            authenticator=_login, auth_required=True)  # fmt: skip
    controller.start()
    try:
        rig = _rig(tmp_path / "r", controller.port, "starttls", other, "s3cret")

        async def main() -> None:
            await rig.busy_call()
            await rig.mail()

        run(main())
    finally:
        controller.stop()
    assert handler.received == []
    ((state, _, reply, _),) = rig.send_state()
    assert state == "queued" and "certificate" in reply.lower()
