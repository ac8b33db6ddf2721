"""The daemon component that serves the API and /metrics for as long as the daemon runs."""

from __future__ import annotations

import asyncio
import contextlib

from appliance.api.auth import AUTH_GUARD
from appliance.api.context import Services
from appliance.api.server import HttpServer, create_app
from appliance.config import DialboxConfig

AUDIT_FLUSH_SECONDS = 60.0  # how often the summary of suppressed auth.failed entries is due


class HttpComponent:
    name = "http"

    def __init__(self, config: DialboxConfig, services: Services) -> None:
        self.services = services
        self.server = HttpServer(create_app(services), config.api)
        self.ready = asyncio.Event()

    async def run(self, stopping: asyncio.Event) -> None:
        await self.server.start()
        self.ready.set()
        guard = self.server.app[AUTH_GUARD]
        try:
            while not stopping.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), timeout=AUDIT_FLUSH_SECONDS)
                # A minute of failures that ended quietly still gets its summary entry.
                guard.flush(self.services.db, self.services.clock.now())
        finally:
            await self.server.stop()
            guard.flush(self.services.db, self.services.clock.now(), final=True)

    def reload(self, config: DialboxConfig) -> None:
        """The TLS certificate is read again; listen addresses change only with a restart."""
        self.server.reload(config.api)
