"""The vaccinator's day in Chromium: a citizen books (JavaScript off), the vaccinator signs
in with password and TOTP, checks the person in by secret code and records the dose from
the centre's stock; the citizen sees the certificate, and the verifier page says "Valid"."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from playwright.sync_api import expect

from immunet.booking.rules import today_in_india
from immunet.db.base import utcnow
from immunet.vaccination.models import StockBatch
from tests.browser.conftest import VIEWPORTS, Server, axe_check, shoot
from tests.factories.sessions import make_center, make_session
from tests.factories.staff_flow import add_staff


def _today_at_a_centre(server: Server) -> tuple[Any, Any]:
    async def step(ctx: Any) -> tuple[Any, Any]:
        center = await make_center(ctx, pincode="560002")
        session = await make_session(ctx, center_id=center, days_ahead=0, capacity_dose1=30)
        expiry = today_in_india(utcnow()) + dt.timedelta(days=90)
        async with ctx.db.transaction() as db:
            db.add(
                StockBatch(
                    center_id=center,
                    vaccine_code="COVISHIELD",
                    lot="BROWSER-LOT-1",
                    expires_on=expiry,
                    quantity_received=40,
                    doses_used=0,
                    wasted=0,
                    received_by="test",
                    created_at=utcnow(),
                )
            )
        creds = await add_staff(ctx, f"vax-{center}", "vaccinator", f"center:{center}")
        return session, creds

    return server.run(step)


def test_vaccinators_day(chromium: Any, server: Server):
    session, creds = _today_at_a_centre(server)
    citizen_context = chromium.new_context(
        base_url=server.base, java_script_enabled=False, viewport=VIEWPORTS["phone"]
    )
    citizen = citizen_context.new_page()
    from tests.browser.test_portal import _add_member, _login, _mobile

    _login(citizen, server, _mobile())
    _add_member(citizen, "Anita Desai", "A5551234")
    citizen.wait_for_url("**/me?done=added")
    citizen.get_by_role("link", name="Book a vaccination for Anita Desai").click()
    citizen.get_by_label("PIN code").fill("560002")
    citizen.get_by_label("Date").fill(session.date.isoformat())
    citizen.get_by_role("button", name="Search").click()
    citizen.locator(f'input[value^="{session.session_id}|"]').first.check()
    citizen.get_by_role("button", name="Book", exact=True).click()
    citizen.wait_for_url("**/me?done=booked")
    appointment = re.search(r"appointment=([0-9a-f-]+)", citizen.content()).group(1)
    code = server.secret_code(appointment)

    staff_context = chromium.new_context(base_url=server.base, viewport=VIEWPORTS["desktop"])
    staff = staff_context.new_page()
    staff.goto("/staff/login")
    staff.get_by_label("Username").fill(creds.username)
    staff.get_by_label("Password").fill(creds.password)
    staff.get_by_label("Authentication code").fill(creds.totp())
    staff.get_by_role("button", name="Sign in").click()
    staff.wait_for_url("**/staff")
    staff.get_by_role("link", name="Today's sessions").click()
    staff.get_by_role("link", name="Roster of COVISHIELD").click()
    expect(staff.get_by_role("heading", name="Anita Desai")).to_be_visible()
    axe_check(staff)
    shoot(staff, "vaccinator-roster", server)
    staff.get_by_label("Secret code of Anita Desai").fill(code)
    # The person's own Check in (the roster also has one for a code read from the slip).
    staff.get_by_role("region", name="Anita Desai").get_by_role("button", name="Check in").click()
    staff.get_by_label("Batch for Anita Desai").select_option("BROWSER-LOT-1")
    staff.get_by_role("button", name="Record dose").click()
    staff.wait_for_url("**/staff/roster?session=*")
    expect(staff.get_by_role("button", name="Record dose")).to_have_count(0)

    citizen.goto("/me")
    citizen.get_by_role("link", name="Certificate of Anita Desai").click()
    expect(citizen.locator("svg.qr").nth(2)).to_be_attached()
    shoot(citizen, "citizen-certificate", server)
    with citizen.expect_download() as download:
        citizen.get_by_role("link", name="Download certificate").click()
    assert download.value.suggested_filename.endswith(".pdf")
    dcc = citizen.locator('pre[data-format="dcc"]').text_content()
    citizen_context.close()

    staff.goto("/verify")
    staff.get_by_label("Paste QR text").fill(dcc.strip())
    staff.get_by_role("button", name="Verify").click()
    expect(staff.get_by_role("heading", name="Valid", exact=True)).to_be_visible()
    axe_check(staff)
    shoot(staff, "verifier-valid", server)
    staff.get_by_role("link", name="Dashboard").click()
    expect(staff.get_by_role("heading", name="Doses by state")).to_be_visible()
    axe_check(staff)
    shoot(staff, "public-dashboard-after-doses", server)
    staff_context.close()
