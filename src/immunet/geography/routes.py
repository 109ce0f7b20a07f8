"""Public location metadata: ``/api/v2/admin/location/states`` and ``.../districts/{id}``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from immunet.context import AppContext
from immunet.errors import NotFound
from immunet.geography import service
from immunet.geography.schemas import DistrictOut, DistrictsResponse, StateOut, StatesResponse
from immunet.security.access import PUBLIC, PublicCaller, request_app_context

router = APIRouter(prefix="/api/v2/admin/location", tags=["metadata"])

Ctx = Annotated[AppContext, Depends(request_app_context)]
Public = Annotated[PublicCaller, Depends(PUBLIC)]

_CACHE = "public, max-age=3600"


@router.get("/states", response_model=StatesResponse)
async def states(_caller: Public, ctx: Ctx, response: Response) -> StatesResponse:
    async with ctx.db.reader() as session:
        rows = await service.list_states(session)
    response.headers["Cache-Control"] = _CACHE
    return StatesResponse(
        states=[StateOut(state_id=r.state_id, state_name=r.state_name) for r in rows]
    )


@router.get("/districts/{state_id}", response_model=DistrictsResponse)
async def districts(
    state_id: Annotated[int, Path(ge=1, le=1000)], _caller: Public, ctx: Ctx, response: Response
) -> DistrictsResponse:
    async with ctx.db.reader() as session:
        rows = await service.list_districts(session, state_id)
    if not rows:
        raise NotFound("No such state.")
    response.headers["Cache-Control"] = _CACHE
    return DistrictsResponse(
        districts=[
            DistrictOut(
                state_id=r.state_id, district_id=r.district_id, district_name=r.district_name
            )
            for r in rows
        ]
    )
