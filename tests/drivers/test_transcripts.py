"""Recorded dialects of real modules as golden fixtures (#20): tests/drivers/transcripts/.

Each transcript is replayed to the framing layer (the whole received stream cut at seeded
random boundaries, and one byte at a time) and to the session layer over a fake transport that
answers each recorded command with the recorded bytes once the session sends exactly that
command; the parsed frames, each exchange's lines and final result, and the URCs handed to
listeners must be the expectations stored beside the transcript (README.md there).
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from appliance.drivers.at.framing import Frame, Prompt, ResponseFramer
from appliance.drivers.at.session import AtSession, Command, Urc
from tests.drivers.drivers_fakes import FakeTransport, one_byte, random_split, run, whole

HERE = Path(__file__).parent / "transcripts"
NAMES = sorted(p.stem for p in HERE.glob("*.at"))
SEEDS = range(12)


@dataclass(frozen=True, slots=True)
class Step:
    sent: bool  # True: the host sends `data`; False: the module sends it
    data: bytes


@dataclass(frozen=True, slots=True)
class Transcript:
    name: str
    headers: dict[str, str]
    steps: tuple[Step, ...]
    expected: dict[str, Any]

    @property
    def received(self) -> bytes:
        return b"".join(s.data for s in self.steps if not s.sent)


def _unescape(text: str) -> bytes:
    return text.encode("latin-1").decode("unicode_escape").encode("latin-1")


def load(name: str) -> Transcript:
    headers: dict[str, str] = {}
    steps: list[Step] = []
    key = ""
    for raw in (HERE / f"{name}.at").read_text(encoding="utf-8").split("\n"):
        if raw.startswith("# ") and ":" in raw and not raw.startswith("#  "):
            key, _, value = raw[2:].partition(":")
            headers[key.strip()] = value.strip()
        elif raw.startswith("#"):
            headers[key] += " " + raw[1:].strip()  # a header's continuation line
        elif raw.startswith("> "):
            data = _unescape(raw[2:])
            steps.append(Step(True, data if data.endswith(b"\x1a") else data + b"\r"))
        elif raw.startswith("< "):
            steps.append(Step(False, _unescape(raw[2:])))  # trailing spaces kept (the prompt)
        elif raw.strip():
            raise ValueError(f"{name}.at: cannot read {raw!r}")
    expected = json.loads((HERE / f"{name}.json").read_text(encoding="utf-8"))
    return Transcript(name, headers, tuple(steps), expected)


def frames_of(transcript: Transcript) -> list[list[str]]:
    return [[e[0]] if e[0] == "prompt" else [e[0], e[1]] for e in transcript.expected["frames"]]


def as_lists(frames: list[Frame]) -> list[list[str]]:
    return [["prompt"] if isinstance(f, Prompt) else ["line", f.text] for f in frames]


def test_every_transcript_cites_its_source_and_has_expectations() -> None:
    assert len(NAMES) >= 10
    for name in NAMES:
        transcript = load(name)
        assert transcript.headers.get("title"), name
        assert "http" in transcript.headers.get("source", "") or "ubuntuforums" in (
            transcript.headers.get("source", "")
        ), name
        assert transcript.headers.get("kind") in ("recorded", "reconstructed"), name
        sent = [s for s in transcript.steps if s.sent and not s.data.endswith(b"\x1a")]
        assert len(sent) == len(transcript.expected["exchanges"]), name


@pytest.mark.parametrize("name", NAMES)
def test_framing_replay_at_any_read_boundary(name: str) -> None:
    """The received stream framed whole, one byte at a time, and cut at seeded random places
    (a split inside \\r\\r\\n, inside `> `, between \\r and \\n) gives the golden frames."""
    transcript = load(name)
    expected = frames_of(transcript)
    data = transcript.received
    chunkers: list[Callable[[bytes], Iterator[bytes]]] = [whole, one_byte]
    chunkers += [random_split(seed) for seed in SEEDS]
    for i, chunker in enumerate(chunkers):
        framer = ResponseFramer()
        framer.expect_prompt = True
        got: list[Frame] = []
        for chunk in chunker(data):
            got += framer.feed(chunk)
        assert as_lists(got) == expected, f"{name}: chunker {i}"
        assert framer.pending == b""


class ReplayModem:
    """Answers the session from a transcript: each recorded command, when the session sends
    exactly it, is answered with the module's recorded bytes up to the next command."""

    def __init__(self, transcript: Transcript) -> None:
        self.transcript = transcript
        self.transport: FakeTransport | None = None
        self.next = 0
        self.buffer = bytearray()
        self.unexpected: list[bytes] = []

    def start(self, transport: FakeTransport) -> None:
        self.transport = transport
        self._answer()  # what the module says before any command

    def received(self, data: bytes) -> None:
        self.buffer += data
        steps = self.transcript.steps
        while self.next < len(steps) and steps[self.next].sent:
            want = steps[self.next].data
            if not self.buffer.startswith(want[: len(self.buffer)]):
                self.unexpected.append(bytes(self.buffer))
                self.buffer.clear()
                return
            if len(self.buffer) < len(want):
                return
            del self.buffer[: len(want)]
            self.next += 1
            self._answer()

    def _answer(self) -> None:
        assert self.transport is not None
        steps = self.transcript.steps
        while self.next < len(steps) and not steps[self.next].sent:
            self.transport.feed(steps[self.next].data)
            self.next += 1


