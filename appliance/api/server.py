"""The HTTP listeners: TCP for CRMs and scrapers, a Unix socket for the console and local tools."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from aiohttp import web

from appliance.api.auth import AUTH_GUARD, AuthGuard
from appliance.api.context import SERVICES, Services
from appliance.api.registry import API
from appliance.api.spec import MAX_BODY, problems_middleware
from appliance.config.models import ApiSettings

log = logging.getLogger(__name__)


def create_app(services: Services) -> web.Application:
    """The whole API: every operation declared in the route modules, problem+json errors."""
    # Importing the route modules declares their operations on the registry.
    from appliance.api import agents, campaigns, contacts, dnc, lines, setup, system  # noqa: F401

    app = web.Application(middlewares=[problems_middleware], client_max_size=MAX_BODY)
    app[SERVICES] = services
    app[AUTH_GUARD] = AuthGuard()
    API.install(app)
    return app


class HttpServer:
    """Serves one application on the configured TCP address and, if set, a Unix socket."""

    def __init__(self, app: web.Application, settings: ApiSettings) -> None:
        self.app = app
        self.settings = settings
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    async def start(self) -> None:
        runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await runner.setup()
        self._runner = runner
        site = web.TCPSite(runner, self.settings.listen, self.settings.port, reuse_address=True)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else self.settings.port
        log.info("API listening on %s:%s", self.settings.listen, self.port)
        if self.settings.socket is not None:
            path = Path(self.settings.socket)
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.is_socket():
                path.unlink()  # left by a crash; nothing listens on it any more
            await web.UnixSite(runner, str(path)).start()
            # The console and local tools reach the daemon through file permissions (group dialbox).
            os.chmod(path, 0o660)
            log.info("API listening on unix:%s", path)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def openapi_document() -> dict[str, object]:
    """The OpenAPI document the daemon serves at /openapi.json (docs/openapi.json is a copy)."""
    from appliance.api import agents, campaigns, contacts, dnc, lines, setup, system  # noqa: F401

    return API.document()


if __name__ == "__main__":  # python -m appliance.api.server > docs/openapi.json
    import json
    import sys

    json.dump(openapi_document(), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
