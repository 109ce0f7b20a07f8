"""partner logins: consents given on the Co-WIN compatible partner path (issue #10)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 05:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from immunet.db.base import UTCDateTime

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "partner_logins",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["citizen_accounts.id"],
            name=op.f("fk_partner_logins_account_id_citizen_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["partner_clients.client_id"],
            name=op.f("fk_partner_logins_client_id_partner_clients"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_logins")),
        sa.UniqueConstraint("session_id", name=op.f("uq_partner_logins_session_id")),
    )
    op.create_index(
        op.f("ix_partner_logins_account_id"), "partner_logins", ["account_id"], unique=False
    )
    op.create_index(
        op.f("ix_partner_logins_client_id"), "partner_logins", ["client_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_partner_logins_client_id"), table_name="partner_logins")
    op.drop_index(op.f("ix_partner_logins_account_id"), table_name="partner_logins")
    op.drop_table("partner_logins")
