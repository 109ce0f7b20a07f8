"""The vaccinator's API (staff) and the citizen's AEFI report. Thin: parse, guard, call, shape."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Response

from immunet.booking.rules import today_in_india
from immunet.context import AppContext
from immunet.people.service import BeneficiaryView
from immunet.security.access import CITIZEN, CitizenPrincipal, request_app_context
from immunet.staff.guards import STAFF
from immunet.staff.permissions import Permission
from immunet.staff.principal import StaffPrincipal
from immunet.vaccination import aefi, card, due, regional, routine, service, stock
from immunet.vaccination.models import DoseRecord
from immunet.vaccination.schemas import (
    MAX_PAGE,
    AefiCount,
    AefiCreated,
    AefiDetail,
    AefiListResponse,
    CheckInRequest,
    CheckInResponse,
    CitizenAefiRequest,
    DoseSummary,
    DueLineOut,
    DueListEntry,
    DueListResponse,
    FixedCheckInRequest,
    FixedRecordDoseRequest,
    ImmunizationCardResponse,
    LookupConfirmRequest,
    LookupConfirmResponse,
    LookupOtpRequest,
    LookupOtpResponse,
    MaskedBeneficiary,
    NewStockRequest,
    NewStockResponse,
    RecordDoseRequest,
    RecordDoseResponse,
    RegionalVaccinesRequest,
    RegionalVaccinesResponse,
    RosterEntry,
    RosterResponse,
    RoutineSessionRequest,
    RoutineSessionResponse,
    StaffAefiRequest,
    StockBatchOut,
    StockListResponse,
    VoidDoseRequest,
    VoidDoseResponse,
    WalkInRegistrationRequest,
    WalkInRegistrationResponse,
    WasteRequest,
)

router = APIRouter(prefix="/api/staff", tags=["staff: vaccination"])
citizen_router = APIRouter(prefix="/api/v2/me", tags=["citizen: vaccination"])

Ctx = Annotated[AppContext, Depends(request_app_context)]
Roster = Annotated[StaffPrincipal, Depends(STAFF(Permission.ROSTER_READ))]
Planner = Annotated[StaffPrincipal, Depends(STAFF(Permission.SESSION_PUBLISH))]
Vaccinator = Annotated[StaffPrincipal, Depends(STAFF(Permission.DOSE_RECORD))]
Corrector = Annotated[StaffPrincipal, Depends(STAFF(Permission.DOSE_CORRECT))]
StockManager = Annotated[StaffPrincipal, Depends(STAFF(Permission.STOCK_MANAGE))]
StockReader = Annotated[StaffPrincipal, Depends(STAFF(Permission.STOCK_READ))]
AefiReporter = Annotated[StaffPrincipal, Depends(STAFF(Permission.AEFI_REPORT))]
AefiReader = Annotated[StaffPrincipal, Depends(STAFF(Permission.AEFI_READ))]
Citizen = Annotated[CitizenPrincipal, Depends(CITIZEN)]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=256)]
Page = Annotated[int, Query(ge=1, le=10_000)]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]
SessionId = Annotated[str, Path(min_length=1, max_length=36)]
AppointmentId = Annotated[str, Path(min_length=1, max_length=36)]
# The last appointment of the previous roster page (the answer's ``next_cursor``).
RosterCursor = Annotated[str | None, Query(min_length=1, max_length=36)]
TxnId = Annotated[str, Path(min_length=36, max_length=36)]
RowId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _masked(view: BeneficiaryView) -> dict[str, object]:
    return {
        "beneficiary_reference_id": view.reference_id,
        "name": view.name,
        "birth_year": view.birth_year,
        "photo_id_type": view.photo_id_type,
        "photo_id_number": view.masked_id_number,
        "id_conflict": view.id_conflict,
    }


# -- roster and check-in ----------------------------------------------------------------------


@router.get("/sessions/{session_id}/roster", response_model=RosterResponse)
async def session_roster(
    session_id: SessionId,
    principal: Roster,
    ctx: Ctx,
    page: Page = 1,
    limit: Limit = 50,
    after: RosterCursor = None,
) -> RosterResponse:
    result = await service.roster(
        ctx, session_id, actor=principal, page=page, limit=limit, after=after
    )
    return RosterResponse(
        next_cursor=result.next_cursor,
        session_id=result.session.session_id,
        date=result.session.date.strftime("%d-%m-%Y"),
        vaccine=result.session.vaccine_code,
        page=page,
        limit=limit,
        appointments=[
            RosterEntry(
                appointment_id=line.appointment.appointment_id,
                dose=line.appointment.dose,
                slot=line.appointment.slot,
                status=service.roster_status(line.appointment),
                **_masked(line.view),
            )
            for line in result.lines
        ],
    )


DayParam = Annotated[str | None, Query(pattern=r"^\d{2}-\d{2}-\d{4}$", description="DD-MM-YYYY")]


def _day(value: dt.date | None) -> str | None:
    return value.strftime("%d-%m-%Y") if value is not None else None


@router.get("/due-list", response_model=DueListResponse, tags=["staff: immunization"])
async def due_list(
    principal: Roster,
    ctx: Ctx,
    from_: Annotated[DayParam, Query(alias="from")] = None,
    to: DayParam = None,
    vaccine_group: Annotated[str | None, Query(min_length=1, max_length=40)] = None,
    after: Annotated[str | None, Query(pattern=r"^[0-9]{14}$")] = None,
    limit: Limit = 50,
) -> DueListResponse:
    page = await due.due_list(
        ctx,
        actor=principal,
        start=due.parse_day(from_, "from"),
        end=due.parse_day(to, "to"),
        group=vaccine_group,
        after=after,
        limit=limit,
    )
    return DueListResponse.model_validate(
        {
            "as_of": _day(page.as_of),
            "from": _day(page.start),
            "to": _day(page.end),
            "limit": limit,
            "next_after": page.next_after,
            "people": [
                DueListEntry(
                    beneficiary_reference_id=entry.view.reference_id,
                    name=entry.view.name,
                    birth_year=entry.view.birth_year,
                    category=entry.view.category,
                    due=[
                        DueLineOut(
                            vaccine_group=line.group,
                            dose_number=line.dose_number,
                            status=line.status,
                            recommended_date=line.recommended.strftime("%d-%m-%Y"),
                            past_due_date=_day(line.past_due),
                            latest_date=_day(line.latest),
                        )
                        for line in entry.lines
                    ],
                )
                for entry in page.entries
            ],
        }
    )


@router.post(
    "/routine-sessions",
    status_code=201,
    response_model=RoutineSessionResponse,
    tags=["staff: immunization"],
)
async def plan_routine_session(
    body: RoutineSessionRequest, principal: Planner, ctx: Ctx
) -> RoutineSessionResponse:
    """A routine session of the own facility, inviting its catchment's people due then."""
    plan = await routine.plan_routine_session(
        ctx,
        routine.RoutineForm(
            date=_required_day(body.date, "date"),
            due_to=due.parse_day(body.due_to, "due_to"),
            groups=tuple(body.vaccine_groups),
            site_kind=body.site_kind,
            site_name=body.site_name,
            site_location=body.site_location,
            capacity=body.capacity,
            slots=tuple(body.slots),
        ),
        actor=principal,
    )
    return RoutineSessionResponse(
        session_id=plan.session_id,
        center_id=plan.center_id,
        date=plan.date.strftime("%d-%m-%Y"),
        due_from=plan.due_from.strftime("%d-%m-%Y"),
        due_to=plan.due_to.strftime("%d-%m-%Y"),
        vaccine_groups=list(plan.groups),
        site_kind=plan.site_kind,
        site_name=plan.site_name,
        site_location=plan.site_location,
        capacity=plan.capacity,
        invited=plan.invited,
        already_invited=plan.already_invited,
        more_due=plan.more_due,
        sms_queued=plan.sms_queued,
    )


