"""roster keyset index: a session's appointments in roster order

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-05 04:45:00

A roster page continues after the previous page's last appointment in this order
(slot, created_at, appointment_id), so a page reads ``limit`` index entries wherever it
is in the session instead of sorting the whole session and skipping rows with OFFSET.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("appointments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_appointments_session_order",
            ["session_id", "slot", "created_at", "appointment_id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("appointments", schema=None) as batch_op:
        batch_op.drop_index("ix_appointments_session_order")
