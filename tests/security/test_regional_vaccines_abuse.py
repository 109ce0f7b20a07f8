"""Abuse of the regional-vaccines setting: roles below a state admin, another state's
district, an unknown district (the same answer), bad bodies; none of them changes anything."""

from __future__ import annotations

from sqlalchemy import func, select

from immunet.security.audit import AuditAction
from immunet.security.models import AuditEvent
from immunet.vaccination.models import DistrictRegionalVaccine
from tests.conftest import bearer, login
from tests.factories.staff import make_staff
from tests.factories.vaccination import next_mobile

BBMP, KARNATAKA, ANDAMAN = 294, 16, 1


def _url(district_id: int | str) -> str:
    return f"/api/staff/districts/{district_id}/regional-vaccines"


async def _unchanged(ctx) -> None:
    async with ctx.db.reader() as session:
        rows = await session.scalar(select(func.count()).select_from(DistrictRegionalVaccine))
        audited = await session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == AuditAction.REGIONAL_VACCINES_SET)
        )
    assert rows == 0 and audited == 0


async def test_only_state_and_national_admins_set_regional_vaccines(client, outbox, ctx):
    body = {"vaccine_groups": ["JE"]}
    for role, where in (
        ("district_admin", f"district:{BBMP}"),
        ("facility_manager", "center:1"),
        ("vaccinator", "center:1"),
        ("verifier", "national"),
    ):
        staff = await make_staff(ctx, role, where)
        response = await client.put(_url(BBMP), json=body, headers=staff.headers)
        assert response.status_code == 403, (role, response.text)
        assert set(response.json()) == {"errorCode", "error"}
    anonymous = await client.put(_url(BBMP), json=body)
    assert anonymous.status_code == 401
    citizen = await login(client, outbox, next_mobile())
    wrong_audience = await client.put(_url(BBMP), json=body, headers=bearer(citizen))
    assert wrong_audience.status_code == 401
    await _unchanged(ctx)


async def test_another_states_district_is_the_same_404_as_no_district(client, ctx):
    admin = await make_staff(ctx, "state_admin", f"state:{ANDAMAN}")
    body = {"vaccine_groups": ["PCV"]}
    theirs = await client.put(_url(BBMP), json=body, headers=admin.headers)
    nowhere = await client.put(_url(99_999), json=body, headers=admin.headers)
    assert theirs.status_code == nowhere.status_code == 404
    assert theirs.json() == nowhere.json()
    read = await client.get(_url(BBMP), headers=admin.headers)
    assert read.status_code == 404 and read.json() == theirs.json()
    await _unchanged(ctx)


async def test_bad_bodies_change_nothing(client, ctx):
    admin = await make_staff(ctx, "national_admin")
    for body in (
        {"vaccine_groups": ["MR"]},  # on the schedule, but national, not regional
        {"vaccine_groups": ["Smallpox"]},
        {"vaccine_groups": ["JE"] * 9},
        {"vaccine_groups": ["J" * 41]},
        {"vaccine_groups": "JE"},
        {"vaccine_groups": ["JE"], "district_id": BBMP},
        {},
    ):
        response = await client.put(_url(BBMP), json=body, headers=admin.headers)
        assert response.status_code == 400, (body, response.text)
        assert set(response.json()) == {"errorCode", "error"}
    for district in ("0", "100001", "abc", "-1"):
        response = await client.put(
            _url(district), json={"vaccine_groups": ["JE"]}, headers=admin.headers
        )
        assert response.status_code in (400, 404), (district, response.text)
    await _unchanged(ctx)
    # A national admin may set any district.
    ok = await client.put(_url(BBMP), json={"vaccine_groups": ["JE", "PCV"]}, headers=admin.headers)
    assert ok.status_code == 200 and ok.json()["vaccine_groups"] == ["JE", "PCV"]
