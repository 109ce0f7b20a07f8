"""Citizen accounts, beneficiaries and the Aadhaar vault. Every personal field is sealed.

Columns ending in ``_ct`` hold AES-256-GCM ciphertexts bound to their row and field;
columns ending in ``_index`` hold keyed blind indexes for equality look-ups. No column
holds a name, mobile number, ID number or birth date in the clear.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from immunet.db.base import Base, UTCDateTime


class CitizenAccount(Base):
    __tablename__ = "citizen_accounts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    mobile_index: Mapped[str] = mapped_column(String(64), unique=True)
    mobile_ct: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    # Routine-immunization reminders: the SMS language ("en", "hi"; None is English) and
    # the account holder's opt-out.
    language: Mapped[str | None] = mapped_column(String(5), nullable=True)
    reminders_opt_out: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class AadhaarVaultEntry(Base):
    """Aadhaar numbers live only here, under the vault key, behind an opaque token."""

    __tablename__ = "aadhaar_vault"

    token: Mapped[str] = mapped_column(String(40), primary_key=True)
    # Not unique: a second registration of a number is accepted (and flagged by an
    # IdentifierConflict) so that the answer never says whether the number is known.
    number_index: Mapped[str] = mapped_column(String(64), index=True)
    number_ct: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class Beneficiary(Base):
    __tablename__ = "beneficiaries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference_id: Mapped[str] = mapped_column(String(14), unique=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("citizen_accounts.id"), index=True)
    name_ct: Mapped[bytes] = mapped_column(LargeBinary)
    birth_year_ct: Mapped[bytes] = mapped_column(LargeBinary)
    # Children are registered with a date of birth; adults with a birth year only.
    birth_date_ct: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    gender_id: Mapped[int] = mapped_column(Integer)
    category: Mapped[str] = mapped_column(String(16))  # adult | child | pregnant
    photo_id_type: Mapped[int | None] = mapped_column(Integer, nullable=True)
    id_number_ct: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    id_index: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)
    aadhaar_token: Mapped[str | None] = mapped_column(
        ForeignKey("aadhaar_vault.token"), nullable=True, unique=True
    )
    comorbidity_ind: Mapped[str] = mapped_column(String(1), default="N")
    consent_version: Mapped[str] = mapped_column(String(16), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    # A decoy seeded by `immunet canary seed`: any staff access suspends the account.
    is_canary: Mapped[bool] = mapped_column(Boolean, default=False)
    # Children (decision 0014): who the account holder is to the child (mother, father,
    # guardian): a category like gender, not an identifier, so not sealed.
    guardian_relation: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # The facility whose catchment the person is in (decision 0013): chosen at
    # registration, then the centre of the last routine-immunization dose.
    home_center_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)


class Pregnancy(Base):
    """A pregnancy of a registered woman, for Td in pregnancy and the due list.

    The dates are health data about a person: sealed, bound to the row's random ``ref``
    (decision 0002). ``basis`` says which date the woman gave (the other is derived).
    """

    __tablename__ = "pregnancies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ref: Mapped[str] = mapped_column(String(24), unique=True)
    beneficiary_id: Mapped[int] = mapped_column(ForeignKey("beneficiaries.id"), index=True)
    basis: Mapped[str] = mapped_column(String(4))  # lmp | edd
    lmp_ct: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    edd_ct: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(12))  # active | replaced
    recorded_by: Mapped[str] = mapped_column(String(96))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class IdentifierConflict(Base):
    """A registration carries an ID number that an earlier registration already holds.

    Registering such a number answers exactly like a fresh one (no identifier oracle);
    the duplicate is resolved where the person is physically present: the vaccinator is
    shown the flag and must confirm the photo ID document before recording a dose, and
    doses of either registration count for both. Links by row, never by the number.
    """

    __tablename__ = "identifier_conflicts"
    __table_args__ = (UniqueConstraint("beneficiary_id", "other_beneficiary_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The later registration, and the earlier one that already held the number.
    beneficiary_id: Mapped[int] = mapped_column(ForeignKey("beneficiaries.id"), index=True)
    other_beneficiary_id: Mapped[int] = mapped_column(ForeignKey("beneficiaries.id"), index=True)
    # The account that made the later registration (per-account limits and review).
    account_id: Mapped[str] = mapped_column(ForeignKey("citizen_accounts.id"), index=True)
    photo_id_type: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
