"""The console's Recordings screen (#24, SPEC O9), with Textual's pilot at 80×24 against a real
daemon: the fixed box (conftest.fixed_box) with recordings seeded through the store — a kept WAV,
a failed one (the disk was full), one the disk budget deleted, one whose file went missing — and
the daemon's own API serving them. Newest first, filtered; `p` plays through a player found on
PATH (here a fake `aplay`, a real subprocess: it records what it was given and waits to be
stopped), `s` saves, `i` details; the 404s say why; no player says what to install and how to
download. Hostile: a daemon that answers garbage or a 500, served on a socket by the test."""

from __future__ import annotations

import asyncio
import hashlib
import math
import os
import struct
import tempfile
import time
import wave
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.pilot import Pilot
from textual.widgets import Select, Static

from tests.tui.conftest import Box, fixed_box
from tests.tui.screens import Watched, fill_in, opened, show, steady, until
from tui.app import Console
from tui.client import Client
from tui.screens.form import Form
from tui.screens.message import Message
from tui.screens.recordings import Recordings

SCREEN = Region(0, 0, 80, 24)
T0 = 1_795_598_045.0  # 2026-11-25T09:14:05Z: a fixed day, never "today"
ERROR = ("No space left on device (/var/lib/dialbox/recordings): free space on the recordings"
         " disk or lower recordings.budget_mb; the call went on unrecorded")  # fmt: skip


def tone_wav(path: Path, seconds: float = 1.0) -> bytes:
    """A stereo 8 kHz WAV: 440 Hz on the left (the far end), 660 Hz on the right (the box)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = b"".join(
        struct.pack("<hh", int(8000 * math.sin(2 * math.pi * 440 * i / 8000)),
                    int(8000 * math.sin(2 * math.pi * 660 * i / 8000)))
        for i in range(int(8000 * seconds))
    )  # fmt: skip
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(frames)
    return path.read_bytes()


def seed(box: Box) -> dict[str, Any]:
    """Four recordings, the kept one's bytes. Ids: 1 kept (WAV), 2 failed, 3 deleted by the
    budget, 4 kept in the row but its file gone from the disk."""
    from appliance.store import open_database
    from appliance.store import recordings as store

    state = box.tmp / "state"
    kept = tone_wav(state / "recordings" / "2026/11/25/11-gsm0.wav")
    missing = tone_wav(state / "recordings" / "2026/11/25/14-gsm1.wav", 0.5)
    (state / "recordings" / "2026/11/25/14-gsm1.wav").unlink()
    db = open_database(state / "dialbox.db")
    common: dict[str, Any] = {"campaign": "spring", "direction": "outbound", "format": "wav"}
    store.insert_recording(db, attempt_id=11, line="gsm0", number="+12125550101", agent="anna",
                           started_at=T0, duration=1.0, path="2026/11/25/11-gsm0.wav",
                           bytes=len(kept), sha256=hashlib.sha256(kept).hexdigest(),
                           status="complete", **common)  # fmt: skip
    store.insert_recording(db, attempt_id=12, line="gsm1", number="+12125550102", agent=None,
                           started_at=T0 + 600, duration=0.0, path=None, bytes=0, sha256=None,
                           status="failed", error=ERROR, **common)  # fmt: skip
    store.insert_recording(db, attempt_id=13, line="gsm0", number="+13125550103", agent="ben",
                           started_at=T0 - 86400, duration=754.3, path="2026/11/24/13-gsm0.wav",
                           bytes=12_070_444, sha256="ab" * 32, status="complete",
                           frames_lost=3, **common)  # fmt: skip
    store.mark_deleted(db, 3, T0 + 3600, "budget", actor="retention")
    store.insert_recording(db, attempt_id=14, line="gsm1", number="+12125550101", agent="anna",
                           started_at=T0 + 1200, duration=0.5, path="2026/11/25/14-gsm1.wav",
                           bytes=len(missing), sha256=hashlib.sha256(missing).hexdigest(),
                           status="complete", **common)  # fmt: skip
    db.close()
    return {"kept": kept}


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Box]:
    b = fixed_box(tmp_path_factory.mktemp("recordings"))
    # retention by age would delete the fixed day's recordings on a later date
    with b.daemon.config.open("a") as config:
        config.write("recordings:\n  retain_days: 3650\n")
    b.seeded = seed(b)  # type: ignore[attr-defined]
    b.start()
    yield b
    b.close()


@pytest.fixture(autouse=True)
def utc() -> Iterator[None]:
    """Times are shown in local time: UTC here, the same on every machine."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if before is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = before
    time.tzset()


