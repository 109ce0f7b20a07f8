"""identifier conflicts: duplicate ID numbers are accepted and flagged

A second registration of an Aadhaar or other ID number used to fail on a unique index,
which told any caller whether the number was registered (an identifier oracle). The
indexes stay (look-ups by blind index) but are no longer unique; each duplicate gets an
``identifier_conflicts`` row linking the two registrations.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 21:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import immunet.db.base

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("aadhaar_vault", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_aadhaar_vault_number_index"), type_="unique")
        batch_op.create_index(
            batch_op.f("ix_aadhaar_vault_number_index"), ["number_index"], unique=False
        )
    with op.batch_alter_table("beneficiaries", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_beneficiaries_id_index"), type_="unique")
        batch_op.create_index(batch_op.f("ix_beneficiaries_id_index"), ["id_index"], unique=False)
    op.create_table(
        "identifier_conflicts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("beneficiary_id", sa.Integer(), nullable=False),
        sa.Column("other_beneficiary_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("photo_id_type", sa.Integer(), nullable=False),
        sa.Column("created_at", immunet.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["citizen_accounts.id"],
            name=op.f("fk_identifier_conflicts_account_id_citizen_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["beneficiary_id"],
            ["beneficiaries.id"],
            name=op.f("fk_identifier_conflicts_beneficiary_id_beneficiaries"),
        ),
        sa.ForeignKeyConstraint(
            ["other_beneficiary_id"],
            ["beneficiaries.id"],
            name=op.f("fk_identifier_conflicts_other_beneficiary_id_beneficiaries"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identifier_conflicts")),
        sa.UniqueConstraint(
            "beneficiary_id",
            "other_beneficiary_id",
            name=op.f("uq_identifier_conflicts_beneficiary_id"),
        ),
    )
    with op.batch_alter_table("identifier_conflicts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_identifier_conflicts_account_id"), ["account_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_identifier_conflicts_beneficiary_id"), ["beneficiary_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_identifier_conflicts_other_beneficiary_id"),
            ["other_beneficiary_id"],
            unique=False,
        )


def downgrade() -> None:
    # Only possible while no number is registered twice (the unique indexes come back).
    with op.batch_alter_table("identifier_conflicts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_identifier_conflicts_other_beneficiary_id"))
        batch_op.drop_index(batch_op.f("ix_identifier_conflicts_beneficiary_id"))
        batch_op.drop_index(batch_op.f("ix_identifier_conflicts_account_id"))
    op.drop_table("identifier_conflicts")
    with op.batch_alter_table("beneficiaries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_beneficiaries_id_index"))
        batch_op.create_unique_constraint(batch_op.f("uq_beneficiaries_id_index"), ["id_index"])
    with op.batch_alter_table("aadhaar_vault", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_aadhaar_vault_number_index"))
        batch_op.create_unique_constraint(
            batch_op.f("uq_aadhaar_vault_number_index"), ["number_index"]
        )
