"""The staff console for admins: staff users (list, create with a one-time password and TOTP
enrolment, disable), misuse alerts (list, acknowledge), citizens' disputes of access-log
entries ("this wasn't me": list, freeze the user's look-ups, resolve), and the aggregate
reports (doses, immunization coverage, adverse events) as tables.

Each page has the guard of the API route it mirrors (``staff/routes.py``,
``oversight/routes.py``) and calls the same service function; the jurisdiction filter and the
rank rule are the service's.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import Field

from immunet.booking.rules import today_in_india
from immunet.context import AppContext
from immunet.errors import ApiError
from immunet.oversight import coverage, reports, service
from immunet.oversight.schemas import ResolveDisputeRequest
from immunet.people.schemas import Strict
from immunet.security.access import request_app_context
from immunet.staff import service as staff
from immunet.staff.permissions import ROLE_RANK, Permission, Role
from immunet.staff.principal import InvalidJurisdiction, Jurisdiction, StaffPrincipal
from immunet.staff.schemas import CreateStaffUserRequest
from immunet.vaccination import aefi
from immunet.web.guards import WEB_STAFF
from immunet.web.render import page, translate_error
from immunet.web.routes import _qr_svg
from immunet.web.security import parse, read_form
from immunet.web.staff_pages import _see_other

router = APIRouter(prefix="/staff", include_in_schema=False)

Ctx = Annotated[AppContext, Depends(request_app_context)]
AlertReader = Annotated[StaffPrincipal, Depends(WEB_STAFF(Permission.MISUSE_ALERT_READ))]
AlertAcker = Annotated[StaffPrincipal, Depends(WEB_STAFF(Permission.MISUSE_ALERT_ACK))]
DisputeReader = Annotated[StaffPrincipal, Depends(WEB_STAFF(Permission.DISPUTE_READ))]
DisputeResolver = Annotated[StaffPrincipal, Depends(WEB_STAFF(Permission.DISPUTE_RESOLVE))]
Reporter = Annotated[StaffPrincipal, Depends(WEB_STAFF(Permission.REPORT_READ))]
AefiReader = Annotated[StaffPrincipal, Depends(WEB_STAFF(Permission.AEFI_READ))]
UserReader = Annotated[StaffPrincipal, Depends(WEB_STAFF(Permission.STAFF_USER_READ))]
UserCreator = Annotated[StaffPrincipal, Depends(WEB_STAFF(Permission.STAFF_USER_CREATE))]
UserDisabler = Annotated[StaffPrincipal, Depends(WEB_STAFF(Permission.STAFF_USER_DISABLE))]
After = Annotated[str | None, Query(min_length=1, max_length=64)]
Before = Annotated[int | None, Query(ge=1, le=2**62)]
PAGE = 50
REPORT_DAYS = 7


def _answer(request: Request, template: str, error: ApiError | None, **values: Any) -> Response:
    response = page(
        request,
        template,
        status_code=error.status_code if error else 200,
        error=translate_error(request, error) if error else None,
        **values,
    )
    if error is not None:
        response.headers.update(error.headers)
    # Names of staff members and what a citizen wrote: never cached.
    response.headers["Cache-Control"] = "no-store"
    return response


class IdForm(Strict):
    id: int = Field(ge=1, le=2**31 - 1)


def _id_form(form: dict[str, str]) -> IdForm:
    raw = form.get("id", "")
    return parse(
        IdForm, {"id": int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 10 else 0}
    )


# -- staff users -----------------------------------------------------------------------------


async def _users_page(
    request: Request,
    principal: StaffPrincipal,
    ctx: AppContext,
    *,
    after: str | None = None,
    error: ApiError | None = None,
    created: dict[str, str] | None = None,
) -> Response:
    views, next_cursor = await staff.list_staff_users(ctx, actor=principal, limit=PAGE, after=after)
    return _answer(
        request,
        "staff_users.html",
        error,
        users=views,
        next_cursor=next_cursor,
        created=created,
        # Offered only below the admin's own rank (the service refuses the rest all the same).
        roles=[r.value for r in Role if ROLE_RANK[r] < ROLE_RANK[principal.role]],
        can_create=principal.can(Permission.STAFF_USER_CREATE),
        can_disable=principal.can(Permission.STAFF_USER_DISABLE),
        me=principal.username,
    )


@router.get("/users")
async def users(request: Request, principal: UserReader, ctx: Ctx, after: After = None) -> Response:
    """``GET /api/staff/users``: by username, within the admin's jurisdiction."""
    return await _users_page(request, principal, ctx, after=after)


