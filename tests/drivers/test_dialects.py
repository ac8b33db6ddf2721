"""Recorded dialects of real modules (#20): the driver must not depend on any one signal.

Each test drives the emulator's dialect over a real pty: Wavecom (+CPIN? without OK, nothing
on ATD until answer, +WIND call progress), an old ZTE/Qualcomm stick (ATD's final result only
when the call is answered or fails, no call-state URCs), and a phone used as a modem (AT+CLCC=1
accepted, no +CLCC URC ever sent: only polling works).
"""

from __future__ import annotations

import asyncio

import pytest

from appliance.drivers.emulators.gsm.dialect import DIALECTS
from appliance.drivers.line import DeliveryReport, IncomingSms, LineDown, LineUp
from appliance.drivers.outcome import Outcome
from tests.drivers.drivers_fakes import run
from tests.drivers.emulated import TIMEOUTS, emulated, wait_event

ANSWER = "+15550000001"  # rings 3 s (scaled), talks 5 s
BUSY = "+15550000002"
RINGS = "+15550000009"  # rings 400 s (scaled: 8 s) before it would be answered
REJECT = "+15550000004"
# A 0.3 s ring timeout is decided well before the network's own no-answer timer (60 s scaled:
# 1.2 s), ATD's timeout (2 s) and the setup timeout (3 s).
RING_DECIDED = 0.3 + TIMEOUTS.presumed_setup + 0.5

# A module that says +CPIN: READY and nothing more; a script reply with OK isolates the call
# flow from that quirk.
CPIN_OK = {"replies": [{"command": "AT+CPIN?", "lines": ["+CPIN: READY"], "final": "OK"}]}


def test_wavecom_sim_ready_without_final_ok_brings_the_line_up() -> None:
    """Wavecom answers AT+CPIN? with +CPIN: READY and no OK (gammu's CPINNoOK)."""

    async def main() -> None:
        async with emulated("wavecom") as (_, modem, _events):
            report = modem.probe_report()
            assert report["sim"] == "READY" and report["registered"] is True
            result = await modem.dial(BUSY, ring_timeout=0.3)
            assert result.outcome is Outcome.BUSY

    run(main(), timeout=30)


def test_wavecom_call_flow_wind_and_ok_on_answer() -> None:
    """+WIND: 5 (created), +WIND: 2 (remote ringing), nothing on ATD, OK on answer,
    NO CARRIER + +WIND: 6 at the end."""

    async def main() -> None:
        async with emulated("wavecom", script=CPIN_OK) as (farm, modem, _events):
            loop = asyncio.get_running_loop()
            start = loop.time()
            rang = await modem.dial(RINGS, ring_timeout=0.3)
            assert rang.outcome is Outcome.ALERTING_TIMEOUT, rang
            # decided at our ring timeout, not by the network's no-answer timer (60 s scaled)
            assert loop.time() - start < RING_DECIDED and "ring timeout" in rang.end_reason
            assert "+WIND: 2" in rang.evidence
            assert 0.3 <= rang.durations["ringing"] < 1.0  # counted from +WIND: 2
            assert farm.modems[0].calls.calls == []  # the dial was abandoned on the module

            answered = await modem.dial(ANSWER, ring_timeout=1.0)
            assert answered.outcome is Outcome.CONNECTED and not answered.ended, answered
            final = await modem.wait_call_end(3.0)
            assert final is not None and final.end_reason == "far end hung up", final
            assert final.outcome is Outcome.CONNECTED

            busy = await modem.dial(BUSY, ring_timeout=0.3)
            assert busy.outcome is Outcome.BUSY, busy

    run(main(), timeout=30)


def test_zte_unanswered_call_is_alerting_timeout_not_error() -> None:
    """ATD gives no final result until answer or failure and no URC says the phone rings:
    a call never answered ends AlertingTimeout at the ring timeout, not ErrorOccurred when
    ATD's own timeout runs out; the dial is aborted and the line dials again at once."""

    async def main() -> None:
        async with emulated("zte") as (farm, modem, _events):
            loop = asyncio.get_running_loop()
            start = loop.time()
            rang = await modem.dial(RINGS, ring_timeout=0.3)
            assert rang.outcome is Outcome.ALERTING_TIMEOUT, rang
            assert loop.time() - start < RING_DECIDED and "ring timeout" in rang.end_reason
            assert farm.modems[0].calls.calls == []  # aborted, not left ringing

            busy = await modem.dial(BUSY, ring_timeout=0.3)
            assert busy.outcome is Outcome.BUSY, busy
            rejected = await modem.dial(REJECT, ring_timeout=1.0)  # ZTE: just OK
            assert rejected.outcome is Outcome.REJECTED, rejected
            answered = await modem.dial(ANSWER, ring_timeout=1.0)
            assert answered.outcome is Outcome.CONNECTED, answered
            final = await modem.wait_call_end(3.0)
            assert final is not None and final.end_reason == "far end hung up", final

    run(main(), timeout=30)


