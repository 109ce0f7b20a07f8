"""Request and response models of the vaccinator's API (strict, bounded, masked)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Literal, get_args

from pydantic import Field, field_validator

from immunet.people.schemas import ConfirmOtpRequest, NewBeneficiaryRequest, Out, Strict
from immunet.sessions.rules import RuleError, validate_slots

MAX_PAGE = 50
BATCH_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,47}$"
Symptom = Literal[
    "fever",
    "injection-site-pain",
    "injection-site-swelling",
    "headache",
    "fatigue",
    "myalgia",
    "nausea",
    "vomiting",
    "diarrhoea",
    "rash",
    "allergic-reaction",
    "anaphylaxis",
    "syncope",
    "seizure",
    "breathing-difficulty",
    "chest-pain",
    "thrombosis",
    "paralysis",
    "other",
]
SYMPTOMS: tuple[str, ...] = get_args(Symptom)
Severity = Literal["mild", "moderate", "severe", "serious"]
Outcome = Literal["recovered", "recovering", "not-recovered", "hospitalised", "died", "unknown"]


def parse_day(value: str) -> dt.date:
    """``DD-MM-YYYY`` (Co-WIN) or ``YYYY-MM-DD``."""
    if re.fullmatch(r"\d{2}-\d{2}-\d{4}", value):
        return dt.datetime.strptime(value, "%d-%m-%Y").date()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return dt.date.fromisoformat(value)
    raise ValueError("dates are DD-MM-YYYY")


# -- roster and check-in ------------------------------------------------------------------


class RosterEntry(Out):
    appointment_id: str
    beneficiary_reference_id: str
    name: str
    birth_year: int
    photo_id_type: str
    photo_id_number: str  # masked: XXXXXXXX1234
    dose: int
    slot: str
    status: str  # booked | checked-in | completed
    # Another registration holds the same ID number: check the photo ID document, and
    # confirm it with ``photo_id_checked`` when recording the dose.
    id_conflict: bool = False


class RosterResponse(Out):
    session_id: str
    date: str
    vaccine: str
    page: int
    limit: int
    appointments: list[RosterEntry]
    # Pass as ``after`` for the next page (cost independent of the page's place in the
    # session); null on the last page.
    next_cursor: str | None = None


class CheckInRequest(Strict):
    code: str = Field(min_length=4, max_length=200, description="4 digits, or the slip QR")


class FixedCheckInRequest(Strict):
    """The fixed interface: ``POST /api/staff/checkin {"appointment_id", "secret_code"}``."""

    appointment_id: str = Field(min_length=1, max_length=36)
    secret_code: str = Field(min_length=4, max_length=200)


class CheckInResponse(Out):
    appointment_id: str
    status: str
    beneficiary_reference_id: str
    name: str
    birth_year: int
    photo_id_type: str
    photo_id_number: str
    dose: int
    vaccine: str
    # Another registration holds the same ID number: check the photo ID document, and
    # confirm it with ``photo_id_checked`` when recording the dose.
    id_conflict: bool = False


# -- walk-ins -------------------------------------------------------------------------------


class LookupOtpRequest(Strict):
    mobile: str = Field(min_length=10, max_length=20)


class LookupOtpResponse(Out):
    txnId: str


class LookupConfirmRequest(ConfirmOtpRequest):
    pass


class DoseSummary(Out):
    dose: int
    vaccine: str
    date: str


class MaskedBeneficiary(Out):
    beneficiary_reference_id: str
    name: str
    birth_year: int
    gender: str
    photo_id_type: str
    photo_id_number: str
    mobile_number: str  # last 4 digits only
    doses: list[DoseSummary]
    # Another registration holds the same ID number: check the photo ID document, and
    # confirm it with ``photo_id_checked`` when recording the dose.
    id_conflict: bool = False


class LookupConfirmResponse(Out):
    txnId: str
    expires_in: int
    beneficiaries: list[MaskedBeneficiary]


class WalkInRegistrationRequest(NewBeneficiaryRequest):
    # A newborn registered at the birth facility under the guardian's account (whose OTP the
    # staff member just verified): the relation makes it a child's registration, and the
    # facility becomes the child's home facility (decisions 0013, 0014).
    guardian_relation: Literal["mother", "father", "guardian"] | None = None


class WalkInRegistrationResponse(Out):
    beneficiary_reference_id: str


# -- doses ----------------------------------------------------------------------------------


class RecordDoseRequest(Strict):
    beneficiary_reference_id: str = Field(min_length=1, max_length=20)
    vaccine: str = Field(min_length=1, max_length=32)
    dose_number: int = Field(ge=1, le=20)
    batch: str = Field(pattern=BATCH_PATTERN)
    administered_at: dt.datetime | None = None
    appointment_id: str | None = Field(default=None, min_length=1, max_length=36)
    # The vaccinator checked the person's photo ID document against the registration;
    # required when the registration is flagged ``id_conflict``.
    photo_id_checked: bool = False
    # The session the dose is given at; without it (and without an appointment), the
    # centre's open session of this vaccine on the dose's date.
    session_id: str | None = Field(default=None, min_length=1, max_length=36)

    @field_validator("administered_at")
    @classmethod
    def _aware(cls, value: dt.datetime | None) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("administered_at needs a time zone (e.g. +05:30 or Z)")
        return value


class FixedRecordDoseRequest(Strict):
    """The fixed interface: ``POST /api/staff/vaccinations``."""

    beneficiary_reference_id: str = Field(min_length=1, max_length=20)
    session_id: str = Field(min_length=1, max_length=36)
    vaccine: str = Field(min_length=1, max_length=32)
    dose: int = Field(ge=1, le=20)
    batch: str = Field(pattern=BATCH_PATTERN)
    # The vaccinator checked the person's photo ID document against the registration;
    # required when the registration is flagged ``id_conflict``.
    photo_id_checked: bool = False


class NextDoseOut(Out):
    dose_number: int
    earliest_date: str
    recommended_date: str
    past_due_date: str | None


class DoseEvaluationOut(Out):
    vaccine_group: str
    status: str  # CDSi: Valid | Not Valid | Extraneous
    reason: str | None
    next_dose: NextDoseOut | None


class RecordDoseResponse(Out):
    vaccination_id: str
    dose_id: int
    beneficiary_reference_id: str
    vaccine: str
    dose: int
    batch: str
    administered_on: str
    certificate_id: str | None = None
    # Routine immunization only: the schedule engine's verdict and the next dose.
    evaluation: DoseEvaluationOut | None = None


class VoidDoseRequest(Strict):
    reason: str = Field(min_length=5, max_length=500)


class VoidDoseResponse(Out):
    dose_id: int
    status: str


# -- stock ----------------------------------------------------------------------------------


class NewStockRequest(Strict):
    vaccine: str = Field(min_length=1, max_length=32)
    lot: str = Field(pattern=BATCH_PATTERN)
    expiry: str = Field(min_length=10, max_length=10, description="DD-MM-YYYY")
    quantity: int = Field(ge=1, le=1_000_000)

    @field_validator("expiry")
    @classmethod
    def _day(cls, value: str) -> str:
        parse_day(value)
        return value


class StockBatchOut(Out):
    stock_id: int
    vaccine: str
    lot: str
    expiry: str
    quantity_received: int
    doses_used: int
    wasted: int
    doses_left: int
    expired: bool


class StockListResponse(Out):
    center_id: int
    batches: list[StockBatchOut]


class NewStockResponse(Out):
    stock_id: int


class WasteRequest(Strict):
    doses: int = Field(ge=1, le=100_000)
    reason: Literal["expired", "broken-vial", "open-vial-unused", "cold-chain", "other"]


# -- AEFI -----------------------------------------------------------------------------------


class AefiFields(Strict):
    symptoms: list[Symptom] = Field(min_length=1, max_length=len(SYMPTOMS))
    onset_date: str = Field(min_length=10, max_length=10, description="DD-MM-YYYY")
    severity: Severity
    outcome: Outcome
    dose_id: int | None = Field(default=None, ge=1)
    notes: str | None = Field(default=None, max_length=1000)

    @field_validator("onset_date")
    @classmethod
    def _day(cls, value: str) -> str:
        parse_day(value)
        return value

    @field_validator("symptoms")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))


class StaffAefiRequest(AefiFields):
    beneficiary_reference_id: str = Field(min_length=1, max_length=20)


class CitizenAefiRequest(StaffAefiRequest):
    pass


class AefiCreated(Out):
    aefi_id: int


class AefiDetail(Out):
    """A report as district admins see it: no name, no identifier, no free text."""

    aefi_id: int
    center_id: int | None
    vaccine: str | None
    dose: int | None
    symptoms: list[str]
    onset_date: str
    severity: str
    outcome: str
    reporter_kind: str
    reported_on: str


class AefiCount(Out):
    key: str
    count: int


class AefiListResponse(Out):
    total: int
    by_severity: list[AefiCount]
    by_vaccine: list[AefiCount]
    page: int
    limit: int
    reports: list[AefiDetail]


# -- due lists (routine immunization) --------------------------------------------------------


class DueLineOut(Out):
    vaccine_group: str
    dose_number: int
    status: str  # due | overdue
    recommended_date: str
    past_due_date: str | None
    latest_date: str | None


class DueListEntry(Out):
    beneficiary_reference_id: str
    name: str
    birth_year: int
    category: str  # child | pregnant
    due: list[DueLineOut]


class DueListResponse(Out):
    as_of: str
    from_: str = Field(alias="from", serialization_alias="from")
    to: str
    limit: int
    next_after: str | None  # pass as ``after`` for the next page; null on the last
    people: list[DueListEntry]


# -- the immunization card -------------------------------------------------------------------


class ImmunizationCardResponse(Out):
    card_id: str
    version: int  # the number of routine doses on record: each dose re-issues the card
    fhir: dict[str, Any]  # FHIR R4 Bundle: Patient, Immunization, ImmunizationRecommendation
    shc: dict[str, Any]  # {"jws", "qr": [numeric chunks]}
    vc: dict[str, Any]  # {"credential": signed VC, "qr"}


# -- regional vaccines per district ---------------------------------------------------------


class RegionalVaccinesRequest(Strict):
    # The whole set the district runs from now on; [] turns every regional vaccine off.
    # Names are checked against the schedule's regional groups (data, not this model).
    vaccine_groups: list[str] = Field(max_length=8)

    @field_validator("vaccine_groups")
    @classmethod
    def _short(cls, value: list[str]) -> list[str]:
        if any(len(v) > 40 for v in value):
            raise ValueError("a vaccine group name is at most 40 characters")
        return value


class RegionalVaccinesResponse(Out):
    district_id: int
    vaccine_groups: list[str]


# -- routine-immunization sessions planned from the due list ---------------------------------

MAX_ROUTINE_INVITES = 200
SITE_TEXT = r"^[\w][\w .,'()/-]*$"


class RoutineSessionRequest(Strict):
    """A routine session of the caller's own facility for one date, inviting the people of
    its catchment due (or overdue) for the chosen groups between ``date`` and ``due_to``."""

    date: str = Field(pattern=r"^\d{2}-\d{2}-\d{4}$", description="DD-MM-YYYY")
    due_to: str | None = Field(
        default=None, pattern=r"^\d{2}-\d{2}-\d{4}$", description="DD-MM-YYYY"
    )
    # Names are checked against the schedule's groups (data, not this model).
    vaccine_groups: list[str] = Field(min_length=1, max_length=16)
    site_kind: Literal["fixed", "outreach"]
    site_name: str | None = Field(default=None, min_length=2, max_length=80, pattern=SITE_TEXT)
    site_location: str | None = Field(default=None, min_length=2, max_length=120, pattern=SITE_TEXT)
    capacity: int = Field(ge=1, le=MAX_ROUTINE_INVITES)
    slots: list[str] = Field(min_length=1, max_length=12)

    @field_validator("vaccine_groups")
    @classmethod
    def _short(cls, value: list[str]) -> list[str]:
        if any(not 1 <= len(v) <= 40 for v in value):
            raise ValueError("a vaccine group name is 1 to 40 characters")
        if len(set(value)) != len(value):
            raise ValueError("a vaccine group is named twice")
        return value

    @field_validator("slots")
    @classmethod
    def _slots(cls, value: list[str]) -> list[str]:
        try:
            return validate_slots(value)
        except RuleError as exc:
            raise ValueError(str(exc)) from exc


class RoutineSessionResponse(Out):
    session_id: str
    center_id: int
    date: str
    due_from: str
    due_to: str
    vaccine_groups: list[str]
    site_kind: str
    site_name: str | None
    site_location: str | None
    capacity: int
    invited: int  # appointments created on the session (they are its roster)
    already_invited: int  # due, but holding a live invitation to another session
    more_due: bool  # more people were due than the capacity: plan another session
    sms_queued: int  # guardians who opted out of reminders get no SMS
