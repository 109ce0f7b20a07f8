"""routine-immunization sessions planned from due lists: their sites

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05 08:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from immunet.db.base import UTCDateTime

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A new table only: the previous release neither reads nor writes it.
    op.create_table(
        "routine_session_sites",
        sa.Column("session_id", sa.String(length=36), nullable=False),
        sa.Column("site_kind", sa.String(length=8), nullable=False),
        sa.Column("site_name", sa.String(length=80), nullable=True),
        sa.Column("site_location", sa.String(length=120), nullable=True),
        sa.Column("vaccine_groups", sa.Text(), nullable=False),
        sa.Column("due_from", sa.Date(), nullable=False),
        sa.Column("due_to", sa.Date(), nullable=False),
        sa.Column("invited", sa.Integer(), nullable=False),
        sa.Column("planned_by", sa.String(length=96), nullable=False),
        sa.Column("planned_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "site_kind IN ('fixed', 'outreach')",
            name=op.f("ck_routine_session_sites_site_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["vaccination_sessions.session_id"],
            name=op.f("fk_routine_session_sites_session_id_vaccination_sessions"),
        ),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_routine_session_sites")),
    )


def downgrade() -> None:
    op.drop_table("routine_session_sites")
