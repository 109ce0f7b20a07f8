"""The citizen's remaining pages, on SQLite and PostgreSQL, each checked against what the
API route of the same service answers: the partner consents (listed and withdrawn), the
children's immunization cards and due dates on /me, eligibility shown before booking, and
the public coverage table of the dashboard."""

from __future__ import annotations

import datetime as dt
import html
import re

from immunet.clock import india_today
from immunet.geography.service import list_districts
from immunet.oversight.coverage import PUBLIC_MAX_MONTHS
from immunet.people.identifiers import normalize_mobile
from tests.conftest import Outbox, bearer, login
from tests.factories.partners import REDIRECT_URI, OAuthClient, register_partner
from tests.factories.sessions import make_center, make_session
from tests.factories.uip import register_family, routine_dose, setup_routine_day
from tests.factories.vaccination import otp_lookup
from tests.integration.test_uip_coverage import W, _children, _give
from tests.web.portal import Browser, Page, open_browser

CARD = "/api/v2/me/immunization-card"


async def grant_consent(client, settings, ctx, clock, outbox: Outbox, mobile: str, ref: str):
    """A partner's consent as a person gives it: PAR by the partner, then immunet's own
    consent page (OTP, choose the person, allow). Returns the partner's client."""
    oc = OAuthClient(await register_partner(ctx), clock)
    par = await oc.par(client, scope="immunization.read certificate.read")
    assert par.status_code == 201, par.text
    request_uri = par.json()["request_uri"]
    ids = {"client_id": oc.partner.client_id, "request_uri": request_uri}
    async for other in open_browser(settings, ctx, peer="198.51.100.61"):
        start = await other.get("/oauth/authorize", **ids)
        sent = await other.submit(start, "/oauth/authorize/otp", mobile=mobile, **ids)
        otp = outbox.last_otp(normalize_mobile(mobile))
        chooser = await other.submit(
            sent, "/oauth/authorize/verify", txn=sent.hidden("txn"), otp=otp, **ids
        )
        done = await other.submit(
            chooser, "/oauth/authorize/decide", beneficiary=ref, decision="allow", **ids
        )
        assert done.status == 303, done.text
        assert done.response.headers["location"].startswith(REDIRECT_URI)
    return oc


def _reference(me: Page, name: str) -> str:
    section = me.text.split(f">{name}</h2>")[0].rsplit('id="m-', 1)[1]
    return section.split('"', 1)[0]


async def _add_adult(browser: Browser, name: str, passport: str, year: str = "1980") -> str:
    me = await browser.get("/me")
    added = await browser.submit(
        me,
        "/me/members",
        name=name,
        birth_year=year,
        gender_id="2",
        photo_id_type="4",
        photo_id_number=passport,
    )
    assert added.status == 303, added.text
    return _reference(await browser.get("/me"), name)


async def test_consents_are_listed_and_withdrawn_as_the_api_does(
    browser: Browser, client, settings, ctx, clock, outbox: Outbox
):
    mobile = "9876500301"
    await browser.login(outbox, mobile)
    ref = await _add_adult(browser, "Kavya Consent", "P3012345")
    empty = await browser.get("/me/consents")
    assert empty.status == 200 and "You have not allowed any app." in empty.text
    assert empty.response.headers["cache-control"] == "no-store"

    await grant_consent(client, settings, ctx, clock, outbox, mobile, ref)
    token = await login(client, outbox, mobile)
    (api,) = (await client.get("/api/v2/me/consents", headers=bearer(token))).json()["consents"]
    page = await browser.get("/me/consents")
    assert page.status == 200
    assert "Health App" in page.labels()  # the partner, as its heading
    text = html.unescape(page.text)
    assert api["purpose"] in text
    assert "Kavya Consent" in text  # the person, by name (the API names the reference)
    assert "Read the vaccinations recorded for that person" in text
    assert "Download that person's vaccination certificate" in text
    assert "Active" in text
    assert f'name="consent" value="{api["consent_id"]}"' in page.text
    assert "Withdraw permission of Health App" in page.labels()

    withdrawn = await browser.submit(page, "/me/consents/revoke", consent=api["consent_id"])
    assert withdrawn.status == 303
    assert withdrawn.response.headers["location"] == "/me/consents?done=revoked"
    (after,) = (await client.get("/api/v2/me/consents", headers=bearer(token))).json()["consents"]
    assert after["status"] == "revoked"  # the API sees the page's withdrawal
    shown = await browser.get("/me/consents", done="revoked")
    assert "The permission was withdrawn." in shown.text and "Withdrawn" in shown.text
    assert 'name="consent"' not in shown.text  # nothing left to withdraw

    # An unknown consent: the service's own refusal, in the page.
    refused = await browser.submit(page, "/me/consents/revoke", consent="0" * 32)
    assert refused.status == 404 and "No such consent." in refused.text

    await browser.http.get("/lang", params={"to": "hi"})
    hindi = await browser.get("/me/consents")
    assert "जिन ऐप को मैंने अनुमति दी" in hindi.text and "वापस ली गई" in hindi.text


