"""Delivering the outbox: claim with a lease, send, mark; retry with back-off; dead-letter.

Any number of workers (``immunet worker`` processes, and the in-process worker of
``immunet serve``/``demo``) drain one table. A claim is one short transaction: due rows,
lowest priority first (OTPs), are selected ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (two
workers never claim the same row; on SQLite every write transaction is ``BEGIN
IMMEDIATE``, so claims run one at a time), given a lease and an attempt. The sends happen
outside any transaction, then one short transaction marks the batch's sent rows (their text
dropped); a failed send schedules its row's next attempt.

Delivery is once each, with one documented exception: a worker that dies after the
provider accepted a message but before it marked the row sent leaves the lease to
expire, and another worker sends the message again: at most one resend per crash.
Each claim counts as an attempt, so a message that crashes its workers dead-letters too.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select, update

from immunet.clock import Clock, SystemClock
from immunet.db.engine import Database
from immunet.observability.metrics import SMS_DELIVERIES
from immunet.outbox.models import (
    DEAD,
    PENDING,
    SENT,
    OutboxMessage,
    recipient_context,
    text_context,
)
from immunet.outbox.service import NOTIFY_CHANNEL
from immunet.security.keyring import Keyring
from immunet.settings import Settings
from immunet.sms import SmsError, SmsGateway

log = logging.getLogger("immunet.outbox")

_jitter = secrets.SystemRandom()


@dataclass(frozen=True)
class Claimed:
    id: int
    dedup_key: str
    template: str
    recipient_ct: bytes
    text_ct: bytes | None
    expires_at: dt.datetime | None
    attempts: int
    priority: int


@dataclass
class DrainResult:
    sent: int = 0
    retried: int = 0
    dead: int = 0

    def add(self, other: DrainResult) -> None:
        self.sent += other.sent
        self.retried += other.retried
        self.dead += other.dead


@dataclass
class OutboxWorker:
    db: Database
    keyring: Keyring
    gateway: SmsGateway
    settings: Settings
    clock: Clock = field(default_factory=SystemClock)

    def backoff(self, attempts: int) -> dt.timedelta:
        """Exponential in the attempts made, capped, with jitter (half to full delay)."""
        s = self.settings
        ceiling = min(
            s.outbox_backoff_max_seconds, s.outbox_backoff_base_seconds * 2 ** (attempts - 1)
        )
        return dt.timedelta(seconds=ceiling * _jitter.uniform(0.5, 1.0))

    async def claim(self, limit: int | None = None) -> list[Claimed]:
        now = self.clock.now()
        lease = now + dt.timedelta(seconds=self.settings.outbox_lease_seconds)
        m = OutboxMessage
        due = (
            select(m.id)
            .where(
                m.state == PENDING,
                m.next_attempt_at <= now,
                (m.lease_until.is_(None)) | (m.lease_until <= now),
            )
            .order_by(m.priority, m.next_attempt_at, m.id)
            .limit(limit or self.settings.outbox_batch)
            .with_for_update(skip_locked=True)
        )
        async with self.db.transaction() as session:
            rows = (
                await session.execute(
                    update(m)
                    .where(m.id.in_(due.scalar_subquery()))
                    .values(lease_until=lease, attempts=m.attempts + 1)
                    .returning(
                        m.id,
                        m.dedup_key,
                        m.template,
                        m.recipient_ct,
                        m.text_ct,
                        m.expires_at,
                        m.attempts,
                        m.priority,
                    )
                    .execution_options(synchronize_session=False)
                )
            ).all()
        claimed = [
            Claimed(
                id=int(r.id),
                dedup_key=str(r.dedup_key),
                template=str(r.template),
                recipient_ct=bytes(r.recipient_ct),
                text_ct=None if r.text_ct is None else bytes(r.text_ct),
                expires_at=r.expires_at,
                attempts=int(r.attempts),
                priority=int(r.priority),
            )
            for r in rows
        ]
        claimed.sort(key=lambda c: (c.priority, c.id))
        return claimed

    async def deliver(self, message: Claimed) -> DrainResult:
        """Send one claimed message and record the outcome (a sent one is marked by the
        caller, with the rest of its batch: :meth:`drain_once`)."""
        result = await self._deliver(message)
        outcome = "sent" if result.sent else "retried" if result.retried else "dead"
        SMS_DELIVERIES.labels(message.template, outcome).inc()
        return result

    async def _deliver(self, message: Claimed) -> DrainResult:
        now = self.clock.now()
        if message.expires_at is not None and now >= message.expires_at:
            await self._dead(message, "Expired")
            return DrainResult(dead=1)
        if message.text_ct is None:
            await self._dead(message, "NoText")
            return DrainResult(dead=1)
        try:
            cipher = self.keyring.field_cipher
            to = cipher.decrypt(message.recipient_ct, context=recipient_context(message.dedup_key))
            text = cipher.decrypt(message.text_ct, context=text_context(message.dedup_key))
        except Exception as exc:  # a key gone from the ring: never deliverable
            await self._dead(message, type(exc).__name__)
            return DrainResult(dead=1)
        try:
            await self.gateway.deliver(to, message.template, text)
        except Exception as exc:
            permanent = isinstance(exc, SmsError) and not exc.retryable
            if permanent or message.attempts >= self.settings.outbox_max_attempts:
                await self._dead(message, type(exc).__name__)
                return DrainResult(dead=1)
            return await self._retry(message, type(exc).__name__)
        return DrainResult(sent=1)

    async def _retry(self, message: Claimed, error: str) -> DrainResult:
        delay = self.backoff(message.attempts)
        if message.expires_at is not None and self.clock.now() + delay >= message.expires_at:
            await self._dead(message, "Expired")  # the next try would carry a dead code
            return DrainResult(dead=1)
        await self._mark(
            message,
            next_attempt_at=self.clock.now() + delay,
            lease_until=None,
            last_error=error[:64],
        )
        log.info(
            "sms %s (%s) attempt %d failed: %s; next in %.0f s",
            message.id,
            message.template,
            message.attempts,
            error,
            delay.total_seconds(),
        )
        return DrainResult(retried=1)

    async def _dead(self, message: Claimed, error: str) -> None:
        await self._mark(message, state=DEAD, text_ct=None, lease_until=None, last_error=error[:64])
        log.warning(
            "sms %s (%s) dead-lettered after %d attempts: %s",
            message.id,
            message.template,
            message.attempts,
            error,
        )

    async def _mark(self, message: Claimed, **values: object) -> None:
        m = OutboxMessage
        async with self.db.transaction() as session:
            await session.execute(
                update(m)
                .where(m.id == message.id, m.state == PENDING)
                .values(**values)
                .execution_options(synchronize_session=False)
            )

    async def _mark_sent(self, messages: list[Claimed]) -> None:
        """Every message of a batch the provider accepted, marked sent in one statement
        (one transaction per batch, not one per message: on a busy day each SMS would
        otherwise cost the worker a transaction of its own). The text is dropped."""
        if not messages:
            return
        m = OutboxMessage
        async with self.db.transaction() as session:
            await session.execute(
                update(m)
                .where(m.id.in_([message.id for message in messages]), m.state == PENDING)
                .values(
                    state=SENT,
                    sent_at=self.clock.now(),
                    text_ct=None,
                    lease_until=None,
                    last_error=None,
                )
                .execution_options(synchronize_session=False)
            )

    async def drain_once(self) -> DrainResult:
        """Claim one batch and deliver it, the messages concurrently (a slow one holds none),
        then mark the sent ones. A worker that dies before that mark leaves their leases to
        expire and they are sent again: the one resend per crash the module describes."""
        claimed = await self.claim()
        result = DrainResult()
        outcomes = await asyncio.gather(*(self.deliver(c) for c in claimed))
        await self._mark_sent(
            [message for message, part in zip(claimed, outcomes, strict=True) if part.sent]
        )
        for part in outcomes:
            result.add(part)
        return result

    async def drain(self) -> DrainResult:
        """Deliver everything due now (retries wait for their time)."""
        total = DrainResult()
        while True:
            step = await self.drain_once()
            total.add(step)
            if step.sent + step.retried + step.dead == 0:
                return total

    async def run(
        self, stop: asyncio.Event, wake: asyncio.Event | None = None, interval: float = 1.0
    ) -> None:
        """Drain, then sleep until woken (a local commit), the poll interval, or stop."""
        wake = wake or asyncio.Event()
        async with self._listening(wake):
            while not stop.is_set():
                wake.clear()
                try:
                    await self.drain()
                except asyncio.CancelledError:
                    raise
                except Exception:  # a lost connection: try again at the next tick
                    log.exception("outbox drain failed; retrying")
                await _wait_any(stop, wake, interval)

    @contextlib.asynccontextmanager
    async def _listening(self, wake: asyncio.Event) -> AsyncIterator[None]:
        """PostgreSQL: LISTEN on a connection of its own; a NOTIFY (an OTP's commit, in
        any process) wakes this worker. Without it (SQLite, or the LISTEN failed) the
        poll interval bounds the latency."""
        if self.db.dialect != "postgresql" or not self.settings.outbox_notify:
            yield
            return

        def notified(*_args: object) -> None:
            wake.set()

        try:
            conn = await self.db.engine.connect()
            raw: Any = (await conn.get_raw_connection()).driver_connection
            await raw.add_listener(NOTIFY_CHANNEL, notified)
        except Exception as exc:
            log.warning("outbox: LISTEN unavailable (%s); polling only", type(exc).__name__)
            yield
            return
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                await raw.remove_listener(NOTIFY_CHANNEL, notified)
            with contextlib.suppress(Exception):
                await conn.close()


async def counts(db: Database) -> dict[str, int]:
    """Messages per state: the operator's view of the queue and its dead letters."""
    async with db.reader() as session:
        rows = await session.execute(
            select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)
        )
        found = {str(state): int(n) for state, n in rows.all()}
    return {state: found.get(state, 0) for state in (PENDING, SENT, DEAD)}


async def _wait_any(stop: asyncio.Event, wake: asyncio.Event, seconds: float) -> None:
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waiter


def start_in_process(
    worker: OutboxWorker, wake: asyncio.Event, interval: float
) -> tuple[asyncio.Task[None], asyncio.Event]:
    """The outbox worker as a task of this process (``immunet serve`` and ``demo``)."""
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop, wake, interval))
    return task, stop
