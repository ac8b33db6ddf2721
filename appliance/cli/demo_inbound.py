"""The demo's inbound campaign (SPEC C14, #23): `sample-inbound` answers on one emulated modem,
gsm4, with the menu of `appliance/data/demo-flows.yaml` — 1 an agent, 2 a callback, 9 off the
call list — and `DemoCallers` makes that modem ring now and then: a caller from the sample (the
console's queue shows their name), who presses a key, waits or hangs up, as the emulator's
control command says (`gsm4 incoming NUMBER keys=1@2.0 hangup=S`, drivers/emulators/gsm/callers.py).

The demo's agents sit at the line card's handsets, which a GSM line cannot reach: a caller who
presses 1 waits in the queue for `QUEUE_WAIT` seconds, then is offered a callback — a contact
in the agent campaign. Callbacks and opt-outs are real: the callback contacts are dialed by the
agent campaign, an opted-out number is on the global DNC list."""

from __future__ import annotations

import asyncio
import itertools
import logging
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from appliance.cli.demo_agents import AGENT_CAMPAIGN

log = logging.getLogger(__name__)

INBOUND_CAMPAIGN = "sample-inbound"
INBOUND_LINE = "gsm4"
FLOW = "demo-menu"
QUEUE_WAIT = 10  # seconds a caller waits for an agent before the callback is offered
FIRST_CALL = 2.0  # seconds after the daemon is ready
CALL_EVERY = 15.0  # seconds between two callers (a call lasts less)


def flows_file() -> Path:
    return Path(str(resources.files("appliance").joinpath("data/demo-flows.yaml")))


def inbound_settings() -> dict[str, Any]:
    return {
        "answer_lines": [INBOUND_LINE],
        "flow": FLOW,
        "queue_max_wait": QUEUE_WAIT,
        "callback_campaign": AGENT_CAMPAIGN,  # the console's call back of a missed call
    }


@dataclass(frozen=True)
class Caller:
    """One call ringing in: the number ('withheld'), the keys with their seconds after the
    answer, and when the caller hangs up (seconds after the answer) — in real seconds."""

    number: str
    keys: tuple[tuple[str, float], ...]
    hangup: float
    what: str  # for the log

    def command(self, line: str, scale: float) -> str:
        """The emulator's control command; its delays are scaled by the script's time_scale."""
        keys = ",".join(f"{k}@{s / scale:g}" for k, s in self.keys)
        return (f"{line} incoming {self.number}" + (f" keys={keys}" if keys else "")
                + f" hangup={self.hangup / scale:g}")  # fmt: skip


# Three of the sample's people (called by the outbound campaigns early: the box knows them),
# a stranger who opts out, and a withheld caller who gives up in the queue.
CALLERS = (
    Caller("+17734585696", (("2", 3.0),), 30.0, "Sofía Hernandez asks for a callback"),
    Caller("+13038631681", (("1", 3.0),), 40.0, "Patricia Hernandez asks for an agent"),
    Caller("+12025550142", (("9", 3.0), ("1", 5.5)), 30.0, "a stranger opts out"),
    Caller("withheld", (("1", 3.0),), 7.0, "a withheld caller hangs up in the queue"),
    Caller("+17139699833", (), 30.0, "Tomasz Brown presses nothing"),
)


class DemoCallers:
    """Rings the inbound modem with the next caller every CALL_EVERY seconds while the daemon
    runs; a modem still busy with the last call refuses, which is logged and skipped."""

    def __init__(self, daemon: Any, farm: Any, scale: float) -> None:
        self.daemon, self.farm, self.scale = daemon, farm, scale

    async def run(self) -> None:
        from appliance.drivers.emulators.gsm.farm import ControlError

        daemon = self.daemon
        while getattr(daemon, "engine", None) is None or not daemon.engine.ready.is_set():
            if daemon.stopping.is_set():
                return
            await asyncio.sleep(0.1)
        wait = FIRST_CALL
        for caller in itertools.cycle(CALLERS):
            try:
                await asyncio.wait_for(daemon.stopping.wait(), timeout=wait)
                return
            except TimeoutError:
                pass
            wait = CALL_EVERY
            try:
                self.farm.control(caller.command(INBOUND_LINE, self.scale))
                log.info("demo: a call rings in on %s: %s", INBOUND_LINE, caller.what)
            except ControlError as exc:
                log.info("demo: no call on %s now: %s", INBOUND_LINE, exc)
