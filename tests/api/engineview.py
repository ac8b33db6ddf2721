"""What the API reads of a running engine for `/status` and `why` (appliance/engine/dialer.Engine
as the daemon hands it to the API): its line pool, calls in flight, status line, agents' reach and
its inbound side's snapshot (engine/inboundview.py) — here the snapshot a test gives, for the
queues only a running engine with callers on its lines would otherwise have."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from appliance.engine.inboundview import InboundSnapshot


@dataclass
class Inbound:
    snap: InboundSnapshot

    def snapshot(self) -> InboundSnapshot:
        return self.snap


@dataclass
class Pool:
    slots: list[Any] = field(default_factory=list)

    def in_service(self) -> dict[str, bool]:
        return {}


@dataclass
class EngineView:
    inbound: Inbound
    pool: Pool = field(default_factory=Pool)
    calls: dict[int, Any] = field(default_factory=dict)

    def status(self) -> str:
        return "0/0 lines up, 0 calls in flight"

    def agents_out_of_reach(self, campaign: Any) -> str | None:
        return None
