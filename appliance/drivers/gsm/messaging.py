"""SMS on a GSM modem (27.005): send in PDU or text mode, receive, delivery reports.

Receiving covers both routings: ``+CMTI`` (stored: read with ``+CMGR``, then delete) and
``+CMT``/``+CDS`` (delivered to us: acknowledged with ``+CNMA`` when ``+CSMS`` service 1 is on,
or the module stops routing, research/modems.md 3.14). Stored messages are swept at start-up.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Coroutine
from typing import Any, Protocol

from appliance.drivers.at.codes import RETRYABLE_CMS, FinalKind
from appliance.drivers.at.session import AtError, AtSession, AtTimeout, Command, LinkDown, Urc
from appliance.drivers.gsm import gsm7, pdu
from appliance.drivers.gsm.profiles import Profile
from appliance.drivers.gsm.sms import Reassembler, split
from appliance.drivers.line import (
    DeliveryReport,
    IncomingSms,
    LineEvent,
    SmsResult,
    Timeouts,
)

log = logging.getLogger(__name__)


class SmsHost(Protocol):
    name: str
    profile: Profile
    timeouts: Timeouts
    sms_mode: str
    sms_direct: bool

    @property
    def session(self) -> AtSession: ...

    def emit(self, event: LineEvent) -> None: ...

    def has_quirk(self, name: str) -> bool: ...


class Messaging:
    def __init__(self, host: SmsHost) -> None:
        self._host = host
        self._lock = asyncio.Lock()  # CMGF/CSCS changes and reads must not interleave
        self._concat_ref = random.randrange(256)
        self._reassembler = Reassembler()
        self._ack_required = False
        self._tasks: set[asyncio.Task[None]] = set()
        self.cnmi: str | None = None  # the +CNMI setting the module accepted at setup

    def _cmd(self, text: str) -> Command:
        return Command(text, timeout=self._host.timeouts.command)

    async def setup(self) -> None:
        """PDU mode, storage, new-message routing (the first +CNMI the module accepts)."""
        session = self._host.session
        await session.check(self._cmd("AT+CMGF=0"))
        candidates = self._host.profile.cnmi
        # Each +CMT/+CDS must be acknowledged within the module's timer, but nothing may be
        # written while a withheld ATD waits (one character aborts the dial): such modules
        # keep messages stored (+CMTI), read once the port is free.
        direct = self._host.sms_direct and not self._host.has_quirk("atd-held")
        if self._host.sms_direct and not direct:
            log.info("%s: +CMT routing not used: ATD blocks the port until answer", self._host.name)
        if direct and (await session.run(self._cmd("AT+CSMS=1"))).ok:
            # messages and reports pushed to us (+CMT/+CDS), each acknowledged with +CNMA
            candidates = ("2,2,0,1,0", *candidates)
        csms = await session.run(self._cmd("AT+CSMS?"))
        values = csms.values("+CSMS:")
        self._ack_required = bool(values) and values[0].split(",")[0].strip() == "1"
        await session.run(self._cmd('AT+CPMS="SM","SM","SM"'))
        self.cnmi = None
        for candidate in candidates:
            if (await session.run(self._cmd(f"AT+CNMI={candidate}"))).ok:
                self.cnmi = candidate
                break
        else:
            log.warning(
                "%s: no +CNMI setting accepted; only the storage sweep will see SMS",
                self._host.name,
            )

    # ------------------------------------------------------------------ send
    async def send(self, number: str, text: str, report: bool = True) -> SmsResult:
        self._concat_ref = (self._concat_ref + 1) % 256
        parts = split(text, self._concat_ref)
        encoding = "gsm7" if parts[0].dcs == pdu.DCS_GSM7 else "ucs2"
        references: list[int] = []
        async with self._lock:
            try:
                if self._host.sms_mode == "text" and len(parts) == 1:
                    references.append(await self._send_text(number, text))
                else:
                    for part in parts:
                        tpdu = pdu.encode_submit(number, part, request_report=report)
                        references.append(await self._send_pdu(tpdu))
            except (AtError, AtTimeout, LinkDown) as exc:
                log.warning(
                    "%s: SMS to %s failed after %d of %d parts: %s",
                    self._host.name,
                    number,
                    len(references),
                    len(parts),
                    exc,
                )
                return SmsResult(
                    number, len(parts), tuple(references), "failed", str(exc), encoding
                )
        return SmsResult(number, len(parts), tuple(references), "sent", None, encoding)

    async def _send_pdu(self, tpdu: bytes) -> int:
        payload = ("00" + tpdu.hex().upper()).encode()  # 00: the SIM's default SMSC
        command = Command(
            f"AT+CMGS={len(tpdu)}",
            timeout=self._host.timeouts.sms,
            prompt_timeout=self._host.timeouts.prompt,
            payload=payload,
        )
        return await self._submit(command)

    async def _submit(self, command: Command) -> int:
        for attempt in range(3):
            response = await self._host.session.run(command)
            final = response.final
            if response.ok:
                values = response.values("+CMGS:")
                return int(values[0].split(",")[0]) if values else -1
            if final.kind is FinalKind.CMS and final.code in RETRYABLE_CMS and attempt < 2:
                await asyncio.sleep(0.5 * (attempt + 1))  # SIM busy after boot: back off
                continue
            raise AtError(response)
        raise AssertionError("unreachable")

    async def _send_text(self, number: str, text: str) -> int:
        session = self._host.session
        ira = all(32 <= ord(c) < 127 or c in "\r\n" for c in text) and gsm7.is_gsm7(text)
        await session.check(self._cmd("AT+CMGF=1"))
        try:
            if ira:
                await session.check(self._cmd('AT+CSCS="IRA"'))
                await session.check(self._cmd("AT+CSMP=49,167,0,0"))
                command = Command(
                    f'AT+CMGS="{number}"',
                    timeout=self._host.timeouts.sms,
                    prompt_timeout=self._host.timeouts.prompt,
                    payload=text.encode("ascii"),
                )
            else:
                # Under CSCS="UCS2" every string parameter is hex UCS-2, the number too.
                await session.check(self._cmd('AT+CSCS="UCS2"'))
                await session.check(self._cmd("AT+CSMP=49,167,0,8"))
                hex_number = number.encode("utf-16-be").hex().upper()
                command = Command(
                    f'AT+CMGS="{hex_number}"',
                    timeout=self._host.timeouts.sms,
                    prompt_timeout=self._host.timeouts.prompt,
                    payload=text.encode("utf-16-be").hex().upper().encode(),
                )
            return await self._submit(command)
        finally:
            await session.run(self._cmd('AT+CSCS="IRA"'))
            await session.run(self._cmd("AT+CMGF=0"))

    # ------------------------------------------------------------------ receive
    def on_urc(self, urc: Urc) -> bool:
        name = urc.name.upper()
        if name in ("+CMTI", "+CDSI"):
            fields = urc.value.split(",")
            if len(fields) >= 2 and fields[-1].strip().isdigit():
                self._spawn(self._read_and_delete(int(fields[-1])))
            return True
        if name in ("+CMT", "+CDS"):
            if urc.body:
                self._handle_pdu(urc.body)
            if self._ack_required:
                self._spawn(self._ack())
            return True
        return False

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _ack(self) -> None:
        try:
            await self._host.session.run(self._cmd("AT+CNMA"), urgent=True)
        except (AtTimeout, LinkDown) as exc:
            log.warning("%s: +CNMA failed: %s", self._host.name, exc)

    async def _read_and_delete(self, index: int) -> None:
        async with self._lock:
            try:
                response = await self._host.session.run(self._cmd(f"AT+CMGR={index}"))
                if response.ok and len(response.lines) >= 2:
                    self._handle_pdu(response.lines[1])
                await self._host.session.run(self._cmd(f"AT+CMGD={index}"))
            except (AtTimeout, LinkDown) as exc:
                log.warning("%s: reading SMS %d failed: %s", self._host.name, index, exc)

    async def sweep(self) -> None:
        """Read and delete every stored message (missed while we were away)."""
        async with self._lock:
            response = await self._host.session.run(
                Command("AT+CMGL=4", timeout=self._host.timeouts.sms)
            )
            indexes: list[int] = []
            lines = list(response.lines)
            for i, line in enumerate(lines):
                if line.upper().startswith("+CMGL:") and i + 1 < len(lines):
                    field = line.partition(":")[2].split(",")[0].strip()
                    if field.isdigit():
                        indexes.append(int(field))
                        self._handle_pdu(lines[i + 1])
            for index in indexes:
                await self._host.session.run(self._cmd(f"AT+CMGD={index}"))

    def _handle_pdu(self, hex_pdu: str) -> None:
        try:
            message = pdu.decode(hex_pdu)
        except pdu.PduError as exc:
            log.warning("%s: undecodable PDU kept out: %s", self._host.name, exc)
            return
        name = self._host.name
        if isinstance(message, pdu.StatusReport):
            self._host.emit(
                DeliveryReport(
                    name,
                    message.reference,
                    message.recipient,
                    message.status,
                    message.delivered,
                    message.final,
                )
            )
        elif isinstance(message, pdu.Deliver):
            whole = self._reassembler.add(message)
            if whole is not None:
                self._host.emit(
                    IncomingSms(name, whole.sender, whole.text, whole.timestamp, whole.parts)
                )
