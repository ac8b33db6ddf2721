"""Prompts over real HTTP (#24): uploaded as raw audio, as a multipart file or as text, listed,
played back as the 8 kHz WAV the lines get, deleted; admin writes, crm reads; garbage, oversize,
a wrong name or scope and an unknown prompt answered 4xx saying what to do, nothing stored."""

from __future__ import annotations

import asyncio
import io
import shutil
import wave
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from appliance.api.context import Services
from appliance.api.server import HttpServer, create_app
from appliance.audio.prompts import MAX_BYTES, Prompts
from appliance.clock import ManualClock
from appliance.config.models import ApiSettings, DialboxConfig, PromptSettings
from appliance.store import open_database
from appliance.store.tokens import create_token
from tests.audio.prompt_sounds import dominant, encoded, tone
from tests.daemon.process import free_port

NOW = 1_780_000_000.0


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        import json

        return json.loads(self.body)


@dataclass
class Box:
    directory: Path
    session: aiohttp.ClientSession
    base: str
    admin: str
    crm: str
    agent: str
    db: Any

    async def call(self, method: str, path: str, *, token: str | None = None,
                   **kwargs: Any) -> Reply:  # fmt: skip
        headers = {"Authorization": f"Bearer {token or self.admin}", **kwargs.pop("headers", {})}
        async with self.session.request(method, self.base + path, headers=headers, **kwargs) as r:
            return Reply(r.status, dict(r.headers), await r.read())


@asynccontextmanager
async def box(
    tmp_path: Path, tts: bool = True, prompts: Prompts | None = None
) -> AsyncIterator[Box]:
    db = open_database(tmp_path / "d.db")
    directory = tmp_path / "prompts"
    config = DialboxConfig(database=tmp_path / "d.db", api=ApiSettings(port=free_port()),
                           prompts=PromptSettings(directory=directory, tts=tts))  # fmt: skip
    tokens = {
        scope: create_token(db, scope, scope, NOW, "test") for scope in ("admin", "crm", "agent")
    }  # type: ignore[arg-type]
    services = Services(db=db, clock=ManualClock(NOW), config=lambda: config, prompts=prompts)
    server = HttpServer(create_app(services), config.api)
    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            yield Box(directory, session, f"http://127.0.0.1:{server.port}", tokens["admin"],
                      tokens["crm"], tokens["agent"], db)  # fmt: skip
    finally:
        await server.stop()
        db.close()


def run(tmp_path: Path, scenario: Any, **kwargs: Any) -> None:
    async def main() -> None:
        async with box(tmp_path, **kwargs) as b:
            await scenario(b)

    asyncio.run(main())


def wav_of(body: bytes) -> tuple[tuple[int, int, int], bytes]:
    with wave.open(io.BytesIO(body)) as w:
        return (w.getnchannels(), w.getsampwidth(), w.getframerate()), w.readframes(w.getnframes())


def stored(directory: Path) -> list[str]:
    if not directory.exists():
        return []
    return sorted(p.name for p in directory.iterdir() if not p.name.startswith("."))


