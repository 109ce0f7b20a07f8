"""Abuse of the citizen's card, consents, eligibility and coverage pages: another person's
child card, another account's consent, missing or cross-site CSRF, identifiers that are
known and unknown answered alike, bounded parameters. Every refusal changes nothing."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from immunet.clock import india_today
from tests.conftest import Outbox, bearer, login
from tests.factories.sessions import make_session
from tests.factories.uip import register_family, routine_dose, setup_routine_day
from tests.factories.vaccination import otp_lookup
from tests.security.test_portal_abuse import _member
from tests.web.portal import Browser, open_browser
from tests.web.test_citizen_family import grant_consent

UNKNOWN_REFERENCE = "10000000000009"


@pytest.fixture
async def web(settings, ctx):
    async for opened in open_browser(settings, ctx, peer="203.0.113.71"):
        yield opened


async def _consents(client, token: str) -> list[dict]:
    response = await client.get("/api/v2/me/consents", headers=bearer(token))
    return list(response.json()["consents"])


async def test_another_guardians_child_card_is_the_same_404_as_none(
    web: Browser, client, ctx, clock, outbox: Outbox
):
    today = india_today(clock.now())
    day = await setup_routine_day(ctx, client)
    victim = await register_family(client, outbox, today - dt.timedelta(weeks=6))
    await otp_lookup(client, outbox, day.vaccinator, victim.mobile)
    recorded = await client.post(
        "/api/staff/doses",
        json=routine_dose(victim.child_ref, "BCG", day.lots["BCG"]),
        headers={**day.vaccinator.headers, "Idempotency-Key": "abuse-card-bcg"},
    )
    assert recorded.status_code == 201, recorded.text

    me = await web.login(outbox, "9876500401")
    assert "Meera Rao" not in me.text and victim.child_ref not in me.text
    theirs = await web.http.get("/me/card.pdf", params={"beneficiary": victim.child_ref})
    nobody = await web.http.get("/me/card.pdf", params={"beneficiary": UNKNOWN_REFERENCE})
    assert theirs.status_code == nobody.status_code == 404
    assert theirs.text == nobody.text  # the same page: a known reference tells nothing
    assert not theirs.content.startswith(b"%PDF") and "Meera Rao" not in theirs.text
    for bad in ("1" * 40, "../1", ""):
        refused = await web.http.get("/me/card.pdf", params={"beneficiary": bad})
        assert refused.status_code == 400, bad
    anonymous = await client.get("/me/card.pdf", params={"beneficiary": victim.child_ref})
    assert anonymous.status_code == 303 and anonymous.headers["location"] == "/login"
    # The owner's card is untouched and still theirs.
    mine = await client.get(
        "/api/v2/me/immunization-card/pdf",
        params={"beneficiary_reference_id": victim.child_ref},
        headers=bearer(victim.token),
    )
    assert mine.status_code == 200 and mine.content.startswith(b"%PDF")


async def test_another_accounts_consent_cannot_be_revoked_or_probed(
    web: Browser, client, settings, ctx, clock, outbox: Outbox
):
    victim_mobile = "9876500402"
    async for victim in open_browser(settings, ctx, peer="198.51.100.72"):
        await victim.login(outbox, victim_mobile)
        reference = await _member(victim, "Sunita Consent", "V4020001")
    await grant_consent(client, settings, ctx, clock, outbox, victim_mobile, reference)
    token = await login(client, outbox, victim_mobile)
    (consent,) = await _consents(client, token)

    await web.login(outbox, "9876500403")
    listed = await web.get("/me/consents")
    assert "Health App" not in listed.text and "Sunita Consent" not in listed.text
    page = await web.get("/me")  # a page with a form: the browser's CSRF token
    theirs = await web.submit(page, "/me/consents/revoke", consent=consent["consent_id"])
    unknown = await web.submit(page, "/me/consents/revoke", consent="f" * 32)
    malformed = await web.submit(page, "/me/consents/revoke", consent="<x>" + "0" * 40)
    empty = await web.submit(page, "/me/consents/revoke", consent="")
    assert theirs.status == unknown.status == malformed.status == empty.status == 404
    assert theirs.text == unknown.text == malformed.text == empty.text
    assert "Health App" not in theirs.text and "Sunita Consent" not in theirs.text
    (after,) = await _consents(client, token)
    assert after["status"] == "active"  # nothing changed for the owner


async def test_revoking_needs_the_csrf_token_and_the_same_site(
    web: Browser, client, settings, ctx, clock, outbox: Outbox
):
    mobile = "9876500404"
    await web.login(outbox, mobile)
    reference = await _member(web, "Ravi Csrf", "C4040001")
    await grant_consent(client, settings, ctx, clock, outbox, mobile, reference)
    token = await login(client, outbox, mobile)
    (consent,) = await _consents(client, token)
    page = await web.get("/me/consents")
    fields = {"consent": consent["consent_id"]}
    missing = await web.http.post("/me/consents/revoke", data=fields)
    wrong = await web.http.post("/me/consents/revoke", data={**fields, "csrf": "x" * 43})
    cross = await web.http.post(
        "/me/consents/revoke",
        data={**fields, "csrf": page.csrf()},
        headers={"origin": "https://evil.example"},
    )
    for answer in (missing, wrong, cross):
        assert answer.status_code == 403
        assert "text/html" in answer.headers["content-type"]
    (after,) = await _consents(client, token)
    assert after["status"] == "active"
    anonymous = await client.post("/me/consents/revoke", data=fields)
    assert anonymous.status_code in (303, 403)
    (after,) = await _consents(client, token)
    assert after["status"] == "active"


async def test_eligibility_shows_only_the_own_family(settings, web: Browser, ctx, outbox: Outbox):
    ref = await make_session(ctx)
    async for victim in open_browser(settings, ctx, peer="198.51.100.73"):
        await victim.login(outbox, "9876500405")
        await _member(victim, "Sunita Eligible", "V4050001")
    await web.login(outbox, "9876500406")
    mine = await _member(web, "Own Member", "O4060001")
    page = await web.get("/me/book", beneficiary=mine, pincode="560001", date=ref.date.isoformat())
    assert page.status == 200
    assert "Own Member: can book dose 1" in page.text
    assert "Sunita Eligible" not in page.text
    # Rescheduling someone else's appointment (or none) lists no one.
    other = await web.get(
        "/me/book",
        beneficiary=mine,
        appointment="0" * 36,
        pincode="560001",
        date=ref.date.isoformat(),
    )
    assert other.status == 200
    assert re.findall(r'<ul class="eligibility">\s*</ul>', other.text)
    assert "Own Member: can book" not in other.text


@pytest.mark.parametrize(
    "params",
    [{"state_id": "0"}, {"state_id": "101"}, {"state_id": "x"}, {"mobile": "9876500401"}],
)
async def test_dashboard_takes_only_a_bounded_state(web: Browser, params):
    answer = await web.http.get("/dashboard", params=params)
    assert answer.status_code == 400
    assert "9876500401" not in answer.text