def _command(exchange: dict[str, Any]) -> Command:
    payload = exchange.get("payload")
    return Command(
        exchange["command"],
        timeout=float(exchange.get("timeout", 1.0)),
        bare=bool(exchange.get("bare", False)),
        call_progress=bool(exchange.get("call_progress", False)),
        ok_optional=bool(exchange.get("ok_optional", False)),
        payload=payload.encode() if payload is not None else None,
        prompt_timeout=1.0,
    )


@pytest.mark.parametrize("seed", [None, 3, 11])
@pytest.mark.parametrize("name", NAMES)
def test_session_replay(name: str, seed: int | None) -> None:
    """Every exchange's information lines and final result, and every URC in order, as the
    golden file says — with the module's bytes arriving one at a time or in random cuts."""
    transcript = load(name)
    chunker = one_byte if seed is None else random_split(seed)

    async def main() -> None:
        session = AtSession(name)
        heard: list[Urc] = []
        session.add_urc_listener(heard.append)
        modem = ReplayModem(transcript)
        transport = FakeTransport(session, modem.received, chunker)
        modem.start(transport)
        for exchange in transcript.expected["exchanges"]:
            response = await session.run(_command(exchange))
            kind, text = exchange["final"]
            assert list(response.lines) == exchange["lines"], (name, exchange["command"])
            if kind == "IMPLIED":
                assert response.implied, (name, exchange["command"], response.final)
            else:
                assert (response.final.kind.name, response.final.text) == (kind, text), (
                    name,
                    exchange["command"],
                )
        assert modem.unexpected == []
        assert modem.next == len(transcript.steps), "the transcript was not played to its end"
        want = transcript.expected["urcs"]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 2.0
        while len(heard) < len(want) and loop.time() < deadline:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)  # nothing more may come
        assert [u.text for u in heard] == want, name
        assert session.junk_lines == 0, f"{name}: known lines counted as nonsense"

    run(main(), timeout=15)


def test_replay_fails_when_a_urc_is_taken_for_the_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Guard: the replay can fail. With the ZTE noise unknown to the session (as before #20),
    the +ZDONR line before the IMEI of the bare AT+CGSN is read as the answer."""
    from appliance.drivers.at import session as session_module

    known = tuple(p for p in session_module.URC_PREFIXES if not p.startswith("+Z"))
    monkeypatch.setattr(session_module, "URC_PREFIXES", known)
    with pytest.raises(AssertionError, match="AT\\+CGSN"):
        test_session_replay("zte-k3565-cmgs-noise-cfun-range", None)


def test_transcripts_are_split_at_random_places_not_only_at_line_ends() -> None:
    """Guard on the replay itself: the seeded cuts fall inside lines and line ends."""
    data = load("sim7600-voice-call").received
    cuts = set()
    for seed in SEEDS:
        pos = 0
        for chunk in random_split(seed)(data):
            pos += len(chunk)
            cuts.add(pos)
    inside_crcrlf = {i + 1 for i in range(len(data) - 2) if data[i : i + 3] == b"\r\r\n"}
    assert cuts & inside_crcrlf
    assert random.Random(0).random() == random.Random(0).random()
