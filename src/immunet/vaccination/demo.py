"""Demo data: vaccine stock at every demo centre, and one vaccinator at the first centre.

Idempotent: a batch is known by centre, vaccine and lot; the vaccinator by username.
The vaccinator goes through the same provisioning service as ``immunet staff add``.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from immunet.booking.rules import today_in_india
from immunet.context import build_context
from immunet.db.base import utcnow
from immunet.geography.centers import Center
from immunet.settings import Settings
from immunet.staff.models import StaffUser
from immunet.staff.permissions import Role
from immunet.staff.principal import Jurisdiction, OperatorPrincipal
from immunet.staff.service import create_staff_user
from immunet.vaccination.models import StockBatch

DEMO_VACCINATOR = "demo-vaccinator"
DEMO_VACCINES = ("COVISHIELD", "COVAXIN")
DEMO_QUANTITY = 500


def demo_lot(center_id: int, vaccine: str) -> str:
    return f"DEMO-{vaccine[:4]}-{center_id}"


async def demo_stock_and_vaccinator(settings: Settings) -> list[str]:
    ctx = build_context(settings)
    lines: list[str] = []
    try:
        expiry = today_in_india(utcnow()) + dt.timedelta(days=180)
        added = 0
        async with ctx.db.transaction() as session:
            centers = list(
                (
                    await session.execute(select(Center.center_id).order_by(Center.center_id))
                ).scalars()
            )
            have = {
                (c, v, lot)
                for c, v, lot in await session.execute(
                    select(StockBatch.center_id, StockBatch.vaccine_code, StockBatch.lot)
                )
            }
            for center_id in centers:
                for vaccine in DEMO_VACCINES:
                    lot = demo_lot(center_id, vaccine)
                    if (center_id, vaccine, lot) in have:
                        continue
                    session.add(
                        StockBatch(
                            center_id=center_id,
                            vaccine_code=vaccine,
                            lot=lot,
                            expires_on=expiry,
                            quantity_received=DEMO_QUANTITY,
                            doses_used=0,
                            wasted=0,
                            received_by="operator:demo",
                            created_at=utcnow(),
                        )
                    )
                    added += 1
        lines.append(
            f"Stock:      {added} demo batches added at {len(centers)} centres "
            "(lots DEMO-<vaccine>-<centre>)"
        )
        if not centers:
            return lines
        async with ctx.db.reader() as session:
            exists = (
                await session.execute(
                    select(StaffUser.id).where(StaffUser.username == DEMO_VACCINATOR)
                )
            ).scalar_one_or_none()
        if exists is not None:
            lines.append(f"Staff:      {DEMO_VACCINATOR} (vaccinator) already exists")
            return lines
        created = await create_staff_user(
            ctx,
            username=DEMO_VACCINATOR,
            role=Role.VACCINATOR,
            jurisdiction=Jurisdiction("center", centers[0]),
            actor=OperatorPrincipal("demo"),
        )
        lines += [
            f"Staff:      {DEMO_VACCINATOR} (vaccinator at centre {centers[0]}), "
            f"one-time password {created.one_time_password}",
            f"  TOTP:     {created.otpauth_uri}",
            "  roster:   GET /api/staff/sessions/<session_id>/roster",
        ]
    finally:
        await ctx.close()
    return lines
