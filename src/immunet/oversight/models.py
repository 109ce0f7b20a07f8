"""Tables of the misuse defences. No personal data in the clear: free text is sealed."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from immunet.db.base import Base, UTCDateTime


class StaffAlert(Base):
    """A misuse alert about one staff user, listed to the admins above that user."""

    __tablename__ = "staff_alerts"
    __table_args__ = (
        Index("ix_staff_alerts_place", "jurisdiction_kind", "jurisdiction_id", "created_at"),
        Index("ix_staff_alerts_user_kind", "staff_user_id", "kind", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    staff_user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"))
    # The user's role and jurisdiction when the alert was raised (the alert's audience).
    staff_role: Mapped[str] = mapped_column(String(32))
    jurisdiction_kind: Mapped[str] = mapped_column(String(16))
    jurisdiction_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    kind: Mapped[str] = mapped_column(String(48))
    severity: Mapped[str] = mapped_column(String(16))  # info | warning | critical
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON, counts only
    acknowledged_by: Mapped[str | None] = mapped_column(String(96), nullable=True)
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class StaffActivity(Base):
    """Staff actions counted against quotas that are not person reads (look-ups, codes)."""

    __tablename__ = "staff_activity"
    __table_args__ = (Index("ix_staff_activity_user_kind_time", "staff_user_id", "kind", "at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    staff_user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"))
    kind: Mapped[str] = mapped_column(String(16))  # otp-lookup | wrong-code
    # A keyed digest of the target (e.g. the mobile's blind index), to count distinct ones.
    target: Mapped[str | None] = mapped_column(String(32), nullable=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class BreakGlassGrant(Base):
    """A short-lived, reasoned permission for one staff user to see one person."""

    __tablename__ = "break_glass_grants"
    __table_args__ = (Index("ix_break_glass_user_time", "staff_user_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    staff_user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"))
    beneficiary_id: Mapped[int] = mapped_column(ForeignKey("beneficiaries.id"), index=True)
    reason_ct: Mapped[bytes] = mapped_column(LargeBinary)  # sealed: free text
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class AccessDispute(Base):
    """A citizen's "this was not me / I was not there" about one access-log entry."""

    __tablename__ = "access_disputes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("citizen_accounts.id"), index=True)
    audit_seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), unique=True
    )
    staff_user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"), index=True)
    staff_role: Mapped[str] = mapped_column(String(32))
    jurisdiction_kind: Mapped[str] = mapped_column(String(16))
    jurisdiction_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reason_ct: Mapped[bytes] = mapped_column(LargeBinary)  # sealed: free text
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | upheld | dismissed
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    resolved_by: Mapped[str | None] = mapped_column(String(96), nullable=True)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)


def grant_reason_context(grant_id: int) -> str:
    return f"break-glass:{grant_id}:reason"


def dispute_reason_context(dispute_id: int) -> str:
    return f"dispute:{dispute_id}:reason"


def _register_sealed_columns() -> None:
    """``immunet keys reencrypt`` re-seals the free-text reasons too."""
    from immunet.security.reencrypt import EXTRA_SEALED_COLUMNS, SealedColumns

    if any(spec.model is BreakGlassGrant for spec in EXTRA_SEALED_COLUMNS):
        return
    EXTRA_SEALED_COLUMNS.append(
        SealedColumns(BreakGlassGrant, "id", {"reason_ct": lambda r: grant_reason_context(r.id)})
    )
    EXTRA_SEALED_COLUMNS.append(
        SealedColumns(AccessDispute, "id", {"reason_ct": lambda r: dispute_reason_context(r.id)})
    )


_register_sealed_columns()
