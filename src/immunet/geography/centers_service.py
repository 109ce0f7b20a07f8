"""Vaccination centres: created, edited, listed and imported by staff inside their jurisdiction.

A centre outside the caller's jurisdiction, and a district outside it, answer exactly like
ones that do not exist (404), so the API tells no one what lies beyond their own area.
Jurisdiction is part of every query (``center_filter``), never a check after the fact.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import ValidationError
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from immunet.context import AppContext
from immunet.db.base import utcnow
from immunet.errors import NotFound, ValidationFailed
from immunet.geography.center_schemas import (
    MAX_IMPORT_ROWS,
    CenterCreate,
    CenterPatch,
    ImportReport,
    ImportRow,
    VaccineFeeIn,
)
from immunet.geography.centers import Center, CenterVaccineFee
from immunet.geography.models import District, Pincode
from immunet.security.audit import AuditAction, AuditChain
from immunet.sessions.availability import invalidate_centers
from immunet.staff.jurisdiction import center_filter
from immunet.staff.principal import StaffPrincipal
from immunet.vaccination.models import Vaccine

log = logging.getLogger("immunet.centers")


class CenterNotFound(NotFound):
    error_code = "CENTER0404"
    message = "No such centre."


class DistrictNotFound(NotFound):
    error_code = "CENTER0405"
    message = "No such district."


class InvalidCenter(ValidationFailed):
    error_code = "CENTER0400"
    message = "The centre is not valid."


@dataclass(frozen=True)
class CenterView:
    center: Center
    vaccine_fees: list[tuple[str, str]]


def district_in_jurisdiction(principal: StaffPrincipal, district: District) -> bool:
    """May this caller place a centre in ``district``? Centre-level jurisdictions never may."""
    j = principal.jurisdiction
    if j.kind == "national":
        return True
    if j.kind == "state":
        return district.state_id == j.ref_id
    if j.kind == "district":
        return district.district_id == j.ref_id
    return False


async def _district_for(
    session: AsyncSession, principal: StaffPrincipal, district_id: int
) -> District:
    district = await session.get(District, district_id)
    if district is None or not district_in_jurisdiction(principal, district):
        raise DistrictNotFound()
    return district


async def _check_pincode(session: AsyncSession, pincode: str) -> None:
    if await session.get(Pincode, pincode) is None:
        raise InvalidCenter("pincode: not a known PIN code")


async def _check_vaccines(session: AsyncSession, fees: Sequence[VaccineFeeIn]) -> None:
    codes = {fee.vaccine for fee in fees}
    if not codes:
        return
    known = set(
        (await session.execute(select(Vaccine.code).where(Vaccine.code.in_(codes)))).scalars()
    )
    unknown = sorted(codes - known)
    if unknown:
        raise InvalidCenter("vaccine_fees: unknown vaccine " + ", ".join(unknown[:3]))


def _fees_for(form_fee_type: str, fees: Sequence[VaccineFeeIn]) -> list[VaccineFeeIn]:
    if form_fee_type == "Free" and any(fee.fee != "0" for fee in fees):
        raise InvalidCenter("vaccine_fees: a Free centre charges no vaccine fee")
    return list(fees)


async def _insert_center(
    session: AsyncSession, form: CenterCreate, district: District, actor: StaffPrincipal
) -> Center:
    center = Center(
        name=form.name.strip(),
        address=form.address.strip(),
        state_id=district.state_id,
        district_id=district.district_id,
        block_name=form.block_name.strip(),
        pincode=form.pincode,
        lat=form.lat,
        long=form.long,
        opens_at=form.opens_at,
        closes_at=form.closes_at,
        fee_type=form.fee_type,
        active=True,
        created_by=actor.actor,
        created_at=utcnow(),
    )
    session.add(center)
    await session.flush()
    for fee in form.vaccine_fees:
        session.add(
            CenterVaccineFee(center_id=center.center_id, vaccine_code=fee.vaccine, fee=fee.fee)
        )
    await session.flush()
    return center


async def create_center(ctx: AppContext, form: CenterCreate, *, actor: StaffPrincipal) -> int:
    async with ctx.db.transaction() as session:
        district = await _district_for(session, actor, form.district_id)
        await _check_pincode(session, form.pincode)
        await _check_vaccines(session, form.vaccine_fees)
        center = await _insert_center(session, form, district, actor)
        center_id = center.center_id
        await AuditChain.append(
            session,
            actor=actor.actor,
            action=AuditAction.CENTER_CREATED,
            subject_ref=f"center:{center_id}",
            purpose="centre administration",
            context=actor.context,
            detail={"district_id": district.district_id},
        )
    await _invalidate(ctx, center_id)
    return center_id


async def update_center(
    ctx: AppContext, center_id: int, patch: CenterPatch, *, actor: StaffPrincipal
) -> None:
    async with ctx.db.transaction() as session:
        center = (
            await session.execute(
                select(Center)
                .where(Center.center_id == center_id, center_filter(actor))
                .with_for_update()
            )
        ).scalar_one_or_none()
        if center is None:
            raise CenterNotFound()
        changed = sorted(patch.model_fields_set)
        if patch.pincode is not None:
            await _check_pincode(session, patch.pincode)
        for field in ("name", "address", "block_name"):
            value = getattr(patch, field)
            if value is not None:
                setattr(center, field, value.strip())
        for field in ("pincode", "lat", "long", "opens_at", "closes_at", "fee_type", "active"):
            value = getattr(patch, field)
            if value is not None:
                setattr(center, field, value)
        if center.opens_at >= center.closes_at:
            raise InvalidCenter("from must be earlier than to")
        if patch.vaccine_fees is not None:
            fees = _fees_for(center.fee_type, patch.vaccine_fees)
            await _check_vaccines(session, fees)
            await session.execute(
                delete(CenterVaccineFee).where(CenterVaccineFee.center_id == center_id)
            )
            for fee in fees:
                session.add(
                    CenterVaccineFee(center_id=center_id, vaccine_code=fee.vaccine, fee=fee.fee)
                )
        elif center.fee_type == "Free":
            await session.execute(
                delete(CenterVaccineFee).where(
                    CenterVaccineFee.center_id == center_id, CenterVaccineFee.fee != "0"
                )
            )
        await session.flush()
        await AuditChain.append(
            session,
            actor=actor.actor,
            action=AuditAction.CENTER_UPDATED,
            subject_ref=f"center:{center_id}",
            purpose="centre administration",
            context=actor.context,
            detail={"fields": changed},
        )
    await _invalidate(ctx, center_id)


async def get_center(ctx: AppContext, center_id: int, *, actor: StaffPrincipal) -> CenterView:
    async with ctx.db.reader() as session:
        center = (
            await session.execute(
                select(Center).where(Center.center_id == center_id, center_filter(actor))
            )
        ).scalar_one_or_none()
        if center is None:
            raise CenterNotFound()
        fees = await _fees_of(session, [center_id])
    return CenterView(center, fees.get(center_id, []))


async def _fees_of(
    session: AsyncSession, center_ids: list[int]
) -> dict[int, list[tuple[str, str]]]:
    if not center_ids:
        return {}
    rows = await session.execute(
        select(CenterVaccineFee)
        .where(CenterVaccineFee.center_id.in_(center_ids))
        .order_by(CenterVaccineFee.center_id, CenterVaccineFee.vaccine_code)
    )
    out: dict[int, list[tuple[str, str]]] = {}
    for fee in rows.scalars():
        out.setdefault(fee.center_id, []).append((fee.vaccine_code, fee.fee))
    return out


async def list_centers(
    ctx: AppContext,
    *,
    actor: StaffPrincipal,
    limit: int,
    after: int | None = None,
    district_id: int | None = None,
    pincode: str | None = None,
) -> tuple[list[CenterView], int | None]:
    """One page of the caller's centres, by ``center_id`` (keyset paging with ``after``)."""
    query = select(Center).where(center_filter(actor))
    if after is not None:
        query = query.where(Center.center_id > after)
    if district_id is not None:
        query = query.where(Center.district_id == district_id)
    if pincode is not None:
        query = query.where(Center.pincode == pincode)
    query = query.order_by(Center.center_id).limit(limit + 1)
    async with ctx.db.reader() as session:
        centers = list((await session.execute(query)).scalars())
        more = len(centers) > limit
        centers = centers[:limit]
        fees = await _fees_of(session, [c.center_id for c in centers])
    views = [CenterView(c, fees.get(c.center_id, [])) for c in centers]
    return views, (centers[-1].center_id if more and centers else None)


