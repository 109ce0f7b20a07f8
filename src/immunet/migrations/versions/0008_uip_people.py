"""universal immunization: children's guardian and home facility, pregnancies, dose evaluation

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 04:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from immunet.db.base import UTCDateTime

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable or defaulted additions only: the previous release keeps writing rows.
    with op.batch_alter_table("citizen_accounts") as batch:
        batch.add_column(sa.Column("language", sa.String(length=5), nullable=True))
        batch.add_column(
            sa.Column("reminders_opt_out", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("beneficiaries") as batch:
        batch.add_column(sa.Column("guardian_relation", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("home_center_id", sa.Integer(), nullable=True))
        batch.create_index("ix_beneficiaries_home_center_id", ["home_center_id"], unique=False)
    with op.batch_alter_table("dose_records") as batch:
        batch.add_column(sa.Column("evaluation_status", sa.String(length=24), nullable=True))
        batch.add_column(sa.Column("evaluation_reason", sa.String(length=160), nullable=True))
    op.create_table(
        "pregnancies",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ref", sa.String(length=24), nullable=False),
        sa.Column("beneficiary_id", sa.Integer(), nullable=False),
        sa.Column("basis", sa.String(length=4), nullable=False),
        sa.Column("lmp_ct", sa.LargeBinary(), nullable=True),
        sa.Column("edd_ct", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("recorded_by", sa.String(length=96), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["beneficiary_id"],
            ["beneficiaries.id"],
            name=op.f("fk_pregnancies_beneficiary_id_beneficiaries"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pregnancies")),
        sa.UniqueConstraint("ref", name=op.f("uq_pregnancies_ref")),
    )
    op.create_index(
        op.f("ix_pregnancies_beneficiary_id"), "pregnancies", ["beneficiary_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_pregnancies_beneficiary_id"), table_name="pregnancies")
    op.drop_table("pregnancies")
    with op.batch_alter_table("dose_records") as batch:
        batch.drop_column("evaluation_reason")
        batch.drop_column("evaluation_status")
    with op.batch_alter_table("beneficiaries") as batch:
        batch.drop_index("ix_beneficiaries_home_center_id")
        batch.drop_column("home_center_id")
        batch.drop_column("guardian_relation")
    with op.batch_alter_table("citizen_accounts") as batch:
        batch.drop_column("reminders_opt_out")
        batch.drop_column("language")
