"""The contacts pane (SPEC O4): one campaign's contacts by state, searched, in the columns the
technician chose (kept in the console's preferences), a page at a time — a campaign may hold a
million, and only the pages looked at are fetched. Enter shows a contact with its attempts."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import DataTable, Input, Select, Static

from tui.base import Pane, css_beside
from tui.prefs import Prefs
from tui.screens.columns import Columns
from tui.screens.message import Message
from tui.text import cell, printable

PAGE = 100  # contacts a request asks for
SEARCH_TRIES = 5  # requests one load makes while a search finds nothing in the windows examined

# The contact request states (SPEC C11), in the order a campaign moves through them.
STATES = ("Pending", "Sent to Dialer", "Not Connected", "Connected", "Retries Completed",
          "DNC Listed", "SMS sent", "SMS sent and Closed", "SMS responded", "Dangling",
          "E-mail sent")  # fmt: skip

# Every column a row can show: the contact's field, its header unless the campaign names the
# field (its column mapping), and how wide a value may be before it is cut.
FIELDS: tuple[tuple[str, str, int], ...] = (
    ("contact_id", "id", 9),
    ("external_id", "external id", 20),
    *((f"phone{i}", f"phone{i}", 18) for i in range(1, 6)),
    *((f"bp{i}", f"BP{i}", 24) for i in range(1, 13)),
    ("state", "state", 19),
    ("attempts", "attempts", 8),
    ("last_outcome", "last outcome", 16),
    ("last_attempt_at", "last attempt", 11),
    ("next_at", "next attempt", 12),
    ("callback_at", "callback", 11),
    ("timezone", "timezone", 20),
    ("priority", "priority", 8),
    ("owner_agent", "owner", 12),
    ("summary_label", "summary", 12),
)
WIDTH = {key: width for key, _, width in FIELDS}
DEFAULT_COLUMNS = ["phone1", "bp1", "state", "attempts", "next_at"]
TIMES = ("last_attempt_at", "next_at", "callback_at")


def when(iso: str | None, *, long: bool = False) -> str:
    """An API time (ISO 8601, UTC) in this machine's local time, short: 06-10 14:30."""
    if not iso:
        return ""
    try:
        moment = dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone()
    except ValueError:
        return printable(iso)
    return moment.strftime("%Y-%m-%d %H:%M:%S %Z" if long else "%m-%d %H:%M")


def value_of(contact: dict[str, Any], key: str) -> Any:
    value = contact.get(key)
    return when(value) if key in TIMES else value


def detail_text(contact: dict[str, Any], labels: dict[str, str]) -> str:
    """One contact and its attempts, as plain lines (every value made printable)."""
    lines = [f"{printable(contact.get('campaign'))} · {contact.get('state')} "
             f"({contact.get('summary_label')})"]  # fmt: skip
    fields: list[tuple[str, Any]] = [("external id", contact.get("external_id"))]
    for i in range(1, 6):
        if contact.get(f"phone{i}"):
            fields.append((labels.get(f"phone{i}", f"phone {i}"),
                           f"{contact[f'phone{i}']}   {contact.get(f'e164_{i}') or ''}"))  # fmt: skip
    fields += [(labels.get(f"bp{i}", f"BP{i}"), contact.get(f"bp{i}")) for i in range(1, 13)]
    fields += [
        ("last outcome", contact.get("last_outcome")),
        ("last attempt", when(contact.get("last_attempt_at"), long=True)),
        ("next attempt", when(contact.get("next_at"), long=True)),
        ("callback", when(contact.get("callback_at"), long=True)),
        ("timezone", contact.get("timezone")),
        ("priority", contact.get("priority")),
        ("owner", contact.get("owner_agent")),
    ]
    for name, value in fields:
        if value not in (None, ""):
            lines.append(f"{printable(name)[:14]:<14} {printable(value)}")
    attempts = contact.get("attempts") or []
    lines += ["", f"Attempts ({len(attempts)})" if attempts else "No attempts yet"]
    for a in attempts:
        outcome = a.get("outcome") or a.get("status") or ""
        extra = f" · {printable(a['disposition'])}" if a.get("disposition") else ""
        lines.append(f"{a.get('attempt_no', ''):>2} {when(a.get('queued_at'))} {a.get('channel', '')[:5]:<5} "
                     f"{printable(a.get('number'))[:16]:<16} {printable(a.get('line') or '')[:10]:<10} "
                     f"{printable(outcome)}{extra}")  # fmt: skip
    return "\n".join(lines)


