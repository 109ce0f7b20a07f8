"""The rest of the staff console over HTTP: a vaccinator's walk-in (the person's OTP, their
registration, their dose) and AEFI report; a facility manager's sessions and stock; an admin's
misuse alerts, disputes and reports. Each result is checked in the database or against the
API's own answer, not in the page alone."""

from __future__ import annotations

import datetime as dt
import json
import re

from sqlalchemy import select

from immunet.booking.models import Appointment
from immunet.booking.rules import today_in_india
from immunet.booking.slip import qr_payload
from immunet.oversight.models import AccessDispute, StaffAlert
from immunet.people.identifiers import normalize_mobile
from immunet.people.models import Beneficiary
from immunet.sessions.models import VaccinationSession
from immunet.staff.models import StaffUser
from immunet.vaccination.models import AefiReport, DoseRecord, StockBatch
from tests.conftest import Outbox, bearer
from tests.factories import aadhaar
from tests.factories.sessions import make_center
from tests.factories.staff import make_staff
from tests.factories.staff_flow import StaffCredentials, add_staff, staff_login
from tests.factories.vaccination import (
    book,
    dose_body,
    last_lookup_otp,
    next_mobile,
    setup_day,
)
from tests.web.portal import Browser, Page, open_browser


async def sign_in(browser: Browser, creds: StaffCredentials) -> Page:
    form = await browser.get("/staff/login")
    signed = await browser.submit(
        form,
        "/staff/login",
        username=creds.username,
        password=creds.password,
        totp=creds.totp(),
    )
    assert signed.status == 303, signed.text
    return await browser.get("/staff")


def field(page: Page, name: str, after: str = "") -> str:
    text = page.text.split(after, 1)[1] if after else page.text
    found = re.search(rf'name="{name}" value="([^"]*)"', text)
    assert found, f"no field {name}"
    return found.group(1)


async def _doses_of(ctx, reference: str) -> list[DoseRecord]:
    async with ctx.db.reader() as session:
        return list(
            (
                await session.execute(
                    select(DoseRecord)
                    .join(Beneficiary, Beneficiary.id == DoseRecord.beneficiary_id)
                    .where(Beneficiary.reference_id == reference)
                )
            ).scalars()
        )


# -- vaccinator: walk-in ------------------------------------------------------------------------


