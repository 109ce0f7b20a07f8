"""Request and response models of the citizen API, with Co-WIN's field names."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator


class Strict(BaseModel):
    """Requests: unknown fields rejected, every string bounded."""

    model_config = ConfigDict(extra="forbid", str_max_length=256)


class Out(BaseModel):
    """Responses: an explicit allow-list of fields."""

    model_config = ConfigDict(extra="forbid")


class GenerateOtpRequest(Strict):
    mobile: str = Field(min_length=10, max_length=20)


class GenerateOtpResponse(Out):
    txnId: str  # Co-WIN's field name


class ConfirmOtpRequest(Strict):
    otp: str = Field(min_length=64, max_length=64, description="SHA-256 hex digest of the OTP")
    txnId: str = Field(min_length=36, max_length=36)

    @field_validator("otp")
    @classmethod
    def _hex(cls, value: str) -> str:
        if not re.fullmatch(r"[0-9a-fA-F]{64}", value):
            raise ValueError("otp must be the SHA-256 hex digest of the code")
        return value.lower()


class TokenResponse(Out):
    token: str


class IdType(Out):
    id: int
    type: str


class IdTypesResponse(Out):
    types: list[IdType]
    ttl: int = 24


class Gender(Out):
    id: int
    name: str


class GenderResponse(Out):
    genders: list[Gender]
    ttl: int = 24


class NewBeneficiaryRequest(Strict):
    name: str = Field(min_length=1, max_length=100)
    birth_year: str | None = Field(default=None, min_length=4, max_length=4)
    date_of_birth: str | None = Field(
        default=None, min_length=10, max_length=10, description="DD-MM-YYYY, for children"
    )
    gender_id: int = Field(ge=1, le=3)
    photo_id_type: int | None = Field(default=None, ge=1, le=20)
    photo_id_number: str | None = Field(default=None, min_length=4, max_length=24)
    comorbidity_ind: Literal["Y", "N"] = "N"
    consent_version: str = Field(default="", max_length=16)
    is_pregnant: bool = False


class NewBeneficiaryResponse(Out):
    beneficiary_reference_id: str


class DeleteBeneficiaryRequest(Strict):
    beneficiary_reference_id: str = Field(min_length=1, max_length=20)


class AppointmentSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    appointment_id: str
    center_id: int
    name: str
    state_name: str
    district_name: str
    block_name: str
    pincode: str
    from_: str = Field(alias="from", serialization_alias="from")
    to: str
    dose: int
    session_id: str
    date: str
    slot: str


class BeneficiaryOut(Out):
    beneficiary_reference_id: str
    name: str
    birth_year: str
    gender: str
    mobile_number: str
    photo_id_type: str
    photo_id_number: str
    comorbidity_ind: str
    vaccination_status: str
    vaccine: str
    dose1_date: str
    dose2_date: str
    appointments: list[dict[str, object]]


class BeneficiariesResponse(Out):
    beneficiaries: list[BeneficiaryOut]


class NewChildRequest(Strict):
    """A child registered under the guardian's own account (the 6-per-mobile limit applies)."""

    name: str = Field(min_length=1, max_length=100)
    date_of_birth: str = Field(min_length=10, max_length=10, description="DD-MM-YYYY")
    gender_id: int = Field(ge=1, le=3)
    guardian_relation: Literal["mother", "father", "guardian"]
    # The facility the guardian chooses (its catchment: due lists, decision 0013).
    center_id: int | None = Field(default=None, ge=1, le=2_000_000_000)
    photo_id_type: int | None = Field(default=None, ge=1, le=20)
    photo_id_number: str | None = Field(default=None, min_length=4, max_length=24)
    consent_version: str = Field(default="", max_length=16)


class PregnancyRequest(Strict):
    """The pregnancy of one of the account's own beneficiaries: LMP or EDD, exactly one."""

    beneficiary_reference_id: str = Field(min_length=1, max_length=20)
    lmp: str | None = Field(
        default=None, min_length=10, max_length=10, description="DD-MM-YYYY, last menstrual period"
    )
    edd: str | None = Field(
        default=None, min_length=10, max_length=10, description="DD-MM-YYYY, expected delivery"
    )


class PregnancyResponse(Out):
    beneficiary_reference_id: str
    pregnancy_id: str
    edd: str  # DD-MM-YYYY


class DueDose(Out):
    vaccine_group: str
    status: str  # CDSi series status: "Not Complete", "Complete", "Aged Out", ...
    dose_number: int | None
    earliest_date: str | None  # DD-MM-YYYY
    recommended_date: str | None
    past_due_date: str | None
    latest_date: str | None


class ScheduleResponse(Out):
    beneficiary_reference_id: str
    as_of: str
    schedule: list[DueDose]


class ReminderSettings(Strict):
    """The account's routine-immunization SMS reminders: language and opt-out."""

    language: Literal["en", "hi"]
    opt_out: StrictBool


class ReminderSettingsResponse(Out):
    language: str
    opt_out: bool
