"""The daemon component that watches the hot folder (SPEC D3) on its own database connection."""

from __future__ import annotations

import asyncio
import logging

from appliance.clock import Clock
from appliance.config import DialboxConfig
from appliance.importing.headers import config_map
from appliance.importing.hotfolder import FileResult, HotFolder
from appliance.importing.timed import TimedImport
from appliance.scheduler.timing import parse_daily_times
from appliance.store import open_database

log = logging.getLogger(__name__)


class HotFolderComponent:
    name = "hot-folder"

    def __init__(self, config: DialboxConfig, clock: Clock) -> None:
        assert config.import_.hot_folder is not None
        self.config = config
        self.clock = clock
        self.ready = asyncio.Event()

    async def run(self, stopping: asyncio.Event) -> None:
        settings = self.config.import_
        assert settings.hot_folder is not None
        # Its own connection: a long import runs in a thread and must not hold the dialer's.
        db = open_database(self.config.store_url())
        timed = None
        if settings.schedule is not None:
            times = parse_daily_times(list(settings.schedule), self.config.timezone)
            name = f"hot-folder:{settings.hot_folder}"
            timed = TimedImport(db, name, times, self.config.timezone, self.clock)
        folder = HotFolder(
            db, settings.hot_folder, clock=self.clock, mappings=settings.mappings,
            column_map=config_map(settings.map),
            settle_seconds=settings.settle_seconds, actor="hot-folder", staged=True,
            schedule=timed,
        )  # fmt: skip
        self.ready.set()
        try:
            await folder.run(self._log, stop=stopping)
        finally:
            folder.close()
            db.close()

    @staticmethod
    def _log(result: FileResult) -> None:
        if result.ok:
            log.info("hot folder: %s", result.message)
        else:
            log.error("hot folder: %s", result.message)

    def reload(self, config: DialboxConfig) -> None:
        """Mappings take effect at the next file; moving the folder or a new `import.schedule`
        needs a restart."""
        self.config = config.model_copy(
            update={
                "import_": config.import_.model_copy(
                    update={"hot_folder": self.config.import_.hot_folder}
                )
            }
        )
