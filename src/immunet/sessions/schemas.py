"""Request and response models: the staff session API and Co-WIN's public shapes.

The public models document the shapes (OpenAPI); the public routes write the JSON bytes
themselves from :mod:`immunet.sessions.availability`, so the cache holds exact bodies.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from immunet.formats import COWIN_DATE
from immunet.people.schemas import Out, Strict
from immunet.sessions.rules import RuleError, parse_cowin_date, validate_slots

MAX_CAPACITY = 10_000
MAX_AGE = 120


class _SessionFields(Strict):
    @field_validator("slots", check_fields=False)
    @classmethod
    def _slots(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        try:
            return validate_slots(value)
        except RuleError as exc:
            raise ValueError(str(exc)) from exc


class SessionCreate(_SessionFields):
    center_id: int = Field(ge=1, le=2**31 - 1)
    date: Annotated[dt.date, COWIN_DATE]
    vaccine: str = Field(min_length=1, max_length=32)
    min_age_limit: int = Field(ge=0, le=MAX_AGE)
    max_age_limit: int | None = Field(default=None, ge=0, le=MAX_AGE)
    capacity_dose1: int = Field(ge=0, le=MAX_CAPACITY)
    capacity_dose2: int = Field(ge=0, le=MAX_CAPACITY)
    capacity_precaution: int = Field(default=0, ge=0, le=MAX_CAPACITY)
    slots: list[str] = Field(min_length=1, max_length=12)
    fee: int = Field(default=0, ge=0, le=99_999)

    @field_validator("date", mode="before")
    @classmethod
    def _date(cls, value: object) -> dt.date:
        if not isinstance(value, str):
            raise ValueError("date must be DD-MM-YYYY")
        try:
            return parse_cowin_date(value)
        except RuleError as exc:
            raise ValueError(str(exc)) from exc

    @field_validator("vaccine")
    @classmethod
    def _vaccine(cls, value: str) -> str:
        return value.strip().upper()

    @model_validator(mode="after")
    def _consistent(self) -> SessionCreate:
        if self.max_age_limit is not None and self.max_age_limit < self.min_age_limit:
            raise ValueError("max_age_limit is below min_age_limit")
        if self.capacity_dose1 + self.capacity_dose2 + self.capacity_precaution == 0:
            raise ValueError("a session needs at least one seat")
        return self


class SessionPatch(_SessionFields):
    min_age_limit: int | None = Field(default=None, ge=0, le=MAX_AGE)
    max_age_limit: int | None = Field(default=None, ge=0, le=MAX_AGE)
    capacity_dose1: int | None = Field(default=None, ge=0, le=MAX_CAPACITY)
    capacity_dose2: int | None = Field(default=None, ge=0, le=MAX_CAPACITY)
    capacity_precaution: int | None = Field(default=None, ge=0, le=MAX_CAPACITY)
    slots: list[str] | None = Field(default=None, min_length=1, max_length=12)

    @model_validator(mode="after")
    def _something(self) -> SessionPatch:
        if not self.model_fields_set:
            raise ValueError("nothing to change")
        for name in self.model_fields_set - {"max_age_limit"}:
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class SessionCreated(Out):
    session_id: str


class SessionCancelled(Out):
    session_id: str
    status: str
    notified: int


class SessionOut(Out):
    session_id: str
    center_id: int
    date: str
    vaccine: str
    min_age_limit: int
    max_age_limit: int | None
    capacity_dose1: int
    capacity_dose2: int
    capacity_precaution: int
    booked_dose1: int
    booked_dose2: int
    booked_precaution: int
    slots: list[str]
    fee: str
    status: str


class SessionsPage(Out):
    sessions: list[SessionOut]
    next_after: str | None


# -- Co-WIN public shapes (documentation of what availability.py writes) ------------------


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VaccineFee(_Doc):
    vaccine: str
    fee: str


class _CenterCommon(_Doc):
    center_id: int
    name: str
    name_l: str
    address: str
    address_l: str
    state_name: str
    state_name_l: str
    district_name: str
    district_name_l: str
    block_name: str
    block_name_l: str
    pincode: int
    lat: int = Field(description="Degrees, truncated to an integer as Co-WIN served them")
    long: int = Field(description="Degrees, truncated to an integer as Co-WIN served them")
    from_: str = Field(alias="from", description="HH:MM:SS")
    to: str
    fee_type: str


class CalendarSession(_Doc):
    session_id: str
    date: str
    available_capacity: int
    available_capacity_dose1: int
    available_capacity_dose2: int
    min_age_limit: int
    max_age_limit: int | None = Field(default=None, description="Present only when set")
    allow_all_age: bool
    vaccine: str
    slots: list[str]


class FlatSession(_CenterCommon):
    session_id: str
    date: str
    available_capacity: int
    available_capacity_dose1: int
    available_capacity_dose2: int
    fee: str
    min_age_limit: int
    max_age_limit: int | None = Field(default=None, description="Present only when set")
    allow_all_age: bool
    vaccine: str
    slots: list[str]


class FindResponse(_Doc):
    sessions: list[FlatSession]


class CalendarCenter(_CenterCommon):
    vaccine_fees: list[VaccineFee] | None = Field(default=None, description="Paid centres only")
    sessions: list[CalendarSession]


class CalendarResponse(_Doc):
    centers: list[CalendarCenter]


class CalendarByCenterResponse(_Doc):
    centers: CalendarCenter | dict[str, object]


class NearbyCenter(_Doc):
    center_id: int
    name: str
    name_l: str
    district_name: str
    district_name_l: str
    state_name: str
    state_name_l: str
    location: str
    pincode: str
    block_name: str
    block_name_l: str
    lat: str
    long: str


class NearbyResponse(_Doc):
    centers: list[NearbyCenter]
    ttl: int
