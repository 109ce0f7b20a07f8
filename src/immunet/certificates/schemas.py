"""Request and response models of the certificate API (interface fixed by issue 5)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from immunet.certificates._safe import MAX_QR_TEXT
from immunet.people.schemas import Out, Strict

QrText = Annotated[str, Field(min_length=1, max_length=MAX_QR_TEXT)]


class VerifyRequest(Strict):
    """One QR text; the chunks of a chunked SMART Health Card may be given as a list."""

    qr: QrText | Annotated[list[QrText], Field(min_length=1, max_length=20)]


class VerifyResponse(Out):
    valid: bool
    format: str | None
    reason: str | None
    fields: dict[str, Any]


class VcFormat(Out):
    credential: dict[str, Any]
    qr: str


class DccFormat(Out):
    qr: str


class ShcFormat(Out):
    qr: list[str]
    jws: str


class FormatsResponse(Out):
    vc: VcFormat
    dcc: DccFormat
    shc: ShcFormat
    fhir: dict[str, Any]
