"""SMS of the emulated module (27.005): send with delivery reports, receive, storage, +CNMA.

Sent messages are decoded with the drivers' PDU codec; delivery reports follow the recipient's
plan (delivered, failed, pending, rejected). Received messages are routed as ``+CNMI`` says:
stored with ``+CMTI``, or pushed as ``+CMT`` which, under ``+CSMS=1``, must be acknowledged with
``+CNMA`` or routing is switched off (27.005 3.4.4; Siemens/Telit behaviour).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass

from appliance.drivers.emulators.gsm.device import (
    CmdError,
    EmulatedModem,
    Op,
    handles,
    split_args,
)
from appliance.drivers.gsm import gsm7, pdu
from appliance.drivers.gsm.sms import SINGLE_GSM7, SINGLE_UCS2, split

SMSC = "+447000000001"
CAPACITY = 30
ACK_TIMEOUT = 15.0  # scaled; +CMT not acknowledged by then switches routing off
STAT_TEXT = {0: "REC UNREAD", 1: "REC READ", 2: "STO UNSENT", 3: "STO SENT", 4: "ALL"}


@dataclass(slots=True)
class Stored:
    stat: int
    pdu_hex: str  # with its SMSC field


class SmsSim:
    def __init__(self, modem: EmulatedModem) -> None:
        self.m = modem
        self.store: dict[int, Stored] = {}
        self.next_mr = 0
        self.sent: list[pdu.Submit | tuple[str, str]] = []  # what clients sent (for tests)
        self._ack_timer: asyncio.TimerHandle | None = None
        self._concat_ref = 0

    # ------------------------------------------------------------------ network side
    def inject(self, sender: str, text: str) -> None:
        """A message arrives from the network (in parts if long)."""
        self._concat_ref = (self._concat_ref + 1) % 256
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        for part in split(text, self._concat_ref):
            self._route(pdu.encode_deliver(sender, part, now, SMSC).hex().upper(), part, sender)

    def _route(self, hex_pdu: str, part: pdu.UserData, sender: str) -> None:
        m = self.m
        mode, mt = m.settings.cnmi[0], m.settings.cnmi[1]
        if mode > 0 and mt in (2, 3):
            if m.settings.cmgf == 0:
                self._push(f"+CMT: ,{_tpdu_len(hex_pdu)}", hex_pdu)
            else:
                self._push(f'+CMT: "{sender}",,"{_scts()}"', part.text)
            return
        index = self._save(Stored(0, hex_pdu))
        if index is not None and mode > 0 and mt == 1:
            m.urc(f'+CMTI: "SM",{index}')

    def _push(self, header: str, body: str) -> None:
        m = self.m
        m.write(b"\r\n" + header.encode() + b"\r\n" + body.encode("utf-8") + b"\r\n")
        if m.settings.csms == 1 and self._ack_timer is None:
            self._ack_timer = m.later(ACK_TIMEOUT, self._ack_missing)

    def _ack_missing(self) -> None:
        self._ack_timer = None
        cnmi = self.m.settings.cnmi
        self.m.settings.cnmi = (cnmi[0], 0, cnmi[2], 0, cnmi[4])

    def _save(self, message: Stored) -> int | None:
        for index in range(CAPACITY):
            if index not in self.store:
                self.store[index] = message
                return index
        return None

    def report(self, mr: int, recipient: str, status: int) -> None:
        m = self.m
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        hex_pdu = pdu.encode_status_report(mr, recipient, now, now, status).hex().upper()
        ds = m.settings.cnmi[3]
        if ds == 1:
            if m.settings.cmgf == 0:
                self._push(f"+CDS: {_tpdu_len(hex_pdu)}", hex_pdu)
            else:
                m.urc(
                    f'+CDS: 6,{mr},"{recipient}",{_toa(recipient)},"{_scts()}","{_scts()}",{status}'
                )
        elif ds == 2:
            index = self._save(Stored(0, hex_pdu))
            if index is not None:
                m.urc(f'+CDSI: "SM",{index}')

    # ------------------------------------------------------------------ sending
    def submitted(self, recipient: str, report: bool) -> int:
        """A message left for the network: its reference, and its report later."""
        mr = self.next_mr
        self.next_mr = (self.next_mr + 1) % 256
        plan = self.m.script.plan_for(recipient, self.m.rng)
        if plan.sms == "rejected":
            raise CmdError(cms=21)
        if report and plan.sms in ("delivered", "failed"):
            status = 0x00 if plan.sms == "delivered" else 0x41
            self.m.later(0.5, lambda: self.report(mr, recipient, status))
        return mr


def _tpdu_len(hex_pdu: str) -> int:
    smsc_octets = int(hex_pdu[:2], 16) + 1
    return len(hex_pdu) // 2 - smsc_octets


def _toa(number: str) -> int:
    return 145 if number.startswith("+") else 129


def _scts() -> str:
    return dt.datetime.now(dt.UTC).strftime("%y/%m/%d,%H:%M:%S+00")


# ---------------------------------------------------------------------- handlers
@handles("+CMGF")
def cmgf(m: EmulatedModem, op: Op) -> None:
    if op.kind == "test":
        m.info("+CMGF: (0-1)")
    elif op.kind == "read":
        m.info(f"+CMGF: {m.settings.cmgf}")
    else:
        value = op.int_arg(0, 0)
        if value not in (0, 1):
            raise CmdError(cms=303)
        m.settings.cmgf = value


@handles("+CSMS")
def csms(m: EmulatedModem, op: Op) -> None:
    if op.kind == "test":
        m.info("+CSMS: (0,1)")
    elif op.kind == "read":
        m.info(f"+CSMS: {m.settings.csms},1,1,1")
    else:
        m.settings.csms = op.int_arg(0, 0)
        m.info("+CSMS: 1,1,1")


@handles("+CPMS")
def cpms(m: EmulatedModem, op: Op) -> None:
    used = len(m.sms.store)
    if op.kind == "test":
        m.info(m.dialect.cpms_test)
    elif op.kind == "read":
        m.info(f'+CPMS: "SM",{used},{CAPACITY},"SM",{used},{CAPACITY},"SM",{used},{CAPACITY}')
    else:
        m.sim_check()
        if not m.dialect.cpms_set:
            raise CmdError(cms=302)  # a phone: its storage is not selectable
        m.info(f"+CPMS: {used},{CAPACITY},{used},{CAPACITY},{used},{CAPACITY}")


@handles("+CNMI")
def cnmi(m: EmulatedModem, op: Op) -> None:
    if op.kind == "test":
        m.info(f"+CNMI: (0-2),(0-3),(0,2),(0-{m.dialect.cnmi_ds_max}),(0,1)")
    elif op.kind == "read":
        m.info("+CNMI: " + ",".join(map(str, m.settings.cnmi)))
    else:
        values = [int(v) if v.isdigit() else 0 for v in split_args(op.args)] + [0] * 5
        limits = (2, 3, 2, m.dialect.cnmi_ds_max, 1)
        if any(not 0 <= v <= hi for v, hi in zip(values, limits, strict=False)):
            raise CmdError(cms=303)
        m.settings.cnmi = (values[0], values[1], values[2], values[3], values[4])


@handles("+CSCA")
def csca(m: EmulatedModem, op: Op) -> None:
    if op.kind == "read":
        m.sim_check()
        m.info(f'+CSCA: "{SMSC}",145')


@handles("+CSMP")
def csmp(m: EmulatedModem, op: Op) -> None:
    if op.kind == "read":
        m.info("+CSMP: " + ",".join(map(str, m.settings.csmp)))
    elif op.kind == "set":
        given = [int(x) for x in split_args(op.args) if x.isdigit()][:4]
        v = given + list(m.settings.csmp)[len(given) :]
        m.settings.csmp = (v[0], v[1], v[2], v[3])


@handles("+CNMA")
def cnma(m: EmulatedModem, op: Op) -> None:
    if op.kind == "test":
        m.info("+CNMA: (0-2)")
        return
    timer = m.sms._ack_timer
    if m.settings.csms != 1 or timer is None:
        raise CmdError(cms=340)  # no +CNMA acknowledgement expected
    timer.cancel()
    m.sms._ack_timer = None


@handles("+CMGS")
def cmgs(m: EmulatedModem, op: Op) -> None:
    if op.kind == "test":
        return
    m.sim_check()
    args = split_args(op.args)
    if not args:
        raise CmdError(cms=304 if m.settings.cmgf == 0 else 305)
    if m.settings.cmgf == 0:
        m.prompt(lambda body, cancelled: _pdu_body(m, int(args[0]), body, cancelled))
    recipient = args[0]
    if m.settings.cscs == "UCS2":
        try:
            recipient = bytes.fromhex(recipient).decode("utf-16-be")
        except ValueError:
            raise CmdError(cms=305) from None
    m.prompt(lambda body, cancelled: _text_body(m, recipient, body, cancelled))


def _finish_send(m: EmulatedModem, recipient: str, report: bool) -> None:
    if m.urc_in_cmgs:
        m.write(b"\r\n+CIEV: 2,2\r\n")  # URC between the body and +CMGS (python-gsmmodem #11)
    m.vendor_noise(len(m.dialect.noise_urcs))  # ZTE: +ZDONR and +ZPASR before +CMGS (#11)
    try:
        mr = m.sms.submitted(recipient, report)
    except CmdError as exc:
        m.error(exc)
        return
    m.info(f"+CMGS: {mr}")
    m.result("OK")


def _pdu_body(m: EmulatedModem, length: int, body: str, cancelled: bool) -> None:
    if cancelled:
        m.result("OK")  # ESC: the message is not sent
        return
    text = body.strip()
    try:
        message = pdu.decode(text, with_smsc=True)
    except pdu.PduError:
        m.error(CmdError(cms=304))
        return
    if not isinstance(message, pdu.Submit) or _tpdu_len(text) != length:
        m.error(CmdError(cms=304))
        return
    m.sms.sent.append(message)
    _finish_send(m, message.recipient, message.report_requested)


def _text_body(m: EmulatedModem, recipient: str, body: str, cancelled: bool) -> None:
    if cancelled:
        m.result("OK")
        return
    if m.settings.cscs == "UCS2":
        try:
            body = bytes.fromhex(body.strip()).decode("utf-16-be")
        except ValueError:
            m.error(CmdError(cms=305))
            return
        too_long = len(body) > SINGLE_UCS2
    else:
        too_long = not gsm7.is_gsm7(body) or len(gsm7.encode(body)) > SINGLE_GSM7
    if too_long:
        m.error(CmdError(cms=305))
        return
    m.sms.sent.append((recipient, body))
    _finish_send(m, recipient, bool(m.settings.csmp[0] & 0x20))


@handles("+CMGR")
def cmgr(m: EmulatedModem, op: Op) -> None:
    if op.kind == "test":
        return
    m.sim_check()
    stored = m.sms.store.get(op.int_arg(0, -1))
    if stored is None:
        raise CmdError(cms=321)
    _show(m, "+CMGR: ", stored)
    if stored.stat == 0:
        stored.stat = 1


def _show(m: EmulatedModem, head: str, stored: Stored, index: int | None = None) -> None:
    prefix = "" if index is None else f"{index},"
    if m.settings.cmgf == 0:
        m.write(f"\r\n{head}{prefix}{stored.stat},,{_tpdu_len(stored.pdu_hex)}\r\n".encode())
        m.write(stored.pdu_hex.encode() + b"\r\n")
        return
    message = pdu.decode(stored.pdu_hex)
    status = STAT_TEXT[stored.stat]
    if isinstance(message, pdu.Deliver):
        stamp = message.timestamp.strftime("%y/%m/%d,%H:%M:%S+00") if message.timestamp else ""
        m.write(f'\r\n{head}{prefix}"{status}","{message.sender}",,"{stamp}"\r\n'.encode())
        m.write(message.data.text.encode("utf-8") + b"\r\n")
    elif isinstance(message, pdu.StatusReport):
        m.write(
            f'\r\n{head}{prefix}"{status}",6,{message.reference},"{message.recipient}",'
            f'{_toa(message.recipient)},"{_scts()}","{_scts()}",{message.status}\r\n'.encode()
        )


@handles("+CMGL")
def cmgl(m: EmulatedModem, op: Op) -> None:
    if op.kind == "test":
        m.info("+CMGL: (0-4)" if m.settings.cmgf == 0 else '+CMGL: ("REC UNREAD","ALL")')
        return
    m.sim_check()
    wanted = (split_args(op.args) or ["4" if m.settings.cmgf == 0 else "ALL"])[0].upper()
    codes = {v: k for k, v in STAT_TEXT.items()}
    stat = int(wanted) if wanted.isdigit() else codes.get(wanted, 4)
    for index in sorted(m.sms.store):
        stored = m.sms.store[index]
        if stat in (4, stored.stat):
            _show(m, "+CMGL: ", stored, index)
            if stored.stat == 0:
                stored.stat = 1


@handles("+CMGD")
def cmgd(m: EmulatedModem, op: Op) -> None:
    if op.kind == "test":
        m.info("+CMGD: (0-29),(0-4)")
        return
    m.sim_check()
    args = split_args(op.args)
    flag = int(args[1]) if len(args) > 1 and args[1].isdigit() else 0
    if flag == 4:
        m.sms.store.clear()
    elif flag in (1, 2, 3):
        for index in [i for i, s in m.sms.store.items() if s.stat in range(1, flag + 1)]:
            del m.sms.store[index]
    else:
        m.sms.store.pop(op.int_arg(0, -1), None)