async def test_a_walk_in_through_the_persons_otp_registers_and_records_a_dose(
    browser: Browser, client, outbox: Outbox, ctx
):
    day = await setup_day(ctx, client)
    creds = await add_staff(ctx, "web-walkin-1", "vaccinator", f"center:{day.center_id}")
    home = await sign_in(browser, creds)
    assert {"Walk-in", "Report an adverse event"} <= home.labels()
    assert "Misuse alerts" not in home.labels()  # not a vaccinator's page

    start = await browser.get("/staff/walk-in")
    assert {"Mobile number", "Send OTP"} <= start.labels()
    mobile = next_mobile()
    sent = await browser.submit(start, "/staff/walk-in", mobile=mobile)
    assert sent.status == 200, sent.text
    assert {"One-time password", "Verify"} <= sent.labels()
    txn = sent.hidden("txn")
    otp = last_lookup_otp(outbox, normalize_mobile(mobile))
    wrong = "000000" if otp != "000000" else "111111"
    refused = await browser.submit(sent, "/staff/walk-in/verify", txn=txn, otp=wrong)
    assert refused.status >= 400 and "/staff/walk-in/register" not in refused.text
    verified = await browser.submit(sent, "/staff/walk-in/verify", txn=txn, otp=otp)
    assert verified.status == 200, verified.text
    assert verified.response.headers["cache-control"] == "no-store"
    assert "No one is registered under this mobile number yet." in verified.text

    invalid = await browser.submit(
        verified,
        "/staff/walk-in/register",
        txn=field(verified, "txn", "/staff/walk-in/register"),
        name="Ravi Walkin",
        birth_year="1980",
        gender_id="1",
        photo_id_type="1",
        photo_id_number="1234",  # not an Aadhaar number
    )
    assert invalid.status in (400, 422), invalid.status
    assert "/staff/walk-in/register" in invalid.text  # the form again, under the same grant
    async with ctx.db.reader() as session:
        assert (await session.execute(select(Beneficiary.id))).all() == []  # nothing registered
    registered = await browser.submit(
        invalid,
        "/staff/walk-in/register",
        txn=field(verified, "txn", "/staff/walk-in/register"),
        name="Ravi Walkin",
        birth_year="1980",
        gender_id="1",
        photo_id_type="1",
        photo_id_number=aadhaar(91001),
    )
    assert registered.status == 200, registered.text
    assert "Record dose" in registered.labels()
    reference = field(registered, "reference")
    batch = f"COVISHIELD {day.lot}"
    assert f'value="{batch}"' in registered.text
    dose = {
        "reference": reference,
        "name": "Ravi Walkin",
        "idem": field(registered, "idem"),
        "dose": "1",
        "batch": batch,
    }
    recorded = await browser.submit(registered, "/staff/walk-in/dose", **dose)
    assert recorded.status == 200, recorded.text
    assert "Dose of COVISHIELD recorded for Ravi Walkin." in recorded.text
    again = await browser.submit(registered, "/staff/walk-in/dose", **dose)  # a double submit
    assert again.status == 200
    doses = await _doses_of(ctx, reference)
    assert [(d.dose_number, d.batch, d.center_id) for d in doses] == [(1, day.lot, day.center_id)]
    assert doses[0].appointment_id is None  # a walk-in: no appointment
    async with ctx.db.reader() as session:
        left = (
            await session.execute(select(StockBatch).where(StockBatch.lot == day.lot))
        ).scalar_one()
    assert left.doses_used == 1

    # The next visit: the same OTP flow now shows the person with the dose they had.
    start = await browser.get("/staff/walk-in")
    sent = await browser.submit(start, "/staff/walk-in", mobile=mobile)
    otp = last_lookup_otp(outbox, normalize_mobile(mobile))
    verified = await browser.submit(sent, "/staff/walk-in/verify", txn=sent.hidden("txn"), otp=otp)
    assert verified.status == 200
    assert "Ravi Walkin" in verified.text and "Dose 1: COVISHIELD" in verified.text
    assert 'name="dose" inputmode="numeric" pattern="[0-9]{1,2}" maxlength="2" value="2"' in (
        verified.text
    )


async def test_an_aefi_report_from_the_console(
    browser: Browser, client, outbox: Outbox, ctx, settings
):
    day = await setup_day(ctx, client)
    person = await book(client, outbox, day.session)
    creds = await add_staff(ctx, "web-aefi-1", "vaccinator", f"center:{day.center_id}")
    await sign_in(browser, creds)
    form = await browser.get("/staff/aefi")
    assert {"Beneficiary reference ID", "Date of onset", "Severity", "Send report"} <= (
        form.labels()
    )
    onset = today_in_india(ctx.clock.now()).isoformat()
    unknown = await browser.submit(
        form,
        "/staff/aefi",
        reference="99999999999999",
        **{"symptom-fever": "on"},
        onset_date=onset,
        severity="mild",
        outcome="recovered",
    )
    assert unknown.status == 404
    sent = await browser.submit(
        form,
        "/staff/aefi",
        reference=person.reference_id,
        **{"symptom-fever": "on", "symptom-headache": "on"},
        onset_date=onset,
        severity="moderate",
        outcome="recovering",
        notes="Settled after rest",
    )
    assert sent.status == 303, sent.text
    assert sent.response.headers["location"] == "/staff/aefi?done=true"
    async with ctx.db.reader() as session:
        reports = list((await session.execute(select(AefiReport))).scalars())
    assert len(reports) == 1
    assert (reports[0].severity, reports[0].outcome) == ("moderate", "recovering")
    assert sorted(json.loads(reports[0].symptoms)) == ["fever", "headache"]

    # The district's admin sees it in the de-identified table, as the API lists it.
    admin = await add_staff(ctx, "web-aefi-admin", "district_admin", "district:294")
    async for other in open_browser(settings, ctx, peer="198.51.100.80"):
        await sign_in(other, admin)
        table = await other.get("/staff/reports/aefi")
        assert table.status == 200, table.text
        assert "Reports in your jurisdiction: 1" in table.text
        assert "Fever, Headache" in table.text and "moderate" in table.text
        assert person.reference_id not in table.text and "Settled after rest" not in table.text
    api_admin = await make_staff(ctx, "district_admin", "district:294")
    api = (await client.get("/api/staff/aefi", headers=api_admin.headers)).json()
    assert api["total"] == 1 and api["by_severity"] == [{"key": "moderate", "count": 1}]
    vaccinator_table = await browser.http.get("/staff/reports/aefi")
    assert vaccinator_table.status_code == 403  # a vaccinator reports, an admin reads


