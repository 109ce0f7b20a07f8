"""Sessions: one centre, one date, one vaccine, seats per dose number.

Seats are counted on the session row itself and changed only by guarded UPDATEs
(``booked + n <= capacity``), which both SQLite and PostgreSQL apply atomically, so no
number of simultaneous bookings can overbook a session.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from immunet.db.base import Base, UTCDateTime


class VaccinationSession(Base):
    __tablename__ = "vaccination_sessions"
    __table_args__ = (
        CheckConstraint("booked_dose1 >= 0 AND booked_dose1 <= capacity_dose1", name="dose1_seats"),
        CheckConstraint("booked_dose2 >= 0 AND booked_dose2 <= capacity_dose2", name="dose2_seats"),
        CheckConstraint(
            "booked_precaution >= 0 AND booked_precaution <= capacity_precaution",
            name="precaution_seats",
        ),
        Index("ix_vaccination_sessions_center_date", "center_id", "date"),
    )

    session_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    center_id: Mapped[int] = mapped_column(ForeignKey("centers.center_id"))
    date: Mapped[dt.date] = mapped_column(Date, index=True)
    vaccine_code: Mapped[str] = mapped_column(ForeignKey("vaccines.code"))
    min_age_limit: Mapped[int] = mapped_column(Integer)
    max_age_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    capacity_dose1: Mapped[int] = mapped_column(Integer, default=0)
    capacity_dose2: Mapped[int] = mapped_column(Integer, default=0)
    capacity_precaution: Mapped[int] = mapped_column(Integer, default=0)
    booked_dose1: Mapped[int] = mapped_column(Integer, default=0)
    booked_dose2: Mapped[int] = mapped_column(Integer, default=0)
    booked_precaution: Mapped[int] = mapped_column(Integer, default=0)
    slots: Mapped[str] = mapped_column(Text)  # JSON list of "09:00AM-11:00AM" strings
    fee: Mapped[str] = mapped_column(String(8), default="0")
    status: Mapped[str] = mapped_column(String(16), default="published")  # published|cancelled
    created_by: Mapped[str] = mapped_column(String(96))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
