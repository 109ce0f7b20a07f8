"""Tampering with the audit tables as someone with database rights would, for the tests
that show ``audit verify`` catches it. On PostgreSQL the append-only trigger refuses any
UPDATE or DELETE, so such a person would first disable it; this does the same, inside the
transaction, and re-enables it before commit."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from immunet.db.engine import Database

AUDIT_TABLES = ("audit_events", "audit_positions", "audit_subtrees", "audit_checkpoints")


async def tamper(db: Database, sql: str, params: dict[str, Any] | None = None) -> None:
    async with db.transaction() as session:
        postgres = db.dialect == "postgresql"
        if postgres:
            for table in AUDIT_TABLES:
                await session.execute(
                    text(f"ALTER TABLE {table} DISABLE TRIGGER {table}_append_only")
                )
        await session.execute(text(sql), params or {})
        if postgres:
            for table in AUDIT_TABLES:
                await session.execute(
                    text(f"ALTER TABLE {table} ENABLE TRIGGER {table}_append_only")
                )
