"""What each emulated module family says: identification, boot URCs, vendor commands, framing,
and the quirks of real modules (research/modems.md 0.3, 2.2, 2.4, 3.10) that drivers must meet.
"""

from __future__ import annotations

from dataclasses import dataclass

#: File commands (#24, files.py): SIMCom's file system, Quectel's UFS.
FS_COMMANDS = ("+FSCREATE", "+FSWRITE", "+FSDEL", "+FSLS", "+FSMEM", "+FSFLSIZE")
QF_COMMANDS = ("+QFUPL", "+QFLST", "+QFDEL", "+QFLDS")

#: 27.005 +CPMS=? as most modules answer it.
CPMS_TEST = '+CPMS: ("SM","ME"),("SM","ME"),("SM","ME")'


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
    # Whose call indications the module sends (calls.py): generic (none: final codes only),
    # simcom (SIM7600: VOICE CALL), sim800 (MO RING/MO CONNECTED), quectel (^DSCI), huawei
    # (^ORIG/^CONF/^CONN/^CEND), wavecom (+WIND), zte (CONNECT/HANGUP), ublox (+UCALLSTAT).
    family: str = "generic"
    error_text: str = "ERROR"  # Huawei answers unknown commands COMMAND NOT SUPPORT
    urc_end: bytes = b"\r\n"  # SIMCom 4G frames URCs with \r\r\n
    reboot_unplugs: bool = False  # Huawei sticks drop off USB on reset (chan_dongle #62)
    clcc_urc: bool = True  # accepts AT+CLCC=1
    clcc_urc_sent: bool = True  # ... and then really sends +CLCC URCs (phones: accepted, never)
    cpin_no_ok: bool = False  # +CPIN: <code> with no final OK (Wavecom; gammu's CPINNoOK)
    # ATD's final result is withheld until the call is answered or fails (Wavecom: OK on
    # answer; older ZTE/Qualcomm sticks: CONNECT), as SIM800 does under AT+COLP=1.
    atd_held: str | None = None
    reject_final: str | None = None  # a rejected call ends a held ATD with this (ZTE: OK)
    cpms_test: str = CPMS_TEST  # +CPMS=? (nested on Wavecom, empty on Nokia phones)
    cpms_set: bool = True  # AT+CPMS="SM",... accepted (phones: +CMS ERROR: 302)
    cnmi_ds_max: int = 2  # highest +CNMI <ds> accepted (SIM800L: 1, python-gsmmodem #60)
    # Vendor noise URCs sent in the middle of exchanges: after the `> ` prompt, between the
    # PDU and +CMGS:, between a command's echo and its answer (ZTE/Qualcomm +ZDONR/+ZPASR,
    # python-gsmmodem #11; research/modems.md 3.8).
    noise_urcs: tuple[str, ...] = ()
    # AT+CFUN? answered with the test form's ranges instead of the state (ZTE K3565-Z,
    # research/modems.md 3.10); None: +CFUN: <fun>.
    cfun_read: str | None = None
    # A call ringing in (calls.py): the caller ID after each RING under AT+CLIP=1 ({number},
    # {toa}), and what is sent when the caller withholds it (None: no +CLIP at all, the host
    # learns nothing by the second ring); the final result of ATA (old ZTE sticks: CONNECT).
    clip: str = '+CLIP: "{number}",{toa},,,,0'
    clip_withheld: str | None = '+CLIP: "",128,,,,1'
    ata_final: str = "OK"


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

# SIM7600: +CLCC URCs and VOICE CALL: BEGIN/END; no MO RING (AT+MORING is SIM800's).
SIMCOM = Dialect(
    name="simcom",
    manufacturer="SIMCOM INCORPORATED",
    model="SIMCOM_SIM7600E-H",
    revision="LE20B04SIM7600M22",
    imei_prefix="86796204",
    boot_urcs=("RDY",),
    ready_urcs=("+CPIN: READY", "SMS DONE", "PB DONE"),
    vendor_commands=frozenset(
        {"+DDET", "+CCMXPLAY", "+CDTAM", "+CSQN", "+CLAC", "+CPCMREG", *FS_COMMANDS}
    ),
    family="simcom",
    urc_end=b"\r\r\n",
    clip='+CLIP: "{number}",{toa},"",0,"",0',
    clip_withheld='+CLIP: "",128,"",0,"",1',
)

# SIM800/SIM900 (2G): AT+MORING=1 gives MO RING / MO CONNECTED, AT+CLCC=1 +CLCC URCs;
# boot RDY, +CPIN: READY, Call Ready, SMS Ready; identification without a prefix.
SIM800 = Dialect(
    name="sim800",
    manufacturer="SIMCOM_Ltd",
    model="SIMCOM_SIM800L",
    revision="Revision:1418B04SIM800L24",
    imei_prefix="86520403",
    boot_urcs=("RDY",),
    ready_urcs=("+CPIN: READY", "Call Ready", "SMS Ready"),
    vendor_commands=frozenset({"+MORING", "+DDET", "+CLAC", *FS_COMMANDS}),
    family="sim800",
    cnmi_ds_max=1,
)

