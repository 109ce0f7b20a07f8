"""Enqueueing: an SMS is a row written in the business transaction (transactional outbox).

The message commits or rolls back with the write it reports; a worker delivers it after
the commit (:mod:`immunet.outbox.worker`). Enqueueing sets this process's wake-up event
once the transaction has committed, so the in-process worker sends an OTP at once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets

from sqlalchemy import event, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import Executable

from immunet.clock import Clock
from immunet.outbox.models import (
    PENDING,
    PRIORITY_NOTICE,
    PRIORITY_OTP,
    OutboxMessage,
    recipient_context,
    text_context,
)
from immunet.security.keyring import Keyring
from immunet.sms import render

NOTIFY_CHANNEL = "immunet_outbox"


class Outbox:
    """The process's door to the outbox table, with its local wake-up event."""

    def __init__(self, keyring: Keyring, clock: Clock, *, notify: bool = True) -> None:
        self._keyring = keyring
        self._clock = clock
        self._notify = notify
        self.wake = asyncio.Event()

    async def enqueue(
        self,
        session: AsyncSession,
        *,
        to: str,
        template: str,
        values: dict[str, str],
        priority: int = PRIORITY_NOTICE,
        dedup_key: str | None = None,
        valid_seconds: int | None = None,
    ) -> bool:
        """Add the message in ``session``'s transaction; False if ``dedup_key`` is queued."""
        key = dedup_key or f"{template}:{secrets.token_hex(16)}"
        now = self._clock.now()
        cipher = self._keyring.field_cipher
        row = {
            "dedup_key": key,
            "template": template,
            "recipient_ct": cipher.encrypt(to, context=recipient_context(key)),
            "text_ct": cipher.encrypt(render(template, values), context=text_context(key)),
            "priority": priority,
            "state": PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "expires_at": None
            if valid_seconds is None
            else now + dt.timedelta(seconds=valid_seconds),
            "created_at": now,
        }
        dialect = session.get_bind().dialect.name
        stmt: Executable
        if dialect == "postgresql":
            stmt = (
                pg_insert(OutboxMessage)
                .values(row)
                .on_conflict_do_nothing(index_elements=["dedup_key"])
            )
        else:
            stmt = (
                sqlite_insert(OutboxMessage)
                .values(row)
                .on_conflict_do_nothing(index_elements=["dedup_key"])
            )
        result = await session.execute(stmt)
        added = bool(getattr(result, "rowcount", 0))
        if added:
            self._wake_after_commit(session.sync_session)
            if priority == PRIORITY_OTP and dialect == "postgresql" and self._notify:
                # Delivered at commit to every `immunet worker` listening; OTPs only, as
                # NOTIFY serializes the commits that use it (notices wait for the poll).
                await session.execute(
                    text("SELECT pg_notify(:channel, '')"), {"channel": NOTIFY_CHANNEL}
                )
        return added

    def _wake_after_commit(self, sync: Session) -> None:
        if sync.info.get("outbox_wake"):
            return
        sync.info["outbox_wake"] = True

        def committed(_session: Session) -> None:
            sync.info.pop("outbox_wake", None)
            self.wake.set()

        def rolled_back(_session: Session, _transaction: object) -> None:
            sync.info.pop("outbox_wake", None)

        event.listen(sync, "after_commit", committed, once=True)
        event.listen(sync, "after_soft_rollback", rolled_back, once=True)
