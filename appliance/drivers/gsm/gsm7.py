"""GSM 03.38 (23.038) default alphabet: text <-> septets, and septet packing into octets."""

from __future__ import annotations

ESCAPE = 0x1B

# 23.038 6.2.1, index = septet value; 0x1B is the escape to the extension table.
BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
assert len(BASIC) == 128

# 23.038 6.2.1.1 default extension table (each costs two septets).
EXTENSION = {
    0x0A: "\f",
    0x14: "^",
    0x28: "{",
    0x29: "}",
    0x2F: "\\",
    0x3C: "[",
    0x3D: "~",
    0x3E: "]",
    0x40: "|",
    0x65: "€",
}

_ENCODE: dict[str, tuple[int, ...]] = {ch: (i,) for i, ch in enumerate(BASIC) if i != ESCAPE}
_ENCODE.update({ch: (ESCAPE, code) for code, ch in EXTENSION.items()})


class NotGsm7(ValueError):
    """The text has a character outside the GSM 7-bit default alphabet and its extension."""


def is_gsm7(text: str) -> bool:
    return all(ch in _ENCODE for ch in text)


def char_septets(ch: str) -> tuple[int, ...]:
    """The septets of one character (two for extension characters)."""
    try:
        return _ENCODE[ch]
    except KeyError:
        raise NotGsm7(f"{ch!r} is not in the GSM 7-bit alphabet") from None


def encode(text: str) -> list[int]:
    return [s for ch in text for s in char_septets(ch)]


def decode(septets: list[int] | bytes) -> str:
    """Septets to text; an unknown escape falls back to the basic character (23.038 6.2.1.1)."""
    out: list[str] = []
    escaped = False
    for value in septets:
        value &= 0x7F
        if escaped:
            out.append(EXTENSION.get(value, BASIC[value] if value != ESCAPE else " "))
            escaped = False
        elif value == ESCAPE:
            escaped = True
        else:
            out.append(BASIC[value])
    return "".join(out)


def pack(septets: list[int], fill_bits: int = 0) -> bytes:
    """Pack septets LSB-first into octets, after ``fill_bits`` zero bits (UDH alignment)."""
    acc = 0
    nbits = fill_bits
    out = bytearray()
    for value in septets:
        acc |= (value & 0x7F) << nbits
        nbits += 7
        while nbits >= 8:
            out.append(acc & 0xFF)
            acc >>= 8
            nbits -= 8
    if nbits > 0:
        out.append(acc & 0xFF)
    return bytes(out)


def unpack(data: bytes, count: int, fill_bits: int = 0) -> list[int]:
    """Unpack ``count`` septets (fewer if the data is short: broken PDUs exist in the wild)."""
    bits = int.from_bytes(data, "little") >> fill_bits
    available = max(0, (len(data) * 8 - fill_bits) // 7)
    return [(bits >> (7 * i)) & 0x7F for i in range(min(count, available))]
