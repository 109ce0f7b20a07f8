"""research data: research tokens, privacy budgets, the public register (issue #10 §4)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 08:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from immunet.db.base import UTCDateTime

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "research_tokens",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("jkt", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["partner_clients.client_id"],
            name=op.f("fk_research_tokens_client_id_partner_clients"),
        ),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_research_tokens")),
    )
    op.create_index(
        op.f("ix_research_tokens_client_id"), "research_tokens", ["client_id"], unique=False
    )
    op.create_table(
        "research_budgets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("dataset", sa.String(length=32), nullable=False),
        sa.Column("total_micro", sa.BigInteger(), nullable=False),
        sa.Column("spent_micro", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["partner_clients.client_id"],
            name=op.f("fk_research_budgets_client_id_partner_clients"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_research_budgets")),
        sa.UniqueConstraint("client_id", "dataset", name=op.f("uq_research_budgets_client_id")),
    )
    op.create_table(
        "research_register",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("partner_name", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("dataset", sa.String(length=32), nullable=False),
        sa.Column("query", sa.JSON(), nullable=False),
        sa.Column("epsilon_micro", sa.BigInteger(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("row_count", sa.Integer(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["partner_clients.client_id"],
            name=op.f("fk_research_register_client_id_partner_clients"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_research_register")),
    )
    op.create_index(
        op.f("ix_research_register_client_id"), "research_register", ["client_id"], unique=False
    )
    op.create_index(
        op.f("ix_research_register_created_at"), "research_register", ["created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_research_register_created_at"), table_name="research_register")
    op.drop_index(op.f("ix_research_register_client_id"), table_name="research_register")
    op.drop_table("research_register")
    op.drop_table("research_budgets")
    op.drop_index(op.f("ix_research_tokens_client_id"), table_name="research_tokens")
    op.drop_table("research_tokens")
