"""Failure switches: unplug mid-call, reboot, silence, garbage, SIM PIN and busy SIM."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from appliance.drivers.gsm.modem import GsmModem
from appliance.drivers.line import CallEnded, LineDown, LineUnavailable, LineUp, Timeouts
from appliance.drivers.outcome import Outcome
from tests.drivers.drivers_fakes import run
from tests.drivers.emulated import (
    HEALTH,
    PROFILES,
    SCALE,
    SLACK,
    TIMEOUTS,
    down_within,
    emulated,
    wait_event,
)


@pytest.mark.parametrize("profile", PROFILES)
def test_unplug_mid_call_reports_error_and_reconnects(profile: str) -> None:
    async def main() -> None:
        async with emulated(profile) as (farm, modem, events):
            call = asyncio.create_task(modem.dial("+15550000009", ring_timeout=30))  # rings long
            await asyncio.sleep(0)  # one yield: dial() registers its call before any await
            assert modem.voice.call is not None
            await asyncio.wait_for(modem.voice.call.alerted.wait(), 5)
            n = len(events.items)
            farm.control("0 unplug")
            result = await call
            assert result.outcome is Outcome.ERROR_OCCURRED
            assert result.end_reason.startswith("line down")
            down = await wait_event(events, LineDown, n)
            assert "port" in down.reason and not modem.health().up
            with pytest.raises(LineUnavailable):
                await modem.dial("+15550000001")
            farm.control("0 replug")
            await wait_event(events, LineUp, n)
            assert modem.health().up
            answered = await modem.dial("+15550000010", ring_timeout=2)
            assert answered.outcome is Outcome.CONNECTED
            await modem.hang_up()

    run(main(), timeout=30)


def test_unplug_after_answer_ends_call_in_error() -> None:
    async def main() -> None:
        async with emulated("quectel") as (farm, modem, _events):
            answered = await modem.dial("+15550000010", ring_timeout=2)
            assert answered.outcome is Outcome.CONNECTED
            farm.control("0 unplug")
            final = await modem.wait_call_end(3)
            assert final is not None and final.outcome is Outcome.ERROR_OCCURRED
            assert final.answered  # the evidence keeps that it had been answered
            farm.control("0 replug")
            assert await modem.wait_up(5)

    run(main(), timeout=30)


@pytest.mark.parametrize("profile", PROFILES)
def test_reboot_reinitialises(profile: str) -> None:
    async def main() -> None:
        async with emulated(profile) as (farm, modem, events):
            n = len(events.items)
            farm.control("0 reboot")
            await wait_event(events, LineDown, n)
            await wait_event(events, LineUp, n)
            emulated_modem = farm.modems[0]
            # the driver set the module up again after its settings were lost
            assert emulated_modem.settings.echo is False and emulated_modem.settings.cmee == 1
            result = await modem.dial("+15550000002", ring_timeout=1)
            assert result.outcome is Outcome.BUSY

    run(main(), timeout=30)


@pytest.mark.parametrize("switch", ["silent", "garbage"])
def test_silent_or_babbling_modem_is_probed_reopened_and_recovered(switch: str) -> None:
    async def main() -> None:
        async with emulated("generic") as (farm, modem, events):
            n = len(events.items)
            farm.control(f"0 {switch} on")
            down = await wait_event(events, LineDown, n, timeout=10)
            assert down.reason.startswith("modem not answering"), down.reason
            farm.control(f"0 {switch} off")
            await wait_event(events, LineUp, n, timeout=10)
            assert (await modem.dial("+15550000002", ring_timeout=1)).outcome is Outcome.BUSY

    run(main(), timeout=30)


def test_sim_pin_and_sim_busy_after_pin() -> None:
    async def main() -> None:
        script = {"pin": "4321", "sim_busy_after_pin": 20}  # 20 * 0.02 = 0.4 s busy
        async with emulated("simcom", script=script, pin="4321") as (farm, modem, _):
            assert modem.health().sim == "READY"
            commands = [c.upper() for c in farm.modems[0].commands]
            assert commands.count('AT+CPIN="4321"') == 1  # never retried
            assert commands.count("AT+CPIN?") >= 3  # polled through SIM busy (CME 14)

    run(main(), timeout=30)


def test_missing_pin_is_a_clear_error() -> None:
    async def main() -> None:
        with pytest.raises(LineUnavailable, match="SIM PIN"):
            async with emulated("generic", script={"pin": "1111"}):
                pass

    run(main(), timeout=30)


def test_a_call_cut_by_line_loss_is_reported_to_whoever_asks_afterwards() -> None:
    """The engine may ask for the end of an answered call after the line already dropped it
    (it was playing a message): wait_call_end and hang_up give that call's ErrorOccurred."""

    async def main() -> None:
        async with emulated("simcom") as (farm, modem, events):
            answered = await modem.dial("+15550000010", ring_timeout=2)
            assert answered.outcome is Outcome.CONNECTED and not answered.ended
            n = len(events.items)
            farm.control("0 unplug")
            await wait_event(events, CallEnded, n)
            ended = await modem.wait_call_end(1)
            assert ended is not None, "the call's end is lost once the line dropped it"
            assert ended.outcome is Outcome.ERROR_OCCURRED and ended.answered
            assert any(e.startswith("line down") for e in ended.evidence), ended.evidence
            hung = await modem.hang_up()
            assert hung is not None and hung.outcome is Outcome.ERROR_OCCURRED

    run(main(), timeout=30)