# -- facility manager: sessions and stock -------------------------------------------------------


async def test_a_facility_manager_publishes_lists_and_cancels_sessions(
    browser: Browser, client, ctx
):
    day = await setup_day(ctx, client)
    creds = await add_staff(ctx, "web-fm-1", "facility_manager", f"center:{day.center_id}")
    home = await sign_in(browser, creds)
    assert {"Sessions and schedule", "Vaccine stock"} <= home.labels()
    listed = await browser.get("/staff/schedule")
    assert listed.status == 200
    assert day.session.session_id in listed.text
    assert f'value="{day.center_id}"' in listed.text  # the manager's own centre, prefilled

    today = today_in_india(ctx.clock.now())
    fields = {
        "center_id": str(day.center_id),
        "vaccine": "covaxin",
        "min_age_limit": "18",
        "capacity_dose1": "10",
        "capacity_dose2": "5",
        "slots": "09:00AM-11:00AM\r\n11:00AM-01:00PM",
    }
    past = await browser.submit(
        listed, "/staff/schedule", date=(today - dt.timedelta(days=1)).isoformat(), **fields
    )
    assert past.status == 400  # the service's date rule, as the API answers it
    published = await browser.submit(
        listed, "/staff/schedule", date=(today + dt.timedelta(days=2)).isoformat(), **fields
    )
    assert published.status == 303, published.text
    async with ctx.db.reader() as session:
        rows = list(
            (
                await session.execute(
                    select(VaccinationSession).where(VaccinationSession.center_id == day.center_id)
                )
            ).scalars()
        )
    new = next(r for r in rows if r.session_id != day.session.session_id)
    assert len(rows) == 2  # the refused one left nothing
    assert (new.vaccine_code, new.date, new.capacity_dose1) == (
        "COVAXIN",
        today + dt.timedelta(days=2),
        10,
    )
    listed = await browser.get("/staff/schedule")
    assert new.session_id in listed.text
    cancelled = await browser.submit(listed, "/staff/schedule/cancel", session=new.session_id)
    assert cancelled.status == 303
    assert cancelled.response.headers["location"] == "/staff/schedule?done=cancelled"
    again = await browser.submit(listed, "/staff/schedule/cancel", session=new.session_id)
    assert again.status == 409  # as the API answers a session no longer published
    async with ctx.db.reader() as session:
        status = dict(
            (
                await session.execute(
                    select(VaccinationSession.session_id, VaccinationSession.status).where(
                        VaccinationSession.center_id == day.center_id
                    )
                )
            ).all()
        )
    assert status == {day.session.session_id: "published", new.session_id: "cancelled"}


async def test_a_facility_manager_receives_and_wastes_stock(browser: Browser, client, ctx):
    day = await setup_day(ctx, client, quantity=20)
    creds = await add_staff(ctx, "web-fm-2", "facility_manager", f"center:{day.center_id}")
    await sign_in(browser, creds)
    listed = await browser.get("/staff/stock")
    assert listed.status == 200 and day.lot in listed.text
    assert {"Receive batch", "Record waste"} <= listed.labels()
    expiry = (today_in_india(ctx.clock.now()) + dt.timedelta(days=60)).isoformat()
    received = await browser.submit(
        listed, "/staff/stock", vaccine="COVISHIELD", lot="WEBLOT-1", expiry=expiry, quantity="100"
    )
    assert received.status == 303, received.text
    duplicate = await browser.submit(
        listed, "/staff/stock", vaccine="COVISHIELD", lot="WEBLOT-1", expiry=expiry, quantity="5"
    )
    assert duplicate.status == 409
    async with ctx.db.reader() as session:
        batch = (
            await session.execute(select(StockBatch).where(StockBatch.lot == "WEBLOT-1"))
        ).scalar_one()
    assert (batch.center_id, batch.quantity_received) == (day.center_id, 100)
    listed = await browser.get("/staff/stock")
    wasted = await browser.submit(
        listed, "/staff/stock/waste", stock_id=str(batch.id), doses="3", reason="broken-vial"
    )
    assert wasted.status == 303, wasted.text
    too_many = await browser.submit(
        listed, "/staff/stock/waste", stock_id=str(batch.id), doses="98", reason="other"
    )
    assert too_many.status in (409, 422)
    async with ctx.db.reader() as session:
        batch = (
            await session.execute(select(StockBatch).where(StockBatch.lot == "WEBLOT-1"))
        ).scalar_one()
    assert batch.wasted == 3
    # The table shows what the API's list shows.
    page = (await browser.get("/staff/stock")).text
    token = await staff_login(client, creds, steps_ahead=1)  # a TOTP code counts once
    api = (await client.get("/api/staff/stock", headers=bearer(token))).json()["batches"]
    assert len(api) == 2
    for b in api:
        row = page.split(f"<td>{b['lot']}</td>")[1].split("</tr>")[0]
        assert re.findall(r"<td>([0-9,]+)</td>", row) == [
            str(b["quantity_received"]),
            str(b["doses_used"]),
            str(b["wasted"]),
            str(b["doses_left"]),
        ]


