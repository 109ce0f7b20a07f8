"""The staff console: sign-in (password + TOTP), the forced password change, and a
vaccinator's day (sessions, roster, check-in by secret code, a dose from the centre's stock).
Each page has the API route's guard and calls its service function."""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import Field

from immunet.booking.rules import today_in_india
from immunet.context import AppContext
from immunet.errors import ApiError
from immunet.people.schemas import Strict
from immunet.security.access import PUBLIC, PublicCaller, app_context
from immunet.sessions import service as sessions
from immunet.staff import auth as staff_auth
from immunet.staff import service as staff
from immunet.staff.permissions import Permission
from immunet.staff.principal import StaffPrincipal
from immunet.staff.schemas import ChangePasswordRequest, LoginRequest
from immunet.vaccination import service as vaccination
from immunet.vaccination import stock
from immunet.vaccination.schemas import BATCH_PATTERN
from immunet.web.guards import STAFF_COOKIE, WEB_STAFF
from immunet.web.render import page, translate_error
from immunet.web.security import delete_cookie, finish, parse, read_form, set_cookie

router = APIRouter(prefix="/staff", include_in_schema=False)

Ctx = Annotated[AppContext, Depends(app_context)]
Public = Annotated[PublicCaller, Depends(PUBLIC)]
Self = Annotated[StaffPrincipal, Depends(WEB_STAFF(Permission.SELF_SESSION))]
SessionReader = Annotated[StaffPrincipal, Depends(WEB_STAFF(Permission.SESSION_READ))]
RosterReader = Annotated[StaffPrincipal, Depends(WEB_STAFF(Permission.ROSTER_READ))]
Vaccinator = Annotated[StaffPrincipal, Depends(WEB_STAFF(Permission.DOSE_RECORD))]
SessionId = Annotated[str, Query(min_length=36, max_length=36, pattern=r"^[0-9a-f-]{36}$")]


