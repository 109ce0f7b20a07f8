"""Request and response models of the certificate API (interface fixed by issue 5)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from immunet.certificates._safe import MAX_QR_TEXT
from immunet.people.schemas import Out, Strict

QrText = Annotated[str, Field(min_length=1, max_length=MAX_QR_TEXT)]


class VerifyRequest(Strict):
    """One QR text; the chunks of a chunked SMART Health Card may be given as a list."""

    qr: QrText | Annotated[list[QrText], Field(min_length=1, max_length=20)]


JwsText = Annotated[str, Field(min_length=1, max_length=MAX_QR_TEXT)]


class SmartHealthCardFile(Strict):
    """A ``.smart-health-card`` file (SMART Health Cards, "Via File Download")."""

    verifiableCredential: Annotated[list[JwsText], Field(min_length=1, max_length=20)]


class IssueParameter(Strict):
    """One parameter of a ``$health-cards-issue`` response (FHIR ``Parameters.parameter``)."""

    name: Annotated[str, Field(min_length=1, max_length=64)]
    valueString: JwsText | None = None
    valueInteger: int | None = None
    valueUri: Annotated[str, Field(max_length=2048)] | None = None
    # resourceLink parts (vcIndex, bundledResource, hostedResource): not read by the verifier
    part: Annotated[list[dict[str, Any]], Field(max_length=20)] | None = None


class HealthCardsIssueResponse(Strict):
    """A FHIR ``$health-cards-issue`` response: ``Parameters`` with ``verifiableCredential``."""

    resourceType: Literal["Parameters"]
    id: Annotated[str, Field(max_length=64)] | None = None
    meta: dict[str, Any] | None = None
    parameter: Annotated[list[IssueParameter], Field(min_length=1, max_length=40)]


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
