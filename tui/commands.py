"""The command palette's console commands (Ctrl+P): go to any pane, and every action of the pane
shown — with its key, so the palette also teaches the keys. The app says which commands there are
(`Palette.palette_commands`); this provider offers them through Textual's `Provider` API."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.screen import ModalScreen


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    run: Callable[[], Any]


@runtime_checkable
class Palette(Protocol):
    def palette_commands(self) -> list[Command]: ...


class ConsoleCommands(Provider):
    def _commands(self) -> list[Command]:
        app = self.app
        if isinstance(self.screen, ModalScreen) or not isinstance(app, Palette):
            return []  # over a form: finish or leave it first
        return app.palette_commands()

    async def discover(self) -> Hits:
        for command in self._commands():
            yield DiscoveryHit(command.name, command.run, help=command.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in self._commands():
            if (score := matcher.match(command.name)) > 0:
                yield Hit(score, matcher.highlight(command.name), command.run, help=command.help)