# -- admins: alerts, disputes, reports ----------------------------------------------------------


async def test_an_admin_acknowledges_alerts_and_decides_disputes(
    browser: Browser, client, outbox: Outbox, ctx
):
    day = await setup_day(ctx, client)
    person = await book(client, outbox, day.session)
    roster = await client.get(
        f"/api/staff/sessions/{day.session.session_id}/roster", headers=day.vaccinator.headers
    )
    assert roster.status_code == 200
    log = (await client.get("/api/v2/me/access-log", headers=bearer(person.token))).json()
    entry = next(e for e in log["entries"] if e["channel"] == "roster")
    disputed = await client.post(
        f"/api/v2/me/access-log/{entry['entry_id']}/dispute",
        json={"reason": "I was never at that centre"},
        headers=bearer(person.token),
    )
    assert disputed.status_code == 201

    admin = await add_staff(ctx, "web-admin-1", "district_admin", "district:294")
    home = await sign_in(browser, admin)
    assert {"Misuse alerts", "Disputed access", "Dose reports"} <= home.labels()
    alerts = await browser.get("/staff/alerts")
    assert alerts.status == 200 and alerts.response.headers["cache-control"] == "no-store"
    assert "dispute.opened" in alerts.text and day.vaccinator.username in alerts.text
    alert_id = field(alerts, "id", "/staff/alerts/ack")
    acked = await browser.submit(alerts, "/staff/alerts/ack", id=alert_id)
    assert acked.status == 303
    async with ctx.db.reader() as session:
        alert = await session.get(StaffAlert, int(alert_id))
    assert alert is not None and alert.acknowledged_at is not None
    assert "/staff/alerts/ack" not in (await browser.get("/staff/alerts")).text

    disputes = await browser.get("/staff/disputes")
    assert "I was never at that centre" in disputes.text
    dispute_id = field(disputes, "id", "/staff/disputes/freeze")
    frozen = await browser.submit(disputes, "/staff/disputes/freeze", id=dispute_id)
    assert frozen.status == 303
    refused = await client.get(
        f"/api/staff/sessions/{day.session.session_id}/roster", headers=day.vaccinator.headers
    )
    assert refused.status_code == 403  # the API itself now refuses the frozen user
    bad = await browser.submit(disputes, "/staff/disputes/resolve", id=dispute_id, outcome="maybe")
    assert bad.status == 400
    resolved = await browser.submit(
        disputes, "/staff/disputes/resolve", id=dispute_id, outcome="dismissed"
    )
    assert resolved.status == 303
    async with ctx.db.reader() as session:
        dispute = await session.get(AccessDispute, int(dispute_id))
    assert dispute is not None and dispute.status == "dismissed"
    listed = await browser.get("/staff/disputes", status="dismissed")
    assert "I was never at that centre" in listed.text
    assert "/staff/disputes/resolve" not in listed.text  # decided: nothing left to do


