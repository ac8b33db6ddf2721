"""The agents' seats (SPEC A1): each opened with back-off until it answers, up or down as its
events say, and its events (up, handset lifted or put down) passed to the desk."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping

from appliance.drivers.line import LineDown, LineError, LineEvent, LineUp, Seat

log = logging.getLogger(__name__)

SeatListener = Callable[[str, LineEvent], None]


class SeatBank:
    def __init__(self, seats: Mapping[str, Seat], listener: SeatListener) -> None:
        self.seats: dict[str, Seat] = dict(seats)
        self.up: dict[str, bool] = dict.fromkeys(self.seats, False)
        self._listener = listener
        self._openers: list[asyncio.Task[None]] = []
        for name, seat in self.seats.items():
            seat.subscribe(self._on_event(name))

    def start(self, stopping: asyncio.Event) -> None:
        """Open every seat, each retrying with back-off until it opens or the box stops."""
        self._openers = [
            asyncio.create_task(self._open(name, seat, stopping))
            for name, seat in self.seats.items()
        ]

    async def stop(self) -> None:
        for task in self._openers:
            task.cancel()
        await asyncio.gather(*self._openers, return_exceptions=True)
        self._openers = []
        for seat in self.seats.values():
            with contextlib.suppress(LineError, OSError):
                await seat.close()

    async def _open(self, name: str, seat: Seat, stopping: asyncio.Event) -> None:
        delay = 1.0
        while not stopping.is_set():
            try:
                await seat.open()
                self.up[name] = seat.health().up
                return
            except (LineError, OSError) as exc:
                log.warning("seat %s cannot be opened: %s; retrying in %.0f s", name, exc, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=delay)
            delay = min(delay * 2, 60.0)

    def _on_event(self, name: str) -> Callable[[LineEvent], None]:
        def on_event(event: LineEvent) -> None:
            if isinstance(event, LineUp):
                self.up[name] = True
            elif isinstance(event, LineDown):
                self.up[name] = False
                log.warning("seat %s down: %s", name, event.reason)
                return
            self._listener(name, event)

        return on_event
