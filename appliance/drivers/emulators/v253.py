"""An emulated V.253 voice modem (Conexant CX93001 flavour) on a pseudo-terminal.

It answers like a real analog voice modem to any client: V.250 basics (``ATZ``, ``ATE``, ``ATV``,
``ATI3``, ``+GMI/+GMM/+GMR``), ``+FCLASS=8`` voice mode, ``+VLS``, ``+VSM``, ``+VSD``, ``+VRA``,
``+VRN``, gains, ``+VTS``, ``ATD`` with call progress reported as DLE-shielded events
(research/modems.md 2.11): ``<DLE>r`` ringback every 6 s while the callee's phone rings, ``<DLE>b``
busy, ``<DLE>J`` SIT (number not in service), ``<DLE>a`` a fax's answer tone, ``<DLE>q`` quiet
after the ringback stops; ``VCON`` once the modem presumes the far end answered (ringback gone
for ``+VRA``, or never came within ``+VRN``), ``BUSY``, ``NO ANSWER``, ``NO DIALTONE``. During an
answered call the callee's keys come as ``<DLE><digit>``; a far-end hang-up is ``<DLE>l`` (loop
current interrupted) then ``<DLE>b`` (the exchange's busy tone) until the host goes on hook.
``AT+VTX`` answers ``CONNECT`` and plays shielded audio until ``<DLE><ETX>``.

Sound (#24): ``AT+VSM=<cml>,8000`` picks the stream's format (128/130 8-bit linear unsigned, and
140 16-bit linear little-endian where ``wide``); ``AT+VRX`` (receive, ended by ``<DLE>!``) and
``AT+VTR`` (full duplex, ended by ``<DLE>^``; refused by a ``duplex=False`` modem, the half-duplex
dialect) stream the far end's scripted sound (``sound``: a named source of ``sounds.py``,
``tone:<Hz>``, ``file:<wav>``) at real time times ``audio_speed``, DLE-shielded, with the events
of the call (keys, ``<DLE>l`` at the far end's hang-up) inside the stream; the source starts with
the call's first stream and is followed by silence. What the host sends (``+VTX``, ``+VTR``) is
kept unshielded in ``played``; ``captured_pcm()`` gives it as s16le. Hostile: ``stalled`` stops
the stream's bytes, ``inject`` writes any bytes (a lone DLE, an unknown code) into it.

Incoming calls (``incoming()``, the control socket, ``--incoming``; ``plans.IncomingPlan``):
``RING`` every 6 s while the caller waits; with caller ID on (``AT+VCID=1`` or ``AT#CID=1``)
the block ``DATE = MMDD``, ``TIME = HHMM``, ``NMBR = <number>`` (``P`` withheld, ``O``
unavailable) 3 s after the first ring; the caller gives up after ``ring`` s. Off hook in voice
mode (``AT+VLS=1``, or ``ATA`` -> ``VCON``) answers: the caller's keys come as ``<DLE><digit>``
at their times, and at ``hangup`` s the caller goes: ``<DLE>l`` then busy tone. Off hook with
nothing ringing gives dial tone (``<DLE>d`` every 3 s).

Outcomes per number come from a script (TOML/JSON)::

    time_scale = 0.1
    [random]                    # weights for numbers not listed (seeded)
    answer = 5
    [[numbers]]
    number = "5550001"
    outcome = "answer"          # answer | busy | no-answer | no-dialtone | sit | fax
    ring = 12.0                 # seconds of ringback before answer
    talk = 20.0                 # seconds until the callee hangs up
    dtmf = "1"
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import math
import random
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.drivers.at.dle import DLE, ETX
from appliance.drivers.at.framing import CommandFramer, InputKind
from appliance.drivers.emulators.control import ControlError, ControlServer, switch
from appliance.drivers.emulators.gsm.device import Op, parse_line
from appliance.drivers.emulators.plans import (
    IncomingPlan,
    PlanScript,
    ScheduledCall,
    load_plans,
    parse_incoming_command,
    parse_plans,
)
from appliance.drivers.emulators.pty import PtyPort

log = logging.getLogger(__name__)

OUTCOMES = ("answer", "busy", "no-answer", "no-dialtone", "sit", "fax")
RINGBACK_EVERY = 6.0  # seconds between ringback bursts (North American cadence: 2 s on, 4 off)
NO_ANSWER_AFTER = 60.0  # S7: the modem gives up on a ringing line
RING_EVERY = 6.0  # an incoming call's RING, once per ring burst (North American cadence)
CALLER_ID_AFTER = 3.0  # the caller-ID burst, between the first and the second ring (Bellcore)
DIAL_TONE_EVERY = 3.0
CAN = 0x18
RATE = 8000
FRAME_SAMPLES = 160  # 20 ms
TICK = 0.02  # seconds between the stream's writes (each carries every frame due)
#: +VSM formats: compression method -> sample kind (u8 unsigned 8-bit, s16 16-bit LE).
NARROW = {128: "u8", 130: "u8"}
WIDE = {**NARROW, 140: "s16"}
_FLIP = bytes(b ^ 0x80 for b in range(256))


def source(name: str) -> bytes:
    """The far end's sound (s16le 8 kHz) for a source name: ``silence``, ``tone:<Hz>`` (2 s at
    -12 dBFS), ``file:<path>`` (a 16-bit mono 8 kHz WAV, or raw s16le), or a named source of
    ``sounds.py`` (person, person-long, machine, fax, modem). ``ValueError`` says which exist."""
    if name == "silence":
        return b""
    if name.startswith("tone:"):
        try:
            hz = float(name[5:])
        except ValueError:
            raise ValueError(f"tone:<Hz>, not {name!r}") from None
        n = 2 * RATE
        return b"".join(
            int(8000 * math.sin(2 * math.pi * hz * i / RATE)).to_bytes(2, "little", signed=True)
            for i in range(n)
        )
    if name.startswith("file:"):
        path = Path(name[5:])
        try:
            if path.suffix.lower() == ".wav":
                with wave.open(str(path), "rb") as w:
                    if (w.getnchannels(), w.getsampwidth(), w.getframerate()) != (1, 2, RATE):
                        raise ValueError(f"{path}: needs a mono 16-bit 8000 Hz WAV")
                    return w.readframes(w.getnframes())
            data = path.read_bytes()
        except (OSError, wave.Error) as exc:
            raise ValueError(f"cannot read {path}: {exc}") from None
        return data[: len(data) // 2 * 2]
    try:
        sounds = importlib.import_module("appliance.drivers.emulators.sounds")
    except ImportError:
        raise ValueError(f"no sound {name!r}: silence, tone:<Hz> or file:<path> "
                         "(the named sources need appliance/drivers/emulators/sounds.py)") from None  # fmt: skip
    try:
        return bytes(sounds.sound(name))
    except (KeyError, ValueError) as exc:
        raise ValueError(f"no sound {name!r}: {exc}") from None


def encode(pcm: bytes, kind: str) -> bytes:
    """s16le -> the stream's samples."""
    return pcm if kind == "s16" else pcm[1::2].translate(_FLIP)