class Contacts(Pane):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("p", "pick", "Campaign"),
        Binding("s", "state", "State"),
        Binding("slash", "search", "Search"),
        Binding("c", "columns", "Columns"),
        Binding("d", "detail", "Detail", show=False),  # also Enter
        Binding("r", "refresh", "Reload"),
    ]
    DEFAULT_CSS = css_beside(__file__)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.prefs = Prefs()
        chosen = self.prefs.get("contacts", "columns")
        known = [key for key, _, _ in FIELDS]
        self.columns = [c for c in chosen if c in known] if isinstance(chosen, list) else []
        self.columns = self.columns or list(DEFAULT_COLUMNS)
        self.campaign: str | None = None
        self.state: str | None = None
        self.search = ""
        self.rows: list[dict[str, Any]] = []
        self.next: int | None = None
        self.labels: dict[str, str] = {}
        self.counts: dict[str, int] = {}
        self.total = 0
        self.fetching = False
        self.pages = 0  # requests that brought the rows shown
        self.generation = 0  # bumped when campaign, state or search change: late pages drop
        self.note = ""  # the last trouble, shown in the status line until the next good page
        self.names: list[str] | None = None  # the campaigns in the picker

    def compose(self) -> ComposeResult:
        with Horizontal(id="contacts-head"):
            yield Select[str]([], prompt="campaign", id="contacts-campaign", allow_blank=True)
            yield Select[str]([("all states", ""), *((s, s) for s in STATES)], value="",
                              id="contacts-state", allow_blank=False)  # fmt: skip
            yield Input(
                placeholder="/ phone, id, name… (Enter)", id="contacts-search", max_length=100
            )
        yield DataTable(id="contacts-table", cursor_type="row")
        yield Static("", id="contacts-status", markup=False)

    def on_mount(self) -> None:
        self._columns()
        if self.prefs.problem:
            self.console.notify(self.prefs.problem, severity="warning")

    # -- loading ---------------------------------------------------------------------------

    async def reload(self) -> None:
        """On the console's timer and when shown: the campaigns and their counts; the rows
        again while only the first page is shown (deeper pages stay put: `r` starts over)."""
        campaigns = await self.client.get("/campaigns")
        names = [str(c["name"]) for c in campaigns]
        picker = self.query_one("#contacts-campaign", Select)
        if names != self.names:
            self.names = names
            picker.set_options([(printable(n), n) for n in names])
            if self.campaign not in names:
                remembered = self.prefs.get("contacts", "campaign")
                self.campaign = remembered if remembered in names else (names[0] if names else None)
                self._restart()
            if self.campaign is not None:
                picker.value = self.campaign
        found = next((c for c in campaigns if c["name"] == self.campaign), None)
        if found is None:
            self.rows, self.next = [], None
            self._redraw()
            self._status("no campaigns yet: create one in Campaigns (3)")
            return
        self.counts = dict(found["contacts"]["by_state"])
        self.total = int(found["contacts"]["total"])
        if not self.fetching and self.pages <= 1:
            await self._load(again=True)
        self._status()

    async def _load(self, *, again: bool = False) -> None:
        """The next page(s) after the rows shown (`again`: the first page, afresh). A search may
        come back empty from a window of the campaign with more to examine: it goes on, up to
        SEARCH_TRIES requests, then waits for ↓ at the end of the table."""
        if self.campaign is None or self.fetching:
            return
        self.fetching = True
        generation = self.generation
        rows: list[dict[str, Any]] = [] if again else list(self.rows)
        after = 0 if again else (self.next or 0)
        pages = 0 if again else self.pages
        labels = self.labels
        try:
            for _ in range(SEARCH_TRIES):
                page = await self.client.contacts(self.campaign, state=self.state,
                                                  search=self.search, after=after, limit=PAGE)  # fmt: skip
                if generation != self.generation:
                    return  # the technician asked for something else meanwhile
                rows += page["items"]
                pages += 1
                labels = dict(page.get("labels") or {})
                self.next = after = page["next"]
                if page["items"] or after is None or not self.search:
                    break
        finally:
            if generation == self.generation:
                self.fetching = False
        appended = not again and len(rows) >= len(self.rows)
        self.rows, self.pages, self.note = rows, pages, ""
        if labels != self.labels:  # the campaign names its fields: the headers say so
            self.labels = labels
            self._columns()
            appended = False
        if appended:
            self._append()
        else:
            self._redraw()
        self._status()

    def _restart(self) -> None:
        self.generation += 1
        self.fetching = False
        self.rows, self.next, self.pages = [], None, 0
        self._redraw()

    async def _start_over(self, *, keep: bool = False) -> None:
        """The first page of what is asked now; `keep`: the rows stay until it comes."""
        if keep:
            self.generation += 1
            self.fetching = False
        else:
            self._restart()
        self._status("loading…")
        await self._fetch(again=True)

    async def _fetch(self, *, again: bool = False) -> None:
        """A load the technician asked for: trouble is a note, not an error (act says it)."""
        if await self.act(self._load(again=again)) is None:
            self.note = "the daemon did not answer (r tries again)"
            self._status()

    async def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.cursor_row >= event.data_table.row_count - 1 and self.next is not None:
            await self._fetch()

    # -- showing ---------------------------------------------------------------------------

    def _label(self, key: str) -> str:
        default = next(label for k, label, _ in FIELDS if k == key)
        return printable(self.labels.get(key) or default)

    def _columns(self) -> None:
        table = self.query_one(DataTable)
        table.clear(columns=True)
        for key in self.columns:
            table.add_column(cell(self._label(key), WIDTH[key]), key=key)

    def _cells(self, contact: dict[str, Any]) -> list[Text]:
        return [cell(value_of(contact, key), WIDTH[key]) for key in self.columns]

    def _redraw(self) -> None:
        table = self.query_one(DataTable)
        row = table.cursor_row
        table.clear()
        for contact in self.rows:
            table.add_row(*self._cells(contact), key=str(contact["contact_id"]))
        if self.rows:
            table.move_cursor(row=min(max(row, 0), len(self.rows) - 1))

    def _append(self) -> None:
        table = self.query_one(DataTable)
        for contact in self.rows[table.row_count :]:
            table.add_row(*self._cells(contact), key=str(contact["contact_id"]))

    def _status(self, text: str | None = None) -> None:
        status = self.query_one("#contacts-status", Static)
        if text is not None:
            status.update(text)
            return
        shown = self.counts.get(self.state, 0) if self.state else self.total
        parts = [f"{shown:,} {self.state or 'contacts'}", f"{len(self.rows):,} shown"]
        if self.search:
            parts[1] = f"{len(self.rows):,} found for {printable(self.search)!r}"
        if self.next is not None:
            parts.append("↓ at the end: more" if not self.search else "↓ at the end: search on")
        if self.note:
            parts.append(self.note)
        status.update(" · ".join(parts))

    # -- the technician's keys ---------------------------------------------------------------

    async def on_select_changed(self, event: Select.Changed) -> None:
        value = None if event.value is Select.NULL else str(event.value)
        if event.select.id == "contacts-campaign":
            if value is None or value == self.campaign:
                return
            self.campaign = value
            self.prefs.set("contacts", "campaign", value)
            self._restart()
            await self.console.refresh_pane(self)
            self.query_one(DataTable).focus()
            return
        if event.select.id == "contacts-state":
            state = value or None
            if state == self.state:
                return
            self.state = state
        else:
            return
        await self._start_over()
        self.query_one(DataTable).focus()

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        self.search = event.value.strip()
        await self._start_over()
        self.query_one(DataTable).focus()

    def action_pick(self) -> None:
        picker = self.query_one("#contacts-campaign", Select)
        picker.focus()
        picker.expanded = True

    def action_state(self) -> None:
        picker = self.query_one("#contacts-state", Select)
        picker.focus()
        picker.expanded = True

    def action_search(self) -> None:
        self.query_one(Input).focus()

    async def action_refresh(self) -> None:
        await self._start_over(keep=True)

    def action_columns(self) -> None:
        def done(chosen: list[str] | None) -> None:
            if not chosen:
                return
            self.columns = chosen
            if not self.prefs.set("contacts", "columns", chosen):
                self.console.notify(self.prefs.problem or "", severity="warning", timeout=8)
            self._columns()
            self._redraw()

        names = [(key, f"{self._label(key)}" + (f"  ({key})" if key in self.labels else ""))
                 for key, _, _ in FIELDS]  # fmt: skip
        self.app.push_screen(Columns(names, self.columns), done)

    async def action_detail(self) -> None:
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        if key is None:
            return
        found = await self.act(self.client.contact(int(key)))
        if isinstance(found, dict):
            self.app.push_screen(Message(f"Contact {int(key)}", detail_text(found, self.labels)))

    async def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        await self.action_detail()