def screen(app: Any) -> Recordings:
    found = app.screen
    assert isinstance(found, Recordings), found
    return found


def ready(app: Any) -> bool:
    """The screen is up, its table has the keys."""
    return isinstance(app.screen, Recordings) and any(
        t.has_focus for t in app.screen.query("#recordings-table")
    )


async def pick(pilot: Pilot[None], rid: int) -> None:
    """The cursor on the recording `rid` (as arrows would put it there)."""
    app = pilot.app
    table = screen(app).query_one("#recordings-table")
    keys = [str(k.value) for k in table.rows]  # type: ignore[attr-defined]
    table.move_cursor(row=keys.index(str(rid)))  # type: ignore[attr-defined]
    await until(pilot, lambda: text(app, "detail").startswith(f"#{rid} "), f"recording {rid}")


def rows(app: Any) -> list[list[str]]:
    table = screen(app).query_one("#recordings-table")
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]  # type: ignore[attr-defined]


def text(app: Any, widget: str) -> str:
    return str(app.screen.query_one(f"#recordings-{widget}", Static).content)


async def choose(pilot: Pilot[None], **values: str) -> None:
    """`f`, the filter form's pickers set, OK; until the list has loaded again."""
    before = screen(pilot.app).generation
    await opened(pilot, Form, "f")
    for name, value in values.items():
        pilot.app.screen.query_one(f"#f-{name}", Select).value = value
    await pilot.press("ctrl+s")
    try:
        await until(pilot, lambda: ready(pilot.app), "the list again")
    except AssertionError:  # say where the keys went (seen once, under a heavy load)
        app = pilot.app
        raise AssertionError(f"the list did not come back with the keys: the screens"
                             f" {app.screen_stack}, focused {app.focused}") from None  # fmt: skip
    found = screen(pilot.app)
    await until(pilot, lambda: found.generation > before and not found.fetching, "the new list")


async def recordings(pilot: Pilot[None]) -> None:
    """Home, `v`, and every period (the seeded day is in the past)."""
    await show(pilot, "dashboard")
    await opened(pilot, Recordings, "v")
    await until(pilot, lambda: "recording" in text(pilot.app, "head"), "the first list")
    await choose(pilot, period="all")
    await until(pilot, lambda: len(rows(pilot.app)) == 4, "the four recordings")
    await until(pilot, lambda: ready(pilot.app), "the keys on the table")


async def details(pilot: Pilot[None]) -> None:
    await recordings(pilot)
    await pilot.press("down")  # the failed one
    await opened(pilot, Message, "i")


SCREENS: dict[str, Callable[[Pilot[None]], Awaitable[None]]] = {
    "recordings": recordings,
    "recording-details": details,
}


@pytest.mark.parametrize("name", list(SCREENS))
def test_recordings_screens_at_80x24(name: str, box: Box, snap_compare: Any) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        await SCREENS[name](pilot)
        steady(pilot.app)  # type: ignore[arg-type]
        await pilot.pause(0.2)

    app = Console(Client(socket=box.socket), poll=3600)
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def run(box_or_socket: Box | str, scenario: Callable[[Watched, Pilot[None]], Awaitable[None]],
        poll: float = 0.5) -> None:  # fmt: skip
    socket = box_or_socket if isinstance(box_or_socket, str) else box_or_socket.socket

    async def go() -> None:
        app = Watched(Client(socket=socket), poll=poll)
        async with app.run_test(size=(80, 24)) as pilot:
            await scenario(app, pilot)

    asyncio.run(go())


