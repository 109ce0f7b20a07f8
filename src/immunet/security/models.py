"""Tables of the security machinery: sessions, OTP transactions, counters, idempotency, audit."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Index, Integer, LargeBinary, SmallInteger, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from immunet.db.base import Base, UTCDateTime


class AuthSession(Base):
    """A server-side record of every token issued, so that logout and expiry are real."""

    __tablename__ = "auth_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    audience: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class OtpTransaction(Base):
    """An OTP sent to a mobile. Only a keyed digest of the code is stored."""

    __tablename__ = "otp_transactions"

    txn_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    mobile_index: Mapped[str] = mapped_column(String(64), index=True)
    # The mobile, sealed to this transaction, becomes the account's sealed mobile on login.
    mobile_ct: Mapped[bytes] = mapped_column(LargeBinary)
    purpose: Mapped[str] = mapped_column(String(32))
    code_digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # live → consumed | superseded | exhausted
    state: Mapped[str] = mapped_column(String(16), default="live")


class MobileFailureCounter(Base):
    """Consecutive wrong OTPs per mobile, across transactions; a new OTP does not reset it."""

    __tablename__ = "otp_mobile_failures"

    mobile_index: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    lockouts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class RateCounter(Base):
    """A fixed-window counter used when no Redis is configured."""

    __tablename__ = "rate_counters"

    bucket: Mapped[str] = mapped_column(String(160), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)


class IdempotencyRecord(Base):
    """The stored answer to a write, replayed when the same key is sent again."""

    __tablename__ = "idempotency_records"

    key_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    request_digest: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)


class AuditEvent(Base):
    """One audit leaf: immutable once written (a PostgreSQL trigger refuses UPDATE/DELETE).

    ``seq`` is the leaf's id (the access log's entry id), assigned at insert without any
    shared lock; its place in the Merkle tree is given later by the sequencer in
    :class:`AuditPosition`. ``hash`` is the v2 content hash of the row's own fields; rows
    written before the sequencer (v1) also carry the old chain link ``prev_hash``.
    """

    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(96))
    action: Mapped[str] = mapped_column(String(64), index=True)
    subject_ref: Mapped[str | None] = mapped_column(String(96), nullable=True, index=True)
    purpose: Mapped[str | None] = mapped_column(String(96), nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    client_address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)
    # v1 (hash-chained) entries only; NULL for v2 leaves.
    prev_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)

    __table_args__ = (Index("ix_audit_events_actor_time", "actor", "occurred_at"),)


class AuditPosition(Base):
    """Append-only: the sequencer's assignment of leaf ``seq`` to tree position ``position``."""

    __tablename__ = "audit_positions"

    position: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), unique=True)


class AuditSubtree(Base):
    """Append-only: the hash of one complete subtree (a "tile" of height one).

    Node ``(level, idx)`` covers leaf positions ``[idx * 2**level, (idx + 1) * 2**level)``
    and is written once, when its last leaf is sequenced; level 0 holds the RFC 9162 leaf
    hashes. A root or proof of any size then needs at most about ``2 log2 n`` of these rows.
    """

    __tablename__ = "audit_subtrees"

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class AuditCheckpoint(Base):
    """A signed tree head (RFC 6962 style) over the first ``tree_size`` tree positions."""

    __tablename__ = "audit_checkpoints"

    tree_size: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    root_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    key_id: Mapped[str] = mapped_column(String(32))
    signature: Mapped[str] = mapped_column(String(128))  # Ed25519, hex
    # Which signed message format (transparency.checkpoint_message); 1 = before the sequencer.
    format_version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