def _see_other(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


def _refused(request: Request, exc: ApiError, template: str, **values: Any) -> Response:
    response = page(
        request,
        template,
        status_code=exc.status_code,
        error=translate_error(request, exc),
        **values,
    )
    response.headers.update(exc.headers)
    return response


# -- sign-in -----------------------------------------------------------------------------------


@router.get("/login")
async def login_page(request: Request, _caller: Public) -> Response:
    return page(request, "staff_login.html")


@router.post("/login")
async def login(request: Request, caller: Public, ctx: Ctx) -> Response:
    form = await read_form(request)
    try:
        body = parse(
            LoginRequest,
            {
                "username": form.get("username", ""),
                "password": form.get("password", ""),
                "totp": form.get("totp", "").strip(),
            },
        )
        result = await staff_auth.login(
            ctx,
            username=body.username,
            password=body.password,
            totp=body.totp,
            context=caller.context,
            user_agent=request.headers.get("user-agent"),
        )
    except ApiError as exc:
        return _refused(request, exc, "staff_login.html")
    response = _see_other("/staff")
    set_cookie(response, request, STAFF_COOKIE, result.token)
    return finish(request, response)


@router.post("/logout")
async def logout(request: Request, principal: Self, ctx: Ctx) -> Response:
    await read_form(request)
    await staff_auth.logout(ctx, principal, user_agent=request.headers.get("user-agent"))
    response = _see_other("/staff/login")
    delete_cookie(response, request, STAFF_COOKIE)
    return response


@router.get("/password")
async def password_page(request: Request, _principal: Self) -> Response:
    return page(request, "staff_password.html")


@router.post("/password")
async def change_password(request: Request, principal: Self, ctx: Ctx) -> Response:
    form = await read_form(request)
    try:
        body = parse(
            ChangePasswordRequest,
            {
                "current_password": form.get("current_password", ""),
                "new_password": form.get("new_password", ""),
            },
        )
        await staff.change_password(
            ctx,
            current_password=body.current_password,
            new_password=body.new_password,
            actor=principal,
        )
    except ApiError as exc:
        return _refused(request, exc, "staff_password.html")
    return _see_other("/staff")


# -- the console -------------------------------------------------------------------------------


@router.get("")
async def console(request: Request, principal: Self, ctx: Ctx) -> Response:
    user = await staff.own_profile(ctx, actor=principal)
    if user.must_change_password:
        return _see_other("/staff/password")
    return page(
        request,
        "staff_home.html",
        principal=principal,
        can_sessions=principal.can(Permission.SESSION_READ),
    )


@router.get("/sessions")
async def today_sessions(request: Request, principal: SessionReader, ctx: Ctx) -> Response:
    today = today_in_india(ctx.clock.now())
    views, _after = await sessions.list_sessions(ctx, actor=principal, limit=50, date=today)
    return page(request, "staff_sessions.html", sessions=views, day=today)


@router.get("/roster")
async def roster(
    request: Request, principal: RosterReader, ctx: Ctx, session: SessionId
) -> Response:
    return await _roster_page(request, principal, ctx, session)


async def _roster_page(
    request: Request,
    principal: StaffPrincipal,
    ctx: AppContext,
    session_id: str,
    *,
    error: ApiError | None = None,
    checked: str | None = None,
) -> Response:
    result = await vaccination.roster(ctx, session_id, actor=principal, page=1, limit=50)
    batches = []
    if principal.can(Permission.STOCK_READ):
        _center, views = await stock.list_batches(ctx, actor=principal, page=1, limit=50)
        batches = [
            b for b in views if b.vaccine == result.session.vaccine_code and b.doses_left > 0
        ]
    lines = [
        {
            "appointment_id": line.appointment.appointment_id,
            "reference": line.view.reference_id,
            "name": line.view.name,
            "birth_year": line.view.birth_year,
            "id": f"{line.view.photo_id_type} {line.view.masked_id_number}",
            "dose": line.appointment.dose,
            "slot": line.appointment.slot,
            "status": vaccination.roster_status(line.appointment),
        }
        for line in result.lines
    ]
    response = page(
        request,
        "staff_roster.html",
        vs=result.session,
        lines=lines,
        batches=batches,
        can_record=principal.can(Permission.DOSE_RECORD),
        checked=checked,
        idem=secrets.token_urlsafe(16),
        status_code=error.status_code if error else 200,
        error=translate_error(request, error) if error else None,
    )
    if error is not None:
        response.headers.update(error.headers)
    return response


class CheckInForm(Strict):
    session: str = Field(min_length=36, max_length=36)
    appointment: str = Field(min_length=1, max_length=36)
    code: str = Field(min_length=1, max_length=8)


@router.post("/check-in")
async def check_in(request: Request, principal: Vaccinator, ctx: Ctx) -> Response:
    form = parse(CheckInForm, await read_form(request))
    try:
        await vaccination.check_in(ctx, form.appointment, form.code, actor=principal)
    except ApiError as exc:
        return await _roster_page(request, principal, ctx, form.session, error=exc)
    return _see_other(f"/staff/roster?session={form.session}")


class DoseForm(Strict):
    session: str = Field(min_length=36, max_length=36)
    appointment: str = Field(min_length=1, max_length=36)
    reference: str = Field(min_length=1, max_length=20)
    vaccine: str = Field(min_length=1, max_length=32)
    dose: int = Field(ge=1, le=20)
    batch: str = Field(pattern=BATCH_PATTERN)
    idem: str = Field(min_length=16, max_length=64)
    photo_id_checked: bool = False


@router.post("/doses")
async def record_dose(request: Request, principal: Vaccinator, ctx: Ctx) -> Response:
    raw = await read_form(request)
    form = parse(
        DoseForm,
        {
            **raw,
            "dose": int(raw["dose"]) if raw.get("dose", "").isdigit() else 0,
            "photo_id_checked": raw.get("photo_id_checked") == "on",
        },
    )
    data = vaccination.DoseInput(
        beneficiary_reference_id=form.reference,
        vaccine=form.vaccine,
        dose_number=form.dose,
        batch=form.batch,
        appointment_id=form.appointment,
        session_id=form.session,
        photo_id_checked=form.photo_id_checked,
    )
    try:
        # The form's own key: a double submit records one dose (the API's idempotency).
        await vaccination.record_dose(ctx, data, actor=principal, idempotency_key=form.idem)
    except ApiError as exc:
        return await _roster_page(request, principal, ctx, form.session, error=exc)
    return _see_other(f"/staff/roster?session={form.session}")
