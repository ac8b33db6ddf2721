"""Library prompts on lines without a host audio path (#24, callaudio.store_prompt): the engine
puts the prompt library's converted WAV on the module (emulated Quectel and SIMCom over real
ptys, the real driver, the real library) and plays it by its stored name; once per content,
again when it changed or the module lost it; a refused upload falls back to the module-named
play and the evidence keeps why, the call going on."""

from __future__ import annotations

import asyncio
import contextlib
import json
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from appliance.audio.prompts import Prompts, wav_bytes
from appliance.clock import ManualClock
from appliance.config.models import DialboxConfig
from appliance.domain import Outcome
from appliance.drivers.emulators.gsm.device import EmulatedModem
from appliance.drivers.emulators.gsm.farm import Farm
from appliance.drivers.emulators.gsm.script import parse
from appliance.drivers.emulators.sounds import sound
from appliance.drivers.gsm.modem import GsmModem
from appliance.drivers.line import LineError
from appliance.engine.callaudio import AudioParts, module_file, play_prompt
from appliance.engine.dialer import Engine
from appliance.engine.linepool import LinePool
from appliance.engine.storeplanner import StorePlanner
from appliance.metrics import Metrics
from appliance.scheduler.strategy import parse_strategy, to_dict
from appliance.store import open_database
from appliance.store.strategies import save_strategy
from tests.drivers.drivers_fakes import run
from tests.drivers.emulated import TIME_SCALE, TIMEOUTS
from tests.engine.test_engine_direct import NOW, NY1
from tests.scheduler.dbfixtures import add_campaign, add_contact

PERSON = "+15550000101"
NUMBERS = [
    {"number": PERSON, "outcome": "answer", "ring": 1, "talk": 400},
    {"number": NY1, "outcome": "answer", "ring": 1, "talk": 20},  # the campaign's contact
]
UPLOAD = {"quectel": "AT+QFUPL=", "simcom": "AT+FSWRITE="}


@contextlib.asynccontextmanager
async def module(dialect: str, tmp: Path) -> AsyncIterator[tuple[EmulatedModem, GsmModem]]:
    script = {"time_scale": TIME_SCALE, "boot_time": 2, "numbers": NUMBERS}
    farm = Farm(1, tmp, dialect, seed=1, script=parse(script))
    await farm.start(control=False)
    modem = GsmModem(str(tmp / "gsm0"), name="l1", audio=None, timeouts=TIMEOUTS,
                     poll_interval=0.05, health_interval=0.2, backoff=(0.05, 0.2),
                     min_ring_timeout=0.0, sim_wait=3.0)  # fmt: skip
    try:
        await modem.open()
        yield farm.modems[0], modem
    finally:
        await modem.close()
        await farm.stop()


def library(directory: Path, **prompts: bytes) -> Prompts:
    lib = Prompts(directory / "prompts", tts=False)
    for name, pcm in prompts.items():
        lib.add(name, wav_bytes(pcm), f"{name}.wav")
    return lib


def uploads(emulated: EmulatedModem, dialect: str) -> int:
    return sum(1 for c in emulated.commands if c.startswith(UPLOAD[dialect]))


GREETING = sound("person-long")[: 8000 * 2]  # one second
OTHER = sound("machine")[: 4000 * 2]


