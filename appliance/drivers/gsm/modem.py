"""The GSM/LTE modem driver: a ``Line`` over an AT session, with health and recovery (SPEC H2, H6).

Calls are placed and followed by ``voice.py``; calls ringing in are announced and answered by
``incoming.py`` (SPEC C14), then followed the same way; SMS by ``messaging.py``.

Lifecycle (`at.port_line.AtPortLine`): connect -> initialise (identify, pick profile, SIM,
registration, SMS routing) -> up.
A lost port marks the line down, fails the call in progress (ErrorOccurred) and reconnects with
back-off. A modem that stops answering (two command timeouts in a row) is probed with ``AT``,
then its port is reopened (the reset a host can do; ``reset_hook`` may power-cycle it). A boot
URC (``RDY``, ``^BOOT``) means the module restarted under us: re-initialise.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass

from appliance.drivers.at.codes import RETRYABLE_CME, FinalKind
from appliance.drivers.at.port_line import AtPortLine
from appliance.drivers.at.session import AtError, AtSession, AtTimeout, Command, LinkDown, Urc
from appliance.drivers.at.transport import PortError
from appliance.drivers.audio import AudioChannel
from appliance.drivers.gsm.audiopath import AudioPath
from appliance.drivers.gsm.calls import parse_clcc
from appliance.drivers.gsm.files import ModuleFiles
from appliance.drivers.gsm.incoming import Incoming
from appliance.drivers.gsm.messaging import Messaging
from appliance.drivers.gsm.profiles import (
    GENERIC,
    PROFILES,
    URC_TRACKING,
    CallTracking,
    Profile,
    dtmf_digit,
    select_profile,
)
from appliance.drivers.gsm.status import Registration, parse_cfun, parse_cops, parse_csq
from appliance.drivers.gsm.transfer import parse_chld
from appliance.drivers.gsm.voice import Voice
from appliance.drivers.line import (
    MIN_RING_TIMEOUT,
    CallResult,
    Capabilities,
    Dtmf,
    LineError,
    LineHealth,
    LineUnavailable,
    NotSupported,
    PhoneSeat,
    Seat,
    SmsResult,
    Timeouts,
)

log = logging.getLogger(__name__)


class LinkDownSim(Exception):
    """The SIM is absent, locked or not ready: the line cannot come up."""


class CallLeftUp(Exception):
    """A call stays up on the module whatever we send: the line cannot come up idle."""


#: Hang-ups tried at open before a call left on the module is reported (CallLeftUp).
IDLE_TRIES = 3

#: Silence after a +CPIN: line that ends AT+CPIN? on a module known to send no OK (seconds).
NO_OK_GRACE = 0.3


@dataclass(frozen=True, slots=True)
class Identity:
    manufacturer: str = ""
    model: str = ""
    revision: str = ""
    imei: str = ""
    imsi: str = ""


class GsmModem(AtPortLine):
    """One GSM/LTE module on one AT port."""

    RECOVERABLE = (*AtPortLine.RECOVERABLE, LinkDownSim, CallLeftUp)

    def __init__(
        self,
        url: str,
        *,
        name: str | None = None,
        pin: str | None = None,
        profile: str | None = None,
        baudrate: int = 115200,
        timeouts: Timeouts | None = None,
        poll_interval: float = 0.5,
        health_interval: float = 30.0,
        backoff: tuple[float, float] = (0.5, 30.0),
        sim_wait: float = 20.0,
        min_ring_timeout: float = MIN_RING_TIMEOUT,
        sms_mode: str = "pdu",
        sms_direct: bool = False,
        reset_hook: Callable[[], Awaitable[None]] | None = None,
        audio: str | None = None,
    ) -> None:
        super().__init__(
            url,
            name=name or url,
            baudrate=baudrate,
            timeouts=timeouts,
            health_interval=health_interval,
            backoff=backoff,
            reset_hook=reset_hook,
        )
        self.pin = pin
        self.forced_profile = PROFILES[profile] if profile else None
        self.profile: Profile = self.forced_profile or GENERIC
        self.poll_interval = poll_interval
        self.sim_wait = sim_wait
        self.min_ring_timeout = min_ring_timeout
        self.sms_mode = sms_mode
        self.sms_direct = sms_direct
        self.identity = Identity()
        self.registration = Registration()
        self._sim = "unknown"
        self._signal: int | None = None
        self._operator: str | None = None
        self.call_hold: frozenset[str] = frozenset()  # what AT+CHLD=? offers (27.007 7.13)
        self._echoes_at_up = 0  # the session's echo count when the line came up
        # Quirks met on this module that its profile does not declare (profiles.QUIRKS), with
        # what showed them; kept across re-initialisation while the IMEI stays the same.
        self.learned: dict[str, str] = {}
        self.voice = Voice(self)
        self.incoming = Incoming(self, self.voice)
        self.voice.blocked = self.incoming.busy  # no dial while a call rings in
        self.sms = Messaging(self)
        # The module's PCM audio port (lines[].audio), opened with the line (audiopath.py).
        self.audio_path = AudioPath(self, audio, baudrate)
        # Prompts uploaded to the module's own storage, for playback (#24, files.py).
        self.files = ModuleFiles(self, baudrate // 10)

    # ------------------------------------------------------------------ Line: lifecycle
    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            voice=True,
            sms=True,
            dtmf_detect=self.profile.dtmf_detect,
            dtmf_send=self.profile.dtmf_send is not None,
            playback=self.profile.playback is not None,
            answer=True,
            audio=self.audio_path.ready,
        )

    @property
    def audio(self) -> AudioChannel | None:
        channel = self.audio_path.channel
        return channel if channel is not None and channel.active else None

    def describe_audio(self) -> str:
        return self.audio_path.describe()

    @property
    def command_timeout(self) -> float:
        return self.timeouts.command

    async def close(self) -> None:
        await super().close()
        self.audio_path.close()

    def health(self) -> LineHealth:
        return LineHealth(
            up=self._up,
            registered=self.registration.registered,
            registration=self.registration.describe(),
            signal_dbm=self._signal,
            sim=self._sim,
            operator=self._operator,
            last_error=self._last_error,
        )

    # ------------------------------------------------------------------ Line: calls, SMS
    async def dial(self, number: str, ring_timeout: float = 25.0) -> CallResult:
        if not self._up:
            raise LineUnavailable(f"{self.name}: line is down ({self._last_error or 'not open'})")
        try:
            result = await self.voice.dial(number, max(ring_timeout, self.min_ring_timeout))
            await self._audio_for(result)
            return result
        finally:
            self._check_responsive()

    async def answer(self) -> CallResult:
        if not self._up:
            raise LineUnavailable(f"{self.name}: line is down ({self._last_error or 'not open'})")
        try:
            result = await self.incoming.answer()
            await self._audio_for(result)
            return result
        finally:
            self._check_responsive()

    async def _audio_for(self, result: CallResult) -> None:
        """An answered call gets its audio before the engine hears of the answer."""
        call = self.voice.call
        if result.answered and not result.ended and call is not None:
            await self.audio_path.start(call)

    async def hang_up(self) -> CallResult | None:
        return await self.voice.hang_up()

    async def wait_call_end(self, timeout: float | None = None) -> CallResult | None:
        return await self.voice.wait_end(timeout)

    async def send_dtmf(self, digits: str) -> None:
        await self.voice.send_dtmf(digits)

    async def play(self, message: str) -> None:
        if self.profile.playback is None:
            raise NotSupported(f"{self.name}: {self.profile.name} modules cannot play messages")
        try:
            await self.session.check(
                Command(self.profile.playback.format(file=message), timeout=self.timeouts.command)
            )
        except (AtError, AtTimeout, LinkDown) as exc:  # the call's end then tells the rest
            for name in list(self.files.stored):  # a file we stored, lost: uploaded again next
                if self.files.play_name(name) == message:
                    self.files.forget(name)
            raise LineError(f"{self.name}: playing {message}: {exc}") from exc

    async def store_prompt(self, name: str, wav: bytes) -> str:
        if self.profile.playback is None:
            raise NotSupported(f"{self.name}: {self.profile.name} modules cannot play messages")
        if not self._up:
            raise LineUnavailable(f"{self.name}: line is down ({self._last_error or 'not open'})")
        try:
            return await self.files.store(name, wav)
        finally:
            self._check_responsive()

    # ------------------------------------------------------------------ Line: agent seats
    @property
    def transfers(self) -> bool:
        """An answered call can be handed to a phone by explicit call transfer: the profile
        can follow two calls and the module offers ``+CHLD=4`` (whether the network allows it
        shows only when it is tried: ``+CME ERROR: 3``)."""
        return self.profile.ect and "4" in self.call_hold

    def can_reach(self, seat: Seat) -> bool:
        return isinstance(seat, PhoneSeat) and self.transfers

    def describe_conference(self) -> str:
        """Why a supervisor cannot join (SPEC A6): the agent's call leaves the module by ECT."""
        return (
            "a GSM line hands its call to the agent's phone by explicit call transfer "
            "(AT+CHLD=4): the network then carries the call and the module has none left to add "
            "a supervisor to; a barge-in by multiparty (AT+CHLD=3) would keep the customer and "
            "the agent on the module for the whole talk, which this box does not do"
        )

    async def connect(self, seat: Seat, timeout: float) -> None:
        if not isinstance(seat, PhoneSeat):
            raise NotSupported(f"{self.name}: a GSM line reaches agents by phone, not {seat.name}")
        if not self.transfers:
            offered = ",".join(sorted(self.call_hold)) or "nothing"
            raise NotSupported(
                f"{self.name}: no explicit call transfer on this module "
                f"(profile {self.profile.name}, AT+CHLD=? offers {offered})"
            )
        if not self._up:
            raise LineUnavailable(f"{self.name}: line is down ({self._last_error or 'not open'})")
        try:
            await self.voice.connect(seat.number, timeout)
        finally:
            self._check_responsive()

    async def send_sms(self, number: str, text: str) -> SmsResult:
        if not self._up:
            raise LineUnavailable(f"{self.name}: line is down ({self._last_error or 'not open'})")
        try:
            return await self.sms.send(number, text)
        finally:
            self._check_responsive()

    # ------------------------------------------------------------------ quirks
    def has_quirk(self, name: str) -> bool:
        return name in self.profile.quirks or name in self.learned

    def learn(self, name: str, why: str) -> None:
        """Remember a quirk met on this module (gammu-style flags, learnt instead of listed)."""
        if not self.has_quirk(name):
            log.warning("%s: module quirk %s learnt: %s", self.name, name, why)
            self.learned[name] = why

    def quirks(self) -> dict[str, str]:
        """Every quirk in force: ``profile`` when the family declares it, else what showed it."""
        out = {name: "profile" for name in self.profile.quirks}
        out.update({k: f"learnt: {v}" for k, v in self.learned.items() if k not in out})
        return out

    def call_progress(self) -> str:
        """How calls are followed on this module (the strategy in force, after verification)."""
        tracking = self.profile.call_tracking
        if tracking in URC_TRACKING and not self.has_quirk("call-urcs-silent"):
            how = f"{tracking.value} indications (checked within the first second; +CLCC as " \
                "the fallback and, once answered, the safety net)"  # fmt: skip
        elif self.voice.clcc_ok is False:
            how = "final result codes only (+CLCC refused); ring timeout from ATD"
        else:
            how = "+CLCC polling"
        if self.has_quirk("atd-held"):
            how += "; ATD's result withheld until answer: deadlines run meanwhile, aborted by " \
                "one character"  # fmt: skip
        return how

    def probe_report(self) -> dict[str, object]:
        """What ``dialbox lines probe`` prints."""
        health = self.health()
        return {
            **asdict(self.identity),
            "sim": health.sim,
            "registered": health.registered,
            "registration": health.registration,
            "operator": health.operator,
            "signal_dbm": health.signal_dbm,
            "profile": self.profile.name,
            "call_hold": sorted(self.call_hold),
            "agent_transfer": self.transfers,
            "call_progress": self.call_progress(),
            "quirks": self.quirks(),
            "audio": self.audio_path.describe(),
        }

    # ------------------------------------------------------------------ AtPortLine
    def _attach(self, session: AtSession) -> None:
        session.add_urc_listener(self._on_urc)

    def _call_lost(self, reason: str) -> None:
        self.incoming.line_down(reason)
        self.voice.line_down(reason)

    async def _end_call(self) -> None:
        if self.voice.call is not None:
            await self.voice.hang_up()

    async def _poll_health(self) -> None:
        await self._refresh_status()
        lost = await self._settings_lost()
        if lost is not None and self._up:
            # A module that restarts without a boot URC (a brown-out, a watchdog reset, some
            # firmware after AT+CFUN) forgets ATE0, +CMEE, +CNMI, +CLCC=1...: re-initialise.
            log.warning("%s: module settings lost (%s): re-initialising", self.name, lost)
            self._set_down(f"modem reset its settings ({lost})")
            self._start_recovery(reopen=False)

    async def _settings_lost(self) -> str | None:
        """Whether the module forgot what ``_initialise`` set, by two cheap signs: its echo
        back on (ATE0 is sent at every open), and ``+CNMI`` no longer the setting chosen."""
        session = self.session
        if session.echoes > self._echoes_at_up:
            return "echo back on"
        if self.sms.cnmi is None or self.voice.call is not None:
            return None  # no query during a call: the port is the call's (+CLCC polls)
        response = await session.run(self._cmd("AT+CNMI?"))
        values = response.values("+CNMI:") if response.ok else []
        if not values:
            return None  # not asked this way on this module: nothing to compare
        now = [v.strip() for v in values[0].split(",")]
        chosen = self.sms.cnmi.split(",")
        if now[: len(chosen)] != chosen:
            return f"+CNMI: {values[0]}, set {self.sms.cnmi}"
        return None

    def _why(self, exc: BaseException) -> str:
        return _why(self.url, exc)

    # ------------------------------------------------------------------ connect + init
    async def _initialise(self) -> None:
        session = self.session
        self.files.forget()  # a module (re)started, or another one on the port: upload again
        await self._sync()
        # ATZ can turn echo back on, so E0 comes after it (research/modems.md 3.9).
        await session.check(self._cmd("ATE0"))
        await session.check(self._cmd("ATV1"))
        await session.run(self._cmd("AT+CMEE=1"))
        previous = self.identity.imei
        self.identity = Identity(
            manufacturer=await self._ident("AT+CGMI"),
            model=await self._ident("AT+CGMM"),
            revision=await self._ident("AT+CGMR"),
            imei=await self._ident("AT+CGSN"),
        )
        if self.identity.imei != previous and (self.learned or self.voice.clcc_ok is not None):
            log.info("%s: another module (IMEI %s): learnt quirks forgotten", self.name,
                     self.identity.imei)  # fmt: skip
            self.learned = {}
            self.voice.clcc_ok = None
        self.profile = self.forced_profile or select_profile(
            self.identity.manufacturer, self.identity.model
        )
        log.info(
            "%s: %s %s -> profile %s",
            self.name,
            self.identity.manufacturer,
            self.identity.model,
            self.profile.name,
        )
        await self._radio_on()
        await self._unlock_sim()
        imsi = await self._ident("AT+CIMI")
        self.identity = Identity(**{**asdict(self.identity), "imsi": imsi})
        for text in ("AT+CREG=2", "AT+CEREG=2", "AT+COPS=3,0", "AT+CLIP=1", "AT+CRC=1"):
            await session.run(self._cmd(text))
        if self.profile is GENERIC and (await session.run(self._cmd("AT+CLCC=1"))).ok:
            self.profile = _with_clcc_urcs(GENERIC)  # a 27.007 module that pushes +CLCC
        for text in self.profile.init:
            response = await session.run(self._cmd(text))
            if not response.ok:
                log.info("%s: %s -> %s (tolerated)", self.name, text, response.final.text)
        await self._ensure_idle()
        chld = await session.run(self._cmd("AT+CHLD=?"))
        values = chld.values("+CHLD:") if chld.ok else []
        self.call_hold = parse_chld(values[0]) if values else frozenset()
        await self.sms.setup()
        await self._refresh_status()
        await self._await_registration()
        with contextlib.suppress(AtTimeout, AtError):
            await self.sms.sweep()
        self._echoes_at_up = session.echoes
        await self.audio_path.open()  # again after a reconnect (a Huawei stick re-enumerates)
        self._set_up()

    async def _ensure_idle(self) -> None:
        """End any call left up on the module. Closing the port does not end a call: after the
        daemon was killed mid-call (or the port was lost and reopened) the module still has
        it, and the next ATD meets +CME ERROR: 3 or holds it. So every open hangs up with the
        profile's command (AT+CHUP; ATH too from the second try: it needs AT+CVHU=0, sent
        with the profile's init, on SIMCom/Quectel) and checks that +CLCC lists no call."""
        session = self.session
        found = await self._calls_listed()
        if found and all(_ringing_in(value) for value in found):
            # a caller is ringing us (the line reopened while it rang): not a call left up,
            # and AT+CHUP would reject it; its next RING announces it once the line is up
            log.info("%s: a call rings in at open: +CLCC: %s", self.name, "; ".join(found))
            return
        listed = found
        for attempt in range(IDLE_TRIES):
            for text in (self.profile.hang_up, "ATH")[: 1 + min(attempt, 1)]:
                response = await session.run(Command(text, timeout=self.timeouts.hang_up))
                if not response.ok:
                    log.debug("%s: %s at open -> %s", self.name, text, response.final.text)
            listed = await self._calls_listed()
            if not listed:  # none left (None: no +CLCC here, the hang-up is all we can do)
                if found:
                    log.warning("%s: ended a call left up on the module: +CLCC: %s", self.name,
                                "; ".join(found))  # fmt: skip
                return
            log.info("%s: call(s) still up at open: %s", self.name, "; ".join(listed))
        assert listed
        raise CallLeftUp(f"a call stays up after {self.profile.hang_up}/ATH: +CLCC: {listed[0]}")

    async def _calls_listed(self) -> list[str] | None:
        """The ``+CLCC`` rows (27.007 7.18); None when the module does not answer it."""
        response = await self.session.run(self._cmd("AT+CLCC"))
        return response.values("+CLCC:") if response.ok else None

    async def _ident(self, text: str) -> str:
        response = await self.session.run(self._cmd(text, bare=True))
        if not response.ok or not response.lines:
            return ""
        prefix = text[2:] + ":"
        line = response.lines[0]
        # +CGMI: COMWAY style prefixed identification (research/modems.md 3.10)
        return line[len(prefix) :].strip().strip('"') if line.upper().startswith(prefix) else line

    async def _unlock_sim(self) -> None:
        """+CPIN? with retries while the SIM is busy (CME 14/515); enter the PIN once only."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.sim_wait
        pin_sent = False
        delay = 0.1
        while True:
            # Wavecom answers +CPIN: READY and no OK (gammu's CPINNoOK): the line is taken as
            # the answer, at once where the quirk is known, else when the OK never comes.
            known = self.has_quirk("cpin-no-ok")
            cpin = Command(
                "AT+CPIN?",
                timeout=self.timeouts.command,
                ok_optional=True,
                grace=min(NO_OK_GRACE, self.timeouts.command) if known else None,
            )
            response = await self.session.run(cpin)
            if response.implied and not known:
                self.learn("cpin-no-ok", f"AT+CPIN? -> {'; '.join(response.lines)} and no OK")
            values = response.values("+CPIN:")
            if values:
                self._sim = values[0].strip().strip('"')
            if response.ok:
                if self._sim == "READY":
                    return
                if self._sim == "SIM PIN" and self.pin and not pin_sent:
                    pin_sent = True  # never retry a PIN: three wrong tries lock the SIM (PUK)
                    await self.session.check(self._cmd(f'AT+CPIN="{self.pin}"'))
                    continue
                if self._sim in ("SIM PIN", "SIM PUK", "PH-SIM PIN", "SIM PIN2", "SIM PUK2"):
                    hint = " (set the line's PIN in the config)" if self._sim == "SIM PIN" else ""
                    raise LinkDownSim(f"SIM asks for {self._sim}{hint}")
            elif response.final.kind is FinalKind.CME and response.final.code == 10:
                self._sim = "NOT INSERTED"
                raise LinkDownSim("no SIM inserted")
            elif not (
                response.final.kind is FinalKind.CME and response.final.code in RETRYABLE_CME
            ):
                response.check()
            if loop.time() > deadline:
                raise LinkDownSim(f"SIM not ready after {self.sim_wait:g} s ({self._sim})")
            await asyncio.sleep(delay)  # back-off while the SIM initialises (CME 14 / 515)
            delay = min(delay * 2, 2.0)

    async def _radio_on(self) -> None:
        """A module left in minimum functionality or flight mode (``+CFUN: 0``/``4``: seen at
        boot on Qualcomm sticks, python-gsmmodem #11) never registers: ``AT+CFUN=1``. An
        answer that is not a state (ZTE: the test form's ranges) or an error is tolerated:
        registration then tells."""
        response = await self.session.run(self._cmd("AT+CFUN?"))
        values = response.values("+CFUN:") if response.ok else []
        fun = parse_cfun(values[0]) if values else None
        if fun is None:
            if values:
                log.info("%s: AT+CFUN? -> %s: not a state (tolerated)", self.name, values[0])
            return
        if fun != 1:
            log.warning("%s: radio off (+CFUN: %d); AT+CFUN=1", self.name, fun)
            on = await self.session.run(Command("AT+CFUN=1", timeout=self.timeouts.register))
            if not on.ok:
                log.warning("%s: AT+CFUN=1 -> %s", self.name, on.final.text)

    async def _await_registration(self) -> None:
        """A module that just booted registers some seconds after its SIM is ready; a dial
        before that meets +CME ERROR: 30 and spends a contact's attempt. So the line comes up
        once registered, or after `timeouts.register` at most (then it is up, says it is not
        registered, and the pool gives it no calls until it is). Registration denied, or
        never reported, ends the wait at once."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeouts.register
        step = min(0.5, self.timeouts.register / 20)
        while (
            self.registration.stats
            and not self.registration.registered
            and 3 not in self.registration.stats.values()
            and loop.time() < deadline
        ):
            await asyncio.sleep(step)  # polling the module, as _unlock_sim does
            for text in ("AT+CREG?", "AT+CEREG?"):
                response = await self.session.run(self._cmd(text))
                for value in response.values(text[2:-1] + ":"):
                    self.registration.update(text[3:-1], value, solicited=True)
        if not self.registration.registered:
            log.warning(
                "%s: not registered to a network (%s)", self.name, self.registration.describe()
            )

    async def _refresh_status(self) -> None:
        session = self.session
        for text in ("AT+CREG?", "AT+CEREG?", "AT+CGREG?"):
            response = await session.run(self._cmd(text))
            for value in response.values(text[2:-1] + ":"):
                self.registration.update(text[3:-1], value, solicited=True)
        csq = await session.run(self._cmd("AT+CSQ"))
        for value in csq.values("+CSQ:"):
            self._signal = parse_csq(value)
        cops = await session.run(self._cmd("AT+COPS?"))
        for value in cops.values("+COPS:"):
            self._operator = parse_cops(value)

    # ------------------------------------------------------------------ URCs
    def _on_urc(self, urc: Urc) -> None:
        name = urc.name.upper()
        if urc.text in self.profile.ready_urcs or name in self.profile.ready_urcs:
            if self._up:
                log.warning("%s: modem restarted (%s)", self.name, urc.text)
                self._set_down(f"modem restarted ({urc.text})")
                self._start_recovery(reopen=False)
            return
        if name in ("+CREG", "+CEREG", "+CGREG"):
            self.registration.update(name[1:], urc.value, solicited=False)
            return
        if name == "+CPIN":
            self._sim = urc.value.strip('"')
            return
        if name in self.profile.dtmf_urcs:
            digit = dtmf_digit(self.profile, urc.value)
            if digit:
                self.emit(Dtmf(self.name, digit))
            return
        # Calls ringing in count from the line being up: one that rings while the line is
        # (re)initialised is announced by its next RING, when it can be answered.
        if self._up and self.incoming.on_urc(urc):
            return
        if self.voice.on_urc(urc) or self.sms.on_urc(urc):
            return
        log.debug("%s: ignored URC %r", self.name, urc.text)


def _ringing_in(value: str) -> bool:
    """A ``+CLCC`` row of a call ringing in (27.007 7.18: direction 1, stat 4 or 5)."""
    row = parse_clcc(value)
    return row is not None and not row.outgoing and row.stat in (4, 5)


def _with_clcc_urcs(profile: Profile) -> Profile:
    from dataclasses import replace

    return replace(profile, call_tracking=CallTracking.CLCC_URC)


def _why(url: str, exc: BaseException) -> str:
    if isinstance(exc, PortError):
        return str(exc)
    if isinstance(exc, AtTimeout):
        return (
            f"{url}: the port opened but nothing answers AT ({exc}); wrong port (on "
            "Quectel/SIMCom the AT port is interface 02), wrong baud rate, or modem off"
        )
    if isinstance(exc, LinkDownSim):
        return f"{url}: SIM problem: {exc}"
    return f"{url}: modem initialisation failed: {exc}"
