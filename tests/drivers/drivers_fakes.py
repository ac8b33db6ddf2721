"""In-process fake transports for the AT session: chunking, delays, drops, scripted replies."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterator
from typing import Any


def one_byte(data: bytes) -> Iterator[bytes]:
    for i in range(len(data)):
        yield data[i : i + 1]


def whole(data: bytes) -> Iterator[bytes]:
    yield data


def random_split(seed: int) -> Callable[[bytes], Iterator[bytes]]:
    rng = random.Random(seed)

    def split(data: bytes) -> Iterator[bytes]:
        i = 0
        while i < len(data):
            n = rng.randint(1, 7)
            yield data[i : i + n]
            i += n

    return split


class FakeTransport(asyncio.WriteTransport):
    """Wires an ``asyncio.Protocol`` to a fake device; bytes arrive in the chunks ``chunker``
    makes, one chunk per loop iteration, so the protocol sees them interleaved with other work."""

    def __init__(
        self,
        protocol: asyncio.Protocol,
        on_write: Callable[[bytes], None],
        chunker: Callable[[bytes], Iterator[bytes]] = one_byte,
    ) -> None:
        super().__init__()
        self.protocol = protocol
        self.on_write = on_write
        self.chunker = chunker
        self.written = bytearray()
        self.closing = False
        self._queue: list[bytes] = []
        self._loop = asyncio.get_running_loop()
        self._scheduled = False
        protocol.connection_made(self)

    # modem -> host
    def feed(self, data: bytes) -> None:
        self._queue.extend(self.chunker(data))
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._pump)

    def _pump(self) -> None:
        if self.closing or not self._queue:
            self._scheduled = False
            return
        self.protocol.data_received(self._queue.pop(0))
        self._loop.call_soon(self._pump)

    def unplug(self, exc: Exception | None = None) -> None:
        self.closing = True
        self.protocol.connection_lost(exc or OSError("device disconnected"))

    # host -> modem
    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self.closing:
            return
        self.written += bytes(data)
        self.on_write(bytes(data))

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        if not self.closing:
            self.closing = True
            self._loop.call_soon(self.protocol.connection_lost, None)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


class ScriptedModem:
    """Answers whole command lines from a table: ``replies[b"AT+CSQ"] = b"\\r\\n+CSQ: 19,99..."``.
    Unknown commands get ERROR; ``echo`` echoes like ATE1; a reply of None drops the command."""

    def __init__(self, echo: bool = False) -> None:
        self.replies: dict[bytes, list[bytes | None]] = {}
        self.echo = echo
        self.transport: FakeTransport | None = None
        self.commands: list[bytes] = []
        self._buffer = bytearray()

    def reply(self, command: bytes, *responses: bytes | None) -> None:
        """Queue responses for ``command``; the last one repeats."""
        self.replies[command] = list(responses)

    def received(self, data: bytes) -> None:
        assert self.transport is not None
        self._buffer += data
        while b"\r" in self._buffer or b"\x1a" in self._buffer:
            cut = min(i for i in (self._buffer.find(b"\r"), self._buffer.find(b"\x1a")) if i >= 0)
            if self._buffer[cut] == 0x1A:  # a prompt payload keeps its Ctrl-Z
                line, rest = bytes(self._buffer[: cut + 1]), bytes(self._buffer[cut + 1 :])
            else:
                line, rest = bytes(self._buffer[:cut]), bytes(self._buffer[cut + 1 :])
            self._buffer = bytearray(rest)
            self.commands.append(line)
            if self.echo:
                self.transport.feed(line + b"\r")
            queue = self.replies.get(line)
            response: bytes | None = b"\r\nERROR\r\n"
            if queue is not None:
                response = queue.pop(0) if len(queue) > 1 else queue[0]
            if response is not None:
                self.transport.feed(response)


def connect(
    protocol: asyncio.Protocol,
    modem: ScriptedModem,
    chunker: Callable[[bytes], Iterator[bytes]] = one_byte,
) -> FakeTransport:
    transport = FakeTransport(protocol, modem.received, chunker)
    modem.transport = transport
    return transport


def run(coro: Any, timeout: float = 10.0) -> Any:
    """Run a test coroutine with an overall deadline, so a hang fails instead of blocking."""

    async def guarded() -> Any:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(guarded())


class Collector:
    """Collects callback values and lets a test await the n-th one (no polling, no sleeps)."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self._changed = asyncio.Event()

    def __call__(self, item: Any) -> None:
        self.items.append(item)
        self._changed.set()

    async def wait(self, n: int, timeout: float = 2.0) -> list[Any]:
        async def until() -> None:
            while len(self.items) < n:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(until(), timeout)
        return self.items
