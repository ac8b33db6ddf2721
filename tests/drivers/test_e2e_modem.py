"""The driver against the emulator over real pseudo-terminals, for every profile."""

from __future__ import annotations

import pytest

from appliance.drivers.emulators.gsm.messages import SmsSim
from appliance.drivers.gsm import pdu
from appliance.drivers.line import (
    CallEnded,
    DeliveryReport,
    Dtmf,
    IncomingSms,
    LineBusy,
)
from appliance.drivers.outcome import Outcome
from tests.drivers.drivers_fakes import run
from tests.drivers.emulated import PROFILES, emulated, wait_event

EXPECTED = {
    "+15550000002": Outcome.BUSY,
    "+15550000003": Outcome.ALERTING_TIMEOUT,
    "+15550000004": Outcome.REJECTED,
    "+15550000005": Outcome.UNREACHABLE,
    "+15550000006": Outcome.WRONG_NUMBER,
    "+15550000007": Outcome.UNREACHABLE,
    "+15550000008": Outcome.NO_LINE,
}


@pytest.mark.parametrize("profile", PROFILES)
def test_probe(profile: str) -> None:
    async def main() -> None:
        async with emulated(profile) as (farm, modem, _):
            report = modem.probe_report()
            assert report["profile"] == profile
            assert report["manufacturer"] == farm.modems[0].dialect.manufacturer
            assert report["revision"] == farm.modems[0].dialect.revision  # prefix stripped
            assert report["imei"] == farm.modems[0].imei and len(str(report["imei"])) == 15
            assert report["imsi"] == farm.modems[0].imsi
            assert report["sim"] == "READY" and report["registered"] is True
            assert report["operator"] == "Emulnet" and report["signal_dbm"] == -113 + 2 * 21

    run(main())


@pytest.mark.parametrize("profile", PROFILES)
def test_every_call_outcome(profile: str) -> None:
    async def main() -> None:
        async with emulated(profile) as (_, modem, events):
            for number, expected in EXPECTED.items():
                result = await modem.dial(number, ring_timeout=0.3)
                assert result.outcome is expected, (number, result)
                assert result.ended and not result.answered
                assert result.evidence[0] == f"ATD{number};"
            timed_out = await modem.dial("+15550000003", ring_timeout=0.3)
            assert 0.3 <= timed_out.durations["ringing"] < 1.0  # counted from alerting

            answered = await modem.dial("+15550000001", ring_timeout=1.0)
            assert answered.outcome is Outcome.CONNECTED and not answered.ended
            with pytest.raises(LineBusy):
                await modem.dial("+15550000002")
            start = len(events.items)
            final = await modem.wait_call_end(3.0)
            assert final is not None and final.outcome is Outcome.CONNECTED
            assert final.ended and final.end_reason == "far end hung up"
            assert final.durations["talk"] > 0
            if modem.capabilities.dtmf_detect:
                digits = [e.digit for e in events.items[start:] if isinstance(e, Dtmf)]
                assert digits == ["1", "#"]
            assert any(isinstance(e, CallEnded) for e in events.items[start:])

            up = await modem.dial("+15550000010", ring_timeout=1.0)
            assert up.outcome is Outcome.CONNECTED
            ours = await modem.hang_up()
            assert ours is not None and ours.outcome is Outcome.CONNECTED and ours.ended
            assert await modem.hang_up() == ours  # nothing more to end: the same result

    run(main(), timeout=30)


@pytest.mark.parametrize("profile", PROFILES)
def test_sms_send_short_long_ucs2_with_delivery_reports(profile: str) -> None:
    async def main() -> None:
        async with emulated(profile) as (farm, modem, events):
            texts = ["Reminder: your visit is at 10:00 {ok}", "Long " * 70, "Zażółć gęślą jaźń ✓"]
            results = [await modem.send_sms("+447700900123", text) for text in texts]
            assert [r.parts for r in results] == [1, 3, 1]
            assert [r.encoding for r in results] == ["gsm7", "gsm7", "ucs2"]
            assert all(r.status == "sent" for r in results)
            sim: SmsSim = farm.modems[0].sms
            sent = [m for m in sim.sent if isinstance(m, pdu.Submit)]
            assert "".join(m.data.text for m in sent) == "".join(texts)
            assert all(m.recipient == "+447700900123" and m.report_requested for m in sent)
            refs = [ref for r in results for ref in r.references]
            reports: list[DeliveryReport] = []
            seen = 0
            while len(reports) < len(refs):
                items = await events.wait(seen + 1)
                seen = len(items)
                reports = [e for e in items if isinstance(e, DeliveryReport)]
            assert sorted(r.reference for r in reports) == sorted(refs)
            assert all(r.delivered and r.recipient == "+447700900123" for r in reports)

    run(main(), timeout=30)


