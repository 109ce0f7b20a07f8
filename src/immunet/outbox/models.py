"""One row per SMS owed: sealed recipient and text, delivery state, no plaintext.

``recipient_ct`` and ``text_ct`` are AES-256-GCM ciphertexts bound to the row's
``dedup_key`` (the key is known before the insert, unlike the id); ``text_ct`` is
cleared once the message is delivered, expired or dead, so a delivered OTP leaves no
trace. ``last_error`` holds an exception class name only, never a provider's answer.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Index, Integer, LargeBinary, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from immunet.db.base import Base, UTCDateTime

PENDING = "pending"
SENT = "sent"
DEAD = "dead"

# Lower goes first: one-time passwords ahead of every notice.
PRIORITY_OTP = 0
PRIORITY_NOTICE = 10


def recipient_context(dedup_key: str) -> str:
    return f"outbox:{dedup_key}:to"


def text_context(dedup_key: str) -> str:
    return f"outbox:{dedup_key}:text"


class OutboxMessage(Base):
    __tablename__ = "sms_outbox"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    # The logical message: enqueueing the same key again adds nothing.
    dedup_key: Mapped[str] = mapped_column(String(128), unique=True)
    template: Mapped[str] = mapped_column(String(40))
    recipient_ct: Mapped[bytes] = mapped_column(LargeBinary)
    text_ct: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    priority: Mapped[int] = mapped_column(SmallInteger)
    state: Mapped[str] = mapped_column(String(8))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    # A claimed message is someone's until then; after it, another worker may take it.
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Not delivered after this instant (an OTP past its validity is worthless).
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (Index("ix_sms_outbox_due", "state", "priority", "next_attempt_at"),)


def _register_sealed_columns() -> None:
    """``immunet keys reencrypt`` re-seals queued recipients and texts too."""
    from immunet.security.reencrypt import EXTRA_SEALED_COLUMNS, SealedColumns

    if any(spec.model is OutboxMessage for spec in EXTRA_SEALED_COLUMNS):
        return
    EXTRA_SEALED_COLUMNS.append(
        SealedColumns(
            OutboxMessage,
            "id",
            {
                "recipient_ct": lambda row: recipient_context(row.dedup_key),
                "text_ct": lambda row: text_context(row.dedup_key),
            },
        )
    )


_register_sealed_columns()
