"""States, districts and PIN codes. Ids are Co-WIN's, so clients that hard-code them work."""

from __future__ import annotations

from sqlalchemy import Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from immunet.db.base import Base


class State(Base):
    __tablename__ = "states"

    state_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    state_name: Mapped[str] = mapped_column(String(100))
    state_name_l: Mapped[str] = mapped_column(String(100), default="")


class District(Base):
    __tablename__ = "districts"

    district_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    state_id: Mapped[int] = mapped_column(ForeignKey("states.state_id"), index=True)
    district_name: Mapped[str] = mapped_column(String(100))
    district_name_l: Mapped[str] = mapped_column(String(100), default="")


class Pincode(Base):
    __tablename__ = "pincodes"

    pincode: Mapped[str] = mapped_column(String(6), primary_key=True)
    district_id: Mapped[int | None] = mapped_column(
        ForeignKey("districts.district_id"), nullable=True, index=True
    )
    district_name: Mapped[str] = mapped_column(String(100))
    state_name: Mapped[str] = mapped_column(String(100))
    lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    long: Mapped[float | None] = mapped_column(Float, nullable=True)
