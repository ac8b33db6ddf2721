"""The daemon component that serves the API and /metrics for as long as the daemon runs."""

from __future__ import annotations

import asyncio

from appliance.api.context import Services
from appliance.api.server import HttpServer, create_app
from appliance.config import DialboxConfig


class HttpComponent:
    name = "http"

    def __init__(self, config: DialboxConfig, services: Services) -> None:
        self.server = HttpServer(create_app(services), config.api)
        self.ready = asyncio.Event()

    async def run(self, stopping: asyncio.Event) -> None:
        await self.server.start()
        self.ready.set()
        try:
            await stopping.wait()
        finally:
            await self.server.stop()

    def reload(self, config: DialboxConfig) -> None:
        """Listen addresses change only with a restart; nothing else here depends on config."""
