"""routine-immunization sessions planned from due lists (their sites); revoked card versions

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
    # New tables only: the previous release neither reads nor writes them.
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
    op.create_table(
        "immunization_card_revocations",
        sa.Column("dose_id", sa.Integer(), nullable=False),
        sa.Column("beneficiary_id", sa.Integer(), nullable=False),
        sa.Column("card_id", sa.String(length=40), nullable=False),
        sa.Column("first_version", sa.Integer(), nullable=False),
        sa.Column("last_version", sa.Integer(), nullable=False),
        sa.Column("after_dose_id", sa.Integer(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_by", sa.String(length=96), nullable=False),
        sa.ForeignKeyConstraint(
            ["dose_id"],
            ["dose_records.id"],
            name=op.f("fk_immunization_card_revocations_dose_id_dose_records"),
        ),
        sa.ForeignKeyConstraint(
            ["beneficiary_id"],
            ["beneficiaries.id"],
            name=op.f("fk_immunization_card_revocations_beneficiary_id_beneficiaries"),
        ),
        sa.PrimaryKeyConstraint("dose_id", name=op.f("pk_immunization_card_revocations")),
    )
    op.create_index(
        op.f("ix_immunization_card_revocations_beneficiary_id"),
        "immunization_card_revocations",
        ["beneficiary_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_immunization_card_revocations_beneficiary_id"),
        table_name="immunization_card_revocations",
    )
    op.drop_table("immunization_card_revocations")
    op.drop_table("routine_session_sites")
