"""Abuse of the staff console's pages: a role without the page's permission, another centre's
sessions and stock, another district's alerts and disputes, staff users above the admin's rank
or outside its jurisdiction, forms without their CSRF token, and oversized input. Every refusal
is checked to have changed nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from immunet.booking.rules import today_in_india
from immunet.oversight.models import AccessDispute, StaffAlert
from immunet.sessions.models import VaccinationSession
from immunet.staff.models import StaffUser
from immunet.vaccination.models import AefiReport, StockBatch
from tests.conftest import Outbox, bearer
from tests.factories.sessions import make_center
from tests.factories.staff_flow import add_staff
from tests.factories.vaccination import book, setup_day
from tests.web.portal import Browser, open_browser
from tests.web.test_staff_console_pages import sign_in

# Every new page and form, with a body that would pass its model if the guard let it through.
GETS = (
    "/staff/walk-in",
    "/staff/aefi",
    "/staff/schedule",
    "/staff/stock",
    "/staff/alerts",
    "/staff/disputes",
    "/staff/reports",
    "/staff/reports/coverage",
    "/staff/reports/aefi",
    "/staff/users",
)
POSTS: dict[str, dict[str, str]] = {
    "/staff/walk-in": {"mobile": "9876543210"},
    "/staff/walk-in/verify": {"txn": "0" * 36, "otp": "123456"},
    "/staff/walk-in/register": {"txn": "0" * 36, "name": "X", "birth_year": "1980"},
    "/staff/walk-in/dose": {
        "reference": "1",
        "name": "X",
        "dose": "1",
        "batch": "COVISHIELD LOT1",
        "idem": "a" * 16,
    },
    "/staff/aefi": {"reference": "1", "symptom-fever": "on", "onset_date": "2026-01-01"},
    "/staff/schedule": {"center_id": "1", "date": "2030-01-01", "vaccine": "COVISHIELD"},
    "/staff/schedule/cancel": {"session": "00000000-0000-4000-8000-000000000000"},
    "/staff/stock": {"vaccine": "COVISHIELD", "lot": "L1", "expiry": "2030-01-01"},
    "/staff/stock/waste": {"stock_id": "1", "doses": "1", "reason": "other"},
    "/staff/alerts/ack": {"id": "1"},
    "/staff/disputes/freeze": {"id": "1"},
    "/staff/disputes/resolve": {"id": "1", "outcome": "dismissed"},
    "/staff/users": {"username": "web-abuse-new", "role": "verifier", "jurisdiction": "national"},
    "/staff/users/disable": {"username": "web-abuse-target"},
}
# Which pages each role may NOT open (the API's role table, ``staff/permissions.py``).
VACCINATOR_REFUSED_GETS = (
    "/staff/alerts",
    "/staff/disputes",
    "/staff/reports",
    "/staff/reports/aefi",
    "/staff/users",
)
VACCINATOR_REFUSED_POSTS = (
    "/staff/schedule",
    "/staff/schedule/cancel",
    "/staff/stock",
    "/staff/stock/waste",
    "/staff/alerts/ack",
    "/staff/disputes/freeze",
    "/staff/disputes/resolve",
    "/staff/users",
    "/staff/users/disable",
)
MANAGER_REFUSED_GETS = (
    "/staff/walk-in",
    "/staff/alerts",
    "/staff/disputes",
    "/staff/reports",
    "/staff/reports/coverage",
    "/staff/reports/aefi",
)
MANAGER_REFUSED_POSTS = ("/staff/walk-in", "/staff/walk-in/dose", "/staff/alerts/ack")
ADMIN_REFUSED_GETS = ("/staff/walk-in", "/staff/aefi", "/staff/stock")
ADMIN_REFUSED_POSTS = ("/staff/walk-in/verify", "/staff/aefi", "/staff/stock", "/staff/stock/waste")


@pytest.fixture
async def web(settings, ctx):
    async for opened in open_browser(settings, ctx):
        yield opened


async def _counts(ctx) -> tuple[int, ...]:
    async with ctx.db.reader() as session:
        return tuple(
            [
                (await session.execute(select(func.count()).select_from(model))).scalar_one()
                for model in (VaccinationSession, StockBatch, AefiReport)
            ]
            + [
                (
                    await session.execute(
                        select(func.count())
                        .select_from(StaffAlert)
                        .where(StaffAlert.acknowledged_at.is_not(None))
                    )
                ).scalar_one(),
                (
                    await session.execute(
                        select(func.count())
                        .select_from(AccessDispute)
                        .where(AccessDispute.status != "open")
                    )
                ).scalar_one(),
                (await session.execute(select(func.count()).select_from(StaffUser))).scalar_one(),
                (
                    await session.execute(
                        select(func.count())
                        .select_from(StaffUser)
                        .where(StaffUser.active.is_(False))
                    )
                ).scalar_one(),
            ]
        )


@pytest.mark.parametrize(
    ("role", "jurisdiction", "gets", "posts"),
    [
        ("verifier", "national", GETS, tuple(POSTS)),
        ("vaccinator", "center", VACCINATOR_REFUSED_GETS, VACCINATOR_REFUSED_POSTS),
        ("facility_manager", "center", MANAGER_REFUSED_GETS, MANAGER_REFUSED_POSTS),
        ("district_admin", "district", ADMIN_REFUSED_GETS, ADMIN_REFUSED_POSTS),
    ],
)
async def test_a_role_without_the_pages_permission_is_refused(
    web: Browser, ctx, role, jurisdiction, gets, posts
):
    center = await make_center(ctx)
    place = {"national": "national", "center": f"center:{center}", "district": "district:294"}
    creds = await add_staff(ctx, f"web-abuse-{role}", role, place[jurisdiction])
    await add_staff(ctx, "web-abuse-target", "verifier", place[jurisdiction])
    console = await sign_in(web, creds)
    before = await _counts(ctx)
    for path in gets:
        answer = await web.http.get(path)
        assert answer.status_code == 403, f"{role} GET {path}: {answer.status_code}"
    for path in posts:
        refused = await web.submit(console, path, **POSTS[path])
        assert refused.status == 403, f"{role} POST {path}: {refused.status}"
    assert await _counts(ctx) == before
    # The console links only to what the role may open.
    links = console.labels()
    assert "Misuse alerts" not in links or role == "district_admin"
    assert "Walk-in" not in links or role == "vaccinator"
    assert "Staff users" not in links or role in ("facility_manager", "district_admin")


async def test_another_centres_sessions_and_stock_are_not_found(web: Browser, client, ctx):
    day = await setup_day(ctx, client)  # centre A, with a session and a batch
    other = await make_center(ctx)  # centre B, same district
    creds = await add_staff(ctx, "web-abuse-fm-b", "facility_manager", f"center:{other}")
    await sign_in(web, creds)
    schedule = await web.get("/staff/schedule")
    assert day.session.session_id not in schedule.text
    stock = await web.get("/staff/stock")
    assert day.lot not in stock.text
    async with ctx.db.reader() as session:
        batch = (
            await session.execute(select(StockBatch).where(StockBatch.lot == day.lot))
        ).scalar_one()
    before = await _counts(ctx)
    cancelled = await web.submit(schedule, "/staff/schedule/cancel", session=day.session.session_id)
    assert cancelled.status == 404
    wasted = await web.submit(
        stock, "/staff/stock/waste", stock_id=str(batch.id), doses="1", reason="other"
    )
    assert wasted.status == 404
    # Publishing at centre A from centre B: the centre filter is the service's.
    tomorrow = (today_in_india(ctx.clock.now()) + dt.timedelta(days=1)).isoformat()
    published = await web.submit(
        schedule,
        "/staff/schedule",
        center_id=str(day.center_id),
        date=tomorrow,
        vaccine="COVISHIELD",
        min_age_limit="18",
        capacity_dose1="5",
        slots="09:00AM-11:00AM",
    )
    assert published.status in (403, 404)
    assert await _counts(ctx) == before
    async with ctx.db.reader() as session:
        after = await session.get(StockBatch, batch.id)
        row = await session.get(VaccinationSession, day.session.session_id)
    assert after is not None and after.wasted == 0
    assert row is not None and row.status == "published"


async def test_another_districts_alerts_and_disputes_are_not_found(
    web: Browser, client, outbox: Outbox, ctx
):
    day = await setup_day(ctx, client)  # district 294
    person = await book(client, outbox, day.session)
    roster = f"/api/staff/sessions/{day.session.session_id}/roster"
    assert (await client.get(roster, headers=day.vaccinator.headers)).status_code == 200
    log = (await client.get("/api/v2/me/access-log", headers=bearer(person.token))).json()
    entry = next(e for e in log["entries"] if e["channel"] == "roster")
    opened = await client.post(
        f"/api/v2/me/access-log/{entry['entry_id']}/dispute",
        json={"reason": "not me"},
        headers=bearer(person.token),
    )
    assert opened.status_code == 201
    async with ctx.db.reader() as session:
        alert_id = (await session.execute(select(StaffAlert.id))).scalar_one()
        dispute_id = (await session.execute(select(AccessDispute.id))).scalar_one()

    stranger = await add_staff(ctx, "web-abuse-admin-1", "district_admin", "district:1")
    console = await sign_in(web, stranger)
    assert "not me" not in (await web.get("/staff/disputes")).text
    assert day.vaccinator.username not in (await web.get("/staff/alerts")).text
    before = await _counts(ctx)
    for path, fields in (
        ("/staff/alerts/ack", {"id": str(alert_id)}),
        ("/staff/disputes/freeze", {"id": str(dispute_id)}),
        ("/staff/disputes/resolve", {"id": str(dispute_id), "outcome": "upheld"}),
    ):
        refused = await web.submit(console, path, **fields)
        assert refused.status == 404, path
    assert await _counts(ctx) == before
    # The frozen-looking user still works: nothing was decided.
    assert (await client.get(roster, headers=day.vaccinator.headers)).status_code == 200


async def test_forms_without_their_csrf_token_change_nothing(web: Browser, client, ctx):
    day = await setup_day(ctx, client)
    creds = await add_staff(ctx, "web-abuse-fm-c", "facility_manager", f"center:{day.center_id}")
    await sign_in(web, creds)
    before = await _counts(ctx)
    tomorrow = (today_in_india(ctx.clock.now()) + dt.timedelta(days=1)).isoformat()
    forms = {
        "/staff/schedule/cancel": {"session": day.session.session_id},
        "/staff/schedule": {
            "center_id": str(day.center_id),
            "date": tomorrow,
            "vaccine": "COVISHIELD",
            "min_age_limit": "18",
            "capacity_dose1": "5",
            "slots": "09:00AM-11:00AM",
        },
        "/staff/stock": {
            "vaccine": "COVISHIELD",
            "lot": "NOCSRF",
            "expiry": tomorrow,
            "quantity": "5",
        },
        "/staff/aefi": {"reference": "1", "symptom-fever": "on"},
    }
    for path, fields in forms.items():
        missing = await web.http.post(path, data=fields)
        assert missing.status_code == 403, path
        wrong = await web.http.post(path, data={**fields, "csrf": "x" * 43})
        assert wrong.status_code == 403, path
        page = await web.get("/staff/stock")
        cross = await web.http.post(
            path,
            data={**fields, "csrf": page.csrf()},
            headers={"origin": "https://evil.example", "sec-fetch-site": "cross-site"},
        )
        assert cross.status_code == 403, path
    assert await _counts(ctx) == before


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        ("/staff/aefi", {"reference": "1", "symptom-fever": "on", "notes": "n" * 1001}),
        ("/staff/aefi", {"reference": "1" * 21, "symptom-fever": "on"}),
        ("/staff/stock", {"vaccine": "V" * 33, "lot": "L1", "quantity": "5"}),
        ("/staff/stock", {"vaccine": "COVISHIELD", "lot": "L" * 49, "quantity": "5"}),
        ("/staff/stock", {"vaccine": "COVISHIELD", "lot": "L1", "quantity": "9" * 40}),
        ("/staff/schedule", {"center_id": "1", "vaccine": "X", "slots": "09:00AM-11:00AM\n" * 13}),
        ("/staff/schedule", {"center_id": "1" * 40, "vaccine": "X", "slots": "09:00AM-11:00AM"}),
        ("/staff/stock", {"vaccine": "COVISHIELD", "lot": "x" * 70_000}),
    ],
)
async def test_oversized_input_is_refused_and_changes_nothing(
    web: Browser, client, ctx, path, fields
):
    day = await setup_day(ctx, client)
    creds = await add_staff(ctx, "web-abuse-fm-o", "facility_manager", f"center:{day.center_id}")
    console = await sign_in(web, creds)
    tomorrow = (today_in_india(ctx.clock.now()) + dt.timedelta(days=1)).isoformat()
    defaults = {
        "/staff/aefi": {"onset_date": tomorrow, "severity": "mild", "outcome": "recovered"},
        "/staff/stock": {"expiry": tomorrow},
        "/staff/schedule": {"date": tomorrow, "min_age_limit": "18", "capacity_dose1": "5"},
    }[path]
    before = await _counts(ctx)
    refused = await web.submit(console, path, **{**defaults, **fields})
    # A body past the server's cap is refused before any page reads it (413).
    expected = 413 if len(str(fields)) > 65_536 else 400
    assert refused.status == expected, refused.text[:200]
    assert await _counts(ctx) == before


# -- staff users ------------------------------------------------------------------------------


async def test_staff_users_above_the_admins_rank_or_outside_its_jurisdiction_are_refused(
    web: Browser, ctx
):
    own = await make_center(ctx, district_id=294)
    far = await make_center(ctx, district_id=1)
    creds = await add_staff(ctx, "web-abuse-users-da", "district_admin", "district:294")
    await add_staff(ctx, "web-abuse-peer", "district_admin", "district:294")  # same rank
    await add_staff(ctx, "web-abuse-far-vax", "vaccinator", f"center:{far}")  # elsewhere
    await sign_in(web, creds)
    page = await web.get("/staff/users")
    assert "web-abuse-far-vax" not in page.text
    assert "Disable web-abuse-peer" not in page.labels()  # not offered; refused below too
    before = await _counts(ctx)
    refusals = (
        # A role at or above the admin's own rank (the API's StaffForbidden).
        ("/staff/users", {"role": "district_admin", "jurisdiction": "district:294"}, 403),
        ("/staff/users", {"role": "state_admin", "jurisdiction": "state:1"}, 403),
        ("/staff/users", {"role": "national_admin", "jurisdiction": "national"}, 403),
        # A centre outside the admin's district.
        ("/staff/users", {"role": "vaccinator", "jurisdiction": f"center:{far}"}, 403),
        # A jurisdiction that is not one, or a role that the user cannot hold.
        ("/staff/users", {"role": "vaccinator", "jurisdiction": "district:294"}, 422),
        ("/staff/users", {"role": "vaccinator", "jurisdiction": "planet:3"}, 422),
        ("/staff/users", {"role": "emperor", "jurisdiction": f"center:{own}"}, 400),
        # Disabling: a peer is above what the admin may manage; a stranger is not found.
        ("/staff/users/disable", {"username": "web-abuse-peer"}, 403),
        ("/staff/users/disable", {"username": "web-abuse-far-vax"}, 404),
        ("/staff/users/disable", {"username": "no-such-user"}, 404),
        ("/staff/users/disable", {"username": "web-abuse-users-da"}, 403),  # itself
    )
    for path, fields, status in refusals:
        body = {"username": "web-abuse-made", **fields}
        refused = await web.submit(page, path, **body)
        assert refused.status == status, (path, fields, refused.status)
        assert "created-password" not in refused.text
    # A not-found user and a stranger's user answer alike (no oracle for usernames).
    stranger = await web.submit(page, "/staff/users/disable", username="web-abuse-far-vax")
    unknown = await web.submit(page, "/staff/users/disable", username="no-such-user")
    assert stranger.status == unknown.status == 404
    assert "web-abuse-far-vax" not in stranger.text
    assert await _counts(ctx) == before
    async with ctx.db.reader() as session:
        actives = dict((await session.execute(select(StaffUser.username, StaffUser.active))).all())
    assert actives["web-abuse-peer"] and actives["web-abuse-far-vax"]
    assert "web-abuse-made" not in actives


async def test_staff_user_forms_without_csrf_or_with_oversized_input_change_nothing(
    web: Browser, ctx
):
    own = await make_center(ctx, district_id=294)
    creds = await add_staff(ctx, "web-abuse-users-c", "district_admin", "district:294")
    await add_staff(ctx, "web-abuse-victim", "vaccinator", f"center:{own}")
    await sign_in(web, creds)
    page = await web.get("/staff/users")
    before = await _counts(ctx)
    create = {"username": "web-abuse-csrf", "role": "vaccinator", "jurisdiction": f"center:{own}"}
    for path, fields in (
        ("/staff/users", create),
        ("/staff/users/disable", {"username": "web-abuse-victim"}),
    ):
        assert (await web.http.post(path, data=fields)).status_code == 403, path
        wrong = await web.http.post(path, data={**fields, "csrf": "x" * 43})
        assert wrong.status_code == 403, path
        cross = await web.http.post(
            path,
            data={**fields, "csrf": page.csrf()},
            headers={"origin": "https://evil.example", "sec-fetch-site": "cross-site"},
        )
        assert cross.status_code == 403, path
    for path, fields, status in (
        ("/staff/users", {**create, "username": "u" * 65}, 400),
        ("/staff/users", {**create, "jurisdiction": "center:" + "1" * 30}, 400),
        ("/staff/users", {**create, "role": "r" * 5000}, 400),
        ("/staff/users/disable", {"username": "v" * 65}, 400),
        ("/staff/users", {**create, "username": "x" * 70_000}, 413),
    ):
        refused = await web.submit(page, path, **fields)
        assert refused.status == status, (path, refused.status)
    assert await _counts(ctx) == before
