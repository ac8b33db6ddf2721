"""`dialbox console`: the technician's Textual UI, a client of the daemon's API only (SPEC O4).

Keyboard first: 1–9 and 0 (or F1–F10, also while typing) switch panes, each pane lists its keys at
the bottom; / searches where a pane can, Esc leaves a search field; r reloads, q quits; Ctrl+P
finds any pane or action of the pane shown by name (the command palette).
The console polls the daemon every two seconds; when the daemon cannot be reached (stopped,
restarting) it says so in the top bar and keeps trying — it reconnects by itself."""

from __future__ import annotations

from functools import partial
from typing import Any, ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches
from textual.widgets import Footer, Static, TabbedContent, TabPane

from tui.base import Pane
from tui.client import ApiError, Client, Unreachable
from tui.commands import Command, ConsoleCommands
from tui.panes.agents import Agents
from tui.panes.campaigns import Campaigns
from tui.panes.contacts import Contacts
from tui.panes.dashboard import Dashboard
from tui.panes.dnc import Dnc
from tui.panes.lines import Lines
from tui.panes.logs import Logs
from tui.panes.reports import Reports
from tui.panes.setup import Setup
from tui.panes.strategy import Strategy

# (id, the tab's title, the pane). Pane i is on key i + 1 (the tenth on 0) and F(i + 1); the
# titles carry no key digits so that the ten tabs fit 80 columns (79 with their padding).
PANES: tuple[tuple[str, str, type[Pane]], ...] = (
    ("dashboard", "Home", Dashboard),
    ("lines", "Lines", Lines),
    ("campaigns", "Campaigns", Campaigns),
    ("dnc", "DNC", Dnc),
    ("reports", "Reports", Reports),
    ("logs", "Logs", Logs),
    ("setup", "Setup", Setup),
    ("agents", "Agents", Agents),
    ("contacts", "Contacts", Contacts),
    ("strategy", "Strategy", Strategy),
)


def pane_key(i: int) -> str:
    """The digit key of the i-th pane (0-based): 1–9, then 0."""
    return str((i + 1) % 10)


class Console(App[None]):
    TITLE = "dialbox console"
    CSS_PATH = "app.tcss"
    COMMANDS = App.COMMANDS | {ConsoleCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        *(
            Binding(pane_key(i), f"show('{pid}')", title, show=False)
            for i, (pid, title, _) in enumerate(PANES)
        ),
        # F1-F10 switch panes from anywhere, even while typing in a search field.
        *(
            Binding(f"f{i + 1}", f"show('{pid}')", title, show=False, priority=True)
            for i, (pid, title, _) in enumerate(PANES)
        ),
        Binding("escape", "focus_pane", "Back to the table", show=False),
        Binding("r", "reload", "Reload", show=False),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, client: Client, *, poll: float = 2.0) -> None:
        super().__init__()
        self.client = client
        self.poll = poll
        self.reachable: bool | None = None
        self.bar = Static("dialbox · connecting…", id="bar")

    def compose(self) -> ComposeResult:
        yield self.bar
        with TabbedContent(id="tabs"):
            for pid, title, cls in PANES:
                with TabPane(title, id=pid):
                    yield cls(id=f"pane-{pid}")
        yield Footer()

    async def on_mount(self) -> None:
        self.active_pane().focus_default()
        self.set_interval(self.poll, self._tick)
        await self._tick()

    async def on_unmount(self) -> None:
        await self.client.close()

    def palette_commands(self) -> list[Command]:
        """Every pane to go to, then every action of the pane shown (ConsoleCommands)."""
        commands = [
            Command(f"Go to {title}", f"key {pane_key(i)} or F{i + 1}",
                    partial(self.run_action, f"show('{pid}')"))
            for i, (pid, title, _) in enumerate(PANES)
        ]  # fmt: skip
        pane = self.active_pane()
        name = next(title for pid, title, _ in PANES if pane.id == f"pane-{pid}")
        for binding in pane.BINDINGS:
            if isinstance(binding, Binding):
                commands.append(Command(f"{name}: {binding.tooltip or binding.description}",
                                        f"key {self.get_key_display(binding)}",
                                        partial(self.run_action, binding.action, pane)))  # fmt: skip
        commands.append(Command("Reload", "key r: fetch the pane again now",
                                partial(self.run_action, "reload")))  # fmt: skip
        return commands

    def active_pane(self) -> Pane:
        tab = self.query_one(TabbedContent).active or PANES[0][0]
        return self.query_one(f"#pane-{tab}", Pane)

    async def _tick(self) -> None:
        try:
            pane = self.active_pane()
        except NoMatches:  # the console is closing: its panes are already gone
            return
        await self.refresh_pane(pane)

    async def refresh_pane(self, pane: Pane) -> None:
        bar = self.bar
        try:
            await pane.reload()
        except NoMatches:
            if pane.is_attached and self.is_running:
                raise
            # the console closed (or is closing: its widgets pruned child first) while the daemon
            # was answering: nothing left to fill
            return
        except Unreachable as exc:
            if self.reachable is not False:
                self.notify("the daemon cannot be reached; retrying", severity="warning")
            self.reachable = False
            bar.add_class("down")
            bar.update(f"dialbox · NOT CONNECTED — {exc}; retrying every {self.poll:g} s")
            return
        except ApiError as exc:
            bar.update(f"dialbox · connected · {exc.detail}")
            return
        if self.reachable is False:
            self.notify("reconnected to the daemon")
        self.reachable = True
        bar.remove_class("down")
        bar.update("dialbox · connected")

    async def act(self, coro: Any, ok: str | None = None) -> Any:
        try:
            result = await coro
        except Unreachable as exc:
            self.notify(str(exc), severity="error")
            return None
        except ApiError as exc:
            self.notify(exc.detail, severity="error", timeout=8)
            return None
        if ok:
            self.notify(ok)
        return result if result is not None else True

    async def action_show(self, pane: str) -> None:
        tabs = self.query_one(TabbedContent)
        if tabs.active == pane:
            self.active_pane().focus_default()
            await self.refresh_pane(self.active_pane())
            return
        # Drop the focus before the pane it is in hides: a hidden focused widget hands it to a
        # sibling in its pane, and a pane given the focus is made active again (TabbedContent)
        # — pressing 5 on the DNC pane once left it there. The pane shown takes it (below).
        self.screen.set_focus(None)
        tabs.active = pane

    async def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self.active_pane().focus_default()
        await self.refresh_pane(self.active_pane())

    def action_focus_pane(self) -> None:
        self.active_pane().focus_default()

    async def action_reload(self) -> None:
        await self.refresh_pane(self.active_pane())
