"""The vaccinator's day for tests: a centre with today's session, staff, stock, a booked citizen.

Staff users come from ``tests.factories.staff``; the citizen logs in with the real OTP
flow, registers and books through the API; the secret code is read from the SMS outbox.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from itertools import count
from typing import Any

import httpx

from immunet.booking.rules import today_in_india
from immunet.context import AppContext
from immunet.db.base import utcnow
from immunet.people.identifiers import normalize_mobile
from immunet.vaccination.models import StockBatch
from tests.conftest import Outbox, bearer, login, sha
from tests.factories import aadhaar, adult
from tests.factories.sessions import SessionRef, make_center, make_session
from tests.factories.staff import StaffLogin, make_staff

SLOT = "09:00AM-11:00AM"
_ids = count(1)
_mobiles = count(1)


def next_mobile() -> str:
    return f"98{next(_mobiles) + 70000000:08d}"


@dataclass
class Day:
    center_id: int
    session: SessionRef
    vaccinator: StaffLogin
    manager: StaffLogin
    lot: str


@dataclass
class Booked:
    token: str
    mobile: str
    reference_id: str
    appointment_id: str
    code: str


async def setup_day(
    ctx: AppContext, client: httpx.AsyncClient, *, district_id: int = 294, quantity: int = 20
) -> Day:
    center_id = await make_center(ctx, district_id=district_id)
    session = await make_session(ctx, center_id=center_id, days_ahead=0, capacity_dose1=20)
    vaccinator = await make_staff(ctx, "vaccinator", f"center:{center_id}")
    manager = await make_staff(ctx, "facility_manager", f"center:{center_id}")
    lot = f"LOT{next(_ids):04d}"
    expiry = (today_in_india(utcnow()) + dt.timedelta(days=90)).strftime("%d-%m-%Y")
    response = await client.post(
        "/api/staff/stock",
        json={"vaccine": "COVISHIELD", "lot": lot, "expiry": expiry, "quantity": quantity},
        headers=manager.headers,
    )
    assert response.status_code == 201, response.text
    return Day(center_id, session, vaccinator, manager, lot)


def secret_codes(outbox: Outbox) -> dict[str, str]:
    codes = {}
    for m in outbox.messages():
        if m["template"] == "appointment_booked":
            appointment = m["text"].split("Appointment ")[1].split(" ")[0]
            codes[appointment] = m["text"].split("secret code is ")[1][:4]
    return codes


async def book(
    client: httpx.AsyncClient,
    outbox: Outbox,
    session: SessionRef,
    *,
    mobile: str | None = None,
    name: str = "Asha Kumari",
    birth_year: str = "1985",
    id_number: str | None = None,
) -> Booked:
    """A citizen logs in (real OTP), registers one beneficiary and books ``session``."""
    mobile = mobile or next_mobile()
    token = await login(client, outbox, mobile)
    response = await client.post(
        "/api/v2/registration/beneficiary/new",
        json=adult(name, birth_year=birth_year, id_number=id_number or aadhaar(next(_ids) + 5000)),
        headers=bearer(token),
    )
    assert response.status_code == 200, response.text
    reference_id = response.json()["beneficiary_reference_id"]
    response = await client.post(
        "/api/v2/appointment/schedule",
        json={
            "dose": 1,
            "session_id": session.session_id,
            "slot": SLOT,
            "beneficiaries": [reference_id],
            "center_id": session.center_id,
        },
        headers=bearer(token),
    )
    assert response.status_code == 200, response.text
    appointment_id = response.json()["appointment_confirmation_no"]
    return Booked(token, mobile, reference_id, appointment_id, secret_codes(outbox)[appointment_id])


def last_lookup_otp(outbox: Outbox, to: str) -> str:
    for message in reversed(outbox.messages()):
        if message["template"] == "staff_lookup_otp" and message["to"] == to:
            return str(message["text"].split("code is ")[1][:6])
    raise AssertionError("no look-up OTP was sent")


async def otp_lookup(
    client: httpx.AsyncClient, outbox: Outbox, staff: StaffLogin, mobile: str
) -> dict[str, Any]:
    """The walk-in flow: OTP to the person's mobile, the person reads it out."""
    response = await client.post(
        "/api/staff/lookup/otp", json={"mobile": mobile}, headers=staff.headers
    )
    assert response.status_code == 200, response.text
    txn = response.json()["txnId"]
    otp = last_lookup_otp(outbox, normalize_mobile(mobile))
    response = await client.post(
        "/api/staff/lookup/confirm", json={"txnId": txn, "otp": sha(otp)}, headers=staff.headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def add_expired_batch(ctx: AppContext, center_id: int, lot: str) -> None:
    async with ctx.db.transaction() as session:
        session.add(
            StockBatch(
                center_id=center_id,
                vaccine_code="COVISHIELD",
                lot=lot,
                expires_on=today_in_india(utcnow()) - dt.timedelta(days=1),
                quantity_received=10,
                doses_used=0,
                wasted=0,
                received_by="test",
                created_at=utcnow(),
            )
        )


def dose_body(reference_id: str, lot: str, *, dose: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "beneficiary_reference_id": reference_id,
        "vaccine": "COVISHIELD",
        "dose_number": dose,
        "batch": lot,
        **extra,
    }
