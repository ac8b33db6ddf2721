"""The emulator as any 27.007/27.005 client sees it: a plain blocking pyserial script."""

from __future__ import annotations

import asyncio
import tempfile
import threading
from pathlib import Path

import pytest
import serial

from appliance.drivers.emulators.gsm.dialect import DIALECTS
from appliance.drivers.emulators.gsm.farm import Farm
from appliance.drivers.emulators.gsm.script import parse
from tests.drivers.drivers_fakes import run


def chat(port: serial.Serial, data: bytes, until: bytes) -> bytes:
    """Write, then read until ``until`` ends the reply (pyserial's own timeout bounds it)."""
    port.write(data)
    reply = port.read_until(until)
    assert reply.endswith(until), reply
    return reply


def client_session(link: Path) -> None:
    with serial.Serial(str(link), 115200, timeout=2) as port:
        assert chat(port, b"AT\r", b"OK\r\n") == b"AT\r\r\nOK\r\n"  # echo on by default
        assert chat(port, b"at+csq\r", b"OK\r\n").endswith(b"+CSQ: 21,99\r\n\r\nOK\r\n")
        assert b"+CSQ: (0-31,99),(0-7,99)" in chat(port, b"AT+CSQ=?\r", b"OK\r\n")
        chat(port, b"ATE0\r", b"OK\r\n")
        assert chat(port, b"AT+CMEE=2;+CREG=2\r", b"OK\r\n") == b"\r\nOK\r\n"
        assert b'+CREG: 2,1,"00C3"' in chat(port, b"AT+CREG?\r", b"OK\r\n")
        port.write(b'AT+CPIN="1"\r')  # the SIM is ready: 27.007 "operation not allowed"
        reply = port.read_until(b"\r\n") + port.read_until(b"\r\n")
        assert reply == b"\r\n+CME ERROR: operation not allowed\r\n"
        chat(port, b"AT+CMEE=1\r", b"OK\r\n")
        assert chat(port, b"AT+NOPE\r", b"ERROR\r\n") == b"\r\nERROR\r\n"
        assert chat(port, b"A/", b"ERROR\r\n") == b"\r\nERROR\r\n"  # A/ repeats, no CR
        chat(port, b"ATV0\r", b"0\r")
        assert chat(port, b"AT\r", b"\r") == b"0\r"
        assert chat(port, b"AT+FOO\r", b"\r") == b"4\r"
        chat(port, b"ATV1\r", b"OK\r\n")
        # text-mode SMS: prompt without line end, Ctrl-Z sends, ESC cancels
        chat(port, b"AT+CMGF=1;+CSMP=49,167,0,0;+CNMI=2,1,0,1,0\r", b"OK\r\n")
        assert chat(port, b'AT+CMGS="+4915112345678"\r', b"> ") == b"\r\n> "
        assert b"+CMGS: 0" in chat(port, b"Hello\x1a", b"OK\r\n")
        report = port.read_until(b"\r\n") + port.read_until(b"\r\n")  # CSMP fo 49 asks for it
        assert report.startswith(b'\r\n+CDS: 6,0,"+4915112345678",145,')
        chat(port, b'AT+CMGS="+4915112345678"\r', b"> ")
        assert chat(port, b"never mind\x1b", b"OK\r\n") == b"\r\nOK\r\n"
        assert b"+CMGF: 1" in chat(port, b"AT+CMGF?\r", b"OK\r\n")
        # a voice call, listed by +CLCC, hung up with ATH
        chat(port, b"ATD+15550000001;\r", b"OK\r\n")
        assert b"+CLCC: 1,0," in chat(port, b"AT+CLCC\r", b"OK\r\n")
        chat(port, b"ATH\r", b"OK\r\n")
        assert chat(port, b"AT+CLCC\r", b"OK\r\n") == b"\r\nOK\r\n"
        chat(port, b"ATZ\r", b"OK\r\n")
        assert chat(port, b"AT\r", b"OK\r\n") == b"AT\r\r\nOK\r\n"  # ATZ: echo back on


def test_plain_pyserial_client() -> None:
    async def main() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            script = parse(
                {
                    "time_scale": 0.02,
                    "numbers": [{"number": "+15550000001", "outcome": "answer", "ring": 100}],
                }
            )
            farm = Farm(1, Path(tmp), "generic", 1, script)
            await farm.start(control=False)
            modem = farm.modems[0]
            try:
                await asyncio.wait_for(modem.registered.wait(), 5)  # boot, SIM, registration
                await asyncio.to_thread(client_session, farm.modems[0].port.link)
            finally:
                await farm.stop()

    run(main(), timeout=30)


