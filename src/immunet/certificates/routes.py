"""Certificate routes: the citizen's own certificate (PDF, formats), public verification and
the published trust list (JWKS, SMART revocation lists, immunet's full trust list)."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import ValidationError

from immunet.certificates import service
from immunet.certificates._safe import MAX_QR_TEXT
from immunet.certificates.inputs import IMAGE_FORMATS, MAX_DOCUMENT, MAX_IMAGE_BYTES
from immunet.certificates.schemas import (
    FormatsResponse,
    HealthCardsIssueResponse,
    SmartHealthCardFile,
    VerifyRequest,
    VerifyResponse,
)
from immunet.context import AppContext
from immunet.errors import ApiError, BadRequest, PayloadTooLarge
from immunet.security.access import (
    CITIZEN,
    PUBLIC,
    CitizenPrincipal,
    PublicCaller,
    request_app_context,
)
from immunet.staff.guards import STAFF
from immunet.staff.permissions import Permission
from immunet.staff.principal import StaffPrincipal

router = APIRouter(tags=["certificates"])

Ctx = Annotated[AppContext, Depends(request_app_context)]
Citizen = Annotated[CitizenPrincipal, Depends(CITIZEN)]
Public = Annotated[PublicCaller, Depends(PUBLIC)]
RosterReader = Annotated[StaffPrincipal, Depends(STAFF(Permission.ROSTER_READ))]
ReferenceId = Annotated[str, Query(min_length=1, max_length=20)]
PUBLISHED_MAX_AGE = 300
# JSON adds a few bytes of framing (and escapes) around the QR text itself.
MAX_VERIFY_BODY = MAX_QR_TEXT + 4096
VERIFY_PATH = "/api/v2/certificates/verify"
# The request guard lets this path (only) carry an image up to MAX_IMAGE_BYTES (app.py).
VERIFY_UPLOAD_LIMIT = MAX_IMAGE_BYTES
IMAGE_TYPES = {f"image/{f.lower()}" for f in IMAGE_FORMATS}
SHC_FILE_TYPE = "application/smart-health-card"
VC_TYPES = ("application/ld+json", "application/vc+ld+json")  # a W3C credential (DIVOC's JSON)


class UnsupportedMediaType(ApiError):
    status_code = 415
    error_code = "GEN0415"
    message = (
        'Send the QR text as application/json {"qr": ...} or text/plain (QR text or JWS), a '
        ".smart-health-card file (application/smart-health-card or JSON), a $health-cards-issue "
        "response (application/fhir+json) or an image (image/png, image/jpeg, image/webp)."
    )


@router.get(
    "/api/v2/registration/certificate/public/download",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
async def download_certificate(
    principal: Citizen, ctx: Ctx, beneficiary_reference_id: ReferenceId
) -> Response:
    pdf = await service.certificate_pdf(ctx, beneficiary_reference_id, actor=principal)
    return Response(
        content=pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": 'attachment; filename="vaccination-certificate.pdf"',
            "Cache-Control": "no-store",
        },
    )


@router.get(
    "/api/staff/certificates/download",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
async def staff_download_certificate(
    principal: RosterReader,
    ctx: Ctx,
    beneficiary_reference_id: ReferenceId,
    channel: Annotated[
        Literal["roster", "secret-code", "otp-verified", "break-glass"],
        Query(description="How the person came to this staff member (see vaccination.access)"),
    ] = "roster",
) -> Response:
    pdf = await service.staff_certificate_pdf(
        ctx, beneficiary_reference_id, actor=principal, channel=channel
    )
    return Response(
        content=pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": 'attachment; filename="vaccination-certificate.pdf"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/api/v2/registration/certificate/public/formats", response_model=FormatsResponse)
async def certificate_formats(
    principal: Citizen, ctx: Ctx, beneficiary_reference_id: ReferenceId, response: Response
) -> FormatsResponse:
    formats = await service.certificate_formats(ctx, beneficiary_reference_id, actor=principal)
    response.headers["Cache-Control"] = "no-store"
    return FormatsResponse.model_validate(formats)


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """A model's JSON schema with its ``$defs`` written in place (the body is not a component)."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return walk(dict(defs[ref.removeprefix("#/$defs/")]))
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    result: dict[str, Any] = walk(schema)
    return result