async def test_children_cards_and_due_dates_on_the_family_page(
    browser: Browser, client, ctx, clock, outbox: Outbox
):
    today = india_today(clock.now())
    day = await setup_routine_day(ctx, client)
    family = await register_family(client, outbox, today - dt.timedelta(weeks=6))
    me = await browser.login(outbox, family.mobile)
    assert "No routine dose is recorded yet." in me.text  # the API's card: 404 now
    assert "/me/card.pdf" not in me.text

    await otp_lookup(client, outbox, day.vaccinator, family.mobile)
    for vaccine in ("BCG", "PENTA"):
        recorded = await client.post(
            "/api/staff/doses",
            json=routine_dose(family.child_ref, vaccine, day.lots[vaccine]),
            headers={**day.vaccinator.headers, "Idempotency-Key": f"web-card-{vaccine}"},
        )
        assert recorded.status_code == 201, recorded.text
    api = await client.get(
        CARD,
        params={"beneficiary_reference_id": family.child_ref},
        headers=bearer(family.token),
    )
    assert api.status_code == 200, api.text
    entries = [e["resource"] for e in api.json()["fhir"]["entry"]]
    given = [e for e in entries if e["resourceType"] == "Immunization"]
    (recommendation,) = [e for e in entries if e["resourceType"] == "ImmunizationRecommendation"]

    me = await browser.get("/me")
    assert me.response.headers["cache-control"] == "no-store"
    card = me.text.split('class="immunization-card"')[1].split("</section>")[0]
    doses = card.split("<caption>Doses given to Meera Rao</caption>")[1].split("</table>")[0]
    assert doses.count("<tr><td>") == len(given) == 2
    for resource in given:
        assert resource["vaccineCode"]["text"] in html.unescape(doses)
    due = card.split("<caption>Next doses of Meera Rao</caption>")[1].split("</table>")[0]
    rows = re.findall(r"<tr><td>(.*?)</td><td>(\d+)</td><td>(.*?)</td>", due)
    expected = {
        (r["series"], str(r["doseNumberPositiveInt"]), r["dateCriterion"][1]["value"])
        for r in recommendation["recommendation"]
    }
    # The same forecast as the API's signed card: series, dose and due date, row by row.
    shown = {
        (html.unescape(series), number, dt.datetime.strptime(when, "%d %b %Y").date().isoformat())
        for series, number, when in rows
    }
    assert shown == expected and ("Pentavalent", "2", (today + 4 * W).isoformat()) in shown

    link = re.search(r'href="(/me/card\.pdf\?beneficiary=[0-9]+)"', me.text).group(1)
    pdf = await browser.http.get(link)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert pdf.headers["cache-control"] == "no-store"

    await browser.http.get("/lang", params={"to": "hi"})
    hindi = await browser.get("/me")
    assert "Meera Rao का टीकाकरण कार्ड" in hindi.text and "टीकाकरण कार्ड डाउनलोड करें" in hindi.text