QUECTEL = Dialect(
    name="quectel",
    manufacturer="Quectel",
    model="EC25",
    revision="EC25EFAR06A06M4G",
    imei_prefix="86145803",
    boot_urcs=("RDY",),
    ready_urcs=("+CPIN: READY", "+QUSIM: 1", "+QIND: SMS DONE", "+QIND: PB DONE"),
    vendor_commands=frozenset(
        {"^DSCI", "+QTONEDET", "+QPSND", "+QURCCFG", "+QWDTMF", "+CLAC", "+QPCMV", *QF_COMMANDS}
    ),
    family="quectel",
    clip='+CLIP: "{number}",{toa},"",0,"",0',
    clip_withheld='+CLIP: "",128,"",0,"",1',
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
    family="huawei",
    error_text="COMMAND NOT SUPPORT",
    reboot_unplugs=True,
    clcc_urc=False,
)

# Wavecom Fastrack (Q24xx): +CPIN? answers without OK; nothing on ATD until the callee answers
# (OK) or the call fails (BUSY/NO CARRIER); call progress by +WIND (AT+WIND=50: 2 remote
# ringing, 5 call created, 6 call released); +CPMS=? nested.
WAVECOM = Dialect(
    name="wavecom",
    manufacturer="WAVECOM MODEM",
    model="MULTIBAND  900E  1800",
    revision="641b09gg.Q2406B 1266500 091502 17:06",
    imei_prefix="35213100",
    boot_urcs=(),
    ready_urcs=(),
    vendor_commands=frozenset({"+WIND", "+CLAC"}),
    family="wavecom",
    clcc_urc=False,
    cpin_no_ok=True,
    atd_held="OK",
    cpms_test='+CPMS: (("SM","BM","SR"),("SM"),("SM"))',
    clip='+CLIP: "{number}",{toa}',
    clip_withheld=None,
)

# Older ZTE / Qualcomm USB sticks (K3565-Z, MF1xx): ATD gives no final result until the call
# is answered (CONNECT) or fails (BUSY, NO ANSWER, NO CARRIER; a rejected call: just OK), no
# call-state URCs, HANGUP: <id> when an answered call ends; ZTE noise URCs (+ZDONR/+ZPASR)
# anywhere, also inside the +CMGS exchange; AT+CFUN? answered with ranges.
ZTE = Dialect(
    name="zte",
    manufacturer="ZTE CORPORATION",
    model="K3565-Z",
    revision="BD_P673A2V1.0.0B09",
    imei_prefix="35491802",
    boot_urcs=(),
    ready_urcs=("+ZUSIMR:2", '+ZPASR: "UMTS"'),
    vendor_commands=frozenset({"+ZPAS", "+ZOPRT", "+CLAC"}),
    family="zte",
    clcc_urc=False,
    atd_held="CONNECT",
    reject_final="OK",
    noise_urcs=('+ZDONR: "Emulnet",1,1,"CS_PS","ROAM_OFF"', '+ZPASR: "UMTS"'),
    cfun_read="+CFUN: (0-1,4-7),(0-1)",
    clip='+CLIP: "{number}",{toa}',
    clip_withheld=None,
    ata_final="CONNECT",
)

# A phone used as a modem (Nokia, Sony Ericsson): AT+CLCC=1 is accepted but no +CLCC URC ever
# comes (only polling AT+CLCC works); +CPMS=? empty, SIM storage not selectable.
NOKIA = Dialect(
    name="nokia",
    manufacturer="Nokia",
    model="Nokia 6230i",
    revision="V 03.88 21-01-06 RM-72",
    imei_prefix="35566900",
    boot_urcs=(),
    ready_urcs=(),
    vendor_commands=frozenset(),
    clcc_urc=True,
    clcc_urc_sent=False,
    cpms_test="+CPMS: (),(),()",
    cpms_set=False,
)

# u-blox SARA-U2/LISA-U2: AT+UCALLSTAT=1 gives +UCALLSTAT: <id>,<stat> (2 dialling, 3
# alerting, 4 ringing in, 0 active, 6 disconnected); +CLCC polling only; AT+UDTMFD=1 gives
# +UUDTMFD: <key> for the far end's keys.
UBLOX = Dialect(
    name="ublox",
    manufacturer="u-blox",
    model="SARA-U201",
    revision="23.60",
    imei_prefix="35719807",
    boot_urcs=(),
    ready_urcs=(),
    vendor_commands=frozenset({"+UCALLSTAT", "+UDTMFD", "+CLAC"}),
    family="ublox",
    clcc_urc=False,
)

DIALECTS = {
    d.name: d for d in (GENERIC, SIMCOM, SIM800, QUECTEL, HUAWEI, WAVECOM, ZTE, NOKIA, UBLOX)
}
