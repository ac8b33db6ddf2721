"""The lines the daemon drives: opened at start with back-off, watched, and lent to calls one at a time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from appliance.clock import Clock
from appliance.config import DialboxConfig
from appliance.config.models import LineConfig
from appliance.drivers.line import Line, LineDown, LineError, LineEvent, LineUp
from appliance.metrics import LineSample, Metrics
from appliance.store.db import Database
from appliance.store.lines import forget_other_lines, record_line

log = logging.getLogger(__name__)

# What a modem's registration says when it cannot place a call (drivers/gsm/status.py REG_TEXT).
OFF_NETWORK = frozenset({"not registered", "searching", "denied", "emergency only"})

LineFactory = Callable[[LineConfig], Line]


@dataclass
class Slot:
    """One configured line and what the engine needs to know about it."""

    config: LineConfig
    line: Line
    up: bool = False
    busy: bool = False  # carries a call (made or answered) or an SMS
    ringing: bool = False  # a call rings in (SPEC C14): never dialed meanwhile
    campaign: str | None = None  # the campaign of the call it carries
    since: float | None = None  # when that call (or a technician's test) began
    disabled: bool = False  # taken out of service by a technician, until enabled again
    last_error: str | None = None
    was_down: bool = False
    opened: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def name(self) -> str:
        return self.config.name

    def serves(self, campaign: str) -> bool:
        """A pinned line serves only its campaigns (SPEC C7)."""
        return not self.config.campaigns or campaign in self.config.campaigns


class LinePool:
    name = "lines"

    def __init__(
        self,
        config: DialboxConfig,
        factory: LineFactory,
        metrics: Metrics | None = None,
        *,
        backoff: tuple[float, float] = (1.0, 60.0),
        db: Database | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.box = config.box.id  # lines are recorded as this box's (several boxes, #27)
        self.slots = [Slot(c, factory(c)) for c in config.lines if c.enabled]
        self.metrics = metrics
        self.backoff = backoff
        self.ready = asyncio.Event()
        # Set by the engine once its calls have drained; lines close only after that.
        self.release = asyncio.Event()
        for slot in self.slots:
            slot.line.subscribe(self._listener(slot))
        if db is not None:
            forget_other_lines(db, [s.name for s in self.slots], self.box)
            for slot in self.slots:
                self._record(slot)

    def _record(self, slot: Slot) -> None:
        """Keep the lines table true, so `why` and the console can tell "no line up" (C12)."""
        if self.db is None or self.clock is None:
            return
        health = slot.line.health()
        info = {"signal_dbm": health.signal_dbm, "operator": health.operator, "sim": health.sim,
                "registration": health.registration, "last_error": slot.last_error}  # fmt: skip
        record_line(self.db, slot.name, slot.config.kind, slot.config.device, enabled=not slot.disabled,
                    up=slot.up, info=info, now=self.clock.now(), box=self.box)  # fmt: skip

    def _listener(self, slot: Slot) -> Callable[[LineEvent], None]:
        def on_event(event: LineEvent) -> None:
            if isinstance(event, LineDown):
                slot.up = False
                slot.was_down = True
                slot.last_error = event.reason
                log.warning("line %s down: %s", slot.name, event.reason)
                self._record(slot)
                if self.metrics is not None:
                    self.metrics.driver_errors.labels(slot.name, slot.config.kind).inc()
            elif isinstance(event, LineUp):
                slot.up = True
                if slot.was_down and self.metrics is not None:
                    self.metrics.reconnects.labels(slot.name, slot.config.kind).inc()
                slot.was_down = False
                log.info("line %s up", slot.name)
                self._record(slot)

        return on_event

    async def run(self, stopping: asyncio.Event) -> None:
        openers = [
            asyncio.create_task(self._open(slot, stopping), name=f"open {slot.name}")
            for slot in self.slots
        ]
        # Ready once every line has been tried once: a missing modem must not keep the box down.
        await asyncio.gather(*(s.opened.wait() for s in self.slots))
        self.ready.set()
        await stopping.wait()
        await self.release.wait()
        for task in openers:
            task.cancel()
        await asyncio.gather(*openers, return_exceptions=True)
        await asyncio.gather(*(self._close(s) for s in self.slots))

    async def _open(self, slot: Slot, stopping: asyncio.Event) -> None:
        delay = self.backoff[0]
        while not stopping.is_set():
            try:
                await slot.line.open()
            except (LineError, OSError) as exc:
                slot.last_error = str(exc)
                self._record(slot)
                slot.opened.set()
                log.warning(
                    "line %s (%s) cannot be opened: %s; retrying in %.0f s",
                    slot.name,
                    slot.config.device,
                    exc,
                    delay,
                )
                if self.metrics is not None:
                    self.metrics.driver_errors.labels(slot.name, slot.config.kind).inc()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), timeout=delay)
                delay = min(delay * 2, self.backoff[1])
                continue
            slot.up = slot.line.health().up
            slot.last_error = None
            self._record(slot)
            slot.opened.set()
            log.info("line %s open (%s)", slot.name, slot.config.device)
            return  # from here the driver reconnects by itself and reports LineUp/LineDown

    async def _close(self, slot: Slot) -> None:
        try:
            await slot.line.close()
        except (LineError, OSError) as exc:
            log.warning("line %s did not close cleanly: %s", slot.name, exc)

    def reload(self, config: DialboxConfig) -> None:
        """Adding or removing lines needs a restart; pins take effect at once (SPEC C9)."""
        by_name = {c.name: c for c in config.lines}
        for slot in self.slots:
            if slot.name in by_name:
                slot.config = by_name[slot.name]

    # ------------------------------------------------------------------ for the engine
    def free(self) -> Iterator[Slot]:
        """Lines that can take a call now: up, idle, no call ringing in, in service, and not known
        to be off the network (a modem searching or denied would only spend attempts on +CME
        ERROR: 30)."""
        return (
            s
            for s in self.slots
            if s.up
            and not s.busy
            and not s.ringing
            and not s.disabled
            and s.line.health().registration not in OFF_NETWORK
        )

    def slot(self, name: str) -> Slot | None:
        return next((s for s in self.slots if s.name == name), None)

    def set_disabled(self, slot: Slot, disabled: bool) -> None:
        slot.disabled = disabled
        self._record(slot)

    def in_service(self) -> dict[str, bool]:
        """Line name -> up and not taken out of service, for every line the pool runs."""
        return {s.name: s.up and not s.disabled for s in self.slots}

    def up_count(self) -> int:
        return sum(1 for s in self.slots if s.up)

    def samples(self) -> list[LineSample]:
        result = []
        for slot in self.slots:
            health = slot.line.health()
            result.append(
                LineSample(
                    slot.name, slot.config.kind, slot.up and health.up, health.signal_dbm, slot.busy
                )
            )
        return result