def test_phone_accepting_clcc_urcs_but_sending_none_is_polled() -> None:
    """AT+CLCC=1 says OK but no +CLCC URC ever comes: an answered call is Connected (not
    Unreachable when it ends) and a call ringing forever ends AlertingTimeout at the ring
    timeout, not at the 60 s setup timeout."""

    async def main() -> None:
        async with emulated("nokia") as (_, modem, _events):
            answered = await modem.dial(ANSWER, ring_timeout=1.0)
            assert answered.outcome is Outcome.CONNECTED, answered
            final = await modem.wait_call_end(3.0)
            assert final is not None and final.outcome is Outcome.CONNECTED, final
            assert final.end_reason == "far end hung up"

            loop = asyncio.get_running_loop()
            start = loop.time()
            rang = await modem.dial(RINGS, ring_timeout=0.3)
            assert rang.outcome is Outcome.ALERTING_TIMEOUT, rang
            assert loop.time() - start < RING_DECIDED and "ring timeout" in rang.end_reason

    run(main(), timeout=30)


# Every emulated dialect and the driver profile its identification selects.
DIALECT_PROFILES = {
    "generic": "generic",
    "simcom": "simcom",
    "sim800": "simcom",
    "quectel": "quectel",
    "huawei": "huawei",
    "wavecom": "wavecom",
    "zte": "zte",
    "nokia": "generic",
    "ublox": "ublox",
}


QUIRKS = {"wavecom": ("cpin-no-ok", "atd-held"), "zte": ("atd-held",)}


def test_every_dialect_is_covered() -> None:
    assert set(DIALECT_PROFILES) == set(DIALECTS)


@pytest.mark.parametrize("dialect", sorted(DIALECT_PROFILES))
def test_dialect_probe_calls_and_sms(dialect: str) -> None:
    """Over a real pty for each dialect: probe, a call answered (Connected, 0) and hung up by
    the far end, a busy callee (Busy 1, or Rejected 16), a callee ringing past the ring
    timeout (AlertingTimeout 13, decided at our ring timeout), SMS with parts and references
    matched by delivery reports."""

    async def main() -> None:
        async with emulated(dialect) as (farm, modem, events):
            emulated_modem = farm.modems[0]
            report = modem.probe_report()
            assert report["profile"] == DIALECT_PROFILES[dialect]
            assert report["manufacturer"] == emulated_modem.dialect.manufacturer
            assert report["imei"] == emulated_modem.imei
            assert report["sim"] == "READY" and report["registered"] is True
            assert isinstance(report["call_progress"], str) and report["call_progress"]
            assert isinstance(report["quirks"], dict)

            answered = await modem.dial(ANSWER, ring_timeout=1.0)
            assert answered.outcome is Outcome.CONNECTED and not answered.ended, answered
            final = await modem.wait_call_end(3.0)
            assert final is not None and final.end_reason == "far end hung up", final

            busy = await modem.dial(BUSY, ring_timeout=1.0)
            assert busy.outcome in (Outcome.BUSY, Outcome.REJECTED), busy

            loop = asyncio.get_running_loop()
            start = loop.time()
            rang = await modem.dial(RINGS, ring_timeout=0.3)
            assert rang.outcome is Outcome.ALERTING_TIMEOUT, rang
            assert loop.time() - start < RING_DECIDED and "ring timeout" in rang.end_reason
            assert emulated_modem.calls.calls == []  # nothing left ringing on the module

            # what each family promises was checked on the calls: only the phone is silent
            assert ("call-urcs-silent" in modem.quirks()) is (dialect == "nokia")
            assert set(modem.quirks()) >= set(QUIRKS.get(dialect, ()))

            n = len(events.items)
            results = [await modem.send_sms("+447700900123", t) for t in ("Hi", "Long " * 70)]
            assert [(r.status, r.parts) for r in results] == [("sent", 1), ("sent", 3)]
            refs = [ref for r in results for ref in r.references]
            assert len(set(refs)) == 4
            reports: set[int] = set()
            while reports != set(refs):
                items = await events.wait(len(events.items) + 1, 5.0)
                reports = {e.reference for e in items[n:] if isinstance(e, DeliveryReport)}

    run(main(), timeout=40)


