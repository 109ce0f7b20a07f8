"""Staff session routes: publish, edit, cancel and list sessions within the jurisdiction."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from immunet.context import AppContext
from immunet.security.access import request_app_context
from immunet.sessions import availability, service
from immunet.sessions.schemas import (
    SessionCancelled,
    SessionCreate,
    SessionCreated,
    SessionOut,
    SessionPatch,
    SessionsPage,
)
from immunet.staff.guards import STAFF
from immunet.staff.permissions import Permission
from immunet.staff.principal import StaffPrincipal

router = APIRouter(prefix="/api/staff/sessions", tags=["staff: sessions"])

Ctx = Annotated[AppContext, Depends(request_app_context)]
SessionId = Annotated[
    str, Path(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
]
MAX_PAGE = 50


def _out(view: service.SessionView) -> SessionOut:
    return SessionOut(**view.__dict__)


@router.post("", response_model=SessionCreated)
async def publish_session(
    body: SessionCreate,
    principal: Annotated[StaffPrincipal, Depends(STAFF(Permission.SESSION_PUBLISH))],
    ctx: Ctx,
) -> SessionCreated:
    return SessionCreated(session_id=await service.publish_session(ctx, body, actor=principal))


@router.get("", response_model=SessionsPage)
async def list_sessions(
    principal: Annotated[StaffPrincipal, Depends(STAFF(Permission.SESSION_READ))],
    ctx: Ctx,
    center_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    date: Annotated[str | None, Query(max_length=10)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 20,
    after: Annotated[str | None, Query(max_length=36)] = None,
) -> SessionsPage:
    day: dt.date | None = availability.parse_date(date) if date is not None else None
    views, next_after = await service.list_sessions(
        ctx, actor=principal, limit=limit, center_id=center_id, date=day, after=after
    )
    return SessionsPage(sessions=[_out(v) for v in views], next_after=next_after)


@router.patch("/{session_id}", response_model=SessionOut)
async def update_session(
    session_id: SessionId,
    body: SessionPatch,
    principal: Annotated[StaffPrincipal, Depends(STAFF(Permission.SESSION_UPDATE))],
    ctx: Ctx,
) -> SessionOut:
    return _out(await service.update_session(ctx, session_id, body, actor=principal))


@router.post("/{session_id}/cancel", response_model=SessionCancelled)
async def cancel_session(
    session_id: SessionId,
    principal: Annotated[StaffPrincipal, Depends(STAFF(Permission.SESSION_CANCEL))],
    ctx: Ctx,
) -> SessionCancelled:
    notified = await service.cancel_session(ctx, session_id, actor=principal)
    return SessionCancelled(session_id=session_id, status=service.CANCELLED, notified=notified)
