"""Call recordings (SPEC O9, #24), opened from Home with `v`: newest first, filtered by campaign,
status and period; failed ones with their reason, and the recordings alerts of /status (the
disk budget) on top. On a row `p` plays it on this machine — the file fetched from the API to a
temporary file and a player found on PATH run on it; `p` again or Esc stops it — `s` saves it
to a file, `i` shows all that is known of it. Where no player is installed it says what to
install, and the `curl` command that downloads the file."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.css.query import NoMatches
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from tui.base import Host, clock, moment, selected_key
from tui.client import ApiError, Unreachable, instant
from tui.player import Playback, curl_command, find_player, install_hint, over_ssh
from tui.screens.form import Field, Form
from tui.screens.message import Message
from tui.text import cell, printable

PAGE = 1000  # recordings a request asks for
MAX_PAGES = 50  # per load: past 50,000 recordings narrow the period or the campaign
SHOWN = 500  # rows in the table, the newest
STATUSES = ("complete", "failed", "deleted")
PERIODS = {"24h": ("last 24 hours", timedelta(days=1)), "7d": ("last 7 days", timedelta(days=7)),
           "30d": ("last 30 days", timedelta(days=30)), "all": ("all time", None)}  # fmt: skip
EXTENSIONS = {"flac": "flac", "opus": "opus", "wav": "wav"}
# (header, width): the eight columns fill 78 columns with their padding
COLUMNS = (("when", 11), ("campaign", 9), ("line", 5), ("number", 12), ("agent", 6),
           ("length", 6), ("status", 8), ("size", 5))  # fmt: skip


class Garbage(ValueError):
    """The daemon's answer is not what GET /recordings gives."""


def items_of(page: Any) -> tuple[list[dict[str, Any]], int | None]:
    """A page's recordings and its `next`; Garbage saying what was wrong with it."""
    if not isinstance(page, dict) or not isinstance(page.get("items"), list):
        raise Garbage(f"the daemon's answer to GET /recordings is not a page of recordings: "
                      f"{printable(str(page)[:80])}")  # fmt: skip
    items = []
    for item in page["items"]:
        if not isinstance(item, dict) or type(item.get("id")) is not int:
            raise Garbage(f"a recording without an id in the daemon's answer: "
                          f"{printable(str(item)[:80])}")  # fmt: skip
        items.append(item)
    after = page.get("next")
    if after is not None and type(after) is not int:
        raise Garbage(f"the daemon's answer has a `next` that is not a number: {printable(after)}")
    return items, after


def when(value: Any) -> str:
    """HH:MM:SS today, MM-DD HH:MM before (this machine's local time)."""
    at = moment(value)
    if at is None:
        return ""
    today = datetime.now().astimezone(at.tzinfo).date()
    return f"{at:%H:%M:%S}" if at.date() == today else f"{at:%m-%d %H:%M}"