def test_quirks_not_in_the_profile_are_learnt_on_the_module() -> None:
    """With the generic profile forced, the Wavecom's missing OK and the ZTE's withheld ATD
    are learnt when met (reported by probe), and the phone's silence on the first call."""

    async def main() -> None:
        async with emulated("wavecom", profile="generic") as (_, modem, _events):
            assert modem.quirks()["cpin-no-ok"].startswith("learnt: AT+CPIN? -> +CPIN: READY")
        async with emulated("zte", profile="generic") as (_, modem, _events):
            assert "atd-held" not in modem.quirks()
            rang = await modem.dial(RINGS, ring_timeout=0.3)
            assert rang.outcome is Outcome.ALERTING_TIMEOUT, rang
            assert "atd-held" in modem.quirks()
            assert "withheld" in str(modem.probe_report()["call_progress"])
            busy = await modem.dial(BUSY, ring_timeout=0.3)
            assert busy.outcome is Outcome.BUSY, busy
        async with emulated("nokia") as (_, modem, _events):
            first = await modem.dial(RINGS, ring_timeout=0.3)  # outlasts the URCs' grace
            assert first.outcome is Outcome.ALERTING_TIMEOUT
            assert "call-urcs-silent" in modem.quirks()
            assert str(modem.probe_report()["call_progress"]).startswith("+CLCC polling")

    run(main(), timeout=40)


def test_hang_up_during_a_withheld_dial_aborts_it_at_once() -> None:
    async def main() -> None:
        async with emulated("zte") as (farm, modem, _events):
            emulated_modem = farm.modems[0]
            loop = asyncio.get_running_loop()
            dialing = asyncio.create_task(modem.dial(RINGS, ring_timeout=30))
            await asyncio.sleep(0)  # one yield: dial() registers its call before any await
            call = modem.voice.call
            assert call is not None
            while not emulated_modem.calls.calls:  # the module has the call (ATD received)
                await asyncio.sleep(0.01)
            start = loop.time()
            ours = await modem.hang_up()
            assert ours is not None and ours.outcome is Outcome.ERROR_OCCURRED
            assert ours.end_reason == "hung up by us"
            assert loop.time() - start < 1.0  # not after ATD's timeout
            assert (await dialing) == ours
            assert emulated_modem.calls.calls == []
            busy = await modem.dial(BUSY, ring_timeout=0.3)
            assert busy.outcome is Outcome.BUSY, busy

    run(main(), timeout=30)


def test_module_refusing_clcc_without_indications_is_followed_by_final_codes() -> None:
    """No call-state URC and AT+CLCC answered ERROR: busy from BUSY, and a callee ringing
    forever ends AlertingTimeout at the ring timeout (from ATD), not Unreachable at the
    setup timeout."""
    script = {"replies": [{"command": "AT+CLCC", "lines": [], "final": "ERROR"}]}

    async def main() -> None:
        async with emulated("generic", script=script) as (_, modem, _events):
            busy = await modem.dial(BUSY, ring_timeout=0.3)
            assert busy.outcome is Outcome.BUSY, busy
            loop = asyncio.get_running_loop()
            start = loop.time()
            rang = await modem.dial(RINGS, ring_timeout=0.3)
            assert rang.outcome is Outcome.ALERTING_TIMEOUT, rang
            assert loop.time() - start < RING_DECIDED + 2 * TIMEOUTS.command
            assert "final result codes" in str(modem.probe_report()["call_progress"])

    run(main(), timeout=30)


def test_modem_silent_during_a_withheld_dial_is_an_error_not_a_ring_timeout() -> None:
    """Guard: the abort at the deadline goes unanswered, so the modem is gone — the call is
    ErrorOccurred and the line goes down (the ring timeout is not blamed on the callee)."""

    async def main() -> None:
        async with emulated("zte") as (farm, modem, events):
            emulated_modem = farm.modems[0]
            dialing = asyncio.create_task(modem.dial(RINGS, ring_timeout=0.3))
            while not emulated_modem.calls.calls:
                await asyncio.sleep(0.01)
            n = len(events.items)
            farm.control("0 silent on")
            result = await dialing
            assert result.outcome is Outcome.ERROR_OCCURRED, result
            assert any("ATD aborted" in e for e in result.evidence), result
            assert "not answer" in result.end_reason or "not answering" in result.end_reason
            await wait_event(events, LineDown, n)

    run(main(), timeout=30)


