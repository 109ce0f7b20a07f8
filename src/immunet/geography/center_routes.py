"""Staff centre routes: create, edit, list and bulk-import centres within the jurisdiction."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import ValidationError

from immunet.context import AppContext
from immunet.errors import ApiError, BadRequest
from immunet.geography import centers_service as service
from immunet.geography.center_schemas import (
    MAX_IMPORT_CSV_CHARS,
    MAX_PAGE,
    CenterCreate,
    CenterCreated,
    CenterImportRequest,
    CenterOut,
    CenterPatch,
    CentersPage,
    ImportReport,
    VaccineFeeOut,
)
from immunet.security.access import request_app_context
from immunet.staff.guards import STAFF
from immunet.staff.permissions import Permission
from immunet.staff.principal import StaffPrincipal

router = APIRouter(prefix="/api/staff/centers", tags=["staff: centres"])

Ctx = Annotated[AppContext, Depends(request_app_context)]
CenterId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class UnsupportedMediaType(ApiError):
    status_code = 415
    error_code = "GEN0415"
    message = 'Send the CSV as text/csv, or as JSON {"csv": "..."}.'


def _out(view: service.CenterView) -> CenterOut:
    c = view.center
    return CenterOut(
        center_id=c.center_id,
        name=c.name,
        address=c.address,
        state_id=c.state_id,
        district_id=c.district_id,
        block_name=c.block_name,
        pincode=c.pincode,
        lat=c.lat,
        long=c.long,
        from_=c.opens_at.strftime("%H:%M:%S"),
        to=c.closes_at.strftime("%H:%M:%S"),
        fee_type=c.fee_type,
        vaccine_fees=[VaccineFeeOut(vaccine=v, fee=f) for v, f in view.vaccine_fees],
        active=c.active,
    )


@router.post("", response_model=CenterCreated)
async def create_center(
    body: CenterCreate,
    principal: Annotated[StaffPrincipal, Depends(STAFF(Permission.CENTER_CREATE))],
    ctx: Ctx,
) -> CenterCreated:
    return CenterCreated(center_id=await service.create_center(ctx, body, actor=principal))


@router.get("", response_model=CentersPage)
async def list_centers(
    principal: Annotated[StaffPrincipal, Depends(STAFF(Permission.CENTER_READ))],
    ctx: Ctx,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 20,
    after: Annotated[int | None, Query(ge=0, le=2**31 - 1)] = None,
    district_id: Annotated[int | None, Query(ge=1, le=100_000)] = None,
    pincode: Annotated[str | None, Query(pattern=r"^[1-9][0-9]{5}$")] = None,
) -> CentersPage:
    views, next_after = await service.list_centers(
        ctx, actor=principal, limit=limit, after=after, district_id=district_id, pincode=pincode
    )
    return CentersPage(centers=[_out(v) for v in views], next_after=next_after)


@router.post(
    "/import",
    response_model=ImportReport,
    # The body is read by hand (two media types), so FastAPI cannot see it: say it here.
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "text/csv": {"schema": {"type": "string", "maxLength": MAX_IMPORT_CSV_CHARS}},
                "application/json": {"schema": CenterImportRequest.model_json_schema()},
            },
        }
    },
)
async def import_centers(
    request: Request,
    principal: Annotated[StaffPrincipal, Depends(STAFF(Permission.CENTER_CREATE))],
    ctx: Ctx,
) -> ImportReport:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    raw = await request.body()  # bounded by the request guard (max_body_bytes)
    if media == "text/csv":
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise BadRequest("The CSV must be UTF-8.") from exc
        if len(text) > MAX_IMPORT_CSV_CHARS:
            raise BadRequest(f"The CSV is longer than {MAX_IMPORT_CSV_CHARS} characters.")
    elif media == "application/json":
        try:
            text = CenterImportRequest.model_validate_json(raw).csv
        except ValidationError as exc:
            raise BadRequest('Send {"csv": "..."} with the CSV text.') from exc
    else:
        raise UnsupportedMediaType()
    return await service.import_centers(ctx, text, actor=principal)


# `:int`: only digits are an id, so `PATCH /import` is a 405, not a bad id.
@router.get("/{center_id:int}", response_model=CenterOut)
async def get_center(
    center_id: CenterId,
    principal: Annotated[StaffPrincipal, Depends(STAFF(Permission.CENTER_READ))],
    ctx: Ctx,
) -> CenterOut:
    return _out(await service.get_center(ctx, center_id, actor=principal))


@router.patch("/{center_id:int}", response_model=CenterOut)
async def update_center(
    center_id: CenterId,
    body: CenterPatch,
    principal: Annotated[StaffPrincipal, Depends(STAFF(Permission.CENTER_UPDATE))],
    ctx: Ctx,
) -> CenterOut:
    await service.update_center(ctx, center_id, body, actor=principal)
    return _out(await service.get_center(ctx, center_id, actor=principal))
