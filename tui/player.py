"""Playing a recording on the console's own machine (SPEC O9, #24): a player found on PATH, run
as a subprocess on a file downloaded from the API, stopped when asked. Where there is none, what
to install — and the `curl` command that downloads the file instead."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path

ALL = frozenset({"wav", "flac", "opus"})


@dataclass(frozen=True)
class Player:
    command: str
    args: tuple[str, ...]
    formats: frozenset[str]
    package: str  # the Debian package that brings it


# In the order tried. aplay (ALSA) plays WAV only; the others decode FLAC and Opus too.
PLAYERS: tuple[Player, ...] = (
    Player("aplay", ("-q",), frozenset({"wav"}), "alsa-utils"),
    Player("paplay", (), ALL, "pulseaudio-utils"),
    Player("ffplay", ("-nodisp", "-autoexit", "-loglevel", "error"), ALL, "ffmpeg"),
    Player("play", ("-q",), ALL, "sox"),
)


def find_player(fmt: str, path: str | None = None) -> tuple[Player, str] | None:
    """The first player on PATH (`path`: another search path) that plays `fmt`, with where it is."""
    for player in PLAYERS:
        if fmt in player.formats and (found := shutil.which(player.command, path=path)):
            return player, found
    return None


def install_hint(fmt: str) -> str:
    able = [p for p in PLAYERS if fmt in p.formats]
    names = ", ".join(f"{p.command} ({p.package})" for p in able)
    return f"no player for {fmt} files on this machine's PATH: install one of {names}"


def curl_command(*, socket: str | None, base: str, path: str, filename: str) -> str:
    """The command that downloads the file where the console runs; a token stays in
    $DIALBOX_TOKEN, never written out."""
    if socket:
        return f"curl -fo {shlex.quote(filename)} --unix-socket {shlex.quote(socket)} http://localhost{path}"
    return (
        f'curl -fo {shlex.quote(filename)} -H "Authorization: Bearer $DIALBOX_TOKEN" '
        f"{shlex.quote(base + path)}"
    )


def over_ssh() -> bool:
    return bool(os.environ.get("SSH_CONNECTION") or os.environ.get("SSH_TTY"))


class Playback:
    """One player process on one file; the file is removed when it ends or is stopped."""

    def __init__(self, player: Player, executable: str, file: Path, what: str) -> None:
        self.player = player
        self.executable = executable
        self.file = file
        self.what = what
        self.process: asyncio.subprocess.Process | None = None
        self.stopped = False

    @property
    def argv(self) -> list[str]:
        return [self.executable, *self.player.args, str(self.file)]

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def start(self) -> None:
        # its own session: the terminal's Ctrl+C is the console's; nothing of it on the screen
        self.process = await asyncio.create_subprocess_exec(
            *self.argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE, start_new_session=True,
        )  # fmt: skip

    async def wait(self) -> str:
        """Until the player ends: what became of it, in words."""
        assert self.process is not None
        _, err = await self.process.communicate()
        self.discard()
        code = self.process.returncode
        if self.stopped:
            return f"stopped {self.what}"
        if code == 0:
            return f"played {self.what} to its end"
        said = err.decode(errors="replace").strip().splitlines()
        tail = f": {said[-1][:160]}" if said else ""
        return f"{self.player.command} could not play {self.what} (exit {code}){tail}"

    async def stop(self, grace: float = 2.0) -> None:
        """Ask the player to end (SIGTERM), then make it (SIGKILL)."""
        self.stopped = True
        process = self.process
        if process is None or process.returncode is not None:
            self.discard()
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), grace)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
        self.discard()

    def kill(self) -> None:
        """At once, without waiting (the console is closing)."""
        self.stopped = True
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        self.discard()

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self.file.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            self.file.parent.rmdir()
