"""Base45 (RFC 9285): the QR-alphanumeric encoding the EU DCC uses. Encoding, not crypto."""

from __future__ import annotations

import struct
from functools import cache

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_INDEX = {c: i for i, c in enumerate(ALPHABET)}
# byte → Base45 value, 0xFF for bytes outside the alphabet (one C-level translate per text)
_VALUES = bytes(ALPHABET.find(chr(b)) if chr(b) in ALPHABET else 0xFF for b in range(256))


class Base45Error(ValueError):
    """The text is not valid Base45."""


@cache
def _word_table() -> list[str]:
    """The three Base45 characters of every 16-bit word (built once, ~3 MB): encoding is then
    one table look-up per two bytes instead of two ``divmod`` and a list append in Python.
    A list, not a tuple: ``map(list.__getitem__, …)`` takes a faster call path than a
    tuple's (about 40 % less for a certificate). Private and never written to."""
    out = []
    for n in range(65536):
        e, rest = divmod(n, 45 * 45)
        d, c = divmod(rest, 45)
        out.append(ALPHABET[c] + ALPHABET[d] + ALPHABET[e])
    return out


def b45encode(data: bytes) -> str:
    full = len(data) - len(data) % 2
    words = struct.unpack(f">{full // 2}H", data[:full])
    text = "".join(map(_word_table().__getitem__, words))
    if len(data) % 2:
        d, c = divmod(data[-1], 45)
        text += ALPHABET[c] + ALPHABET[d]
    return text


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
    count = full // 3
    # All triplets at once with big-integer arithmetic instead of a Python loop: the c, d and e
    # values go into their own 24-bit slots of three integers, so c + 45·d + 45²·e (at most
    # 91,124 < 2**24) is computed slot by slot without carries between slots. A slot whose top
    # byte is not zero holds a value above 0xFFFF; the low two bytes are the decoded bytes.
    slots = []
    for offset in range(3):
        buf = bytearray(full)
        buf[2::3] = values[offset:full:3]
        slots.append(int.from_bytes(buf, "big"))
    total = (slots[0] + 45 * slots[1] + 2025 * slots[2]).to_bytes(full, "big")
    if total[0::3].count(0) != count:
        raise Base45Error("Base45 triplet out of range")
    decoded = bytearray(2 * count)
    decoded[0::2] = total[1::3]
    decoded[1::2] = total[2::3]
    out = bytes(decoded)
    if full != len(values):
        n = values[full] + values[full + 1] * 45
        if n > 0xFF:
            raise Base45Error("Base45 pair out of range")
        out += bytes((n,))
    return out