def _required_day(value: str, field: str) -> dt.date:
    day = due.parse_day(value, field)
    assert day is not None
    return day


def _checked_in(result: service.CheckIn) -> CheckInResponse:
    return CheckInResponse(
        appointment_id=result.appointment.appointment_id,
        status=service.roster_status(result.appointment),
        dose=result.appointment.dose,
        vaccine=result.vaccine,
        **_masked(result.view),
    )


@router.post("/appointments/{appointment_id}/check-in", response_model=CheckInResponse)
async def check_in(
    appointment_id: AppointmentId, body: CheckInRequest, principal: Vaccinator, ctx: Ctx
) -> CheckInResponse:
    return _checked_in(await service.check_in(ctx, appointment_id, body.code, actor=principal))


@router.post("/checkin", response_model=CheckInResponse)
async def check_in_fixed(
    body: FixedCheckInRequest, principal: Vaccinator, ctx: Ctx
) -> CheckInResponse:
    result = await service.check_in(ctx, body.appointment_id, body.secret_code, actor=principal)
    return _checked_in(result)


# -- walk-ins ---------------------------------------------------------------------------------


@router.post("/lookup/otp", response_model=LookupOtpResponse)
async def lookup_otp(body: LookupOtpRequest, principal: Vaccinator, ctx: Ctx) -> LookupOtpResponse:
    return LookupOtpResponse(txnId=await service.lookup_send_otp(ctx, body.mobile, actor=principal))


