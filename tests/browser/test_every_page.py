"""Every page the other browser tests do not visit, with content in it: axe-core (no serious
or critical violation), usable at 360 px (no horizontal scroll) and photographed at 360×640
and 1280×800 (``tmp/artifacts/``).

One set of demo-like data made through the app's services and the factories: a centre with
today's COVISHIELD and routine sessions, stock of each, a session tomorrow; a citizen with an
adult (a recorded dose, so a certificate) and a child; a vaccinator, a facility manager, a
national admin and a verifier still holding a one-time password. The browser makes the rest
as people would: the partner consent through immunet's own consent page, the child's dose
through a walk-in (the person's OTP), an AEFI report typed with the keyboard alone, a
"this wasn't me" dispute (which also raises a misuse alert). One browser context per role.

The pages are the same on both databases: this runs on SQLite only.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from immunet.booking.rules import today_in_india
from immunet.clock import SystemClock
from immunet.db.base import utcnow
from immunet.people.family import register_child
from immunet.people.schemas import NewChildRequest
from immunet.vaccination.models import StockBatch
from tests.browser.conftest import VIEWPORTS, Server, axe_violations, shoot
from tests.factories.certificates import record_dose
from tests.factories.partners import REDIRECT_URI, OAuthClient, register_partner
from tests.factories.sessions import add_beneficiary, make_center, make_citizen, make_session
from tests.factories.staff_flow import StaffCredentials, add_staff

PINCODE = "560009"
MOBILE = "9845012345"
ADULT = "Asha Kumari"
CHILD = "Meera Rao"
PHONE_WIDTH = VIEWPORTS["phone"]["width"]


@dataclass
class World:
    center_id: int
    tomorrow: dt.date
    adult_ref: str
    child_ref: str
    vaccinator: StaffCredentials
    manager: StaffCredentials
    admin: StaffCredentials
    newcomer: StaffCredentials  # still holds the one-time password
    partner: OAuthClient


def _batch(center: int, vaccine: str, lot: str) -> StockBatch:
    return StockBatch(
        center_id=center,
        vaccine_code=vaccine,
        lot=lot,
        expires_on=today_in_india(utcnow()) + dt.timedelta(days=90),
        quantity_received=40,
        doses_used=0,
        wasted=0,
        received_by="test",
        created_at=utcnow(),
    )


@pytest.fixture(scope="module")
def world(server: Server) -> World:
    async def step(ctx: Any) -> World:
        center = await make_center(ctx, pincode=PINCODE)
        await make_session(ctx, center_id=center, days_ahead=0, capacity_dose1=30)
        await make_session(
            ctx, center_id=center, days_ahead=0, vaccine="PENTA", min_age=0, max_age=17
        )
        later = await make_session(ctx, center_id=center, days_ahead=1, capacity_dose2=20)
        async with ctx.db.transaction() as db:
            db.add(_batch(center, "COVISHIELD", "SWEEP-CS-1"))
            db.add(_batch(center, "BCG", "SWEEP-BCG-1"))
        citizen = await make_citizen(ctx, MOBILE)
        adult = await add_beneficiary(ctx, citizen, name=ADULT)
        await record_dose(ctx, adult, dose=1, center_id=center)
        born = today_in_india(utcnow()) - dt.timedelta(weeks=6)
        child = await register_child(
            ctx,
            NewChildRequest(
                name=CHILD,
                date_of_birth=born.strftime("%d-%m-%Y"),
                gender_id=2,
                guardian_relation="mother",
                center_id=center,
            ),
            actor=citizen.principal,
        )
        tag = secrets.token_hex(3)
        return World(
            center_id=center,
            tomorrow=later.date,
            adult_ref=adult,
            child_ref=child.reference_id,
            vaccinator=await add_staff(ctx, f"sweep-vax-{tag}", "vaccinator", f"center:{center}"),
            manager=await add_staff(ctx, f"sweep-fm-{tag}", "facility_manager", f"center:{center}"),
            admin=await add_staff(ctx, f"sweep-admin-{tag}", "national_admin", "national"),
            newcomer=await add_staff(
                ctx, f"sweep-new-{tag}", "verifier", "national", one_time=True
            ),
            partner=OAuthClient(await register_partner(ctx), SystemClock()),
        )

    world: World = server.run(step)
    return world


class Sweep:
    """Visits pages and collects what is wrong with each, so one run lists every problem."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.problems: list[str] = []
        self.visited: list[str] = []

    def check(self, page: Any, name: str) -> None:
        self.visited.append(name)
        shoot(page, f"every-{name}", self.server, idle=False)
        page.set_viewport_size(VIEWPORTS["phone"])
        for line in axe_violations(page):
            self.problems.append(f"{name} ({page.url}): {line}")
        width = page.evaluate("document.scrollingElement.scrollWidth")
        if width > PHONE_WIDTH + 1:
            self.problems.append(f"{name}: scrolls sideways at {PHONE_WIDTH} px ({width} px wide)")

    def visit(self, page: Any, path: str, name: str) -> None:
        response = page.goto(path)
        assert response is not None and response.status == 200, (path, response and response.status)
        self.check(page, name)


