"""Appointments. At most one live appointment per beneficiary per dose (a partial index)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, Integer, String, text
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
    )

    appointment_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    beneficiary_id: Mapped[int] = mapped_column(ForeignKey("beneficiaries.id"), index=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("citizen_accounts.id"), index=True)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("vaccination_sessions.session_id"), index=True
    )
    dose: Mapped[int] = mapped_column(Integer)
    slot: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="booked")  # booked|cancelled|completed
    # The 4-digit secret code, stored only as a keyed digest.
    code_digest: Mapped[str] = mapped_column(String(64))
    code_failures: Mapped[int] = mapped_column(Integer, default=0)
    reschedules: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
