"""SMS TPDUs (3GPP 23.040): SUBMIT, DELIVER and STATUS-REPORT, encoded and leniently decoded."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from appliance.drivers.gsm import gsm7

DCS_GSM7 = 0x00
DCS_8BIT = 0x04
DCS_UCS2 = 0x08

MTI_DELIVER = 0
MTI_SUBMIT = 1
MTI_STATUS_REPORT = 2


class PduError(ValueError):
    """A PDU too broken to decode."""


@dataclass(frozen=True, slots=True)
class Concat:
    """Concatenation header (23.040 9.2.3.24.1/8): reference, total parts, this part (1-based)."""

    reference: int
    total: int
    sequence: int


@dataclass(frozen=True, slots=True)
class UserData:
    dcs: int
    text: str
    concat: Concat | None = None


@dataclass(frozen=True, slots=True)
class Deliver:
    sender: str
    timestamp: dt.datetime | None
    data: UserData
    smsc: str = ""


@dataclass(frozen=True, slots=True)
class Submit:
    recipient: str
    reference: int
    report_requested: bool
    data: UserData


@dataclass(frozen=True, slots=True)
class StatusReport:
    reference: int
    recipient: str
    timestamp: dt.datetime | None
    discharged: dt.datetime | None
    status: int  # TP-ST: 0x00 delivered; 0x20-0x3F still trying; 0x40-0x7F failed

    @property
    def delivered(self) -> bool:
        return self.status < 0x20

    @property
    def final(self) -> bool:
        return not 0x20 <= self.status < 0x40


# ---------------------------------------------------------------------------- addresses
def _swap_bcd(digits: str) -> bytes:
    if len(digits) % 2:
        digits += "F"
    return bytes.fromhex("".join(digits[i + 1] + digits[i] for i in range(0, len(digits), 2)))


def _unswap_bcd(data: bytes, count: int) -> str:
    text = "".join(f"{b:02X}"[::-1] for b in data)
    return text[:count].replace("A", "*").replace("B", "#").rstrip("F")


def encode_address(number: str) -> bytes:
    """TP-DA/OA: digit count, type (145 international with '+', else 129), swapped BCD."""
    international = number.startswith("+")
    digits = "".join(ch for ch in number if ch.isdigit() or ch in "*#")
    bcd = digits.replace("*", "A").replace("#", "B")
    return bytes([len(digits), 0x91 if international else 0x81]) + _swap_bcd(bcd)


def _decode_address(data: bytes, i: int) -> tuple[str, int]:
    count, toa = data[i], data[i + 1]
    octets = (count + 1) // 2
    raw = data[i + 2 : i + 2 + octets]
    if toa & 0x70 == 0x50:  # alphanumeric (23.040 9.1.2.5): GSM-7 packed
        text = gsm7.decode(gsm7.unpack(raw, count * 4 // 7))
    else:
        text = ("+" if toa & 0x70 == 0x10 else "") + _unswap_bcd(raw, count)
    return text, i + 2 + octets


def encode_smsc(number: str) -> bytes:
    if not number:
        return b"\x00"
    addr = encode_address(number)
    return bytes([len(addr) - 1]) + addr[1:]


def _decode_smsc(data: bytes) -> tuple[str, int]:
    length = data[0]
    if length == 0:
        return "", 1
    toa = data[1]
    digits = _unswap_bcd(data[2 : 1 + length], (length - 1) * 2)
    return ("+" if toa & 0x70 == 0x10 else "") + digits, 1 + length


# ---------------------------------------------------------------------------- timestamps
def encode_timestamp(when: dt.datetime) -> bytes:
    offset = when.utcoffset() or dt.timedelta(0)
    quarters = int(abs(offset.total_seconds()) // 900)
    fields = [when.year % 100, when.month, when.day, when.hour, when.minute, when.second]
    out = bytearray(_swap_bcd(f"{v:02d}")[0] for v in fields)
    tz = _swap_bcd(f"{quarters:02d}")[0]
    out.append(tz | (0x08 if offset < dt.timedelta(0) else 0))
    return bytes(out)


def _decode_timestamp(data: bytes) -> dt.datetime | None:
    try:
        values = [int(f"{b:02X}"[::-1]) for b in data[:6]]
        tz = data[6]
        quarters = int(f"{tz & 0xF7:02X}"[::-1])
        offset = dt.timedelta(minutes=15 * quarters) * (-1 if tz & 0x08 else 1)
        year, month, day, hour, minute, second = values
        return dt.datetime(
            2000 + year, month, day, hour, minute, second, tzinfo=dt.timezone(offset)
        )
    except (ValueError, IndexError):
        return None  # broken timestamps occur (babca/python-gsmmodem #15); keep the message


# ---------------------------------------------------------------------------- user data
def encode_user_data(data: UserData) -> tuple[int, bytes]:
    """(TP-UDL, TP-UD) for the data; UDL counts septets for GSM-7, octets otherwise."""
    udh = b""
    if data.concat is not None:
        c = data.concat
        udh = bytes([5, 0x00, 3, c.reference & 0xFF, c.total, c.sequence])
    if data.dcs == DCS_UCS2:
        body = data.text.encode("utf-16-be")
        return len(udh) + len(body), udh + body
    septets = gsm7.encode(data.text)
    if not udh:
        return len(septets), gsm7.pack(septets)
    fill = (7 - (len(udh) * 8) % 7) % 7
    header_septets = (len(udh) * 8 + fill) // 7
    return header_septets + len(septets), udh + gsm7.pack(septets, fill)


def _decode_user_data(dcs: int, udhi: bool, udl: int, ud: bytes) -> UserData:
    concat = None
    header_len = 0
    if udhi and ud:
        header_len = ud[0] + 1
        concat = _parse_udh(ud[1:header_len])
    alphabet = _alphabet(dcs)
    if alphabet == DCS_GSM7:
        fill = (7 - (header_len * 8) % 7) % 7 if header_len else 0
        header_septets = (header_len * 8 + fill) // 7
        septets = gsm7.unpack(ud[header_len:], udl - header_septets, fill)
        text = gsm7.decode(septets)
    elif alphabet == DCS_UCS2:
        body = ud[header_len:udl]
        text = body[: len(body) // 2 * 2].decode("utf-16-be", "replace")
    else:
        text = ud[header_len:udl].hex().upper()
    return UserData(alphabet, text, concat)


def _alphabet(dcs: int) -> int:
    """23.038 section 4: the alphabet bits of the common coding groups."""
    group = dcs >> 4
    if group in (0x0, 0x1, 0x2, 0x3, 0x4, 0x5, 0x6, 0x7):
        return {1: DCS_8BIT, 2: DCS_UCS2}.get((dcs >> 2) & 0x03, DCS_GSM7)
    if group == 0xF:
        return DCS_8BIT if dcs & 0x04 else DCS_GSM7
    if group == 0xE:
        return DCS_UCS2
    return DCS_GSM7


def _parse_udh(header: bytes) -> Concat | None:
    i = 0
    while i + 1 < len(header):
        iei, length = header[i], header[i + 1]
        value = header[i + 2 : i + 2 + length]
        if iei == 0x00 and length == 3 and len(value) == 3:
            return Concat(value[0], value[1], value[2])
        if iei == 0x08 and length == 4 and len(value) == 4:
            return Concat((value[0] << 8) | value[1], value[2], value[3])
        i += 2 + length
    return None


# ---------------------------------------------------------------------------- TPDUs
def encode_submit(
    recipient: str,
    data: UserData,
    *,
    reference: int = 0,
    request_report: bool = True,
    validity: int | None = 0xA7,
) -> bytes:
    """SMS-SUBMIT TPDU (no SMSC field); ``validity`` relative (0xA7 = 24 h) or None."""
    first = MTI_SUBMIT | (0x10 if validity is not None else 0) | (0x20 if request_report else 0)
    if data.concat is not None:
        first |= 0x40
    udl, ud = encode_user_data(data)
    out = bytearray([first, reference & 0xFF])
    out += encode_address(recipient)
    out += bytes([0x00, data.dcs])
    if validity is not None:
        out.append(validity)
    out += bytes([udl]) + ud
    return bytes(out)


def encode_deliver(sender: str, data: UserData, when: dt.datetime, smsc: str = "") -> bytes:
    """SMS-DELIVER with its SMSC field, as a modem shows it in +CMT/+CMGR (the emulator's side)."""
    first = MTI_DELIVER | 0x04 | (0x40 if data.concat is not None else 0)  # 0x04: no more msgs
    udl, ud = encode_user_data(data)
    tpdu = bytes([first]) + encode_address(sender) + bytes([0x00, data.dcs])
    return encode_smsc(smsc) + tpdu + encode_timestamp(when) + bytes([udl]) + ud


def encode_status_report(
    reference: int, recipient: str, sent: dt.datetime, done: dt.datetime, status: int
) -> bytes:
    """SMS-STATUS-REPORT with an empty SMSC field (the emulator's +CDS)."""
    body = bytes([MTI_STATUS_REPORT, reference & 0xFF]) + encode_address(recipient)
    return b"\x00" + body + encode_timestamp(sent) + encode_timestamp(done) + bytes([status])


def decode(hex_pdu: str, *, with_smsc: bool = True) -> Deliver | Submit | StatusReport:
    """Decode a PDU as the modem prints it (hex, with the SMSC field unless told otherwise)."""
    try:
        data = bytes.fromhex(hex_pdu.strip())
    except ValueError as exc:
        raise PduError(f"not hex: {hex_pdu[:40]!r}") from exc
    try:
        return _decode(data, with_smsc)
    except IndexError as exc:
        raise PduError(f"PDU too short: {hex_pdu[:40]!r}") from exc


def _decode(data: bytes, with_smsc: bool) -> Deliver | Submit | StatusReport:
    smsc, i = _decode_smsc(data) if with_smsc else ("", 0)
    first = data[i]
    mti = first & 0x03
    udhi = bool(first & 0x40)
    i += 1
    if mti == MTI_DELIVER:
        sender, i = _decode_address(data, i)
        dcs = data[i + 1]
        when = _decode_timestamp(data[i + 2 : i + 9])
        udl = data[i + 9]
        return Deliver(sender, when, _decode_user_data(dcs, udhi, udl, data[i + 10 :]), smsc)
    if mti == MTI_SUBMIT:
        reference = data[i]
        recipient, i = _decode_address(data, i + 1)
        dcs = data[i + 1]
        i += 2
        vpf = (first >> 3) & 0x03
        i += {0: 0, 2: 1}.get(vpf, 7)
        udl = data[i]
        ud = _decode_user_data(dcs, udhi, udl, data[i + 1 :])
        return Submit(recipient, reference, bool(first & 0x20), ud)
    if mti == MTI_STATUS_REPORT:
        reference = data[i]
        recipient, i = _decode_address(data, i + 1)
        sent = _decode_timestamp(data[i : i + 7])
        done = _decode_timestamp(data[i + 7 : i + 14])
        status = data[i + 14] if len(data) > i + 14 else 0x00
        return StatusReport(reference, recipient, sent, done, status)
    raise PduError(f"unsupported message type indicator {mti}")
