"""Children and pregnancies: the Universal Immunization Programme's people (decision 0014).

A child is a beneficiary of the guardian's own account (the per-mobile limit applies),
registered with a full date of birth, sex and the guardian's relation. A pregnancy belongs
to one of the account's own women and carries the last menstrual period or the expected
date of delivery, sealed like every personal field; it drives Td in pregnancy.
Rows are reached only through :mod:`immunet.people.service`'s chokepoints.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from immunet.clock import india_today
from immunet.context import AppContext
from immunet.db.base import utcnow
from immunet.people.models import Beneficiary, CitizenAccount, Pregnancy
from immunet.people.schemas import (
    NewBeneficiaryRequest,
    NewChildRequest,
    PregnancyRequest,
    ReminderSettings,
)
from immunet.people.service import (
    ChildDetails,
    InvalidBeneficiary,
    Registration,
    access_own_beneficiary,
    register_beneficiary_for_account,
    reveal,
)
from immunet.security.access import CitizenPrincipal
from immunet.security.audit import AuditAction, AuditChain
from immunet.security.keyring import Keyring

# Naegele's rule: delivery is expected 280 days after the last menstrual period.
GESTATION = dt.timedelta(days=280)
# A pregnancy is recorded while it lasts: an LMP up to 42 weeks back, an EDD from two
# weeks ago (a late delivery) to 40 weeks ahead.
LMP_MAX_AGE = dt.timedelta(weeks=42)
EDD_OVERDUE = dt.timedelta(weeks=2)
PREGNANCY_AGES = (12, 55)
FEMALE = 2


async def register_child(
    ctx: AppContext, form: NewChildRequest, *, actor: CitizenPrincipal
) -> Registration:
    """Register a child under the caller's own account (audited like any registration)."""
    as_beneficiary = NewBeneficiaryRequest(
        name=form.name,
        date_of_birth=form.date_of_birth,
        gender_id=form.gender_id,
        photo_id_type=form.photo_id_type,
        photo_id_number=form.photo_id_number,
        consent_version=form.consent_version,
    )
    return await register_beneficiary_for_account(
        ctx,
        as_beneficiary,
        account_id=actor.account_id,
        actor=actor.actor,
        context=actor.context,
        purpose="child-registration",
        child=ChildDetails(form.guardian_relation, form.center_id),
    )


def _date(value: str, field: str) -> dt.date:
    try:
        return dt.datetime.strptime(value, "%d-%m-%Y").date()
    except ValueError as exc:
        raise InvalidBeneficiary(f"{field} must be DD-MM-YYYY") from exc


@dataclass(frozen=True)
class PregnancyDates:
    basis: str
    lmp: dt.date | None
    edd: dt.date


def pregnancy_dates(form: PregnancyRequest, today: dt.date) -> PregnancyDates:
    """Pure rules: exactly one of LMP and EDD, each within a pregnancy's span of today."""
    if (form.lmp is None) == (form.edd is None):
        raise InvalidBeneficiary("give exactly one of lmp and edd")
    if form.lmp is not None:
        lmp = _date(form.lmp, "lmp")
        if not today - LMP_MAX_AGE <= lmp <= today:
            raise InvalidBeneficiary("lmp must be within the last 42 weeks")
        return PregnancyDates("lmp", lmp, lmp + GESTATION)
    assert form.edd is not None
    edd = _date(form.edd, "edd")
    if not today - EDD_OVERDUE <= edd <= today + GESTATION:
        raise InvalidBeneficiary("edd must be within the next 40 weeks")
    return PregnancyDates("edd", None, edd)


def _context(ref: str, field: str) -> str:
    return f"pregnancy:{ref}:{field}"


def open_edd(keyring: Keyring, ref: str, edd_ct: bytes) -> dt.date:
    """A pregnancy's expected delivery date (call after a chokepoint, or for a forecast)."""
    return dt.date.fromisoformat(keyring.field_cipher.decrypt(edd_ct, context=_context(ref, "edd")))


@dataclass(frozen=True)
class PregnancyRecorded:
    reference_id: str
    pregnancy_ref: str
    edd: dt.date


async def record_pregnancy(
    ctx: AppContext, form: PregnancyRequest, *, actor: CitizenPrincipal
) -> PregnancyRecorded:
    """Record (or correct: the previous record is replaced) the pregnancy of one of the
    caller's own women. Another account's reference ID is the same 404 as a missing one."""
    today = india_today(ctx.clock.now())
    dates = pregnancy_dates(form, today)
    cipher = ctx.keyring.field_cipher
    async with ctx.db.transaction() as session:
        row = await access_own_beneficiary(
            session, actor.account_id, form.beneficiary_reference_id, for_update=True
        )
        view = reveal(ctx.keyring, row, mobile="", vault_number=None)
        age = today.year - view.birth_year
        if row.gender_id != FEMALE or not PREGNANCY_AGES[0] <= age <= PREGNANCY_AGES[1]:
            raise InvalidBeneficiary("a pregnancy is recorded for a woman aged 12 to 55")
        await session.execute(
            update(Pregnancy)
            .where(Pregnancy.beneficiary_id == row.id, Pregnancy.status == "active")
            .values(status="replaced")
        )
        ref = "prg_" + secrets.token_hex(10)
        session.add(
            Pregnancy(
                ref=ref,
                beneficiary_id=row.id,
                basis=dates.basis,
                lmp_ct=(
                    cipher.encrypt(dates.lmp.isoformat(), context=_context(ref, "lmp"))
                    if dates.lmp
                    else None
                ),
                edd_ct=cipher.encrypt(dates.edd.isoformat(), context=_context(ref, "edd")),
                status="active",
                recorded_by=actor.actor,
                created_at=utcnow(),
            )
        )
        row.category = "pregnant"
        await session.flush()
        await AuditChain.append(
            session,
            actor=actor.actor,
            action=AuditAction.PREGNANCY_RECORDED,
            subject_ref=f"beneficiary:{row.reference_id}",
            purpose="account-holder-request",
            context=actor.context,
            detail={"basis": dates.basis},
        )
    return PregnancyRecorded(row.reference_id, ref, dates.edd)


async def active_pregnancy_edd(
    session: AsyncSession, keyring: Keyring, beneficiary: Beneficiary
) -> dt.date | None:
    """The expected delivery date of the person's live pregnancy (call after a chokepoint)."""
    found = (
        await session.execute(
            select(Pregnancy.ref, Pregnancy.edd_ct)
            .where(Pregnancy.beneficiary_id == beneficiary.id, Pregnancy.status == "active")
            .order_by(Pregnancy.id.desc())
            .limit(1)
        )
    ).first()
    if found is None:
        return None
    return open_edd(keyring, found[0], found[1])


async def set_reminder_settings(
    ctx: AppContext, form: ReminderSettings, *, actor: CitizenPrincipal
) -> ReminderSettings:
    """The account holder chooses the reminders' language or stops them (audited)."""
    async with ctx.db.transaction() as session:
        await session.execute(
            update(CitizenAccount)
            .where(CitizenAccount.id == actor.account_id)
            .values(language=form.language, reminders_opt_out=form.opt_out)
        )
        await AuditChain.append(
            session,
            actor=actor.actor,
            action=AuditAction.REMINDER_SETTINGS_CHANGED,
            subject_ref=f"account:{actor.account_id}",
            purpose="account-holder-request",
            context=actor.context,
            detail={"language": form.language, "opt_out": form.opt_out},
        )
    return form
