"""Pages of the portal: each one parses, authorizes with one guard, and calls the service
function its API route calls; nothing here decides a rule."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import segno
from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from pydantic import Field

from immunet.booking import hooks as _hooks  # noqa: F401 - appointments in the family list
from immunet.booking import service as booking
from immunet.booking.schemas import CancelRequest, ScheduleRequest
from immunet.certificates import service as certificates
from immunet.certificates._safe import MAX_QR_TEXT
from immunet.context import AppContext
from immunet.errors import ApiError, NotFound
from immunet.geography import service as geography
from immunet.oversight import coverage, reports
from immunet.oversight import service as oversight
from immunet.oversight.schemas import DisputeRequest
from immunet.partners import resources as partners
from immunet.partners.resources import ConsentNotFound
from immunet.people import auth
from immunet.people import service as people
from immunet.people.compat import beneficiary_payloads
from immunet.people.schemas import (
    DeleteBeneficiaryRequest,
    GenerateOtpRequest,
    NewBeneficiaryRequest,
    Strict,
)
from immunet.security.access import (
    PUBLIC,
    PUBLIC_UNLIMITED,
    CitizenPrincipal,
    PublicCaller,
    request_app_context,
)
from immunet.sessions import availability
from immunet.staff.guards import PasswordChangeRequired
from immunet.vaccination import card
from immunet.web import i18n
from immunet.web.guards import SESSION_COOKIE, WEB_CITIZEN, LoginRequired
from immunet.web.render import gettext_for, page, translate_error
from immunet.web.security import (
    LANG_COOKIE,
    FormRejected,
    delete_cookie,
    finish,
    parse,
    read_form,
    safe_next,
    set_cookie,
)

router = APIRouter(include_in_schema=False)

Ctx = Annotated[AppContext, Depends(request_app_context)]
Public = Annotated[PublicCaller, Depends(PUBLIC)]
Anyone = Annotated[PublicCaller, Depends(PUBLIC_UNLIMITED)]
Citizen = Annotated[CitizenPrincipal, Depends(WEB_CITIZEN)]

STATIC = Path(__file__).parent / "static"
STATIC_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".js": "text/javascript",
    ".woff": "font/woff",
    ".txt": "text/plain; charset=utf-8",
}
ReferenceId = Annotated[str, Query(min_length=1, max_length=20, pattern=r"^[0-9A-Za-z-]+$")]
Done = Annotated[
    Literal["added", "removed", "booked", "cancelled", "disputed", "signed-out", "revoked"] | None,
    Query(),
]


def _(message: str) -> str:
    """Marks a message for extraction; templates translate it when they show it."""
    return message


def _see_other(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


def _html_date(value: str | None) -> dt.date | None:
    """An ``<input type=date>`` value (YYYY-MM-DD), or None when absent or malformed."""
    if not value or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


def _small_int(value: str | None) -> int:
    """A form's number field; 0 (refused by the API's model) when it is not one."""
    return int(value) if value and value.isascii() and value.isdigit() and len(value) < 4 else 0


def _today(ctx: AppContext) -> dt.date:
    return ctx.clock.now().astimezone(i18n.INDIA).date()


def _cowin_day(day: dt.date) -> str:
    return day.strftime("%d-%m-%Y")


def _refused(request: Request, exc: ApiError, template: str, **values: Any) -> Response:
    """A service refusal shown on the page that asked, in the reader's language."""
    response = page(
        request,
        template,
        status_code=exc.status_code,
        error=translate_error(request, exc),
        **values,
    )
    response.headers.update(exc.headers)
    return response


# -- assets and language -------------------------------------------------------------------


@router.get("/static/{name}")
async def static_file(
    name: Annotated[
        str, PathParam(max_length=64, pattern=r"^[A-Za-z0-9-]+\.(css|svg|js|woff|txt)$")
    ],
    _caller: Anyone,
) -> Response:
    path = STATIC / name
    if not re.fullmatch(r"[A-Za-z0-9-]+\.(css|svg|js|woff|txt)", name) or not path.is_file():
        raise NotFound()
    return FileResponse(
        path,
        media_type=STATIC_TYPES[path.suffix],
        headers={"Cache-Control": "public, max-age=3600"},
    )


