"""The partner registry for national admins: register, suspend, reinstate, rotate, list,
and the misuse alerts raised when the defences suspend a client."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from immunet.context import AppContext
from immunet.partners import misuse, service
from immunet.partners.schemas import (
    CreatePartnerClientRequest,
    CreatePartnerClientResponse,
    PartnerAlertOut,
    PartnerAlertsResponse,
    PartnerClientOut,
    PartnerClientsResponse,
    RotateKeyResponse,
    SuspendRequest,
)
from immunet.security.access import request_app_context
from immunet.staff.guards import STAFF
from immunet.staff.permissions import Permission
from immunet.staff.principal import StaffPrincipal

staff_router = APIRouter(prefix="/api/staff/partners", tags=["partners"])

Ctx = Annotated[AppContext, Depends(request_app_context)]
Manager = Annotated[StaffPrincipal, Depends(STAFF(Permission.PARTNER_MANAGE))]
Reader = Annotated[StaffPrincipal, Depends(STAFF(Permission.PARTNER_READ))]
ClientId = Annotated[str, Path(min_length=1, max_length=64)]
AlertId = Annotated[int, Path(ge=1, le=2**31 - 1)]

NO_STORE = {"Cache-Control": "no-store"}


@staff_router.post("", status_code=201, response_model=CreatePartnerClientResponse)
async def create_client(
    body: CreatePartnerClientRequest, principal: Manager, ctx: Ctx, response: Response
) -> CreatePartnerClientResponse:
    created = await service.add_partner_client(
        ctx,
        name=body.name,
        purpose=body.purpose,
        contact=body.contact,
        kind=body.kind,
        jwks=body.jwks,
        redirect_uris=body.redirect_uris,
        scopes=[s.value for s in body.scopes],
        allowed_cidrs=body.allowed_cidrs,
        reads_per_minute=body.reads_per_minute,
        reads_per_day=body.reads_per_day,
        actor=principal,
    )
    response.headers.update(NO_STORE)
    return CreatePartnerClientResponse(client_id=created.client_id, api_key=created.api_key)


@staff_router.get("", response_model=PartnerClientsResponse)
async def list_clients(
    principal: Reader,
    ctx: Ctx,
    response: Response,
    limit: Annotated[int, Query(ge=1, le=service.LIST_PAGE_MAX)] = service.LIST_PAGE_MAX,
    after: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
) -> PartnerClientsResponse:
    views, next_cursor = await service.list_clients(ctx, limit=limit, after=after)
    response.headers.update(NO_STORE)
    return PartnerClientsResponse(
        clients=[PartnerClientOut(**asdict(v)) for v in views], next=next_cursor
    )


@staff_router.post("/{client_id}/suspend", status_code=204)
async def suspend_client(
    client_id: ClientId, body: SuspendRequest, principal: Manager, ctx: Ctx
) -> Response:
    await service.suspend_client(ctx, client_id=client_id, actor=principal, reason=body.reason)
    return Response(status_code=204)


@staff_router.post("/{client_id}/reinstate", status_code=204)
async def reinstate_client(client_id: ClientId, principal: Manager, ctx: Ctx) -> Response:
    await service.reinstate_client(ctx, client_id=client_id, actor=principal)
    return Response(status_code=204)


@staff_router.post("/{client_id}/rotate-key", response_model=RotateKeyResponse)
async def rotate_key(
    client_id: ClientId, principal: Manager, ctx: Ctx, response: Response
) -> RotateKeyResponse:
    api_key = await service.rotate_api_key(ctx, client_id=client_id, actor=principal)
    response.headers.update(NO_STORE)
    return RotateKeyResponse(client_id=client_id, api_key=api_key)


@staff_router.get("/alerts", response_model=PartnerAlertsResponse)
async def list_alerts(
    principal: Reader,
    ctx: Ctx,
    response: Response,
    limit: Annotated[int, Query(ge=1, le=misuse.ALERTS_PAGE_MAX)] = misuse.ALERTS_PAGE_MAX,
    before: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    open_only: bool = False,
) -> PartnerAlertsResponse:
    views, next_cursor = await misuse.list_partner_alerts(
        ctx, limit=limit, before=before, open_only=open_only
    )
    response.headers.update(NO_STORE)
    return PartnerAlertsResponse(
        alerts=[PartnerAlertOut(**asdict(v)) for v in views], next=next_cursor
    )


@staff_router.post("/alerts/{alert_id}/ack", response_model=PartnerAlertOut)
async def acknowledge_alert(alert_id: AlertId, principal: Manager, ctx: Ctx) -> PartnerAlertOut:
    view = await misuse.acknowledge_partner_alert(ctx, alert_id, actor=principal)
    return PartnerAlertOut(**asdict(view))
