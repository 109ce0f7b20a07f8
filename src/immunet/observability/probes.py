"""Dependency probes shared by ``/readyz`` and the metrics scrape.

Each reads a few indexed rows: the outbox's due messages (its ``state, priority,
next_attempt_at`` index), the audit leaves past the highest sequenced one (a primary-key
range), the open staff alerts. Only counts and ages come out, never a row's content.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from immunet.db.base import utcnow
from immunet.outbox.models import DEAD, PENDING, OutboxMessage
from immunet.oversight.models import StaffAlert
from immunet.security.models import AuditEvent, AuditPosition


@dataclass(frozen=True)
class OutboxState:
    due: int
    oldest_due_seconds: float
    dead: int


@dataclass(frozen=True)
class SequencerState:
    unsequenced: int
    oldest_unsequenced_seconds: float


def _age(now: dt.datetime, then: dt.datetime | None) -> float:
    return max(0.0, (now - then).total_seconds()) if then is not None else 0.0


async def writable(session: AsyncSession) -> bool:
    """False on a standby or a database put in read-only mode (the node cannot write)."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    value = (
        await session.execute(text("SELECT current_setting('transaction_read_only')"))
    ).scalar()
    return value == "off"


async def outbox_state(session: AsyncSession, now: dt.datetime | None = None) -> OutboxState:
    now = now or utcnow()
    m = OutboxMessage
    due, oldest = (
        await session.execute(
            select(func.count(), func.min(m.next_attempt_at)).where(
                m.state == PENDING, m.next_attempt_at <= now
            )
        )
    ).one()
    dead = (await session.execute(select(func.count()).where(m.state == DEAD))).scalar_one()
    return OutboxState(int(due), _age(now, oldest), int(dead))


async def sequencer_state(session: AsyncSession, now: dt.datetime | None = None) -> SequencerState:
    # Leaves past the highest sequenced one: a range of the primary key, cheap however long
    # the log (a leaf committed late below it is counted by the sequencer's own sweep).
    high = select(func.coalesce(func.max(AuditPosition.seq), 0)).scalar_subquery()
    count, oldest = (
        await session.execute(
            select(func.count(), func.min(AuditEvent.occurred_at)).where(AuditEvent.seq > high)
        )
    ).one()
    return SequencerState(int(count), _age(now or utcnow(), oldest))


async def open_alerts(session: AsyncSession) -> dict[tuple[str, str], int]:
    rows = await session.execute(
        select(StaffAlert.kind, StaffAlert.severity, func.count())
        .where(StaffAlert.acknowledged_at.is_(None))
        .group_by(StaffAlert.kind, StaffAlert.severity)
    )
    return {(str(kind), str(severity)): int(n) for kind, severity, n in rows.all()}


async def gauges(session: AsyncSession) -> list[Metric]:
    """The database-derived gauges of one scrape."""
    box = await outbox_state(session)
    seq = await sequencer_state(session)
    alerts = await open_alerts(session)
    out: list[Metric] = []

    def gauge(name: str, doc: str, value: float) -> None:
        family = GaugeMetricFamily(name, doc)
        family.add_metric([], value)
        out.append(family)

    gauge("immunet_db_probe_up", "1 when the scrape's database queries succeeded.", 1)
    gauge("immunet_outbox_due_messages", "SMS due for delivery now.", box.due)
    gauge(
        "immunet_outbox_oldest_due_age_seconds",
        "How long the oldest due SMS has waited.",
        box.oldest_due_seconds,
    )
    gauge("immunet_outbox_dead_messages", "SMS dead-lettered (kept for the operator).", box.dead)
    gauge(
        "immunet_audit_unsequenced_entries",
        "Audit leaves the sequencer has not placed in the tree yet.",
        seq.unsequenced,
    )
    gauge(
        "immunet_audit_sequencer_lag_seconds",
        "Age of the oldest audit leaf waiting for the sequencer.",
        seq.oldest_unsequenced_seconds,
    )
    family = GaugeMetricFamily(
        "immunet_staff_alerts_open",
        "Staff-misuse alerts not yet acknowledged, by kind and severity.",
        labels=["kind", "severity"],
    )
    for (kind, severity), n in sorted(alerts.items()):
        family.add_metric([kind, severity], n)
    out.append(family)
    return out


def database_probe(database_url: str) -> Callable[[], Awaitable[list[Metric]]]:
    """The scrape's probe: a one-connection engine per scrape, disposed after it."""

    async def probe() -> list[Metric]:
        from immunet.db.engine import Database

        db = Database(database_url, pool_size=1)
        try:
            async with db.reader() as session:
                return await gauges(session)
        finally:
            await db.dispose()

    return probe
