"""The emulated module: V.250 command-line parsing, result formatting, boot, failure switches.

Input is framed with the drivers' own ``CommandFramer``. A command line is ``AT`` followed by
basic commands (``E0``, ``V1``, ``Z``, ``&F``, ``D...``, ``S0=1``) and extended ones (``+CREG=2``,
``^DSCI=1``) separated by ``;``; each extended command has the four forms exec, ``=`` set,
``?`` read and ``=?`` test. Results follow ATE/ATV/AT+CMEE like a real module: echo of the line,
``\\r\\n<info>\\r\\n`` and ``\\r\\nOK\\r\\n`` under V1, ``<info>\\r\\n`` and ``0\\r`` under V0.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from appliance.drivers.at.codes import CME_TEXT, CMS_TEXT
from appliance.drivers.at.framing import CommandFramer, InputKind
from appliance.drivers.emulators.gsm.dialect import Dialect
from appliance.drivers.emulators.gsm.journal import Journal
from appliance.drivers.emulators.gsm.script import Reply, Script
from appliance.drivers.emulators.pty import PtyPort

log = logging.getLogger(__name__)

#: Seconds between bursts of line noise (real time: it is the line's, not the script's).
NOISE_PERIOD = 0.05

_V0 = {
    "OK": "0",
    "CONNECT": "1",
    "RING": "2",
    "NO CARRIER": "3",
    "ERROR": "4",
    "NO DIALTONE": "6",
    "BUSY": "7",
    "NO ANSWER": "8",
}


class CmdError(Exception):
    """A command failed: +CME ERROR (27.007), +CMS ERROR (27.005) or plain ERROR."""

    def __init__(self, cme: int | None = None, cms: int | None = None) -> None:
        super().__init__(cme if cme is not None else cms)
        self.cme = cme
        self.cms = cms


class ResultLater(Exception):
    """The command's final result comes later: after the prompt body (``+CMGS``), or when the
    call is answered or fails (``ATD`` under ``+COLP=1``)."""


@dataclass(frozen=True, slots=True)
class Op:
    name: str  # "+CREG", "^DSCI", "E", "&F", "D", "S0"
    kind: str  # exec | set | read | test
    args: str = ""

    def int_arg(self, i: int = 0, default: int | None = None) -> int:
        values = split_args(self.args)
        try:
            return int(values[i])
        except (IndexError, ValueError):
            if default is None:
                raise CmdError(cme=50) from None
            return default


def split_args(args: str) -> list[str]:
    """``2,"SM", 5`` -> ["2", "SM", "5"]: commas outside quotes, quotes removed."""
    out: list[str] = []
    cur: list[str] = []
    quoted = False
    for ch in args:
        if ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    if cur or out:
        out.append("".join(cur).strip())
    return out


def parse_line(body: str) -> list[Op]:
    """Split what follows ``AT`` into commands (V.250 5.2); ``D`` takes the rest of the line."""
    ops: list[Op] = []
    i, n = 0, len(body)
    while i < n:
        c = body[i]
        if c in " ;":
            i += 1
        elif c in "+^$%#*!":
            j = i + 1
            while j < n and (body[j].isalnum() or body[j] == "_"):
                j += 1
            k, quoted = j, False
            while k < n and (quoted or body[k] != ";"):
                quoted ^= body[k] == '"'
                k += 1
            ops.append(_extended(body[i:j].upper(), body[j:k]))
            i = k
        elif c.upper() == "D":
            ops.append(Op("D", "exec", body[i + 1 :].strip()))
            break
        else:
            j = i + 1
            name = c.upper()
            if c == "&" and j < n:
                name, j = "&" + body[j].upper(), j + 1
            if name == "S":
                while j < n and body[j].isdigit():
                    j += 1
                name, start = "S" + body[i + 1 : j], j
                if j < n and body[j] == "?":
                    ops.append(Op(name, "read"))
                    i = j + 1
                    continue
                if j < n and body[j] == "=":
                    j += 1
                    start = j
                while j < n and body[j].isdigit():
                    j += 1
                ops.append(Op(name, "set", body[start:j]))
                i = j
                continue
            start = j
            while j < n and body[j].isdigit():
                j += 1
            if j < n and body[j] == "?":
                ops.append(Op(name, "read"))
                j += 1
            else:
                ops.append(Op(name, "exec", body[start:j]))
            i = j
    return ops


def _extended(name: str, rest: str) -> Op:
    if rest.startswith("=?"):
        return Op(name, "test")
    if rest.startswith("?"):
        return Op(name, "read")
    if rest.startswith("="):
        return Op(name, "set", rest[1:])
    return Op(name, "exec", rest)


@dataclass(slots=True)
class Settings:
    """Everything AT&F/ATZ resets."""

    echo: bool = True  # modules ship with echo on (research/modems.md 3.9)
    verbose: bool = True
    cmee: int = 0
    cmgf: int = 0
    cscs: str = "IRA"
    reg_urc: dict[str, int] = field(default_factory=lambda: {"CREG": 0, "CEREG": 0, "CGREG": 0})
    clip: bool = False
    crc: bool = False
    colp: bool = False
    clcc_urc: bool = False
    moring: bool = False
    ddet: bool = False
    dsci: bool = False
    qtonedet: bool = False
    wind: int = 0  # Wavecom +WIND indication bitmap (2 remote ringing, 16 created, 32 released)
    ucallstat: bool = False  # u-blox +UCALLSTAT URCs
    udtmfd: bool = False  # u-blox +UUDTMFD URCs (DTMF detection)
    cnmi: tuple[int, int, int, int, int] = (0, 0, 0, 0, 0)
    csms: int = 0
    csmp: tuple[int, int, int, int] = (17, 167, 0, 0)
    s_regs: dict[int, int] = field(default_factory=lambda: {0: 0, 3: 13, 4: 10, 5: 8, 7: 60})


Handler = Callable[["EmulatedModem", Op], None]
HANDLERS: dict[str, Handler] = {}


def handles(*names: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        for name in names:
            HANDLERS[name] = fn
        return fn

    return register


class EmulatedModem:
    """One module behind one pty. Delays in the script are scaled by ``script.time_scale``."""

    def __init__(
        self, index: int, link: Path, dialect: Dialect, script: Script, seed: int = 0
    ) -> None:
        # The handler modules register themselves on import; they import this module.
        from appliance.drivers.emulators.gsm import commands, files, hold  # noqa: F401
        from appliance.drivers.emulators.gsm.audio import AudioSim
        from appliance.drivers.emulators.gsm.calls import CallSim
        from appliance.drivers.emulators.gsm.messages import SmsSim

        self.index = index
        self.dialect = dialect
        self.script = script
        self.rng = random.Random(seed * 1009 + index)
        self.port = PtyPort(link, self._on_bytes)
        self.framer = CommandFramer()
        self.settings = Settings()
        self.imei = f"{dialect.imei_prefix}{index:06d}"[:14]
        self.imei += str(_luhn(self.imei))
        self.imsi = f"0010100000{index:05d}"
        self.sim_state = "NOT READY"
        self.sim_busy_until = 0.0
        self.reg_stat = 0
        self.signal = script.signal
        self.booting = True
        self.silent = False
        self.garbage = False
        # Line noise: junk (random binary, lines of nonsense) every NOISE_PERIOD seconds, asked
        # or not, and commands drowned in it (never answered); see set_noise.
        self.noise = False
        self._noise_timer: asyncio.TimerHandle | None = None
        self.urc_in_cmgs = False
        self.cfun = script.cfun  # +CFUN <fun>: 1 full, 0/4 radio off (no registration)
        self._noise_next = 0  # the dialect's next noise URC (noise_urcs, in turn)
        # Seconds between deliveries of successive writes: the order of the modem's output is
        # kept but it reaches the host in pieces, as over a busy USB link (0: at once).
        self.lag = 0.0
        self._lagging: collections.deque[bytes] = collections.deque()
        self._lag_timer: asyncio.TimerHandle | None = None
        self.last_line = "AT"
        self.commands: list[str] = []  # every command line received (for tests)
        self.replies: list[Reply] = list(script.replies)
        self.on_prompt: Callable[[str, bool], None] | None = None
        self.registered = asyncio.Event()  # set once registered after a boot (for harnesses)
        self.journal: Journal | None = None  # every ATD and its call's fate (journal.py)
        self._timers: set[asyncio.TimerHandle] = set()
        self.calls = CallSim(self)
        self.sms = SmsSim(self)
        # The PCM audio port beside the AT port (audio.py): DIR/gsm<N>-audio.
        self.audio = AudioSim(self, link.with_name(f"{link.name}-audio"))
        # Raw bytes of a file upload in progress go here (files.py), not to the command framer;
        # it returns what follows the upload's last byte.
        self.data_sink: Callable[[bytes], bytes] | None = None
        # The module's flash (files.py): kept across reboots.
        self.files = files.FileStore(self)

    @property
    def name(self) -> str:
        """The modem's name: its link's (``gsm0``)."""
        return self.port.link.name

    # ------------------------------------------------------------------ time
    @property
    def now(self) -> float:
        return asyncio.get_running_loop().time()

    def later(self, delay: float, fn: Callable[[], None]) -> asyncio.TimerHandle:
        """Run ``fn`` after a scripted delay (scaled); cancelled by reboot and unplug."""
        loop = asyncio.get_running_loop()

        def fire() -> None:
            self._timers.discard(handle)
            fn()

        handle = loop.call_later(max(0.0, delay) * self.script.time_scale, fire)
        self._timers.add(handle)
        return handle

    def cancel_timers(self) -> None:
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
        if self._noise_timer is not None:
            self._noise_timer.cancel()
            self._noise_timer = None
        if self._lag_timer is not None:  # output not yet delivered is lost with the module
            self._lag_timer.cancel()
            self._lag_timer = None
        self._lagging.clear()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self.port.plug()
        self.audio.plug()
        self.boot()

    def stop(self) -> None:
        self.cancel_timers()
        self.port.unplug()
        self.audio.close()

    def boot(self) -> None:
        """Power-on: boot URCs, SIM, then registration, as a real module does."""
        self.booting = True
        self.settings = Settings()
        self.framer.reset()
        self.on_prompt = None
        self.reg_stat = 0
        self.cfun = self.script.cfun
        self.registered.clear()
        self.sim_state = "NOT READY"
        self.calls.drop("rebooted")
        self.audio.reset()
        self.files.abort()

        def booted() -> None:
            self.booting = False
            for urc in self.dialect.boot_urcs:
                self.urc(urc)
            if self.script.pin:
                self.sim_state = "SIM PIN"
                self.urc("+CPIN: SIM PIN")
            else:
                self.sim_ready()

        self.later(self.script.boot_time, booted)

    def sim_ready(self) -> None:
        self.sim_state = "READY"
        self.sim_busy_until = self.now + self.script.sim_busy_after_pin * self.script.time_scale
        for urc in self.dialect.ready_urcs:
            self.urc(urc)
        self.later(self.script.sim_busy_after_pin + 0.2, lambda: self.set_registration(1))

    def set_registration(self, stat: int) -> None:
        if self.cfun != 1 and stat in (1, 5):
            stat = 0  # the radio is off (AT+CFUN=0/4): no network
        self.reg_stat = stat
        if stat in (1, 5):
            self.registered.set()
        else:
            self.registered.clear()
        for kind, mode in self.settings.reg_urc.items():
            if mode == 1:
                self.urc(f"+{kind}: {stat}")
            elif mode >= 2:
                self.urc(
                    f'+{kind}: {stat},"00C3","0F2A1B",7' if stat in (1, 5) else f"+{kind}: {stat}"
                )

    def reboot(self) -> None:
        """AT+CFUN=1,1 or a brown-out: calls drop; Huawei sticks also leave the USB bus."""
        self.cancel_timers()
        if self.dialect.reboot_unplugs:
            self.port.unplug()
            self.audio.unplug()  # the whole stick leaves the bus, its audio port too
            self.calls.drop("rebooted")
            self.later(self.script.boot_time, self.port.plug)
            self.later(self.script.boot_time, self.audio.plug)
        self.boot()

    def brownout(self) -> None:
        """A restart that says nothing (supply dip, watchdog): calls drop and every setting
        (echo, +CMEE, +CNMI, +CLCC=1...) is back to its default, but no RDY and no ready URC
        comes; SIM and registration come back as they were."""
        self.cancel_timers()
        self.calls.drop("brown-out")
        self.audio.reset()
        self.files.abort()
        self.settings = Settings()
        self.framer.reset()
        self.on_prompt = None

    def unplug(self) -> None:
        self.cancel_timers()
        self.calls.drop("unplugged")
        self.port.unplug()
        self.audio.unplug()

    def replug(self) -> None:
        self.port.plug()
        self.audio.plug()
        self.boot()

    def set_noise(self, on: bool) -> None:
        """Line noise on or off (a broken cable, a wrong baud rate, a crashed firmware dumping)."""
        self.noise = on
        if on and self._noise_timer is None and self.port.plugged:
            self._noise_timer = asyncio.get_running_loop().call_later(NOISE_PERIOD, self._babble)
        elif not on and self._noise_timer is not None:
            self._noise_timer.cancel()
            self._noise_timer = None

    def _babble(self) -> None:
        self._noise_timer = None
        if not self.noise or not self.port.plugged:
            return
        rng = self.rng
        if rng.random() < 0.5:
            junk = bytes(rng.randrange(256) for _ in range(rng.randint(1, 40)))
        else:  # printable nonsense framed as lines: unknown "URCs"
            text = "".join(
                rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+:,# ") for _ in range(12)
            )
            junk = b"\r\n" + text.encode() + b"\r\n"
        self.port.write(junk)
        self._noise_timer = asyncio.get_running_loop().call_later(NOISE_PERIOD, self._babble)

    # ------------------------------------------------------------------ output
    def write(self, data: bytes) -> None:
        if self.silent:
            return
        if self.lag <= 0 and not self._lagging:
            self.port.write(data)
            return
        self._lagging.append(data)
        if self._lag_timer is None:
            self._lag_timer = asyncio.get_running_loop().call_later(self.lag, self._deliver)

    def _deliver(self) -> None:
        self._lag_timer = None
        if self._lagging:
            self.port.write(self._lagging.popleft())
        if self._lagging:
            self._lag_timer = asyncio.get_running_loop().call_later(self.lag, self._deliver)

    def info(self, text: str) -> None:
        raw = text.encode("latin-1", "replace")
        self.write(b"\r\n" + raw + b"\r\n" if self.settings.verbose else raw + b"\r\n")

    def result(self, name: str) -> None:
        if self.settings.verbose:
            self.write(b"\r\n" + name.encode() + b"\r\n")
        else:
            self.write(_V0.get(name, "4").encode() + b"\r")

    def urc(self, text: str) -> None:
        if self.booting and text not in self.dialect.boot_urcs:
            return
        self.write(b"\r\n" + text.encode("latin-1", "replace") + self.dialect.urc_end)

    def vendor_noise(self, count: int = 1) -> None:
        """The dialect's noise URCs (ZTE +ZDONR/+ZPASR), in turn, wherever the module is."""
        noise = self.dialect.noise_urcs
        for _ in range(count if noise else 0):
            text = noise[self._noise_next % len(noise)]
            self._noise_next += 1
            self.write(b"\r\n" + text.encode("latin-1", "replace") + self.dialect.urc_end)

    def error(self, exc: CmdError) -> None:
        mode = self.settings.cmee
        if exc.cms is not None:
            # 27.005: +CMS ERROR whatever +CMEE says; verbose text under CMEE=2.
            text = CMS_TEXT.get(exc.cms) if mode == 2 else None
            self.write(f"\r\n+CMS ERROR: {text or exc.cms}\r\n".encode())
        elif exc.cme is not None and mode == 1:
            self.write(f"\r\n+CME ERROR: {exc.cme}\r\n".encode())
        elif exc.cme is not None and mode == 2:
            self.write(f"\r\n+CME ERROR: {CME_TEXT.get(exc.cme, exc.cme)}\r\n".encode())
        else:
            self.result("ERROR")

    # ------------------------------------------------------------------ input
    def _on_bytes(self, data: bytes) -> None:
        if self.silent or self.booting or self.noise:
            return  # noise: the command is lost in it
        if self.data_sink is not None:
            data = self.data_sink(data)  # an upload's bytes (files.py); then commands again
            if not data:
                return
        if data and self.calls.abort_dial():
            return  # V.250 6.3.1: any character aborts a dial in progress; it is discarded
        for item in self.framer.feed(data):
            if item.kind in (InputKind.BODY, InputKind.CANCEL):
                handler, self.on_prompt = self.on_prompt, None
                if handler is not None:
                    handler(item.text, item.kind is InputKind.CANCEL)
                continue
            line = self.last_line if item.kind is InputKind.REPEAT else item.text
            if self.settings.echo:
                self.write(item.echo)
            if self.garbage:
                self.write(bytes(self.rng.randrange(256) for _ in range(self.rng.randint(5, 60))))
                continue
            self.last_line = line
            self.execute(line)

    def execute(self, line: str) -> None:
        if line[:2].upper() != "AT":
            return  # V.250: a line without the AT prefix is ignored
        self.commands.append(line)
        for reply in self.replies:
            if reply.command == line.upper():
                if reply.once:
                    self.replies.remove(reply)
                for text in reply.lines:
                    self.info(text)
                self.result(reply.final)
                return
        ops = parse_line(line[2:])
        if any(op.name in NOISY_COMMANDS for op in ops):
            self.vendor_noise()  # between the echo and the answer
        for op in ops:
            handler = HANDLERS.get(op.name)
            vendor = op.name[0] in "^+" and op.name in VENDOR_NAMES
            if handler is None or (vendor and op.name not in self.dialect.vendor_commands):
                # Huawei says COMMAND NOT SUPPORT for commands it does not know
                self.result(self.dialect.error_text if self.settings.verbose else "ERROR")
                return
            try:
                handler(self, op)
            except CmdError as exc:
                self.error(exc)
                return
            except ResultLater:
                return
        self.result("OK")

    def prompt(self, handler: Callable[[str, bool], None]) -> None:
        """Open the ``> `` text-entry prompt (no line end follows it: research/modems.md 2.1)."""
        self.on_prompt = handler
        self.framer.in_prompt = True
        if self.urc_in_cmgs:
            self.write(b"\r\n+CIEV: 2,3\r\n")
        self.write(b"\r\n> ")
        self.vendor_noise()  # between the prompt and the body (ZTE, python-gsmmodem #11)
        raise ResultLater

    def sim_check(self) -> None:
        """Commands that need the SIM fail while it is locked or busy (27.007 9.2)."""
        if self.sim_state == "SIM PIN":
            raise CmdError(cme=11)
        if self.sim_state != "READY" or self.now < self.sim_busy_until:
            raise CmdError(cme=14)


