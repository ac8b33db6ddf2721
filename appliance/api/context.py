"""What the API's handlers reach: the store, the clock, the running engine, metrics, the log."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from appliance.api.logbuffer import LogBuffer
from appliance.api.problems import Problem
from appliance.clock import Clock
from appliance.config import DialboxConfig
from appliance.metrics import Metrics
from appliance.store.db import Database
from appliance.store.memo import Memo


class ImportSlots:
    """How many file imports the daemon runs at once (`running`), and how many more wait for a
    turn (`waiting`); beyond that an upload is refused with 503 and Retry-After. Each import
    reads the file in a worker process and publishes it in short transactions, so two at a
    time keep both cores busy while the dial loop still gets the write lock between chunks."""

    RETRY_AFTER = 5  # seconds: about what a 100k-row import takes

    def __init__(self, running: int = 2, waiting: int = 4, doing: str = "importing") -> None:
        self.running = running
        self.waiting = waiting
        self.doing = doing  # what the 503 says the box is busy with
        self._busy = 0
        self._queued = 0
        self._cond: asyncio.Condition | None = None

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if self._cond is None:
            self._cond = asyncio.Condition()
        cond = self._cond
        async with cond:
            if self._busy >= self.running:
                if self._queued >= self.waiting:
                    raise Problem(
                        503,
                        f"the box is {self.doing} {self._busy} files and {self._queued} more wait; "
                        f"send this one again after {self.RETRY_AFTER} s",
                        headers={"Retry-After": str(self.RETRY_AFTER)},
                    )
                self._queued += 1
                try:
                    await cond.wait_for(lambda: self._busy < self.running)
                finally:
                    self._queued -= 1
            self._busy += 1
        try:
            yield
        finally:
            async with cond:
                self._busy -= 1
                cond.notify()


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
    reload: Callable[[], Awaitable[None] | None] | None = None  # what SIGHUP does; await it
    imports: ImportSlots = field(default_factory=ImportSlots)  # file imports at once
    # appliance.audio.prompts.Prompts the engine plays from; None: the API makes one from the
    # config (prompts.directory) at its first use
    prompts: Any = None
    # appliance.store.figures.Figures: the scanned figures /status and /metrics share (#28);
    # None: the API makes one at its first use (`figures_of`)
    figures: Any = None
    conversions: ImportSlots = field(  # prompt uploads converted at once (CPU: two cores)
        default_factory=lambda: ImportSlots(2, 8, "converting")
    )
    # reads the live views repeat, kept until the database changes (store/memo.py, #28)
    memo: Memo = field(init=False)

    def __post_init__(self) -> None:
        self.memo = Memo(self.db)


SERVICES: web.AppKey[Services] = web.AppKey("services", Services)


def figures_of(svc: Services) -> Any:
    """The services' `Figures` (appliance.store.figures), made at the first use."""
    if svc.figures is None:
        from appliance.store.figures import Figures

        svc.figures = Figures.for_file(svc.db)
    return svc.figures
