"""partner alerts: misuse alerts about partner clients for national admins (issue #10)

Revision ID: 0018
Revises: 0015
Create Date: 2026-12-05 08:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from immunet.db.base import UTCDateTime

revision: str = "0018"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "partner_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=48), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("acknowledged_by", sa.String(length=96), nullable=True),
        sa.Column("acknowledged_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["partner_clients.client_id"],
            name=op.f("fk_partner_alerts_client_id_partner_clients"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_alerts")),
    )
    op.create_index(
        op.f("ix_partner_alerts_client_id"), "partner_alerts", ["client_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_partner_alerts_client_id"), table_name="partner_alerts")
    op.drop_table("partner_alerts")
