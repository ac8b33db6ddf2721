"""The HTTP listeners: TCP for CRMs and scrapers, a Unix socket for the console and local tools."""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
import ssl
from pathlib import Path

from aiohttp import web

from appliance.api.auth import AUTH_GUARD, AuthGuard
from appliance.api.context import SERVICES, Services
from appliance.api.registry import API
from appliance.api.spec import MAX_BODY, problems_middleware
from appliance.config.models import ApiSettings, TlsSettings
from appliance.errors import DialboxError

log = logging.getLogger(__name__)


def create_app(services: Services) -> web.Application:
    """The whole API: every operation declared in the route modules, problem+json errors."""
    # Importing the route modules declares their operations on the registry.
    import appliance.api.boxes  # several boxes on one store, #27
    import appliance.api.email  # the e-mail channel's unsubscribe link and bounces, #26
    import appliance.api.inbound  # missed calls, #23
    import appliance.api.monitor  # listen, whisper, barge-in, #25
    import appliance.api.prompts  # prompts from files and text, #24
    import appliance.api.recordings  # call recordings, #24
    import appliance.api.schedules  # scheduled actions, #22
    import appliance.api.supervision  # noqa: F401  (event streams, messages, login codes, #25)
    from appliance.api import agents, campaigns, contacts, dnc, lines, reports, setup, system  # noqa: F401

    app = web.Application(middlewares=[problems_middleware], client_max_size=MAX_BODY)
    app[SERVICES] = services
    app[AUTH_GUARD] = AuthGuard()
    API.install(app)
    # The agent desktop and the supervisor's page (#25): static, outside the API's document.
    from appliance import web as pages

    pages.install(app)
    return app


# The socket's mode comes from the umask at bind(): rw for the daemon and group dialbox, nothing
# for others (0660), with no moment at which it is wider (a chmod after listening leaves one).
SOCKET_UMASK = 0o117


def tls_context(tls: TlsSettings) -> ssl.SSLContext:
    """A server context of TLS 1.2 or newer holding the configured certificate and key."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    _load_certificate(context, tls)
    return context


def _load_certificate(context: ssl.SSLContext, tls: TlsSettings) -> None:
    try:
        context.load_cert_chain(str(tls.cert), str(tls.key))
    except (OSError, ssl.SSLError) as exc:
        raise DialboxError(
            f"api.tls: cannot load the certificate {tls.cert} with the key {tls.key}: "
            f"{getattr(exc, 'strerror', None) or exc}"
        ) from None


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class HttpServer:
    """Serves one application on the configured TCP address and, if set, a Unix socket."""

    def __init__(self, app: web.Application, settings: ApiSettings) -> None:
        self.app = app
        self.settings = settings
        self._runner: web.AppRunner | None = None
        self.port: int | None = None
        # Loaded now, so a missing or bad certificate stops the start with its name.
        self.tls = tls_context(settings.tls) if settings.tls.enabled else None

    async def start(self) -> None:
        runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await runner.setup()
        self._runner = runner
        site = web.TCPSite(
            runner,
            self.settings.listen,
            self.settings.port,
            reuse_address=True,
            ssl_context=self.tls,
        )
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else self.settings.port
        scheme = "https" if self.tls is not None else "http"
        log.info("API listening on %s://%s:%s", scheme, self.settings.listen, self.port)
        if self.tls is None and not _loopback(self.settings.listen):
            log.warning(
                "API: plain HTTP on %s: bearer tokens cross the network readable; set api.tls "
                "(docs/operations.md, 'HTTPS')",
                self.settings.listen,
            )
        if self.settings.socket is not None:
            path = Path(self.settings.socket)
            path.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
            if path.is_socket():
                path.unlink()  # left by a crash; nothing listens on it any more
            # The console and local tools reach the daemon through file permissions (group dialbox).
            await web.SockSite(runner, _bind_unix(path)).start()
            log.info("API listening on unix:%s", path)

    def reload(self, settings: ApiSettings) -> None:
        """SIGHUP: read the certificate and key again (a renewed certificate needs no restart).
        A file that does not load is refused and the running certificate kept. The listen
        address, the port, the socket and switching TLS on or off need a restart."""
        if settings.tls.enabled != (self.tls is not None):
            log.warning("API: switching TLS on or off takes effect at the next restart")
        elif self.tls is not None and settings.tls.enabled:
            try:
                tls_context(settings.tls)  # all of it loads, or the live context is not touched
                _load_certificate(self.tls, settings.tls)
            except DialboxError as exc:
                log.error("%s; keeping the certificate in use", exc)
            else:
                log.info("API: TLS certificate loaded from %s", settings.tls.cert)
        if (settings.listen, settings.port, settings.socket) != (
            self.settings.listen,
            self.settings.port,
            self.settings.socket,
        ):
            log.warning(
                "API: a new listen address, port or socket takes effect at the next restart"
            )

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def _bind_unix(path: Path) -> socket.socket:
    """A Unix socket bound at `path` with mode 0660 from its creation (umask at bind)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(SOCKET_UMASK)
    try:
        sock.bind(str(path))
    except BaseException:
        sock.close()
        raise
    finally:
        os.umask(old)
    return sock


def openapi_document() -> dict[str, object]:
    """The OpenAPI document the daemon serves at /openapi.json (docs/openapi.json is a copy)."""
    import appliance.api.boxes  # several boxes on one store, #27
    import appliance.api.email  # the e-mail channel, #26
    import appliance.api.inbound  # missed calls, #23
    import appliance.api.monitor  # listen, whisper, barge-in, #25
    import appliance.api.prompts  # prompts from files and text, #24
    import appliance.api.recordings  # call recordings, #24
    import appliance.api.schedules  # scheduled actions, #22
    import appliance.api.supervision  # noqa: F401  (event streams, messages, login codes, #25)
    from appliance.api import agents, campaigns, contacts, dnc, lines, reports, setup, system  # noqa: F401

    return API.document()


if __name__ == "__main__":  # python -m appliance.api.server > docs/openapi.json
    import json
    import sys

    json.dump(openapi_document(), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
