"""The staff console: sign-in (password + TOTP), the forced password change, and a
vaccinator's day (sessions, roster, check-in by secret code, a dose from the centre's stock,
a walk-in through the person's OTP, an AEFI report).
Each page has the API route's guard and calls its service function."""

from __future__ import annotations

import hashlib
import secrets
from typing import Annotated, Any, get_args

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import Field

from immunet.booking.rules import today_in_india
from immunet.context import AppContext
from immunet.errors import ApiError
from immunet.people import service as people
from immunet.people.schemas import NewBeneficiaryRequest, Strict
from immunet.security.access import PUBLIC, PublicCaller, request_app_context
from immunet.sessions import service as sessions
from immunet.staff import auth as staff_auth
from immunet.staff import service as staff
from immunet.staff.permissions import Permission
from immunet.staff.principal import StaffPrincipal
from immunet.staff.schemas import ChangePasswordRequest, LoginRequest
from immunet.vaccination import aefi, stock
from immunet.vaccination import service as vaccination
from immunet.vaccination.schemas import (
    BATCH_PATTERN,
    SYMPTOMS,
    LookupOtpRequest,
    Outcome,
    Severity,
    StaffAefiRequest,
)
from immunet.web.guards import STAFF_COOKIE, WEB_STAFF
from immunet.web.render import page, translate_error
from immunet.web.security import (
    FormRejected,
    delete_cookie,
    finish,
    parse,
    read_form,
    set_cookie,
)

router = APIRouter(prefix="/staff", include_in_schema=False)

Ctx = Annotated[AppContext, Depends(request_app_context)]
Public = Annotated[PublicCaller, Depends(PUBLIC)]
Self = Annotated[StaffPrincipal, Depends(WEB_STAFF(Permission.SELF_SESSION))]
SessionReader = Annotated[StaffPrincipal, Depends(WEB_STAFF(Permission.SESSION_READ))]
RosterReader = Annotated[StaffPrincipal, Depends(WEB_STAFF(Permission.ROSTER_READ))]
Vaccinator = Annotated[StaffPrincipal, Depends(WEB_STAFF(Permission.DOSE_RECORD))]
AefiReporter = Annotated[StaffPrincipal, Depends(WEB_STAFF(Permission.AEFI_REPORT))]
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
        can=console_links(principal),
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


# -- the console's links -----------------------------------------------------------------------

# (permission, link): a link is shown only to a role holding the permission the page's guard
# demands (the pages themselves refuse everyone else).
CONSOLE_LINKS: tuple[tuple[Permission, str], ...] = (
    (Permission.SESSION_READ, "sessions"),
    (Permission.DOSE_RECORD, "walk_in"),
    (Permission.AEFI_REPORT, "aefi"),
    (Permission.SESSION_PUBLISH, "schedule"),
    (Permission.STOCK_READ, "stock"),
    (Permission.MISUSE_ALERT_READ, "alerts"),
    (Permission.DISPUTE_READ, "disputes"),
    (Permission.REPORT_READ, "reports"),
    (Permission.STAFF_USER_READ, "users"),
)


def console_links(principal: StaffPrincipal) -> set[str]:
    return {name for permission, name in CONSOLE_LINKS if principal.can(permission)}


async def _usable_batches(
    ctx: AppContext, principal: StaffPrincipal, vaccine: str | None = None
) -> list[stock.BatchView]:
    """The centre's batches with doses left (and of ``vaccine``), for a dose form."""
    if not principal.can(Permission.STOCK_READ):
        return []
    _center, views = await stock.list_batches(ctx, actor=principal, page=1, limit=50)
    today = today_in_india(ctx.clock.now())
    return [
        b
        for b in views
        if b.doses_left > 0 and b.expires_on >= today and (vaccine is None or b.vaccine == vaccine)
    ]


# -- a walk-in: the person's OTP, then their dose ----------------------------------------------


