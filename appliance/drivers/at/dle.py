"""DLE shielding (V.253 §4.5, IS-101): events a voice modem sends as ``<DLE><code>`` pairs.

In voice mode a modem reports call progress and DTMF between (and inside) its text lines as two
bytes, DLE (0x10) and a code: ``<DLE>b`` busy, ``<DLE>r`` ringback, ``<DLE>5`` the digit 5...
``<DLE><DLE>`` is one data byte 0x10. The pair can be split across reads; the decoder keeps a
lone trailing DLE until the next chunk. Bytes knows nothing of what the codes mean (STYLE: three
layers) — that is the voice driver's table.
"""

from __future__ import annotations

DLE = 0x10
ETX = 0x03
CAN = 0x18
DC4 = 0x14

#: Host -> modem: end a playback stream; abort it.
END_OF_STREAM = bytes([DLE, ETX])
ABORT_STREAM = bytes([DLE, CAN, DLE, ETX])


def shield(data: bytes) -> bytes:
    """Audio data to send: every data DLE doubled, so it cannot be read as a command."""
    return data.replace(bytes([DLE]), bytes([DLE, DLE]))


class DleDecoder:
    """Split modem output into plain bytes (for the line framer) and DLE event codes, in order."""

    def __init__(self) -> None:
        self._held = False  # the last chunk ended with a DLE whose code has not arrived

    def feed(self, data: bytes) -> list[bytes | str]:
        """The chunk as plain byte runs and event codes (one-character strings), in order."""
        if DLE not in data and not self._held:
            return [data] if data else []
        parts: list[bytes | str] = []
        plain = bytearray()
        it = iter(data)
        code: int | None = None
        if self._held:
            self._held = False
            code = next(it, None)
            if code is None:
                self._held = True
                return []
        while True:
            if code is not None:
                if code == DLE:
                    plain.append(DLE)  # a shielded data byte
                else:
                    if plain:
                        parts.append(bytes(plain))
                        plain.clear()
                    parts.append(chr(code))
                code = None
            byte = next(it, None)
            if byte is None:
                break
            if byte != DLE:
                plain.append(byte)
                continue
            code = next(it, None)
            if code is None:
                self._held = True
                break
        if plain:
            parts.append(bytes(plain))
        return parts

    def reset(self) -> None:
        self._held = False