@router.get("/lang")
async def switch_language(
    request: Request,
    _caller: Anyone,
    to: Annotated[str, Query(max_length=8)],
    next: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    response = _see_other(safe_next(next))
    if to in i18n.LOCALES:
        # Not a secret, and read on the first request of a visit from any link: Lax.
        response.set_cookie(
            LANG_COOKIE, to, max_age=365 * 86400, path="/", samesite="lax", httponly=True
        )
    return response


# -- public ------------------------------------------------------------------------------------


@router.get("/")
async def home(
    request: Request,
    caller: Public,
    ctx: Ctx,
    pincode: Annotated[str | None, Query(max_length=6)] = None,
    state_id: Annotated[int | None, Query(ge=1, le=1000)] = None,
    district_id: Annotated[int | None, Query(ge=1, le=100000)] = None,
    date: Annotated[str | None, Query(max_length=10)] = None,
) -> Response:
    day = _html_date(date) or _today(ctx)
    async with ctx.db.reader() as session:
        states = await geography.list_states(session)
        districts = await geography.list_districts(session, state_id) if state_id else []
    values: dict[str, Any] = {
        "states": states,
        "districts": districts,
        "state_id": state_id,
        "district_id": district_id,
        "pincode": pincode or "",
        "day": day,
        "centers": None,
    }
    query = None
    try:
        if pincode:
            query = availability.find_by_pin(pincode, _cowin_day(day), None)
        elif district_id:
            query = availability.find_by_district(str(district_id), _cowin_day(day), None)
        if query is not None:
            body = await availability.answer(ctx, query)
            values["centers"] = _group_by_center(json.loads(body.content)["sessions"])
    except ApiError as exc:
        return _refused(request, exc, "index.html", **values)
    return page(request, "index.html", **values)


def _group_by_center(sessions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """findBy* answers one row per session carrying its centre: one group per centre."""
    centers: dict[int, dict[str, Any]] = {}
    for item in sessions:
        center = centers.setdefault(int(item["center_id"]), {"center": item, "sessions": []})
        center["sessions"].append(item)
    return list(centers.values())


@router.get("/dashboard")
async def dashboard(
    request: Request,
    _caller: Public,
    ctx: Ctx,
    state_id: Annotated[int | None, Query(ge=1, le=100)] = None,
) -> Response:
    charts = []
    for group, title in (
        (reports.PublicGroup.DAY, _("Doses per day")),
        (reports.PublicGroup.STATE, _("Doses by state")),
        (reports.PublicGroup.VACCINE, _("Vaccine mix")),
    ):
        report = await reports.public_doses_report(ctx, group_by=group)
        charts.append(_chart(str(group), title, report))
    # Universal immunization: one state at a time over the last year, as the public
    # coverage route answers it (same service, same suppression, same hour's cache).
    last = _today(ctx).replace(day=1)
    first = _months_before(last, coverage.PUBLIC_MAX_MONTHS - 1)
    async with ctx.db.reader() as session:
        states = await geography.list_states(session)
        districts = (
            {
                d.district_id: d.district_name
                for d in await geography.list_districts(session, state_id)
            }
            if state_id
            else {}
        )
    rows = (
        await coverage.public_coverage(ctx, state_id=state_id, first=first, last=last)
        if state_id
        else None
    )
    return page(
        request,
        "dashboard.html",
        charts=charts,
        days=reports.PUBLIC_DAYS,
        states=states,
        state_id=state_id,
        state_name=next((s.state_name for s in states if s.state_id == state_id), ""),
        coverage_rows=rows,
        districts=districts,
        first=first,
        last=last,
    )


def _months_before(month: dt.date, n: int) -> dt.date:
    """The first day of the month ``n`` months before ``month`` (a first day itself)."""
    index = month.year * 12 + month.month - 1 - n
    return dt.date(index // 12, index % 12 + 1, 1)


def _chart(key: str, title: str, report: reports.DoseReport) -> dict[str, Any]:
    """A horizontal bar chart drawn as SVG on the server (no script); hidden cells draw no
    bar and say so, as the table beside the chart does."""
    numbers = [v for v in report.cells.values() if isinstance(v, int)]
    top = max(numbers, default=0) or 1
    bars = [
        {
            "label": label,
            "value": value,
            "width": round(300 * value / top, 1) if isinstance(value, int) else 0,
            "y": 24 * index,
        }
        for index, (label, value) in enumerate(report.cells.items())
    ]
    return {
        "key": key,
        "title": title,
        "bars": bars,
        "total": report.total,
        "height": max(24, 24 * len(bars)),
        "first": report.first,
        "last": report.last,
    }


# -- citizen: login ----------------------------------------------------------------------------


class OtpForm(Strict):
    txn: str = Field(min_length=36, max_length=36)
    otp: str = Field(min_length=6, max_length=6, pattern=r"^[0-9]{6}$")


@router.get("/login")
async def login_page(request: Request, _caller: Public) -> Response:
    return page(request, "login.html", step="mobile", mobile="")


@router.post("/login")
async def send_otp(request: Request, caller: Public, ctx: Ctx) -> Response:
    form = await read_form(request)
    mobile = form.get("mobile", "").strip()
    try:
        try:
            body = parse(GenerateOtpRequest, {"mobile": mobile})
        except FormRejected as exc:  # the API's model bounds it; the answer names the field
            raise auth.InvalidMobile() from exc
        txn = await auth.request_otp(ctx, body.mobile, context=caller.context)
    except ApiError as exc:
        return _refused(request, exc, "login.html", step="mobile", mobile="")
    return page(request, "login.html", step="otp", txn=txn)


@router.post("/login/verify")
async def verify_otp(request: Request, caller: Public, ctx: Ctx) -> Response:
    form = await read_form(request)
    txn = form.get("txn", "")
    try:
        parsed = parse(OtpForm, {"txn": txn, "otp": form.get("otp", "").strip()})
        digest = hashlib.sha256(parsed.otp.encode("ascii")).hexdigest()
        token = await auth.confirm_otp(ctx, parsed.txn, digest, context=caller.context)
    except ApiError as exc:
        shown = txn if re.fullmatch(r"[0-9a-f-]{36}", txn) else ""
        return _refused(request, exc, "login.html", step="otp", txn=shown)
    response = _see_other("/me")
    set_cookie(response, request, SESSION_COOKIE, token)
    return finish(request, response)


@router.post("/logout")
async def logout(request: Request, principal: Citizen, ctx: Ctx) -> Response:
    await read_form(request)
    await auth.logout(ctx, principal)
    response = _see_other("/login?done=signed-out")
    delete_cookie(response, request, SESSION_COOKIE)
    return response


# -- citizen: the family ---------------------------------------------------------------------


def _family_form() -> dict[str, Any]:
    return {"genders": people.GENDERS, "id_types": people.ID_TYPES}


async def _family(ctx: AppContext, principal: CitizenPrincipal) -> list[dict[str, Any]]:
    views = await people.list_beneficiaries(ctx, actor=principal)
    payloads = await beneficiary_payloads(ctx, views)
    for view, payload in zip(views, payloads, strict=True):
        payload["category"] = view.category
    return payloads


async def _cards(
    ctx: AppContext, principal: CitizenPrincipal, family: list[dict[str, Any]]
) -> dict[str, card.Card | None]:
    """Each child's immunization card as the card service reads it (doses given, next due
    dates); None while no routine dose is recorded (the API's card answers 404 then)."""
    cards: dict[str, card.Card | None] = {}
    for member in family:
        if member["category"] != "child":
            continue
        reference = str(member["beneficiary_reference_id"])
        try:
            cards[reference] = await card.card_content(ctx, reference, actor=principal)
        except card.CardNotFound:
            cards[reference] = None
    return cards


@router.get("/me")
async def me(request: Request, principal: Citizen, ctx: Ctx, done: Done = None) -> Response:
    family = await _family(ctx, principal)
    cards = await _cards(ctx, principal, family)
    return page(request, "me.html", family=family, cards=cards, done=done, **_family_form())


async def _me_refused(
    request: Request, exc: ApiError, ctx: AppContext, principal: CitizenPrincipal
) -> Response:
    family = await _family(ctx, principal)
    cards = await _cards(ctx, principal, family)
    return _refused(
        request, exc, "me.html", family=family, cards=cards, done=None, **_family_form()
    )


@router.get("/me/card.pdf")
async def card_pdf(principal: Citizen, ctx: Ctx, beneficiary: ReferenceId) -> Response:
    pdf = await card.own_card_pdf(ctx, beneficiary, actor=principal)
    return _pdf(pdf, "immunization-card.pdf")


@router.post("/me/members")
async def add_member(request: Request, principal: Citizen, ctx: Ctx) -> Response:
    form = await read_form(request)
    try:
        born = _html_date(form.get("date_of_birth"))
        id_type = form.get("photo_id_type", "")
        body = parse(
            NewBeneficiaryRequest,
            {
                "name": form.get("name", "").strip(),
                "birth_year": form.get("birth_year", "").strip() or None,
                "date_of_birth": born.strftime("%d-%m-%Y") if born else None,
                "gender_id": _small_int(form.get("gender_id")),
                "photo_id_type": _small_int(id_type) if id_type else None,
                "photo_id_number": form.get("photo_id_number", "").strip() or None,
            },
        )
        await people.register_beneficiary(ctx, body, actor=principal)
    except ApiError as exc:
        return await _me_refused(request, exc, ctx, principal)
    return _see_other("/me?done=added")


@router.post("/me/members/remove")
async def remove_member(request: Request, principal: Citizen, ctx: Ctx) -> Response:
    form = await read_form(request)
    try:
        body = parse(DeleteBeneficiaryRequest, {"beneficiary_reference_id": form.get("ref", "")})
        await people.delete_beneficiary(ctx, body.beneficiary_reference_id, actor=principal)
    except ApiError as exc:
        return await _me_refused(request, exc, ctx, principal)
    return _see_other("/me?done=removed")


# -- citizen: booking ------------------------------------------------------------------------


def _own(family: list[dict[str, Any]], reference_id: str) -> dict[str, Any]:
    for member in family:
        if member["beneficiary_reference_id"] == reference_id:
            return member
    raise NotFound()


@router.get("/me/book")
async def book_page(
    request: Request,
    principal: Citizen,
    ctx: Ctx,
    beneficiary: ReferenceId,
    pincode: Annotated[str | None, Query(max_length=6)] = None,
    date: Annotated[str | None, Query(max_length=10)] = None,
    appointment: Annotated[str | None, Query(max_length=36)] = None,
) -> Response:
    family = await _family(ctx, principal)
    member = _own(family, beneficiary)
    day = _html_date(date) or _today(ctx)
    values: dict[str, Any] = {
        "member": member,
        "pincode": pincode or "",
        "day": day,
        "centers": None,
        "appointment": appointment,
    }
    values["eligibility"] = {}
    if pincode:
        try:
            query = availability.find_by_pin(pincode, _cowin_day(day), None)
            body = await availability.answer(ctx, query)
            found = json.loads(body.content)["sessions"]
            values["centers"] = _group_by_center(found)
            values["eligibility"] = await _eligibility(
                request, ctx, principal, family, [str(s["session_id"]) for s in found], appointment
            )
        except ApiError as exc:
            return _refused(request, exc, "book.html", **values)
    return page(request, "book.html", **values)


async def _eligibility(
    request: Request,
    ctx: AppContext,
    principal: CitizenPrincipal,
    family: list[dict[str, Any]],
    session_ids: list[str],
    appointment: str | None,
) -> dict[str, list[dict[str, Any]]]:
    """Per session: each family member, the dose they would book and why they cannot
    (the booking's own rules, :func:`booking.eligibility`), named for the page."""
    names = {m["beneficiary_reference_id"]: m["name"] for m in family}
    answers = await booking.eligibility(ctx, session_ids, actor=principal, rescheduling=appointment)
    shown: dict[str, list[dict[str, Any]]] = {}
    for answer in answers:
        shown.setdefault(answer.session_id, []).append(
            {
                "name": names.get(answer.reference_id, ""),
                "dose": answer.dose,
                "eligible": answer.eligible,
                "reason": translate_error(request, answer.refusal) if answer.refusal else "",
            }
        )
    return shown


@router.post("/me/book")
async def book(request: Request, principal: Citizen, ctx: Ctx) -> Response:
    form = await read_form(request)
    choice = form.get("choice", "")
    session_id, _, slot = choice.partition("|")
    reference = form.get("beneficiary", "")
    try:
        if form.get("appointment"):
            from immunet.booking.schemas import RescheduleRequest

            moved = parse(
                RescheduleRequest,
                {"appointment_id": form["appointment"], "session_id": session_id, "slot": slot},
            )
            await booking.reschedule(ctx, moved, actor=principal, idempotency_key=None)
        else:
            # The dose is the series' next for the session's vaccine, decided here as the
            # page's eligibility column shows it (a routine vaccine's, not the COVID count),
            # never taken from the form. Not the account's person, or no such session: the
            # booking refuses it for that reason, whatever the dose.
            dose = await booking.dose_to_book(ctx, session_id, reference, actor=principal)
            body = parse(
                ScheduleRequest,
                {
                    "dose": dose or 1,
                    "session_id": session_id,
                    "slot": slot,
                    "beneficiaries": [reference],
                },
            )
            await booking.schedule(ctx, body, actor=principal, idempotency_key=None)
    except ApiError as exc:
        return await _me_refused(request, exc, ctx, principal)
    return _see_other("/me?done=booked")


@router.post("/me/cancel")
async def cancel(request: Request, principal: Citizen, ctx: Ctx) -> Response:
    form = await read_form(request)
    try:
        body = parse(
            CancelRequest,
            {
                "appointment_id": form.get("appointment", ""),
                "beneficiariesToCancel": [form.get("beneficiary", "")],
            },
        )
        await booking.cancel(ctx, body, actor=principal, idempotency_key=None)
    except ApiError as exc:
        return await _me_refused(request, exc, ctx, principal)
    return _see_other("/me?done=cancelled")


def _pdf(content: bytes, filename: str) -> Response:
    return Response(
        content,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/me/slip")
async def slip(
    principal: Citizen,
    ctx: Ctx,
    appointment: Annotated[str, Query(min_length=1, max_length=36)],
) -> Response:
    pdf = await booking.appointment_slip(ctx, appointment, actor=principal)
    return _pdf(pdf, "appointment-slip.pdf")


# -- citizen: certificates -----------------------------------------------------------------


def _qr_svg(text: str) -> str:
    """The QR as inline SVG markup (no script, no style attribute: CSP-clean)."""
    qr = segno.make(text, error="m", micro=False)
    svg: str = qr.svg_inline(scale=3, border=4, omitsize=True, svgclass="qr", lineclass=None)
    return svg


@router.get("/me/certificate")
async def certificate_page(
    request: Request, principal: Citizen, ctx: Ctx, beneficiary: ReferenceId
) -> Response:
    member = _own(await _family(ctx, principal), beneficiary)
    try:
        formats = await certificates.certificate_formats(ctx, beneficiary, actor=principal)
    except ApiError as exc:
        return _refused(request, exc, "certificate.html", member=member, codes=[])
    texts = [("vc", formats["vc"]["qr"]), ("dcc", formats["dcc"]["qr"])]
    texts += [("shc", chunk) for chunk in formats["shc"]["qr"]]
    codes = [(kind, FORMATS[kind], _qr_svg(text), text) for kind, text in texts]
    return page(request, "certificate.html", member=member, codes=codes)


@router.get("/me/certificate.pdf")
async def certificate_pdf(principal: Citizen, ctx: Ctx, beneficiary: ReferenceId) -> Response:
    pdf = await certificates.certificate_pdf(ctx, beneficiary, actor=principal)
    return _pdf(pdf, "vaccination-certificate.pdf")


# -- citizen: who saw my data ----------------------------------------------------------------


@router.get("/me/access-log")
async def access_log(request: Request, principal: Citizen, ctx: Ctx, done: Done = None) -> Response:
    entries, _next = await oversight.access_log(ctx, actor=principal)
    return page(request, "access_log.html", entries=entries, done=done)


@router.post("/me/access-log/dispute")
async def dispute(request: Request, principal: Citizen, ctx: Ctx) -> Response:
    form = await read_form(request)
    entry = form.get("entry", "")
    try:
        body = parse(DisputeRequest, {"reason": form.get("reason", "").strip()})
        if not entry.isdigit() or len(entry) > 18:
            raise NotFound()
        await oversight.open_dispute(ctx, int(entry), reason=body.reason, actor=principal)
    except ApiError as exc:
        entries, _next = await oversight.access_log(ctx, actor=principal)
        return _refused(request, exc, "access_log.html", entries=entries, done=None)
    return _see_other("/me/access-log?done=disputed")


@router.get("/me/data")
async def data_summary(request: Request, principal: Citizen, ctx: Ctx) -> Response:
    summary = await oversight.data_summary(ctx, actor=principal)
    return page(
        request,
        "data_summary.html",
        summary=summary,
        held=oversight.HELD_FIELDS,
        purposes=oversight.PURPOSES,
    )


# -- citizen: partner consents -----------------------------------------------------------------


async def _consents_values(ctx: AppContext, principal: CitizenPrincipal) -> dict[str, Any]:
    consents = await partners.list_consents(ctx, actor=principal)
    names = {v.reference_id: v.name for v in await people.list_beneficiaries(ctx, actor=principal)}
    return {"consents": consents, "names": names, "everyone": partners.ALL_BENEFICIARIES}


@router.get("/me/consents")
async def consents_page(
    request: Request, principal: Citizen, ctx: Ctx, done: Done = None
) -> Response:
    return page(request, "consents.html", done=done, **await _consents_values(ctx, principal))


@router.post("/me/consents/revoke")
async def revoke_consent(request: Request, principal: Citizen, ctx: Ctx) -> Response:
    form = await read_form(request)
    consent = form.get("consent", "")
    try:
        # The API's path bound; anything else is the same "no such consent" as an unknown one.
        if not re.fullmatch(r"[0-9a-f]{1,32}", consent):
            raise ConsentNotFound()
        await partners.revoke_consent(ctx, consent, actor=principal)
    except ApiError as exc:
        values = await _consents_values(ctx, principal)
        return _refused(request, exc, "consents.html", done=None, **values)
    return _see_other("/me/consents?done=revoked")


# -- verifier ----------------------------------------------------------------------------------


REASONS = {
    "ok": _("The certificate is valid."),
    "bad_encoding": _("This is not the text of a certificate QR code, or it is damaged."),
    "bad_signature": _("The signature does not match: the certificate was altered or forged."),
    "unknown_key": _("The certificate was signed by a key that is not on the trust list."),
    "key_not_allowed": _("The signing key is not allowed to sign this kind of certificate."),
    "expired": _("The certificate is expired or not valid yet."),
    "revoked": _("The certificate was revoked by its issuer."),
    "schema_error": _("The certificate's content does not follow its format."),
}
FORMATS = {
    "vc": _("W3C Verifiable Credential"),
    "dcc": _("EU Digital COVID Certificate"),
    "shc": _("SMART Health Card"),
}


def _flatten(value: Any, prefix: str = "", out: list[tuple[str, str]] | None = None) -> Any:
    """A certificate's fields as (dotted name, text) rows, bounded."""
    rows = [] if out is None else out
    if len(rows) >= 60:
        return rows
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(item, f"{prefix}.{key}" if prefix else str(key), rows)
    elif isinstance(value, list):
        for index, item in enumerate(value[:10]):
            _flatten(item, f"{prefix}[{index + 1}]", rows)
    else:
        rows.append((prefix, str(value)[:200]))
    return rows


OFFLINE_TEXTS = {
    "valid": _("Valid"),
    "invalid": _("Not valid"),
    "format": _("Format"),
    "carries": _("What the certificate carries"),
    "offline": _("Checked in this browser without network, with the saved trust list."),
    "unchecked": _("Not checked"),
    "connect": _("This certificate cannot be checked without network here. Connect and try again."),
    "saved": _("Trust list and revocations saved for offline use: {date} ({minutes} minutes old)."),
    "aim": _("Point the camera at the QR code."),
    "part": _("Read part {n} of {total}. Show the next part."),
    "nocamera": _("The camera could not be opened. Paste the QR text or upload a photo."),
    "stop": _("Stop the camera"),
    "scan": _("Scan with the camera"),
}


def _offline_texts(request: Request) -> dict[str, Any]:
    """The offline verifier's words in the reader's language, as data for verify.js."""
    gettext = gettext_for(request)
    texts: dict[str, Any] = {key: gettext(text) for key, text in OFFLINE_TEXTS.items()}
    texts["reasons"] = {key: gettext(text) for key, text in REASONS.items()}
    texts["formats"] = {key: gettext(text) for key, text in FORMATS.items()}
    return texts


def _verify_page(request: Request, result: Any = None, **values: Any) -> Response:
    return page(
        request,
        "verify.html",
        result=result,
        reasons=REASONS,
        formats=FORMATS,
        offline_texts=_offline_texts(request),
        rows=_flatten(result.fields) if result is not None and result.valid else [],
        **values,
    )


@router.get("/verify")
async def verify_page(request: Request, _caller: Public) -> Response:
    return _verify_page(request)


@router.post("/verify")
async def verify(request: Request, _caller: Public, ctx: Ctx) -> Response:
    form = await read_form(request)
    text = form.get("qr", "").strip()
    if not text or len(text) > MAX_QR_TEXT:
        exc = FormRejected()
        response = _verify_page(request, error=translate_error(request, exc))
        response.status_code = exc.status_code
        return response
    return _verify_page(request, await certificates.verify(ctx, text))


# The offline verifier: a web app manifest, a service worker (served under /verify so that its
# scope covers the page) and the trust list it caches. Their text never holds personal data.
MANIFEST = {
    "name": "immunet verifier",
    "short_name": "Verify",
    "start_url": "/verify",
    "scope": "/verify",
    "display": "standalone",
    "background_color": "#ffffff",
    "theme_color": "#0b5394",
    "icons": [{"src": "/static/verify-icon.svg", "sizes": "any", "type": "image/svg+xml"}],
}


@router.get("/verify/manifest.webmanifest")
async def verify_manifest(_caller: Anyone) -> Response:
    return JSONResponse(
        MANIFEST,
        media_type="application/manifest+json",
        headers={"Cache-Control": "public, max-age=3600"},
    )


@router.get("/verify/sw.js")
async def verify_service_worker(_caller: Anyone) -> Response:
    # Browsers refetch the worker script on navigation; no-cache keeps updates prompt.
    return FileResponse(
        STATIC / "verify-sw.js",
        media_type="text/javascript",
        headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/verify"},
    )


@router.get("/verify/offline.json")
async def verify_offline_trust(_caller: Public, ctx: Ctx) -> Response:
    bundle = await certificates.offline_verifier_bundle(ctx)
    return JSONResponse(bundle, headers={"Cache-Control": "no-cache"})


# -- assembly ------------------------------------------------------------------------------------


PAGE_ENDPOINTS = frozenset(route.endpoint for route in router.routes if hasattr(route, "endpoint"))


def install(app: FastAPI) -> None:
    """Mount the pages, and answer their refusals as pages (the API keeps JSON)."""
    from immunet.partners.pages import router as partner_router
    from immunet.web.staff_facility_pages import router as facility_router
    from immunet.web.staff_oversight_pages import router as oversight_router
    from immunet.web.staff_pages import router as staff_router

    app.include_router(router)
    app.include_router(staff_router)
    app.include_router(facility_router)
    app.include_router(oversight_router)
    app.include_router(partner_router)  # the OAuth authorization (consent) page
    page_endpoints = PAGE_ENDPOINTS | {
        route.endpoint
        for extra in (staff_router, facility_router, oversight_router, partner_router)
        for route in extra.routes
        if hasattr(route, "endpoint")
    }
    api_handler: Any = app.exception_handlers[ApiError]

    async def refusal(request: Request, exc: Exception) -> Response:
        endpoint = getattr(request.scope.get("route"), "endpoint", None)
        if endpoint not in page_endpoints or not isinstance(exc, ApiError):
            answer: Response = await api_handler(request, exc)
            return answer
        if isinstance(exc, LoginRequired):
            return _see_other(exc.login_path)
        if isinstance(exc, PasswordChangeRequired):
            return _see_other("/staff/password")
        response = page(
            request,
            "error.html",
            status_code=exc.status_code,
            error=translate_error(request, exc),
        )
        response.headers.update(exc.headers)
        return response

    app.exception_handlers[ApiError] = refusal
