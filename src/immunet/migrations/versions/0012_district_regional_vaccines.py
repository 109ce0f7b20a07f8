"""regional vaccines (JE, PCV) per district

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 05:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from immunet.db.base import UTCDateTime

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A new table only: the previous release neither reads nor writes it.
    op.create_table(
        "district_regional_vaccines",
        sa.Column("district_id", sa.Integer(), nullable=False),
        sa.Column("vaccine_group", sa.String(length=40), nullable=False),
        sa.Column("enabled_at", UTCDateTime(), nullable=False),
        sa.Column("enabled_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["district_id"],
            ["districts.district_id"],
            name=op.f("fk_district_regional_vaccines_district_id_districts"),
        ),
        sa.PrimaryKeyConstraint(
            "district_id", "vaccine_group", name=op.f("pk_district_regional_vaccines")
        ),
    )


def downgrade() -> None:
    op.drop_table("district_regional_vaccines")