@router.post("/users")
async def create_user(request: Request, principal: UserCreator, ctx: Ctx) -> Response:
    """``POST /api/staff/users``: the one-time password and the TOTP enrolment are shown once,
    on this answer (never stored, never cached)."""
    form = await read_form(request)
    try:
        body = parse(
            CreateStaffUserRequest,
            {
                "username": form.get("username", "").strip(),
                "role": form.get("role", ""),
                "jurisdiction": form.get("jurisdiction", "").strip(),
            },
        )
        try:
            jurisdiction = Jurisdiction.parse(body.jurisdiction)
        except InvalidJurisdiction as exc:
            raise staff.InvalidStaffRequest(str(exc)) from exc
        new = await staff.create_staff_user(
            ctx,
            username=body.username,
            role=body.role,
            jurisdiction=jurisdiction,
            actor=principal,
        )
    except ApiError as exc:
        return await _users_page(request, principal, ctx, error=exc)
    created = {
        "username": new.user.username,
        "role": new.user.role,
        "password": new.one_time_password,
        "otpauth_uri": new.otpauth_uri,
        "qr": _qr_svg(new.otpauth_uri),
    }
    return await _users_page(request, principal, ctx, created=created)


class UsernameForm(Strict):
    username: str = Field(min_length=1, max_length=64)


@router.post("/users/disable")
async def disable_user(request: Request, principal: UserDisabler, ctx: Ctx) -> Response:
    """``POST /api/staff/users/{username}/disable``: final; their sessions end."""
    form = parse(UsernameForm, {"username": (await read_form(request)).get("username", "")})
    try:
        await staff.disable_staff_user(ctx, username=form.username, actor=principal)
    except ApiError as exc:
        return await _users_page(request, principal, ctx, error=exc)
    return _see_other("/staff/users")


# -- misuse alerts ----------------------------------------------------------------------------


async def _alerts_page(
    request: Request,
    principal: StaffPrincipal,
    ctx: AppContext,
    *,
    before: int | None = None,
    open_only: bool = False,
    error: ApiError | None = None,
) -> Response:
    views, next_cursor = await service.list_alerts(
        ctx, actor=principal, limit=PAGE, before=before, open_only=open_only
    )
    return _answer(
        request,
        "staff_alerts.html",
        error,
        alerts=views,
        next_cursor=next_cursor,
        open_only=open_only,
        can_ack=principal.can(Permission.MISUSE_ALERT_ACK),
    )


@router.get("/alerts")
async def alerts(
    request: Request,
    principal: AlertReader,
    ctx: Ctx,
    before: Before = None,
    open_only: bool = False,
) -> Response:
    """``GET /api/staff/alerts``: newest first, within the admin's jurisdiction."""
    return await _alerts_page(request, principal, ctx, before=before, open_only=open_only)


@router.post("/alerts/ack")
async def acknowledge_alert(request: Request, principal: AlertAcker, ctx: Ctx) -> Response:
    """``POST /api/staff/alerts/{id}/ack``."""
    form = _id_form(await read_form(request))
    try:
        await service.acknowledge_alert(ctx, form.id, actor=principal)
    except ApiError as exc:
        return await _alerts_page(request, principal, ctx, error=exc)
    return _see_other("/staff/alerts")


# -- disputes ---------------------------------------------------------------------------------

DisputeStatus = Annotated[str | None, Query(pattern="^(open|frozen|upheld|dismissed)$")]


async def _disputes_page(
    request: Request,
    principal: StaffPrincipal,
    ctx: AppContext,
    *,
    before: int | None = None,
    status: str | None = None,
    error: ApiError | None = None,
) -> Response:
    views, next_cursor = await service.list_disputes(
        ctx, actor=principal, limit=PAGE, before=before, status=status
    )
    return _answer(
        request,
        "staff_disputes.html",
        error,
        disputes=views,
        next_cursor=next_cursor,
        status=status,
        can_resolve=principal.can(Permission.DISPUTE_RESOLVE),
    )


@router.get("/disputes")
async def disputes(
    request: Request,
    principal: DisputeReader,
    ctx: Ctx,
    before: Before = None,
    status: DisputeStatus = None,
) -> Response:
    """``GET /api/staff/disputes``: citizens' "this wasn't me" reports in the jurisdiction."""
    return await _disputes_page(request, principal, ctx, before=before, status=status)


