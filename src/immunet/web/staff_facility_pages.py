"""The staff console for a facility manager: the centre's sessions (publish, list, cancel)
and its vaccine stock (receive a batch, list batches with their quantities, record waste).

Each page has the guard of the API route it mirrors and calls the same service function
(``sessions/routes.py``, ``vaccination/routes.py``): the centre and the jurisdiction are the
service's filters, never the page's.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import Field

from immunet.booking.rules import today_in_india
from immunet.context import AppContext
from immunet.errors import ApiError
from immunet.people.schemas import Strict
from immunet.security.access import request_app_context
from immunet.sessions import service as sessions
from immunet.sessions.schemas import SessionCreate
from immunet.staff.permissions import Permission
from immunet.staff.principal import StaffPrincipal
from immunet.vaccination import stock
from immunet.vaccination.schemas import NewStockRequest, WasteRequest
from immunet.web.guards import WEB_STAFF
from immunet.web.render import page, translate_error
from immunet.web.security import FormRejected, parse, read_form
from immunet.web.staff_pages import _see_other

router = APIRouter(prefix="/staff", include_in_schema=False)

Ctx = Annotated[AppContext, Depends(request_app_context)]
SessionReader = Annotated[StaffPrincipal, Depends(WEB_STAFF(Permission.SESSION_READ))]
Publisher = Annotated[StaffPrincipal, Depends(WEB_STAFF(Permission.SESSION_PUBLISH))]
Canceller = Annotated[StaffPrincipal, Depends(WEB_STAFF(Permission.SESSION_CANCEL))]
StockReader = Annotated[StaffPrincipal, Depends(WEB_STAFF(Permission.STOCK_READ))]
StockManager = Annotated[StaffPrincipal, Depends(WEB_STAFF(Permission.STOCK_MANAGE))]
After = Annotated[str | None, Query(min_length=36, max_length=36, pattern=r"^[0-9a-f-]{36}$")]
UUID4 = r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
PAGE = 20
WASTE_REASONS = ("expired", "broken-vial", "open-vial-unused", "cold-chain", "other")


def _html_day(value: str | None) -> str:
    """An ``<input type=date>`` (YYYY-MM-DD) as the API's DD-MM-YYYY; else what was sent
    (the API's model refuses it)."""
    value = (value or "").strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            return dt.date.fromisoformat(value).strftime("%d-%m-%Y")
        except ValueError:
            return value
    return value


def _number(value: str | None, *, empty: int = -1) -> int:
    """A form's whole number; ``empty`` when left blank, -1 (refused by every model's
    bounds here) when it is not a number."""
    value = (value or "").strip()
    if not value:
        return empty
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 10 else -1


def _with_error(response: Response, error: ApiError | None) -> Response:
    if error is not None:
        response.headers.update(error.headers)
    response.headers["Cache-Control"] = "no-store"
    return response


# -- sessions --------------------------------------------------------------------------------


async def _schedule_page(
    request: Request,
    principal: StaffPrincipal,
    ctx: AppContext,
    *,
    after: str | None = None,
    error: ApiError | None = None,
    notice: str | None = None,
) -> Response:
    views, next_after = await sessions.list_sessions(ctx, actor=principal, limit=PAGE, after=after)
    own = principal.jurisdiction.ref_id if principal.jurisdiction.kind == "center" else None
    response = page(
        request,
        "staff_schedule.html",
        sessions=views,
        next_after=next_after,
        own_center=own,
        can_publish=principal.can(Permission.SESSION_PUBLISH),
        can_cancel=principal.can(Permission.SESSION_CANCEL),
        today=today_in_india(ctx.clock.now()),
        notice=notice,
        status_code=error.status_code if error else 200,
        error=translate_error(request, error) if error else None,
    )
    return _with_error(response, error)


@router.get("/schedule")
async def schedule(
    request: Request,
    principal: SessionReader,
    ctx: Ctx,
    after: After = None,
    done: Annotated[str | None, Query(pattern="^(published|cancelled)$")] = None,
) -> Response:
    """``GET /api/staff/sessions``: the sessions of the caller's jurisdiction."""
    return await _schedule_page(request, principal, ctx, after=after, notice=done)


@router.post("/schedule")
async def publish_session(request: Request, principal: Publisher, ctx: Ctx) -> Response:
    """``POST /api/staff/sessions``: the same model, the same service function."""
    form = await read_form(request)
    try:
        slots = [s.strip() for s in form.get("slots", "").splitlines() if s.strip()]
        max_age = form.get("max_age_limit", "").strip()
        body = parse(
            SessionCreate,
            {
                "center_id": _number(form.get("center_id")),
                "date": _html_day(form.get("date")),
                "vaccine": form.get("vaccine", ""),
                "min_age_limit": _number(form.get("min_age_limit")),
                "max_age_limit": _number(max_age) if max_age else None,
                "capacity_dose1": _number(form.get("capacity_dose1"), empty=0),
                "capacity_dose2": _number(form.get("capacity_dose2"), empty=0),
                "capacity_precaution": _number(form.get("capacity_precaution"), empty=0),
                "slots": slots,
                "fee": _number(form.get("fee"), empty=0),
            },
        )
        await sessions.publish_session(ctx, body, actor=principal)
    except ApiError as exc:
        return await _schedule_page(request, principal, ctx, error=exc)
    return _see_other("/staff/schedule?done=published")


class CancelForm(Strict):
    session: str = Field(min_length=36, max_length=36, pattern=UUID4)


@router.post("/schedule/cancel")
async def cancel_session(request: Request, principal: Canceller, ctx: Ctx) -> Response:
    """``POST /api/staff/sessions/{id}/cancel``: booked people are told by SMS."""
    form = parse(CancelForm, await read_form(request))
    try:
        await sessions.cancel_session(ctx, form.session, actor=principal)
    except ApiError as exc:
        return await _schedule_page(request, principal, ctx, error=exc)
    return _see_other("/staff/schedule?done=cancelled")


# -- stock ----------------------------------------------------------------------------------


async def _stock_page(
    request: Request,
    principal: StaffPrincipal,
    ctx: AppContext,
    *,
    page_no: int = 1,
    error: ApiError | None = None,
    notice: str | None = None,
) -> Response:
    center_id, views = await stock.list_batches(ctx, actor=principal, page=page_no, limit=PAGE)
    today = today_in_india(ctx.clock.now())
    rows: list[dict[str, Any]] = [{"batch": v, "expired": v.expires_on < today} for v in views]
    response = page(
        request,
        "staff_stock.html",
        center_id=center_id,
        rows=rows,
        page_no=page_no,
        more=len(views) == PAGE,
        can_manage=principal.can(Permission.STOCK_MANAGE),
        reasons=WASTE_REASONS,
        notice=notice,
        status_code=error.status_code if error else 200,
        error=translate_error(request, error) if error else None,
    )
    return _with_error(response, error)


@router.get("/stock")
async def stock_page(
    request: Request,
    principal: StockReader,
    ctx: Ctx,
    page_no: Annotated[int, Query(alias="page", ge=1, le=10_000)] = 1,
    done: Annotated[str | None, Query(pattern="^(received|wasted)$")] = None,
) -> Response:
    """``GET /api/staff/stock``: the centre's batches and what is left of each."""
    return await _stock_page(request, principal, ctx, page_no=page_no, notice=done)


@router.post("/stock")
async def receive_stock(request: Request, principal: StockManager, ctx: Ctx) -> Response:
    """``POST /api/staff/stock``: a batch received at the caller's centre."""
    form = await read_form(request)
    try:
        body = parse(
            NewStockRequest,
            {
                "vaccine": form.get("vaccine", "").strip(),
                "lot": form.get("lot", "").strip(),
                "expiry": _html_day(form.get("expiry")),
                "quantity": _number(form.get("quantity")),
            },
        )
        await stock.receive_batch(ctx, body, actor=principal)
    except ApiError as exc:
        return await _stock_page(request, principal, ctx, error=exc)
    return _see_other("/staff/stock?done=received")


@router.post("/stock/waste")
async def waste_stock(request: Request, principal: StockManager, ctx: Ctx) -> Response:
    """``POST /api/staff/stock/{id}/waste``: doses lost, with the reason."""
    form = await read_form(request)
    try:
        stock_id = _number(form.get("stock_id"))
        if not 1 <= stock_id <= 2**31 - 1:
            raise FormRejected()
        body = parse(
            WasteRequest,
            {"doses": _number(form.get("doses")), "reason": form.get("reason", "")},
        )
        await stock.waste(ctx, stock_id, body, actor=principal)
    except ApiError as exc:
        return await _stock_page(request, principal, ctx, error=exc)
    return _see_other("/staff/stock?done=wasted")