def test_upload_raw_multipart_and_text_list_play_and_delete(tmp_path: Path) -> None:
    async def scenario(b: Box) -> None:
        wav = encoded(tone(440, 1.5, 44100, channels=2), 44100, "WAV")
        r = await b.call("PUT", "/prompts/welcome", data=wav, headers={"Content-Type": "audio/wav"})
        assert r.status == 200, r
        assert r.json() == {"name": "welcome", "format": "wav", "file": "welcome.wav",
                            "bytes": len(wav), "duration": 1.5, "text": None, "error": None}  # fmt: skip
        form = aiohttp.FormData()
        mp3 = encoded(tone(1000, 1.0, 48000), 48000, "MP3")
        form.add_field("file", mp3, filename="Menu (final).mp3", content_type="audio/mpeg")
        r = await b.call("PUT", "/prompts/menu", data=form)
        assert r.status == 200 and r.json()["format"] == "mp3", r
        flac = encoded(tone(300, 0.5, 16000), 16000, "FLAC")
        r = await b.call("PUT", "/prompts/thanks", data=flac,
                         headers={"Content-Type": "application/octet-stream"})  # fmt: skip
        assert r.status == 200 and r.json()["format"] == "flac", r
        if shutil.which("espeak-ng"):
            r = await b.call("PUT", "/prompts/consent", json={"text": "This call is recorded."})
            assert r.status == 200, r
            assert r.json()["text"] == "This call is recorded." and r.json()["duration"] > 0.5

        r = await b.call("GET", "/prompts", token=b.crm)
        assert r.status == 200
        listed = {p["name"]: p for p in r.json()}
        assert {"welcome", "menu", "thanks"} <= set(listed)
        assert listed["menu"]["duration"] == pytest.approx(1.0, abs=0.03)
        r = await b.call("GET", "/prompts/thanks", token=b.crm)
        assert r.status == 200 and r.json()["duration"] == 0.5

        # The sound the lines get: WAV, 8 kHz, 16-bit mono, of the same tone.
        r = await b.call("GET", "/prompts/welcome/audio", token=b.crm)
        assert r.status == 200 and r.headers["Content-Type"] == "audio/wav"
        params, pcm = wav_of(r.body)
        assert params == (1, 2, 8000) and len(pcm) == 1.5 * 8000 * 2
        assert abs(dominant(pcm) - 440) < 2

        # Replaced by another format: the other file goes.
        ogg = encoded(tone(660, 0.7, 22050), 22050, "OGG", "VORBIS")
        r = await b.call("PUT", "/prompts/welcome", data=ogg, headers={"Content-Type": "audio/ogg"})
        assert r.status == 200 and r.json()["file"] == "welcome.ogg"
        assert "welcome.wav" not in stored(b.directory)
        _, pcm = wav_of((await b.call("GET", "/prompts/welcome/audio")).body)
        assert abs(dominant(pcm) - 660) < 3

        assert (await b.call("DELETE", "/prompts/thanks")).status == 204
        r = await b.call("GET", "/prompts/thanks/audio")
        assert r.status == 404 and "no prompt named 'thanks'" in r.json()["detail"]
        actions = [row[0] for row in b.db.conn.execute("SELECT action FROM audit ORDER BY id")]
        assert actions.count("prompt.put") >= 4 and actions[-1] == "prompt.delete"

    run(tmp_path, scenario)


def test_the_daemons_prompts_are_the_ones_served(tmp_path: Path) -> None:
    shared = Prompts(tmp_path / "elsewhere")

    async def scenario(b: Box) -> None:
        r = await b.call("PUT", "/prompts/hello", data=encoded(tone(440, 0.2, 8000), 8000, "WAV"),
                         headers={"Content-Type": "audio/wav"})  # fmt: skip
        assert r.status == 200
        assert shared.has("hello") and stored(b.directory) == []

    run(tmp_path, scenario, prompts=shared)


