"""Date rules read ``ctx.clock``, not the host's clock: move the clock, the rules follow.

The suite pins the clock (the ``clock`` fixture: 11:00 India time today); here it is
moved days ahead, so a rule still reading the system clock answers differently.
"""

from __future__ import annotations

import datetime as dt

from tests.conftest import bearer, login
from tests.factories import aadhaar, adult
from tests.factories.sessions import make_center
from tests.factories.staff import make_staff
from tests.factories.vaccination import book, next_mobile, setup_day


def _session_body(center_id: int, date: dt.date) -> dict[str, object]:
    return {
        "center_id": center_id,
        "date": date.strftime("%d-%m-%Y"),
        "vaccine": "COVISHIELD",
        "min_age_limit": 18,
        "max_age_limit": None,
        "capacity_dose1": 10,
        "capacity_dose2": 5,
        "slots": ["09:00AM-11:00AM"],
        "fee": "0",
    }


async def test_roster_window_follows_the_clock(client, ctx, outbox, clock):
    day = await setup_day(ctx, client)  # a session today, India time
    await book(client, outbox, day.session)
    path = f"/api/staff/sessions/{day.session.session_id}/roster"
    assert (await client.get(path, headers=day.vaccinator.headers)).status_code == 200
    clock.advance(dt.timedelta(days=2))  # that session is now the day before yesterday
    assert (await client.get(path, headers=day.vaccinator.headers)).status_code == 404


async def test_session_dates_and_booking_follow_the_clock(client, ctx, outbox, clock):
    day = await setup_day(ctx, client)
    admin = await make_staff(ctx, "national_admin")
    center_id = await make_center(ctx)
    tomorrow = day.session.date + dt.timedelta(days=1)
    token = await login(client, outbox, next_mobile())
    registered = await client.post(
        "/api/v2/registration/beneficiary/new",
        json=adult("Ravi Kumar", id_number=aadhaar(7777)),
        headers=bearer(token),
    )
    assert registered.status_code == 200, registered.text

    clock.advance(dt.timedelta(days=2))
    # Tomorrow by the host's clock is yesterday by ctx.clock: no session may be published.
    refused = await client.post(
        "/api/staff/sessions", json=_session_body(center_id, tomorrow), headers=admin.headers
    )
    assert refused.status_code == 400 and refused.json()["errorCode"] == "SESSION0400"
    later = await client.post(
        "/api/staff/sessions",
        json=_session_body(center_id, tomorrow + dt.timedelta(days=2)),
        headers=admin.headers,
    )
    assert later.status_code == 200, later.text
    # Today's session has passed by the clock: it can no longer be booked.
    response = await client.post(
        "/api/v2/appointment/schedule",
        json={
            "dose": 1,
            "session_id": day.session.session_id,
            "slot": "09:00AM-11:00AM",
            "beneficiaries": [registered.json()["beneficiary_reference_id"]],
            "center_id": day.session.center_id,
        },
        headers=bearer(token),
    )
    assert 400 <= response.status_code < 500 and response.status_code != 429, response.text
    assert set(response.json()) == {"errorCode", "error"}
