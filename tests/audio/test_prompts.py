"""Prompts from files (#24): dropped or added WAV/MP3/FLAC/OGG become 8 kHz s16le mono of the
same length and sound, converted once and again when the file changes; what cannot be played is
refused with the reason and never half-written."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import numpy as np
import pytest

from appliance.audio import prompts as prompts_module
from appliance.audio.prompts import CONVERTED, PEAK, PromptError, PromptMissing, Prompts
from appliance.drivers.audio import RATE, SAMPLE_BYTES, frames_of
from appliance.names import BadName
from tests.audio.prompt_sounds import dominant, encoded, power_at, samples_of, tone

PEAK_S16 = PEAK * 32767


def seconds(pcm: bytes) -> float:
    return len(pcm) / (SAMPLE_BYTES * RATE)


def files(directory: Path) -> list[str]:
    """Every file under the directory, hidden ones too, relative."""
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())


def test_a_dropped_44k_stereo_wav_becomes_8k_mono_of_its_length_and_tone(tmp_path: Path) -> None:
    (tmp_path / "welcome.wav").write_bytes(encoded(tone(440, 1.5, 44100, channels=2), 44100, "WAV"))
    prompts = Prompts(tmp_path)
    assert prompts.has("welcome")
    pcm = prompts.pcm("welcome")
    assert seconds(pcm) == pytest.approx(1.5, abs=0.002)
    assert abs(dominant(pcm) - 440) < 2
    assert power_at(pcm, 440) > 0.9 and power_at(pcm, 1000) < 0.01
    peak = np.max(np.abs(samples_of(pcm)))
    assert PEAK_S16 - 2 <= peak <= PEAK_S16 + 1  # normalized to -1 dBFS, not clipped
    # Cut into the channel's frames, it is whole frames of sound.
    assert len(frames_of(pcm)) == 75


def test_an_mp3_and_a_flac_added_become_8k_mono(tmp_path: Path) -> None:
    prompts = Prompts(tmp_path)
    mp3 = encoded(tone(1000, 2.0, 48000, channels=2), 48000, "MP3")
    info = prompts.add("menu", mp3, "Menu Final.mp3")
    assert (info.name, info.format, info.file, info.bytes) == ("menu", "mp3", "menu.mp3", len(mp3))
    assert info.duration == pytest.approx(2.0, abs=0.03)
    assert abs(dominant(prompts.pcm("menu")) - 1000) < 3
    flac = encoded(tone(300, 0.8, 16000), 16000, "FLAC")
    info = prompts.add("thanks", flac, "thanks.flac")
    assert info.format == "flac" and info.duration == pytest.approx(0.8, abs=0.002)
    assert abs(dominant(prompts.pcm("thanks")) - 300) < 3
    ogg = encoded(tone(700, 1.0, 22050), 22050, "OGG", "VORBIS")
    assert prompts.add("bye", ogg, "bye.ogg").duration == pytest.approx(1.0, abs=0.01)
    assert abs(dominant(prompts.pcm("bye")) - 700) < 3
    assert [p.name for p in prompts.list()] == ["bye", "menu", "thanks"]


def test_channels_are_averaged_and_levels_brought_to_the_peak(tmp_path: Path) -> None:
    left, right = tone(500, 1.0, 32000), tone(1500, 1.0, 32000)
    stereo = np.stack([left, right], axis=1)
    prompts = Prompts(tmp_path)
    prompts.add("both", encoded(stereo, 32000, "WAV"), "both.wav")
    pcm = prompts.pcm("both")
    assert power_at(pcm, 500) == pytest.approx(power_at(pcm, 1500), rel=0.05)
    # A quiet file is raised to -1 dBFS; a float file louder than full scale is lowered, and
    # nothing clips.
    prompts.add("quiet", encoded(tone(440, 0.5, 8000, level=0.1), 8000, "WAV"), "q.wav")
    prompts.add("loud", encoded(tone(440, 0.5, 8000, level=3.0), 8000, "WAV", "FLOAT"), "l.wav")
    for name in ("quiet", "loud"):
        assert np.max(np.abs(samples_of(prompts.pcm(name)))) == pytest.approx(PEAK_S16, abs=2)
    # Silence stays silence (no division by a zero peak).
    prompts.add("hush", encoded(np.zeros(4000), 8000, "WAV"), "hush.wav")
    assert prompts.pcm("hush") == bytes(8000)


def test_converted_once_kept_by_content_and_again_when_the_file_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = Prompts._decode
    decoded: list[str] = []

    def counting(self: Prompts, data: bytes, filename: str) -> tuple[bytes, str]:
        decoded.append(filename)
        return real(self, data, filename)

    monkeypatch.setattr(Prompts, "_decode", counting)
    source = tmp_path / "hello.wav"
    source.write_bytes(encoded(tone(440, 1.0, 44100), 44100, "WAV"))
    prompts = Prompts(tmp_path)
    first = prompts.pcm("hello")
    assert prompts.pcm("hello") is first and decoded == ["hello.wav"]
    assert len(list((tmp_path / CONVERTED).iterdir())) == 1
    # A new process (a new instance) reads the conversion kept beside the file.
    assert Prompts(tmp_path).pcm("hello") == first and decoded == ["hello.wav"]
    # The file replaced by another sound: converted again.
    source.write_bytes(encoded(tone(880, 1.0, 44100), 44100, "WAV"))
    os.utime(source, ns=(source.stat().st_atime_ns, source.stat().st_mtime_ns + 1_000_000))
    assert abs(dominant(prompts.pcm("hello")) - 880) < 2
    assert decoded == ["hello.wav", "hello.wav"]
    # Replaced by an upload of another format: the old file goes, the new one plays.
    prompts.add("hello", encoded(tone(600, 0.5, 8000), 8000, "FLAC"), "x.flac")
    assert [p.file for p in prompts.list()] == ["hello.flac"]
    assert abs(dominant(prompts.pcm("hello")) - 600) < 2


def test_two_prompts_of_the_same_content_share_a_conversion(tmp_path: Path) -> None:
    data = encoded(tone(440, 0.5, 16000), 16000, "WAV")
    prompts = Prompts(tmp_path)
    prompts.add("a", data, "a.wav")
    prompts.add("b", data, "b.wav")
    assert len(list((tmp_path / CONVERTED).iterdir())) == 1
    prompts.remove("a")
    assert prompts.pcm("b") and not prompts.has("a")


def test_remove_deletes_the_source_and_its_conversion(tmp_path: Path) -> None:
    prompts = Prompts(tmp_path)
    prompts.add("gone", encoded(tone(440, 0.5, 8000), 8000, "WAV"), "gone.wav")
    prompts.remove("gone")
    assert files(tmp_path) == []
    with pytest.raises(PromptMissing, match="no prompt named 'gone'"):
        prompts.remove("gone")


def test_a_missing_prompt_says_which_there_are_and_how_to_add_one(tmp_path: Path) -> None:
    prompts = Prompts(tmp_path / "none-yet")
    with pytest.raises(PromptMissing) as caught:
        prompts.pcm("welcome")
    assert "prompts: none" in str(caught.value) and "PUT /prompts/welcome" in str(caught.value)
    assert "welcome.wav" in str(caught.value) and "welcome.txt" in str(caught.value)
    prompts.add("menu", encoded(tone(440, 0.2, 8000), 8000, "WAV"), "m.wav")
    with pytest.raises(PromptMissing, match=r"prompts: menu\)"):
        prompts.pcm("welcome")
    assert not prompts.has("welcome")


def test_load_converts_off_the_event_loop(tmp_path: Path) -> None:
    (tmp_path / "p.flac").write_bytes(encoded(tone(440, 0.4, 44100), 44100, "FLAC"))
    prompts = Prompts(tmp_path)

    async def main() -> tuple[bytes, bool]:
        loop_thread = threading.get_ident()
        seen: list[int] = []
        real = prompts.pcm

        def pcm(name: str) -> bytes:
            seen.append(threading.get_ident())
            return real(name)

        prompts.pcm = pcm  # type: ignore[method-assign]
        pcm_ = await prompts.load("p")
        return pcm_, seen != [loop_thread]

    pcm, elsewhere = asyncio.run(main())
    assert elsewhere and seconds(pcm) == pytest.approx(0.4, abs=0.002)


# ---------------------------------------------------------------------- hostile


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"", "is empty"),
        (os.urandom(4096), "cannot be read as audio"),
        (b"RIFF\x10\x00\x00\x00WAVEfmt ", "cannot be read as audio"),
        (b"ID3" + bytes(200), "cannot be read as audio|holds no sound"),
        (b"just some text" * 50, "cannot be read as audio"),
    ],
    ids=["empty", "random", "a-wav-header-only", "an-id3-tag-only", "text"],
)
def test_an_undecodable_upload_is_refused_and_nothing_written(
    tmp_path: Path, data: bytes, why: str
) -> None:
    prompts = Prompts(tmp_path)
    prompts.add("kept", encoded(tone(440, 0.3, 8000), 8000, "WAV"), "kept.wav")
    before = files(tmp_path)
    with pytest.raises(PromptError, match=why) as caught:
        prompts.add("kept", data, "upload.wav")
    assert "upload a WAV, MP3, FLAC or OGG file" in str(caught.value)
    assert "0x" not in str(caught.value)  # no object reprs from inside libsndfile
    assert files(tmp_path) == before  # the old prompt stays whole; no temporary files
    assert abs(dominant(prompts.pcm("kept")) - 440) < 3


def test_a_truncated_file_is_refused_with_how_much_it_holds(tmp_path: Path) -> None:
    prompts = Prompts(tmp_path)
    wav = encoded(tone(440, 2.0, 44100, channels=2), 44100, "WAV")
    with pytest.raises(
        PromptError, match=r"ends early: it declares 2\.0 s of sound but holds 1\.0 s"
    ):
        prompts.add("cut", wav[: len(wav) // 2], "cut.wav")
    flac = encoded(tone(440, 2.0, 44100), 44100, "FLAC")
    with pytest.raises(PromptError, match="cannot be read as audio"):
        prompts.add("cut", flac[: len(flac) // 2], "cut.flac")
    mp3 = encoded(tone(440, 2.0, 44100), 44100, "MP3")
    with pytest.raises(PromptError, match="ends early"):
        prompts.add("cut", mp3[: len(mp3) // 2], "cut.mp3")
    assert files(tmp_path) == []


def test_a_dropped_file_that_cannot_be_played_is_listed_with_its_error(tmp_path: Path) -> None:
    (tmp_path / "broken.mp3").write_bytes(os.urandom(3000))
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "Bad Name.wav").write_bytes(encoded(tone(440, 0.2, 8000), 8000, "WAV"))
    (tmp_path / "notes.doc").write_bytes(b"not a prompt")
    (tmp_path / ".welcome.wav.1234.part").write_bytes(b"half")
    prompts = Prompts(tmp_path)
    listed = {p.name: p for p in prompts.list()}
    assert sorted(listed) == ["Bad Name", "broken", "empty"]
    assert "cannot be read as audio" in (listed["broken"].error or "")
    assert "is empty" in (listed["empty"].error or "")
    assert "rename the file" in (listed["Bad Name"].error or "")
    assert listed["broken"].duration is None
    assert prompts.has("broken") and not prompts.has("Bad Name")
    with pytest.raises(PromptError, match="prompt 'broken' cannot be played"):
        prompts.pcm("broken")
    with pytest.raises(PromptMissing, match="cannot name a prompt"):
        prompts.pcm("Bad Name")
    # Replaced by a good file, it plays.
    (tmp_path / "broken.mp3").write_bytes(encoded(tone(440, 0.5, 44100), 44100, "MP3"))
    assert abs(dominant(prompts.pcm("broken")) - 440) < 3


def test_an_oversize_or_overlong_file_is_refused(tmp_path: Path) -> None:
    prompts = Prompts(tmp_path)
    with pytest.raises(PromptError, match="at most 20971520 bytes"):
        prompts.add("big", bytes(prompts_module.MAX_BYTES + 1), "big.wav")
    short = Prompts(tmp_path, max_seconds=1)
    with pytest.raises(PromptError, match="at most 1 s: cut it"):
        short.add("long", encoded(tone(440, 3.0, 8000), 8000, "WAV"), "long.wav")
    # A streamed WAV (no length in its header) is counted while it is read.
    streamed = bytearray(encoded(tone(440, 3.0, 8000), 8000, "WAV"))
    streamed[40:44] = (0x7FFFF000).to_bytes(4, "little")
    with pytest.raises(PromptError, match="at most 1 s"):
        short.add("long", bytes(streamed), "long.wav")
    assert files(tmp_path) == []


@pytest.mark.parametrize(
    "name", ["../evil", "a/b", "..", ".hidden", "", "a\\b", "x" * 65, "with space", "-rf"]
)
def test_a_name_outside_the_rule_is_refused(tmp_path: Path, name: str) -> None:
    inside = tmp_path / "prompts"
    prompts = Prompts(inside)
    with pytest.raises(BadName):
        prompts.add(name, encoded(tone(440, 0.2, 8000), 8000, "WAV"), "ok.wav")
    with pytest.raises(BadName):
        prompts.add_text(name, "hello")
    assert files(tmp_path) == []
    assert not prompts.has(name)


def test_concurrent_uploads_of_one_name_leave_one_whole_prompt(tmp_path: Path) -> None:
    prompts = Prompts(tmp_path)
    freqs = [300, 500, 700, 900, 1100, 1300]
    uploads = {f: encoded(tone(f, 0.5 + f / 10000, 44100), 44100, "WAV") for f in freqs}
    prompts.add("race", uploads[300], "race.wav")
    errors: list[BaseException] = []
    heard: list[bytes] = []
    stop = threading.Event()

    def upload(freq: int) -> None:
        try:
            prompts.add("race", uploads[freq], f"race-{freq}.wav")
        except BaseException as exc:
            errors.append(exc)

    def read() -> None:
        while not stop.is_set():
            heard.append(prompts.pcm("race"))

    readers = [threading.Thread(target=read) for _ in range(2)]
    writers = [threading.Thread(target=upload, args=(f,)) for f in freqs]
    for t in readers + writers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    for t in readers:
        t.join()
    assert errors == []
    assert [f for f in files(tmp_path) if not f.startswith(CONVERTED)] == ["race.wav"]
    # The file there is one whole upload, and the prompt plays that upload.
    kept = next(f for f in freqs if uploads[f] == (tmp_path / "race.wav").read_bytes())
    pcm = prompts.pcm("race")
    assert abs(dominant(pcm) - kept) < 3 and seconds(pcm) == pytest.approx(0.5 + kept / 10000)
    # Every read while they raced was a whole prompt of one of the uploads.
    for got in heard:
        freq = min(freqs, key=lambda f: abs(f - dominant(got)))
        assert seconds(got) == pytest.approx(0.5 + freq / 10000, abs=0.001)


def test_many_readers_of_a_new_file_convert_it_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "shared.wav").write_bytes(encoded(tone(440, 2.0, 48000, 2), 48000, "WAV"))
    real = Prompts._decode
    count: list[int] = []

    def counting(self: Prompts, data: bytes, filename: str) -> tuple[bytes, str]:
        count.append(1)
        return real(self, data, filename)

    monkeypatch.setattr(Prompts, "_decode", counting)
    prompts = Prompts(tmp_path)
    got: list[bytes] = []
    threads = [threading.Thread(target=lambda: got.append(prompts.pcm("shared"))) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 6 and len(set(got)) == 1 and count == [1]


def test_the_directory_is_the_configs_relative_to_its_file_else_beside_the_database(
    tmp_path: Path,
) -> None:
    from appliance.audio.prompts import prompts_directory
    from appliance.config import load_config

    config_file = tmp_path / "etc" / "dialbox.yaml"
    config_file.parent.mkdir()
    config_file.write_text("database: ../state/d.db\n", "utf-8")
    assert prompts_directory(load_config(config_file)) == tmp_path / "state" / "prompts"
    config_file.write_text("database: ../state/d.db\nprompts:\n  directory: voice\n", "utf-8")
    assert prompts_directory(load_config(config_file)) == tmp_path / "etc" / "voice"


def test_a_full_disk_keeps_the_old_prompt_whole_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    prompts = Prompts(tmp_path)
    prompts.add("kept", encoded(tone(440, 0.3, 8000), 8000, "WAV"), "kept.wav")
    before = files(tmp_path)

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(prompts_module.os, "fsync", full)
    with pytest.raises(prompts_module.PromptStoreError, match="No space left on device; free"):
        prompts.add("kept", encoded(tone(880, 0.3, 8000), 8000, "FLAC"), "new.flac")
    assert files(tmp_path) == before  # no half-written file, the old one in place
    monkeypatch.undo()
    assert abs(dominant(Prompts(tmp_path).pcm("kept")) - 440) < 3


def test_of_two_dropped_files_with_one_stem_the_newer_plays(tmp_path: Path) -> None:
    older, newer = tmp_path / "twice.wav", tmp_path / "twice.flac"
    older.write_bytes(encoded(tone(440, 0.3, 8000), 8000, "WAV"))
    newer.write_bytes(encoded(tone(880, 0.3, 8000), 8000, "FLAC"))
    os.utime(older, ns=(1_000_000_000, 1_000_000_000))
    prompts = Prompts(tmp_path)
    assert abs(dominant(prompts.pcm("twice")) - 880) < 3
    [info] = prompts.list()
    assert info.file == "twice.flac"
