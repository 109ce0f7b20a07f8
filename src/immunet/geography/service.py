"""Reading the geography (public, aggregate data only)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from immunet.geography.models import District, State


async def list_states(session: AsyncSession) -> list[State]:
    return list((await session.execute(select(State).order_by(State.state_id))).scalars())


async def list_districts(session: AsyncSession, state_id: int) -> list[District]:
    rows = await session.execute(
        select(District).where(District.state_id == state_id).order_by(District.district_id)
    )
    return list(rows.scalars())
