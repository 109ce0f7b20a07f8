"""``/partner/v1``: what a partner app does with a DPoP-bound token; and the citizen's
``/api/v2/me/consents`` (see and withdraw grants)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Response
from fastapi.responses import JSONResponse

from immunet.booking.schemas import CancelRequest, RescheduleRequest, ScheduleRequest
from immunet.context import AppContext
from immunet.formats import IDEMPOTENCY_KEY_SCHEMA
from immunet.partners import appointments, resources
from immunet.partners.guards import PARTNER_TOKEN, PartnerCall
from immunet.partners.schemas import ConsentOut, ConsentsResponse
from immunet.partners.scopes import Scope
from immunet.security.access import CITIZEN, CitizenPrincipal, request_app_context

router = APIRouter(tags=["partners"])

Ctx = Annotated[AppContext, Depends(request_app_context)]
ImmunizationReader = Annotated[PartnerCall, Depends(PARTNER_TOKEN[Scope.IMMUNIZATION_READ])]
CertificateReader = Annotated[PartnerCall, Depends(PARTNER_TOKEN[Scope.CERTIFICATE_READ])]
AppointmentWriter = Annotated[PartnerCall, Depends(PARTNER_TOKEN[Scope.APPOINTMENT_WRITE])]
Citizen = Annotated[CitizenPrincipal, Depends(CITIZEN)]
IdempotencyKey = Annotated[
    str | None, Header(alias="Idempotency-Key", json_schema_extra=IDEMPOTENCY_KEY_SCHEMA)
]
ConsentId = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[0-9a-f]+$")]

NO_STORE = {"Cache-Control": "no-store"}


class FhirJSONResponse(JSONResponse):
    """FHIR's own media type (R4 §3.1.0.1.8), so the document names what is sent."""

    media_type = "application/fhir+json"


BUNDLE_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A FHIR R4 searchset Bundle of the consented person's immunizations.",
        "content": {
            "application/fhir+json": {
                "schema": {
                    "type": "object",
                    "required": ["resourceType", "type", "entry"],
                    "properties": {
                        "resourceType": {"const": "Bundle"},
                        "type": {"const": "searchset"},
                        "total": {"type": "integer", "minimum": 0},
                        "entry": {"type": "array", "items": {"type": "object"}},
                    },
                }
            }
        },
    }
}


@router.get("/partner/v1/Immunization", response_class=FhirJSONResponse, responses=BUNDLE_DOC)
async def immunizations(call: ImmunizationReader, ctx: Ctx) -> FhirJSONResponse:
    bundle: dict[str, Any] = await resources.immunization_bundle(ctx, call)
    return FhirJSONResponse(bundle, headers=NO_STORE)


@router.get("/partner/v1/certificate")
async def certificate(call: CertificateReader, ctx: Ctx) -> JSONResponse:
    formats: dict[str, Any] = await resources.certificate_formats(ctx, call)
    return JSONResponse(formats, headers=NO_STORE)


@router.get(
    "/partner/v1/certificate/pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
async def certificate_pdf(call: CertificateReader, ctx: Ctx) -> Response:
    pdf = await resources.certificate_pdf(ctx, call)
    return Response(
        content=pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": 'attachment; filename="vaccination-certificate.pdf"',
            **NO_STORE,
        },
    )


@router.post("/partner/v1/appointment/schedule")
async def schedule(
    body: ScheduleRequest, call: AppointmentWriter, ctx: Ctx, idempotency_key: IdempotencyKey = None
) -> Response:
    result = await appointments.schedule(ctx, call, body, idempotency_key)
    return result.to_response()


@router.post("/partner/v1/appointment/reschedule", status_code=204)
async def reschedule(
    body: RescheduleRequest,
    call: AppointmentWriter,
    ctx: Ctx,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    result = await appointments.reschedule(ctx, call, body, idempotency_key)
    return result.to_response()


@router.post("/partner/v1/appointment/cancel", status_code=204)
async def cancel(
    body: CancelRequest, call: AppointmentWriter, ctx: Ctx, idempotency_key: IdempotencyKey = None
) -> Response:
    result = await appointments.cancel(ctx, call, body, idempotency_key)
    return result.to_response()


@router.get("/api/v2/me/consents", response_model=ConsentsResponse)
async def consents(principal: Citizen, ctx: Ctx, response: Response) -> ConsentsResponse:
    views = await resources.list_consents(ctx, actor=principal)
    response.headers.update(NO_STORE)
    return ConsentsResponse(
        consents=[
            ConsentOut(
                consent_id=v.consent_id,
                partner=v.partner,
                purpose=v.purpose,
                beneficiary_reference_id=v.beneficiary_reference_id,
                scopes=v.scopes,
                created_at=v.created_at,
                expires_at=v.expires_at,
                status=v.status,
            )
            for v in views
        ]
    )


@router.post("/api/v2/me/consents/{consent_id}/revoke", status_code=204)
async def revoke_consent(consent_id: ConsentId, principal: Citizen, ctx: Ctx) -> Response:
    await resources.revoke_consent(ctx, consent_id, actor=principal)
    return Response(status_code=204)
