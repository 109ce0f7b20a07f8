"""Hard limits for decoding untrusted input: no zip bombs, no deep CBOR, no giant text."""

from __future__ import annotations

import base64
import binascii
import zlib
from typing import Any

import cbor2

MAX_QR_TEXT = 16 * 1024  # the largest QR code holds 7,089 digits; chunked SHC up to a few of them
MAX_INFLATED = 256 * 1024  # a certificate payload is a few KiB
MAX_CBOR_DEPTH = 16


class DecodeError(ValueError):
    """Untrusted input failed to decode within the limits."""


def inflate(data: bytes, *, wbits: int = zlib.MAX_WBITS, limit: int = MAX_INFLATED) -> bytes:
    """Decompress zlib (``wbits=15``) or raw DEFLATE (``wbits=-15``) with a hard output cap.

    The stream must be complete; trailing garbage and truncation are errors.
    """
    d = zlib.decompressobj(wbits)
    try:
        out = d.decompress(data, limit + 1)
    except zlib.error as exc:
        raise DecodeError(f"bad compressed data: {exc}") from None
    if len(out) > limit or d.unconsumed_tail:
        raise DecodeError("decompressed data exceeds the size limit")
    if not d.eof:
        raise DecodeError("compressed data is truncated")
    if d.unused_data:
        raise DecodeError("trailing data after the compressed stream")
    return out


def cbor_loads(data: bytes) -> Any:
    """Decode CBOR with a depth limit; every failure becomes :class:`DecodeError`."""
    if len(data) > MAX_INFLATED:
        raise DecodeError("CBOR data too large")
    try:
        return cbor2.loads(data, max_depth=MAX_CBOR_DEPTH)
    except Exception as exc:  # cbor2 raises many types (CBORDecodeError, ValueError, Overflow…)
        raise DecodeError(f"bad CBOR: {type(exc).__name__}") from None


_B64URL_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


_URL_TO_STANDARD = bytes.maketrans(b"-_", b"+/")


def b64url_decode(text: str) -> bytes:
    """Strict unpadded base64url (JWS); padding or alien characters are errors."""
    if not text.isascii():
        raise DecodeError("bad base64url (alphabet, padding or length)")
    data = text.encode("ascii")
    if data.translate(None, _B64URL_ALPHABET) or len(data) % 4 == 1:
        raise DecodeError("bad base64url (alphabet, padding or length)")
    # what base64.urlsafe_b64decode does, on bytes already checked: no second str → bytes
    try:
        return binascii.a2b_base64(data.translate(_URL_TO_STANDARD) + b"=" * (-len(data) % 4))
    except (binascii.Error, ValueError):
        raise DecodeError("bad base64url") from None


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