def test_newest_first_failed_with_their_reason_and_filters(box: Box) -> None:
    async def scenario(app: Watched, pilot: Pilot[None]) -> None:
        await recordings(pilot)
        shown = rows(app)
        assert [r[0] for r in shown] == ["11-25 09:34", "11-25 09:24", "11-25 09:14", "11-24 09:14"]
        assert shown[2] == ["11-25 09:14", "spring", "gsm0", "+12125550101", "anna", "0:01",
                            "complete", "32K"]  # fmt: skip
        assert shown[1][6] == "failed" and shown[3][5:] == ["12:34", "deleted", "12.1M"]
        assert "4 recordings (1 failed)" in text(app, "head")
        frame = app.screen.query_one("#recordings").region
        assert SCREEN.contains_region(frame)
        assert app.screen.query_one("#recordings-table").region.right <= 80
        await pilot.press("down")  # the arrows move through them
        await until(pilot, lambda: "FAILED: No space left on" in text(app, "detail"), "why")
        await pilot.press("ctrl+end")
        await until(pilot, lambda: "the disk budget (recordings.budget_mb) needed the room"
                    in text(app, "detail"), "the budget")  # fmt: skip
        await choose(pilot, status="failed")
        assert [r[3] for r in rows(app)] == ["+12125550102"]
        await choose(pilot, status="", campaign="spring")
        assert len(rows(app)) == 4
        await choose(pilot, period="24h")
        assert rows(app) == [] and text(app, "head").startswith("no recordings")
        await pilot.press("p", "s", "i")  # on an empty list: nothing, no error
        assert isinstance(app.screen, Recordings)

    run(box, scenario)


def test_details_show_checksum_frames_lost_and_error(box: Box) -> None:
    async def scenario(app: Watched, pilot: Pilot[None]) -> None:
        await recordings(pilot)
        await pick(pilot, 3)  # the deleted one
        await opened(pilot, Message, "i")
        said = str(app.screen.query_one("#message-text", Static).content)
        assert "sha256       " + "ab" * 32 in said
        assert "frames lost  3 (20 ms each" in said
        assert "the disk budget" in said and "file         none" in said
        await pilot.press("escape")
        await until(pilot, lambda: ready(app), "back")
        await pick(pilot, 1)  # the kept one
        await opened(pilot, Message, "enter")  # as i
        said = str(app.screen.query_one("#message-text", Static).content)
        assert "file         /recordings/1/audio" in said
        assert hashlib.sha256(box.seeded["kept"]).hexdigest() in said  # type: ignore[attr-defined]

    run(box, scenario)


FAKE_PLAYER = """#!/bin/sh
# a stand-in for aplay: says what it was given, keeps a copy, then plays until it is stopped
echo "$@" > "{out}/args"
cp "$2" "{out}/played"
echo $$ > "{out}/pid"
exec sleep 300
"""


