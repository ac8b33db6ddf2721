"""The encoders a recording is written with: FLAC or Opus through libsndfile (the `soundfile`
binding), WAV through the standard library's `wave` where libsndfile or its encoder is missing.

Every writer takes the call's two sides as s16le 8 kHz mono of equal length and writes one
stereo file: left = what the box heard (the far end), right = what it said."""

from __future__ import annotations

import logging
import wave
from array import array
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from appliance.drivers.audio import RATE, SAMPLE_BYTES

log = logging.getLogger(__name__)

EXTENSIONS = {"flac": "flac", "opus": "opus", "wav": "wav"}
CONTENT_TYPES = {"flac": "audio/flac", "opus": "audio/ogg; codecs=opus", "wav": "audio/wav"}


class Writer(Protocol):
    def write(self, heard: bytes, said: bytes) -> None:
        """Append the two sides (s16le, equal lengths)."""

    def close(self) -> None:
        """Finish the file (headers, the encoder's last block)."""


#: (path, format) -> a writer of that format at that path
OpenWriter = Callable[[Path, str], Writer]


def _soundfile() -> Any:
    try:
        import soundfile
    except (ImportError, OSError):  # OSError: the binding is there, libsndfile is not
        return None
    return soundfile


def available(fmt: str) -> bool:
    """Whether this box can write `fmt` (wav always)."""
    if fmt == "wav":
        return True
    sf = _soundfile()
    if sf is None:
        return False
    if fmt == "flac":
        return "FLAC" in sf.available_formats()
    if fmt == "opus":
        return "OPUS" in sf.available_subtypes("OGG")
    return False


def effective_format(wanted: str) -> str:
    """`wanted` where it can be written, else wav (with a warning saying why)."""
    if available(wanted):
        return wanted
    log.warning(
        "recordings.format %s: this box's libsndfile cannot write it (install python3-soundfile "
        "and libsndfile1 1.0.29 or newer for Opus); recording WAV instead",
        wanted,
    )
    return "wav"


class SoundFileWriter:
    """FLAC (16-bit) or Ogg Opus through libsndfile."""

    def __init__(self, path: Path, fmt: str) -> None:
        import numpy as np

        sf = _soundfile()
        container, subtype = ("FLAC", "PCM_16") if fmt == "flac" else ("OGG", "OPUS")
        self._np = np
        self._file = sf.SoundFile(str(path), "w", samplerate=RATE, channels=2, format=container,
                                  subtype=subtype)  # fmt: skip

    def write(self, heard: bytes, said: bytes) -> None:
        np = self._np
        block = np.empty((len(heard) // SAMPLE_BYTES, 2), dtype="<i2")
        block[:, 0] = np.frombuffer(heard, dtype="<i2")
        block[:, 1] = np.frombuffer(said, dtype="<i2")
        self._file.write(block)

    def close(self) -> None:
        self._file.close()


class WaveWriter:
    """16-bit stereo PCM WAV with the standard library (no encoder needed)."""

    def __init__(self, path: Path) -> None:
        self._file = wave.open(str(path), "wb")  # noqa: SIM115  (closed by close())
        self._file.setnchannels(2)
        self._file.setsampwidth(SAMPLE_BYTES)
        self._file.setframerate(RATE)

    def write(self, heard: bytes, said: bytes) -> None:
        left, right = array("h", heard), array("h", said)
        both = array("h", bytes(2 * len(heard)))
        both[0::2], both[1::2] = left, right
        self._file.writeframes(both.tobytes())  # s16 in the machine's order: little-endian here

    def close(self) -> None:
        self._file.close()


def open_writer(path: Path, fmt: str) -> Writer:
    """A writer of `fmt` (as `effective_format` chose it) at `path`."""
    if fmt in ("flac", "opus"):
        return SoundFileWriter(path, fmt)
    return WaveWriter(path)
