"""Adverse events following immunization (AEFI): reported by staff or by the citizen.

District admins (and above) see them within their jurisdiction as counts and as
de-identified details: no name, no identifier, no free text.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from immunet.booking.rules import today_in_india
from immunet.context import AppContext
from immunet.db.base import utcnow
from immunet.errors import Unprocessable
from immunet.geography.centers import Center
from immunet.people.models import Beneficiary
from immunet.people.service import BeneficiaryNotFound, access_own_beneficiary
from immunet.security.access import CitizenPrincipal
from immunet.security.audit import AuditAction, AuditChain, RequestContext
from immunet.staff.jurisdiction import center_filter
from immunet.staff.principal import StaffPrincipal
from immunet.vaccination.access import (
    AccessChannel,
    PersonAccess,
    authorize_person_for_staff,
    record_person_access,
)
from immunet.vaccination.models import AefiReport, DoseRecord
from immunet.vaccination.schemas import AefiFields, StaffAefiRequest, parse_day
from immunet.vaccination.stock import center_of


class InvalidAefi(Unprocessable):
    error_code = "VACCIN0040"
    message = "The adverse event report is not valid."


def notes_context(report_id: int) -> str:
    return f"aefi:{report_id}:notes"


async def _dose_facts(
    session: AsyncSession, beneficiary_id: int, dose_id: int | None
) -> DoseRecord | None:
    """The named dose of this person, else their latest recorded dose (or None)."""
    stmt = select(DoseRecord).where(
        DoseRecord.beneficiary_id == beneficiary_id, DoseRecord.status == "recorded"
    )
    if dose_id is not None:
        row = (await session.execute(stmt.where(DoseRecord.id == dose_id))).scalar_one_or_none()
        if row is None:
            raise InvalidAefi("No such dose for this beneficiary.")
        return row
    return (
        await session.execute(
            stmt.order_by(DoseRecord.administered_on.desc(), DoseRecord.id.desc()).limit(1)
        )
    ).scalar_one_or_none()


async def _insert(
    ctx: AppContext,
    session: AsyncSession,
    form: AefiFields,
    *,
    beneficiary_id: int,
    reporter_kind: str,
    reported_by: str,
    fallback_center: int | None,
) -> AefiReport:
    onset = parse_day(form.onset_date)
    if onset > today_in_india(ctx.clock.now()):
        raise InvalidAefi("The onset date cannot be in the future.")
    dose = await _dose_facts(session, beneficiary_id, form.dose_id)
    if dose is not None and onset < dose.administered_on - dt.timedelta(days=1):
        raise InvalidAefi("The onset date is before the dose.")
    report = AefiReport(
        beneficiary_id=beneficiary_id,
        dose_record_id=dose.id if dose else None,
        vaccine_code=dose.vaccine_code if dose else None,
        center_id=dose.center_id if dose and dose.center_id is not None else fallback_center,
        reporter_kind=reporter_kind,
        reported_by=reported_by,
        symptoms=json.dumps(list(form.symptoms)),
        onset_on=onset,
        severity=form.severity,
        outcome=form.outcome,
        notes_ct=None,
        created_at=utcnow(),
    )
    session.add(report)
    await session.flush()
    if form.notes:
        report.notes_ct = ctx.keyring.field_cipher.encrypt(
            form.notes, context=notes_context(report.id)
        )
        await session.flush()
    return report


async def _audit(
    session: AsyncSession,
    *,
    actor: str,
    context: RequestContext,
    reference_id: str,
    report: AefiReport,
) -> None:
    await AuditChain.append(
        session,
        actor=actor,
        action=AuditAction.AEFI_REPORTED,
        subject_ref=f"beneficiary:{reference_id}",
        purpose="aefi",
        context=context,
        detail={"aefi_id": report.id, "severity": report.severity},
    )


async def report_by_staff(ctx: AppContext, form: StaffAefiRequest, *, actor: StaffPrincipal) -> int:
    """A vaccinator or facility manager reports for a person they may access."""
    center_id = center_of(actor)
    async with ctx.db.transaction() as session:
        beneficiary_id = (
            await session.execute(
                select(Beneficiary.id).where(
                    Beneficiary.reference_id == form.beneficiary_reference_id
                )
            )
        ).scalar_one_or_none()
        if beneficiary_id is None:
            raise BeneficiaryNotFound()
        person: PersonAccess | None = None
        for channel in (AccessChannel.ROSTER, AccessChannel.OTP_VERIFIED):
            try:
                person = await authorize_person_for_staff(
                    ctx, session, actor, beneficiary_id, purpose="aefi-report", channel=channel
                )
                break
            except BeneficiaryNotFound:
                continue
        if person is None:
            raise BeneficiaryNotFound()
        report = await _insert(
            ctx,
            session,
            form,
            beneficiary_id=beneficiary_id,
            reporter_kind="staff",
            reported_by=actor.actor,
            fallback_center=center_id,
        )
        report_id = report.id
        await record_person_access(session, actor, person)
        await _audit(
            session,
            actor=actor.actor,
            context=actor.context,
            reference_id=form.beneficiary_reference_id,
            report=report,
        )
    return report_id


async def report_by_citizen(
    ctx: AppContext, form: StaffAefiRequest, *, actor: CitizenPrincipal
) -> int:
    """The account holder reports for one of their own beneficiaries."""
    async with ctx.db.transaction() as session:
        beneficiary = await access_own_beneficiary(
            session, actor.account_id, form.beneficiary_reference_id
        )
        report = await _insert(
            ctx,
            session,
            form,
            beneficiary_id=beneficiary.id,
            reporter_kind="citizen",
            reported_by=actor.actor,
            fallback_center=None,
        )
        report_id = report.id
        await _audit(
            session,
            actor=actor.actor,
            context=actor.context,
            reference_id=beneficiary.reference_id,
            report=report,
        )
    return report_id


@dataclass(frozen=True)
class AefiOverview:
    total: int
    by_severity: list[tuple[str, int]]
    by_vaccine: list[tuple[str, int]]
    reports: list[tuple[AefiReport, int | None]]


async def list_for_admin(
    ctx: AppContext, *, actor: StaffPrincipal, page: int, limit: int
) -> AefiOverview:
    """Counts and de-identified details of the reports within the caller's jurisdiction."""
    in_scope = AefiReport.center_id.in_(select(Center.center_id).where(center_filter(actor)))
    async with ctx.db.reader() as session:
        total = (
            await session.execute(select(func.count()).select_from(AefiReport).where(in_scope))
        ).scalar_one()
        severity = await session.execute(
            select(AefiReport.severity, func.count())
            .where(in_scope)
            .group_by(AefiReport.severity)
            .order_by(AefiReport.severity)
        )
        vaccine = await session.execute(
            select(func.coalesce(AefiReport.vaccine_code, "unknown"), func.count())
            .where(in_scope)
            .group_by(AefiReport.vaccine_code)
            .order_by(func.coalesce(AefiReport.vaccine_code, "unknown"))
        )
        rows = await session.execute(
            select(AefiReport, DoseRecord.dose_number)
            .outerjoin(DoseRecord, DoseRecord.id == AefiReport.dose_record_id)
            .where(in_scope)
            .order_by(AefiReport.created_at.desc(), AefiReport.id.desc())
            .offset((page - 1) * limit)
            .limit(limit)
        )
        reports: list[tuple[AefiReport, int | None]] = [(r, n) for r, n in rows]
    return AefiOverview(
        int(total),
        [(str(k), int(n)) for k, n in severity],
        [(str(k), int(n)) for k, n in vaccine],
        reports,
    )