# -- bulk import ---------------------------------------------------------------------

IMPORT_COLUMNS = (
    "name",
    "address",
    "district_id",
    "block_name",
    "pincode",
    "lat",
    "long",
    "from",
    "to",
    "fee_type",
    "vaccine_fees",
)


def _parse_fees(text: str) -> list[dict[str, str]]:
    """``COVISHIELD:780;COVAXIN:1410`` → ``[{"vaccine", "fee"}]``."""
    fees = []
    for part in (p.strip() for p in text.split(";")):
        if not part:
            continue
        vaccine, sep, fee = part.rpartition(":")
        if not sep:
            raise ValueError("vaccine_fees: write VACCINE:FEE;VACCINE:FEE")
        fees.append({"vaccine": vaccine.strip(), "fee": fee.strip()})
    return fees


def _row_errors(exc: ValidationError) -> list[str]:
    # Field names and the validator's words only; the submitted values are never echoed.
    errors = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ())) or "row"
        message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        errors.append(f"{loc}: {message}"[:160])
    return errors


def parse_import(text: str) -> tuple[list[tuple[int, CenterCreate]], list[ImportRow]]:
    """Validate the CSV's rows one by one (pure): good forms and the rejected rows."""
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in IMPORT_COLUMNS if c != "vaccine_fees" and c not in header]
    unknown = [h for h in header if h not in IMPORT_COLUMNS]
    if missing or unknown:
        problems = []
        if missing:
            problems.append("missing columns: " + ", ".join(missing))
        if unknown:
            problems.append("unknown columns: " + ", ".join(u[:20] for u in unknown[:5]))
        raise InvalidCenter("; ".join(problems))
    reader.fieldnames = header
    good: list[tuple[int, CenterCreate]] = []
    bad: list[ImportRow] = []
    count = 0
    for raw in reader:
        count += 1
        if count > MAX_IMPORT_ROWS:
            raise InvalidCenter(f"at most {MAX_IMPORT_ROWS} rows per import")
        line = reader.line_num
        if None in raw or any(v is None for v in raw.values()):
            bad.append(ImportRow(row=line, ok=False, errors=["row: wrong number of columns"]))
            continue
        data: dict[str, object] = {k: v.strip() for k, v in raw.items() if k != "vaccine_fees"}
        try:
            data["vaccine_fees"] = _parse_fees(raw.get("vaccine_fees") or "")
            good.append((line, CenterCreate.model_validate(data)))
        except ValidationError as exc:
            bad.append(ImportRow(row=line, ok=False, errors=_row_errors(exc)))
        except ValueError as exc:
            bad.append(ImportRow(row=line, ok=False, errors=[str(exc)[:160]]))
    if count == 0:
        raise InvalidCenter("the CSV has no rows")
    return good, bad