async def test_an_admins_report_tables_match_the_api(browser: Browser, client, outbox: Outbox, ctx):
    day = await setup_day(ctx, client)
    for _ in range(6):  # enough doses for a cell above the suppression threshold
        person = await book(client, outbox, day.session)
        checked = await client.post(
            f"/api/staff/appointments/{person.appointment_id}/check-in",
            json={"code": person.code},
            headers=day.vaccinator.headers,
        )
        assert checked.status_code == 200, checked.text
        given = await client.post(
            "/api/staff/doses",
            json=dose_body(person.reference_id, day.lot, appointment_id=person.appointment_id),
            headers={**day.vaccinator.headers, "Idempotency-Key": person.appointment_id},
        )
        assert given.status_code == 201, given.text
    admin = await add_staff(ctx, "web-admin-2", "district_admin", "district:294")
    await sign_in(browser, admin)
    today = today_in_india(ctx.clock.now())
    first = (today - dt.timedelta(days=3)).isoformat()
    # The API as another admin of the same district (a new sign-in would end the page's).
    api_admin = await make_staff(ctx, "district_admin", "district:294")
    for group in ("vaccine", "gender", "day"):
        shown = await browser.get(
            "/staff/reports", group_by=group, **{"from": first}, to=today.isoformat()
        )
        assert shown.status == 200, shown.text
        api = await client.get(
            "/api/staff/reports/doses",
            params={"group_by": group, "from": first, "to": today.isoformat()},
            headers=api_admin.headers,
        )
        assert api.status_code == 200
        total = api.json()["total"]
        text = str(total).replace("<", "&lt;")
        assert f'<th scope="row">Total</th><td>{text}</td>' in shown.text
        assert group != "vaccine" or api.json()["cells"] == {"COVISHIELD": 6}
        for key, count in api.json()["cells"].items():
            cell = str(count).replace("<", "&lt;")
            assert f'<th scope="row">{key}</th><td>{cell}</td>' in shown.text
    refused = await browser.get("/staff/reports", group_by="name")
    assert refused.status == 400 and "<table>" not in refused.text
    reversed_range = await browser.get("/staff/reports", **{"from": today.isoformat()}, to=first)
    assert reversed_range.status == 400
    coverage = await browser.get("/staff/reports/coverage")
    assert coverage.status == 200
    # In Hindi: the page's words, and the service's refusal, from the catalogue.
    await browser.http.get("/lang", params={"to": "hi"})
    hindi = await browser.get("/staff/reports", group_by="vaccine")
    assert "खुराक रिपोर्ट" in hindi.text and "समूह आधार" in hindi.text
    assert "टीकाकरण कवरेज" in (await browser.get("/staff/reports/coverage")).text
    assert (await browser.get("/staff/reports/coverage", to="2026-13")).status == 400


# -- admin: staff users -------------------------------------------------------------------------


def _listed_users(page: Page) -> set[str]:
    body = page.text.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return set(re.findall(r"<tr>\s*<td>([^<]+)</td>", body))


