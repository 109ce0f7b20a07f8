"""Demo data for routine immunization: a family whose child is part-way through the schedule.

The guardian's account (mobile 9000011111, log in with its OTP from the demo SMS log) holds a
daughter born 20 weeks ago: birth doses, and the 6- and 10-week doses, each stored with the
schedule engine's verdict as a recording would store it; her 14-week doses are due now. The
first centre gets a batch of each routine vaccine, so the demo vaccinator can record them
(after the guardian's OTP) and the card, due list and reminders have something to show.
Idempotent: the family is known by its mobile.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from immunet.booking.rules import today_in_india
from immunet.context import build_context
from immunet.db.base import utcnow
from immunet.geography.centers import Center
from immunet.people.auth import account_for_verified_mobile, mobile_index
from immunet.people.identifiers import normalize_mobile
from immunet.people.models import Beneficiary
from immunet.people.schemas import NewBeneficiaryRequest
from immunet.people.service import ChildDetails, register_beneficiary_for_account
from immunet.security.audit import RequestContext
from immunet.settings import Settings
from immunet.vaccination import uip
from immunet.vaccination.models import DoseRecord, StockBatch

DEMO_GUARDIAN = "9000011111"
ROUTINE_STOCK = ("HEPB", "BCG", "OPV", "PENTA", "ROTA", "FIPV", "MR", "TD", "VITA")
# (weeks of age, vaccines): what the child has had.
GIVEN = (
    (0, ("HEPB", "BCG", "OPV")),
    (6, ("OPV", "PENTA", "ROTA", "FIPV")),
    (10, ("OPV", "PENTA", "ROTA")),
)
AGE_WEEKS = 20


async def demo_family(settings: Settings) -> list[str]:
    ctx = build_context(settings)
    try:
        today = today_in_india(utcnow())
        async with ctx.db.reader() as session:
            first = (
                await session.execute(select(Center.center_id).order_by(Center.center_id).limit(1))
            ).scalar_one_or_none()
        if first is None:
            return []
        mobile = normalize_mobile(DEMO_GUARDIAN)
        account = await account_for_verified_mobile(
            ctx, mobile_index(ctx, mobile), mobile, context=RequestContext.system()
        )
        async with ctx.db.reader() as session:
            existing = (
                await session.execute(
                    select(Beneficiary.reference_id).where(Beneficiary.account_id == account)
                )
            ).scalar_one_or_none()
        if existing is not None:
            return [f"Family:     guardian {DEMO_GUARDIAN}, child {existing} (already there)"]
        dob = today - dt.timedelta(weeks=AGE_WEEKS)
        registration = await register_beneficiary_for_account(
            ctx,
            NewBeneficiaryRequest(
                name="Meera Rao", date_of_birth=dob.strftime("%d-%m-%Y"), gender_id=2
            ),
            account_id=account,
            actor="operator:demo",
            context=RequestContext.system(),
            purpose="demo",
            child=ChildDetails("mother", first),
        )
        async with ctx.db.transaction() as session:
            child_id = (
                await session.execute(
                    select(Beneficiary.id).where(
                        Beneficiary.reference_id == registration.reference_id
                    )
                )
            ).scalar_one()
            history: list[tuple[dt.date, str]] = []
            numbers: dict[str, int] = {}
            for weeks, vaccines in GIVEN:
                on = dob + dt.timedelta(weeks=weeks)
                for vaccine in vaccines:
                    group = uip.group_for(vaccine, pregnant=False)
                    assert group is not None
                    verdict = uip.judge(dob, history, (on, vaccine), group, pregnant=False)
                    code = uip.series_code(group)
                    numbers[code] = numbers.get(code, 0) + 1
                    session.add(
                        DoseRecord(
                            beneficiary_id=child_id,
                            vaccine_code=vaccine,
                            series_code=code,
                            dose_number=numbers[code],
                            administered_on=on,
                            center_id=first,
                            batch=f"DEMO-{vaccine}",
                            recorded_by="operator:demo",
                            recorded_at=utcnow(),
                            status="recorded",
                            evaluation_status=verdict.status,
                            evaluation_reason=verdict.reason,
                        )
                    )
                    history.append((on, vaccine))
            have = set(
                (
                    await session.execute(
                        select(StockBatch.vaccine_code).where(StockBatch.center_id == first)
                    )
                ).scalars()
            )
            for vaccine in ROUTINE_STOCK:
                if vaccine not in have:
                    session.add(
                        StockBatch(
                            center_id=first,
                            vaccine_code=vaccine,
                            lot=f"DEMO-{vaccine}-{first}",
                            expires_on=today + dt.timedelta(days=180),
                            quantity_received=200,
                            doses_used=0,
                            wasted=0,
                            received_by="operator:demo",
                            created_at=utcnow(),
                        )
                    )
    finally:
        await ctx.close()
    return [
        f"Family:     guardian {DEMO_GUARDIAN} (OTP login), daughter {registration.reference_id} "
        f"born {dob:%d-%m-%Y}: birth, 6- and 10-week doses given; 14-week doses due",
        f"  card:     GET /api/v2/me/immunization-card?beneficiary_reference_id="
        f"{registration.reference_id}",
        f"  due list: GET /api/staff/due-list (staff of centre {first})",
    ]
