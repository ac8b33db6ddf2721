"""Type stub of the C row check (appliance/_rowfast.c); built by setup.py."""

from collections.abc import Callable
from typing import Any

class Checker:
    def __init__(
        self,
        *,
        phone_slots: list[int],
        phone_cells: list[int],
        bp_cells: list[int],
        max_cells: int,
        cc: str,
        usual_first: str,
        plus_first: str,
        home_np_safe: str,
        cc_choice: Callable[[str, str], bool] | None,
        number_type: Callable[[str], int],
        unknown_kind: int,
        geo_kinds: int,
        country_zone: str | None,
        zone_table: dict[str, str | None],
        zone_steps: tuple[tuple[int, frozenset[str]], ...],
        zone_of: dict[str, int],
        id_for: Callable[[str], int],
        slow: Callable[[int, list[str]], Any],
        key_of: Callable[[bytes], int],
        known_keys: bytes | None = None,
    ) -> None: ...
    def add(self, line: int, cells: list[str]) -> Any: ...
    def scan(
        self, data: bytes, pos: int, line: int, limit: int, rejects: list[Any], /
    ) -> tuple[int, int, int, int, int]: ...
    def take(self) -> bytes: ...
