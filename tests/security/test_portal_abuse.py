"""Abuse of the portal's pages: another person's objects, missing or wrong credentials,
forged or missing CSRF tokens, identifier look-ups and oversized or malformed forms.
Every refusal changes nothing."""

from __future__ import annotations

import re

import pytest

from immunet.staff.permissions import Role
from tests.conftest import Outbox
from tests.factories.sessions import make_session
from tests.factories.staff import make_staff
from tests.web.portal import Browser, open_browser

PASSPORT = {"photo_id_type": "4"}


async def _member(web: Browser, name: str, passport: str) -> str:
    me = await web.get("/me")
    added = await web.submit(
        me,
        "/me/members",
        name=name,
        birth_year="1979",
        gender_id="2",
        photo_id_number=passport,
        **PASSPORT,
    )
    assert added.status == 303, added.text
    me = await web.get("/me")
    return re.findall(r"/me/book\?beneficiary=([0-9]+)", me.text)[-1]


@pytest.fixture
async def web(settings, ctx):
    async for opened in open_browser(settings, ctx):
        yield opened


@pytest.fixture
async def victim(settings, ctx, outbox: Outbox):
    """Another account, with a member and a booked appointment."""
    async for other in open_browser(settings, ctx, peer="198.51.100.20"):
        await other.login(outbox, "9876500201")
        reference = await _member(other, "Sunita Victim", "V1112223")
        ref = await make_session(ctx)
        booking = await other.get(
            "/me/book", beneficiary=reference, pincode="560001", date=ref.date.isoformat()
        )
        choice = re.search(r'name="choice" value="([^"]+)"', booking.text).group(1)
        booked = await other.submit(
            booking, "/me/book", beneficiary=reference, dose="1", choice=choice
        )
        assert booked.status == 303
        me = await other.get("/me")
        appointment = re.search(r'name="appointment" value="([^"]+)"', me.text).group(1)
        yield other, reference, appointment


async def test_another_persons_objects_are_not_found(web: Browser, outbox, victim):
    other, reference, appointment = victim
    me = await web.login(outbox, "9876500202")
    attempts = [
        await web.get("/me/book", beneficiary=reference),
        await web.get("/me/certificate", beneficiary=reference),
        await web.submit(me, "/me/members/remove", ref=reference),
        await web.submit(me, "/me/cancel", appointment=appointment, beneficiary=reference),
        await web.submit(
            me, "/me/book", beneficiary=reference, dose="1", choice="x|09:00AM-11:00AM"
        ),
    ]
    for page in attempts:
        assert page.status in (400, 404), page.status
        assert "Sunita Victim" not in page.text
    slip = await web.http.get("/me/slip", params={"appointment": appointment})
    pdf = await web.http.get("/me/certificate.pdf", params={"beneficiary": reference})
    assert slip.status_code == 404 and pdf.status_code == 404
    assert not slip.content.startswith(b"%PDF")
    # Nothing changed for the owner.
    mine = await other.get("/me")
    assert "Sunita Victim" in mine.text and appointment in mine.text


async def test_a_staff_token_is_not_a_citizen_session(web: Browser, ctx):
    staff = await make_staff(ctx, Role.VACCINATOR, "national")
    web.http.cookies.set("__Host-immunet", staff.token)
    page = await web.http.get("/me")
    assert page.status_code == 303 and page.headers["location"] == "/login"


async def test_a_forged_cookie_is_refused(web: Browser):
    web.http.cookies.set("__Host-immunet", "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.")
    page = await web.http.get("/me")
    assert page.status_code == 303


async def test_missing_wrong_or_cross_origin_csrf_changes_nothing(web: Browser, outbox: Outbox):
    me = await web.login(outbox, "9876500203")
    fields = {
        "name": "Csrf Target",
        "birth_year": "1980",
        "gender_id": "1",
        "photo_id_type": "4",
        "photo_id_number": "C1234567",
    }
    missing = await web.http.post("/me/members", data=fields)
    wrong = await web.http.post("/me/members", data={**fields, "csrf": "x" * 43})
    cross = await web.http.post(
        "/me/members",
        data={**fields, "csrf": me.csrf()},
        headers={"origin": "https://evil.example"},
    )
    for answer in (missing, wrong, cross):
        assert answer.status_code == 403
        assert "text/html" in answer.headers["content-type"]
    assert "Csrf Target" not in (await web.get("/me")).text
    # Without the CSRF cookie (another site's form), even a copied token fails.
    token = me.csrf()
    web.http.cookies.delete("__Host-immunet-csrf")
    stolen = await web.http.post("/me/members", data={**fields, "csrf": token})
    assert stolen.status_code == 403