def test_hostile_uploads_are_4xx_saying_what_to_do_and_store_nothing(tmp_path: Path) -> None:
    async def scenario(b: Box) -> None:
        good = encoded(tone(440, 0.3, 8000), 8000, "WAV")
        assert (await b.call("PUT", "/prompts/kept", data=good,
                             headers={"Content-Type": "audio/wav"})).status == 200  # fmt: skip
        before = sorted(p.name for p in b.directory.rglob("*"))

        async def put(name: str, data: bytes, kind: str = "audio/wav", **kw: Any) -> Reply:
            return await b.call("PUT", f"/prompts/{name}", data=data,
                                headers={"Content-Type": kind}, **kw)  # fmt: skip

        cases = [
            (await put("kept", b"\x00garbage" * 500), 422, "cannot be read as audio"),
            (await put("kept", b""), 400, "the request has no body"),
            (await put("kept", good[: len(good) // 2]), 422, "ends early"),
            (await put("kept", good, "image/png"), 415, "send the prompt as audio"),
            (await put("kept", b"{", "application/json"), 400, "not valid JSON"),
            (await b.call("PUT", "/prompts/kept", json={"text": ""}), 422, "body.text"),
            (await b.call("PUT", "/prompts/kept", json={"words": "hi"}), 422, "body.text"),
            (await put("Bad%20Name", good), 422, "names are 1-64 letters"),
            (await put("..%2Fescape", good), 404, "there is no"),
            (await put("kept", good, token=b.crm), 403, "scope 'admin'"),
            (await put("kept", good, token="wrong"), 401, ""),
            (await b.call("DELETE", "/prompts/kept", token=b.crm), 403, "scope 'admin'"),
            (await b.call("GET", "/prompts", token=b.agent), 403, "scope 'crm'"),
            (await b.call("GET", "/prompts/nothing/audio"), 404, "PUT /prompts/nothing"),
            (await b.call("DELETE", "/prompts/nothing"), 404, "prompts: kept"),
        ]
        for reply, status, says in cases:
            assert reply.status == status, reply
            assert says in reply.json()["detail"], reply
        form = aiohttp.FormData()
        form.add_field("other", b"x", filename="x.wav")
        r = await b.call("PUT", "/prompts/kept", data=form)
        assert r.status == 422 and "no part named 'file'" in r.json()["detail"]
        assert sorted(p.name for p in b.directory.rglob("*")) == before
        _, pcm = wav_of((await b.call("GET", "/prompts/kept/audio")).body)
        assert abs(dominant(pcm) - 440) < 3

    run(tmp_path, scenario)


def test_an_oversize_upload_is_413_before_it_is_read_whole(tmp_path: Path) -> None:
    async def scenario(b: Box) -> None:
        big = bytes(MAX_BYTES + 1)
        r = await b.call("PUT", "/prompts/big", data=big, headers={"Content-Type": "audio/wav"})
        assert r.status == 413 and "at most 20971520 bytes" in r.json()["detail"]

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it comes
            for _ in range(22):
                yield bytes(1 << 20)

        r = await b.call("PUT", "/prompts/big", data=chunks(),
                         headers={"Content-Type": "audio/mpeg"})  # fmt: skip
        assert r.status == 413 and "compress it" in r.json()["detail"]
        form = aiohttp.FormData()
        form.add_field("file", big, filename="big.wav", content_type="audio/wav")
        r = await b.call("PUT", "/prompts/big", data=form)
        assert r.status == 413
        assert stored(b.directory) == []

    run(tmp_path, scenario)


def test_concurrent_uploads_of_one_name_each_answer_and_one_stays(tmp_path: Path) -> None:
    freqs = [400, 600, 800, 1000]

    async def scenario(b: Box) -> None:
        uploads = {f: encoded(tone(f, 0.6, 44100, 2), 44100, "WAV") for f in freqs}
        replies = await asyncio.gather(*(
            b.call("PUT", "/prompts/race", data=uploads[f], headers={"Content-Type": "audio/wav"})
            for f in freqs
        ))  # fmt: skip
        assert [r.status for r in replies] == [200] * len(freqs), replies
        assert stored(b.directory) == ["race.wav"]
        kept = next(f for f in freqs if uploads[f] == (b.directory / "race.wav").read_bytes())
        _, pcm = wav_of((await b.call("GET", "/prompts/race/audio")).body)
        assert abs(dominant(pcm) - kept) < 3

    run(tmp_path, scenario)


def test_text_without_espeak_or_with_tts_off_is_422_saying_what_to_do(tmp_path: Path) -> None:
    async def off(b: Box) -> None:
        r = await b.call("PUT", "/prompts/hi", json={"text": "Hello."})
        assert r.status == 422 and "prompts.tts: true" in r.json()["detail"], r
        assert stored(b.directory) == []

    run(tmp_path, off, tts=False)

    async def missing(b: Box) -> None:
        r = await b.call(
            "PUT", "/prompts/hi", data=b"Hello.", headers={"Content-Type": "text/plain"}
        )
        assert r.status == 422 and "apt-get install espeak-ng" in r.json()["detail"], r
        assert stored(b.directory) == []

    run(
        tmp_path / "b",
        missing,
        prompts=Prompts(tmp_path / "b" / "p", espeak="/nonexistent/espeak-ng"),
    )


def test_a_full_disk_is_507_and_the_old_prompt_stays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno
    import os

    from appliance.audio import prompts as prompts_module

    async def scenario(b: Box) -> None:
        old = encoded(tone(440, 0.3, 8000), 8000, "WAV")
        r = await b.call("PUT", "/prompts/kept", data=old, headers={"Content-Type": "audio/wav"})
        assert r.status == 200

        def full(fd: int) -> None:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(prompts_module.os, "fsync", full)
        new = encoded(tone(880, 0.3, 8000), 8000, "WAV")
        r = await b.call("PUT", "/prompts/kept", data=new, headers={"Content-Type": "audio/wav"})
        monkeypatch.undo()
        assert r.status == 507 and "No space left on device" in r.json()["detail"], r
        assert (b.directory / "kept.wav").read_bytes() == old

    run(tmp_path, scenario)
