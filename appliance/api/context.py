"""What the API's handlers reach: the store, the clock, the running engine, metrics, the log."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from appliance.clock import Clock
from appliance.config import DialboxConfig
from appliance.logbuffer import LogBuffer
from appliance.metrics import Metrics
from appliance.store.db import Database


@dataclass
class Services:
    db: Database
    clock: Clock
    config: Callable[[], DialboxConfig]  # the running config (it changes on SIGHUP)
    metrics: Metrics | None = None
    health: Callable[[], dict[str, Any]] | None = None
    engine: Any = None  # appliance.engine.dialer.Engine when the daemon runs one
    desk: Any = None  # appliance.engine.agents.AgentDesk when the daemon runs one
    logs: LogBuffer | None = None
    config_path: Path | None = None  # the config file the daemon runs on (None: built-in)
    reload: Callable[[], None] | None = None  # what SIGHUP does


SERVICES: web.AppKey[Services] = web.AppKey("services", Services)