_SHC_FILE_SCHEMA = _inline(SmartHealthCardFile.model_json_schema())
_ISSUE_SCHEMA = _inline(HealthCardsIssueResponse.model_json_schema())
_IMAGE = {"schema": {"type": "string", "format": "binary", "maxLength": MAX_IMAGE_BYTES}}
_VERIFY_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        VerifyRequest.model_json_schema(),
                        _SHC_FILE_SCHEMA,
                        _ISSUE_SCHEMA,
                    ]
                }
            },
            SHC_FILE_TYPE: {"schema": _SHC_FILE_SCHEMA},
            "application/fhir+json": {"schema": _ISSUE_SCHEMA},
            **{media: {"schema": {"type": "object"}} for media in VC_TYPES},
            "text/plain": {"schema": {"type": "string", "maxLength": MAX_QR_TEXT}},
            **{media: _IMAGE for media in sorted(IMAGE_TYPES)},
        },
    }
}


def _verify_input(media: str, body: bytes) -> str | bytes | list[str] | dict[str, Any]:
    """The one thing to verify, from a body already bounded in size; strict JSON models."""
    if media in IMAGE_TYPES:
        return body
    if len(body) > (MAX_DOCUMENT if media != "text/plain" else MAX_VERIFY_BODY):
        raise PayloadTooLarge()
    if media == "text/plain":
        if not body.strip():
            raise BadRequest("The QR text is empty.")
        return body
    if media in ("application/json", SHC_FILE_TYPE, "application/fhir+json") or media in VC_TYPES:
        try:
            doc = json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise BadRequest("The body is not JSON.") from exc
        if not isinstance(doc, dict):
            raise BadRequest("The body is not a JSON object.")
        if media in VC_TYPES or ("@context" in doc and "proof" in doc):
            return dict(doc)  # a W3C credential: bounded by vc.check_shape before any work
        try:
            if media == "application/fhir+json" or "resourceType" in doc:
                HealthCardsIssueResponse.model_validate(doc)
                return dict(doc)
            if media == SHC_FILE_TYPE or "verifiableCredential" in doc:
                SmartHealthCardFile.model_validate(doc)
                return dict(doc)
            return VerifyRequest.model_validate(doc).qr
        except ValidationError as exc:
            fields = sorted({str(e["loc"][0]) for e in exc.errors() if e["loc"]})
            raise BadRequest(f"Invalid or unexpected fields: {', '.join(fields)[:200]}") from exc
    raise UnsupportedMediaType()


@router.post(VERIFY_PATH, response_model=VerifyResponse, openapi_extra=_VERIFY_BODY)
async def verify_certificate(request: Request, _caller: Public, ctx: Ctx) -> VerifyResponse:
    body = await request.body()
    if len(body) > VERIFY_UPLOAD_LIMIT:
        raise PayloadTooLarge()
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    result = await service.verify(ctx, _verify_input(media, body))
    return VerifyResponse.model_validate(result.to_dict())


def _published(request: Request, document: dict[str, Any]) -> Response:
    """A cacheable JSON document with a strong ETag; 304 when the client already has it."""
    body = json.dumps(document, sort_keys=True, separators=(",", ":")).encode("utf-8")
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": f"public, max-age={PUBLISHED_MAX_AGE}"}
    wanted = request.headers.get("if-none-match", "")
    tags = {t.strip().removeprefix("W/") for t in wanted.split(",") if t.strip()}
    if etag in tags or "*" in tags:
        return Response(status_code=304, headers=headers)
    return Response(content=body, media_type="application/json", headers=headers)


@router.get("/api/v2/certificates/trust-list", response_class=Response)
async def trust_list(request: Request, _caller: Public, ctx: Ctx) -> Response:
    return _published(request, await service.published_trust_list(ctx))


@router.get("/.well-known/jwks.json", response_class=Response)
async def issuer_jwks(request: Request, _caller: Public, ctx: Ctx) -> Response:
    return _published(request, await service.jwks(ctx))


@router.get("/.well-known/crl/{kid}.json", response_class=Response)
async def issuer_crl(
    request: Request,
    _caller: Public,
    ctx: Ctx,
    kid: Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")],
) -> Response:
    return _published(request, await service.revocation_list(ctx, kid))
