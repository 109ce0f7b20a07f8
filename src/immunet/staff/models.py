"""Staff users. Passwords as argon2id hashes; TOTP secrets sealed by the key ring."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from immunet.db.base import Base, UTCDateTime


class StaffUser(Base):
    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(32))
    jurisdiction_kind: Mapped[str] = mapped_column(String(16))
    jurisdiction_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    totp_secret_ct: Mapped[bytes] = mapped_column(LargeBinary)
    # The last TOTP time-step accepted, so a code cannot be replayed within its window.
    last_totp_step: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(96))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    disabled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Suspended by the misuse defences (quota breaches, a canary): inactive until a higher
    # admin reinstates the account; a suspension is not a disable.
    suspended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    suspension_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    reinstated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)


def _register_sealed_columns() -> None:
    """``immunet keys reencrypt`` re-seals TOTP secrets with the other sealed fields."""
    from immunet.security.reencrypt import EXTRA_SEALED_COLUMNS, SealedColumns

    if any(spec.model is StaffUser for spec in EXTRA_SEALED_COLUMNS):
        return
    EXTRA_SEALED_COLUMNS.append(
        SealedColumns(StaffUser, "id", {"totp_secret_ct": lambda row: f"staff:{row.username}:totp"})
    )


_register_sealed_columns()
