"""Booking test data: a centre and a published session (ORM), citizens through the services.

Citizens are created as the OTP login creates them (a sealed mobile, a blind index, a
server-side token session) without sending hundreds of OTPs; beneficiaries go through
``people.service.register_beneficiary``. Recorded doses are inserted as the vaccination
area records them.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import count

from sqlalchemy import select

from immunet.booking.rules import today_in_india
from immunet.context import AppContext
from immunet.db.base import utcnow
from immunet.geography.centers import Center
from immunet.geography.models import District
from immunet.people.auth import mobile_index
from immunet.people.identifiers import normalize_mobile
from immunet.people.models import Beneficiary, CitizenAccount
from immunet.people.schemas import NewBeneficiaryRequest
from immunet.people.service import register_beneficiary
from immunet.security.access import CitizenPrincipal
from immunet.security.audit import RequestContext
from immunet.security.tokens import TokenAudience
from immunet.sessions.models import VaccinationSession
from immunet.vaccination.models import DoseRecord
from tests.factories import aadhaar, adult

_center_ids = count(800001)
SLOTS = ("09:00AM-11:00AM", "11:00AM-01:00PM", "01:00PM-03:00PM")


@dataclass(frozen=True)
class SessionRef:
    session_id: str
    center_id: int
    date: dt.date


async def make_center(ctx: AppContext, *, district_id: int = 294, pincode: str = "560001") -> int:
    center_id = next(_center_ids)
    async with ctx.db.transaction() as session:
        district = await session.get(District, district_id)
        assert district is not None, f"district {district_id} is not seeded"
        session.add(
            Center(
                center_id=center_id,
                name=f"Test Centre {center_id}",
                address="1 MG Road",
                state_id=district.state_id,
                district_id=district_id,
                block_name="East",
                pincode=pincode,
                lat=12.97,
                long=77.59,
                opens_at=dt.time(9, 0),
                closes_at=dt.time(17, 0),
                fee_type="Free",
                active=True,
                created_by="test",
                created_at=utcnow(),
            )
        )
    return center_id


async def make_session(
    ctx: AppContext,
    *,
    center_id: int | None = None,
    district_id: int = 294,
    days_ahead: int = 1,
    vaccine: str = "COVISHIELD",
    min_age: int = 18,
    max_age: int | None = None,
    capacity_dose1: int = 5,
    capacity_dose2: int = 5,
    capacity_precaution: int = 5,
    slots: Sequence[str] = SLOTS,
    status: str = "published",
) -> SessionRef:
    if center_id is None:
        center_id = await make_center(ctx, district_id=district_id)
    day = today_in_india(utcnow()) + dt.timedelta(days=days_ahead)
    session_id = str(uuid.uuid4())
    now = utcnow()
    async with ctx.db.transaction() as session:
        session.add(
            VaccinationSession(
                session_id=session_id,
                center_id=center_id,
                date=day,
                vaccine_code=vaccine,
                min_age_limit=min_age,
                max_age_limit=max_age,
                capacity_dose1=capacity_dose1,
                capacity_dose2=capacity_dose2,
                capacity_precaution=capacity_precaution,
                booked_dose1=0,
                booked_dose2=0,
                booked_precaution=0,
                slots=json.dumps(list(slots)),
                fee="0",
                status=status,
                created_by="test",
                created_at=now,
                updated_at=now,
            )
        )
    return SessionRef(session_id, center_id, day)


async def seats(ctx: AppContext, session_id: str) -> tuple[int, int, int]:
    async with ctx.db.reader() as session:
        row = await session.get(VaccinationSession, session_id)
        assert row is not None
        return row.booked_dose1, row.booked_dose2, row.booked_precaution


@dataclass(frozen=True)
class Citizen:
    account_id: str
    mobile: str
    token: str
    principal: CitizenPrincipal

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def make_citizen(ctx: AppContext, mobile: str) -> Citizen:
    """An account as the first OTP login creates it, and a live citizen token."""
    normalized = normalize_mobile(mobile)
    account_id = secrets.token_hex(16)
    async with ctx.db.transaction() as session:
        session.add(
            CitizenAccount(
                id=account_id,
                mobile_index=mobile_index(ctx, normalized),
                mobile_ct=ctx.keyring.field_cipher.encrypt(
                    normalized, context=f"account:{account_id}:mobile"
                ),
                created_at=utcnow(),
            )
        )
    issued = await ctx.tokens.issue(
        TokenAudience.CITIZEN, account_id, lifetime_seconds=ctx.settings.citizen_token_seconds
    )
    principal = CitizenPrincipal(account_id, issued.session_id, RequestContext())
    return Citizen(account_id, normalized, issued.token, principal)


_aadhaar_seeds = count(7_000_000)


async def add_beneficiary(
    ctx: AppContext, citizen: Citizen, *, name: str = "Asha Kumari", birth_year: str = "1985"
) -> str:
    form = NewBeneficiaryRequest.model_validate(
        adult(name, birth_year=birth_year, id_number=aadhaar(next(_aadhaar_seeds)))
    )
    registration = await register_beneficiary(ctx, form, actor=citizen.principal)
    await ctx.drain_outbox()
    return registration.reference_id


async def record_dose(
    ctx: AppContext, reference_id: str, *, dose: int, vaccine: str, given_on: dt.date
) -> None:
    async with ctx.db.transaction() as session:
        beneficiary_id = (
            await session.execute(
                select(Beneficiary.id).where(Beneficiary.reference_id == reference_id)
            )
        ).scalar_one()
        session.add(
            DoseRecord(
                beneficiary_id=beneficiary_id,
                vaccine_code=vaccine,
                series_code=f"covid19-{vaccine.lower().replace(' ', '-')}",
                dose_number=dose,
                administered_on=given_on,
                center_id=None,
                batch="TESTBATCH1",
                recorded_by="test",
                recorded_at=utcnow(),
                status="recorded",
            )
        )
