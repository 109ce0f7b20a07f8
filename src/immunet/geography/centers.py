"""Vaccination centres (Co-WIN's ``center_id`` objects). Aggregate, public data only."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Time
from sqlalchemy.orm import Mapped, mapped_column

from immunet.db.base import Base, UTCDateTime


class Center(Base):
    __tablename__ = "centers"
    # Location search narrows by a latitude band first (findByLatLong).
    __table_args__ = (Index("ix_centers_lat_long", "lat", "long"),)

    center_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(150))
    address: Mapped[str] = mapped_column(String(250))
    # state_id is denormalized from the district so jurisdiction filters need no join.
    state_id: Mapped[int] = mapped_column(ForeignKey("states.state_id"), index=True)
    district_id: Mapped[int] = mapped_column(ForeignKey("districts.district_id"), index=True)
    block_name: Mapped[str] = mapped_column(String(100))
    pincode: Mapped[str] = mapped_column(String(6), index=True)
    lat: Mapped[float] = mapped_column(Float)
    long: Mapped[float] = mapped_column(Float)
    opens_at: Mapped[dt.time] = mapped_column(Time)
    closes_at: Mapped[dt.time] = mapped_column(Time)
    fee_type: Mapped[str] = mapped_column(String(8))  # Free | Paid
    active: Mapped[bool] = mapped_column(default=True)
    created_by: Mapped[str] = mapped_column(String(96))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class CenterVaccineFee(Base):
    __tablename__ = "center_vaccine_fees"

    center_id: Mapped[int] = mapped_column(ForeignKey("centers.center_id"), primary_key=True)
    vaccine_code: Mapped[str] = mapped_column(ForeignKey("vaccines.code"), primary_key=True)
    fee: Mapped[str] = mapped_column(String(8), default="0")
