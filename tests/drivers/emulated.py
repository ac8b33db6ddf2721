"""Helpers for end-to-end tests: an emulator farm on real ptys and a driver opened on it."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from appliance.drivers.emulators.gsm.farm import Farm
from appliance.drivers.emulators.gsm.script import parse
from appliance.drivers.gsm.modem import GsmModem
from appliance.drivers.line import Timeouts
from tests.drivers.drivers_fakes import Collector

PROFILES = ["generic", "simcom", "quectel", "huawei"]

# Small real timeouts: the emulator's scripted delays are scaled by TIME_SCALE.
TIME_SCALE = 0.02
TIMEOUTS = Timeouts(
    command=0.5,
    dial=2.0,
    sms=3.0,
    prompt=1.0,
    hang_up=1.0,
    setup=3.0,
    probe=0.2,
    liveness=0.4,
    presumed_setup=0.2,
)

# Line health (SPEC H6): the real defaults (Timeouts(), the drivers' health polls) at one scale,
# so the time a fault takes to bring a line down is that many times the real one.
SCALE = 0.1
HEALTH = Timeouts().scaled(SCALE)
SLACK = 0.5  # real seconds for ptys and the loop on a loaded machine


def down_within(t: Timeouts) -> float:
    """The longest a silent or babbling modem may stay up (SPEC H6: < 10 s): a command in flight
    times out (or an idle line's liveness AT does, sent within `liveness` of the last answer),
    then two more probes fail."""
    return max(t.command, t.liveness + t.probe) + 2 * t.probe


NUMBERS = [
    {"number": "+15550000001", "outcome": "answer", "ring": 3, "talk": 5, "dtmf": "1#"},
    {"number": "+15550000002", "outcome": "busy", "ring": 2},
    {"number": "+15550000003", "outcome": "no-answer"},
    {"number": "+15550000004", "outcome": "reject", "ring": 4},
    {"number": "+15550000005", "outcome": "unreachable"},
    {"number": "+15550000006", "outcome": "invalid"},
    {"number": "+15550000007", "outcome": "congestion"},
    {"number": "+15550000008", "outcome": "no-network"},
    {"number": "+15550000009", "outcome": "answer", "ring": 400, "talk": 400},
    {"number": "+15550000010", "outcome": "answer", "ring": 1, "talk": 400},
]


@contextlib.asynccontextmanager
async def emulated(
    dialect: str = "generic",
    *,
    script: dict[str, Any] | None = None,
    count: int = 1,
    **modem_kw: Any,
) -> AsyncIterator[tuple[Farm, GsmModem, Collector]]:
    data: dict[str, Any] = {"time_scale": TIME_SCALE, "numbers": NUMBERS, "boot_time": 2}
    data.update(script or {})
    with tempfile.TemporaryDirectory(prefix="dialbox-emu-") as tmp:
        farm = Farm(count, Path(tmp), dialect, seed=1, script=parse(data))
        await farm.start(control=False)
        options: dict[str, Any] = {
            "timeouts": TIMEOUTS,
            "poll_interval": 0.05,
            "health_interval": 0.2,
            "backoff": (0.05, 0.2),
            "min_ring_timeout": 0.0,
            "sim_wait": 3.0,
        }
        options.update(modem_kw)
        modem = GsmModem(str(Path(tmp) / "gsm0"), name="gsm0", **options)
        events = Collector()
        modem.subscribe(events)
        try:
            await modem.open()
            yield farm, modem, events
        finally:
            await modem.close()
            await farm.stop()


async def wait_event(events: Collector, kind: type, start: int = 0, timeout: float = 5.0) -> Any:
    """The first event of ``kind`` at or after position ``start``."""
    n = start
    while True:
        items = await events.wait(n + 1, timeout)
        for item in items[n:]:
            if isinstance(item, kind):
                return item
        n = len(items)
