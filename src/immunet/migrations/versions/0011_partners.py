"""partners and their clients (issue #10)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 04:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from immunet.db.base import UTCDateTime

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "partners",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("contact", sa.String(length=254), nullable=False),
        sa.Column("purpose", sa.String(length=500), nullable=False),
        sa.Column("created_by", sa.String(length=96), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partners")),
        sa.UniqueConstraint("name", name=op.f("uq_partners_name")),
    )
    op.create_table(
        "partner_clients",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("jwks", sa.JSON(), nullable=False),
        sa.Column("redirect_uris", sa.JSON(), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("allowed_cidrs", sa.JSON(), nullable=False),
        sa.Column("api_key_digest", sa.String(length=64), nullable=True),
        sa.Column("reads_per_minute", sa.Integer(), nullable=False),
        sa.Column("reads_per_day", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("suspension_reason", sa.String(length=32), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_partner_clients_partner_id_partners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_clients")),
        sa.UniqueConstraint("api_key_digest", name=op.f("uq_partner_clients_api_key_digest")),
        sa.UniqueConstraint("client_id", name=op.f("uq_partner_clients_client_id")),
    )
    op.create_index(
        op.f("ix_partner_clients_partner_id"), "partner_clients", ["partner_id"], unique=False
    )
    op.create_table(
        "partner_grants",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("beneficiary_id", sa.Integer(), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("purpose", sa.String(length=500), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["citizen_accounts.id"],
            name=op.f("fk_partner_grants_account_id_citizen_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["beneficiary_id"],
            ["beneficiaries.id"],
            name=op.f("fk_partner_grants_beneficiary_id_beneficiaries"),
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["partner_clients.client_id"],
            name=op.f("fk_partner_grants_client_id_partner_clients"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_grants")),
    )
    op.create_index(
        op.f("ix_partner_grants_account_id"), "partner_grants", ["account_id"], unique=False
    )
    op.create_index(
        op.f("ix_partner_grants_client_id"), "partner_grants", ["client_id"], unique=False
    )
    op.create_table(
        "oauth_authorization_requests",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("redirect_uri", sa.String(length=512), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=256), nullable=True),
        sa.Column("code_challenge", sa.String(length=128), nullable=False),
        sa.Column("duration_days", sa.Integer(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["partner_clients.client_id"],
            name=op.f("fk_oauth_authorization_requests_client_id_partner_clients"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_authorization_requests")),
    )
    op.create_index(
        op.f("ix_oauth_authorization_requests_client_id"),
        "oauth_authorization_requests",
        ["client_id"],
        unique=False,
    )
    op.create_table(
        "oauth_codes",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("grant_id", sa.String(length=32), nullable=False),
        sa.Column("redirect_uri", sa.String(length=512), nullable=False),
        sa.Column("code_challenge", sa.String(length=128), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["grant_id"], ["partner_grants.id"], name=op.f("fk_oauth_codes_grant_id_partner_grants")
        ),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_oauth_codes")),
    )
    op.create_index(op.f("ix_oauth_codes_grant_id"), "oauth_codes", ["grant_id"], unique=False)
    op.create_table(
        "oauth_tokens",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("grant_id", sa.String(length=32), nullable=False),
        sa.Column("code_digest", sa.String(length=64), nullable=False),
        sa.Column("jkt", sa.String(length=64), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["grant_id"],
            ["partner_grants.id"],
            name=op.f("fk_oauth_tokens_grant_id_partner_grants"),
        ),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_oauth_tokens")),
    )
    op.create_index(op.f("ix_oauth_tokens_client_id"), "oauth_tokens", ["client_id"], unique=False)
    op.create_index(
        op.f("ix_oauth_tokens_code_digest"), "oauth_tokens", ["code_digest"], unique=False
    )
    op.create_index(op.f("ix_oauth_tokens_grant_id"), "oauth_tokens", ["grant_id"], unique=False)
    op.create_table(
        "oauth_used_jtis",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_oauth_used_jtis")),
    )
    op.create_index(
        op.f("ix_oauth_used_jtis_expires_at"), "oauth_used_jtis", ["expires_at"], unique=False
    )


def downgrade() -> None:
    for table in ("oauth_used_jtis", "oauth_tokens", "oauth_codes"):
        op.drop_table(table)
    op.drop_table("oauth_authorization_requests")
    op.drop_table("partner_grants")
    op.drop_index(op.f("ix_partner_clients_partner_id"), table_name="partner_clients")
    op.drop_table("partner_clients")
    op.drop_table("partners")
