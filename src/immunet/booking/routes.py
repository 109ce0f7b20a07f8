"""Citizen booking routes (Co-WIN API v2 paths and bodies)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Response

from immunet.booking import hooks as _hooks  # noqa: F401 - registers with people and sessions
from immunet.booking import service
from immunet.booking.schemas import (
    CancelRequest,
    RescheduleRequest,
    ScheduleRequest,
    ScheduleResponse,
)
from immunet.context import AppContext
from immunet.formats import IDEMPOTENCY_KEY_SCHEMA
from immunet.security.access import CITIZEN, CitizenPrincipal, request_app_context

router = APIRouter(prefix="/api/v2/appointment", tags=["booking"])

Ctx = Annotated[AppContext, Depends(request_app_context)]
Citizen = Annotated[CitizenPrincipal, Depends(CITIZEN)]
# Checked by security/idempotency.py (its own IDEMP0400); documented as it checks.
IdempotencyKey = Annotated[
    str | None, Header(alias="Idempotency-Key", json_schema_extra=IDEMPOTENCY_KEY_SCHEMA)
]


@router.post(
    "/schedule",
    response_model=ScheduleResponse,
    responses={409: {"description": "APPOIN0040: the session is fully booked"}},
)
async def schedule(
    body: ScheduleRequest, principal: Citizen, ctx: Ctx, idempotency_key: IdempotencyKey = None
) -> Response:
    result = await service.schedule(ctx, body, actor=principal, idempotency_key=idempotency_key)
    return result.to_response()


@router.post("/reschedule", status_code=204)
async def reschedule(
    body: RescheduleRequest, principal: Citizen, ctx: Ctx, idempotency_key: IdempotencyKey = None
) -> Response:
    result = await service.reschedule(ctx, body, actor=principal, idempotency_key=idempotency_key)
    return result.to_response()


@router.post("/cancel", status_code=204)
async def cancel(
    body: CancelRequest, principal: Citizen, ctx: Ctx, idempotency_key: IdempotencyKey = None
) -> Response:
    result = await service.cancel(ctx, body, actor=principal, idempotency_key=idempotency_key)
    return result.to_response()


@router.get(
    "/appointmentslip/download",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
async def appointment_slip(
    principal: Citizen,
    ctx: Ctx,
    appointment_id: Annotated[str, Query(min_length=1, max_length=36)],
) -> Response:
    pdf = await service.appointment_slip(ctx, appointment_id, actor=principal)
    return Response(
        content=pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": 'attachment; filename="appointment-slip.pdf"',
            "Cache-Control": "no-store",
        },
    )
