"""The staff console over HTTP: sign-in with password and TOTP, the forced password change,
and the vaccinator's day (sessions, roster, check-in by secret code, a dose from stock) whose
certificate the citizen then sees in the portal."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from immunet.people.models import Beneficiary
from immunet.vaccination.models import DoseRecord
from tests.conftest import Outbox
from tests.factories.sessions import make_center
from tests.factories.staff_flow import add_staff
from tests.factories.vaccination import book, setup_day
from tests.web.portal import Browser, open_browser


async def _sign_in(browser: Browser, creds, *, steps_ahead: int = 0):
    form = await browser.get("/staff/login")
    assert {"Username", "Password", "Authentication code", "Sign in"} <= form.labels()
    return await browser.submit(
        form,
        "/staff/login",
        username=creds.username,
        password=creds.password,
        totp=creds.totp(steps_ahead=steps_ahead),
    )


async def test_staff_pages_need_a_staff_session(browser: Browser):
    for path in ("/staff", "/staff/sessions", "/staff/password"):
        answer = await browser.http.get(path)
        assert answer.status_code == 303 and answer.headers["location"] == "/staff/login"


async def test_a_one_time_password_must_be_changed_first(browser: Browser, ctx):
    center = await make_center(ctx)
    creds = await add_staff(ctx, "web-vax-1", "vaccinator", f"center:{center}", one_time=True)
    signed = await _sign_in(browser, creds)
    assert signed.status == 303
    assert signed.response.headers["set-cookie"].startswith("__Host-immunet-staff=")
    home = await browser.http.get("/staff")
    assert home.headers["location"] == "/staff/password"
    # Any other page is refused until then (the API's PasswordChangeRequired).
    sessions = await browser.http.get("/staff/sessions")
    assert sessions.status_code == 303 and sessions.headers["location"] == "/staff/password"
    form = await browser.get("/staff/password")
    changed = await browser.submit(
        form,
        "/staff/password",
        current_password=creds.password,
        new_password="a much longer password 42",
    )
    assert changed.status == 303
    assert (await browser.get("/staff")).status == 200


async def test_wrong_credentials_are_refused_in_the_page(browser: Browser, ctx):
    creds = await add_staff(ctx, "web-vax-2", "vaccinator", f"center:{await make_center(ctx)}")
    form = await browser.get("/staff/login")
    refused = await browser.submit(
        form, "/staff/login", username=creds.username, password="wrong", totp="000000"
    )
    assert refused.status == 401
    assert "Invalid username, password or authenticator code." in refused.text
    assert "immunet-staff" not in refused.response.headers.get("set-cookie", "")


async def test_vaccinators_day_in_the_console(
    browser: Browser, client, outbox: Outbox, ctx, settings
):
    day = await setup_day(ctx, client)
    booked = await book(client, outbox, day.session, name="Kiran Rao")
    # The console signs in as the centre's vaccinator (a password they chose, TOTP).
    creds = await add_staff(ctx, "web-vax-3", "vaccinator", f"center:{day.center_id}")
    assert (await _sign_in(browser, creds)).status == 303
    sessions = await browser.get("/staff/sessions")
    assert sessions.status == 200
    assert f"/staff/roster?session={day.session.session_id}" in sessions.text
    roster = await browser.get("/staff/roster", session=day.session.session_id)
    assert "Kiran Rao" in roster.text
    assert "Check in" in roster.labels()
    wrong = "0000" if booked.code != "0000" else "1111"
    refused = await browser.submit(
        roster,
        "/staff/check-in",
        session=day.session.session_id,
        appointment=booked.appointment_id,
        code=wrong,
    )
    assert refused.status == 422  # as the API answers a wrong code
    assert "The secret code does not match this appointment." in refused.text
    checked = await browser.submit(
        roster,
        "/staff/check-in",
        session=day.session.session_id,
        appointment=booked.appointment_id,
        code=booked.code,
    )
    assert checked.status == 303, checked.text
    roster = await browser.get("/staff/roster", session=day.session.session_id)
    assert "Record dose" in roster.labels()
    assert day.lot in roster.text
    fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', roster.text.split("/staff/doses")[1]))
    recorded = await browser.submit(
        roster,
        "/staff/doses",
        session=fields["session"],
        appointment=fields["appointment"],
        reference=fields["reference"],
        vaccine=fields["vaccine"],
        dose=fields["dose"],
        idem=fields["idem"],
        batch=day.lot,
    )
    assert recorded.status == 303, recorded.text
    # The same form sent twice records one dose (the form's idempotency key).
    again = await browser.submit(
        roster,
        "/staff/doses",
        session=fields["session"],
        appointment=fields["appointment"],
        reference=fields["reference"],
        vaccine=fields["vaccine"],
        dose=fields["dose"],
        idem=fields["idem"],
        batch=day.lot,
    )
    assert again.status == 303
    roster = await browser.get("/staff/roster", session=day.session.session_id)
    assert "completed" in roster.text or "vaccinated" in roster.text.lower()
    async with ctx.db.reader() as session:
        doses = (
            await session.execute(
                select(func.count())
                .select_from(DoseRecord)
                .join(Beneficiary, Beneficiary.id == DoseRecord.beneficiary_id)
                .where(Beneficiary.reference_id == booked.reference_id)
            )
        ).scalar_one()
    assert doses == 1
    # The citizen sees the certificate in the portal.
    async for citizen in open_browser(settings, ctx, peer="198.51.100.77"):
        await citizen.login(outbox, booked.mobile)
        page = await citizen.get("/me/certificate", beneficiary=booked.reference_id)
        assert page.status == 200 and "<svg" in page.text