@pytest.fixture
def contexts(chromium: Any, server: Server) -> Iterator[Any]:
    opened: list[Any] = []

    def new() -> Any:
        # en-US: English pages, and the date field's month/day/year order the test types
        context = chromium.new_context(
            base_url=server.base, viewport=VIEWPORTS["phone"], locale="en-US"
        )
        opened.append(context)
        return context.new_page()

    yield new
    for context in opened:
        context.close()


def _staff_login(page: Any, creds: StaffCredentials) -> None:
    page.goto("/staff/login")
    page.get_by_label("Username").fill(creds.username)
    page.get_by_label("Password").fill(creds.password)
    page.get_by_label("Authentication code").fill(creds.totp())
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def _tab_to(page: Any, element_id: str, limit: int = 60) -> None:
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement && document.activeElement.id") == element_id:
            return
    raise AssertionError(f"#{element_id} cannot be reached with the keyboard")


def _push_authorization(server: Server, partner: OAuthClient) -> str:
    """The partner's pushed authorization request (RFC 9126), as the partner sends it."""

    async def go() -> str:
        async with httpx.AsyncClient(base_url=server.base) as http:
            answer = await partner.par(http)
        assert answer.status_code == 201, answer.text
        return str(answer.json()["request_uri"])

    # Playwright's sync API keeps an event loop on this thread: run on another one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, go()).result()


