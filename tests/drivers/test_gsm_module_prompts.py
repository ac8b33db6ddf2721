"""Prompts stored on the module (#24): a line without a host audio path uploads a WAV with the
vendor's file commands (Quectel AT+QFUPL, SIMCom AT+FSCREATE/AT+FSWRITE) over real ptys to the
emulator, and plays it by its stored name; corrupted, refused and oversized uploads are clear
errors and the call goes on; a changed prompt, a rebooted module and a wiped flash upload again."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from appliance.audio.prompts import wav_bytes
from appliance.drivers.emulators.gsm.device import EmulatedModem
from appliance.drivers.emulators.gsm.farm import Farm
from appliance.drivers.emulators.gsm.script import parse
from appliance.drivers.emulators.sounds import sound
from appliance.drivers.gsm.files import MAX_FILE, check_wav, checksum
from appliance.drivers.gsm.modem import GsmModem
from appliance.drivers.line import LineError, LineUp, NotSupported
from appliance.drivers.outcome import Outcome
from tests.drivers.emulated import TIME_SCALE, TIMEOUTS

PERSON = "+15550000101"
NUMBERS = [{"number": PERSON, "outcome": "answer", "ring": 1, "talk": 400}]
UPLOAD = {"quectel": "AT+QFUPL=", "simcom": "AT+FSWRITE="}
PLAY_NAME = {"quectel": "welcome.wav", "simcom": "c:/welcome.wav"}


@contextlib.asynccontextmanager
async def line(dialect: str, **modem_kw: Any) -> AsyncIterator[tuple[EmulatedModem, GsmModem]]:
    script = {"time_scale": TIME_SCALE, "boot_time": 2, "numbers": NUMBERS}
    with tempfile.TemporaryDirectory(prefix="dialbox-files-") as tmp:
        farm = Farm(1, Path(tmp), dialect, seed=1, script=parse(script))
        await farm.start(control=False)
        modem = GsmModem(str(Path(tmp) / "gsm0"), name="gsm0", audio=None, timeouts=TIMEOUTS,
                         poll_interval=0.05, health_interval=0.2, backoff=(0.05, 0.2),
                         min_ring_timeout=0.0, sim_wait=3.0, **modem_kw)  # fmt: skip
        try:
            await modem.open()
            yield farm.modems[0], modem
        finally:
            await modem.close()
            await farm.stop()


def prompt(seconds: float, source: str = "person") -> bytes:
    return wav_bytes(sound(source)[: int(seconds * 8000) * 2])


async def call(modem: GsmModem) -> None:
    result = await modem.dial(PERSON, 30)
    assert result.outcome is Outcome.CONNECTED and not result.ended
    assert modem.audio is None  # no host audio path: the module plays


def uploads(emulated: EmulatedModem, dialect: str) -> int:
    return sum(1 for c in emulated.commands if c.startswith(UPLOAD[dialect]))


def test_checksum_is_the_xor_of_byte_pairs_an_odd_byte_high() -> None:
    assert checksum(b"") == 0
    assert checksum(b"\x12\x34") == 0x1234
    assert checksum(b"\x12\x34\x56\x78") == 0x1234 ^ 0x5678
    assert checksum(b"\x12\x34\x56") == 0x1234 ^ 0x5600


def test_only_8khz_mono_16bit_wav_within_the_bound_is_stored() -> None:
    check_wav(prompt(0.1))
    with pytest.raises(LineError, match="not a WAV"):
        check_wav(b"ID3\x03garbage" * 10)
    stereo = bytearray(prompt(0.1))
    stereo[22] = 2  # channels
    with pytest.raises(LineError, match="8 kHz mono 16-bit"):
        check_wav(bytes(stereo))
    with pytest.raises(LineError, match="shorten it"):
        check_wav(b"RIFF" + bytes(MAX_FILE))


@pytest.mark.parametrize("dialect", ["quectel", "simcom"])
def test_a_prompt_uploaded_once_plays_by_its_stored_name(dialect: str) -> None:
    async def main() -> None:
        async with line(dialect) as (emulated, modem):
            await call(modem)
            wav = prompt(1.0)  # > 10240 bytes: two AT+FSWRITE on SIMCom
            name = await modem.store_prompt("welcome.wav", wav)
            assert name == PLAY_NAME[dialect]
            assert emulated.files.files["welcome.wav"] == wav  # byte for byte
            await modem.play(name)
            assert emulated.files.played[-1] == (name, wav)
            sent = uploads(emulated, dialect)
            assert sent == (1 if dialect == "quectel" else 2)
            # the same content again: nothing uploaded, it plays
            assert await modem.store_prompt("welcome.wav", wav) == name
            assert uploads(emulated, dialect) == sent
            # a changed prompt replaces the module's copy
            changed = prompt(0.5, "machine")
            assert await modem.store_prompt("welcome.wav", changed) == name
            assert uploads(emulated, dialect) > sent
            assert emulated.files.files["welcome.wav"] == changed
            await modem.play(name)
            assert emulated.files.played[-1] == (name, changed)
            if dialect == "quectel":
                assert await modem.files.list() == {"welcome.wav": len(changed)}
            else:
                assert "welcome.wav" in await modem.files.list()
            assert modem.voice.call is not None  # the call went on throughout

    asyncio.run(main())


@pytest.mark.parametrize("dialect", ["quectel", "simcom"])
def test_a_file_the_module_does_not_hold_is_refused_by_its_playback(dialect: str) -> None:
    async def main() -> None:
        async with line(dialect) as (emulated, modem):
            await call(modem)
            with pytest.raises(LineError, match="playing"):
                await modem.play(PLAY_NAME[dialect])
            assert not emulated.files.played
            assert modem.voice.call is not None

    asyncio.run(main())


def test_a_corrupted_upload_is_caught_by_the_checksum_deleted_and_the_call_goes_on() -> None:
    async def main() -> None:
        async with line("quectel") as (emulated, modem):
            await call(modem)
            emulated.files.corrupt = True  # one byte changed on its way
            wav = prompt(0.5)
            with pytest.raises(LineError, match="corrupted on the port") as info:
                await modem.store_prompt("welcome.wav", wav)
            assert f"{checksum(wav):04x}" in str(info.value)
            assert "welcome.wav" not in emulated.files.files  # not left to be played
            assert modem.voice.call is not None and modem.health().up
            # the next try uploads again (nothing remembered) and plays
            name = await modem.store_prompt("welcome.wav", wav)
            await modem.play(name)
            assert emulated.files.played[-1] == (name, wav)

    asyncio.run(main())


@pytest.mark.parametrize("dialect", ["quectel", "simcom"])
def test_full_storage_is_said_before_any_byte_is_sent(dialect: str) -> None:
    async def main() -> None:
        async with line(dialect) as (emulated, modem):
            await call(modem)
            emulated.files.capacity = 4000
            with pytest.raises(LineError, match=r"storage is full \(4000 bytes free"):
                await modem.store_prompt("welcome.wav", prompt(0.5))
            assert uploads(emulated, dialect) == 0
            assert modem.voice.call is not None and modem.health().up

    asyncio.run(main())


@pytest.mark.parametrize("dialect", ["quectel", "simcom"])
def test_an_upload_the_module_refuses_is_a_clear_error(dialect: str) -> None:
    async def main() -> None:
        async with line(dialect) as (emulated, modem):
            await call(modem)
            emulated.files.refuse = 403
            expected = r"CME ERROR: 403 \(the module's storage is full" if dialect == "quectel" else (
                r"refused the data \(ERROR\): its storage may be full")  # fmt: skip
            with pytest.raises(LineError, match=expected):
                await modem.store_prompt("welcome.wav", prompt(0.5))
            assert "welcome.wav" not in emulated.files.files  # nothing half-written is left
            assert modem.voice.call is not None and modem.health().up
            name = await modem.store_prompt("welcome.wav", prompt(0.5))  # then it works
            await modem.play(name)

    asyncio.run(main())


def test_a_module_without_file_commands_says_so() -> None:
    async def main() -> None:
        async with line("quectel") as (emulated, modem):
            emulated.dialect = dataclasses.replace(
                emulated.dialect,
                vendor_commands=emulated.dialect.vendor_commands
                - {"+QFUPL", "+QFLDS", "+QFDEL", "+QFLST"},
            )
            with pytest.raises(NotSupported, match="no file commands"):
                await modem.store_prompt("welcome.wav", prompt(0.2))
            assert modem.health().up

    asyncio.run(main())


def test_a_line_that_cannot_play_files_stores_none() -> None:
    async def main() -> None:
        async with line("huawei") as (_, modem):
            with pytest.raises(NotSupported):
                await modem.store_prompt("welcome.wav", prompt(0.2))

    asyncio.run(main())


@pytest.mark.parametrize("bad", ["../etc/passwd", "a b.wav", "welcome.mp3", "x" * 40 + ".wav"])
def test_a_file_name_the_module_may_not_take_is_refused_here(bad: str) -> None:
    async def main() -> None:
        async with line("quectel") as (emulated, modem):
            with pytest.raises(LineError, match="not a module file name"):
                await modem.store_prompt(bad, prompt(0.2))
            assert uploads(emulated, "quectel") == 0

    asyncio.run(main())


def test_a_rebooted_module_gets_its_prompts_again_and_a_wiped_one_too() -> None:
    async def main() -> None:
        async with line("quectel") as (emulated, modem):
            wav = prompt(0.5)
            await modem.store_prompt("welcome.wav", wav)
            assert uploads(emulated, "quectel") == 1
            back = asyncio.Event()
            modem.subscribe(lambda e: back.set() if isinstance(e, LineUp) else None)
            emulated.reboot()
            await asyncio.wait_for(back.wait(), 10)
            name = await modem.store_prompt("welcome.wav", wav)
            assert uploads(emulated, "quectel") == 2  # the module restarted: not trusted
            await call(modem)
            emulated.files.lose()  # wiped under us, no word said
            with pytest.raises(LineError):
                await modem.play(name)  # the play's failure forgets the file...
            assert await modem.store_prompt("welcome.wav", wav) == name
            assert uploads(emulated, "quectel") == 3  # ...so it is uploaded again
            await modem.play(name)
            assert emulated.files.played[-1] == (name, wav)

    asyncio.run(main())


def test_garbage_instead_of_the_go_ahead_is_an_error_not_a_hang() -> None:
    async def main() -> None:
        async with line("quectel") as (emulated, modem):
            emulated.garbage = True  # the module answers every command with line noise
            with pytest.raises(LineError, match=r"uploading welcome\.wav"):
                await modem.store_prompt("welcome.wav", prompt(0.2))
            emulated.garbage = False
            assert "welcome.wav" not in emulated.files.files
            if not modem.health().up:  # the line probed the noisy module and reopened it
                back = asyncio.Event()
                modem.subscribe(lambda e: back.set() if isinstance(e, LineUp) else None)
                await asyncio.wait_for(back.wait(), 10)
            await call(modem)  # the line is usable again
            name = await modem.store_prompt("welcome.wav", prompt(0.2))
            await modem.play(name)

    asyncio.run(main())


@pytest.mark.parametrize("dialect", ["quectel", "simcom"])
def test_a_module_silent_after_the_bytes_is_a_timeout_and_the_call_goes_on(
    dialect: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def main() -> None:
        async with line(dialect) as (emulated, modem):
            await call(modem)
            store = emulated.files
            real = store.receive

            def swallow(size: int, timeout: float, done: Any) -> None:
                real(size, timeout, lambda body: None)  # takes the bytes, answers nothing

            monkeypatch.setattr(store, "receive", swallow)
            with pytest.raises(LineError, match="no answer within"):
                await modem.store_prompt("welcome.wav", prompt(0.2))
            monkeypatch.setattr(store, "receive", real)
            assert modem.voice.call is not None
            name = await modem.store_prompt("welcome.wav", prompt(0.2))  # the port works
            await modem.play(name)
            assert store.played[-1] == (name, prompt(0.2))

    asyncio.run(main())
