"""The daemon component that serves the API and /metrics for as long as the daemon runs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from appliance.api.server import HttpServer, create_app
from appliance.config import DialboxConfig
from appliance.metrics import Metrics


class HttpComponent:
    name = "http"

    def __init__(
        self, config: DialboxConfig, metrics: Metrics, health: Callable[[], dict[str, Any]]
    ) -> None:
        self.server = HttpServer(create_app(metrics, health), config.api)
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
