"""The universal model: vaccines, antigens, series and doses are rows, not columns.

The COVID-19 programme is one programme among many; Co-WIN's ``dose1_date``,
``dose2_date`` and ``vaccination_status`` are a view computed from :class:`DoseRecord`.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
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
    __table_args__ = (
        # No two live records of the same dose of the same series for one person.
        Index(
            "uq_dose_records_live_dose",
            "beneficiary_id",
            "series_code",
            "dose_number",
            unique=True,
            sqlite_where=text("status = 'recorded'"),
            postgresql_where=text("status = 'recorded'"),
        ),
    )

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
    # The appointment (if any) this dose completed, and the stock batch it came from.
    appointment_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    stock_batch_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    voided_by: Mapped[str | None] = mapped_column(String(96), nullable=True)
    voided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Routine immunization: the schedule engine's verdict on this dose when it was
    # recorded (CDSi "Valid" / "Not Valid" / "Extraneous") and why; None for COVID-19.
    evaluation_status: Mapped[str | None] = mapped_column(String(24), nullable=True)
    evaluation_reason: Mapped[str | None] = mapped_column(String(160), nullable=True)


class StaffOtpGrant(Base):
    """A staff user may see one citizen account's beneficiaries: the person read out an OTP.

    Created when the vaccinator confirms the OTP sent to the person's mobile; short-lived.
    """

    __tablename__ = "staff_otp_grants"
    __table_args__ = (Index("ix_staff_otp_grants_user_account", "staff_user_id", "account_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The look-up transaction the grant came from (walk-in registration names it).
    txn_ref: Mapped[str] = mapped_column(String(64), unique=True)
    staff_user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"), index=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("citizen_accounts.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class StockBatch(Base):
    """A batch (lot) of one vaccine held at one centre. Doses are counted on the row."""

    __tablename__ = "stock_batches"
    __table_args__ = (
        UniqueConstraint("center_id", "vaccine_code", "lot"),
        CheckConstraint(
            "doses_used >= 0 AND wasted >= 0 AND doses_used + wasted <= quantity_received",
            name="doses_within_quantity",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    center_id: Mapped[int] = mapped_column(ForeignKey("centers.center_id"), index=True)
    vaccine_code: Mapped[str] = mapped_column(ForeignKey("vaccines.code"))
    lot: Mapped[str] = mapped_column(String(48))
    expires_on: Mapped[dt.date] = mapped_column(Date)
    quantity_received: Mapped[int] = mapped_column(Integer)
    doses_used: Mapped[int] = mapped_column(Integer, default=0)
    wasted: Mapped[int] = mapped_column(Integer, default=0)
    received_by: Mapped[str] = mapped_column(String(96))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class AefiReport(Base):
    """An adverse event following immunization, reported by staff or by the citizen."""

    __tablename__ = "aefi_reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    beneficiary_id: Mapped[int] = mapped_column(ForeignKey("beneficiaries.id"), index=True)
    dose_record_id: Mapped[int | None] = mapped_column(ForeignKey("dose_records.id"), nullable=True)
    vaccine_code: Mapped[str | None] = mapped_column(ForeignKey("vaccines.code"), nullable=True)
    # The centre the dose was given at (or the reporting staff's centre): jurisdiction.
    center_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    reporter_kind: Mapped[str] = mapped_column(String(8))  # staff | citizen
    reported_by: Mapped[str] = mapped_column(String(96))
    symptoms: Mapped[str] = mapped_column(Text)  # JSON list of symptom codes
    onset_on: Mapped[dt.date] = mapped_column(Date)
    severity: Mapped[str] = mapped_column(String(16))  # mild|moderate|severe|serious
    outcome: Mapped[str] = mapped_column(String(24))
    # Free text is health data about a person: sealed like every personal field.
    notes_ct: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class DistrictRegionalVaccine(Base):
    """A regional vaccine group of the national schedule (JE, PCV) that a district runs.

    Set by a state or national admin (decision 0014); read by due lists, reminders and the
    immunization card, through the district of the person's catchment facility.
    """

    __tablename__ = "district_regional_vaccines"

    district_id: Mapped[int] = mapped_column(ForeignKey("districts.district_id"), primary_key=True)
    vaccine_group: Mapped[str] = mapped_column(String(40), primary_key=True)
    enabled_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    enabled_by: Mapped[str] = mapped_column(String(64))


class RoutineSessionSite(Base):
    """Where a routine-immunization session planned from a due list is held (decision 0021).

    One row per such session (the session itself is a ``vaccination_sessions`` row of a
    routine vaccine): a fixed site (the facility) or an outreach site (a village, an
    anganwadi) with its name and location as staff describe them. Not personal data.
    """

    __tablename__ = "routine_session_sites"
    __table_args__ = (CheckConstraint("site_kind IN ('fixed', 'outreach')", name="site_kind"),)

    session_id: Mapped[str] = mapped_column(
        ForeignKey("vaccination_sessions.session_id"), primary_key=True
    )
    site_kind: Mapped[str] = mapped_column(String(8))
    site_name: Mapped[str | None] = mapped_column(String(80), nullable=True)
    site_location: Mapped[str | None] = mapped_column(String(120), nullable=True)
    # The schedule groups the session was planned for (JSON list) and the due window used.
    vaccine_groups: Mapped[str] = mapped_column(Text)
    due_from: Mapped[dt.date] = mapped_column(Date)
    due_to: Mapped[dt.date] = mapped_column(Date)
    invited: Mapped[int] = mapped_column(Integer)
    planned_by: Mapped[str] = mapped_column(String(96))
    planned_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class ImmunizationCardRevocation(Base):
    """The immunization card versions that showed a routine dose later voided.

    A card version is the count of routine-dose events of the person (each dose recorded,
    each dose voided), so versions only grow. Voiding dose ``dose_id`` revokes every
    version from the one its recording issued (``first_version``) to the last one issued
    before the void (``last_version``); ``after_dose_id`` (the person's highest routine dose
    row at the void) places the void among the recordings, so later voids can tell which
    versions showed their dose. Published in the trust list like a corrected certificate.
    """

    __tablename__ = "immunization_card_revocations"

    dose_id: Mapped[int] = mapped_column(ForeignKey("dose_records.id"), primary_key=True)
    beneficiary_id: Mapped[int] = mapped_column(ForeignKey("beneficiaries.id"), index=True)
    card_id: Mapped[str] = mapped_column(String(40))
    first_version: Mapped[int] = mapped_column(Integer)
    last_version: Mapped[int] = mapped_column(Integer)
    after_dose_id: Mapped[int] = mapped_column(Integer)
    revoked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    revoked_by: Mapped[str] = mapped_column(String(96))
