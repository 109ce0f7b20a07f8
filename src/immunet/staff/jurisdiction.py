"""Jurisdictions as query filters: national ⊃ state ⊃ district ⊃ centre.

Every staff query is narrowed by one of these filters, so an admin of one district can
neither see, list nor change anything of another. A centre's district and state come from
the ``centers`` table, a district's state from ``districts``.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, false, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from immunet.geography.centers import Center
from immunet.geography.models import District, State
from immunet.staff.models import StaffUser
from immunet.staff.principal import Jurisdiction, StaffPrincipal

NATIONAL = Jurisdiction("national", None)
KINDS = ("national", "state", "district", "center")


def _jurisdiction_of(scope: StaffPrincipal | Jurisdiction) -> Jurisdiction:
    return scope.jurisdiction if isinstance(scope, StaffPrincipal) else scope


async def jurisdiction_exists(session: AsyncSession, jurisdiction: Jurisdiction) -> bool:
    """True when the state, district or centre a jurisdiction names exists."""
    if jurisdiction.kind == "national":
        return jurisdiction.ref_id is None
    if jurisdiction.ref_id is None:
        return False
    model: type[State] | type[District] | type[Center]
    if jurisdiction.kind == "state":
        model = State
    elif jurisdiction.kind == "district":
        model = District
    elif jurisdiction.kind == "center":
        model = Center
    else:
        return False
    return await session.get(model, jurisdiction.ref_id) is not None


async def jurisdiction_contains(
    session: AsyncSession, outer: Jurisdiction, inner: Jurisdiction
) -> bool:
    """True when ``inner`` lies inside (or is) ``outer``; unknown places lie nowhere."""
    if outer.kind not in KINDS or inner.kind not in KINDS:
        return False
    if outer.kind == "national":
        return inner.kind == "national" or await jurisdiction_exists(session, inner)
    if inner.kind == "national" or inner.ref_id is None or outer.ref_id is None:
        return False
    if KINDS.index(inner.kind) < KINDS.index(outer.kind):
        return False  # a smaller place never contains a larger one
    if inner.kind == outer.kind:
        return inner.ref_id == outer.ref_id and await jurisdiction_exists(session, inner)
    if inner.kind == "district":  # outer is a state
        state_id = (
            await session.execute(
                select(District.state_id).where(District.district_id == inner.ref_id)
            )
        ).scalar_one_or_none()
        return state_id is not None and state_id == outer.ref_id
    # inner is a centre; outer is a state or a district
    row = (
        await session.execute(
            select(Center.state_id, Center.district_id).where(Center.center_id == inner.ref_id)
        )
    ).first()
    if row is None:
        return False
    if outer.kind == "state":
        return bool(row.state_id == outer.ref_id)
    return bool(row.district_id == outer.ref_id)


def center_filter(scope: StaffPrincipal | Jurisdiction) -> ColumnElement[bool]:
    """A where-clause on :class:`Center` keeping the centres inside the caller's jurisdiction."""
    j = _jurisdiction_of(scope)
    if j.kind == "national":
        return true()
    if j.ref_id is None:
        return false()
    if j.kind == "state":
        return Center.state_id == j.ref_id
    if j.kind == "district":
        return Center.district_id == j.ref_id
    if j.kind == "center":
        return Center.center_id == j.ref_id
    return false()


def district_filter(scope: StaffPrincipal | Jurisdiction) -> ColumnElement[bool]:
    """A where-clause on :class:`District` (a centre's jurisdiction sees its own district)."""
    j = _jurisdiction_of(scope)
    if j.kind == "national":
        return true()
    if j.ref_id is None:
        return false()
    if j.kind == "state":
        return District.state_id == j.ref_id
    if j.kind == "district":
        return District.district_id == j.ref_id
    if j.kind == "center":
        return District.district_id.in_(
            select(Center.district_id).where(Center.center_id == j.ref_id).scalar_subquery()
        )
    return false()


def staff_user_filter(scope: StaffPrincipal | Jurisdiction) -> ColumnElement[bool]:
    """A where-clause on :class:`StaffUser` keeping users whose jurisdiction lies inside."""
    j = _jurisdiction_of(scope)
    if j.kind == "national":
        return true()
    if j.ref_id is None:
        return false()
    kind, ref = StaffUser.jurisdiction_kind, StaffUser.jurisdiction_id
    if j.kind == "state":
        return or_(
            and_(kind == "state", ref == j.ref_id),
            and_(
                kind == "district",
                ref.in_(select(District.district_id).where(District.state_id == j.ref_id)),
            ),
            and_(
                kind == "center",
                ref.in_(select(Center.center_id).where(Center.state_id == j.ref_id)),
            ),
        )
    if j.kind == "district":
        return or_(
            and_(kind == "district", ref == j.ref_id),
            and_(
                kind == "center",
                ref.in_(select(Center.center_id).where(Center.district_id == j.ref_id)),
            ),
        )
    if j.kind == "center":
        return and_(kind == "center", ref == j.ref_id)
    return false()