# python-gsmmodem-new (LGPL, dormant since 2019) is the reference 27.007 client in Python:
# every dialect must work with it unmodified, quirks included (its Wavecom and ZTE tables,
# its +CPIN-without-OK fallback, its +CLCC polling). Not a dependency of the project: the test
# runs where the package is installed (pip install python-gsmmodem-new).
GSMMODEM_DIALECTS = sorted(DIALECTS)


def gsmmodem_session(link: Path) -> dict[str, object]:
    from gsmmodem.modem import GsmModem  # type: ignore[import-not-found]

    answered = threading.Event()
    modem = GsmModem(str(link), 115200)
    modem.connect()
    try:
        found: dict[str, object] = {
            "manufacturer": modem.manufacturer,
            "model": modem.model,
            "imei": modem.imei,
            "signal": modem.signalStrength,
        }

        def on_call(call: object) -> None:
            if getattr(call, "answered", False):
                answered.set()

        # The call first: the library answers a +CDSI (an SMS report) by writing to the port,
        # which aborts a dial the module still holds (Wavecom, ZTE; V.250 6.3.1), as it would
        # on real hardware.
        call = modem.dial("+15550000001", timeout=5, callStatusUpdateCallbackFunc=on_call)
        found["answered"] = answered.wait(5) or call.answered
        if call.active:
            call.hangup()
        sms = modem.sendSms("+447700900123", "Hello from python-gsmmodem")
        found["reference"] = sms.reference
        return found
    finally:
        modem.close()


# python-gsmmodem-new 0.13 cannot connect to a real ZTE K3565-Z: connect() does
# int("(0-1") on its AT+CFUN? answer, the test form's ranges (research/modems.md 3.10; the
# library's own ZTE fixture lists that answer, but its FakeModem base answers +CFUN: 1 first,
# so its tests never meet it). test_python_gsmmodem_client_fails_on_zte_cfun_ranges shows it;
# elsewhere the ZTE is given a plain +CFUN: 1 so the rest of its dialect is exercised.
CLIENT_REPLIES: dict[str, list[dict[str, object]]] = {
    "zte": [{"command": "AT+CFUN?", "lines": ["+CFUN: 1"], "final": "OK"}],
}


# Its +CLCC polling thread outlives close() and writes to the closed port (the library's own
# thread-per-task design, research/modems.md 1.1): not the emulator's concern.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
@pytest.mark.parametrize("dialect", GSMMODEM_DIALECTS)
def test_python_gsmmodem_client(dialect: str) -> None:
    pytest.importorskip("gsmmodem")

    async def main() -> dict[str, object]:
        with tempfile.TemporaryDirectory() as tmp:
            script = parse(
                {
                    "time_scale": 0.02,
                    # rings 2 s, talks 4 s: the library polls +CLCC every 0.5 s (real time)
                    "numbers": [
                        {"number": "+15550000001", "outcome": "answer", "ring": 100, "talk": 200}
                    ],
                    "replies": CLIENT_REPLIES.get(dialect, []),
                }
            )
            farm = Farm(1, Path(tmp), dialect, 1, script)
            await farm.start(control=False)
            modem = farm.modems[0]
            try:
                await asyncio.wait_for(modem.registered.wait(), 5)
                return await asyncio.to_thread(gsmmodem_session, modem.port.link)
            finally:
                await farm.stop()

    found = run(main(), timeout=60)
    emulated = DIALECTS[dialect]
    assert found["manufacturer"] == emulated.manufacturer or str(found["manufacturer"]).endswith(
        emulated.manufacturer
    )
    assert found["signal"] == -113 + 2 * 21 or found["signal"] == 21
    assert isinstance(found["reference"], int)
    assert found["answered"] is True


def test_python_gsmmodem_client_fails_on_zte_cfun_ranges() -> None:
    """The client's limitation, kept visible: it dies on the ZTE's AT+CFUN? answer."""
    pytest.importorskip("gsmmodem")
    from gsmmodem.modem import GsmModem

    async def main() -> str:
        with tempfile.TemporaryDirectory() as tmp:
            farm = Farm(1, Path(tmp), "zte", 1, parse({"time_scale": 0.02}))
            await farm.start(control=False)
            modem = farm.modems[0]
            try:
                await asyncio.wait_for(modem.registered.wait(), 5)

                def connect() -> str:
                    client = GsmModem(str(modem.port.link), 115200)
                    try:
                        client.connect()
                    except ValueError as exc:
                        return str(exc)
                    finally:
                        client.close()
                    return "connected"

                return await asyncio.to_thread(connect)
            finally:
                await farm.stop()

    assert "(0-1" in run(main(), timeout=30)