def fake_player(folder: Path, monkeypatch: pytest.MonkeyPatch, script: str = FAKE_PLAYER) -> Path:
    bin_dir = folder / "bin"
    bin_dir.mkdir()
    player = bin_dir / "aplay"
    player.write_text(script.format(out=folder))
    player.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    return folder


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie that is not reaped yet counts as gone
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def test_p_plays_the_downloaded_file_in_a_player_and_p_or_escape_stops_it(
    box: Box, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = fake_player(tmp_path, monkeypatch)

    async def scenario(app: Watched, pilot: Pilot[None]) -> None:
        await recordings(pilot)
        await pick(pilot, 1)  # the kept one
        await pilot.press("p")
        await until(pilot, lambda: (out / "pid").exists() and (out / "played").exists()
                    and (out / "played").stat().st_size == len(box.seeded["kept"]), "the player")  # type: ignore[attr-defined]  # fmt: skip
        args = (out / "args").read_text().split()
        assert args[0] == "-q" and args[1].endswith("/recording-1.wav")
        assert (out / "played").read_bytes() == box.seeded["kept"]  # type: ignore[attr-defined]
        pid = int((out / "pid").read_text())
        assert alive(pid) and Path(args[1]).exists()
        assert "playing recording 1 with aplay" in text(app, "note")
        await pilot.press("p")  # stops it
        await until(pilot, lambda: not alive(pid), "the player stopped")
        await until(pilot, lambda: "stopped recording 1" in text(app, "note"), "said")
        assert not Path(args[1]).exists()  # the temporary file is gone with it
        for name in ("pid", "played"):
            (out / name).unlink()
        await pilot.press("p")
        await until(pilot, lambda: (out / "pid").exists(), "the player again")
        pid = int((out / "pid").read_text())
        await pilot.press("escape")  # stops it, the list stays
        await until(pilot, lambda: not alive(pid), "the player stopped by Escape")
        assert isinstance(app.screen, Recordings)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, Recordings), "closed")

    run(box, scenario)


