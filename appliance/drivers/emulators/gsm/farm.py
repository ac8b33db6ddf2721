"""N emulated modems on ptys linked as DIR/gsm0..., with a control socket and scripted events.

Control socket ``DIR/control.sock`` takes one command per line and answers ``ok`` or
``error: ...``. ``<modem>`` is ``gsm0``, ``0`` or ``*`` (all)::

    <modem> unplug | replug | reboot | brownout   (brownout: settings lost, no boot URC)
    <modem> silent on|off | garbage on|off | noise on|off | urc-in-cmgs on|off
    <modem> lag <seconds>                 output in order, each write that much after the last
    <modem> sms-in <sender> <text...>     a message arrives from the network
    <modem> incoming <number|withheld> [keys=1@2.0,9@5.5] [hangup=S] [ring=S]
                                          a call rings in (callers.py): the caller's keys,
                                          each at its seconds after the answer; the caller
                                          hangs up S s after the answer (default: never) or
                                          gives up after S s of ringing (default: 30 s)
    <modem> ring <number> [...]           the same as incoming
    <modem> urc <text...>                 send any unsolicited line
    <modem> signal <rssi> | register <stat>
    <modem> ect on|off                    the network allows explicit call transfer (+CHLD=4)
    <modem> reply <command> <line>|<line>|...|<final>   next answer to that command
    <modem> sound <source>                the far end's sound for the modem's next call on its
                                          audio port DIR/gsm<N>-audio (person, person-long,
                                          machine, silence, fax, modem: emulators/sounds.py)
    <modem> capture <path>|off            append what the host says on the audio port during
                                          calls to <path> (raw s16le 8 kHz mono)
    <modem> audio-garbage on|off          random bytes on the audio port instead of frames
    <modem> audio-stop on|off             the audio stream stops mid-call (and resumes)

With a ``journal`` path every ATD and every call ringing in, its progress and end, and every
control command are appended to that file as JSON lines (``journal.py``). ``incoming`` answers
``error: …`` when the modem cannot take the call (busy with another, unregistered, off).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from appliance.drivers.emulators.gsm.callers import parse_incoming
from appliance.drivers.emulators.gsm.device import EmulatedModem
from appliance.drivers.emulators.gsm.dialect import DIALECTS
from appliance.drivers.emulators.gsm.journal import Journal
from appliance.drivers.emulators.gsm.script import Event, Reply, Script
from appliance.drivers.emulators.sounds import SOURCES

log = logging.getLogger(__name__)

ACTIONS = (
    "unplug",
    "replug",
    "reboot",
    "brownout",
    "silent",
    "garbage",
    "noise",
    "urc-in-cmgs",
    "lag",
    "sms-in",
    "incoming",
    "ring",
    "urc",
    "signal",
    "register",
    "ect",
    "reply",
    "sound",
    "capture",
    "audio-garbage",
    "audio-stop",
)


class ControlError(ValueError):
    pass


class Farm:
    def __init__(
        self,
        count: int,
        link_dir: Path,
        profile: str = "generic",
        seed: int = 0,
        script: Script | None = None,
        journal: Path | None = None,
    ) -> None:
        if profile not in DIALECTS:
            raise ControlError(f"unknown profile {profile!r}; one of {sorted(DIALECTS)}")
        self.link_dir = link_dir
        self.script = script or Script()
        self.modems = [
            EmulatedModem(i, link_dir / f"gsm{i}", DIALECTS[profile], self.script, seed)
            for i in range(count)
        ]
        self._server: asyncio.AbstractServer | None = None
        self._timers: list[asyncio.TimerHandle] = []
        self.journal = Journal(journal) if journal is not None else None
        for modem in self.modems:
            modem.journal = self.journal

    @property
    def control_path(self) -> Path:
        return self.link_dir / "control.sock"

    async def start(self, control: bool = True) -> None:
        self.link_dir.mkdir(parents=True, exist_ok=True)
        for modem in self.modems:
            modem.start()
        if control:
            with contextlib.suppress(FileNotFoundError):
                self.control_path.unlink()
            self._server = await asyncio.start_unix_server(self._client, str(self.control_path))
        loop = asyncio.get_running_loop()
        for event in self.script.events:
            self._timers.append(
                loop.call_later(event.at * self.script.time_scale, self._fire, event)
            )

    async def stop(self) -> None:
        for timer in self._timers:
            timer.cancel()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            with contextlib.suppress(FileNotFoundError):
                self.control_path.unlink()
        for modem in self.modems:
            modem.stop()
        if self.journal is not None:
            self.journal.close()

    def _fire(self, event: Event) -> None:
        target = "*" if event.modem is None else str(event.modem)
        try:
            self.control(f"{target} {event.action} {event.argument}".strip())
        except ControlError as exc:
            log.warning("scripted event at %s s failed: %s", event.at, exc)

    def _select(self, name: str) -> list[EmulatedModem]:
        if name == "*":
            return self.modems
        index = name.removeprefix("gsm")
        if not index.isdigit() or int(index) >= len(self.modems):
            raise ControlError(f"no modem {name!r} (have gsm0..gsm{len(self.modems) - 1})")
        return [self.modems[int(index)]]

    def control(self, command: str) -> None:
        """Apply one control command (see the module docstring)."""
        parts = command.split(maxsplit=2)
        if len(parts) < 2:
            raise ControlError("expected: <modem> <action> [argument]")
        targets, action = self._select(parts[0]), parts[1]
        arg = parts[2] if len(parts) > 2 else ""
        if action not in ACTIONS:
            raise ControlError(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
        if self.journal is not None:
            self.journal.record("control", command=command.strip())
        failed: list[str] = []
        for modem in targets:  # every target, even when one of them refuses
            try:
                _apply(modem, action, arg)
            except ValueError as exc:  # ControlError, or a number that is not one
                failed.append(str(exc))
        if failed:
            raise ControlError("; ".join(dict.fromkeys(failed)))

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                try:
                    self.control(line.decode().strip())
                    writer.write(b"ok\n")
                except ControlError as exc:
                    writer.write(f"error: {exc}\n".encode())
                await writer.drain()
        finally:
            writer.close()


def _apply(modem: EmulatedModem, action: str, arg: str) -> None:
    on = arg.strip().lower() in ("on", "1", "true", "")
    if action == "unplug":
        modem.unplug()
    elif action == "replug":
        modem.replug()
    elif action == "reboot":
        modem.reboot()
    elif action == "brownout":
        modem.brownout()
    elif action == "silent":
        modem.silent = on
    elif action == "garbage":
        modem.garbage = on
    elif action == "noise":
        modem.set_noise(on)
    elif action == "urc-in-cmgs":
        modem.urc_in_cmgs = on
    elif action == "lag":
        try:
            modem.lag = max(0.0, float(arg))
        except ValueError:
            raise ControlError(f"lag needs seconds, not {arg!r}") from None
    elif action == "sms-in":
        sender, _, text = arg.partition(" ")
        if not sender or not text:
            raise ControlError("sms-in needs: <sender> <text>")
        modem.sms.inject(sender, text)
    elif action in ("incoming", "ring"):
        try:
            plan = parse_incoming(arg)
        except ValueError as exc:
            raise ControlError(f"{action}: {exc}") from None
        refused = modem.calls.ring_in(plan)
        if refused is not None:
            raise ControlError(f"{modem.name}: no call rings in: {refused}")
    elif action == "urc":
        modem.urc(arg)
    elif action == "signal":
        modem.signal = int(arg)
    elif action == "register":
        modem.set_registration(int(arg))
    elif action == "ect":
        modem.calls.ect = on
    elif action == "sound":
        if arg.strip() not in SOURCES:
            raise ControlError(f"sound {arg.strip()!r}: use one of {', '.join(SOURCES)}")
        modem.audio.next_sound = arg.strip()
    elif action == "capture":
        try:
            modem.audio.set_capture(None if arg.strip() in ("", "off") else Path(arg.strip()))
        except OSError as exc:
            raise ControlError(f"capture: {exc}") from None
    elif action == "audio-garbage":
        modem.audio.garbage = on
    elif action == "audio-stop":
        modem.audio.stopped = on
    elif action == "reply":
        command, _, rest = arg.partition(" ")
        items = rest.split("|") if rest else ["OK"]
        modem.replies.insert(0, Reply(command.upper(), tuple(items[:-1]), items[-1], True))
