"""27.007 general commands of the emulated module: V.250 basics, identity, SIM, network."""

from __future__ import annotations

from appliance.drivers.emulators.gsm.device import (
    CmdError,
    EmulatedModem,
    Op,
    ResultLater,
    Settings,
    handles,
    split_args,
)


def _flag(op: Op, current: bool) -> bool:
    if op.kind == "read":
        return current
    return op.int_arg(0, 0) == 1 if op.args else False


@handles("E")
def echo(m: EmulatedModem, op: Op) -> None:
    m.settings.echo = op.args == "1"


@handles("V")
def verbose(m: EmulatedModem, op: Op) -> None:
    m.settings.verbose = op.args != "0"


@handles("Z", "&F")
def reset(m: EmulatedModem, op: Op) -> None:
    m.settings = Settings()  # echo back on: drivers must resend ATE0 (research/modems.md 3.9)


@handles("Q", "X", "L", "M", "&C", "&D", "&W", "&V")
def accepted(m: EmulatedModem, op: Op) -> None:
    """Accepted and ignored, as on most modules."""


@handles("I")
def identify(m: EmulatedModem, op: Op) -> None:
    m.info(m.dialect.manufacturer)
    m.info(m.dialect.model)
    m.info(f"Revision: {m.dialect.revision}")


@handles("S0", "S3", "S4", "S5", "S7", "S8", "S10")
def s_register(m: EmulatedModem, op: Op) -> None:
    reg = int(op.name[1:])
    if op.kind == "read":
        m.info(f"{m.settings.s_regs.get(reg, 0):03d}")
    elif op.args:
        m.settings.s_regs[reg] = int(op.args)


def _ident(value_of: str) -> None:
    names = {
        "manufacturer": ("+CGMI", "+GMI"),
        "model": ("+CGMM", "+GMM"),
        "revision": ("+CGMR", "+GMR"),
    }[value_of]

    @handles(*names)
    def handler(m: EmulatedModem, op: Op) -> None:
        if op.kind == "test":
            return
        value = getattr(m.dialect, value_of)
        # SIMCom prefixes its identification (+CGMR: LE20B04...); clients must strip it.
        m.info(f"{names[0]}: {value}" if m.dialect.family == "simcom" else value)


for _what in ("manufacturer", "model", "revision"):
    _ident(_what)


@handles("+CGSN", "+GSN")
def imei(m: EmulatedModem, op: Op) -> None:
    if op.kind != "test":
        m.info(m.imei)


@handles("+CIMI")
def imsi(m: EmulatedModem, op: Op) -> None:
    if op.kind == "test":
        return
    m.sim_check()
    m.info(m.imsi)


@handles("+CMEE")
def cmee(m: EmulatedModem, op: Op) -> None:
    if op.kind == "test":
        m.info("+CMEE: (0-2)")
    elif op.kind == "read":
        m.info(f"+CMEE: {m.settings.cmee}")
    else:
        value = op.int_arg(0, 0)
        if value not in (0, 1, 2):
            raise CmdError(cme=50)
        m.settings.cmee = value


@handles("+CPIN")
def cpin(m: EmulatedModem, op: Op) -> None:
    if op.kind == "test":
        return
    if op.kind == "read":
        if m.sim_state == "READY" and m.now < m.sim_busy_until:
            raise CmdError(cme=14)
        if m.sim_state == "NOT READY":
            raise CmdError(cme=14)
        m.info(f"+CPIN: {m.sim_state}")
        if m.dialect.cpin_no_ok:
            raise ResultLater  # Wavecom: the +CPIN line is all (gammu's CPINNoOK)
        return
    args = split_args(op.args)
    if m.sim_state != "SIM PIN":
        raise CmdError(cme=3)
    if not args or args[0] != m.script.pin:
        raise CmdError(cme=16)
    m.sim_ready()


@handles("+CFUN")
def cfun(m: EmulatedModem, op: Op) -> None:
    if op.kind == "test":
        m.info("+CFUN: (0,1,4),(0-1)")
    elif op.kind == "read":
        # ZTE K3565-Z answers the read with the test form's ranges (research/modems.md 3.10)
        m.info(m.dialect.cfun_read or f"+CFUN: {m.cfun}")
    else:
        args = split_args(op.args)
        fun = op.int_arg(0, 1)
        if fun not in (0, 1, 4):
            raise CmdError(cme=50)
        if len(args) > 1 and args[1] == "1":
            m.later(0.05, m.reboot)  # OK first, then the module restarts
        elif fun != m.cfun:
            m.cfun = fun
            if fun == 1:  # the radio on: registered a moment later
                m.later(0.2, lambda: m.set_registration(1))
            else:
                m.set_registration(0)


@handles("+CSQ")
def csq(m: EmulatedModem, op: Op) -> None:
    if op.kind == "test":
        m.info("+CSQ: (0-31,99),(0-7,99)")
    else:
        m.info(f"+CSQ: {m.signal if m.reg_stat else 99},99")


def _registration(kind: str) -> None:
    @handles(f"+{kind}")
    def handler(m: EmulatedModem, op: Op) -> None:
        if op.kind == "test":
            m.info(f"+{kind}: (0-2)")
        elif op.kind == "read":
            n = m.settings.reg_urc[kind]
            extra = ',"00C3","0F2A1B",7' if n >= 2 and m.reg_stat in (1, 5) else ""
            m.info(f"+{kind}: {n},{m.reg_stat}{extra}")
        else:
            value = op.int_arg(0, 0)
            if value not in (0, 1, 2):
                raise CmdError(cme=50)
            m.settings.reg_urc[kind] = value


