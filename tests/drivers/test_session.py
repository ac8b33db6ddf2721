"""AT session over fake transports: echo, URCs anywhere, prompt exchange, timeouts, link loss."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import pytest

from appliance.drivers.at.codes import FinalKind
from appliance.drivers.at.session import (
    AtError,
    AtSession,
    AtTimeout,
    Command,
    LinkDown,
)
from tests.drivers.drivers_fakes import (
    Collector,
    ScriptedModem,
    connect,
    one_byte,
    random_split,
    run,
    whole,
)

CHUNKERS: list[Callable[[bytes], Iterator[bytes]]] = [one_byte, whole, random_split(7)]


def make(
    echo: bool = False, chunker: Callable[[bytes], Iterator[bytes]] = one_byte
) -> tuple[AtSession, ScriptedModem, Collector]:
    session = AtSession("test")
    modem = ScriptedModem(echo=echo)
    urcs = Collector()
    session.add_urc_listener(urcs)
    connect(session, modem, chunker)
    return session, modem, urcs


@pytest.mark.parametrize("chunker", CHUNKERS)
@pytest.mark.parametrize("echo", [False, True])
def test_urcs_before_echo_inside_response_and_after_ok(
    chunker: Callable[[bytes], Iterator[bytes]], echo: bool
) -> None:
    async def main() -> None:
        session, modem, urcs = make(echo, chunker)
        # gammu #126 (^SRVST before the echo), +CREG inside, RING after OK (gammu #91)
        modem.reply(
            b"AT+CSQ",
            b"\r\n^SRVST:0\r\n\r\n+CSQ: 19,99\r\n\r\n+CREG: 1\r\n\r\nOK\r\n\r\nRING\r\n",
        )
        response = await session.check("AT+CSQ")
        assert response.values("+CSQ:") == ["19,99"]
        assert response.lines == ("+CSQ: 19,99",)
        await urcs.wait(3)
        assert [u.text for u in urcs.items] == ["^SRVST:0", "+CREG: 1", "RING"]

    run(main())


def test_cmgs_prompt_exchange_with_urcs_inside() -> None:
    async def main() -> None:
        session, modem, urcs = make(echo=True)
        modem.reply(b"AT+CMGS=18", b"\r\n+CREG: 2\r\n> ")
        # python-gsmmodem #11: ZTE +ZDONR/+ZPASR between the prompt and +CMGS
        modem.reply(
            b"0011000B911234\x1a",
            b'\r\n+ZPASR: "UMTS"\r\n\r\n+CMGS: 42\r\n\r\nOK\r\n',
        )
        modem.echo = False
        response = await session.check(Command("AT+CMGS=18", payload=b"0011000B911234"))
        assert response.values("+CMGS:") == ["42"]
        await urcs.wait(2)
        assert [u.text for u in urcs.items] == ["+CREG: 2", '+ZPASR: "UMTS"']

    run(main())


def test_prompt_timeout_sends_esc_and_session_recovers() -> None:
    async def main() -> None:
        session, modem, _ = make()
        modem.reply(b"AT+CMGS=18", None)  # the modem never prompts
        with pytest.raises(AtTimeout):
            await session.run(Command("AT+CMGS=18", payload=b"00", prompt_timeout=0.05))
        modem.reply(b"\x1bAT", b"\r\nOK\r\n")
        assert modem.transport is not None
        assert modem.transport.written.endswith(b"\x1b")
        assert (await session.run("AT")).ok

    run(main())


def test_cme_error_is_raised_with_its_code_and_verbose_text_is_mapped() -> None:
    async def main() -> None:
        session, modem, _ = make()
        modem.reply(b"AT+CPIN?", b"\r\n+CME ERROR: 14\r\n")
        with pytest.raises(AtError) as info:
            await session.check("AT+CPIN?")
        assert info.value.final.kind is FinalKind.CME and info.value.final.code == 14
        modem.reply(b"AT+CSCA?", b"\r\n+CME ERROR: SIM busy\r\n")
        response = await session.run("AT+CSCA?")
        assert response.final.code == 14

    run(main())


def test_vendor_and_numeric_finals() -> None:
    async def main() -> None:
        session, modem, _ = make()
        modem.reply(b"AT^CVOICE=0", b"\r\nCOMMAND NOT SUPPORT\r\n")
        assert (await session.run("AT^CVOICE=0")).final.kind is FinalKind.ERROR
        modem.reply(b"ATV0", b"0\r")
        assert (await session.run("ATV0")).ok
        modem.reply(b"AT+FOO", b"4\r")
        assert (await session.run("AT+FOO")).final.kind is FinalKind.ERROR

    run(main())


def test_call_progress_codes_end_dial_only() -> None:
    async def main() -> None:
        session, modem, urcs = make()
        modem.reply(b"ATD123;", b"\r\nBUSY\r\n")
        response = await session.run(Command("ATD123;", call_progress=True))
        assert response.final.kind is FinalKind.BUSY
        # while +CLCC is in flight, NO CARRIER is the call ending, not the answer to +CLCC
        modem.reply(b"AT+CLCC", b'\r\nNO CARRIER\r\n\r\n+CLCC: 1,0,3,0,0,"123",129\r\n\r\nOK\r\n')
        response = await session.check("AT+CLCC")
        assert response.values("+CLCC:") == ['1,0,3,0,0,"123",129']
        await urcs.wait(1)
        assert urcs.items[0].text == "NO CARRIER"

    run(main())


@pytest.mark.parametrize("chunker", CHUNKERS)
def test_zte_noise_inside_cmgs_and_identification_is_never_the_answer(
    chunker: Callable[[bytes], Iterator[bytes]],
) -> None:
    """ZTE/Qualcomm +ZDONR/+ZPASR anywhere (python-gsmmodem #11): after the prompt, between the
    PDU and +CMGS:, and between the echo and the bare IMEI line of AT+CGSN — where any line
    that is no known URC would be taken for the answer."""

    async def main() -> None:
        session, modem, urcs = make(echo=True, chunker=chunker)
        zdonr = b'\r\n+ZDONR: "Orange",234,33,"CS_PS","ROAM_OFF"\r\n'
        modem.reply(b"AT+CGSN", zdonr + b"\r\n354918020000017\r\n\r\nOK\r\n")
        imei = await session.check(Command("AT+CGSN", bare=True))
        assert imei.lines == ("354918020000017",)
        modem.reply(b"AT+CMGS=18", b'\r\n> \r\n+ZPASR: "UMTS"\r\n')
        modem.reply(
            b"0011000B911234\x1a", zdonr + b'\r\n+ZPASR: "UMTS"\r\n\r\n+CMGS: 7\r\n\r\nOK\r\n'
        )
        sent = await session.check(Command("AT+CMGS=18", payload=b"0011000B911234"))
        assert sent.lines == ("+CMGS: 7",) and sent.values("+CMGS:") == ["7"]
        await urcs.wait(4)
        assert [u.name for u in urcs.items] == ["+ZDONR", "+ZPASR", "+ZDONR", "+ZPASR"]
        assert session.junk_lines == 0  # known vendor noise, not lines of nonsense

    run(main())


def test_bare_lines_and_urcs_during_identification() -> None:
    async def main() -> None:
        session, modem, urcs = make(echo=True)
        modem.reply(b"AT+CGSN", b"\r\nRING\r\n\r\n867962040000011\r\n\r\nOK\r\n")
        response = await session.check(Command("AT+CGSN", bare=True))
        assert response.lines == ("867962040000011",)
        await urcs.wait(1)
        assert urcs.items[0].text == "RING"

    run(main())


def test_cmt_and_cds_urcs_carry_their_pdu_body() -> None:
    async def main() -> None:
        session, modem, urcs = make()
        modem.reply(
            b"AT",
            b"\r\n+CMT: ,24\r\n07911326040000F0040B911346610089F60000\r\n"
            b"\r\nOK\r\n\r\n+CDS: 25\r\n0006D60B911326880736F4111011719551401110117195714000\r\n",
        )
        assert (await session.run("AT")).ok
        await urcs.wait(2)
        assert (
            urcs.items[0].name == "+CMT"
            and urcs.items[0].body == "07911326040000F0040B911346610089F60000"
        )
        assert urcs.items[1].name == "+CDS" and urcs.items[1].body is not None

    run(main())


def test_cmgr_body_that_looks_like_a_final_is_kept() -> None:
    async def main() -> None:
        session, modem, _ = make()
        modem.reply(b"AT+CMGR=1", b'\r\n+CMGR: "REC READ","+1555",,"24/01/01"\r\nOK\r\n\r\nOK\r\n')
        response = await session.check("AT+CMGR=1")
        assert response.lines == ('+CMGR: "REC READ","+1555",,"24/01/01"', "OK")

    run(main())


def test_timeout_then_late_answer_is_not_taken_for_the_next_command() -> None:
    async def main() -> None:
        session, modem, _ = make()
        modem.reply(b"AT+COPS=?", None)
        with pytest.raises(AtTimeout):
            await session.run(Command("AT+COPS=?", timeout=0.05))
        assert session.consecutive_timeouts == 1
        # the late OK of +COPS=? arrives, then the real answer to +CSQ
        modem.reply(b"AT+CSQ", b"\r\n+CSQ: 5,99\r\n\r\nOK\r\n")
        assert modem.transport is not None
        response = await session.check("AT+CSQ")
        assert response.values("+CSQ:") == ["5,99"]
        assert session.consecutive_timeouts == 0

    run(main())


def test_a_cancelled_command_still_gets_its_late_answer_not_the_next_one() -> None:
    """A +CLCC poll whose task is cancelled (the call ended meanwhile): its answer, arriving
    after, must not be taken for the next command's, nor shift every answer after by one."""

    async def main() -> None:
        session, modem, _ = make()
        modem.reply(b"AT+CLCC", None)  # answered below, late
        poll = asyncio.create_task(session.run("AT+CLCC"))
        while not modem.commands:
            await asyncio.sleep(0)
        poll.cancel()
        with pytest.raises(asyncio.CancelledError):
            await poll
        modem.reply(b"AT+CSQ", b"\r\n+CSQ: 5,99\r\n\r\nOK\r\n")
        modem.reply(b"AT+CREG?", b"\r\n+CREG: 0,1\r\n\r\nOK\r\n")
        nxt = asyncio.create_task(session.check("AT+CSQ"))
        for _ in range(20):
            await asyncio.sleep(0)
        assert modem.commands == [b"AT+CLCC"]  # not written while the poll's answer is due
        assert modem.transport is not None
        modem.transport.feed(b'\r\n+CLCC: 1,0,3,0,0,"+15550000003",145\r\n\r\nOK\r\n')
        assert (await nxt).values("+CSQ:") == ["5,99"]
        assert (await session.check("AT+CREG?")).values("+CREG:") == ["0,1"]
        assert modem.commands == [b"AT+CLCC", b"AT+CSQ", b"AT+CREG?"]

    run(main())


def test_dropped_reply_times_out_per_command() -> None:
    async def main() -> None:
        session, modem, _ = make()
        modem.reply(b"AT", None)
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(AtTimeout):
            await session.run(Command("AT", timeout=0.1))
        assert 0.09 <= loop.time() - start < 1.0

    run(main())


def test_link_loss_fails_the_command_in_flight_and_notifies() -> None:
    async def main() -> None:
        session, modem, _ = make()
        lost: list[Exception | None] = []
        session.add_lost_listener(lost.append)
        modem.reply(b"ATD1;", None)
        task = asyncio.create_task(session.run(Command("ATD1;", call_progress=True)))
        while not modem.commands:
            await asyncio.sleep(0)
        assert modem.transport is not None
        modem.transport.unplug()
        with pytest.raises(LinkDown):
            await task
        assert len(lost) == 1 and not session.is_open
        with pytest.raises(LinkDown):
            await session.run("AT")

    run(main())


def test_urgent_command_jumps_the_queue() -> None:
    async def main() -> None:
        session, modem, _ = make()
        order: list[str] = []
        modem.reply(b"AT+CMGL=4", b"\r\nOK\r\n")
        for cmd in (b"AT+CSQ", b"AT+CREG?", b"ATH"):
            modem.reply(cmd, b"\r\nOK\r\n")

        async def issue(text: str, urgent: bool = False) -> None:
            await session.run(text, urgent=urgent)
            order.append(text)

        first = asyncio.create_task(issue("AT+CMGL=4"))
        await asyncio.sleep(0)
        rest = [
            asyncio.create_task(issue("AT+CSQ")),
            asyncio.create_task(issue("AT+CREG?")),
            asyncio.create_task(issue("ATH", urgent=True)),
        ]
        await asyncio.gather(first, *rest)
        assert order == ["AT+CMGL=4", "ATH", "AT+CSQ", "AT+CREG?"]

    run(main())


@pytest.mark.parametrize("chunker", CHUNKERS)
def test_query_answered_without_final_ok(chunker: Callable[[bytes], Iterator[bytes]]) -> None:
    """Wavecom's +CPIN: READY with no OK (gammu's CPINNoOK): an ok_optional query returns its
    line with an implied OK — after the grace of silence when the quirk is known, at its
    timeout otherwise — without counting as a timeout; a URC does not stand for the answer,
    and a module that does send OK is read as usual."""

    async def main() -> None:
        session, modem, urcs = make(chunker=chunker)
        loop = asyncio.get_running_loop()
        modem.reply(b"AT+CPIN?", b"\r\n+CREG: 1\r\n\r\n+CPIN: READY\r\n")
        start = loop.time()
        known = Command("AT+CPIN?", timeout=5.0, ok_optional=True, grace=0.05)
        response = await session.run(known)
        assert response.implied and response.ok and response.lines == ("+CPIN: READY",)
        assert loop.time() - start < 1.0  # the grace, not the 5 s timeout
        assert [u.text for u in urcs.items] == ["+CREG: 1"]
        unknown = await session.run(Command("AT+CPIN?", timeout=0.2, ok_optional=True))
        assert unknown.implied and unknown.values("+CPIN:") == ["READY"]
        assert session.consecutive_timeouts == 0
        modem.reply(b"AT+CPIN?", b"\r\n+CREG: 1\r\n")  # nothing solicited: a real timeout
        with pytest.raises(AtTimeout):
            await session.run(Command("AT+CPIN?", timeout=0.2, ok_optional=True, grace=0.05))
        modem.reply(b"AT+CPIN?", b"\r\n+CPIN: SIM PIN\r\n\r\nOK\r\n")
        usual = await session.run(Command("AT+CPIN?", ok_optional=True, grace=0.05))
        assert usual.ok and not usual.implied and usual.final.text == "OK"

    run(main())


def test_give_up_fails_the_command_in_flight() -> None:
    async def main() -> None:
        session, modem, _ = make()
        modem.reply(b"ATD+15550000009;", None)  # the module withholds ATD's result
        dialing = asyncio.ensure_future(
            session.run(Command("ATD+15550000009;", timeout=30, call_progress=True))
        )
        while not session.busy:
            await asyncio.sleep(0)
        session.give_up("no answer to the dial's abort")
        with pytest.raises(AtTimeout, match="abort"):
            await dialing
        modem.reply(b"AT", b"\r\nOK\r\n")
        assert (await session.run("AT")).ok  # the port is free again

    run(main())
