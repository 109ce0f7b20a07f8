"""audit sequencer: positions, stored subtrees, versioned checkpoints, append-only trigger

Existing (v1, hash-chained) entries are sequenced in their chain order, so position
``i`` is entry ``seq = i + 1`` exactly as the v1 checkpoints' trees had it: those
checkpoints keep verifying, and are consistent with the v2 ones signed afterwards.
A downgrade is possible only while no v2 leaf exists (v2 leaves have no chain link).

Revision ID: 0005
Revises: 0001
Create Date: 2026-12-01 21:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from immunet.security.merkle import leaf_hash
from immunet.security.tiles import extend

revision: str = "0005"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_AUDIT_TABLES = ("audit_events", "audit_positions", "audit_subtrees", "audit_checkpoints")
_BATCH = 10_000


def upgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.alter_column("prev_hash", existing_type=sa.String(length=64), nullable=True)
    with op.batch_alter_table("audit_checkpoints", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("format_version", sa.Integer(), server_default=sa.text("1"), nullable=False)
        )
    positions = op.create_table(
        "audit_positions",
        sa.Column(
            "position",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.PrimaryKeyConstraint("position", name=op.f("pk_audit_positions")),
        sa.UniqueConstraint("seq", name=op.f("uq_audit_positions_seq")),
    )
    subtrees = op.create_table(
        "audit_subtrees",
        sa.Column("level", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column(
            "idx",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx", name=op.f("pk_audit_subtrees")),
    )
    _sequence_existing(positions, subtrees)
    if op.get_context().dialect.name == "postgresql":
        # v1 appends chose ``seq`` themselves, so the column's sequence never moved; v2
        # appends draw from it.
        op.execute(
            "SELECT setval(pg_get_serial_sequence('audit_events', 'seq'), "
            "COALESCE(MAX(seq), 0) + 1, false) FROM audit_events"
        )
        _install_append_only_trigger()


def _sequence_existing(positions: sa.Table, subtrees: sa.Table) -> None:
    """Positions 0..n-1 in chain (``seq``) order, and every complete subtree's hash."""
    bind = op.get_bind()
    frontier: list[tuple[int, bytes]] = []
    size = 0
    after = 0
    while True:
        rows = bind.execute(
            sa.text("SELECT seq, hash FROM audit_events WHERE seq > :after ORDER BY seq LIMIT :n"),
            {"after": after, "n": _BATCH},
        ).all()
        if not rows:
            return
        frontier, nodes = extend(frontier, size, (leaf_hash(bytes.fromhex(h)) for _, h in rows))
        bind.execute(
            positions.insert(),
            [{"position": size + i, "seq": seq} for i, (seq, _) in enumerate(rows)],
        )
        bind.execute(
            subtrees.insert(), [{"level": lv, "idx": ix, "hash": h} for lv, ix, h in nodes]
        )
        size += len(rows)
        after = rows[-1][0]


def _install_append_only_trigger() -> None:
    # Row triggers: TRUNCATE (test fixtures, a deliberate operator act) is not affected.
    op.execute(
        """
        CREATE FUNCTION immunet_audit_append_only() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit rows are append-only: % on % refused', TG_OP, TG_TABLE_NAME
                USING ERRCODE = 'insufficient_privilege';
        END
        $$
        """
    )
    for table in _AUDIT_TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION immunet_audit_append_only()"
        )


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        for table in _AUDIT_TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute("DROP FUNCTION IF EXISTS immunet_audit_append_only()")
    op.drop_table("audit_subtrees")
    op.drop_table("audit_positions")
    with op.batch_alter_table("audit_checkpoints", schema=None) as batch_op:
        batch_op.drop_column("format_version")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.alter_column("prev_hash", existing_type=sa.String(length=64), nullable=False)
