"""Registration, signal and operator replies (+CREG/+CEREG/+CGREG, +CSQ, +COPS) into facts."""

from __future__ import annotations

from dataclasses import dataclass, field

REG_TEXT = {
    0: "not registered",
    1: "home",
    2: "searching",
    3: "denied",
    4: "unknown",
    5: "roaming",
    6: "home (SMS only)",
    7: "roaming (SMS only)",
    8: "emergency only",
    9: "home (CSFB not preferred)",
    10: "roaming (CSFB not preferred)",
}
_REGISTERED = frozenset({1, 5, 9, 10})


@dataclass(slots=True)
class Registration:
    """Latest status per domain (CREG circuit, CGREG packet, CEREG LTE). Under VoLTE-only
    service what +CREG shows is vendor-dependent, so registered is the OR of all three
    (research/modems.md 2.9)."""

    stats: dict[str, int] = field(default_factory=dict)

    def update(self, kind: str, value: str, *, solicited: bool) -> None:
        fields = [f.strip() for f in value.split(",")]
        # Read form is "<n>,<stat>[,...]"; the URC omits <n>. Huawei's unquoted "+CREG: 1, E006B"
        # URC has a hex second field, so only an all-digit second field means the read form.
        if solicited and len(fields) >= 2 and fields[1].isdigit():
            stat_text = fields[1]
        else:
            stat_text = fields[0]
        if stat_text.isdigit():
            self.stats[kind.upper()] = int(stat_text)

    @property
    def registered(self) -> bool:
        return any(s in _REGISTERED for s in self.stats.values())

    def describe(self) -> str:
        if not self.stats:
            return "unknown"
        best = next((s for s in self.stats.values() if s in _REGISTERED), None)
        stat = best if best is not None else max(self.stats.values())
        return REG_TEXT.get(stat, f"stat {stat}")


def parse_csq(value: str) -> int | None:
    """``19,99`` -> -75 dBm (27.007: -113 + 2 * rssi; 99 unknown). ``+CSQ:4,0`` parses too."""
    rssi = value.split(",")[0].strip()
    if not rssi.isdigit() or int(rssi) == 99 or int(rssi) > 31:
        return None
    return -113 + 2 * int(rssi)


def parse_cops(value: str) -> str | None:
    """``0,0,"Operator",7`` -> ``Operator``; ``0`` (no operator) -> None."""
    fields = value.split(",")
    if len(fields) < 3:
        return None
    return fields[2].strip().strip('"') or None


def parse_cfun(value: str) -> int | None:
    """``1`` -> 1 (27.007 +CFUN: <fun>). None when the answer is not a state: the ZTE
    K3565-Z answers ``AT+CFUN?`` with the test form's ranges, ``(0-1,4-7),(0-1)``
    (research/modems.md 3.10), which says nothing of the radio."""
    fun = value.split(",")[0].strip()
    return int(fun) if fun.isdigit() else None
