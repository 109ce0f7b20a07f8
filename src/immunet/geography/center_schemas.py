"""Request and response models of the staff centre API."""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from immunet.formats import clock
from immunet.people.schemas import Out, Strict

MAX_VACCINE_FEES = 10
MAX_IMPORT_CSV_CHARS = 60_000
MAX_IMPORT_ROWS = 500
MAX_PAGE = 50

_TIME = re.compile(r"([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?")
_PINCODE = re.compile(r"[1-9]\d{5}")
_FEE = re.compile(r"\d{1,5}")


def parse_clock(value: str) -> dt.time:
    """``HH:MM`` or ``HH:MM:SS`` (24-hour) → a time; anything else is a ValueError."""
    match = _TIME.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ValueError("time must be HH:MM or HH:MM:SS")
    return dt.time(int(match[1]), int(match[2]), int(match[3] or 0))


def _pincode(value: str | int) -> str:
    text = str(value).strip()
    if not (text.isascii() and _PINCODE.fullmatch(text)):
        raise ValueError("pincode must be six digits")
    return text


def _coordinate(value: float, bound: float, name: str) -> float:
    if not math.isfinite(value) or not -bound <= value <= bound:
        raise ValueError(f"{name} is out of range")
    return round(value, 6)


class VaccineFeeIn(Strict):
    vaccine: str = Field(min_length=1, max_length=32)
    fee: str = Field(min_length=1, max_length=5)

    @field_validator("fee", mode="before")
    @classmethod
    def _fee(cls, value: object) -> object:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not (isinstance(value, str) and value.isascii() and _FEE.fullmatch(value)):
            raise ValueError("fee must be a whole number of rupees (0-99999)")
        return str(int(value))

    @field_validator("vaccine")
    @classmethod
    def _vaccine(cls, value: str) -> str:
        return value.strip().upper()


class _CenterFields(Strict):
    """Shared validation of the editable fields (every one optional here)."""

    @field_validator("pincode", mode="before", check_fields=False)
    @classmethod
    def _pin(cls, value: object) -> object:
        if value is None:
            return None
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise ValueError("pincode must be six digits")
        return _pincode(value)

    @field_validator("lat", check_fields=False)
    @classmethod
    def _lat(cls, value: float | None) -> float | None:
        return None if value is None else _coordinate(value, 90, "lat")

    @field_validator("long", check_fields=False)
    @classmethod
    def _long(cls, value: float | None) -> float | None:
        return None if value is None else _coordinate(value, 180, "long")

    @field_validator("opens_at", "closes_at", mode="before", check_fields=False)
    @classmethod
    def _clock(cls, value: object) -> object:
        if value is None or isinstance(value, dt.time):
            return value
        if not isinstance(value, str):
            raise ValueError("time must be HH:MM or HH:MM:SS")
        return parse_clock(value)

    @field_validator("vaccine_fees", check_fields=False)
    @classmethod
    def _unique_fees(cls, value: list[VaccineFeeIn] | None) -> list[VaccineFeeIn] | None:
        if value is not None and len({fee.vaccine for fee in value}) != len(value):
            raise ValueError("each vaccine may have one fee")
        return value


class CenterCreate(_CenterFields):
    name: str = Field(min_length=2, max_length=150)
    address: str = Field(min_length=2, max_length=250)
    district_id: int = Field(ge=1, le=100_000)
    block_name: str = Field(min_length=1, max_length=100)
    pincode: str
    lat: float
    long: float
    opens_at: Annotated[dt.time, clock()] = Field(alias="from")
    closes_at: Annotated[dt.time, clock()] = Field(alias="to")
    fee_type: Literal["Free", "Paid"]
    vaccine_fees: list[VaccineFeeIn] = Field(default_factory=list, max_length=MAX_VACCINE_FEES)

    @model_validator(mode="after")
    def _consistent(self) -> CenterCreate:
        if self.opens_at >= self.closes_at:
            raise ValueError("from must be earlier than to")
        if self.fee_type == "Free" and any(fee.fee != "0" for fee in self.vaccine_fees):
            raise ValueError("a Free centre charges no vaccine fee")
        return self


class CenterPatch(_CenterFields):
    name: str | None = Field(default=None, min_length=2, max_length=150)
    address: str | None = Field(default=None, min_length=2, max_length=250)
    block_name: str | None = Field(default=None, min_length=1, max_length=100)
    pincode: str | None = None
    lat: float | None = None
    long: float | None = None
    opens_at: Annotated[dt.time | None, clock(optional=True)] = Field(default=None, alias="from")
    closes_at: Annotated[dt.time | None, clock(optional=True)] = Field(default=None, alias="to")
    fee_type: Literal["Free", "Paid"] | None = None
    vaccine_fees: list[VaccineFeeIn] | None = Field(default=None, max_length=MAX_VACCINE_FEES)
    active: bool | None = None

    @model_validator(mode="after")
    def _something(self) -> CenterPatch:
        if not self.model_fields_set:
            raise ValueError("nothing to change")
        for name in self.model_fields_set:
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class CenterCreated(Out):
    center_id: int


class VaccineFeeOut(Out):
    vaccine: str
    fee: str


class CenterOut(Out):
    center_id: int
    name: str
    address: str
    state_id: int
    district_id: int
    block_name: str
    pincode: str
    lat: float
    long: float
    from_: str = Field(serialization_alias="from")
    to: str
    fee_type: str
    vaccine_fees: list[VaccineFeeOut]
    active: bool


class CentersPage(Out):
    centers: list[CenterOut]
    next_after: int | None


class CenterImportRequest(Strict):
    csv: str = Field(min_length=1, max_length=MAX_IMPORT_CSV_CHARS)


class ImportRow(Out):
    row: int
    ok: bool
    center_id: int | None = None
    errors: list[str] = Field(default_factory=list)


class ImportReport(Out):
    created: int
    rejected: int
    rows: list[ImportRow]