def test_learnt_quirks_are_kept_across_a_reopen_and_forgotten_for_another_module() -> None:
    async def main() -> None:
        async with emulated("nokia") as (farm, modem, events):
            await modem.dial(RINGS, ring_timeout=0.3)
            assert "call-urcs-silent" in modem.quirks()
            # the same phone comes back (kept), then another phone on the port (forgotten)
            for imei, kept in ((farm.modems[0].imei, True), ("355669000000999", False)):
                farm.modems[0].imei = imei
                n = len(events.items)
                farm.control("0 unplug")
                await wait_event(events, LineDown, n)
                farm.control("0 replug")
                await wait_event(events, LineUp, n)
                assert ("call-urcs-silent" in modem.quirks()) is kept

    run(main(), timeout=30)


def test_direct_sms_routing_is_not_used_where_atd_blocks_the_port() -> None:
    """+CMT must be acknowledged (+CNMA) in time, which a withheld ATD forbids (a character
    aborts the dial): on such a module messages stay stored (+CMTI) and arrive all the same."""

    async def main() -> None:
        async with emulated("wavecom", sms_direct=True) as (farm, _modem, events):
            assert farm.modems[0].settings.cnmi[1] == 1  # stored, announced with +CMTI
            n = len(events.items)
            farm.control("0 sms-in +491700000000 call me")
            got = await wait_event(events, IncomingSms, n)
            assert got.text == "call me"

    run(main(), timeout=30)


def test_held_atd_on_a_family_with_indications_follows_them() -> None:
    """A SIMCom under AT+COLP=1 holds ATD until answer, but its +CLCC URCs still come: the
    call is followed by them (ring timeout from alerting), not failed at ATD's 2 s."""

    async def main() -> None:
        async with emulated("simcom") as (_, modem, _events):
            await modem.session.check("AT+COLP=1")
            rang = await modem.dial(RINGS, ring_timeout=0.3)
            assert rang.outcome is Outcome.ALERTING_TIMEOUT, rang
            assert rang.end_reason == "ring timeout"
            answered = await modem.dial(ANSWER, ring_timeout=1.0)
            assert answered.outcome is Outcome.CONNECTED, answered
            final = await modem.wait_call_end(3.0)
            assert final is not None and final.end_reason == "far end hung up", final

    run(main(), timeout=30)


def test_atd_never_answered_by_a_family_with_indications_is_an_error() -> None:
    """Guard: a SIMCom that neither answers ATD nor indicates anything for Timeouts.dial (its
    URCs switched off, ATD held by +COLP=1) is taken for a modem gone, as before #20: the
    families that report progress by indications keep ATD's 2 s bound."""

    async def main() -> None:
        async with emulated("simcom") as (farm, modem, _events):
            await modem.session.check("AT+CLCC=0;+COLP=1")
            loop = asyncio.get_running_loop()
            start = loop.time()
            result = await modem.dial(RINGS, ring_timeout=30)
            assert result.outcome is Outcome.ERROR_OCCURRED, result
            assert result.end_reason == "modem did not answer ATD"
            assert TIMEOUTS.dial <= loop.time() - start < TIMEOUTS.dial + 1.5
            assert farm.modems[0].calls.calls == []  # the dial was aborted all the same

    run(main(), timeout=30)


def test_zte_noise_urcs_inside_sms_sends_and_answers() -> None:
    """The ZTE stick sends +ZDONR/+ZPASR after the `> ` prompt, between the PDU and +CMGS:
    and between a command's echo and its answer: the IMEI, the IMSI and every part's
    reference are still read right, and the noise is handed to URC listeners."""

    async def main() -> None:
        async with emulated("zte") as (farm, modem, _events):
            emulated_modem = farm.modems[0]
            assert modem.identity.imei == emulated_modem.imei
            assert modem.identity.imsi == emulated_modem.imsi
            heard: list[str] = []
            modem.session.add_urc_listener(lambda urc: heard.append(urc.name))
            first = emulated_modem.sms.next_mr
            result = await modem.send_sms("+447700900123", "Long " * 70)
            assert (result.status, result.parts) == ("sent", 3), result
            assert all(isinstance(r, int) and r >= 0 for r in result.references)
            assert len(set(result.references)) == 3
            assert heard.count("+ZDONR") >= 3 and heard.count("+ZPASR") >= 3
            assert list(result.references) == [(first + i) % 256 for i in range(3)]
            assert modem.probe_report()["signal_dbm"] == -113 + 2 * 21

    run(main(), timeout=30)