@pytest.mark.parametrize("profile", PROFILES)
def test_sms_receive_stored_and_concatenated(profile: str) -> None:
    async def main() -> None:
        async with emulated(profile) as (farm, modem, events):
            long_text = "Ja, bitte rufen Sie mich morgen an. " * 6
            farm.control(f"0 sms-in +491701234567 {long_text}")
            got = await wait_event(events, IncomingSms)
            assert (got.sender, got.text, got.parts) == ("+491701234567", long_text, 2)
            farm.control("0 sms-in +491701234567 STOP")
            n = len(events.items)
            got = await wait_event(events, IncomingSms, n)
            assert got.text == "STOP"
            await modem.session.check("AT")  # reads and deletes are done once AT is answered
            assert farm.modems[0].sms.store == {}  # read and deleted

    run(main(), timeout=30)


def test_sms_receive_direct_with_cnma() -> None:
    async def main() -> None:
        async with emulated("quectel", sms_direct=True) as (farm, _modem, events):
            for i in range(3):
                n = len(events.items)
                farm.control(f"0 sms-in +491700000000 reply {i}")
                got = await wait_event(events, IncomingSms, n)
                assert got.text == f"reply {i}"
            # every +CMT was acknowledged: routing still direct, nothing stored
            assert farm.modems[0].settings.cnmi[1] == 2
            assert farm.modems[0].sms.store == {}
            assert any(c.upper() == "AT+CNMA" for c in farm.modems[0].commands)

    run(main(), timeout=30)


def test_sms_text_mode_and_urcs_inside_cmgs() -> None:
    async def main() -> None:
        async with emulated("simcom", sms_mode="text") as (farm, modem, _):
            farm.control("0 urc-in-cmgs on")
            plain = await modem.send_sms("+447700900123", "Plain text")
            wide = await modem.send_sms("+447700900123", "Привет")
            longer = await modem.send_sms("+447700900123", "x" * 200)  # falls back to PDU
            assert [r.status for r in (plain, wide, longer)] == ["sent"] * 3
            assert ("+447700900123", "Plain text") in farm.modems[0].sms.sent
            assert ("+447700900123", "Привет") in farm.modems[0].sms.sent
            assert longer.parts == 2

    run(main(), timeout=30)


@pytest.mark.parametrize("profile", PROFILES)
def test_back_to_back_calls_over_a_lagging_link_keep_each_calls_end_to_itself(
    profile: str,
) -> None:
    """A modem reports a call's end several ways at once (+CLCC stat 6, VOICE CALL: END, NO
    CARRIER, ^CEND); over a busy USB link the host reads them in pieces. The next call, dialled
    the moment the first piece arrives, must not take the rest for its own end."""

    async def main() -> None:
        async with emulated(profile) as (farm, modem, _):
            farm.modems[0].lag = 0.02  # each write of the modem reaches us 20 ms after the last
            sequence = ["+15550000002", "+15550000004", "+15550000001", *EXPECTED]
            for number in sequence:
                result = await modem.dial(number, ring_timeout=1.0)
                if number == "+15550000001":
                    assert result.outcome is Outcome.CONNECTED
                    final = await modem.wait_call_end(5.0)
                    assert final is not None and final.end_reason == "far end hung up"
                    continue
                assert result.outcome is EXPECTED[number], (number, result)
                assert result.evidence[0] == f"ATD{number};"
                assert not any("VOICE CALL: END" in e for e in result.evidence), result

    run(main(), timeout=60)