@router.post("/disputes/freeze")
async def freeze_for_dispute(request: Request, principal: DisputeResolver, ctx: Ctx) -> Response:
    """``POST /api/staff/disputes/{id}/freeze``: the reported user's look-ups stop."""
    form = _id_form(await read_form(request))
    try:
        await service.freeze_for_dispute(ctx, form.id, actor=principal)
    except ApiError as exc:
        return await _disputes_page(request, principal, ctx, error=exc)
    return _see_other("/staff/disputes")


@router.post("/disputes/resolve")
async def resolve_dispute(request: Request, principal: DisputeResolver, ctx: Ctx) -> Response:
    """``POST /api/staff/disputes/{id}/resolve``: upheld (suspends) or dismissed."""
    raw = await read_form(request)
    outcome = raw.pop("outcome", "")
    form = _id_form(raw)
    try:
        body = parse(ResolveDisputeRequest, {"outcome": outcome})
        await service.resolve_dispute(ctx, form.id, outcome=body.outcome, actor=principal)
    except ApiError as exc:
        return await _disputes_page(request, principal, ctx, error=exc)
    return _see_other("/staff/disputes")


# -- reports ----------------------------------------------------------------------------------

DayParam = Annotated[str | None, Query(alias="from", max_length=10)]
ToParam = Annotated[str | None, Query(max_length=10)]
MonthFrom = Annotated[str | None, Query(alias="from", max_length=7)]
MonthTo = Annotated[str | None, Query(max_length=7)]


def _day(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise reports.InvalidReport("dates are YYYY-MM-DD") from exc


@router.get("/reports")
async def dose_report(
    request: Request,
    principal: Reporter,
    ctx: Ctx,
    group_by: Annotated[str, Query(max_length=16)] = "day",
    from_: DayParam = None,
    to: ToParam = None,
) -> Response:
    """``GET /api/staff/reports/doses``: counts only, small cells hidden (the service's)."""
    today = today_in_india(ctx.clock.now())
    first = from_ or (today - dt.timedelta(days=REPORT_DAYS - 1)).isoformat()
    last = to or today.isoformat()
    groups = [g.value for g in reports.GroupBy]
    shown: dict[str, Any] = {"group_by": group_by, "first": first, "last": last, "groups": groups}
    try:
        if group_by not in groups:
            raise reports.InvalidReport("group_by is not known")
        report = await reports.doses_report(
            ctx,
            actor=principal,
            group_by=reports.GroupBy(group_by),
            first=_day(first),
            last=_day(last),
        )
    except ApiError as exc:
        return _answer(request, "staff_reports.html", exc, report=None, **shown)
    return _answer(request, "staff_reports.html", None, report=report, **shown)


@router.get("/reports/coverage")
async def coverage_report(
    request: Request,
    principal: Reporter,
    ctx: Ctx,
    from_: MonthFrom = None,
    to: MonthTo = None,
) -> Response:
    """``GET /api/staff/reports/immunization-coverage``: children's coverage by district and
    month (cells suppressed as the API's)."""
    month = today_in_india(ctx.clock.now()).strftime("%Y-%m")
    first, last = from_ or month, to or month
    try:
        rows = await coverage.coverage_report(
            ctx, actor=principal, first=coverage.parse_month(first), last=coverage.parse_month(last)
        )
    except ApiError as exc:
        return _answer(
            request, "staff_coverage.html", exc, rows=[], cells=(), first=first, last=last
        )
    return _answer(
        request,
        "staff_coverage.html",
        None,
        rows=rows,
        cells=coverage.DOSE_CELLS,
        first=first,
        last=last,
    )


@router.get("/reports/aefi")
async def aefi_report(
    request: Request,
    principal: AefiReader,
    ctx: Ctx,
    page_no: Annotated[int, Query(alias="page", ge=1, le=10_000)] = 1,
) -> Response:
    """``GET /api/staff/aefi``: counts by severity and vaccine, and de-identified reports (no
    name, no identifier, no free text) within the admin's jurisdiction."""
    overview = await aefi.list_for_admin(ctx, actor=principal, page=page_no, limit=PAGE)
    reports_shown = [
        {
            "id": report.id,
            "center_id": report.center_id,
            "vaccine": report.vaccine_code,
            "dose": dose,
            "symptoms": [str(s) for s in json.loads(report.symptoms)],
            "onset": report.onset_on,
            "severity": report.severity,
            "outcome": report.outcome,
            "reporter_kind": report.reporter_kind,
        }
        for report, dose in overview.reports
    ]
    return _answer(
        request,
        "staff_aefi_report.html",
        None,
        overview=overview,
        reports=reports_shown,
        page_no=page_no,
        more=len(reports_shown) == PAGE,
    )