#: Commands a dialect with noise URCs interrupts between echo and answer: identification
#: (bare lines, where a driver that takes any line for the answer reads the noise as the IMEI),
#: registration, the message list. Not +CSQ: a client reading its first line (python-gsmmodem)
#: would fail its signal query on every poll, which real sticks do only now and then.
NOISY_COMMANDS = frozenset({"+CGSN", "+GSN", "+CIMI", "+CREG", "+COPS", "+CMGL"})

#: Names accepted only by the dialects that list them.
VENDOR_NAMES = frozenset(
    {
        "+MORING",
        "+DDET",
        "+CCMXPLAY",
        "+CDTAM",
        "+CSQN",
        "^DSCI",
        "+QTONEDET",
        "+QPSND",
        "+QURCCFG",
        "+QWDTMF",
        "^CVOICE",
        "^CURC",
        "^DTMF",
        "^DDSETEX",
        "^U2DIAG",
        "+CLAC",
        "+WIND",
        "+ZPAS",
        "+ZOPRT",
        "+UCALLSTAT",
        "+UDTMFD",
        "+QPCMV",
        "+CPCMREG",
        "+QFUPL",
        "+QFLST",
        "+QFDEL",
        "+QFLDS",
        "+FSCREATE",
        "+FSWRITE",
        "+FSDEL",
        "+FSLS",
        "+FSMEM",
        "+FSFLSIZE",
    }
)


def _luhn(digits: str) -> int:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            d -= 9 if d > 9 else 0
        total += d
    return (10 - total % 10) % 10
