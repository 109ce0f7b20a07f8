"""Request and response models of booking, with Co-WIN's field names."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from immunet.booking.rules import MAX_BENEFICIARIES_PER_BOOKING
from immunet.people.schemas import Out, Strict

ReferenceId = Annotated[str, Field(min_length=1, max_length=20)]


class ScheduleRequest(Strict):
    dose: int = Field(ge=1, le=3)
    session_id: str = Field(min_length=1, max_length=36)
    slot: str = Field(min_length=1, max_length=32)
    beneficiaries: list[ReferenceId] = Field(min_length=1, max_length=MAX_BENEFICIARIES_PER_BOOKING)
    center_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    # Co-WIN's portal sent a captcha answer; immunet rate-limits instead and ignores it.
    captcha: str | None = Field(default=None, max_length=16)


class ScheduleResponse(Out):
    appointment_confirmation_no: str
    appointment_ids: list[str]


class RescheduleRequest(Strict):
    appointment_id: str = Field(min_length=1, max_length=36)
    session_id: str = Field(min_length=1, max_length=36)
    slot: str = Field(min_length=1, max_length=32)
    captcha: str | None = Field(default=None, max_length=16)


class CancelRequest(Strict):
    appointment_id: str = Field(min_length=1, max_length=36)
    beneficiariesToCancel: list[ReferenceId] = Field(  # Co-WIN's field name
        min_length=1, max_length=MAX_BENEFICIARIES_PER_BOOKING
    )
