"""Base45 (RFC 9285): the QR-alphanumeric encoding the EU DCC uses. Encoding, not crypto."""

from __future__ import annotations

import struct

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_INDEX = {c: i for i, c in enumerate(ALPHABET)}
# byte → Base45 value, 0xFF for bytes outside the alphabet (one C-level translate per text)
_VALUES = bytes(ALPHABET.find(chr(b)) if chr(b) in ALPHABET else 0xFF for b in range(256))


class Base45Error(ValueError):
    """The text is not valid Base45."""


def b45encode(data: bytes) -> str:
    out: list[str] = []
    for i in range(0, len(data) - 1, 2):
        n = data[i] * 256 + data[i + 1]
        e, n = divmod(n, 45 * 45)
        d, c = divmod(n, 45)
        out += (ALPHABET[c], ALPHABET[d], ALPHABET[e])
    if len(data) % 2:
        d, c = divmod(data[-1], 45)
        out += (ALPHABET[c], ALPHABET[d])
    return "".join(out)


def b45decode(text: str) -> bytes:
    if len(text) % 3 == 1:
        raise Base45Error("Base45 length must not be 1 modulo 3")
    if not text.isascii():
        bad = next(c for c in text if c not in _INDEX)
        raise Base45Error(f"invalid Base45 character {bad!r}")
    values = text.encode("ascii").translate(_VALUES)
    if b"\xff" in values:
        bad = text[values.index(b"\xff")]
        raise Base45Error(f"invalid Base45 character {bad!r}")
    full = len(values) - len(values) % 3
    # triplets c + 45·d + 45²·e, computed over strided slices rather than index by index
    words = [
        c + 45 * d + 2025 * e
        for c, d, e in zip(values[0:full:3], values[1:full:3], values[2:full:3], strict=True)
    ]
    if words and max(words) > 0xFFFF:
        raise Base45Error("Base45 triplet out of range")
    out = struct.pack(f">{len(words)}H", *words)
    if full != len(values):
        n = values[full] + values[full + 1] * 45
        if n > 0xFF:
            raise Base45Error("Base45 pair out of range")
        out += bytes((n,))
    return out