async def test_booking_page_shows_each_members_eligibility_as_booking_decides(
    browser: Browser, ctx, outbox: Outbox
):
    await browser.login(outbox, "9876500302")
    first = await _add_adult(browser, "Anil Booked", "P3020001")
    second = await _add_adult(browser, "Bina Free", "P3020002")
    young_born = india_today(ctx.clock.now()).replace(month=1, day=1) - dt.timedelta(days=365 * 8)
    me = await browser.get("/me")
    added = await browser.submit(
        me,
        "/me/members",
        name="Chotu Young",
        birth_year=str(young_born.year),
        gender_id="1",
        date_of_birth=young_born.isoformat(),
    )
    assert added.status == 303, added.text
    young = _reference(await browser.get("/me"), "Chotu Young")
    center = await make_center(ctx, district_id=294)
    open_one = await make_session(ctx, center_id=center)
    full = await make_session(ctx, center_id=center, capacity_dose1=0)
    search = {"pincode": "560001", "date": open_one.date.isoformat()}

    page = await browser.get("/me/book", beneficiary=first, **search)
    choice = f"{open_one.session_id}|" + re.search(
        rf'value="{open_one.session_id}\|([^"]+)"', page.text
    ).group(1)
    booked = await browser.submit(page, "/me/book", beneficiary=first, dose="1", choice=choice)
    assert booked.status == 303, booked.text

    page = await browser.get("/me/book", beneficiary=second, **search)
    assert "Who can book" in page.text
    rows = {
        m.group(1): m.group(2)
        for m in re.finditer(
            r'value="([0-9a-f-]{36})\|[^"]+"[^<]*</label>.*?<ul class="eligibility">(.*?)</ul>',
            page.text,
            re.S,
        )
    }
    mine, crowded = html.unescape(rows[open_one.session_id]), html.unescape(rows[full.session_id])
    assert "Bina Free: can book dose 1" in mine
    assert "Anil Booked: cannot book dose 1. The beneficiary already has an appointment" in mine
    assert "Chotu Young: cannot book dose 1. The beneficiary's age is outside" in mine
    assert "Bina Free: cannot book dose 1. This vaccination center is completely booked" in crowded

    # What the page said is what booking answers.
    refused_age = await browser.submit(page, "/me/book", beneficiary=young, dose="1", choice=choice)
    assert refused_age.status == 422 and "age is outside" in html.unescape(refused_age.text)
    full_choice = choice.replace(open_one.session_id, full.session_id)
    refused_full = await browser.submit(
        page, "/me/book", beneficiary=second, dose="1", choice=full_choice
    )
    assert refused_full.status == 409 and "completely booked" in refused_full.text
    again = await browser.submit(page, "/me/book", beneficiary=first, dose="1", choice=choice)
    assert again.status == 409 and "already has an appointment" in again.text
    fine = await browser.submit(page, "/me/book", beneficiary=second, dose="1", choice=choice)
    assert fine.status == 303

    # Rescheduling: only the moved appointment's person, for its own dose.
    me = await browser.get("/me")
    appointment = re.search(
        r"/me/book\?beneficiary=" + first + r"&amp;appointment=([0-9a-f-]+)", me.text
    ).group(1)
    moving = await browser.get("/me/book", beneficiary=first, appointment=appointment, **search)
    after_session = moving.text.partition(f'value="{open_one.session_id}|')[2]
    listed = html.unescape(after_session.split('<ul class="eligibility">')[1].split("</ul>")[0])
    assert "Anil Booked: can book dose 1" in listed
    assert "Bina Free" not in listed and "Chotu Young" not in listed