def length(seconds: Any) -> str:
    """Audio time: m:ss, 1h02m past the hour."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
        return "?"
    s = int(seconds + 0.5)
    return f"{s // 60}:{s % 60:02d}" if s < 3600 else f"{s // 3600}h{s % 3600 // 60:02d}m"


def size(n: Any) -> str:
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        return "—"
    if n < 1000:
        return f"{n}B"
    if n < 1_000_000:
        return f"{n / 1000:.0f}K" if n >= 10_000 else f"{n / 1000:.1f}K"
    return f"{n / 1_000_000:.1f}M" if n < 100_000_000 else f"{n // 1_000_000}M"


def row_cells(r: dict[str, Any]) -> list[Text]:
    status = str(r.get("status") or "?")
    style = {"failed": "bold red", "deleted": "dim"}.get(status, "")
    values = (when(r.get("started_at")), r.get("campaign"), r.get("line"), r.get("number"),
              r.get("agent") or "", length(r.get("duration")), status, size(r.get("bytes")))  # fmt: skip
    cells = [cell(v, w) for v, (_, w) in zip(values, COLUMNS, strict=True)]
    if style:
        for c in cells:
            c.stylize(style)
    return cells


def filename(r: dict[str, Any]) -> str:
    return f"recording-{r['id']}.{EXTENSIONS.get(str(r.get('format')), 'audio')}"


def gone_why(r: dict[str, Any]) -> str:
    why = r.get("deleted_why")
    reason = {"age": "older than recordings.retain_days",
              "budget": "the disk budget (recordings.budget_mb) needed the room"}.get(
        str(why), f"deleted by {why}")  # fmt: skip
    return f"deleted {clock(r.get('deleted_at'))}: {reason}"


def summary(r: dict[str, Any]) -> str:
    """The highlighted recording on the line under the table."""
    head = f"#{r['id']} · attempt {r.get('attempt_id')} · {r.get('direction')}"
    status = r.get("status")
    if status == "failed":
        return printable(f"{head} · FAILED: {r.get('error') or 'no reason given'}")
    if status == "deleted":
        return printable(f"{head} · {gone_why(r)}")
    sha = str(r.get("sha256") or "")
    text = (
        f"{head} · {r.get('format')} · sha256 {sha[:12]}…" if sha else f"{head} · {r.get('format')}"
    )
    if r.get("frames_lost"):
        text += f" · {r['frames_lost']} frames lost"
    return printable(text)


def details(r: dict[str, Any]) -> str:
    """Everything the API says of a recording, one field a line."""
    frames = r.get("frames_lost")
    lost = f"{frames} (20 ms each, written as silence)" if frames else "none"
    fields: list[tuple[str, Any]] = [
        ("attempt", r.get("attempt_id")),
        ("campaign", r.get("campaign")),
        ("line", r.get("line")),
        ("number", r.get("number")),
        ("agent", r.get("agent") or "—"),
        ("direction", r.get("direction")),
        ("started", clock(r.get("started_at"))),
        ("length", f"{length(r.get('duration'))} of audio"),
        ("status", r.get("status")),
        ("format", f"{r.get('format')}, stereo 8 kHz: left the far end, right the box"),
        ("size", f"{r.get('bytes')} bytes"),
        ("sha256", r.get("sha256") or "—"),
        (
            "file",
            f"{r.get('audio')} (the API's path; on the box under recordings.directory)"
            if r.get("audio")
            else "none",
        ),
        ("frames lost", lost),
    ]
    if r.get("status") == "deleted":
        fields.append(("deleted", gone_why(r)))
    if r.get("error"):
        fields.append(("error" if r.get("status") == "failed" else "note", r.get("error")))
    return "\n".join(f"{name:<12} {printable(value)}" for name, value in fields)


def checked(file: Path, sha256: Any) -> str | None:
    """None when the file is the one the box wrote (or no checksum is known); else what differs."""
    if not isinstance(sha256, str) or not sha256:
        return None
    digest = hashlib.sha256()
    with file.open("rb") as f:
        while piece := f.read(1 << 20):
            digest.update(piece)
    if digest.hexdigest() == sha256.lower():
        return None
    return f"the file downloaded is not the one recorded (SHA-256 {digest.hexdigest()[:12]}…, the row says {sha256[:12]}…)"


class Recordings(ModalScreen[None]):
    """The recordings; p plays (p or Esc stops), s saves, i details, f filters, Esc closes."""

    CSS_PATH = "recordings.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Stop/close"),
        Binding("p", "play", "Play/stop"),
        Binding("s", "save", "Save"),
        Binding("i", "info", "Details"),
        Binding("f", "filter", "Filter"),
        Binding("r", "reload", "Reload"),
    ]

    def __init__(self, *, poll: float | None = None) -> None:
        super().__init__()
        self.campaign: str | None = None
        self.status: str | None = None
        self.period = "7d"
        self.rows: dict[int, dict[str, Any]] = {}
        self.last = 0  # the highest id fetched: the next poll asks for those after it
        self.more = False  # the load stopped at MAX_PAGES
        self.fetching = (
            False  # a list is being fetched (not `loading`: a widget's, it hides the screen)
        )
        self.generation = 0
        self.alerts: list[str] = []
        self.playback: Playback | None = None
        self.busy = False  # downloading for play or save
        self.poll = poll
        self.drawn: list[tuple[int, str]] = []  # what the table shows

    @property
    def host(self) -> Host:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        with Vertical(id="recordings") as box:
            box.border_title = "Recordings"
            box.border_subtitle = "p play/stop · s save · i details · f filter · Esc close"
            yield Static("", id="recordings-head", markup=False)
            yield Static("", id="recordings-alerts", markup=False)
            table: DataTable[Any] = DataTable(id="recordings-table", cursor_type="row")
            for header, width in COLUMNS:
                table.add_column(header, width=width, key=header)
            yield table
            yield Static("", id="recordings-detail", markup=False)
            yield Static("", id="recordings-note", markup=False)

    async def on_mount(self) -> None:
        self.query_one(DataTable).focus()
        poll = self.poll if self.poll is not None else float(getattr(self.app, "poll", 2.0))
        self.set_interval(poll, self._poll)
        await self.action_reload()

    def on_screen_resume(self) -> None:
        """Back from a form or a message: the keys act on the table again."""
        with contextlib.suppress(NoMatches):
            self.query_one(DataTable).focus()

    def on_unmount(self) -> None:
        if self.playback is not None:
            self.playback.kill()

    # -- loading ---------------------------------------------------------------------------

    def _since(self) -> str | None:
        span = PERIODS[self.period][1]
        if span is None:
            return None
        return (datetime.now(UTC) - span).isoformat(timespec="seconds")

    async def _load(self, *, fresh: bool) -> None:
        if self.fetching and not fresh:
            return
        self.fetching = True
        if fresh:
            self.generation += 1
        generation = self.generation
        rows = {} if fresh else dict(self.rows)
        after = 0 if fresh else self.last
        since = self._since()
        more = False
        try:
            for n in range(MAX_PAGES + 1):
                if n == MAX_PAGES:
                    more = True
                    break
                page = await self.host.client.recordings(
                    campaign=self.campaign, status=self.status, since=since, after=after,
                    limit=PAGE)  # fmt: skip
                items, following = items_of(page)
                for item in items:
                    rows[item["id"]] = item
                    after = max(after, item["id"])
                if following is None or not items:
                    break
                after = max(after, following)
            alerts = await self._alerts()
        finally:
            if generation == self.generation:
                self.fetching = False
        if generation != self.generation:
            return  # the filters changed meanwhile: that load shows
        self.rows, self.last, self.more, self.alerts = rows, after, more or self.more, alerts
        self._show()

    async def _alerts(self) -> list[str]:
        """/status's recordings alerts (failures, the disk budget); none from an older daemon."""
        status = await self.host.client.get("/status")
        section = status.get("recordings") if isinstance(status, dict) else None
        alerts = section.get("alerts") if isinstance(section, dict) else None
        return [str(a) for a in alerts] if isinstance(alerts, list) else []

    async def _poll(self) -> None:
        """New recordings as they come (those after the last one fetched)."""
        if self.fetching:
            return
        with contextlib.suppress(ApiError, Unreachable, Garbage):
            await self._load(fresh=False)

    async def action_reload(self) -> None:
        try:
            await self._load(fresh=True)
        except (ApiError, Unreachable, Garbage) as exc:
            self.fetching = False
            self._said(str(getattr(exc, "detail", exc)), error=True)
            with contextlib.suppress(NoMatches):
                self.query_one("#recordings-head", Static).update(
                    "the recordings could not be fetched (r tries again)"
                )

    # -- showing ---------------------------------------------------------------------------

    def _newest(self) -> list[dict[str, Any]]:
        def key(r: dict[str, Any]) -> tuple[float, int]:
            return (instant(r.get("started_at")) or 0.0, r["id"])

        return sorted(self.rows.values(), key=key, reverse=True)[:SHOWN]

    def _show(self) -> None:
        try:
            table = self.query_one(DataTable)
            head = self.query_one("#recordings-head", Static)
            alerts = self.query_one("#recordings-alerts", Static)
        except NoMatches:  # closed while the daemon answered
            return
        shown = self._newest()
        drawn = [(r["id"], repr(sorted(r.items()))) for r in shown]
        if drawn != self.drawn:  # the poll brings the same rows mostly: the cursor stays put
            self.drawn = drawn
            keep = selected_key(table)
            table.clear()
            for r in shown:
                table.add_row(*row_cells(r), key=str(r["id"]))
            keys = [str(r["id"]) for r in shown]
            if keep in keys:
                table.move_cursor(row=keys.index(keep), animate=False)
        what = [
            self.campaign or "all campaigns",
            self.status or "any status",
            PERIODS[self.period][0],
        ]
        total = len(self.rows)
        failed = sum(1 for r in self.rows.values() if r.get("status") == "failed")
        count = f"{total} recording{'' if total == 1 else 's'}" if total else "no recordings"
        extra = f" ({failed} failed)" if failed and not self.status else ""
        newest = f" · the newest {SHOWN} shown" if total > SHOWN else ""
        cut = " · narrow the period: the first 50,000 fetched" if self.more else ""
        head.update(f"{count}{extra} · {' · '.join(printable(w) for w in what)}{newest}{cut}")
        alerts.update("\n".join(f"⚠ {printable(a)}" for a in self.alerts))
        alerts.display = bool(self.alerts)
        self._detail()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._detail()

    def _selected(self) -> dict[str, Any] | None:
        key = selected_key(self.query_one(DataTable))
        return None if key is None else self.rows.get(int(key))

    def _detail(self) -> None:
        with contextlib.suppress(NoMatches):
            r = self._selected()
            self.query_one("#recordings-detail", Static).update(summary(r) if r else "")

    def _said(self, text: str, *, error: bool = False) -> None:
        """Keep what was done (or went wrong) under the table, and as a note."""
        with contextlib.suppress(NoMatches):
            note = self.query_one("#recordings-note", Static)
            note.update(printable(text))
            note.set_class(error, "error")
        self.host.notify(text, severity="error" if error else "information",
                         timeout=10 if error else None)  # fmt: skip

    # -- fetching a file -------------------------------------------------------------------

    async def _fetch(self, r: dict[str, Any], dest: Path) -> bool:
        """The recording's audio into `dest`; False (and said why) when it cannot be had."""
        try:
            await self.host.client.download(f"/recordings/{r['id']}/audio", dest)
        except ApiError as exc:
            self._said(f"recording {r['id']}: {exc.detail}", error=True)
            return False
        except Unreachable as exc:
            self._said(str(exc), error=True)
            return False
        except OSError as exc:
            self._said(f"cannot write {dest}: {exc.strerror or exc}", error=True)
            return False
        return True

    # -- the keys --------------------------------------------------------------------------

    async def action_play(self) -> None:
        if self.playback is not None and self.playback.running:
            await self.playback.stop()
            return
        r = self._selected()
        if r is None or self.busy:
            return
        fmt = str(r.get("format"))
        found = find_player(fmt)
        if found is None:
            client = self.host.client
            curl = curl_command(socket=client.socket, base=client.base,
                                path=f"/recordings/{r['id']}/audio", filename=filename(r))  # fmt: skip
            self._said(f"{install_hint(fmt)}; or s saves it, or download it: {curl}", error=True)
            return
        player, executable = found
        folder = Path(tempfile.mkdtemp(prefix="dialbox-recording-"))
        file = folder / filename(r)
        self.busy = True
        self._said(f"fetching recording {r['id']}…")
        try:
            if not await self._fetch(r, file):
                file.unlink(missing_ok=True)
                folder.rmdir()
                return
            wrong = await asyncio.to_thread(checked, file, r.get("sha256"))
            playback = Playback(player, executable, file, f"recording {r['id']}")
            try:
                await playback.start()
            except OSError as exc:
                playback.discard()
                self._said(f"{player.command} cannot be started: {exc.strerror or exc}", error=True)
                return
        finally:
            self.busy = False
        self.playback = playback
        where = (
            " on this machine (over SSH: the box's sound output; s saves a copy)"
            if over_ssh()
            else ""
        )
        warn = f" — {wrong}" if wrong else ""
        self._said(f"playing recording {r['id']} with {player.command}{where} · p or Esc stops{warn}",
                   error=bool(wrong))  # fmt: skip
        self.run_worker(self._ended(playback), exclusive=False, group="playback")

    async def _ended(self, playback: Playback) -> None:
        outcome = await playback.wait()
        if self.playback is playback:
            self.playback = None
        if self.is_attached:
            self._said(outcome, error="could not" in outcome)

    async def action_save(self) -> None:
        r = self._selected()
        if r is None or self.busy:
            return

        async def done(v: dict[str, str] | None) -> None:
            if v is None or not v.get("path"):
                return
            await self._save(r, Path(v["path"]).expanduser())

        self.app.push_screen(Form(f"Save recording {r['id']}", [
            Field("path", "File", str(Path.cwd() / filename(r))),
        ], note="A folder keeps the name; a file there already is not replaced."), done)  # fmt: skip

    async def _save(self, r: dict[str, Any], path: Path) -> None:
        if path.is_dir():
            path = path / filename(r)
        if path.exists():
            self._said(f"{path} exists already: give another name, or remove it first", error=True)
            return
        part = path.with_name(f".{path.name}.part")
        self.busy = True
        try:
            if not await self._fetch(r, part):
                part.unlink(missing_ok=True)
                return
            wrong = await asyncio.to_thread(checked, part, r.get("sha256"))
            part.replace(path)
        except OSError as exc:
            part.unlink(missing_ok=True)
            self._said(f"cannot write {path}: {exc.strerror or exc}", error=True)
            return
        finally:
            self.busy = False
        written = path.stat().st_size
        if wrong:
            self._said(f"saved {path} ({written} bytes), but {wrong}", error=True)
        else:
            sure = ", SHA-256 checked" if r.get("sha256") else ""
            self._said(f"saved recording {r['id']} to {path} ({written} bytes{sure})")

    async def action_info(self) -> None:
        r = self._selected()
        if r is None:
            return
        try:
            fresh = await self.host.client.get(f"/recordings/{r['id']}")
        except ApiError as exc:
            self._said(f"recording {r['id']}: {exc.detail}", error=True)
            return
        except Unreachable as exc:
            self._said(str(exc), error=True)
            return
        if not isinstance(fresh, dict) or fresh.get("id") != r["id"]:
            self._said(f"the daemon's answer for recording {r['id']} is not a recording: "
                       f"{printable(str(fresh)[:80])}", error=True)  # fmt: skip
            return
        self.rows[r["id"]] = fresh
        self.app.push_screen(Message(f"Recording {r['id']}", details(fresh)))

    async def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        await self.action_info()

    async def action_filter(self) -> None:
        names: set[str] = {str(r.get("campaign")) for r in self.rows.values() if r.get("campaign")}
        with contextlib.suppress(ApiError, Unreachable, TypeError, KeyError):
            names |= {str(c["name"]) for c in await self.host.client.get("/campaigns")}
        if self.campaign:
            names.add(self.campaign)

        async def done(v: dict[str, str] | None) -> None:
            if v is None:
                return
            self.campaign = v.get("campaign") or None
            self.status = v.get("status") or None
            self.period = v.get("period") or "7d"
            self.more = False
            await self.action_reload()
            with contextlib.suppress(NoMatches):
                self.query_one(DataTable).focus()

        self.app.push_screen(Form("Which recordings", [
            Field("campaign", "Campaign", self.campaign or "",
                  [("all campaigns", ""), *((printable(n), n) for n in sorted(names))]),
            Field("status", "Status", self.status or "",
                  [("any status", ""), *((s, s) for s in STATUSES)]),
            Field("period", "Started", self.period,
                  [(label, key) for key, (label, _) in PERIODS.items()]),
        ]), done)  # fmt: skip

    async def action_close(self) -> None:
        if self.playback is not None and self.playback.running:
            await self.playback.stop()
            return
        self.dismiss(None)