def _dose_summary(dose: DoseRecord) -> DoseSummary:
    return DoseSummary(
        dose=dose.dose_number,
        vaccine=dose.vaccine_code,
        date=dose.administered_on.strftime("%d-%m-%Y"),
    )


@router.post("/lookup/confirm", response_model=LookupConfirmResponse)
async def lookup_confirm(
    body: LookupConfirmRequest, principal: Vaccinator, ctx: Ctx
) -> LookupConfirmResponse:
    result = await service.lookup_confirm(ctx, body.txnId, body.otp, actor=principal)
    return LookupConfirmResponse(
        txnId=result.txn_id,
        expires_in=result.expires_in,
        beneficiaries=[
            MaskedBeneficiary(
                gender=view.gender,
                mobile_number=view.masked_mobile,
                doses=[_dose_summary(d) for d in doses],
                **_masked(view),
            )
            for view, doses in result.people
        ],
    )


@router.post("/lookup/{txn_id}/beneficiaries", response_model=WalkInRegistrationResponse)
async def register_walk_in(
    txn_id: TxnId,
    body: WalkInRegistrationRequest,
    principal: Vaccinator,
    ctx: Ctx,
) -> WalkInRegistrationResponse:
    registration = await service.register_walk_in(ctx, txn_id, body, actor=principal)
    return WalkInRegistrationResponse(beneficiary_reference_id=registration.reference_id)


# -- doses ------------------------------------------------------------------------------------


@router.post("/doses", status_code=201, response_model=RecordDoseResponse)
async def record_dose(
    body: RecordDoseRequest, principal: Vaccinator, ctx: Ctx, idempotency_key: IdempotencyKey = None
) -> Response:
    data = service.DoseInput(
        beneficiary_reference_id=body.beneficiary_reference_id,
        vaccine=body.vaccine,
        dose_number=body.dose_number,
        batch=body.batch,
        administered_at=body.administered_at,
        appointment_id=body.appointment_id,
        photo_id_checked=body.photo_id_checked,
        session_id=body.session_id,
    )
    result = await service.record_dose(ctx, data, actor=principal, idempotency_key=idempotency_key)
    return result.to_response()


