"""What each emulated module family says: identification, boot URCs, vendor commands, framing."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Dialect:
    name: str
    manufacturer: str
    model: str
    revision: str
    imei_prefix: str
    boot_urcs: tuple[str, ...]
    ready_urcs: tuple[str, ...]  # sent once the SIM is ready
    vendor_commands: frozenset[str]  # extended command names beyond 27.007/27.005
    error_text: str = "ERROR"  # Huawei answers unknown commands COMMAND NOT SUPPORT
    urc_end: bytes = b"\r\n"  # SIMCom 4G frames URCs with \r\r\n
    reboot_unplugs: bool = False  # Huawei sticks drop off USB on reset (chan_dongle #62)
    clcc_urc: bool = True  # accepts AT+CLCC=1


GENERIC = Dialect(
    name="generic",
    manufacturer="Generic",
    model="GSM-27007",
    revision="1.0.0",
    imei_prefix="35000000",
    boot_urcs=("RDY",),
    ready_urcs=("+CPIN: READY",),
    vendor_commands=frozenset(),
    clcc_urc=False,
)

SIMCOM = Dialect(
    name="simcom",
    manufacturer="SIMCOM INCORPORATED",
    model="SIMCOM_SIM7600E-H",
    revision="LE20B04SIM7600M22",
    imei_prefix="86796204",
    boot_urcs=("RDY",),
    ready_urcs=("+CPIN: READY", "SMS DONE", "PB DONE"),
    vendor_commands=frozenset({"+MORING", "+DDET", "+CCMXPLAY", "+CDTAM", "+CSQN", "+CLAC"}),
    urc_end=b"\r\r\n",
)

QUECTEL = Dialect(
    name="quectel",
    manufacturer="Quectel",
    model="EC25",
    revision="EC25EFAR06A06M4G",
    imei_prefix="86145803",
    boot_urcs=("RDY",),
    ready_urcs=("+CPIN: READY", "+QUSIM: 1", "+QIND: SMS DONE", "+QIND: PB DONE"),
    vendor_commands=frozenset({"^DSCI", "+QTONEDET", "+QPSND", "+QURCCFG", "+QWDTMF", "+CLAC"}),
)

HUAWEI = Dialect(
    name="huawei",
    manufacturer="huawei",
    model="E1752",
    revision="11.126.16.04.284",
    imei_prefix="35314603",
    boot_urcs=(),
    ready_urcs=("^SIMST:1",),
    vendor_commands=frozenset({"^CVOICE", "^CURC", "^DTMF", "^DDSETEX", "^U2DIAG", "+CLAC"}),
    error_text="COMMAND NOT SUPPORT",
    reboot_unplugs=True,
    clcc_urc=False,
)

DIALECTS = {d.name: d for d in (GENERIC, SIMCOM, QUECTEL, HUAWEI)}