def test_cfun_read_answered_with_ranges_is_tolerated_and_radio_off_is_switched_on() -> None:
    """ZTE answers AT+CFUN? with `+CFUN: (0-1,4-7),(0-1)`: not a state, so nothing is sent
    and the line comes up; a module booting with its radio off (+CFUN: 0, python-gsmmodem
    #11) is switched on with AT+CFUN=1 and registers."""

    async def main() -> None:
        async with emulated("zte") as (farm, modem, _events):
            commands = farm.modems[0].commands
            assert "AT+CFUN?" in commands and not any(c.startswith("AT+CFUN=") for c in commands)
            assert modem.probe_report()["registered"] is True
        async with emulated("generic", script={"cfun": 0}) as (farm, modem, _events):
            assert "AT+CFUN=1" in farm.modems[0].commands
            assert farm.modems[0].cfun == 1
            assert modem.probe_report()["registered"] is True
            busy = await modem.dial(BUSY, ring_timeout=0.3)
            assert busy.outcome is Outcome.BUSY, busy

    run(main(), timeout=30)


def test_phone_with_empty_cpms_test_and_fixed_storage_still_sends_and_receives() -> None:
    """A phone answers AT+CPMS=? with `+CPMS: (),(),()` and refuses to select storage (+CMS
    ERROR: 302): the line comes up, sends, and stored messages still arrive."""

    async def main() -> None:
        async with emulated("nokia") as (farm, modem, events):
            cpms = await modem.session.check("AT+CPMS=?")
            assert cpms.values("+CPMS:") == ["(),(),()"]
            refused = await modem.session.run('AT+CPMS="SM","SM","SM"')
            assert refused.final.kind.name == "CMS" and refused.final.code == 302
            assert 'AT+CPMS="SM","SM","SM"' in farm.modems[0].commands  # asked at open too
            result = await modem.send_sms("+447700900123", "Hi")
            assert result.status == "sent" and result.references[0] >= 0
            n = len(events.items)
            farm.control("0 sms-in +491700000000 call me")
            got = await wait_event(events, IncomingSms, n)
            assert got.text == "call me"

    run(main(), timeout=30)


@pytest.mark.parametrize("dialect", ["generic", "simcom"])
def test_module_that_restarts_without_a_boot_urc_is_reinitialised(dialect: str) -> None:
    """A brown-out with no RDY: echo back on, +CNMI and +CLCC=1 forgotten. The health poll sees
    the echo (or +CNMI changed) and re-initialises the line: incoming messages are announced
    again and calls are followed as before."""

    async def main() -> None:
        async with emulated(dialect) as (farm, modem, events):
            emulated_modem = farm.modems[0]
            n = len(events.items)
            farm.control("0 brownout")
            assert emulated_modem.settings.echo and emulated_modem.settings.cnmi[1] == 0
            down = await wait_event(events, LineDown, n)
            assert "settings" in down.reason, down
            await wait_event(events, LineUp, n)
            assert not emulated_modem.settings.echo and emulated_modem.settings.cnmi[1] in (1, 2)
            m = len(events.items)
            farm.control("0 sms-in +491700000000 after the dip")
            got = await wait_event(events, IncomingSms, m)
            assert got.text == "after the dip"
            answered = await modem.dial(ANSWER, ring_timeout=1.0)
            assert answered.outcome is Outcome.CONNECTED, answered
            assert "call-urcs-silent" not in modem.quirks()  # +CLCC=1 was set again

    run(main(), timeout=30)


def test_module_that_forgets_only_its_cnmi_is_reinitialised() -> None:
    """Some modules drop their +CNMI setting after a while (research/modems.md 3.14): the
    health poll's AT+CNMI? sees it and the line is set up again."""

    async def main() -> None:
        async with emulated("generic") as (farm, _modem, events):
            n = len(events.items)
            farm.modems[0].settings.cnmi = (0, 0, 0, 0, 0)
            down = await wait_event(events, LineDown, n)
            assert "+CNMI" in down.reason, down
            await wait_event(events, LineUp, n)
            assert farm.modems[0].settings.cnmi[1] in (1, 2)

    run(main(), timeout=30)
