"""Coverage on the public dashboard's API: one state, aggregates by district and month, the
reports' small-cell suppression, no personal data; answers cached for an hour."""

from __future__ import annotations

import datetime as dt

from immunet.clock import india_today
from tests.factories.sessions import make_center
from tests.factories.staff import make_staff
from tests.integration.test_uip_coverage import W, _children, _give

PUBLIC = "/api/v2/public/reports/immunization-coverage"
STAFF_REPORT = "/api/staff/reports/immunization-coverage"


async def test_public_coverage_of_a_state(client, outbox, ctx, clock):
    today = india_today(clock.now())
    dob = dt.date(today.year - 1, today.month, 1)  # turns one on the 1st of this month
    center = await make_center(ctx, district_id=294)  # BBMP, Karnataka (16)
    andaman = await make_center(ctx, district_id=1)  # state 1
    refs = await _children(client, outbox, 7, dob, center)
    penta = [("PENTA", "uip-pentavalent", 1, dob + 6 * W)]
    for ref in refs[:6]:
        await _give(ctx, ref, penta)
    await _children(client, outbox, 2, dob, andaman)
    this = f"{today.year}-{today.month:02d}"
    first = this  # the cohort turning one this month
    params = {"state_id": 16, "from": first, "to": this}

    response = await client.get(PUBLIC, params=params)  # no login
    assert response.status_code == 200, response.text
    body = response.json()
    assert {r["district_id"] for r in body["rows"]} == {294}  # one state only
    # The same figures as the admins' report of that state.
    admin = await make_staff(ctx, "state_admin", "state:16")
    staff = await client.get(
        STAFF_REPORT, params={"from": first, "to": this}, headers=admin.headers
    )
    assert staff.json()["rows"] == body["rows"]
    cohort = {(r["district_id"], r["month"]): r for r in body["rows"]}[(294, this)]
    assert cohort["children_turning_one"] == 7
    # Zero-dose is one child: shown as "<5", and its complement hidden with it.
    assert cohort["cohort"]["zero_dose"] == "<5"
    assert isinstance(cohort["cohort"]["partly_immunized"], str)
    text = response.text
    assert all(ref not in text for ref in refs)
    assert "Child" not in text and "beneficiary" not in text

    tiny = await client.get(PUBLIC, params={**params, "state_id": 1})
    (row,) = [r for r in tiny.json()["rows"] if r["month"] == this]
    assert row["children_turning_one"] == "<5"

    # Cached for an hour: a new child shows only after that.
    await _children(client, outbox, 1, dob, center)
    cached = await client.get(PUBLIC, params=params)
    assert cached.json() == body
    clock.advance(dt.timedelta(hours=1, seconds=1))
    fresh = await client.get(PUBLIC, params=params)
    rows = {(r["district_id"], r["month"]): r for r in fresh.json()["rows"]}
    assert rows[(294, this)]["children_turning_one"] == 8