def _walk_in_page(
    request: Request,
    step: str,
    *,
    error: ApiError | None = None,
    **values: Any,
) -> Response:
    values.setdefault("genders", people.GENDERS)
    values.setdefault("id_types", people.ID_TYPES)
    response = page(
        request,
        "staff_walk_in.html",
        step=step,
        status_code=error.status_code if error else 200,
        error=translate_error(request, error) if error else None,
        **values,
    )
    response.headers["Cache-Control"] = "no-store"
    if error is not None:
        response.headers.update(error.headers)
    return response


@router.get("/walk-in")
async def walk_in_page(request: Request, _principal: Vaccinator) -> Response:
    return _walk_in_page(request, "mobile")


@router.post("/walk-in")
async def walk_in_send_otp(request: Request, principal: Vaccinator, ctx: Ctx) -> Response:
    """``POST /api/staff/lookup/otp``: an OTP to the person's mobile (the same answer
    whether or not the number is registered)."""
    form = await read_form(request)
    try:
        body = parse(LookupOtpRequest, {"mobile": form.get("mobile", "").strip()})
        txn = await vaccination.lookup_send_otp(ctx, body.mobile, actor=principal)
    except ApiError as exc:
        return _walk_in_page(request, "mobile", error=exc)
    return _walk_in_page(request, "otp", txn=txn)


class WalkInOtpForm(Strict):
    txn: str = Field(min_length=36, max_length=36)
    otp: str = Field(min_length=6, max_length=6, pattern=r"^[0-9]{6}$")


@router.post("/walk-in/verify")
async def walk_in_verify(request: Request, principal: Vaccinator, ctx: Ctx) -> Response:
    """``POST /api/staff/lookup/confirm``: the person reads out the OTP; their account's
    people (masked) with their doses, and a form to record a dose or register someone."""
    form = await read_form(request)
    txn = form.get("txn", "")
    try:
        body = parse(WalkInOtpForm, {"txn": txn, "otp": form.get("otp", "").strip()})
        digest = hashlib.sha256(body.otp.encode("ascii")).hexdigest()
        result = await vaccination.lookup_confirm(ctx, body.txn, digest, actor=principal)
    except ApiError as exc:
        shown = txn if len(txn) == 36 else ""
        return _walk_in_page(request, "otp" if shown else "mobile", txn=shown, error=exc)
    people_shown = [
        {
            "reference": view.reference_id,
            "name": view.name,
            "birth_year": view.birth_year,
            "id": f"{view.photo_id_type} {view.masked_id_number}",
            "id_conflict": view.id_conflict,
            "doses": [
                {"dose": d.dose_number, "vaccine": d.vaccine_code, "date": d.administered_on}
                for d in doses
            ],
            "next_dose": max((d.dose_number for d in doses), default=0) + 1,
        }
        for view, doses in result.people
    ]
    return _walk_in_page(
        request,
        "people",
        txn=result.txn_id,
        people=people_shown,
        batches=await _usable_batches(ctx, principal),
        idem=secrets.token_urlsafe(16),
    )


@router.post("/walk-in/register")
async def walk_in_register(request: Request, principal: Vaccinator, ctx: Ctx) -> Response:
    """``POST /api/staff/lookup/{txn}/beneficiaries``: register a person under the account
    whose OTP was just verified (by this staff member, within the grant's lifetime)."""
    form = await read_form(request)
    txn = form.get("txn", "")
    try:
        if len(txn) != 36:
            raise FormRejected()
        id_type = form.get("photo_id_type", "")
        body = parse(
            NewBeneficiaryRequest,
            {
                "name": form.get("name", "").strip(),
                "birth_year": form.get("birth_year", "").strip() or None,
                "gender_id": _small_int(form.get("gender_id")),
                "photo_id_type": _small_int(id_type) if id_type else None,
                "photo_id_number": form.get("photo_id_number", "").strip() or None,
            },
        )
        registration = await vaccination.register_walk_in(ctx, txn, body, actor=principal)
    except ApiError as exc:
        # The form again (the grant outlives one mistake); without a txn, a new look-up.
        return _walk_in_page(
            request, "register" if len(txn) == 36 else "mobile", txn=txn, error=exc
        )
    return _walk_in_page(
        request,
        "registered",
        person={"reference": registration.reference_id, "name": body.name, "next_dose": 1},
        batches=await _usable_batches(ctx, principal),
        idem=secrets.token_urlsafe(16),
    )


