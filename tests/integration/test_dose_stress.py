"""Concurrent check-ins and dose recordings for a few seconds: no answer is a 5xx.

The defect: under concurrent recording, certificate issuance (signing in worker threads)
crashed inside pyld's shared caches and the API answered GEN0500. Here several workers check
people in and record their doses at once over the real routes, each recording issuing a
certificate, on SQLite and PostgreSQL; every answer must be a 2xx, and every dose recorded
exactly once with its certificate.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from immunet.booking.models import Appointment
from immunet.certificates.models import IssuedCertificate
from immunet.people.models import Beneficiary
from immunet.vaccination.models import DoseRecord
from tests.factories.sessions import SessionRef, add_beneficiary, make_citizen, make_session
from tests.factories.vaccination import SLOT, next_mobile, secret_codes, setup_day

PER_ACCOUNT = 6  # beneficiaries one mobile may register

PEOPLE = 48
WORKERS = 16
SECONDS = 6.0


@pytest.fixture
def busy_switching() -> Iterator[None]:
    # Switch threads as often as the interpreter can, so that signing threads interleave.
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


async def _book_many(client, ctx, outbox, vs: SessionRef) -> list[tuple[str, str, str]]:
    """PEOPLE people booked into ``vs`` through the booking API, six to an account; returns
    (reference ID, appointment ID, secret code from the SMS) for each."""
    booked: list[tuple[str, str, str]] = []
    for first in range(0, PEOPLE, PER_ACCOUNT):
        citizen = await make_citizen(ctx, next_mobile())
        references = [
            await add_beneficiary(ctx, citizen, name=f"Person {n}")
            for n in range(first, min(first + PER_ACCOUNT, PEOPLE))
        ]
        response = await client.post(
            "/api/v2/appointment/schedule",
            json={
                "dose": 1,
                "session_id": vs.session_id,
                "slot": SLOT,
                "beneficiaries": references,
                "center_id": vs.center_id,
            },
            headers=citizen.headers,
        )
        assert response.status_code == 200, response.text
        async with ctx.db.reader() as session:
            rows = (
                await session.execute(
                    select(Beneficiary.reference_id, Appointment.appointment_id)
                    .join(Appointment, Appointment.beneficiary_id == Beneficiary.id)
                    .where(Beneficiary.reference_id.in_(references))
                )
            ).all()
        codes = secret_codes(outbox)
        booked += [(ref, appointment, codes[appointment]) for ref, appointment in rows]
    assert len(booked) == PEOPLE
    return booked


async def test_concurrent_check_ins_and_recordings_have_no_5xx(client, ctx, outbox, busy_switching):
    day = await setup_day(ctx, client, quantity=PEOPLE + 4)
    vs = await make_session(ctx, center_id=day.center_id, days_ahead=0, capacity_dose1=PEOPLE)
    people: asyncio.Queue[tuple[str, str, str]] = asyncio.Queue()
    for booked in await _book_many(client, ctx, outbox, vs):
        people.put_nowait(booked)
    staff = day.vaccinator.headers
    statuses: list[int] = []
    failures: list[str] = []
    deadline = time.monotonic() + SECONDS

    async def worker() -> None:
        while time.monotonic() < deadline and not people.empty():
            reference_id, appointment_id, code = people.get_nowait()
            checked = await client.post(
                "/api/staff/checkin",
                json={"appointment_id": appointment_id, "secret_code": code},
                headers=staff,
            )
            statuses.append(checked.status_code)
            if checked.status_code != 200:
                failures.append(f"check-in {checked.status_code} {checked.text[:200]}")
                continue
            recorded = await client.post(
                "/api/staff/vaccinations",
                json={
                    "beneficiary_reference_id": reference_id,
                    "session_id": vs.session_id,
                    "vaccine": "COVISHIELD",
                    "dose": 1,
                    "batch": day.lot,
                },
                headers={**staff, "Idempotency-Key": f"stress-{appointment_id}"},
            )
            statuses.append(recorded.status_code)
            if recorded.status_code != 201:
                failures.append(f"dose {recorded.status_code} {recorded.text[:200]}")

    await asyncio.gather(*[worker() for _ in range(WORKERS)])
    assert not [s for s in statuses if s >= 500], failures
    assert not failures
    done = PEOPLE - people.qsize()
    assert done >= WORKERS  # the run did overlap recordings
    async with ctx.db.reader() as session:
        doses = (await session.execute(select(func.count()).select_from(DoseRecord))).scalar_one()
        certificates = (
            await session.execute(select(func.count()).select_from(IssuedCertificate))
        ).scalar_one()
    assert doses == certificates == done
