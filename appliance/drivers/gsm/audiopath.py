"""A GSM line's call audio (#24): the module's PCM port, switched on per call by the profile's
command, as ``Line.audio`` from the answer to the call's end.

The port (``lines[].audio``) is opened with the line; one that cannot be opened leaves the line
working for calls without audio, saying why (``describe``: "no audio path: ..."), and is tried
again at the next call's answer. Once a call is answered (``ATD`` connected, or ``ATA``) the
profile's ``audio_on`` (SIMCom ``AT+CPCMREG=1``, Quectel ``AT+QPCMV=1,0``, Huawei
``AT^DDSETEX=2``) starts the module's stream and the call gets a ``SerialPcmChannel``; when the
call ends the channel finishes and ``audio_off`` (where the family has one) is sent. A refused
command leaves that call without audio and the line saying why; the call goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

from appliance.drivers.at.session import AtSession, AtTimeout, Command, LinkDown
from appliance.drivers.at.transport import PortError
from appliance.drivers.gsm.profiles import Profile
from appliance.drivers.gsm.voicecall import VoiceCall
from appliance.drivers.pcmport import PcmPort, SerialPcmChannel

log = logging.getLogger(__name__)


class AudioHost(Protocol):
    name: str
    profile: Profile

    @property
    def session(self) -> AtSession: ...

    @property
    def command_timeout(self) -> float: ...


class AudioPath:
    def __init__(self, host: AudioHost, url: str | None, baudrate: int = 115200) -> None:
        self._host = host
        self.url = url
        self.port = PcmPort(url, host.name, baudrate) if url else None
        self.channel: SerialPcmChannel | None = None
        self.problem: str | None = None if url else "not configured (lines[].audio)"

    @property
    def ready(self) -> bool:
        """The port is open and the module's family has a PCM command: calls get audio."""
        return (
            self.port is not None
            and self.port.is_open
            and self._host.profile.audio_on is not None
            and self.problem is None
        )

    def describe(self) -> str:
        """What ``probe`` and ``lines`` print: the path, or "no audio path: <why>"."""
        if self.ready:
            assert self.port is not None
            return f"PCM on {self.port.url} ({self._host.profile.audio_on})"
        return f"no audio path: {self._why()}"

    def _why(self) -> str:
        if self.problem is not None:
            return self.problem
        if self._host.profile.audio_on is None:
            return f"{self._host.profile.name} modules have no PCM audio port command"
        if self.port is not None and self.port.error:
            return self.port.error
        return "the audio port is not open"

    async def open(self) -> None:
        """Open the port with the line; a failure is kept as the reason, never raised."""
        if self.port is None or self.port.is_open:
            return
        try:
            await self.port.open()
        except (PortError, OSError) as exc:
            self.problem = str(exc)
            log.warning("%s: no audio path: %s", self._host.name, exc)
            return
        self.problem = None

    def close(self) -> None:
        self.stop()
        if self.port is not None:
            self.port.close()

    async def start(self, call: VoiceCall) -> None:
        """The call was answered: switch the module's stream on and give the call a channel."""
        if self.port is None or self._host.profile.audio_on is None or call.ended.done():
            return
        await self.open()  # again, if it failed before or was lost
        if not self.port.is_open:
            return
        channel = self.port.start()  # before the command: the first frames are framed
        command = self._host.profile.audio_on
        failure: str | None
        try:
            response = await self._host.session.run(
                Command(command, timeout=self._host.command_timeout)
            )
        except (AtTimeout, LinkDown) as exc:
            failure = str(exc)
        else:
            failure = None if response.ok else response.final.text
        if failure is not None:
            channel._finish()
            self.problem = f"{command} -> {failure}"
            log.warning("%s: no audio for this call: %s", self._host.name, self.problem)
            return
        self.problem = None
        if call.ended.done():  # it ended while the stream was being switched on
            channel._finish()
            self._switch_off()
            return
        self.channel = channel
        call.ended.add_done_callback(lambda _: self._ended(channel))

    def _ended(self, channel: SerialPcmChannel) -> None:
        channel._finish()
        if self.channel is channel:
            self.channel = None
        self._switch_off()

    def _switch_off(self) -> None:
        command = self._host.profile.audio_off
        if command is None:
            return
        asyncio.get_running_loop().create_task(self._send_off(command))

    async def _send_off(self, command: str) -> None:
        with contextlib.suppress(AtTimeout, LinkDown):  # the next answer switches it on again
            await self._host.session.run(Command(command, timeout=self._host.command_timeout))

    def stop(self) -> None:
        """The line goes down or closes: the call's stream ends."""
        channel, self.channel = self.channel, None
        if channel is not None:
            channel._finish()