class DoseBatch(Strict):
    lot: str = Field(pattern=BATCH_PATTERN)


class WalkInDoseForm(Strict):
    reference: str = Field(min_length=1, max_length=20)
    name: str = Field(min_length=1, max_length=100)
    dose: int = Field(ge=1, le=20)
    batch: str = Field(min_length=1, max_length=80)
    idem: str = Field(min_length=16, max_length=64)
    photo_id_checked: bool = False


@router.post("/walk-in/dose")
async def walk_in_dose(request: Request, principal: Vaccinator, ctx: Ctx) -> Response:
    """``POST /api/staff/doses`` without an appointment: the centre's open session of the
    batch's vaccine today (the service's rule), the form's own idempotency key."""
    raw = await read_form(request)
    form = parse(
        WalkInDoseForm,
        {
            **raw,
            "dose": _small_int(raw.get("dose")),
            "photo_id_checked": raw.get("photo_id_checked") == "on",
        },
    )
    vaccine, _sep, lot = form.batch.rpartition(" ")  # "VACCINE LOT": a lot has no space
    person = {"reference": form.reference, "name": form.name, "next_dose": form.dose}
    try:
        data = vaccination.DoseInput(
            beneficiary_reference_id=form.reference,
            vaccine=vaccine,
            dose_number=form.dose,
            batch=parse(DoseBatch, {"lot": lot}).lot,
            photo_id_checked=form.photo_id_checked,
        )
        await vaccination.record_dose(ctx, data, actor=principal, idempotency_key=form.idem)
    except ApiError as exc:
        return _walk_in_page(
            request,
            "registered",
            person=person,
            batches=await _usable_batches(ctx, principal),
            idem=secrets.token_urlsafe(16),
            error=exc,
        )
    return _walk_in_page(request, "recorded", person=person, vaccine=vaccine)


def _small_int(value: str | None) -> int:
    """A form's number field; 0 (refused by the models) when it is not one."""
    return int(value) if value and value.isascii() and value.isdigit() and len(value) < 8 else 0


# -- an AEFI report ----------------------------------------------------------------------------

SEVERITIES: tuple[str, ...] = get_args(Severity)
OUTCOMES: tuple[str, ...] = get_args(Outcome)


def _aefi_page(request: Request, *, error: ApiError | None = None, done: bool = False) -> Response:
    response = page(
        request,
        "staff_aefi.html",
        symptoms=SYMPTOMS,
        severities=SEVERITIES,
        outcomes=OUTCOMES,
        done=done,
        status_code=error.status_code if error else 200,
        error=translate_error(request, error) if error else None,
    )
    if error is not None:
        response.headers.update(error.headers)
    return response


@router.get("/aefi")
async def aefi_page(request: Request, _principal: AefiReporter, done: bool = False) -> Response:
    return _aefi_page(request, done=done)


@router.post("/aefi")
async def report_aefi(request: Request, principal: AefiReporter, ctx: Ctx) -> Response:
    """``POST /api/staff/aefi``: the same model and the same service function."""
    form = await read_form(request)
    symptoms = [s for s in SYMPTOMS if form.pop(f"symptom-{s}", None) == "on"]
    dose_id = form.get("dose_id", "").strip()
    try:
        body = parse(
            StaffAefiRequest,
            {
                "beneficiary_reference_id": form.get("reference", "").strip(),
                "symptoms": symptoms,
                "onset_date": form.get("onset_date", "").strip(),
                "severity": form.get("severity", ""),
                "outcome": form.get("outcome", ""),
                "dose_id": _small_int(dose_id) if dose_id else None,
                "notes": form.get("notes", "").strip() or None,
            },
        )
        await aefi.report_by_staff(ctx, body, actor=principal)
    except ApiError as exc:
        return _aefi_page(request, error=exc)
    return _see_other("/staff/aefi?done=true")
