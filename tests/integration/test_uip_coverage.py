"""Coverage of routine immunization by district and month, small cells suppressed."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from immunet.clock import india_today
from immunet.db.base import utcnow
from immunet.oversight.coverage import cohort_status, first_birthday
from immunet.people.models import Beneficiary
from immunet.vaccination.models import DoseRecord
from tests.conftest import bearer, login
from tests.factories.sessions import make_center
from tests.factories.staff import make_staff
from tests.factories.uip import child
from tests.factories.vaccination import next_mobile

REPORT = "/api/staff/reports/immunization-coverage"
W = dt.timedelta(weeks=1)


def test_cohort_status_rules() -> None:
    dob = dt.date(2025, 1, 10)
    full = [
        ("uip-bcg", 1, dob, "Valid"),
        ("uip-opv", 1, dob, "Valid"),  # OPV-0 does not count toward the three
        *[("uip-opv", n + 2, dob + (6 + 4 * n) * W, "Valid") for n in range(3)],
        *[("uip-pentavalent", n + 1, dob + (6 + 4 * n) * W, "Valid") for n in range(3)],
        ("uip-mr", 1, dob + 40 * W, "Valid"),
    ]
    assert cohort_status(dob, full) == "fully_immunized"
    assert cohort_status(dob, []) == "zero_dose"
    late_mr = [
        d if d[0] != "uip-mr" else ("uip-mr", 1, dt.date(2026, 1, 10), "Valid") for d in full
    ]
    assert cohort_status(dob, late_mr) == "partly_immunized"  # MR on the birthday: too late
    invalid = [d if d[0] != "uip-bcg" else (*d[:3], "Not Valid") for d in full]
    assert cohort_status(dob, invalid) == "partly_immunized"
    no_penta = [d for d in full if d[0] != "uip-pentavalent"]
    assert cohort_status(dob, no_penta) == "zero_dose"
    assert first_birthday(dt.date(2024, 2, 29)) == dt.date(2025, 3, 1)


async def _children(client, outbox, n: int, dob: dt.date, center_id: int) -> list[str]:
    refs = []
    while len(refs) < n:
        token = await login(client, outbox, next_mobile())
        for _ in range(min(6, n - len(refs))):
            response = await client.post(
                "/api/v2/registration/beneficiary/child",
                json=child(dob, f"Child {'abcdefghijklmnopq'[len(refs)]}", center_id=center_id),
                headers=bearer(token),
            )
            assert response.status_code == 200, response.text
            refs.append(response.json()["beneficiary_reference_id"])
    return refs


async def _give(ctx, ref: str, doses: list[tuple[str, str, int, dt.date]]) -> None:
    # Historic doses (a year back) cannot be recorded through the API's backdating window;
    # the report under test reads rows, so the rows are written as the API writes them.
    async with ctx.db.transaction() as session:
        beneficiary_id = (
            await session.execute(select(Beneficiary.id).where(Beneficiary.reference_id == ref))
        ).scalar_one()
        for vaccine, series, number, on in doses:
            session.add(
                DoseRecord(
                    beneficiary_id=beneficiary_id,
                    vaccine_code=vaccine,
                    series_code=series,
                    dose_number=number,
                    administered_on=on,
                    center_id=None,
                    batch="HIST1",
                    recorded_by="test",
                    recorded_at=utcnow(),
                    status="recorded",
                    evaluation_status="Valid",
                )
            )


async def test_coverage_by_district_and_month(client, outbox, ctx, clock):
    today = india_today(clock.now())
    dob = dt.date(today.year - 1, today.month, 1)  # turns one on the 1st of this month
    center = await make_center(ctx, district_id=294)
    small_center = await make_center(ctx, district_id=265)
    refs = await _children(client, outbox, 16, dob, center)
    six, ten, fourteen = dob + 6 * W, dob + 10 * W, dob + 14 * W
    full = [
        ("BCG", "uip-bcg", 1, dob),
        ("OPV", "uip-opv", 1, six),
        ("OPV", "uip-opv", 2, ten),
        ("OPV", "uip-opv", 3, fourteen),
        ("PENTA", "uip-pentavalent", 1, six),
        ("PENTA", "uip-pentavalent", 2, ten),
        ("PENTA", "uip-pentavalent", 3, fourteen),
        ("MR", "uip-mr", 1, dob + 40 * W),
    ]
    for ref in refs[:6]:
        await _give(ctx, ref, full)
    for ref in refs[6:11]:  # partly: pentavalent-1 only
        await _give(ctx, ref, [("PENTA", "uip-pentavalent", 1, six)])
    # refs[11:] (five) are zero-dose.
    small = await _children(client, outbox, 2, dob, small_center)
    assert len(small) == 2

    national = await make_staff(ctx, "national_admin", "national")
    first = f"{today.year - 1}-{today.month:02d}"
    this = f"{today.year}-{today.month:02d}"
    response = await client.get(
        REPORT, params={"from": first, "to": this}, headers=national.headers
    )
    assert response.status_code == 200, response.text
    rows = {(r["district_id"], r["month"]): r for r in response.json()["rows"]}
    cohort = rows[(294, this)]
    assert cohort["cohort"] == {"fully_immunized": 6, "partly_immunized": 5, "zero_dose": 5}
    assert cohort["children_turning_one"] == 16
    six_month = six.strftime("%Y-%m")
    doses = rows[(294, six_month)]["doses"]
    assert doses["penta_1"] == 11
    if fourteen.strftime("%Y-%m") == six_month:  # pragma: no cover - depends on the month
        assert doses["penta_3"] == 6
    penta_3 = sum(r["doses"]["penta_3"] for k, r in rows.items() if k[0] == 294)
    assert penta_3 == 6
    # Two children in a district: a small cell, never a number.
    tiny = rows[(265, this)]
    assert tiny["children_turning_one"] == "<5"
    assert set(tiny["cohort"].values()) <= {"<5", 0}

    # A district admin sees only their district; a vaccinator has no report.
    district = await make_staff(ctx, "district_admin", "district:265")
    theirs = await client.get(REPORT, params={"from": first, "to": this}, headers=district.headers)
    assert {r["district_id"] for r in theirs.json()["rows"]} == {265}
    vaccinator = await make_staff(ctx, "vaccinator", f"center:{center}")
    refused = await client.get(
        REPORT, params={"from": first, "to": this}, headers=vaccinator.headers
    )
    assert refused.status_code in (401, 403)
    for params in (
        {"from": "2020-01", "to": this},
        {"from": this, "to": first},
        {"from": "2026-13", "to": this},
        {"from": this},
    ):
        bad = await client.get(REPORT, params=params, headers=national.headers)
        assert bad.status_code == 400, (params, bad.text)