for _kind in ("CREG", "CEREG", "CGREG"):
    _registration(_kind)


@handles("+COPS")
def cops(m: EmulatedModem, op: Op) -> None:
    if op.kind == "test":
        m.info(f'+COPS: (2,"{m.script.operator}","Emul","00101",7),,(0-4),(0-2)')
    elif op.kind == "read":
        m.info(f'+COPS: 0,0,"{m.script.operator}",7' if m.reg_stat in (1, 5) else "+COPS: 0")


@handles("+CSCS")
def cscs(m: EmulatedModem, op: Op) -> None:
    if op.kind == "test":
        m.info('+CSCS: ("IRA","GSM","UCS2")')
    elif op.kind == "read":
        m.info(f'+CSCS: "{m.settings.cscs}"')
    else:
        value = (split_args(op.args) or [""])[0].upper()
        if value not in ("IRA", "GSM", "UCS2"):
            raise CmdError(cme=4)
        m.settings.cscs = value


@handles("+CLIP", "+CRC", "+COLP", "+CVHU", "+CSSN", "+CMOD", "+CBST")
def flags(m: EmulatedModem, op: Op) -> None:
    name = op.name[1:].lower()
    if op.kind == "test":
        m.info(f"{op.name}: (0-1)")
        return
    if op.kind == "read":
        m.info(f"{op.name}: {int(bool(getattr(m.settings, name, False)))}")
        return
    if hasattr(m.settings, name):
        setattr(m.settings, name, op.int_arg(0, 0) == 1)


@handles("+CLAC")
def clac(m: EmulatedModem, op: Op) -> None:
    from appliance.drivers.emulators.gsm.device import HANDLERS, VENDOR_NAMES

    # Only what this module answers: other families' vendor commands are not listed (clients
    # such as python-gsmmodem pick their call-state table from +CLAC: +WIND, ^DTMF, +ZPAS).
    names = sorted(n for n in HANDLERS if n not in VENDOR_NAMES or n in m.dialect.vendor_commands)
    # Huawei E1752 ends each +CLAC line with \r\r\n (research/modems.md 0.1)
    end = b"\r\r\n" if m.dialect.family == "huawei" else b"\r\n"
    m.write(b"\r\n" + b"".join(("AT" + n).encode() + end for n in names))


# Vendor switches: accepted by the dialects that list them (see dialect.py).
@handles("+MORING")
def moring(m: EmulatedModem, op: Op) -> None:
    m.settings.moring = _flag(op, m.settings.moring)


@handles("+DDET")
def ddet(m: EmulatedModem, op: Op) -> None:
    m.settings.ddet = _flag(op, m.settings.ddet)


@handles("^DSCI")
def dsci(m: EmulatedModem, op: Op) -> None:
    m.settings.dsci = _flag(op, m.settings.dsci)


@handles("+QTONEDET")
def qtonedet(m: EmulatedModem, op: Op) -> None:
    m.settings.qtonedet = _flag(op, m.settings.qtonedet)


@handles("^CVOICE")
def cvoice(m: EmulatedModem, op: Op) -> None:
    if op.kind == "read":
        m.info("^CVOICE: 0,8000,16,20")
    elif op.kind == "test":
        m.info("^CVOICE: (0)")


@handles("^CURC", "^U2DIAG", "+QURCCFG", "+CDTAM", "+CSQN")
def vendor_accepted(m: EmulatedModem, op: Op) -> None:
    """Vendor settings the emulator accepts without modelling."""


@handles("+WIND")
def wind(m: EmulatedModem, op: Op) -> None:
    """Wavecom general indications: a bitmap of the +WIND: <event> URCs wanted."""
    if op.kind == "test":
        m.info("+WIND: (0-4095)")
    elif op.kind == "read":
        m.info(f"+WIND: {m.settings.wind}")
    else:
        value = op.int_arg(0, 0)
        if not 0 <= value <= 4095:
            raise CmdError(cme=3)
        m.settings.wind = value


@handles("+UCALLSTAT")
def ucallstat(m: EmulatedModem, op: Op) -> None:
    if op.kind == "test":
        m.info("+UCALLSTAT: (0-1)")
    elif op.kind == "read":
        m.info(f"+UCALLSTAT: {int(m.settings.ucallstat)}")
    else:
        m.settings.ucallstat = op.int_arg(0, 0) == 1


@handles("+UDTMFD")
def udtmfd(m: EmulatedModem, op: Op) -> None:
    """u-blox DTMF detection: +UUDTMFD: <key> for each key the far end presses."""
    m.settings.udtmfd = _flag(op, m.settings.udtmfd)


@handles("+ZPAS")
def zpas(m: EmulatedModem, op: Op) -> None:
    """ZTE bearer query: answered with a +BEARTYPE line (research/modems.md 3.10)."""
    if op.kind == "read":
        m.info('+BEARTYPE: "UMTS","CS_PS"' if m.reg_stat in (1, 5) else '+BEARTYPE: "NO SERVICE"')


@handles("+ZOPRT")
def zoprt(m: EmulatedModem, op: Op) -> None:
    """ZTE operating mode (accepted, not modelled)."""
    if op.kind == "read":
        m.info("+ZOPRT: 5")
