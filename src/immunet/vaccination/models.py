"""The universal model: vaccines, antigens, series and doses are rows, not columns.

The COVID-19 programme is one programme among many; Co-WIN's ``dose1_date``,
``dose2_date`` and ``vaccination_status`` are a view computed from :class:`DoseRecord`.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from immunet.db.base import Base, UTCDateTime


class Programme(Base):
    __tablename__ = "programmes"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)  # "covid19", "uip"
    name: Mapped[str] = mapped_column(String(120))


class Antigen(Base):
    __tablename__ = "antigens"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)  # "sars-cov-2", "measles"
    name: Mapped[str] = mapped_column(String(120))


class Vaccine(Base):
    __tablename__ = "vaccines"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)  # "COVISHIELD", "MR"
    name: Mapped[str] = mapped_column(String(120))
    manufacturer: Mapped[str] = mapped_column(String(120))
    programme_code: Mapped[str] = mapped_column(ForeignKey("programmes.code"), index=True)
    route: Mapped[str] = mapped_column(String(32), default="IM")
    min_age_days: Mapped[int] = mapped_column(Integer, default=0)
    max_age_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    cvx_code: Mapped[str | None] = mapped_column(String(8), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class VaccineAntigen(Base):
    __tablename__ = "vaccine_antigens"

    vaccine_code: Mapped[str] = mapped_column(ForeignKey("vaccines.code"), primary_key=True)
    antigen_code: Mapped[str] = mapped_column(ForeignKey("antigens.code"), primary_key=True)


class Series(Base):
    """A course of doses against one antigen, e.g. "COVISHIELD primary + precaution"."""

    __tablename__ = "series"

    code: Mapped[str] = mapped_column(String(48), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    programme_code: Mapped[str] = mapped_column(ForeignKey("programmes.code"), index=True)
    antigen_code: Mapped[str] = mapped_column(ForeignKey("antigens.code"), index=True)
    target_group: Mapped[str] = mapped_column(String(16), default="adult")  # child|pregnant|adult
    primary_doses: Mapped[int] = mapped_column(Integer, default=1)


class SeriesDose(Base):
    """One dose of a series: which vaccine, from what age, how long after the previous."""

    __tablename__ = "series_doses"
    __table_args__ = (UniqueConstraint("series_code", "dose_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    series_code: Mapped[str] = mapped_column(ForeignKey("series.code"), index=True)
    dose_number: Mapped[int] = mapped_column(Integer)
    label: Mapped[str] = mapped_column(String(48))  # "Dose 1", "Precaution", "MR-2"
    vaccine_code: Mapped[str] = mapped_column(ForeignKey("vaccines.code"))
    min_age_days: Mapped[int] = mapped_column(Integer, default=0)
    max_age_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    min_interval_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_interval_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    same_vaccine_as_previous: Mapped[bool] = mapped_column(Boolean, default=False)


class DoseRecord(Base):
    """A dose given to a beneficiary. Corrections void a record and add a new one."""

    __tablename__ = "dose_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    beneficiary_id: Mapped[int] = mapped_column(ForeignKey("beneficiaries.id"), index=True)
    vaccine_code: Mapped[str] = mapped_column(ForeignKey("vaccines.code"))
    series_code: Mapped[str | None] = mapped_column(ForeignKey("series.code"), nullable=True)
    dose_number: Mapped[int] = mapped_column(Integer)
    administered_on: Mapped[dt.date] = mapped_column(Date)
    center_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    batch: Mapped[str] = mapped_column(String(48))
    recorded_by: Mapped[str] = mapped_column(String(96))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16), default="recorded")  # recorded|voided
    void_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
