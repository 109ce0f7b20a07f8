"""Routine immunization for tests: a guardian with a child, a routine session with stock."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from itertools import count
from typing import Any

import httpx

from immunet.booking.rules import today_in_india
from immunet.context import AppContext
from immunet.db.base import utcnow
from tests.conftest import Outbox, bearer, login
from tests.factories.sessions import SessionRef, make_center, make_session
from tests.factories.staff import StaffLogin, make_staff
from tests.factories.vaccination import next_mobile

_lots = count(1)
ROUTINE_VACCINES = ("HEPB", "BCG", "OPV", "PENTA", "ROTA", "FIPV", "PCV", "MR", "TD")


def ddmmyyyy(day: dt.date) -> str:
    return day.strftime("%d-%m-%Y")


def child(
    born: dt.date,
    name: str = "Meera Rao",
    *,
    relation: str = "mother",
    center_id: int | None = None,
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "date_of_birth": ddmmyyyy(born),
        "gender_id": 2,
        "guardian_relation": relation,
        **extra,
    }
    if center_id is not None:
        body["center_id"] = center_id
    return body


@dataclass
class Family:
    token: str
    mobile: str
    child_ref: str


async def register_family(
    client: httpx.AsyncClient,
    outbox: Outbox,
    born: dt.date,
    *,
    center_id: int | None = None,
    mobile: str | None = None,
) -> Family:
    mobile = mobile or next_mobile()
    token = await login(client, outbox, mobile)
    response = await client.post(
        "/api/v2/registration/beneficiary/child",
        json=child(born, center_id=center_id),
        headers=bearer(token),
    )
    assert response.status_code == 200, response.text
    return Family(token, mobile, response.json()["beneficiary_reference_id"])


@dataclass
class RoutineDay:
    center_id: int
    session: SessionRef
    vaccinator: StaffLogin
    manager: StaffLogin
    lots: dict[str, str]


async def setup_routine_day(
    ctx: AppContext, client: httpx.AsyncClient, *, district_id: int = 294
) -> RoutineDay:
    """A centre with today's routine-immunization session (published as a PENTA session:
    it offers the whole schedule) and a batch of each routine vaccine."""
    center_id = await make_center(ctx, district_id=district_id)
    session = await make_session(
        ctx, center_id=center_id, days_ahead=0, vaccine="PENTA", min_age=0, max_age=17
    )
    vaccinator = await make_staff(ctx, "vaccinator", f"center:{center_id}")
    manager = await make_staff(ctx, "facility_manager", f"center:{center_id}")
    expiry = ddmmyyyy(today_in_india(utcnow()) + dt.timedelta(days=90))
    lots = {}
    for vaccine in ROUTINE_VACCINES:
        lot = f"UIP{next(_lots):05d}"
        response = await client.post(
            "/api/staff/stock",
            json={"vaccine": vaccine, "lot": lot, "expiry": expiry, "quantity": 20},
            headers=manager.headers,
        )
        assert response.status_code == 201, response.text
        lots[vaccine] = lot
    return RoutineDay(center_id, session, vaccinator, manager, lots)


def routine_dose(ref: str, vaccine: str, lot: str, dose: int = 1) -> dict[str, Any]:
    return {"beneficiary_reference_id": ref, "vaccine": vaccine, "dose_number": dose, "batch": lot}
