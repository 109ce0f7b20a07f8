"""Tampering with the audit tables as someone with database rights would, for the tests
that show ``audit verify`` catches it. On PostgreSQL the append-only trigger refuses any
UPDATE or DELETE, so such a person would first disable it; this does the same, inside the
transaction, and re-enables it before commit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import text

from immunet.db.engine import Database

AUDIT_TABLES = ("audit_events", "audit_positions", "audit_subtrees", "audit_checkpoints")


def _trigger(table: str, state: str) -> str:
    return f"ALTER TABLE {table} {state} TRIGGER {table}_append_only"


async def tamper(
    db: Database, sql: str | Sequence[str], params: dict[str, Any] | None = None
) -> None:
    async with db.transaction() as session:
        postgres = db.dialect == "postgresql"
        if postgres:
            for table in AUDIT_TABLES:
                await session.execute(text(_trigger(table, "DISABLE")))
        for statement in [sql] if isinstance(sql, str) else sql:
            await session.execute(text(statement), params or {})
        if postgres:
            for table in AUDIT_TABLES:
                await session.execute(text(_trigger(table, "ENABLE")))
