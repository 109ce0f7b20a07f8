"""What people hold, turned into what the verifier reads (decision 0012).

A certificate reaches a verifier as one of:

* QR text: ``HC1:…`` (EU DCC), ``shc:/…`` (one SMART Health Card QR, or its chunks one per line),
  a DIVOC/immunet VC QR (ZIP);
* a raw compact JWS (a SMART Health Card without its QR encoding);
* a ``.smart-health-card`` file: ``{"verifiableCredential": ["<JWS>", …]}``;
* a FHIR ``$health-cards-issue`` response: a ``Parameters`` resource whose ``verifiableCredential``
  parameters carry the JWS in ``valueString``;
* an image (PNG, JPEG, WebP) of one or more QR codes, decoded with zxing-cpp.

Everything is bounded before it is decoded: image bytes, pixel count and side, the number of
credentials in a document.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from typing import Any

from ._safe import DecodeError

MAX_IMAGE_BYTES = 4 * 1024 * 1024  # a phone photo of a QR code, JPEG-compressed
MAX_IMAGE_PIXELS = 24_000_000  # a 24-megapixel photo; decoding costs time in proportion
MAX_IMAGE_SIDE = 8192
MAX_DOCUMENT = 64 * 1024  # a .smart-health-card file or Parameters holding a few cards
MAX_CREDENTIALS = 20
IMAGE_FORMATS = ("PNG", "JPEG", "WEBP")
_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"RIFF")


def is_image(data: bytes) -> bool:
    return data.startswith(_MAGIC[:2]) or (data.startswith(b"RIFF") and data[8:12] == b"WEBP")


def decode_image(data: bytes) -> list[str | bytes]:
    """The contents of every QR code in the image, in reading order.

    Raw bytes are kept for a binary QR (DIVOC's ZIP); text otherwise. Pillow reads only the
    header before the size check, so an image that would inflate to gigapixels is refused
    before any pixel is decoded."""
    if len(data) > MAX_IMAGE_BYTES:
        raise DecodeError("image too large")
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data), formats=IMAGE_FORMATS) as img:
            width, height = img.size
            if width * height > MAX_IMAGE_PIXELS or max(width, height) > MAX_IMAGE_SIDE:
                raise DecodeError("image has too many pixels")
            gray = img.convert("L")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        if isinstance(exc, DecodeError):
            raise
        raise DecodeError("not a readable PNG, JPEG or WebP image") from None
    import zxingcpp

    found = zxingcpp.read_barcodes(
        gray, formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
    )
    out: list[str | bytes] = []
    for code in found[:MAX_CREDENTIALS]:
        raw = bytes(code.bytes)
        if raw.startswith(b"PK\x03\x04"):
            out.append(raw)
        else:
            try:
                out.append(raw.decode("utf-8"))
            except UnicodeDecodeError:
                out.append(code.text)
    if not out:
        raise DecodeError("no QR code found in the image")
    return out


def parse_document(text: str) -> Mapping[str, Any]:
    if len(text) > MAX_DOCUMENT:
        raise DecodeError("document too large")
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        raise DecodeError("not a JSON document") from None
    if not isinstance(doc, dict):
        raise DecodeError("not a JSON object")
    return doc


def jws_from_document(doc: Mapping[str, Any]) -> list[str]:
    """The JWS strings of a ``.smart-health-card`` file or a ``$health-cards-issue`` response."""
    if "verifiableCredential" in doc:
        found = doc["verifiableCredential"]
        if not isinstance(found, list):
            raise DecodeError("verifiableCredential must be a list of JWS strings")
    elif doc.get("resourceType") == "Parameters":
        params = doc.get("parameter", [])
        if not isinstance(params, list):
            raise DecodeError("Parameters.parameter must be a list")
        found = [
            p.get("valueString")
            for p in params
            if isinstance(p, dict) and p.get("name") == "verifiableCredential"
        ]
    else:
        raise DecodeError("not a SMART Health Card file or FHIR Parameters resource")
    if not found:
        raise DecodeError("the document holds no credential")
    if len(found) > MAX_CREDENTIALS:
        raise DecodeError("the document holds too many credentials")
    if not all(isinstance(j, str) and j for j in found):
        raise DecodeError("each verifiable credential must be a JWS string")
    return list(found)


def looks_like_jws(text: str) -> bool:
    """A compact JWS: three base64url parts, the header a JSON object (``eyJ``)."""
    return text.startswith("eyJ") and text.count(".") == 2