async def import_centers(ctx: AppContext, text: str, *, actor: StaffPrincipal) -> ImportReport:
    """Create every valid row (all inside the caller's jurisdiction); report on each row."""
    good, rows = parse_import(text)
    created_ids: list[int] = []
    async with ctx.db.transaction() as session:
        districts: dict[int, District | None] = {}
        for line, form in good:
            if form.district_id not in districts:
                found = await session.get(District, form.district_id)
                districts[form.district_id] = (
                    found if found is not None and district_in_jurisdiction(actor, found) else None
                )
            district = districts[form.district_id]
            errors = []
            if district is None:
                errors.append("district_id: no such district")
            if await session.get(Pincode, form.pincode) is None:
                errors.append("pincode: not a known PIN code")
            try:
                await _check_vaccines(session, form.vaccine_fees)
            except InvalidCenter as exc:
                errors.append(exc.message)
            if errors or district is None:
                rows.append(ImportRow(row=line, ok=False, errors=errors))
                continue
            center = await _insert_center(session, form, district, actor)
            created_ids.append(center.center_id)
            rows.append(ImportRow(row=line, ok=True, center_id=center.center_id))
        rejected = sum(1 for r in rows if not r.ok)
        if created_ids:
            await AuditChain.append(
                session,
                actor=actor.actor,
                action=AuditAction.CENTERS_IMPORTED,
                subject_ref=f"centers:{created_ids[0]}-{created_ids[-1]}",
                purpose="centre administration",
                context=actor.context,
                detail={"created": len(created_ids), "rejected": rejected},
            )
    for center_id in created_ids:
        await _invalidate(ctx, center_id)
    rows.sort(key=lambda r: r.row)
    return ImportReport(created=len(created_ids), rejected=rejected, rows=rows)


async def _invalidate(ctx: AppContext, center_id: int) -> None:
    await invalidate_centers(ctx, center_id)