async def test_dashboard_coverage_table_matches_the_public_api(
    browser: Browser, client, ctx, clock, outbox
):
    today = india_today(clock.now())
    dob = dt.date(today.year - 1, today.month, 1)  # turns one on the 1st of this month
    center = await make_center(ctx, district_id=294)
    refs = await _children(client, outbox, 7, dob, center)
    for ref in refs[:6]:
        await _give(ctx, ref, [("PENTA", "uip-pentavalent", 1, dob + 6 * W)])

    page = await browser.get("/dashboard")
    assert page.status == 200 and "Universal immunization coverage" in page.labels()
    assert "<caption>Universal immunization coverage in" not in page.text  # no state chosen
    page = await browser.get("/dashboard", state_id="16")
    assert page.status == 200
    index = today.year * 12 + today.month - 1 - (PUBLIC_MAX_MONTHS - 1)
    first = f"{index // 12:04d}-{index % 12 + 1:02d}"
    this = f"{today.year}-{today.month:02d}"
    api = await client.get(
        "/api/v2/public/reports/immunization-coverage",
        params={"state_id": 16, "from": first, "to": this},
    )
    rows = api.json()["rows"]
    assert rows
    table = page.text.split('<section class="coverage"')[1].split("</table>")[0]
    caption = re.search(r"<caption>(.*?)</caption>", table).group(1)
    assert caption.startswith("Universal immunization coverage in Karnataka by district and month")
    shown = re.findall(r"<tr>\s*<th scope=\"row\">(.*?)</th>(.*?)</tr>", table, re.S)
    assert len(shown) == len(rows)
    async with ctx.db.reader() as session:
        names = {d.district_id: d.district_name for d in await list_districts(session, 16)}
    for (district, cells), row in zip(shown, rows, strict=True):
        values = [html.unescape(v) for v in re.findall(r"<td>(.*?)</td>", cells)]
        assert district == names[row["district_id"]]
        expected = [
            row["children_turning_one"],
            row["cohort"]["fully_immunized"],
            row["cohort"]["partly_immunized"],
            row["cohort"]["zero_dose"],
            row["doses"]["penta_1"],
            row["doses"]["penta_3"],
        ]
        assert values[1:7] == [str(v) for v in expected], (values, row)
    (mine,) = [v for v in shown if "<td>7</td>" in v[1]]
    assert "<td>&lt;5</td>" in mine[1]  # zero-dose: one child, shown as "<5"
    assert all(ref not in page.text for ref in refs) and "Child a" not in page.text

    await browser.http.get("/lang", params={"to": "hi"})
    hindi = await browser.get("/dashboard", state_id="16")
    assert "सार्वभौमिक टीकाकरण कवरेज" in hindi.text


async def test_the_booked_dose_is_the_series_next_whatever_the_form_says(
    browser: Browser, ctx, outbox: Outbox
):
    # The booking form carries no dose: the server books the dose the eligibility column
    # shows. A dose added to the form by hand (here 2, for a person with no dose yet) is
    # ignored, not booked and not a refusal.
    from sqlalchemy import select

    from immunet.booking.models import Appointment
    from immunet.people.models import Beneficiary

    await browser.login(outbox, "9876500303")
    person = await _add_adult(browser, "Dev Tampered", "P3030001")
    center = await make_center(ctx, district_id=294)
    session = await make_session(ctx, center_id=center)
    search = {"pincode": "560001", "date": session.date.isoformat()}
    page = await browser.get("/me/book", beneficiary=person, **search)
    assert 'name="dose"' not in page.text
    assert "Dev Tampered: can book dose 1" in html.unescape(page.text)
    choice = f"{session.session_id}|" + re.search(
        rf'value="{session.session_id}\|([^"]+)"', page.text
    ).group(1)
    booked = await browser.submit(page, "/me/book", beneficiary=person, dose="2", choice=choice)
    assert booked.status == 303, booked.text
    async with ctx.db.reader() as db:
        doses = (
            await db.execute(
                select(Appointment.dose)
                .join(Beneficiary, Beneficiary.id == Appointment.beneficiary_id)
                .where(Beneficiary.reference_id == person, Appointment.status == "booked")
            )
        ).scalars()
        assert list(doses) == [1]