async def _crash(modem: GsmModem) -> None:
    """What SIGKILL does to the daemon: the port is closed, nothing is sent (no ATH/+CHUP)."""
    modem._closing = True  # no recovery: this process is gone
    for task in (modem._health_task, modem._recovering, modem._probing):
        if task is not None:
            task.cancel()
    session = modem._session
    assert session is not None
    session.close()
    await session.wait_closed()


@pytest.mark.parametrize(
    ("profile", "stage"), [(p, s) for p in PROFILES for s in ("answered", "ringing")]
)
def test_a_call_left_up_by_a_crash_is_ended_at_the_next_open(profile: str, stage: str) -> None:
    """A real module keeps a call up when its port is closed; the next open must end it, or the
    next dial meets +CME ERROR: 3 (a call still ringing out) or holds the old call."""

    async def main() -> None:
        async with emulated(profile) as (farm, modem, _events):
            sim = farm.modems[0].calls
            if stage == "answered":
                up = await modem.dial("+15550000010", ring_timeout=2)  # answers, talks for ever
                assert up.outcome is Outcome.CONNECTED
            else:
                ringing = asyncio.create_task(modem.dial("+15550000009", ring_timeout=30))
                await asyncio.sleep(0)  # one yield: dial() registers its call before any await
                assert modem.voice.call is not None
                await asyncio.wait_for(modem.voice.call.alerted.wait(), 5)
            await _crash(modem)
            if stage == "ringing":
                ringing.cancel()
            assert sim.calls, "the emulated module dropped the call with the port"
            again = GsmModem(modem.url, name="gsm0-again", timeouts=TIMEOUTS, poll_interval=0.05,
                             health_interval=0.2, backoff=(0.05, 0.2), min_ring_timeout=0.0)  # fmt: skip
            await again.open()
            try:
                assert sim.calls == [], "the call left up was not ended at open"
                busy = await again.dial("+15550000002", ring_timeout=1)
                assert busy.outcome is Outcome.BUSY, busy
                answered = await again.dial("+15550000010", ring_timeout=2)
                assert answered.outcome is Outcome.CONNECTED, answered
                await again.hang_up()
            finally:
                await again.close()

    run(main(), timeout=30)


# ---------------------------------------------------------------------- line health (SPEC H6)
HEALTH_OPTIONS: dict[str, Any] = {"timeouts": HEALTH, "health_interval": 30.0 * SCALE}


def test_the_health_budget_of_the_real_timeouts_is_under_ten_seconds() -> None:
    assert down_within(Timeouts()) < 10.0


@pytest.mark.parametrize("stage", ["idle", "call"])
@pytest.mark.parametrize("fault", ["silent", "garbage", "noise"])
@pytest.mark.parametrize("profile", ["generic", "quectel"])
def test_a_silent_or_babbling_modem_goes_down_within_the_budget(
    profile: str, fault: str, stage: str
) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        async with emulated(profile, **HEALTH_OPTIONS) as (farm, modem, events):
            if stage == "call":
                up = await modem.dial("+15550000010", ring_timeout=2)  # talks for ever
                assert up.outcome is Outcome.CONNECTED and not up.ended
            n = len(events.items)
            farm.control(f"0 {fault} on")
            start = loop.time()
            down = await wait_event(events, LineDown, n, timeout=30)
            took = loop.time() - start
            assert took < down_within(HEALTH) + SLACK, (took, down.reason)
            assert down.reason.startswith("modem not answering"), down.reason
            if stage == "call":
                ended = await modem.wait_call_end(1)
                assert ended is not None and ended.outcome is Outcome.ERROR_OCCURRED
                assert ended.answered and ended.end_reason.startswith("line down"), ended
            farm.control(f"0 {fault} off")
            await wait_event(events, LineUp, n, timeout=10)
            assert (await modem.dial("+15550000002", ring_timeout=1)).outcome is Outcome.BUSY

    run(main(), timeout=60)