@pytest.mark.parametrize("dialect", ["quectel", "simcom"])
def test_an_automated_campaign_s_library_message_reaches_a_line_without_host_audio(
    dialect: str,
) -> None:
    with tempfile.TemporaryDirectory(prefix="dialbox-mp-") as name:
        tmp = Path(name)
        db = open_database(tmp / "d.db")
        strategy = {"name": "s", "on": {"Connected": "close", "default": "retry 20s"}}
        save_strategy(db, "s", to_dict(parse_strategy(strategy)), 0.0, "test")
        cid = add_campaign(db, "c", json.dumps({"strategy": "s", "message": "greeting"}))
        db.conn.execute("UPDATE campaigns SET type = 'automated' WHERE id = ?", (cid,))
        add_contact(db, cid, [NY1])
        config = DialboxConfig.model_validate({
            "database": db.path, "timezone": "America/New_York",
            "lines": [{"name": "l1", "kind": "gsm", "device": str(tmp / "gsm0")}],
        })  # fmt: skip
        lib = library(tmp, greeting=GREETING)
        expected = wav_bytes(lib.pcm("greeting"))

        async def main() -> None:
            async with module(dialect, tmp) as (emulated, modem):
                clock = ManualClock(NOW)
                pool = LinePool(config, lambda _: modem, db=db, clock=clock)  # the real driver
                slot = pool.slot("l1")
                assert slot is not None and modem.health().up
                slot.up = True  # its LineUp came before the pool listened
                engine = Engine(config, db, clock, pool, StorePlanner(config, db, clock),
                                Metrics(), audio=AudioParts(prompts=lib))  # fmt: skip
                assert engine.round() == 1
                await asyncio.gather(*(c.task for c in list(engine.calls.values())))
                stored = module_file("greeting")
                assert emulated.files.files[stored] == expected  # the library's conversion
                assert [content for _, content in emulated.files.played] == [expected]
                assert uploads(emulated, dialect) >= 1

        run(main(), timeout=30)
        (outcome, evidence) = next(db.conn.execute("SELECT outcome, evidence FROM attempts"))
        assert outcome == int(Outcome.CONNECTED)
        assert "played greeting" in json.loads(evidence)


@pytest.mark.parametrize("dialect", ["quectel", "simcom"])
def test_stored_once_per_content_again_when_changed_or_lost(dialect: str, tmp_path: Path) -> None:
    lib = library(tmp_path, greeting=GREETING)

    async def main() -> None:
        async with module(dialect, tmp_path) as (emulated, modem):
            evidence: list[str] = []
            for _ in range(2):  # two calls: one upload
                await modem.dial(PERSON, 30)
                assert await play_prompt(modem, lib, "greeting", evidence) == "played"
                await modem.hang_up()
            assert uploads(emulated, dialect) == (1 if dialect == "quectel" else 2)
            first = wav_bytes(lib.pcm("greeting"))
            assert [c for _, c in emulated.files.played] == [first, first]
            lib.add("greeting", wav_bytes(OTHER), "greeting.wav")  # the prompt changed
            changed = wav_bytes(lib.pcm("greeting"))
            assert changed != first
            await modem.dial(PERSON, 30)
            await play_prompt(modem, lib, "greeting", evidence)
            assert emulated.files.played[-1][1] == changed
            sent = uploads(emulated, dialect)
            emulated.files.lose()  # the module lost it, without a word
            await play_prompt(modem, lib, "greeting", evidence)
            assert emulated.files.played[-1][1] == changed  # stored again, played
            assert uploads(emulated, dialect) > sent
            assert evidence == []  # nothing went wrong that the attempt must show
            await modem.hang_up()

    run(main(), timeout=30)


def test_a_refused_upload_falls_back_to_the_module_s_own_file_with_evidence(
    tmp_path: Path,
) -> None:
    lib = library(tmp_path, greeting=GREETING)

    async def main() -> None:
        async with module("quectel", tmp_path) as (emulated, modem):
            emulated.files.capacity = 1000  # full
            emulated.files.files["greeting"] = b"the module's own"  # by the prompt's name
            evidence: list[str] = []
            await modem.dial(PERSON, 30)
            assert await play_prompt(modem, lib, "greeting", evidence) == "played"
            assert emulated.files.played == [("greeting", b"the module's own")]
            assert len(evidence) == 1 and "storage is full" in evidence[0]
            assert "played the module's own greeting" in evidence[0]
            # no such file either: the LineError the callers already handle; the call goes on
            del emulated.files.files["greeting"]
            with pytest.raises(LineError, match="playing greeting"):
                await play_prompt(modem, lib, "greeting", evidence)
            assert modem.voice.call is not None
            await modem.hang_up()

    run(main(), timeout=30)


def test_a_prompt_not_in_the_library_is_the_module_s_own_file(tmp_path: Path) -> None:
    lib = library(tmp_path)

    async def main() -> None:
        async with module("quectel", tmp_path) as (emulated, modem):
            emulated.files.files["stock.wav"] = b"stock"
            await modem.dial(PERSON, 30)
            evidence: list[str] = []
            assert await play_prompt(modem, lib, "stock.wav", evidence) == "played"
            assert emulated.files.played == [("stock.wav", b"stock")]
            assert uploads(emulated, "quectel") == 0 and evidence == []
            await modem.hang_up()

    run(main(), timeout=30)
