"""A ``Line`` on one AT port: open, up/down, health polling and recovery, shared by every modem.

Lifecycle (SPEC H6): connect -> initialise (the subclass) -> up. A lost port marks the line
down, ends the call in progress (the subclass's ``_call_lost``) and reconnects with back-off.

A modem that stops answering or babbles is taken down within ``down_within(timeouts)`` seconds
(7 s with the defaults; SPEC H6 asks < 10 s), idle or in a call: a line that has heard no
final result for ``Timeouts.liveness`` is sent ``AT``; any command that times out, garbage
(bytes no modem sends: the command in flight fails at once) or a run of lines that are neither
answers nor URCs makes the line probe at once; when the probe gets no ``OK`` either, after
``PROBE_TRIES`` tries of ``Timeouts.probe``, the line is down, its call ends ErrorOccurred, and
the port is reopened with back-off (the reset a host can do; ``reset_hook`` may power-cycle it).
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from appliance.drivers.at.framing import ESC
from appliance.drivers.at.session import AtError, AtSession, AtTimeout, Command, LinkDown
from appliance.drivers.at.transport import PortError, open_port
from appliance.drivers.line import Line, LineDown, LineUnavailable, LineUp, Timeouts

log = logging.getLogger(__name__)

#: ``AT`` tries, after the failure that raised the doubt, before a line is declared down.
PROBE_TRIES = 2


def down_within(timeouts: Timeouts) -> float:
    """The longest a silent or babbling modem stays up: a command in flight times out (or an
    idle line's liveness ``AT`` does, at most ``liveness`` after the last answer), then
    ``PROBE_TRIES`` probes fail. Commands with longer timeouts (``ATD``, ``+CMGS``) add theirs
    for silence that starts while they wait; garbage fails them at once."""
    return max(timeouts.command, timeouts.liveness + timeouts.probe) + PROBE_TRIES * timeouts.probe


class AtPortLine(Line):
    """The port-and-health half of a modem line; subclasses say how to initialise and poll."""

    #: Errors that mean "not up (yet)": opening fails with them, recovery retries on them.
    RECOVERABLE: tuple[type[BaseException], ...] = (
        PortError, AtTimeout, AtError, LinkDown, TimeoutError,
    )  # fmt: skip
    #: Send ESC before the probe (leaves a stuck SMS prompt); voice modems in a dial must not.
    SYNC_ESCAPE = True

    def __init__(
        self,
        url: str,
        *,
        name: str,
        baudrate: int,
        timeouts: Timeouts | None,
        health_interval: float,
        backoff: tuple[float, float],
        reset_hook: Callable[[], Awaitable[None]] | None,
    ) -> None:
        super().__init__(name)
        self.url = url
        self.baudrate = baudrate
        self.timeouts = timeouts or Timeouts()
        self.health_interval = health_interval
        self.backoff = backoff
        self.reset_hook = reset_hook
        self._session: AtSession | None = None
        self._up = False
        self._closing = False
        self._last_error: str | None = None
        self._recovering: asyncio.Task[None] | None = None
        self._probing: asyncio.Task[None] | None = None
        self._health_task: asyncio.Task[None] | None = None
        self._liveness_task: asyncio.Task[None] | None = None
        self._up_event = asyncio.Event()

    # ------------------------------------------------------------------ for subclasses
    @abc.abstractmethod
    def _attach(self, session: AtSession) -> None:
        """Register the subclass's listeners (URCs, DLE events) on a new session."""

    @abc.abstractmethod
    async def _initialise(self) -> None:
        """Bring the modem into service on ``self.session``; call ``_set_up()`` at the end."""

    @abc.abstractmethod
    async def _poll_health(self) -> None:
        """One health poll while up (raise ``AtTimeout`` when the modem does not answer)."""

    @abc.abstractmethod
    def _call_lost(self, reason: str) -> None:
        """The line went down: end the call in progress in error (SPEC C11)."""

    async def _end_call(self) -> None:
        """On close: hang up the call in progress, if any."""

    def _may_probe(self) -> bool:
        """Whether an ``AT`` may be sent now (a V.253 modem aborts a dial on any character)."""
        return True

    def _why(self, exc: BaseException) -> str:
        return f"{self.url}: {exc}"

    # ------------------------------------------------------------------ lifecycle
    @property
    def session(self) -> AtSession:
        if self._session is None or not self._session.is_open:
            raise LinkDown(f"{self.name}: port is not open")
        return self._session

    async def open(self) -> None:
        self._closing = False
        try:
            await self._connect()
            await self._initialise()
        except self.RECOVERABLE as exc:
            await self._drop_session()
            self._last_error = str(exc)
            raise LineUnavailable(self._why(exc)) from exc
        self._health_task = asyncio.create_task(self._health_loop())
        self._liveness_task = asyncio.create_task(self._liveness_loop())

    async def close(self) -> None:
        self._closing = True
        for task in (self._recovering, self._probing, self._health_task, self._liveness_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        with contextlib.suppress(Exception):
            await self._end_call()
        await self._drop_session()
        self._set_down("closed", emit=False)

    async def wait_up(self, timeout: float) -> bool:
        """Wait until the line is up (after a reconnect); False on timeout."""
        try:
            await asyncio.wait_for(self._up_event.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def _connect(self) -> None:
        session = AtSession(self.name)
        self._attach(session)
        session.add_lost_listener(lambda exc: self._on_lost(session, exc))
        session.on_suspect = lambda why: self._suspect(session, why)
        await open_port(self.url, lambda: session, self.baudrate)
        await asyncio.wait_for(session.wait_open(), self.timeouts.command)
        self._session = session

    async def _drop_session(self) -> None:
        session, self._session = self._session, None
        if session is not None and session.is_open:
            session.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(session.wait_closed(), 2.0)

    def _cmd(self, text: str, *, bare: bool = False) -> Command:
        return Command(text, timeout=self.timeouts.command, bare=bare)

    async def _sync(self) -> None:
        """Get an answering modem: (ESC, which leaves a stuck SMS prompt, then) AT x3."""
        session = self.session
        if self.SYNC_ESCAPE:
            session.write_raw(bytes([ESC]))
        last: Exception | None = None
        for _ in range(3):
            try:
                await session.check(Command("AT", timeout=self.timeouts.probe))
                return
            except (AtTimeout, AtError) as exc:
                last = exc
        raise AtTimeout(f"no answer to AT ({last})")

    # ------------------------------------------------------------------ up / down
    def _set_up(self) -> None:
        self._last_error = None
        if not self._up:
            self._up = True
            self._up_event.set()
            self.emit(LineUp(self.name))

    def _set_down(self, reason: str, emit: bool = True) -> None:
        self._last_error = reason
        self._call_lost(reason)
        if self._up:
            self._up = False
            self._up_event.clear()
            if emit:
                self.emit(LineDown(self.name, reason))

    def _on_lost(self, session: AtSession, exc: Exception | None) -> None:
        if self._closing or session is not self._session:
            return
        self._session = None
        self._set_down(f"port lost: {exc}" if exc else "port closed")
        self._start_recovery(reopen=True)

    def _start_recovery(self, reopen: bool) -> None:
        if self._closing or (self._recovering is not None and not self._recovering.done()):
            return
        self._recovering = asyncio.create_task(self._recover(reopen))

    async def _recover(self, reopen: bool) -> None:
        """Reconnect with back-off until the modem answers again (SPEC H6)."""
        delay, ceiling = self.backoff
        while not self._closing:
            try:
                if reopen or self._session is None:
                    await self._drop_session()
                    if self.reset_hook is not None:
                        await self.reset_hook()
                    await self._connect()
                await self._initialise()
                log.info("%s: line recovered", self.name)
                return
            except self.RECOVERABLE as exc:
                self._last_error = str(exc)
                log.info("%s: recovery failed (%s); retrying in %.1f s", self.name, exc, delay)
                reopen = True
            await asyncio.sleep(delay)  # back-off between reconnect attempts
            delay = min(delay * 2, ceiling)

    # ------------------------------------------------------------------ health
    async def _health_loop(self) -> None:
        while not self._closing:
            await asyncio.sleep(self.health_interval)  # the polling period itself
            if not self._up or self._session is None:
                continue
            try:
                await self._poll_health()
            except AtTimeout as exc:
                self._last_error = str(exc)  # the session has asked for a probe already
            except (AtError, LinkDown):
                continue

    async def _liveness_loop(self) -> None:
        """An idle line that has heard no final result for ``Timeouts.liveness`` is sent ``AT``
        (lines at work prove themselves with every answer): silence and garbage show within
        seconds, not at the next health poll."""
        period = self.timeouts.liveness
        loop = asyncio.get_running_loop()
        while not self._closing:
            await asyncio.sleep(period / 4)  # the check period: the AT leaves within `period`
            session = self._session
            if not self._up or session is None or session.busy or not self._may_probe():
                continue
            if self._probing is not None and not self._probing.done():
                continue
            if loop.time() - session.last_alive < period * 0.75:
                continue
            # a timeout or garbage here tells _suspect (the session's on_suspect) by itself
            with contextlib.suppress(AtTimeout, AtError, LinkDown):
                await session.run(Command("AT", timeout=self.timeouts.probe))

    def _suspect(self, session: AtSession, why: str) -> None:
        """A command timed out, or the modem babbles: probe it at once (AT), rather than at the
        next health poll, so a modem gone bad is taken down before it eats more contacts."""
        if self._closing or session is not self._session or not self._up:
            return
        self._last_error = why
        if self._probing is None or self._probing.done():
            self._probing = asyncio.create_task(self._unresponsive(session, why))

    def _check_responsive(self) -> None:
        """After a call or a message: a timeout on it has already made the line probe (the
        session tells ``_suspect``); kept for callers that check after their work."""
        session = self._session
        if session is not None and session.consecutive_timeouts:
            self._suspect(session, self._last_error or "a command timed out")

    async def _unresponsive(self, session: AtSession, why: str) -> None:
        """Probe (``AT`` PROBE_TRIES times, holding the port); no answer: down, and reopen."""
        if not self._may_probe():
            return  # a V.253 dial in flight: its own timeouts decide
        try:
            failed = await session.probe(PROBE_TRIES, self.timeouts.probe, escape=self.SYNC_ESCAPE)
        except LinkDown:
            return  # the lost port takes the line down itself
        if failed is None:
            log.info("%s: modem answers (after: %s)", self.name, why)
            return
        if self._closing or session is not self._session or not self._up:
            return
        if "garbage" in failed and "garbage" not in why:
            why = failed
        log.warning("%s: modem not answering (%s): line down, reopening", self.name, why)
        self._set_down(f"modem not answering ({why})")
        self._start_recovery(reopen=True)