@router.post("/vaccinations", status_code=201, response_model=RecordDoseResponse)
async def record_vaccination(
    body: FixedRecordDoseRequest,
    principal: Vaccinator,
    ctx: Ctx,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    data = service.DoseInput(
        beneficiary_reference_id=body.beneficiary_reference_id,
        vaccine=body.vaccine,
        dose_number=body.dose,
        batch=body.batch,
        session_id=body.session_id,
        photo_id_checked=body.photo_id_checked,
    )
    result = await service.record_dose(
        ctx, data, actor=principal, idempotency_key=idempotency_key, route="staff/vaccinations"
    )
    return result.to_response()


@router.post("/doses/{dose_id}/void", response_model=VoidDoseResponse)
async def void_dose(
    dose_id: RowId, body: VoidDoseRequest, principal: Corrector, ctx: Ctx
) -> VoidDoseResponse:
    dose = await service.void_dose(ctx, dose_id, body.reason, actor=principal)
    return VoidDoseResponse(dose_id=dose.id, status=dose.status)


# -- stock ------------------------------------------------------------------------------------


def _batch(view: stock.BatchView, today_expired: bool) -> StockBatchOut:
    return StockBatchOut(
        stock_id=view.stock_id,
        vaccine=view.vaccine,
        lot=view.lot,
        expiry=view.expires_on.strftime("%d-%m-%Y"),
        quantity_received=view.quantity_received,
        doses_used=view.doses_used,
        wasted=view.wasted,
        doses_left=view.doses_left,
        expired=today_expired,
    )


@router.post("/stock", status_code=201, response_model=NewStockResponse)
async def receive_stock(
    body: NewStockRequest, principal: StockManager, ctx: Ctx
) -> NewStockResponse:
    return NewStockResponse(stock_id=await stock.receive_batch(ctx, body, actor=principal))


@router.get("/stock", response_model=StockListResponse)
async def list_stock(
    principal: StockReader, ctx: Ctx, page: Page = 1, limit: Limit = 50
) -> StockListResponse:
    center_id, views = await stock.list_batches(ctx, actor=principal, page=page, limit=limit)
    today = today_in_india(ctx.clock.now())
    return StockListResponse(
        center_id=center_id, batches=[_batch(v, v.expires_on < today) for v in views]
    )


@router.post("/stock/{stock_id}/waste", response_model=StockBatchOut)
async def waste_stock(
    stock_id: RowId, body: WasteRequest, principal: StockManager, ctx: Ctx
) -> StockBatchOut:
    view = await stock.waste(ctx, stock_id, body, actor=principal)
    today = today_in_india(ctx.clock.now())
    return _batch(view, view.expires_on < today)


# -- AEFI -------------------------------------------------------------------------------------


@router.post("/aefi", status_code=201, response_model=AefiCreated)
async def report_aefi_staff(
    body: StaffAefiRequest, principal: AefiReporter, ctx: Ctx
) -> AefiCreated:
    return AefiCreated(aefi_id=await aefi.report_by_staff(ctx, body, actor=principal))


@router.get("/aefi", response_model=AefiListResponse)
async def list_aefi(
    principal: AefiReader, ctx: Ctx, page: Page = 1, limit: Limit = 50
) -> AefiListResponse:
    overview = await aefi.list_for_admin(ctx, actor=principal, page=page, limit=limit)
    return AefiListResponse(
        total=overview.total,
        by_severity=[AefiCount(key=k, count=n) for k, n in overview.by_severity],
        by_vaccine=[AefiCount(key=k, count=n) for k, n in overview.by_vaccine],
        page=page,
        limit=limit,
        reports=[
            AefiDetail(
                aefi_id=report.id,
                center_id=report.center_id,
                vaccine=report.vaccine_code,
                dose=dose,
                symptoms=[str(s) for s in json.loads(report.symptoms)],
                onset_date=report.onset_on.strftime("%d-%m-%Y"),
                severity=report.severity,
                outcome=report.outcome,
                reporter_kind=report.reporter_kind,
                reported_on=report.created_at.strftime("%d-%m-%Y"),
            )
            for report, dose in overview.reports
        ],
    )


CardRef = Annotated[str, Query(min_length=1, max_length=20)]


@router.get(
    "/districts/{district_id}/regional-vaccines",
    response_model=RegionalVaccinesResponse,
    tags=["staff: immunization"],
)
async def district_regional_vaccines(
    district_id: Annotated[int, Path(ge=1, le=100_000)],
    principal: Annotated[StaffPrincipal, Depends(STAFF(Permission.CENTER_READ))],
    ctx: Ctx,
) -> RegionalVaccinesResponse:
    got = await regional.get_district_regional(ctx, district_id, actor=principal)
    return RegionalVaccinesResponse(district_id=district_id, vaccine_groups=sorted(got.groups))


@router.put(
    "/districts/{district_id}/regional-vaccines",
    response_model=RegionalVaccinesResponse,
    tags=["staff: immunization"],
)
async def set_district_regional_vaccines(
    district_id: Annotated[int, Path(ge=1, le=100_000)],
    body: RegionalVaccinesRequest,
    principal: Annotated[StaffPrincipal, Depends(STAFF(Permission.REGIONAL_VACCINES_SET))],
    ctx: Ctx,
) -> RegionalVaccinesResponse:
    got = await regional.set_district_regional(
        ctx, district_id, frozenset(body.vaccine_groups), actor=principal
    )
    return RegionalVaccinesResponse(district_id=district_id, vaccine_groups=sorted(got.groups))


@citizen_router.get("/immunization-card", response_model=ImmunizationCardResponse)
async def immunization_card(
    principal: Citizen, ctx: Ctx, beneficiary_reference_id: CardRef
) -> ImmunizationCardResponse:
    issued, formats = await card.own_card(ctx, beneficiary_reference_id, actor=principal)
    return ImmunizationCardResponse(card_id=issued.card_id, version=issued.version, **formats)


@citizen_router.get(
    "/immunization-card/pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
async def immunization_card_pdf(
    principal: Citizen, ctx: Ctx, beneficiary_reference_id: CardRef
) -> Response:
    pdf = await card.own_card_pdf(ctx, beneficiary_reference_id, actor=principal)
    return Response(
        content=pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": 'attachment; filename="immunization-card.pdf"'},
    )


@citizen_router.post("/aefi", status_code=201, response_model=AefiCreated)
async def report_aefi_citizen(
    body: CitizenAefiRequest, principal: Citizen, ctx: Ctx
) -> AefiCreated:
    return AefiCreated(aefi_id=await aefi.report_by_citizen(ctx, body, actor=principal))
