"""Appointments. At most one live appointment per beneficiary per dose (a partial index).

The 4-digit secret code is stored as a keyed digest (checked at the centre) and sealed
with the field cipher (printed on the slip); it is never stored in the clear.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, text
from sqlalchemy.orm import Mapped, mapped_column

from immunet.db.base import Base, UTCDateTime


class Appointment(Base):
    __tablename__ = "appointments"
    __table_args__ = (
        Index(
            "uq_appointments_live_dose",
            "beneficiary_id",
            "dose",
            unique=True,
            sqlite_where=text("status = 'booked'"),
            postgresql_where=text("status = 'booked'"),
        ),
        # Roster order: a page continues after the previous page's last row (keyset).
        Index(
            "ix_appointments_session_order", "session_id", "slot", "created_at", "appointment_id"
        ),
    )

    appointment_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    beneficiary_id: Mapped[int] = mapped_column(ForeignKey("beneficiaries.id"), index=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("citizen_accounts.id"), index=True)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("vaccination_sessions.session_id"), index=True
    )
    # Appointments booked together share the first one's ID (Co-WIN's confirmation number).
    confirmation_no: Mapped[str] = mapped_column(String(36), index=True)
    dose: Mapped[int] = mapped_column(Integer)
    slot: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="booked")  # booked|cancelled|completed
    # The 4-digit secret code, stored only as a keyed digest.
    code_digest: Mapped[str] = mapped_column(String(64))
    # ... and sealed (field cipher, context ``appointment:<id>:code``) to print it on the slip.
    code_ct: Mapped[bytes] = mapped_column(LargeBinary)
    code_failures: Mapped[int] = mapped_column(Integer, default=0)
    # Set when the vaccinator checks the person in with the secret code (vaccination area).
    checked_in_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    checked_in_by: Mapped[str | None] = mapped_column(String(96), nullable=True)
    reschedules: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


def _register_sealed_columns() -> None:
    """``immunet keys reencrypt`` re-seals the appointments' secret codes too."""
    from immunet.security.reencrypt import EXTRA_SEALED_COLUMNS, SealedColumns

    if any(spec.model is Appointment for spec in EXTRA_SEALED_COLUMNS):
        return
    EXTRA_SEALED_COLUMNS.append(
        SealedColumns(
            Appointment,
            "appointment_id",
            {"code_ct": lambda row: f"appointment:{row.appointment_id}:code"},
        )
    )


_register_sealed_columns()