def test_quitting_the_console_stops_the_player(
    box: Box, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = fake_player(tmp_path, monkeypatch)

    async def scenario(app: Watched, pilot: Pilot[None]) -> None:
        await recordings(pilot)
        await pick(pilot, 1)
        await pilot.press("p")
        await until(pilot, lambda: (out / "pid").exists(), "the player")
        assert alive(int((out / "pid").read_text()))
        # the console closes with the screen open and the player playing

    run(box, scenario)
    pid = int((out / "pid").read_text())
    assert not alive(pid)
    assert not list(Path(tempfile.gettempdir()).glob("dialbox-recording-*/recording-1.wav"))


def test_a_player_that_fails_says_so(box: Box, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    fake_player(
        tmp_path,
        monkeypatch,
        "#!/bin/sh\necho 'aplay: main:831: audio open error: No such file or directory' >&2\nexit 1\n",
    )

    async def scenario(app: Watched, pilot: Pilot[None]) -> None:
        await recordings(pilot)
        await pick(pilot, 1)
        await pilot.press("p")
        await until(pilot, lambda: "could not play" in text(app, "note"), "the failure")
        assert "(exit 1): aplay: main:831: audio open error" in text(app, "note")
        assert not list(Path(tempfile.gettempdir()).glob("dialbox-recording-*/recording-1.wav"))

    run(box, scenario)


def test_deleted_and_missing_files_are_404s_that_say_why(
    box: Box, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = fake_player(tmp_path, monkeypatch)

    async def scenario(app: Watched, pilot: Pilot[None]) -> None:
        await recordings(pilot)
        await pick(pilot, 3)  # deleted by the budget
        await pilot.press("p")
        await until(pilot, lambda: "was deleted" in text(app, "note"), "the 404")
        assert "recording 3: recording 3 was deleted at" in text(app, "note")
        assert "the disk budget (recordings.budget_mb) needed the room" in text(app, "note")
        await pick(pilot, 4)  # kept in the row, its file gone
        await pilot.press("p")
        await until(
            pilot, lambda: "missing from the recordings directory" in text(app, "note"), "404"
        )
        await pick(pilot, 2)  # failed: never made
        await pilot.press("p")
        await until(pilot, lambda: "failed, so there is no audio" in text(app, "note"), "404")
        assert not (out / "pid").exists()  # no player was started for any of them
        await opened(pilot, Form, "s")
        await fill_in(pilot, "path", str(tmp_path), "ctrl+s")
        await until(pilot, lambda: "no audio" in text(app, "note") and app.noted[-1].startswith("recording 2"), "404 on save")  # fmt: skip
        assert not list(tmp_path.glob("recording-2*")) and not list(tmp_path.glob(".recording-2*"))

    run(box, scenario)


def test_no_player_says_what_to_install_and_how_to_download(
    box: Box, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "nothing"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))

    async def scenario(app: Watched, pilot: Pilot[None]) -> None:
        await recordings(pilot)
        await pick(pilot, 1)
        await pilot.press("p")
        await until(pilot, lambda: "no player" in text(app, "note"), "the advice")
        said = text(app, "note")
        assert "install one of aplay (alsa-utils), paplay (pulseaudio-utils)" in said
        assert "ffplay (ffmpeg), play (sox)" in said
        assert (f"curl -fo recording-1.wav --unix-socket {box.socket}"
                f" http://localhost/recordings/1/audio") in said  # fmt: skip

    run(box, scenario)


def test_s_saves_the_file_checked_and_never_over_another(box: Box, tmp_path: Path) -> None:
    async def scenario(app: Watched, pilot: Pilot[None]) -> None:
        await recordings(pilot)
        await pick(pilot, 1)
        await opened(pilot, Form, "s")
        default = app.screen.query_one("#f-path").value  # type: ignore[attr-defined]
        assert default == str(Path.cwd() / "recording-1.wav")
        await fill_in(pilot, "path", str(tmp_path), "ctrl+s")  # a folder: the name kept
        saved = tmp_path / "recording-1.wav"
        await until(pilot, lambda: "saved recording 1" in text(app, "note"), "saved")
        assert saved.read_bytes() == box.seeded["kept"]  # type: ignore[attr-defined]
        assert "SHA-256 checked" in text(app, "note")
        await opened(pilot, Form, "s")
        await fill_in(pilot, "path", str(saved), "ctrl+s")
        await until(pilot, lambda: "exists already" in text(app, "note"), "refused")
        assert saved.read_bytes() == box.seeded["kept"]  # type: ignore[attr-defined]
        await opened(pilot, Form, "s")
        await fill_in(pilot, "path", str(tmp_path / "no" / "such" / "x.wav"), "ctrl+s")
        await until(pilot, lambda: "cannot write" in text(app, "note"), "refused")

    run(box, scenario)


def test_a_recent_failure_raises_the_status_alert_on_top(box: Box) -> None:
    """Last: it adds a recording of today to the box."""
    from appliance.store import open_database
    from appliance.store import recordings as store

    db = open_database(box.tmp / "state" / "dialbox.db")
    store.insert_recording(db, attempt_id=15, campaign="spring", line="gsm0",
                           number="+12125550101", agent=None, direction="outbound",
                           started_at=time.time(), duration=0.0, path=None, format="wav",
                           bytes=0, sha256=None, status="failed", error=ERROR)  # fmt: skip
    db.close()

    async def scenario(app: Watched, pilot: Pilot[None]) -> None:
        await show(pilot, "dashboard")
        await opened(pilot, Recordings, "v")  # the last 7 days: today's only
        await until(pilot, lambda: len(rows(app)) == 1, "today's failure")
        assert rows(app)[0][6] == "failed"
        alerts = text(app, "alerts")
        assert alerts.startswith("⚠ 1 call recordings failed in the last 24 hours")
        assert "GET /recordings?status=failed" in alerts

    run(box, scenario)


# -- hostile daemons: served by the test on a socket ----------------------------------------


class Bare(App[None]):
    """Just the screen, over an API that answers what the test says."""

    def __init__(self, client: Client) -> None:
        super().__init__()
        self.client = client
        self.noted: list[str] = []

    def compose(self) -> ComposeResult:
        yield Static("under")

    def notify(self, message: str, *args: Any, **kwargs: Any) -> None:
        self.noted.append(str(message))
        super().notify(message, *args, **kwargs)

    async def on_unmount(self) -> None:
        await self.client.close()


def hostile(tmp_path: Path, answers: dict[str, web.Response | Callable[[], web.Response]],
            check: Callable[[Bare, Pilot[None]], Awaitable[None]]) -> None:  # fmt: skip
    socket = str(tmp_path / "api.sock")

    async def handle(request: web.Request) -> web.Response:
        answer = answers.get(request.path)
        if answer is None:
            return web.json_response({"detail": "no such thing"}, status=404)
        return answer() if callable(answer) else answer

    async def go() -> None:
        server = web.Application()
        server.router.add_route("*", "/{tail:.*}", handle)
        runner = web.AppRunner(server)
        await runner.setup()
        await web.UnixSite(runner, socket).start()
        try:
            app = Bare(Client(socket=socket))
            async with app.run_test(size=(80, 24)) as pilot:
                app.push_screen(Recordings(poll=3600))
                await until(pilot, lambda: ready(app), "the screen")
                await check(app, pilot)
        finally:
            await runner.cleanup()

    asyncio.run(go())


ONE = {"id": 7, "campaign": "x", "line": "gsm0", "number": "+1", "status": "complete",
       "format": "flac", "started_at": "2026-11-25T09:14:05Z", "duration": 3, "bytes": 1}  # fmt: skip


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        (lambda: web.json_response({"items": "nope"}), "is not a page of recordings"),
        (lambda: web.json_response([1, 2]), "is not a page of recordings"),
        (lambda: web.json_response({"items": [{"campaign": "x"}]}), "a recording without an id"),
        (lambda: web.json_response({"items": [ONE], "next": "x"}), "a `next` that is not a number"),
        (
            lambda: web.Response(text="<html>oops</html>", content_type="text/html"),
            "is not a page of recordings",
        ),
        (
            lambda: web.Response(status=500, text="<html>Internal Server Error</html>"),
            "<html>Internal Server Error</html>",
        ),
        (
            lambda: web.json_response(
                {"detail": "the token is wrong: make one with dialbox token"}, status=401
            ),
            "the token is wrong",
        ),
    ],
)
def test_garbage_and_errors_from_the_api_are_said(tmp_path: Path, answer: Any, said: str) -> None:
    async def check(app: Bare, pilot: Pilot[None]) -> None:
        await until(pilot, lambda: any(said in n for n in app.noted), said)
        assert said in text(app, "note")
        assert "could not be fetched (r tries again)" in text(app, "head")
        await pilot.press("p", "s", "i", "r")  # nothing to act on; still standing
        assert isinstance(app.screen, Recordings)

    hostile(tmp_path, {"/recordings": answer, "/status": lambda: web.json_response("garbage")},
            check)  # fmt: skip


def test_a_row_of_odd_values_stays_in_its_columns_and_garbage_details_are_refused(
    tmp_path: Path,
) -> None:
    odd = {**ONE, "campaign": "[b]x[/b]\x1b[31m" + "c" * 200, "agent": "\u202e" + "a" * 50,
           "duration": "long", "bytes": True, "started_at": "never"}  # fmt: skip

    async def check(app: Bare, pilot: Pilot[None]) -> None:
        await until(pilot, lambda: len(rows(app)) == 1, "the row")
        row = rows(app)[0]
        assert row[0] == "" and row[1] == "[b]x[/b]…" and row[4] == "\ufffdaaaa…"
        assert row[5] == "?" and row[7] == "—"
        await pilot.press("i")  # GET /recordings/7 answers garbage
        await until(pilot, lambda: "is not a recording" in text(app, "note"), "refused")
        assert isinstance(app.screen, Recordings)

    hostile(tmp_path, {"/recordings": lambda: web.json_response({"items": [odd], "next": None}),
                       "/status": lambda: web.json_response({}),
                       "/recordings/7": lambda: web.json_response({"id": "7"})}, check)  # fmt: skip