# The pages are the same on both databases: SQLite only (no PostgreSQL server is started).
@pytest.mark.parametrize("server", ["sqlite"], indirect=True)
def test_every_page_passes_axe_and_fits_a_phone(contexts: Any, server: Server, world: World):
    sweep = Sweep(server)

    # -- the vaccinator: a walk-in through the person's OTP, then an AEFI report -------------
    vax = contexts()
    _staff_login(vax, world.vaccinator)
    vax.wait_for_url("**/staff")
    sweep.check(vax, "staff-home-vaccinator")
    sweep.visit(vax, "/staff/sessions", "staff-sessions")
    sweep.visit(vax, "/staff/walk-in", "staff-walk-in")
    vax.get_by_label("Mobile number").fill(MOBILE)
    seen = server.sms_count()
    vax.get_by_role("button", name="Send OTP").click()
    vax.get_by_label("One-time password").wait_for()
    sweep.check(vax, "staff-walk-in-otp")
    vax.get_by_label("One-time password").fill(
        server.otp(MOBILE, after=seen, template="staff_lookup_otp")
    )
    vax.get_by_role("button", name="Verify").click()
    child = vax.locator("section", has=vax.get_by_role("heading", name=CHILD))
    child.get_by_label(f"Batch for {CHILD}").wait_for()
    sweep.check(vax, "staff-walk-in-people")
    child.get_by_label(f"Batch for {CHILD}").select_option("BCG SWEEP-BCG-1")
    child.get_by_label("Photo ID checked against the person").check()
    child.get_by_role("button", name="Record dose").click()
    status = vax.get_by_role("status")
    status.wait_for()
    assert f"Dose of BCG recorded for {CHILD}." in status.inner_text()
    sweep.check(vax, "staff-walk-in-recorded")

    # The AEFI form with the keyboard alone: focus moves from field to field by Tab, a box is
    # ticked with Space, the form is sent with Enter.
    sweep.visit(vax, "/staff/aefi", "staff-aefi")
    _tab_to(vax, "reference")
    vax.keyboard.type(world.child_ref)
    vax.keyboard.press("Tab")  # the first symptom
    vax.keyboard.press("Space")
    _tab_to(vax, "onset_date")
    vax.keyboard.type(today_in_india(utcnow()).strftime("%m%d%Y"))  # the en-US field order
    _tab_to(vax, "severity")
    vax.keyboard.press("ArrowDown")  # the second severity
    _tab_to(vax, "notes")
    vax.keyboard.type("Fever in the evening")
    vax.keyboard.press("Tab")
    assert vax.evaluate("document.activeElement.textContent") == "Send report"
    assert vax.locator('input[name^="symptom-"]').first.is_checked()
    vax.keyboard.press("Enter")
    vax.wait_for_url("**/staff/aefi?done=true")
    assert "The report has been recorded." in vax.get_by_role("status").inner_text()
    sweep.check(vax, "staff-aefi-done")

    # -- the citizen: the family with the child's card, booking with eligibility, the
    # certificate, a partner consent given on immunet's own page, a dispute -----------------
    me = contexts()
    me.route(  # the partner's own site: not on this machine
        f"{REDIRECT_URI}**", lambda route: route.fulfill(status=200, body="the partner's app")
    )
    request_uri = _push_authorization(server, world.partner)
    client_id = world.partner.partner.client_id
    sweep.visit(me, f"/oauth/authorize?client_id={client_id}&request_uri={request_uri}", "oauth")
    me.get_by_label("Mobile number").fill(MOBILE)
    seen = server.sms_count()
    me.get_by_role("button", name="Send OTP").click()
    me.get_by_label("One-time password").wait_for()
    sweep.check(me, "oauth-otp")
    me.get_by_label("One-time password").fill(server.otp(MOBILE, after=seen))
    me.get_by_role("button", name="Verify").click()
    me.get_by_role("button", name="Allow").wait_for()
    sweep.check(me, "oauth-choose")
    me.get_by_label(ADULT, exact=False).check()
    me.get_by_role("button", name="Allow").click()
    me.wait_for_url(f"{REDIRECT_URI}**")

    sweep.visit(me, "/me", "citizen-family-with-child")  # the consent page's sign-in
    expect(me.get_by_role("table", name=f"Doses given to {CHILD}")).to_be_visible()
    expect(me.get_by_role("table", name=f"Next doses of {CHILD}")).to_be_visible()
    sweep.visit(me, "/me/consents", "citizen-consents")
    expect(me.get_by_role("heading", name="Health App")).to_be_visible()
    booking = f"/me/book?beneficiary={world.adult_ref}&pincode={PINCODE}&date={world.tomorrow}"
    sweep.visit(me, booking, "citizen-book-eligibility")
    expect(me.get_by_text(CHILD).first).to_be_visible()  # the family's eligibility, each member
    sweep.visit(me, f"/me/certificate?beneficiary={world.adult_ref}", "citizen-certificate")
    sweep.visit(me, "/me/access-log", "citizen-access-log")
    me.get_by_label("What was wrong?").first.fill("I was not at any centre that day")
    me.get_by_role("button", name="Report").first.click()
    me.wait_for_url("**/me/access-log?done=disputed")
    sweep.check(me, "citizen-access-log-disputed")
    sweep.visit(me, "/me/data", "citizen-data-summary")
    me.goto("/me/consents")
    me.get_by_role("button", name="Withdraw permission of Health App").click()
    me.wait_for_url("**/me/consents?done=revoked")
    sweep.check(me, "citizen-consents-withdrawn")

    # -- the facility manager: sessions and stock ------------------------------------------
    fm = contexts()
    _staff_login(fm, world.manager)
    fm.wait_for_url("**/staff")
    sweep.check(fm, "staff-home-manager")
    sweep.visit(fm, "/staff/schedule", "staff-schedule")
    sweep.visit(fm, "/staff/stock", "staff-stock")

    # -- the national admin: alerts, disputes, reports -------------------------------------
    admin = contexts()
    _staff_login(admin, world.admin)
    admin.wait_for_url("**/staff")
    sweep.check(admin, "staff-home-admin")
    sweep.visit(admin, "/staff/alerts", "staff-alerts")
    expect(admin.get_by_role("cell", name="dispute.opened")).to_be_visible()  # the citizen's report
    sweep.visit(admin, "/staff/disputes", "staff-disputes")
    expect(admin.get_by_text("I was not at any centre that day")).to_be_visible()
    sweep.visit(admin, "/staff/reports", "staff-reports")
    sweep.visit(admin, "/staff/reports?group_by=vaccine", "staff-reports-by-vaccine")
    sweep.visit(admin, "/staff/reports/coverage", "staff-reports-coverage")
    sweep.visit(admin, "/staff/reports/aefi", "staff-reports-aefi")
    expect(admin.get_by_text("BCG").first).to_be_visible()  # the keyboard's report, de-identified
    sweep.visit(admin, "/staff/users", "staff-users")

    # -- a one-time password: the forced change; the public dashboard of one state ---------
    newcomer = contexts()
    _staff_login(newcomer, world.newcomer)
    newcomer.wait_for_url("**/staff/password")
    sweep.check(newcomer, "staff-password")
    sweep.visit(newcomer, "/dashboard?state_id=16", "public-dashboard-state")
    sweep.visit(newcomer, "/?state_id=16", "public-search-by-state")
    refused = newcomer.goto("/oauth/authorize")  # no pushed request: immunet's error page
    assert refused is not None and refused.status == 400, refused and refused.status
    sweep.check(newcomer, "error-page")

    assert not sweep.problems, "\n".join(sweep.problems)
    assert len(sweep.visited) >= 30, sweep.visited
