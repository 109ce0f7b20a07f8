"""Oversight routes: staff alerts, reinstatement, break-glass, reports and disputes; the
citizen's access log, disputes and data summary; the public, verifiable audit log."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from immunet.context import AppContext
from immunet.errors import NotFound
from immunet.oversight import coverage, reports, service
from immunet.oversight.schemas import (
    AccessEntryOut,
    AccessLogResponse,
    AlertOut,
    AlertsResponse,
    BreakGlassRequest,
    BreakGlassResponse,
    CheckpointKeyResponse,
    CheckpointOut,
    ConsistencyResponse,
    CoverageResponse,
    CoverageRowOut,
    DataSummaryResponse,
    DisputeOut,
    DisputeRequest,
    DisputeResponse,
    DisputesResponse,
    DoseReportResponse,
    HeldField,
    InclusionProofResponse,
    Purpose,
    ResolveDisputeRequest,
    Who,
)
from immunet.security.access import (
    CITIZEN,
    PUBLIC,
    CitizenPrincipal,
    PublicCaller,
    request_app_context,
)
from immunet.security.transparency import CheckpointKey, CheckpointView
from immunet.staff.guards import STAFF
from immunet.staff.permissions import Permission
from immunet.staff.principal import StaffPrincipal

staff_router = APIRouter(prefix="/api/staff", tags=["oversight"])
citizen_router = APIRouter(prefix="/api/v2", tags=["transparency"])

Ctx = Annotated[AppContext, Depends(request_app_context)]
Public = Annotated[PublicCaller, Depends(PUBLIC)]
Citizen = Annotated[CitizenPrincipal, Depends(CITIZEN)]
AlertReader = Annotated[StaffPrincipal, Depends(STAFF(Permission.MISUSE_ALERT_READ))]
AlertAcker = Annotated[StaffPrincipal, Depends(STAFF(Permission.MISUSE_ALERT_ACK))]
Reinstater = Annotated[StaffPrincipal, Depends(STAFF(Permission.STAFF_USER_REINSTATE))]
BreakGlass = Annotated[StaffPrincipal, Depends(STAFF(Permission.BREAK_GLASS))]
Reporter = Annotated[StaffPrincipal, Depends(STAFF(Permission.REPORT_READ))]
DisputeReader = Annotated[StaffPrincipal, Depends(STAFF(Permission.DISPUTE_READ))]
DisputeResolver = Annotated[StaffPrincipal, Depends(STAFF(Permission.DISPUTE_RESOLVE))]
Id = Annotated[int, Path(ge=1, le=2**62)]
# Alerts and disputes have INTEGER keys: on PostgreSQL a larger id overflowed the bound parameter
# (DataError, a 500) until the stateful fuzzer found it; it is now a 400 like any bad id.
SmallId = Annotated[int, Path(ge=1, le=2**31 - 1)]
Limit = Annotated[int, Query(ge=1, le=service.PAGE_MAX)]
Cursor = Annotated[int | None, Query(ge=1, le=2**62)]

NO_STORE = {"Cache-Control": "no-store"}


def _iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat(timespec="seconds") if value else None


def _checkpoint(view: CheckpointView) -> CheckpointOut:
    return CheckpointOut(
        tree_size=view.tree_size,
        root_hash=view.root_hash,
        timestamp=view.created_at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        key_id=view.key_id,
        signature=view.signature,
        signed_message=view.message.decode("ascii"),
    )


# --- staff ---------------------------------------------------------------------------------


def _alert_out(v: service.AlertView) -> AlertOut:
    return AlertOut(
        id=v.id,
        staff_username=v.staff_username,
        staff_role=v.staff_role,
        jurisdiction=v.jurisdiction,
        kind=v.kind,
        severity=v.severity,
        created_at=_iso(v.created_at) or "",
        detail=v.detail,
        acknowledged_by=v.acknowledged_by,
        acknowledged_at=_iso(v.acknowledged_at),
    )


@staff_router.get("/alerts", response_model=AlertsResponse)
async def list_alerts(
    principal: AlertReader,
    ctx: Ctx,
    response: Response,
    limit: Limit = service.PAGE_MAX,
    before: Cursor = None,
    open_only: bool = False,
) -> AlertsResponse:
    views, next_cursor = await service.list_alerts(
        ctx, actor=principal, limit=limit, before=before, open_only=open_only
    )
    response.headers.update(NO_STORE)
    return AlertsResponse(alerts=[_alert_out(v) for v in views], next=next_cursor)


@staff_router.post("/alerts/{alert_id}/ack", response_model=AlertOut)
async def acknowledge_alert(alert_id: SmallId, principal: AlertAcker, ctx: Ctx) -> AlertOut:
    return _alert_out(await service.acknowledge_alert(ctx, alert_id, actor=principal))


@staff_router.post("/users/{username}/reinstate", status_code=204)
async def reinstate_user(
    username: Annotated[str, Path(min_length=1, max_length=64)], principal: Reinstater, ctx: Ctx
) -> Response:
    await service.reinstate_staff_user(ctx, username=username, actor=principal)
    return Response(status_code=204)


@staff_router.post("/break-glass", status_code=201, response_model=BreakGlassResponse)
async def break_glass(
    body: BreakGlassRequest, principal: BreakGlass, ctx: Ctx
) -> BreakGlassResponse:
    grant = await service.grant_break_glass(
        ctx, reference_id=body.beneficiary_reference_id, reason=body.reason, actor=principal
    )
    return BreakGlassResponse(grant_id=grant.grant_id, expires_at=_iso(grant.expires_at) or "")


@staff_router.get("/reports/doses", response_model=DoseReportResponse)
async def dose_report(
    principal: Reporter,
    ctx: Ctx,
    group_by: reports.GroupBy,
    from_: Annotated[dt.date, Query(alias="from")],
    to: dt.date,
) -> DoseReportResponse:
    report = await reports.doses_report(
        ctx, actor=principal, group_by=group_by, first=from_, last=to
    )
    return DoseReportResponse(
        group_by=report.group_by,
        from_=report.first.isoformat(),
        to=report.last.isoformat(),
        cells=report.cells,
        total=report.total,
    )


MonthParam = Annotated[str, Query(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM")]


@staff_router.get("/reports/immunization-coverage", response_model=CoverageResponse)
async def immunization_coverage(
    principal: Reporter,
    ctx: Ctx,
    from_: Annotated[MonthParam, Query(alias="from")],
    to: MonthParam,
) -> CoverageResponse:
    rows = await coverage.coverage_report(
        ctx, actor=principal, first=coverage.parse_month(from_), last=coverage.parse_month(to)
    )
    return CoverageResponse(
        from_=from_,
        to=to,
        rows=[
            CoverageRowOut(
                district_id=r.district_id,
                month=r.month,
                children_turning_one=r.children_turning_one,
                cohort=r.cohort,
                doses=r.doses,
                dropout_penta_1_3=r.dropout_penta_1_3,
                dropout_mr_1_2=r.dropout_mr_1_2,
            )
            for r in rows
        ],
    )


def _coverage_out(from_: str, to: str, rows: list[coverage.CoverageRow]) -> CoverageResponse:
    return CoverageResponse(
        from_=from_,
        to=to,
        rows=[
            CoverageRowOut(
                district_id=r.district_id,
                month=r.month,
                children_turning_one=r.children_turning_one,
                cohort=r.cohort,
                doses=r.doses,
                dropout_penta_1_3=r.dropout_penta_1_3,
                dropout_mr_1_2=r.dropout_mr_1_2,
            )
            for r in rows
        ],
    )


@citizen_router.get("/public/reports/immunization-coverage", response_model=CoverageResponse)
async def public_immunization_coverage(
    _caller: Public,
    ctx: Ctx,
    state_id: Annotated[int, Query(ge=1, le=100)],
    from_: Annotated[MonthParam, Query(alias="from")],
    to: MonthParam,
) -> CoverageResponse:
    """Aggregates only (district and month, small cells suppressed): no person, no centre."""
    rows = await coverage.public_coverage(
        ctx, state_id=state_id, first=coverage.parse_month(from_), last=coverage.parse_month(to)
    )
    return _coverage_out(from_, to, rows)


def _dispute_out(v: service.DisputeView) -> DisputeOut:
    return DisputeOut(
        id=v.id,
        entry_id=v.entry_id,
        staff_username=v.staff_username,
        staff_role=v.staff_role,
        jurisdiction=v.jurisdiction,
        reason=v.reason,
        status=v.status,
        created_at=_iso(v.created_at) or "",
        resolved_by=v.resolved_by,
        resolved_at=_iso(v.resolved_at),
    )


@staff_router.get("/disputes", response_model=DisputesResponse)
async def list_disputes(
    principal: DisputeReader,
    ctx: Ctx,
    response: Response,
    limit: Limit = service.PAGE_MAX,
    before: Cursor = None,
    status: Annotated[str | None, Query(pattern="^(open|frozen|upheld|dismissed)$")] = None,
) -> DisputesResponse:
    views, next_cursor = await service.list_disputes(
        ctx, actor=principal, limit=limit, before=before, status=status
    )
    response.headers.update(NO_STORE)
    return DisputesResponse(disputes=[_dispute_out(v) for v in views], next=next_cursor)


@staff_router.post("/disputes/{dispute_id}/freeze", response_model=DisputeOut)
async def freeze_for_dispute(
    dispute_id: SmallId, principal: DisputeResolver, ctx: Ctx
) -> DisputeOut:
    """Freeze the reported user's look-ups while the case is reviewed (an admin's call)."""
    return _dispute_out(await service.freeze_for_dispute(ctx, dispute_id, actor=principal))


@staff_router.post("/disputes/{dispute_id}/resolve", response_model=DisputeOut)
async def resolve_dispute(
    dispute_id: SmallId, body: ResolveDisputeRequest, principal: DisputeResolver, ctx: Ctx
) -> DisputeOut:
    view = await service.resolve_dispute(ctx, dispute_id, outcome=body.outcome, actor=principal)
    return _dispute_out(view)


# --- citizen --------------------------------------------------------------------------------


@citizen_router.get("/me/access-log", response_model=AccessLogResponse)
async def access_log(
    principal: Citizen,
    ctx: Ctx,
    response: Response,
    limit: Limit = service.PAGE_MAX,
    before: Cursor = None,
) -> AccessLogResponse:
    entries, next_cursor = await service.access_log(
        ctx, actor=principal, limit=limit, before=before
    )
    response.headers.update(NO_STORE)
    return AccessLogResponse(
        entries=[
            AccessEntryOut(
                entry_id=e.entry_id,
                beneficiary_reference_id=e.beneficiary_reference_id,
                who=Who(organisation=e.organisation, role=e.role),
                when=_iso(e.when) or "",
                action=e.action,
                channel=e.channel,
                purpose=e.purpose,
                reason=e.reason,
            )
            for e in entries
        ],
        next=next_cursor,
    )


@citizen_router.post(
    "/me/access-log/{entry_id}/dispute", status_code=201, response_model=DisputeResponse
)
async def dispute_entry(
    entry_id: Id, body: DisputeRequest, principal: Citizen, ctx: Ctx
) -> DisputeResponse:
    dispute_id = await service.open_dispute(ctx, entry_id, reason=body.reason, actor=principal)
    return DisputeResponse(dispute_id=dispute_id)


@citizen_router.get("/me/access-log/{entry_id}/proof", response_model=InclusionProofResponse)
async def entry_proof(entry_id: Id, principal: Citizen, ctx: Ctx) -> InclusionProofResponse:
    proof = await service.prove_own_entry(ctx, entry_id, actor=principal)
    return InclusionProofResponse(
        entry_id=entry_id,
        leaf_index=proof.leaf_index,
        entry_hash=proof.entry_hash,
        leaf_hash=proof.leaf_hash,
        audit_path=proof.audit_path,
        checkpoint=_checkpoint(proof.checkpoint),
    )


@citizen_router.get("/me/data-summary", response_model=DataSummaryResponse)
async def data_summary(principal: Citizen, ctx: Ctx, response: Response) -> DataSummaryResponse:
    summary = await service.data_summary(ctx, actor=principal)
    response.headers.update(NO_STORE)
    return DataSummaryResponse(
        beneficiaries=summary.beneficiaries,
        fields=[HeldField(**f) for f in service.HELD_FIELDS],
        purposes=[Purpose(**p) for p in service.PURPOSES],
        recipients=summary.organisations,
    )


# --- public ------------------------------------------------------------------------------------


@citizen_router.get("/audit/checkpoint-key", response_model=CheckpointKeyResponse)
async def checkpoint_key(_caller: Public, ctx: Ctx) -> CheckpointKeyResponse:
    key = CheckpointKey.from_keyring(ctx.keyring)
    return CheckpointKeyResponse(key_id=key.key_id, public_key=key.public_bytes.hex())


class NoCheckpoint(NotFound):
    error_code = "AUD0405"
    message = "The audit log is empty."


@citizen_router.get("/audit/checkpoints/latest", response_model=CheckpointOut)
async def latest_checkpoint(_caller: Public, ctx: Ctx) -> CheckpointOut:
    view = await service.latest_checkpoint(ctx)
    if view is None:
        raise NoCheckpoint()
    return _checkpoint(view)


@citizen_router.get("/audit/consistency", response_model=ConsistencyResponse)
async def consistency(
    _caller: Public,
    ctx: Ctx,
    first: Annotated[int, Query(ge=1, le=2**62)],
    second: Annotated[int, Query(ge=1, le=2**62)],
) -> ConsistencyResponse:
    a, b, proof = await service.consistency(ctx, first, second)
    return ConsistencyResponse(first=_checkpoint(a), second=_checkpoint(b), proof=proof)
