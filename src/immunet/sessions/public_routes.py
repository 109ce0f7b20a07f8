"""Co-WIN's public availability API: same paths, parameters and shapes; no login.

Answers carry ``Cache-Control`` and a strong ``ETag`` and honour ``If-None-Match`` (304);
the ``PUBLIC`` guard applies the per-address budget (429 with ``Retry-After``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from immunet.context import AppContext
from immunet.formats import (
    COWIN_DATE_PATTERN,
    DEGREES_PATTERN,
    ID_PATTERN,
    PINCODE_PATTERN,
    VACCINE_PATTERN,
    cowin_query,
)
from immunet.security.access import PUBLIC, PublicCaller, request_app_context
from immunet.sessions import availability
from immunet.sessions.availability import Body
from immunet.sessions.schemas import (
    CalendarByCenterResponse,
    CalendarResponse,
    FindResponse,
    NearbyResponse,
)

router = APIRouter(prefix="/api/v2/appointment", tags=["appointment availability"])

Ctx = Annotated[AppContext, Depends(request_app_context)]
Public = Annotated[PublicCaller, Depends(PUBLIC)]
# Optional to FastAPI so the availability service answers its own codes (APPOIN001x);
# documented as the service checks them (immunet/formats.py).
Pincode = Annotated[
    str | None, cowin_query(PINCODE_PATTERN, required=True, description="Six-digit PIN code.")
]
Day = Annotated[
    str | None, cowin_query(COWIN_DATE_PATTERN, required=True, description="DD-MM-YYYY.")
]
Vaccine = Annotated[
    str | None, cowin_query(VACCINE_PATTERN, required=False, description="A vaccine name.")
]
DistrictId = Annotated[
    str | None, cowin_query(ID_PATTERN, required=True, description="A district id.")
]
CenterId = Annotated[str | None, cowin_query(ID_PATTERN, required=True, description="A centre id.")]
Degrees = Annotated[
    str | None, cowin_query(DEGREES_PATTERN, required=True, description="Decimal degrees.")
]

_ERRORS: dict[int | str, dict[str, object]] = {
    400: {"description": 'Bad parameters: {"errorCode": "APPOIN001x", "error": "..."}'},
    429: {"description": "Too many requests from this address (see Retry-After)"},
}


def _respond(request: Request, ctx: AppContext, body: Body) -> Response:
    headers = {
        "Cache-Control": f"public, max-age={ctx.settings.public_cache_seconds}",
        "ETag": body.etag,
    }
    if body.matches(request.headers.get("if-none-match")):
        return Response(status_code=304, headers=headers)
    return Response(body.content, media_type="application/json", headers=headers)


@router.get("/sessions/public/findByPin", response_model=FindResponse, responses=_ERRORS)
async def find_by_pin(
    request: Request,
    _caller: Public,
    ctx: Ctx,
    pincode: Pincode = None,
    date: Day = None,
    vaccine: Vaccine = None,
) -> Response:
    query = availability.find_by_pin(pincode, date, vaccine)
    return _respond(request, ctx, await availability.answer(ctx, query))


@router.get("/sessions/public/findByDistrict", response_model=FindResponse, responses=_ERRORS)
async def find_by_district(
    request: Request,
    _caller: Public,
    ctx: Ctx,
    district_id: DistrictId = None,
    date: Day = None,
    vaccine: Vaccine = None,
) -> Response:
    query = availability.find_by_district(district_id, date, vaccine)
    return _respond(request, ctx, await availability.answer(ctx, query))


@router.get("/sessions/public/calendarByPin", response_model=CalendarResponse, responses=_ERRORS)
async def calendar_by_pin(
    request: Request,
    _caller: Public,
    ctx: Ctx,
    pincode: Pincode = None,
    date: Day = None,
    vaccine: Vaccine = None,
) -> Response:
    query = availability.calendar_by_pin(pincode, date, vaccine)
    return _respond(request, ctx, await availability.answer(ctx, query))


@router.get(
    "/sessions/public/calendarByDistrict", response_model=CalendarResponse, responses=_ERRORS
)
async def calendar_by_district(
    request: Request,
    _caller: Public,
    ctx: Ctx,
    district_id: DistrictId = None,
    date: Day = None,
    vaccine: Vaccine = None,
) -> Response:
    query = availability.calendar_by_district(district_id, date, vaccine)
    return _respond(request, ctx, await availability.answer(ctx, query))


@router.get(
    "/sessions/public/calendarByCenter", response_model=CalendarByCenterResponse, responses=_ERRORS
)
async def calendar_by_center(
    request: Request,
    _caller: Public,
    ctx: Ctx,
    center_id: CenterId = None,
    date: Day = None,
    vaccine: Vaccine = None,
) -> Response:
    query = availability.calendar_by_center(center_id, date, vaccine)
    return _respond(request, ctx, await availability.answer(ctx, query))


@router.get("/centers/public/findByLatLong", response_model=NearbyResponse, responses=_ERRORS)
async def find_by_lat_long(
    request: Request, _caller: Public, ctx: Ctx, lat: Degrees = None, long: Degrees = None
) -> Response:
    query = availability.find_by_lat_long(lat, long)
    return _respond(request, ctx, await availability.answer(ctx, query))
