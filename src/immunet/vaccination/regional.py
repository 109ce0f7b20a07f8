"""Regional vaccines per district: which districts run JE and PCV (decision 0014).

The national schedule marks some vaccine groups as regional (``india.regional_groups()``):
they are given only where the district runs them, so only there does a child appear on a
due list, get a reminder or see a next due date for them. The set is programme data that a
state or national admin changes through the staff API (audited, within their jurisdiction);
every reader looks it up through the district of the person's catchment facility (0013).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from immunet.context import AppContext
from immunet.errors import NotFound, ValidationFailed
from immunet.geography.centers import Center
from immunet.geography.models import District
from immunet.schedules.india import regional_groups
from immunet.security.audit import AuditAction, AuditChain
from immunet.staff.jurisdiction import district_filter
from immunet.staff.principal import StaffPrincipal
from immunet.vaccination.models import DistrictRegionalVaccine


class RegionalDistrictNotFound(NotFound):
    error_code = "VACCIN0441"
    message = "No such district in your jurisdiction."


class NotRegionalGroup(ValidationFailed):
    error_code = "VACCIN0442"
    message = "Only the schedule's regional vaccine groups can be enabled per district."


@dataclass(frozen=True)
class DistrictRegional:
    district_id: int
    groups: frozenset[str]


async def regional_by_center(
    session: AsyncSession, center_ids: Iterable[int | None]
) -> dict[int, frozenset[str]]:
    """The regional groups run in each centre's district (one statement for a whole page)."""
    wanted = {c for c in center_ids if c is not None}
    if not wanted:
        return {}
    rows = await session.execute(
        select(Center.center_id, DistrictRegionalVaccine.vaccine_group)
        .join(DistrictRegionalVaccine, DistrictRegionalVaccine.district_id == Center.district_id)
        .where(Center.center_id.in_(wanted))
    )
    out: dict[int, set[str]] = defaultdict(set)
    for center_id, group in rows:
        out[center_id].add(group)
    # A group later dropped from the schedule's regional list is ignored, not an error.
    known = regional_groups()
    return {c: frozenset(g) & known for c, g in out.items()}


async def regional_for_center(session: AsyncSession, center_id: int | None) -> frozenset[str]:
    return (await regional_by_center(session, [center_id])).get(center_id or 0, frozenset())


async def _district_in_scope(
    session: AsyncSession, district_id: int, actor: StaffPrincipal
) -> None:
    found = (
        await session.execute(
            select(District.district_id).where(
                District.district_id == district_id, district_filter(actor)
            )
        )
    ).scalar_one_or_none()
    if found is None:
        # The same answer for "no such district" and "another state's district".
        raise RegionalDistrictNotFound()


async def _groups(session: AsyncSession, district_id: int) -> frozenset[str]:
    return frozenset(
        (
            await session.execute(
                select(DistrictRegionalVaccine.vaccine_group).where(
                    DistrictRegionalVaccine.district_id == district_id
                )
            )
        ).scalars()
    )


async def get_district_regional(
    ctx: AppContext, district_id: int, *, actor: StaffPrincipal
) -> DistrictRegional:
    async with ctx.db.reader() as session:
        await _district_in_scope(session, district_id, actor)
        return DistrictRegional(district_id, await _groups(session, district_id))


async def set_district_regional(
    ctx: AppContext, district_id: int, groups: frozenset[str], *, actor: StaffPrincipal
) -> DistrictRegional:
    """Replace the district's regional vaccines with ``groups`` (an empty set: none)."""
    unknown = groups - regional_groups()
    if unknown:
        raise NotRegionalGroup(f"not a regional vaccine group: {', '.join(sorted(unknown))}")
    async with ctx.db.transaction() as session:
        await _district_in_scope(session, district_id, actor)
        before = await _groups(session, district_id)
        added, removed = groups - before, before - groups
        if removed:
            await session.execute(
                delete(DistrictRegionalVaccine).where(
                    DistrictRegionalVaccine.district_id == district_id,
                    DistrictRegionalVaccine.vaccine_group.in_(removed),
                )
            )
        now = ctx.clock.now()
        for group in sorted(added):
            session.add(
                DistrictRegionalVaccine(
                    district_id=district_id,
                    vaccine_group=group,
                    enabled_at=now,
                    enabled_by=actor.actor,
                )
            )
        if added or removed:
            await session.flush()
            await AuditChain.append(
                session,
                actor=actor.actor,
                action=AuditAction.REGIONAL_VACCINES_SET,
                subject_ref=f"district:{district_id}",
                purpose="programme administration",
                context=actor.context,
                detail={"enabled": sorted(added), "disabled": sorted(removed)},
            )
    return DistrictRegional(district_id, groups)
