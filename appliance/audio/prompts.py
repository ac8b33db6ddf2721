"""Prompts from files and text: the sounds the engine plays with ``AudioChannel.say`` (#24).

A prompt is a file in the prompts directory (``prompts.directory``, by default ``prompts``
beside the database), dropped there or uploaded over the API: ``welcome.wav``, ``welcome.mp3``,
``welcome.flac`` or ``welcome.ogg`` is the prompt ``welcome`` (the file's stem, which follows
the project's name rule, appliance/names.py). ``welcome.txt`` is spoken by espeak-ng when
``prompts.tts`` is on and espeak-ng is installed.

Each source is converted once to the lines' format — 8 kHz, 16-bit signed little-endian, mono:
decoded by libsndfile (soundfile), the channels averaged, resampled by libsoxr, and its peak
brought to -1 dBFS (a quiet file is raised at most 24 dB; nothing clips). The result is kept in
``.converted/`` beside the sources, named by the SHA-256 of the source's content, so a replaced
file is converted again and an unchanged one never is; and in memory, by the source file's
identity (name, inode, size, mtime), up to ``MEMO_BYTES``.

Limits: a source of at most ``MAX_BYTES``, sound of at most ``MAX_SECONDS``, text of at most
``MAX_TEXT`` characters. A file that cannot be decoded, ends early, holds no sound or breaks a
limit is refused with the reason and what to do; an upload is converted before anything is
written, and every file is written aside and renamed into place, so a prompt is never
half-written. A dropped file that cannot be played is listed with its error.

Thread-safe: any number of threads may read (``pcm``) while others add or remove; one name is
converted by one thread at a time (the others wait for its result), and at most ``WORKERS``
conversions run at once. ``load`` and the API run the conversions in worker threads, off the
event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import logging
import os
import shutil
import struct
import subprocess
import tempfile
import threading
import time
import uuid
import wave
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from appliance import names
from appliance.drivers.audio import RATE, SAMPLE_BYTES
from appliance.errors import DialboxError, NotFound

if TYPE_CHECKING:
    import numpy as np

    from appliance.config import DialboxConfig

log = logging.getLogger(__name__)

MAX_BYTES = 20 * 1024 * 1024  # a source file: about 20 min of 128 kbit/s MP3, 2 min of CD WAV
MAX_SECONDS = 600  # of sound: a prompt is a message, not a programme
MAX_TEXT = 5000  # characters of a text prompt: about five minutes spoken
MEMO_BYTES = 64 * 1024 * 1024  # converted prompts kept in memory (about 70 min of sound)
WORKERS = 2  # conversions at once (the box has two cores and calls to carry)
TTS_TIMEOUT = 120  # seconds espeak-ng may take
PEAK = 10 ** (-1 / 20)  # the converted peak: -1 dBFS
MAX_GAIN = 10 ** (24 / 20)  # a quiet file is raised at most 24 dB (noise is not a prompt)
CONVERTED = ".converted"  # beside the sources; hidden, so never a prompt itself
VERSION = b"1"  # of the conversion: a change here converts every prompt again

Format = Literal["wav", "mp3", "flac", "ogg", "text"]
AUDIO_SUFFIXES: dict[str, Format] = {
    ".wav": "wav",
    ".mp3": "mp3",
    ".flac": "flac",
    ".ogg": "ogg",
    ".oga": "ogg",
    ".opus": "ogg",
}
SUFFIXES: dict[str, Format] = {**AUDIO_SUFFIXES, ".txt": "text"}
# libsndfile's major formats taken, and the suffix a source of that format is kept under
_DECODED: dict[str, Format] = {
    "WAV": "wav",
    "WAVEX": "wav",
    "RF64": "wav",
    "FLAC": "flac",
    "OGG": "ogg",
    "MP3": "mp3",
}
UPLOAD_HELP = "upload a WAV, MP3, FLAC or OGG file"
# (the class's method `list` hides the builtin in its body's annotations)
_Paths = list[Path]
_Arrays = list["np.ndarray"]


class PromptError(DialboxError):
    """A prompt that cannot be added or played: the message says why and what to do."""


class PromptMissing(NotFound):
    """No prompt of that name: the message lists the prompts there are and how to add one."""


class PromptStoreError(PromptError):
    """The prompt is fine but the disk refused it (full, read-only): nothing was replaced."""


class TtsUnavailable(PromptError):
    """A text prompt, but text cannot be spoken here (tts off, or espeak-ng not installed)."""


@dataclass(frozen=True, slots=True)
class PromptInfo:
    name: str
    format: Format  # of the source
    file: str  # the source's file name in the directory
    bytes: int  # of the source
    duration: float | None  # seconds of the converted sound; None when it cannot be played
    text: str | None = None  # a text prompt's words
    error: str | None = None  # why it cannot be played (a dropped file), None: it can

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "format": self.format,
            "file": self.file,
            "bytes": self.bytes,
            "duration": self.duration,
            "text": self.text,
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class _Memo:
    identity: tuple[str, int, int, int]  # file name, inode, size, mtime_ns
    digest: str
    pcm: bytes | None
    error: str | None


def wav_bytes(pcm: bytes) -> bytes:
    """``pcm`` (8 kHz s16le mono) as a WAV file."""
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(SAMPLE_BYTES)
        w.setframerate(RATE)
        w.writeframes(pcm)
    return out.getvalue()


def duration_of(pcm: bytes) -> float:
    return round(len(pcm) / (SAMPLE_BYTES * RATE), 3)


class Prompts:
    """The prompts in ``directory`` (created when missing), converted once and cached."""

    def __init__(
        self,
        directory: Path | str,
        tts: bool = True,
        *,
        espeak: str | None = None,  # the espeak-ng program; None: found on PATH
        max_bytes: int = MAX_BYTES,
        max_seconds: float = MAX_SECONDS,
    ) -> None:
        self.directory = Path(directory)
        self.tts = tts
        self.espeak = espeak
        self.max_bytes = max_bytes
        self.max_seconds = max_seconds
        self._lock = threading.Lock()  # guards the two dicts below
        self._locks: dict[str, threading.Lock] = {}
        self._memo: OrderedDict[str, _Memo] = OrderedDict()
        self._memo_bytes = 0
        self._digests: dict[str, str] = {}  # name -> its conversion's digest (kept by _prune)
        self._warned: set[tuple[str, ...]] = set()  # prompts with several files, said once
        self._workers = threading.BoundedSemaphore(WORKERS)

    # ------------------------------------------------------------------ reading
    def has(self, name: str) -> bool:
        """Whether a source of that name is there (it may still fail to play: see ``pcm``)."""
        return names.is_safe(name) and self._source(name) is not None

    def pcm(self, name: str) -> bytes:
        """The prompt as 8 kHz s16le mono, converted at the first call after each change of its
        source. PromptMissing when there is none; PromptError when it cannot be played."""
        memo = self._memo_of(name)
        if memo.pcm is None:
            raise PromptError(memo.error or f"prompt {name!r} cannot be played")
        return memo.pcm

    async def load(self, name: str) -> bytes:
        """``pcm`` in a worker thread: a first conversion never holds the event loop up."""
        return await asyncio.to_thread(self.pcm, name)

    def wav(self, name: str) -> bytes:
        """The converted prompt as a WAV file (8 kHz, 16-bit, mono), e.g. for a browser."""
        return wav_bytes(self.pcm(name))

    def list(self) -> list[PromptInfo]:
        """Every prompt, by name; a source that cannot be played carries its error. Converts
        what was not converted yet, and deletes conversions no source uses any more."""
        infos: list[PromptInfo] = []
        for name in sorted(self._names()):
            with contextlib.suppress(PromptMissing):  # removed meanwhile
                infos.append(self.info(name))
        with self._lock:
            keep = set(self._digests.values())
        self._prune(keep)
        return infos

    def info(self, name: str) -> PromptInfo:
        source = self._source(name)
        if source is None:
            raise PromptMissing(self._missing(name))
        kind = SUFFIXES[source.suffix.lower()]
        size = source.stat().st_size
        text = None
        if kind == "text" and size <= self.max_bytes:
            text = source.read_text("utf-8", errors="replace")
        if not names.is_safe(name):
            why = names.problem("prompt", name) or ""
            return PromptInfo(name, kind, source.name, size, None, text,
                              f"{why}; rename the file")  # fmt: skip
        try:
            memo = self._memo_of(name)
        except PromptError as exc:  # text while it cannot be spoken
            return PromptInfo(name, kind, source.name, size, None, text, str(exc))
        duration = None if memo.pcm is None else duration_of(memo.pcm)
        return PromptInfo(name, kind, source.name, size, duration, text, memo.error)

    # ------------------------------------------------------------------ writing
    def add(self, name: str, data: bytes, filename: str) -> PromptInfo:
        """Store ``data`` (the file ``filename`` as uploaded) as the prompt ``name``, replacing
        any prompt of that name. Converted first: a file that cannot be played is refused
        (PromptError) and nothing is written. A ``.txt`` file is a text prompt (``add_text``)."""
        names.check_name("prompt", name)
        suffix = Path(filename or "").suffix.lower()
        if len(data) > self.max_bytes:
            raise PromptError(
                f"{_shown(filename)} is {len(data)} bytes; a prompt file may be at most "
                f"{self.max_bytes} bytes: shorten it or compress it (MP3, OGG)"
            )
        if suffix == ".txt":
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                raise PromptError(f"{_shown(filename)} is not UTF-8 text") from None
            return self.add_text(name, text)
        with self._workers:
            pcm, kind = self._decode(data, filename)
        digest = _digest(data)
        target = self.directory / f"{name}.{kind}"
        self._store(name, target, data, digest, pcm)
        log.info("prompt %s: %s stored (%.1f s)", name, target.name, duration_of(pcm))
        return self.info(name)

    def add_text(self, name: str, text: str) -> PromptInfo:
        """Store ``text`` as the prompt ``name``, spoken by espeak-ng (TtsUnavailable when tts is
        off or espeak-ng is not installed; nothing is written then)."""
        names.check_name("prompt", name)
        text = _check_text(text)
        data = text.encode("utf-8")
        with self._workers:
            pcm = self._speak(text)
        digest = _digest(data, text=True)
        target = self.directory / f"{name}.txt"
        self._store(name, target, data, digest, pcm)
        log.info("prompt %s: text stored (%.1f s spoken)", name, duration_of(pcm))
        return self.info(name)

    def _store(self, name: str, target: Path, data: bytes, digest: str, pcm: bytes) -> None:
        """The source and its conversion in place, replacing the prompt's other sources;
        PromptStoreError when the disk refuses (the old prompt is then kept whole)."""
        with self._name_lock(name):
            try:
                self._ensure_directory()
                self._write_converted(digest, pcm)
                _write_atomically(target, data)
            except OSError as exc:
                raise PromptStoreError(
                    f"prompt {name!r} cannot be stored in {self.directory}: "
                    f"{exc.strerror or exc}; free space there or let the daemon write to it"
                ) from None
            self._remove_others(name, target)
            self._remember(name, target, digest, pcm, None)

    def remove(self, name: str) -> None:
        """Delete the prompt's sources and conversions; PromptMissing when there is none."""
        with self._name_lock(name):
            sources = self._sources(name)
            if not sources:
                raise PromptMissing(self._missing(name))
            for source in sources:
                with _suppress_missing():
                    kind = SUFFIXES[source.suffix.lower()]
                    digest = _digest(source.read_bytes(), text=kind == "text")
                    source.unlink()
                    with _suppress_missing():
                        self._converted(digest).unlink()
            self._forget(name)
        log.info("prompt %s removed", name)

    # ------------------------------------------------------------------ the sources
    def _names(self) -> set[str]:
        found: set[str] = set()
        try:
            entries = list(os.scandir(self.directory))
        except FileNotFoundError:
            return found
        for entry in entries:
            stem, dot, suffix = entry.name.rpartition(".")
            audio = dot and f".{suffix.lower()}" in SUFFIXES
            if stem and audio and not stem.startswith(".") and entry.is_file():
                found.add(stem)
        return found

    def _sources(self, name: str) -> _Paths:
        """The files of prompt ``name`` (several when a dropped file has the stem of another)."""
        if not name or "/" in name or "\\" in name or "\x00" in name or name.startswith("."):
            return []
        out = []
        try:
            entries = list(os.scandir(self.directory))
        except FileNotFoundError:
            return []
        for entry in entries:
            stem, dot, suffix = entry.name.rpartition(".")
            if stem == name and dot and f".{suffix.lower()}" in SUFFIXES and entry.is_file():
                out.append(Path(entry.path))
        return out

    def _source(self, name: str) -> Path | None:
        """The prompt's source; of several, the newest (an upload replaces the others)."""
        sources = self._sources(name)
        several = tuple(sorted(s.name for s in sources))
        if len(sources) > 1 and several not in self._warned:
            self._warned.add(several)
            log.warning(
                "prompt %s has %d files (%s); playing the newest",
                name,
                len(sources),
                ", ".join(sorted(s.name for s in sources)),
            )
        best: tuple[int, Path] | None = None
        for source in sources:
            with _suppress_missing():
                mtime = source.stat().st_mtime_ns
                if best is None or mtime > best[0]:
                    best = (mtime, source)
        return None if best is None else best[1]

    def _missing(self, name: str) -> str:
        there = sorted(n for n in self._names() if names.is_safe(n))
        listed = ", ".join(there[:20]) + (f" and {len(there) - 20} more" if len(there) > 20 else "")
        how = (
            f"add it: {UPLOAD_HELP} as PUT /prompts/{{name}}, drop {{name}}.wav (or .mp3, .flac,"
            f" .ogg) into {self.directory}"
            + (", or write its words in {name}.txt there" if self.tts else "")
        ).replace("{name}", name if names.is_safe(name) else "NAME")
        return f"no prompt named {name!r} (prompts: {listed or 'none'}); {how}"

    # ------------------------------------------------------------------ converting
    def _memo_of(self, name: str) -> _Memo:
        """The prompt's conversion for its current source: from memory, from ``.converted``, or
        converted now (one thread per name; the others wait and take its result)."""
        if not names.is_safe(name):
            raise PromptMissing(
                f"{name!r} cannot name a prompt: {names.RULE}; {UPLOAD_HELP} under such a name"
            )
        source = self._source(name)
        if source is None:
            raise PromptMissing(self._missing(name))
        found = self._remembered(name, source)
        if found is not None:
            return found
        with self._name_lock(name):
            source = self._source(name)  # another thread may have replaced it meanwhile
            if source is None:
                raise PromptMissing(self._missing(name))
            found = self._remembered(name, source)
            if found is not None:
                return found
            return self._load(name, source)

    def _load(self, name: str, source: Path) -> _Memo:
        kind = SUFFIXES[source.suffix.lower()]
        try:
            stat = source.stat()
            if stat.st_size > self.max_bytes:
                raise PromptError(
                    f"{source.name} is {stat.st_size} bytes; a prompt file may be at most "
                    f"{self.max_bytes} bytes: shorten it or compress it (MP3, OGG)"
                )
            data = source.read_bytes()
        except FileNotFoundError:
            raise PromptMissing(self._missing(name)) from None
        except PromptError as exc:
            return self._remember(name, source, "", None, str(exc), stat)
        digest = _digest(data, text=kind == "text")
        pcm = self._read_converted(digest)
        error = None
        if pcm is None:
            try:
                with self._workers:
                    if kind == "text":
                        pcm = self._speak(_check_text(data.decode("utf-8", errors="replace")))
                    else:
                        pcm = self._decode(data, source.name)[0]
            except TtsUnavailable as exc:
                # not remembered: installing espeak-ng or turning tts on makes it playable
                raise PromptError(f"prompt {name!r} is text ({source.name}): {exc}") from None
            except PromptError as exc:
                error = f"prompt {name!r} cannot be played: {exc}"
                log.warning("%s", error)
            else:
                self._write_converted(digest, pcm)
        return self._remember(name, source, digest, pcm, error, stat)

    def _decode(self, data: bytes, filename: str) -> tuple[bytes, Format]:
        """The sound of an audio file as 8 kHz s16le mono, and the format it was; PromptError
        saying why and what to do when it is not one."""
        import numpy as np
        import soundfile as sf
        import soxr

        shown = _shown(filename)
        if not data:
            raise PromptError(f"{shown} is empty (0 bytes); {UPLOAD_HELP}")
        parts: _Arrays = []
        frames = 0
        try:
            with sf.SoundFile(io.BytesIO(data)) as f:
                kind = _DECODED.get(f.format)
                if kind is None:
                    raise PromptError(f"{shown} is {f.format_info}; {UPLOAD_HELP}")
                rate, declared = f.samplerate, f.frames
                if not 1000 <= rate <= 384_000 or f.channels < 1:
                    raise PromptError(
                        f"{shown} says {rate} Hz and {f.channels} channels, which is not sound; "
                        f"{UPLOAD_HELP}"
                    )
                if declared > 0 and declared / rate > self.max_seconds + 1:
                    raise PromptError(self._too_long(shown, declared / rate))
                resampler = soxr.ResampleStream(rate, RATE, 1, dtype="float32", quality="HQ")
                # read() until it gives nothing (blocks() would pad a short file to its
                # declared length with whatever was in memory)
                while len(block := f.read(1 << 16, dtype="float32", always_2d=True)):
                    frames += len(block)
                    if frames / rate > self.max_seconds + 1:
                        raise PromptError(self._too_long(shown, frames / rate))
                    mono = np.ascontiguousarray(block.mean(axis=1, dtype=np.float32))
                    parts.append(resampler.resample_chunk(mono))
                parts.append(resampler.resample_chunk(np.zeros(0, np.float32), last=True))
        except (sf.SoundFileError, RuntimeError, ValueError, OverflowError) as exc:
            reason = getattr(exc, "error_string", None) or str(exc)
            raise PromptError(
                f"{shown} cannot be read as audio ({reason.strip().rstrip('.')}); {UPLOAD_HELP}"
            ) from None
        if frames == 0:
            raise PromptError(f"{shown} holds no sound (no samples); {UPLOAD_HELP}")
        short = _ends_early(data, kind, declared, frames, rate)
        if short is not None:
            raise PromptError(
                f"{shown} ends early: it declares {short[0]:.1f} s of sound but holds "
                f"{short[1]:.1f} s; upload the whole file"
            )
        mono = np.nan_to_num(np.concatenate(parts), nan=0.0, posinf=1.0, neginf=-1.0)
        if len(mono) / RATE > self.max_seconds + 1:
            raise PromptError(self._too_long(shown, len(mono) / RATE))
        peak = float(np.max(np.abs(mono))) if len(mono) else 0.0
        if peak > 0:
            mono = mono * min(PEAK / peak, MAX_GAIN)
        pcm = np.clip(np.round(mono * 32767), -32768, 32767).astype("<i2").tobytes()
        return pcm, kind

    def _too_long(self, shown: str, seconds: float) -> str:
        return (
            f"{shown} is {seconds:.0f} s or more of sound; a prompt may be at most "
            f"{self.max_seconds:.0f} s: cut it"
        )

    def _speak(self, text: str) -> bytes:
        """``text`` spoken by espeak-ng, as 8 kHz s16le mono."""
        if not self.tts:
            raise TtsUnavailable(
                "speaking text is off (prompts.tts: false in the config): set prompts.tts: true "
                f"with espeak-ng installed, or {UPLOAD_HELP}"
            )
        program = self.espeak or shutil.which("espeak-ng")
        if program is None or not Path(program).exists():
            raise TtsUnavailable(
                "text prompts are spoken by espeak-ng, which is not installed: install it "
                f"(apt-get install espeak-ng), or {UPLOAD_HELP}"
            )
        with tempfile.TemporaryDirectory(prefix="dialbox-tts-") as tmp:
            out = Path(tmp) / "spoken.wav"
            try:
                done = subprocess.run(
                    [program, "-b", "1", "--stdin", "-w", str(out)],
                    input=text.encode("utf-8"),
                    capture_output=True,
                    timeout=TTS_TIMEOUT,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                raise PromptError(
                    f"espeak-ng took more than {TTS_TIMEOUT} s; shorten the text"
                ) from None
            except OSError as exc:
                raise TtsUnavailable(
                    f"espeak-ng ({program}) cannot be run: {exc.strerror or exc}; reinstall it "
                    f"(apt-get install espeak-ng), or {UPLOAD_HELP}"
                ) from None
            if done.returncode != 0 or not out.exists():
                said = done.stderr.decode("utf-8", "replace").strip()[:200]
                raise PromptError(
                    f"espeak-ng failed (exit {done.returncode}): {said or 'no output'}"
                )
            return self._decode(out.read_bytes(), "espeak-ng's output")[0]

    # ------------------------------------------------------------------ the caches
    def _name_lock(self, name: str) -> threading.Lock:
        with self._lock:
            return self._locks.setdefault(name, threading.Lock())

    def _remembered(self, name: str, source: Path) -> _Memo | None:
        try:
            identity = _identity(source, source.stat())
        except FileNotFoundError:
            return None
        with self._lock:
            memo = self._memo.get(name)
            if memo is None or memo.identity != identity:
                return None
            self._memo.move_to_end(name)
            return memo

    def _remember(
        self,
        name: str,
        source: Path,
        digest: str,
        pcm: bytes | None,
        error: str | None,
        stat: os.stat_result | None = None,
    ) -> _Memo:
        memo = _Memo(_identity(source, stat or source.stat()), digest, pcm, error)
        with self._lock:
            self._drop(name)
            self._memo[name] = memo
            self._digests[name] = digest
            self._memo_bytes += len(pcm or b"")
            while self._memo_bytes > MEMO_BYTES and len(self._memo) > 1:
                self._drop(next(iter(self._memo)))
        return memo

    def _forget(self, name: str) -> None:
        with self._lock:
            self._drop(name)
            self._digests.pop(name, None)

    def _drop(self, name: str) -> None:
        old = self._memo.pop(name, None)
        if old is not None:
            self._memo_bytes -= len(old.pcm or b"")

    def _ensure_directory(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)

    def _converted(self, digest: str) -> Path:
        return self.directory / CONVERTED / f"{digest}.wav"

    def _read_converted(self, digest: str) -> bytes | None:
        try:
            with wave.open(str(self._converted(digest)), "rb") as w:
                if (w.getnchannels(), w.getsampwidth(), w.getframerate()) != (
                    1,
                    SAMPLE_BYTES,
                    RATE,
                ):
                    return None
                pcm = w.readframes(w.getnframes())
                return pcm if len(pcm) == w.getnframes() * SAMPLE_BYTES else None
        except (OSError, EOFError, wave.Error):
            return None  # not there, or damaged: converted again

    def _write_converted(self, digest: str, pcm: bytes) -> None:
        path = self._converted(digest)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _write_atomically(path, wav_bytes(pcm))
        except OSError as exc:  # a full disk: the prompt still plays, converted each start
            log.warning("prompts: cannot keep the conversion %s: %s", path, exc)

    def _remove_others(self, name: str, keep: Path) -> None:
        for other in self._sources(name):
            if other != keep:
                with _suppress_missing():
                    other.unlink()

    def _prune(self, keep: set[str]) -> None:
        """Delete conversions no current source uses, an hour after they were written (one
        written by an upload still under way is kept)."""
        try:
            entries = list(os.scandir(self.directory / CONVERTED))
        except FileNotFoundError:
            return
        for entry in entries:
            stem = entry.name.removesuffix(".wav")
            with _suppress_missing():
                if stem not in keep and time.time() - entry.stat().st_mtime > 3600:
                    os.unlink(entry.path)


def _identity(source: Path, stat: os.stat_result) -> tuple[str, int, int, int]:
    return (source.name, stat.st_ino, stat.st_size, stat.st_mtime_ns)


def _digest(data: bytes, *, text: bool = False) -> str:
    h = hashlib.sha256(VERSION + (b"\0text\0" if text else b"\0audio\0"))
    h.update(data)
    return h.hexdigest()


def _shown(filename: str) -> str:
    name = Path(filename or "").name
    return repr(name[:80]) if name else "the file"


def _check_text(text: str) -> str:
    text = text.strip()
    if not text:
        raise PromptError("the text is empty: write what the prompt should say")
    if len(text) > MAX_TEXT:
        raise PromptError(
            f"the text is {len(text)} characters; a prompt may say at most {MAX_TEXT}: shorten it"
        )
    bad = next((c for c in text if (c < " " and c not in "\n\t\r") or c == "\x7f"), None)
    if bad is not None:
        raise PromptError(f"the text holds a control character (U+{ord(bad):04X}); remove it")
    return text


def _ends_early(
    data: bytes, kind: Format, declared: int, frames: int, rate: int
) -> tuple[float, float] | None:
    """(declared, held) seconds when the file was cut short, else None. libsndfile reads what
    there is of a cut WAV (its count comes from the bytes present), so a WAV's `data` chunk is
    measured against its declared size; an MP3 with a frame count (Xing/LAME) is counted."""
    if kind == "wav":
        riff = _riff_data(data)
        if riff is not None:
            size, present, byte_rate = riff
            if size < 0x7FFF0000 and size > present + 1 and byte_rate > 0:  # not streamed
                return size / byte_rate, present / byte_rate
        return None
    if kind == "mp3" and declared > 0 and frames < declared * 0.98 - rate // 10:
        return declared / rate, frames / rate
    return None


def _riff_data(data: bytes) -> tuple[int, int, int] | None:
    """A RIFF/WAVE file's `data` chunk: declared size, bytes present, and the byte rate."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    pos, byte_rate = 12, 0
    while pos + 8 <= len(data):
        chunk, size = data[pos : pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        if chunk == b"fmt " and pos + 16 <= len(data):
            byte_rate = struct.unpack_from("<I", data, pos + 16)[0]
        if chunk == b"data":
            return size, len(data) - pos - 8, byte_rate
        pos += 8 + size + (size & 1)
    return None


def _write_atomically(target: Path, data: bytes) -> None:
    """``data`` as ``target``, written aside and renamed: a reader sees the old file or the new
    one, never part of it; a failure (a full disk) leaves the old one and no stray file."""
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with _suppress_missing():
            tmp.unlink()
        raise


class _suppress_missing:
    """Ignore a file that vanished meanwhile (another thread or process removed it)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: object, tb: object) -> bool:
        return isinstance(exc, FileNotFoundError)


def prompts_directory(config: DialboxConfig) -> Path:
    """Where prompts are: ``prompts.directory``, else ``prompts`` beside the database."""
    if config.prompts.directory is not None:
        return Path(config.prompts.directory)
    if str(config.database) == ":memory:":
        return Path("prompts").resolve()
    return Path(str(config.database)).parent / "prompts"