def decode(data: bytes, kind: str) -> bytes:
    """The stream's samples -> s16le."""
    if kind == "s16":
        return data[: len(data) // 2 * 2]
    out = bytearray(2 * len(data))
    out[1::2] = data.translate(_FLIP)
    return bytes(out)


@dataclass
class VoiceScript(PlanScript):
    """A V.253 script: SIT among the random outcomes."""

    weights: dict[str, float] = field(
        default_factory=lambda: {"answer": 5.0, "busy": 2.0, "no-answer": 2.0, "sit": 0.5}
    )


def load_script(path: Path) -> VoiceScript:
    script = VoiceScript()
    load_plans(script, path, OUTCOMES)
    return script


def parse_script(data: dict[str, Any], where: str = "script") -> VoiceScript:
    script = VoiceScript()
    parse_plans(script, data, OUTCOMES, where)
    return script


class VoiceModemSim:
    """One V.253 voice modem behind one pty."""

    manufacturer = "CONEXANT"
    model = "CX93001-EIS_V0.2013-V92"
    revision = "V0.2013"

    def __init__(self, link: Path, script: VoiceScript | None = None, seed: int = 0) -> None:
        self.script = script or VoiceScript()
        self.rng = random.Random(seed)
        self.port = PtyPort(link, self._on_bytes)
        self.framer = CommandFramer()
        self.echo = True
        self.verbose = True
        self.fclass = "0"
        self.off_hook = False
        self.vra = 70  # 0.1 s: ringback gone this long -> answered
        self.vrn = 10  # s: no ringback at all this long -> answered
        self.silent = False
        self.garbage = False  # every command answered with random bytes
        self.commands: list[str] = []
        self._last = "AT"
        self.played = bytearray()  # audio received by +VTX/+VTR, unshielded (for tests)
        self._streaming = False
        self._stream_dle = False
        # sound (#24)
        self.duplex = True  # +VTR offered (False: the half-duplex dialect)
        self.formats = NARROW
        self.vsm = 128
        self.sound = b""  # the far end's sound (s16le) for the next answered calls
        self.audio_speed = 1.0  # the stream's pace: real time times this
        self.stalled = False  # the stream's bytes stop (hostile)
        self.stream_mode: str | None = None  # "tx" | "rx" | "duplex"
        self.streams: list[str] = []  # the data states entered, in order (for tests)
        self._sound_start: float | None = None  # loop time the far end's sound began
        self._sent_frames = 0  # frames of the far end's sound due so far (sent or skipped)
        self._ticker: asyncio.TimerHandle | None = None
        self._tx_at, self._tx_from = 0.0, 0  # when the +VTX stream began, and its first byte
        self._dialing: asyncio.Future[None] | None = None
        self._timers: list[asyncio.TimerHandle] = []
        # "dialing" | "ringing" (a call rings in) | "up" | "gone" (far end hung up)
        self._call: str | None = None
        self.caller_id = False  # +VCID=1 / #CID=1
        self.rings = 0  # RINGs of the call ringing in (for tests)
        self._incoming: IncomingPlan | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self.port.plug()

    def stop(self) -> None:
        self._on_hook(ringing=False)
        self.port.unplug()

    def unplug(self) -> None:
        self.stop()

    def replug(self) -> None:
        self.framer = CommandFramer()
        self.echo, self.verbose, self.fclass, self.caller_id = True, True, "0", False
        self.port.plug()

    # ------------------------------------------------------------------ output
    def _write(self, data: bytes) -> None:
        if not self.silent:
            self.port.write(data)

    def _result(self, text: str) -> None:
        self._write(b"\r\n" + text.encode() + b"\r\n")

    def _info(self, text: str) -> None:
        self._result(text)

    def _event(self, code: str) -> None:
        self._write(bytes([DLE]) + code.encode("latin-1"))

    def _later(self, delay: float, fn: Any) -> None:
        loop = asyncio.get_running_loop()
        self._timers.append(loop.call_later(delay * self.script.time_scale, fn))

    def _cancel(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()

    # ------------------------------------------------------------------ input
    def _on_bytes(self, data: bytes) -> None:
        if self.silent:
            return
        if self._streaming:
            self._stream(data)
            return
        if self._call == "dialing":
            # V.250 6.3.1: any character from the DTE aborts the dial in progress.
            self._on_hook()
            self._result("NO CARRIER")
            return
        for item in self.framer.feed(data):
            if item.kind not in (InputKind.COMMAND, InputKind.REPEAT):
                continue
            if self.echo:
                self._write(item.echo)
            line = self._last if item.kind is InputKind.REPEAT else item.text
            if self.garbage:
                self._write(bytes(self.rng.randrange(256) for _ in range(self.rng.randint(5, 60))))
                continue
            self._last = line
            self._execute(line)

    def _stream(self, data: bytes) -> None:
        for i, byte in enumerate(data):
            # +VRX ignores what the host sends but its DLE codes; an aborted +VTX its data
            keep = self.stream_mode not in ("rx", "aborting")
            if self._stream_dle:
                self._stream_dle = False
                if byte == DLE:
                    if keep:
                        self.played.append(DLE)
                elif self._stream_ends(byte):
                    if i + 1 < len(data):
                        self._on_bytes(data[i + 1 :])
                    return
            elif byte == DLE:
                self._stream_dle = True
            elif keep:
                self.played.append(byte)

    def _stream_ends(self, code: int) -> bool:
        """A host DLE code inside a stream: True when it ends the stream (answered)."""
        mode = self.stream_mode
        if mode == "tx" and code == CAN:
            self.stream_mode = "aborting"  # <DLE><CAN><DLE><ETX>: the rest is dropped
            return False
        if mode in ("tx", "aborting") and code == ETX:
            # the OK comes once the modem has played what it was sent (at the stream's pace)
            loop = asyncio.get_running_loop()
            width = 2 if self.formats.get(self.vsm) == "s16" else 1
            played = (len(self.played) - self._tx_from) / width / RATE / self.audio_speed
            wait = self._tx_at + played - loop.time() if mode == "tx" else 0.0
            self._end_stream()
            if wait > 0:
                self._timers.append(loop.call_later(wait, self._result, "OK"))
            else:
                self._result("OK")
            return True
        if (mode == "rx" and code == ord("!")) or (mode == "duplex" and code in b"^!"):
            self._end_stream()
            self._write(bytes([DLE, ETX]))
            self._result("OK")
            return True
        return False  # p/r (pause, resume), u/d (volume)...: accepted and ignored

    def _end_stream(self) -> None:
        self._streaming = False
        self.stream_mode = None
        self._stream_dle = False
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None

    def _begin_stream(self, mode: str) -> str:
        if not self.off_hook:
            return "ERROR"
        self._streaming, self.stream_mode, self._stream_dle = True, mode, False
        self.streams.append(mode)
        self._tx_at, self._tx_from = asyncio.get_running_loop().time(), len(self.played)
        self._result("CONNECT")
        if mode != "tx":
            loop = asyncio.get_running_loop()
            if self._sound_start is None:
                self._sound_start = loop.time()
            # the sound while not streaming is not heard; the frame under way is sent at once,
            # right behind the CONNECT (the host gets them in one read)
            self._sent_frames = max(self._sent_frames, self._frames_due() - 1)
            self._tick()
        return "later"

    def _frames_due(self) -> int:
        if self._sound_start is None:
            return 0
        elapsed = asyncio.get_running_loop().time() - self._sound_start
        return int(elapsed * self.audio_speed * RATE / FRAME_SAMPLES) + 1  # + the one under way

    def _tick(self) -> None:
        """Send every frame of the far end's sound that is due, shielded."""
        self._ticker = None
        if self.stream_mode not in ("rx", "duplex"):
            return
        due = self._frames_due()
        if not self.stalled and due > self._sent_frames:
            step = FRAME_SAMPLES * 2
            start, end = self._sent_frames * step, due * step
            pcm = self.sound[start:end]
            pcm += bytes(end - start - len(pcm))  # the source is over: silence
            self._write(encode(pcm, self.formats.get(self.vsm, "u8")).replace(b"\x10", b"\x10\x10"))
        self._sent_frames = due
        self._ticker = asyncio.get_running_loop().call_later(TICK, self._tick)

    def captured_pcm(self) -> bytes:
        """What the host sent into the streams, as s16le 8 kHz."""
        return decode(bytes(self.played), self.formats.get(self.vsm, "u8"))

    def leave_stream(self) -> None:
        """End the receive or duplex stream by itself (an inactivity timer; hostile)."""
        if self.stream_mode in ("rx", "duplex"):
            self._end_stream()
            self._write(bytes([DLE, ETX]))
            self._result("OK")

    def inject(self, data: bytes) -> None:
        """Write raw bytes into the port now (a lone DLE, an unknown code: hostile)."""
        self._write(data)

    def _execute(self, line: str) -> None:
        if line[:2].upper() != "AT":
            return
        self.commands.append(line)
        for op in parse_line(line[2:]):
            outcome = self._op(op)
            if outcome == "later":
                return
            if outcome is not None:
                self._result(outcome)
                return
        self._result("OK")

    def _op(self, op: Op) -> str | None:
        """None: go on with the line; a text: the line's final result; "later": it comes later."""
        name = op.name
        if name in ("Z", "&F"):
            self._on_hook()
            self.echo, self.verbose, self.fclass, self.caller_id = True, True, "0", False
        elif name == "E":
            self.echo = op.args != "0"
        elif name == "V":
            self.verbose = op.args != "0"
        elif name in ("Q", "X", "M", "L", "&C", "&D", "&K") or name.startswith("S"):
            pass
        elif name == "I":
            self._info(self.model if op.args in ("", "0", "3") else self.revision)
        elif name == "+GMI":
            self._info(self.manufacturer)
        elif name == "+GMM":
            self._info(self.model)
        elif name == "+GMR":
            self._info(self.revision)
        elif name == "+FCLASS":
            if op.kind == "test":
                self._info("0,1,1.0,8")
            elif op.kind == "read":
                self._info(self.fclass)
            elif op.args.strip() in ("0", "1", "1.0", "8", "8.0"):
                self.fclass = op.args.strip().split(".")[0]
            else:
                return "ERROR"
        elif name in ("+VLS", "+VSM", "+VTX", "+VTS", "+VSD", "+VRA", "+VRN", "+VGT", "+VGR",
                      "+VIT", "+VCID", "+VNH", "+IFC", "+VRX", "+VTR"):  # fmt: skip
            if self.fclass != "8" and name.startswith("+V"):
                return "ERROR"
            return self._voice(op)
        elif name == "#CID":
            if op.kind == "read":
                self._info("1" if self.caller_id else "0")
            elif op.kind == "set":
                self.caller_id = op.args.strip() != "0"
        elif name == "H":
            self._on_hook()
        elif name == "A":
            if self._call != "ringing" or self.fclass != "8":
                return "NO CARRIER"  # nobody is calling in (data answering is not emulated)
            self._answer()
            return "VCON"
        elif name == "D":
            return self._dial(op.args)
        else:
            return "ERROR"
        return None

    def _voice(self, op: Op) -> str | None:
        name = op.name
        if name == "+VTR" and not self.duplex:
            return "ERROR"  # the half-duplex dialect: no full-duplex voice
        if op.kind == "test":
            formats = (
                '128,"8-BIT LINEAR",(7200,8000,11025)\r\n'
                '130,"UNSIGNED PCM",(7200,8000,11025)\r\n132,"4-BIT IMA ADPCM",(7200,8000)'
            )
            if 140 in self.formats:
                formats += '\r\n140,"16-BIT LINEAR",16,0,(8000),(0),(0)'
            self._info({"+VLS": "0,1", "+VSM": formats, "+VRA": "(0-255)",
                        "+VRN": "(0-255)", "+VTR": "(0-255)"}.get(name, "(0-255)"))  # fmt: skip
        elif op.kind == "read":
            self._info({"+VLS": "1" if self.off_hook else "0", "+VRA": str(self.vra),
                        "+VRN": str(self.vrn),
                        "+VCID": "1" if self.caller_id else "0"}.get(name, "0"))  # fmt: skip
        elif name == "+VCID":
            if op.args.strip() not in ("0", "1", "2"):
                return "ERROR"
            self.caller_id = op.args.strip() != "0"
        elif name == "+VLS":
            if op.args.strip() == "0":
                self._on_hook()
            elif op.args.strip() == "1":
                if self._call == "ringing":
                    self._answer()
                elif not self.off_hook and self._call is None:
                    self.off_hook = True
                    self._later(1.0, self._dial_tone)
                self.off_hook = True
            else:
                return "ERROR"
        elif name == "+VRA":
            self.vra = op.int_arg(0, 70)
        elif name == "+VRN":
            self.vrn = op.int_arg(0, 10)
        elif name == "+VSM" and op.kind == "set":
            if op.int_arg(0, -1) not in self.formats or op.int_arg(1, 8000) != RATE:
                return "ERROR"
            self.vsm = op.int_arg(0)
        elif name in ("+VTX", "+VRX", "+VTR") and op.kind == "exec":
            return self._begin_stream({"+VTX": "tx", "+VRX": "rx", "+VTR": "duplex"}[name])
        return None

    # ------------------------------------------------------------------ calls
    def _dial(self, args: str) -> str | None:
        number = args.strip().rstrip(";").lstrip("TtPpWw,")
        if self.fclass != "8" or self._call == "ringing":
            return "NO CARRIER"  # data dialling is not emulated; a ringing line has no dial tone
        if not number:
            return "ERROR"
        plan = self.script.plan_for(number, self.rng)
        self.off_hook = True
        self._call = "dialing"
        if plan.outcome == "no-dialtone":
            self._later(3.0, lambda: self._end_dial("NO DIALTONE"))
            return "later"
        setup = 2.0
        if plan.outcome == "busy":
            for i in range(3):
                self._later(setup + i * 1.0, lambda: self._event("b"))
            self._later(setup + 3.0, lambda: self._end_dial("BUSY"))
            return "later"
        if plan.outcome == "sit":
            self._later(setup, lambda: self._event("J"))
            self._later(setup + self.vrn, self._answered)  # no ringback ever: presumed answer
            return "later"
        rings = plan.ring if plan.outcome != "no-answer" else NO_ANSWER_AFTER
        t = setup
        while t < setup + rings:
            self._later(t, lambda: self._event("r"))
            t += RINGBACK_EVERY
        if plan.outcome == "no-answer":
            self._later(setup + NO_ANSWER_AFTER, lambda: self._end_dial("NO ANSWER"))
            return "later"
        answer_at = setup + rings
        if plan.outcome == "fax":
            self._later(answer_at + 0.5, lambda: self._event("a"))
        else:
            self._later(answer_at + 0.5, lambda: self._event("q"))
        self._later(answer_at + self.vra / 10.0, self._answered)
        if plan.outcome == "answer":
            base = answer_at + self.vra / 10.0
            for i, digit in enumerate(plan.dtmf):
                self._later(base + 0.5 + i * 0.5, lambda d=digit: self._event(d))
            self._later(base + plan.talk, self._far_end_hangs_up)
        return "later"

    def _answered(self) -> None:
        if self._call == "dialing":
            self._call = "up"
            self._new_call_sound()
            self._result("VCON")

    def _new_call_sound(self) -> None:
        """An answered call: its sound starts with its first stream; the capture restarts."""
        self._sound_start, self._sent_frames = None, 0
        self.played.clear()
        self.streams.clear()

    def _end_dial(self, result: str) -> None:
        if self._call == "dialing":
            self._on_hook()
            self._result(result)

    def _far_end_hangs_up(self) -> None:
        if self._call != "up":
            return
        self._call = "gone"
        self._event("l")
        self._busy_tone()

    def _busy_tone(self) -> None:
        if self._call == "gone" and self.off_hook:
            self._event("b")
            self._later(4.0, self._busy_tone)

    def _on_hook(self, ringing: bool = True) -> None:
        """On hook: any call ends; a call ringing in goes on ringing (unless ``ringing`` is
        False: the modem is gone)."""
        self.off_hook = False
        self._end_stream()
        if ringing and self._call == "ringing":
            return
        self._cancel()
        self._call = None
        self._incoming = None

    def _dial_tone(self) -> None:
        if self.off_hook and self._call is None and not self._streaming:
            self._event("d")
            self._later(DIAL_TONE_EVERY, self._dial_tone)

    # ------------------------------------------------------------------ incoming calls
    def incoming(self, plan: IncomingPlan) -> None:
        """A call rings in (``ValueError`` when the line is busy or the modem unplugged)."""
        if not self.port.plugged:
            raise ValueError(f"{self.port.link.name} is unplugged")
        if self._call is not None or self.off_hook:
            raise ValueError(f"{self.port.link.name} is busy ({self._call or 'off hook'})")
        self._cancel()
        self._call, self._incoming, self.rings = "ringing", plan, 0
        t = 0.0
        while t < plan.ring:
            self._later(t, self._ring)
            t += RING_EVERY
        if plan.ring > CALLER_ID_AFTER:
            self._later(CALLER_ID_AFTER, self._caller_id)
        self._later(plan.ring, self._caller_gives_up)

    def _ring(self) -> None:
        if self._call == "ringing":
            self.rings += 1
            self._result("RING")

    def _caller_id(self) -> None:
        plan = self._incoming
        if self._call != "ringing" or plan is None or not self.caller_id:
            return
        shown = {"withheld": "P", "unavailable": "O"}.get(plan.presentation, plan.number)
        now = time.localtime()
        for line in (f"DATE = {now.tm_mon:02d}{now.tm_mday:02d}",
                     f"TIME = {now.tm_hour:02d}{now.tm_min:02d}", f"NMBR = {shown}"):  # fmt: skip
            self._result(line)

    def _caller_gives_up(self) -> None:
        if self._call == "ringing":
            self._call, self._incoming = None, None
            self._cancel()

    def _answer(self) -> None:
        plan = self._incoming
        self._cancel()
        self.off_hook = True
        self._call = "up"
        self._new_call_sound()
        if plan is None:
            return
        for digit, at in plan.keys:
            self._later(at, lambda d=digit: self._key(d))
        if plan.hangup is not None:
            self._later(plan.hangup, self._far_end_hangs_up)

    def _key(self, digit: str) -> None:
        if self._call == "up":
            self._event(digit)

    def line(self, text: str) -> None:
        """Send any line (a test's noise between rings, a broken caller-ID block)."""
        self._result(text)


ACTIONS = ("incoming", "unplug", "replug", "silent", "garbage", "line", "event", "sound",
           "capture", "speed", "duplex", "wide", "stall", "inject", "leave")  # fmt: skip


class VoiceFarm:
    """N voice modems on ptys linked as DIR/v2530, DIR/v2531..., and (``open_control``) the
    control socket DIR/control.sock, one command a line, ``<modem>`` = ``v2530``, ``0`` or ``*``::

        <modem> incoming <number|withheld|unavailable> [keys=1@2.0,9@5.5] [hangup=S] [ring=S]
        <modem> unplug | replug | silent on|off | garbage on|off
        <modem> line <text...>       send any line (noise, a broken caller-ID block)
        <modem> event <code>         send one DLE event (d dial tone, b busy, l loop current...)
        <modem> sound <source>       the far end's sound for the next answered calls: a name of
                                     sounds.py (person, machine, fax...), silence, tone:<Hz>,
                                     file:<path> (mono 16-bit 8 kHz WAV, or raw s16le)
        <modem> capture <path>       write what the host sent in the current/last call's
                                     streams (s16le 8 kHz; a WAV if path ends in .wav)
        <modem> speed <factor>       stream pace: real time times factor (default 1)
        <modem> duplex on|off        offer AT+VTR (off: the half-duplex dialect, +VRX/+VTX)
        <modem> wide on|off          offer 16-bit linear (+VSM=140) besides 8-bit
        <modem> stall on|off         the stream's bytes stop (on) / resume (off)
        <modem> inject <hex>         write raw bytes now (10 = a lone DLE; 10fe an unknown code)
        <modem> leave                end the receive/duplex stream by itself (<DLE><ETX> OK)
    """

    def __init__(self, count: int, link_dir: Path, script: VoiceScript | None = None,
                 seed: int = 0) -> None:  # fmt: skip
        self.link_dir = link_dir
        self.script = script or VoiceScript()
        self.modems = [
            VoiceModemSim(link_dir / f"v253{i}", script, seed * 1009 + i) for i in range(count)
        ]
        self._control: ControlServer | None = None
        self._timers: list[asyncio.TimerHandle] = []

    @property
    def control_path(self) -> Path:
        return self.link_dir / "control.sock"

    def start(self) -> None:
        self.link_dir.mkdir(parents=True, exist_ok=True)
        for modem in self.modems:
            modem.start()

    def stop(self) -> None:
        for timer in self._timers:
            timer.cancel()
        for modem in self.modems:
            modem.stop()

    async def open_control(self) -> Path:
        self._control = ControlServer(self.control_path, self.control)
        await self._control.start()
        return self.control_path

    async def close_control(self) -> None:
        if self._control is not None:
            await self._control.close()

    # ------------------------------------------------------------------ control
    def check_target(self, name: str) -> None:
        """``ValueError`` unless ``name`` is a modem of the farm ("" is the first)."""
        self._select(name or "0")

    def _select(self, name: str) -> list[VoiceModemSim]:
        if name == "*":
            return self.modems
        index = name.removeprefix("v253")
        if not index.isdigit() or int(index) >= len(self.modems):
            raise ControlError(
                f"no modem {name!r} (have v2530..v253{len(self.modems) - 1}, or 0.., or *)"
            )
        return [self.modems[int(index)]]

    def control(self, command: str) -> None:
        """Apply one control command (see the class docstring); ``ValueError`` says why not."""
        parts = command.split(maxsplit=2)
        if len(parts) < 2:
            raise ControlError("expected: <modem> <action> [argument]")
        targets, action = self._select(parts[0]), parts[1]
        arg = parts[2] if len(parts) > 2 else ""
        if action not in ACTIONS:
            raise ControlError(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
        plan = parse_incoming_command(arg) if action == "incoming" else None
        for modem in targets:
            if plan is not None:
                modem.incoming(plan)
            elif action == "unplug":
                modem.unplug()
            elif action == "replug":
                modem.replug()
            elif action in ("silent", "garbage", "duplex", "stall"):
                setattr(modem, "stalled" if action == "stall" else action, switch(arg, action))
            elif action == "wide":
                modem.formats = WIDE if switch(arg, action) else NARROW
            elif action in ("sound", "capture", "speed", "inject"):
                self._audio_control(modem, action, arg)
            elif action == "leave":
                modem.leave_stream()
            elif action == "line":
                modem.line(arg)
            elif len(arg) != 1:
                raise ControlError("event takes one DLE code, e.g. d (dial tone), b (busy)")
            else:
                modem._event(arg)

    @staticmethod
    def _audio_control(modem: VoiceModemSim, action: str, arg: str) -> None:
        if action == "sound":
            modem.sound = source(arg.strip() or "silence")
        elif action == "capture":
            if not arg.strip():
                raise ControlError("capture takes the path of the file to write")
            path = Path(arg.strip())
            pcm = modem.captured_pcm()
            try:
                if path.suffix.lower() == ".wav":
                    with wave.open(str(path), "wb") as w:
                        w.setnchannels(1)
                        w.setsampwidth(2)
                        w.setframerate(RATE)
                        w.writeframes(pcm)
                else:
                    path.write_bytes(pcm)
            except OSError as exc:
                raise ControlError(f"cannot write {path}: {exc}") from None
        elif action == "speed":
            try:
                speed = float(arg)
            except ValueError:
                speed = 0.0
            if not 0.01 <= speed <= 100:
                raise ControlError(f"speed takes a factor from 0.01 to 100, not {arg!r}")
            modem.audio_speed = speed
        else:
            try:
                data = bytes.fromhex(arg)
            except ValueError:
                raise ControlError(f"inject takes hex bytes (10fe), not {arg!r}") from None
            modem.inject(data)

    def schedule(self, calls: list[ScheduledCall]) -> None:
        """Place the script's incoming calls at their times (``time_scale`` applies)."""
        loop = asyncio.get_running_loop()
        for call in calls:
            delay = call.at * self.script.time_scale
            self._timers.append(loop.call_later(delay, self._place, call))

    def _place(self, call: ScheduledCall) -> None:
        for modem in self._select(call.target or "0"):
            try:
                modem.incoming(call.plan)
            except ValueError as exc:
                log.warning("incoming call at %s s not placed: %s", call.at, exc)