async def test_an_admin_lists_creates_and_disables_staff_users(browser: Browser, client, ctx):
    center = await make_center(ctx, district_id=294)
    elsewhere = await make_center(ctx, district_id=1)
    await add_staff(ctx, "web-users-far", "vaccinator", f"center:{elsewhere}")  # not theirs
    creds = await add_staff(ctx, "web-users-admin", "district_admin", "district:294")
    api_admin = await make_staff(ctx, "district_admin", "district:294")  # the API's view
    home = await sign_in(browser, creds)
    assert "Staff users" in home.labels()

    listing = await browser.get("/staff/users")
    assert listing.status == 200 and listing.response.headers["cache-control"] == "no-store"
    api = (await client.get("/api/staff/users", headers=api_admin.headers)).json()
    assert _listed_users(listing) == {u["username"] for u in api["users"]}
    assert "web-users-admin" in _listed_users(listing)
    assert "web-users-far" not in listing.text
    # Roles offered: only below the admin's own rank.
    offered = set(re.findall(r'<option value="([a-z_]+)">', listing.text))
    assert offered == {"facility_manager", "vaccinator", "verifier"}

    created = await browser.submit(
        listing,
        "/staff/users",
        username="Web-Users-New",
        role="vaccinator",
        jurisdiction=f"center:{center}",
    )
    assert created.status == 200, created.text
    assert created.response.headers["cache-control"] == "no-store"
    password = re.search(r'<code id="created-password">([^<]+)</code>', created.text)
    otpauth = re.search(r'<code id="created-otpauth" class="qr-text">([^<]+)</code>', created.text)
    assert password and otpauth
    assert re.search(r'<svg [^>]*class="qr"', created.text)  # the enrolment as a QR, made here
    assert "<style" not in created.text and " style=" not in created.text  # CSP-clean
    assert "unsafe-inline" not in created.response.headers["content-security-policy"]
    async with ctx.db.reader() as session:
        user = (
            await session.execute(select(StaffUser).where(StaffUser.username == "web-users-new"))
        ).scalar_one()
    assert (user.role, user.jurisdiction_kind, user.jurisdiction_id) == (
        "vaccinator",
        "center",
        center,
    )
    assert user.must_change_password and user.active
    # The shown password and TOTP enrolment are the ones the API's sign-in accepts.
    new = StaffCredentials(
        "web-users-new", password.group(1), otpauth.group(1).replace("&amp;", "&")
    )
    signed = await client.post("/api/staff/auth/login", json=new.login_body())
    assert signed.status_code == 200, signed.text
    token = signed.json()["token"]
    me = await client.get("/api/staff/me", headers=bearer(token))
    assert me.json()["must_change_password"] is True
    api = (await client.get("/api/staff/users", headers=api_admin.headers)).json()
    assert "web-users-new" in {u["username"] for u in api["users"]}
    # Shown once: the list page afterwards has no password.
    again = await browser.get("/staff/users")
    assert password.group(1) not in again.text and "created-otpauth" not in again.text

    disabled = await browser.submit(again, "/staff/users/disable", username="web-users-new")
    assert disabled.status == 303, disabled.text
    async with ctx.db.reader() as session:
        after = await session.get(StaffUser, user.id)
    assert after is not None and not after.active and after.disabled_at is not None
    assert (await client.get("/api/staff/me", headers=bearer(token))).status_code == 401
    api = (await client.get("/api/staff/users", headers=api_admin.headers)).json()
    assert {u["username"]: u["active"] for u in api["users"]}["web-users-new"] is False
    shown = await browser.get("/staff/users")
    assert "Disable web-users-new" not in shown.labels()


async def test_a_vaccinator_has_no_users_link(browser: Browser, ctx):
    center = await make_center(ctx)
    creds = await add_staff(ctx, "web-users-vax", "vaccinator", f"center:{center}")
    home = await sign_in(browser, creds)
    assert "Staff users" not in home.labels()


# -- vaccinator: check-in from the slip's QR ----------------------------------------------------


async def test_the_roster_checks_in_from_the_slips_qr_payload(
    browser: Browser, client, outbox: Outbox, ctx
):
    day = await setup_day(ctx, client)
    booked = await book(client, outbox, day.session, name="Asha Slip")
    creds = await add_staff(ctx, "web-slip-vax", "vaccinator", f"center:{day.center_id}")
    await sign_in(browser, creds)
    roster = await browser.get("/staff/roster", session=day.session.session_id)
    assert '<script src="/static/checkin-scan.js" defer></script>' in roster.text
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", roster.text) == []  # no inline script
    assert '<div id="checkin-camera" hidden' in roster.text  # shown by the script only
    assert {"Appointment ID", "Secret code", "Check in"} <= roster.labels()
    script = await browser.http.get("/static/checkin-scan.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert "BarcodeDetector" in script.text and "appointment_id" in script.text

    # What the camera reads: the slip's own payload, parsed into the form's two fields.
    slip = json.loads(qr_payload(booked.appointment_id, booked.code))
    checked = await browser.submit(
        roster,
        "/staff/check-in",
        session=roster.hidden("session"),
        appointment=slip["appointment_id"],
        code=slip["code"],
    )
    assert checked.status == 303, checked.text
    async with ctx.db.reader() as session:
        appointment = await session.get(Appointment, booked.appointment_id)
    assert appointment is not None and appointment.checked_in_at is not None
    api = await client.get(
        f"/api/staff/sessions/{day.session.session_id}/roster", headers=day.vaccinator.headers
    )
    statuses = {a["appointment_id"]: a["status"] for a in api.json()["appointments"]}
    assert statuses[booked.appointment_id] == "checked-in"
