"""Vaccine stock per centre: batches (lots) received, doses used, doses wasted.

Counts live on the batch row and change only by guarded UPDATEs
(``doses_used + wasted < quantity_received``), so concurrent doses can never take more
than a batch holds, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from immunet.booking.rules import today_in_india
from immunet.context import AppContext
from immunet.db.base import utcnow
from immunet.errors import Forbidden
from immunet.security.audit import AuditAction, AuditChain
from immunet.staff.principal import StaffPrincipal
from immunet.vaccination.models import StockBatch, Vaccine
from immunet.vaccination.rules import (
    BatchExhausted,
    BatchExpired,
    BatchNotInStock,
    DuplicateBatch,
    InvalidStock,
    StockNotFound,
    UnknownVaccine,
    check_batch,
)
from immunet.vaccination.schemas import NewStockRequest, WasteRequest, parse_day


def center_of(principal: StaffPrincipal) -> int:
    """The staff member's own centre; staff above a centre have none here."""
    if principal.jurisdiction.kind != "center" or principal.jurisdiction.ref_id is None:
        raise Forbidden("This action is for staff of a vaccination centre.")
    return principal.jurisdiction.ref_id


@dataclass(frozen=True)
class BatchView:
    stock_id: int
    vaccine: str
    lot: str
    expires_on: dt.date
    quantity_received: int
    doses_used: int
    wasted: int

    @property
    def doses_left(self) -> int:
        return self.quantity_received - self.doses_used - self.wasted


def _view(row: StockBatch) -> BatchView:
    return BatchView(
        row.id,
        row.vaccine_code,
        row.lot,
        row.expires_on,
        row.quantity_received,
        row.doses_used,
        row.wasted,
    )


async def receive_batch(ctx: AppContext, form: NewStockRequest, *, actor: StaffPrincipal) -> int:
    center_id = center_of(actor)
    expires_on = parse_day(form.expiry)
    if expires_on < today_in_india(ctx.clock.now()):
        raise BatchExpired()
    try:
        async with ctx.db.transaction() as session:
            vaccine = await session.get(Vaccine, form.vaccine)
            if vaccine is None or not vaccine.active:
                raise UnknownVaccine()
            row = StockBatch(
                center_id=center_id,
                vaccine_code=vaccine.code,
                lot=form.lot,
                expires_on=expires_on,
                quantity_received=form.quantity,
                doses_used=0,
                wasted=0,
                received_by=actor.actor,
                created_at=utcnow(),
            )
            session.add(row)
            await session.flush()
            stock_id = row.id
            await AuditChain.append(
                session,
                actor=actor.actor,
                action=AuditAction.STOCK_RECEIVED,
                subject_ref=f"stock:{stock_id}",
                purpose="stock",
                context=actor.context,
                detail={"center_id": center_id, "vaccine": vaccine.code, "quantity": form.quantity},
            )
    except IntegrityError as exc:
        raise DuplicateBatch() from exc
    return stock_id


async def list_batches(
    ctx: AppContext, *, actor: StaffPrincipal, page: int, limit: int
) -> tuple[int, list[BatchView]]:
    center_id = center_of(actor)
    async with ctx.db.reader() as session:
        rows = (
            (
                await session.execute(
                    select(StockBatch)
                    .where(StockBatch.center_id == center_id)
                    .order_by(StockBatch.vaccine_code, StockBatch.expires_on, StockBatch.id)
                    .offset((page - 1) * limit)
                    .limit(limit)
                )
            )
            .scalars()
            .all()
        )
    return center_id, [_view(row) for row in rows]


async def waste(
    ctx: AppContext, stock_id: int, form: WasteRequest, *, actor: StaffPrincipal
) -> BatchView:
    center_id = center_of(actor)
    async with ctx.db.transaction() as session:
        row = (
            await session.execute(
                select(StockBatch).where(
                    StockBatch.id == stock_id, StockBatch.center_id == center_id
                )
            )
        ).scalar_one_or_none()
        if row is None:
            raise StockNotFound()
        changed = await session.execute(
            update(StockBatch)
            .where(
                StockBatch.id == stock_id,
                StockBatch.doses_used + StockBatch.wasted + form.doses
                <= StockBatch.quantity_received,
            )
            .values(wasted=StockBatch.wasted + form.doses)
            .execution_options(synchronize_session=False)
        )
        if changed.rowcount != 1:  # type: ignore[attr-defined]
            raise InvalidStock("More doses than the batch has left.")
        await session.refresh(row)
        view = _view(row)
        await AuditChain.append(
            session,
            actor=actor.actor,
            action=AuditAction.STOCK_WASTED,
            subject_ref=f"stock:{stock_id}",
            purpose="stock",
            context=actor.context,
            detail={"doses": form.doses, "reason": form.reason},
        )
    return view


async def usable_batch(
    session: AsyncSession, *, center_id: int, vaccine: str, lot: str, on: dt.date
) -> int:
    """The batch ID of ``lot`` if it is in the centre's stock, unexpired and not used up.

    A plain read: the seat-like decrement is :func:`consume_dose`, done last in the
    transaction so the batch row (hot: every dose at a centre touches it) is locked briefly.
    """
    row = (
        await session.execute(
            select(StockBatch).where(
                StockBatch.center_id == center_id,
                StockBatch.vaccine_code == vaccine,
                StockBatch.lot == lot,
            )
        )
    ).scalar_one_or_none()
    if row is None:
        raise BatchNotInStock()
    check_batch(
        expires_on=row.expires_on,
        quantity=row.quantity_received,
        used=row.doses_used,
        wasted=row.wasted,
        on=on,
    )
    return row.id


async def consume_dose(session: AsyncSession, batch_id: int, *, on: dt.date) -> None:
    """Decrement the batch by one dose (guarded UPDATE); refuse when expired or used up."""
    changed = await session.execute(
        update(StockBatch)
        .where(
            StockBatch.id == batch_id,
            StockBatch.expires_on >= on,
            StockBatch.doses_used + StockBatch.wasted < StockBatch.quantity_received,
        )
        .values(doses_used=StockBatch.doses_used + 1)
        .execution_options(synchronize_session=False)
    )
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        raise BatchExhausted()