async def test_login_needs_the_csrf_token_too(web: Browser, outbox: Outbox):
    answer = await web.http.post("/login", data={"mobile": "9876500204"})
    assert answer.status_code == 403
    assert outbox.messages() == []  # no SMS was sent


async def test_identifiers_never_travel_in_page_urls(web: Browser, outbox: Outbox):
    await web.login(outbox, "9876500205")
    for path in ("/me", "/", "/verify", "/login"):
        answer = await web.http.get(path, params={"mobile": "9876500201"})
        assert answer.status_code == 400
        assert "9876500201" not in answer.text


async def test_public_search_never_shows_a_person(web: Browser, victim):
    _other, _reference, _appointment = victim
    page = await web.get("/", pincode="560001")
    assert page.status == 200
    assert "Sunita Victim" not in page.text


@pytest.mark.parametrize(
    "body",
    [
        "name=" + "A" * 5000 + "&birth_year=1980&gender_id=1",  # over the model's bound
        "&".join(f"f{i}=1" for i in range(40)),  # too many fields
        "name=a&name=b",  # a repeated field
        "name=%FF%FE",  # not UTF-8
    ],
)
async def test_oversized_or_malformed_forms_are_refused(web: Browser, outbox: Outbox, body: str):
    me = await web.login(outbox, "9876500206")
    answer = await web.http.post(
        "/me/members",
        content=f"csrf={me.csrf()}&{body}".encode(),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 400
    assert "No one is registered" in (await web.get("/me")).text


async def test_a_json_body_is_not_a_form(web: Browser, outbox: Outbox):
    me = await web.login(outbox, "9876500207")
    answer = await web.http.post("/me/members", json={"csrf": me.csrf(), "name": "X"})
    assert answer.status_code == 400


async def test_a_staff_role_without_the_permission_is_refused(web: Browser, ctx):
    from tests.factories.staff_flow import add_staff

    verifier = await add_staff(ctx, "web-verifier-1", "verifier", "national")
    form = await web.get("/staff/login")
    signed = await web.submit(
        form,
        "/staff/login",
        username=verifier.username,
        password=verifier.password,
        totp=verifier.totp(),
    )
    assert signed.status == 303
    assert (await web.get("/staff")).status == 200
    for path in ("/staff/sessions", "/staff/roster?session=" + "0" * 36):
        answer = await web.http.get(path)
        assert answer.status_code == 403, path
    console = await web.get("/staff")
    refused = await web.submit(
        console, "/staff/check-in", session="0" * 36, appointment="x", code="1234"
    )
    assert refused.status == 403


async def test_offline_verifier_files_hold_no_person_and_take_no_input(
    web: Browser, outbox: Outbox, victim
):
    """The offline verifier's manifest, worker and saved trust list are public: they carry
    public keys and revocation identifiers only, the same for a signed-in citizen as for an
    anonymous caller, and refuse any query (no identifier can be looked up through them)."""
    _other, _reference, _appointment = victim
    anonymous = (await web.http.get("/verify/offline.json")).json()
    assert "Sunita Victim" not in str(anonymous) and "9876500201" not in str(anonymous)
    assert not any("d" in key["jwk"] for key in anonymous["shc"])
    await web.login(outbox, "9876500202")
    signed_in = (await web.http.get("/verify/offline.json")).json()
    assert signed_in == anonymous
    for path in ("/verify/offline.json", "/verify/manifest.webmanifest", "/verify/sw.js"):
        probed = await web.http.get(path, params={"kid": "x", "beneficiary": "1"})
        assert probed.status_code == 400, path
        assert (await web.http.post(path, data={"csrf": "x"})).status_code in (403, 405), path
