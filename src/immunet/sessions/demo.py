"""Demo data: centres in four real districts and sessions for the next seven days.

Idempotent: a centre is known by its name and PIN code, a session by centre, date and
vaccine, so running the demo again adds only the days that have come into the window.
Centres and sessions go through the same services the staff API uses.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from immunet.context import AppContext, build_context
from immunet.geography.center_schemas import CenterCreate
from immunet.geography.centers import Center
from immunet.geography.centers_service import create_center
from immunet.geography.models import Pincode
from immunet.security.audit import RequestContext
from immunet.sessions.models import VaccinationSession
from immunet.sessions.rules import format_cowin_date, today_ist
from immunet.sessions.schemas import SessionCreate
from immunet.sessions.service import publish_session
from immunet.settings import Settings
from immunet.staff.models import StaffUser
from immunet.staff.permissions import Role
from immunet.staff.principal import Jurisdiction, OperatorPrincipal, StaffPrincipal

DEMO_DAYS = 7
DEMO_MANAGER = "demo-fm-bbmp"
SLOTS = ["09:00AM-11:00AM", "11:00AM-01:00PM", "01:00PM-03:00PM", "03:00PM-05:00PM"]
FEES = {"COVISHIELD": 780, "COVAXIN": 1410}

# (district_id, name, address, block, PIN code, fee type); ids as districts.json has them.
CENTRES = [
    (294, "UPHC Shivajinagar", "Infantry Road, Shivajinagar", "East", "560001", "Free"),
    (294, "Jayanagar General Hospital", "9th Block, Jayanagar", "South", "560011", "Paid"),
    (571, "Rajiv Gandhi Government General Hospital", "Park Town", "Central", "600003", "Free"),
    (571, "Mylapore UPHC", "Royapettah High Road", "South", "600004", "Paid"),
    (395, "St. George Hospital", "P D'Mello Road, Fort", "A Ward", "400001", "Free"),
    (395, "Parel Municipal Dispensary", "Dr. E. Borges Road, Parel", "F South", "400012", "Paid"),
    (140, "Dr. RML Hospital", "Baba Kharak Singh Marg", "Chanakyapuri", "110001", "Free"),
    (140, "Chanakyapuri Polyclinic", "Nyaya Marg", "Chanakyapuri", "110021", "Free"),
]


async def _actor(ctx: AppContext) -> StaffPrincipal:
    """The demo's national admin (created by the staff demo step) acting from the console."""
    async with ctx.db.reader() as session:
        user = (
            await session.execute(select(StaffUser).where(StaffUser.username == "demo-admin"))
        ).scalar_one_or_none()
    return StaffPrincipal(
        user_id=user.id if user is not None else 0,
        username="demo-admin",
        role=Role.NATIONAL_ADMIN,
        jurisdiction=Jurisdiction("national", None),
        session_id="demo",
        context=RequestContext.system(),
    )


async def _centre(
    ctx: AppContext, actor: StaffPrincipal, spec: tuple[int, str, str, str, str, str]
) -> int:
    district_id, name, address, block, pincode, fee_type = spec
    async with ctx.db.reader() as session:
        existing = (
            await session.execute(
                select(Center.center_id).where(Center.name == name, Center.pincode == pincode)
            )
        ).scalar_one_or_none()
        if existing is not None:
            return int(existing)
        pin = await session.get(Pincode, pincode)
    lat, long = (
        (pin.lat, pin.long) if pin and pin.lat is not None and pin.long is not None else (0.0, 0.0)
    )
    form = CenterCreate.model_validate(
        {
            "name": name,
            "address": address,
            "district_id": district_id,
            "block_name": block,
            "pincode": pincode,
            "lat": lat,
            "long": long,
            "from": "09:00",
            "to": "17:00",
            "fee_type": fee_type,
            "vaccine_fees": (
                [{"vaccine": v, "fee": str(f)} for v, f in FEES.items()]
                if fee_type == "Paid"
                else []
            ),
        }
    )
    return await create_center(ctx, form, actor=actor)


async def _sessions(ctx: AppContext, actor: StaffPrincipal, center_id: int, paid: bool) -> int:
    today = today_ist()
    async with ctx.db.reader() as session:
        have = set(
            (
                await session.execute(
                    select(VaccinationSession.date, VaccinationSession.vaccine_code).where(
                        VaccinationSession.center_id == center_id,
                        VaccinationSession.date >= today,
                    )
                )
            ).tuples()
        )
    added = 0
    for offset in range(DEMO_DAYS):
        day = today + dt.timedelta(days=offset)
        vaccine = "COVISHIELD" if (center_id + offset) % 2 == 0 else "COVAXIN"
        if (day, vaccine) in have:
            continue
        form = SessionCreate.model_validate(
            {
                "center_id": center_id,
                "date": format_cowin_date(day),
                "vaccine": vaccine,
                "min_age_limit": 18,
                "max_age_limit": None,
                "capacity_dose1": 50,
                "capacity_dose2": 40,
                "capacity_precaution": 20,
                "slots": SLOTS,
                "fee": FEES[vaccine] if paid else 0,
            }
        )
        await publish_session(ctx, form, actor=actor)
        added += 1
    return added


async def _manager(ctx: AppContext, center_id: int) -> list[str]:
    try:
        from immunet.staff.service import create_staff_user
    except ImportError:  # staff provisioning not installed
        return []
    async with ctx.db.reader() as session:
        exists = (
            await session.execute(select(StaffUser.id).where(StaffUser.username == DEMO_MANAGER))
        ).scalar_one_or_none()
    if exists is not None:
        return [f"Staff:      {DEMO_MANAGER} (facility_manager of centre {center_id}) exists"]
    created = await create_staff_user(
        ctx,
        username=DEMO_MANAGER,
        role=Role.FACILITY_MANAGER,
        jurisdiction=Jurisdiction("center", center_id),
        actor=OperatorPrincipal("demo"),
    )
    return [
        f"Staff:      {DEMO_MANAGER} (facility_manager of centre {center_id}), "
        f"one-time password {created.one_time_password}",
        f"  TOTP:     {created.otpauth_uri}",
    ]


async def demo_centres_and_sessions(settings: Settings) -> list[str]:
    ctx = build_context(settings)
    try:
        actor = await _actor(ctx)
        centre_ids = []
        added = 0
        for spec in CENTRES:
            center_id = await _centre(ctx, actor, spec)
            centre_ids.append(center_id)
            added += await _sessions(ctx, actor, center_id, paid=spec[5] == "Paid")
        lines = await _manager(ctx, centre_ids[0])
    finally:
        await ctx.close()
    today = format_cowin_date(today_ist())
    base = "/api/v2/appointment"
    return [
        f"Centres:    {len(centre_ids)} in BBMP (294), Chennai (571), Mumbai (395), "
        f"New Delhi (140); {added} sessions added for the next {DEMO_DAYS} days",
        f"  by PIN:   {base}/sessions/public/findByPin?pincode=560001&date={today}",
        f"  district: {base}/sessions/public/calendarByDistrict?district_id=294&date={today}",
        f"  nearby:   {base}/centers/public/findByLatLong?lat=28.62&long=77.21",
        *lines,
    ]
