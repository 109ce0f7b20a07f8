"""The FAPI 2.0 authorization-code flow, end to end: PAR, the consent page (OTP, one
beneficiary, Allow), private_key_jwt, PKCE S256, DPoP-bound tokens, refresh rotation;
and each rejection the issue lists. The partner's side is built with joserfc."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from joserfc.jwk import ECKey

from immunet.partners import oauth
from immunet.people.identifiers import normalize_mobile
from tests.conftest import login, register
from tests.factories import adult
from tests.factories.partners import ISSUER, REDIRECT_URI, OAuthClient, register_partner
from tests.web.portal import open_browser

MOBILE = "9876512345"


def _oauth_error(response) -> str:
    """The RFC 6749 error name, from WWW-Authenticate (the body has the project's shape)."""
    assert set(response.json()) == {"errorCode", "error"}
    assert response.json()["errorCode"].startswith("OAUTH")
    found = re.search(r'error="([a-z_]+)"', response.headers["www-authenticate"])
    assert found, response.headers
    return found.group(1)


async def _citizen_with_beneficiary(client, outbox, name="Asha Kumari") -> str:
    token = await login(client, outbox, MOBILE)
    response = await register(client, token, adult(name))
    assert response.status_code == 200, response.text
    return str(response.json()["beneficiary_reference_id"])


async def _consent(settings, ctx, outbox, oc: OAuthClient, reference: str, *, allow=True):
    """Drive immunet's own consent page as a person would; return the redirect's query."""
    par = await oc.par_response
    request_uri = par["request_uri"]
    async for browser in open_browser(settings, ctx):
        start = await browser.get(
            "/oauth/authorize", client_id=oc.partner.client_id, request_uri=request_uri
        )
        assert start.status == 200, start.text
        assert {"Mobile number", "Send OTP", "Health App"} <= start.labels()
        sent = await browser.submit(
            start,
            "/oauth/authorize/otp",
            client_id=oc.partner.client_id,
            request_uri=request_uri,
            mobile=MOBILE,
        )
        assert {"One-time password", "Verify"} <= sent.labels()
        otp = outbox.last_otp(normalize_mobile(MOBILE))
        chooser = await browser.submit(
            sent,
            "/oauth/authorize/verify",
            client_id=oc.partner.client_id,
            request_uri=request_uri,
            txn=sent.hidden("txn"),
            otp=otp,
        )
        assert chooser.status == 200, chooser.text
        assert {"Allow", "Deny"} <= chooser.labels()
        assert (
            "form-action 'self' https://app.example.org"
            in chooser.response.headers["content-security-policy"]
        )
        done = await browser.submit(
            chooser,
            "/oauth/authorize/decide",
            client_id=oc.partner.client_id,
            request_uri=request_uri,
            beneficiary=reference,
            decision="allow" if allow else "deny",
        )
        assert done.status == 303, done.text
        location = done.response.headers["location"]
        assert location.startswith(REDIRECT_URI + "?")
        return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    raise AssertionError("no browser")


@pytest.fixture
async def flow(client, ctx, clock, outbox, settings):
    reference = await _citizen_with_beneficiary(client, outbox)
    partner = await register_partner(ctx)
    oc = OAuthClient(partner, clock)

    async def start(**overrides):
        response = await oc.par(client, **overrides)
        assert response.status_code == 201, response.text
        body = response.json()

        async def value():
            return body

        oc.par_response = value()
        return await _consent(settings, ctx, outbox, oc, reference)

    return oc, start, reference


async def test_metadata_names_the_fapi_choices(client):
    meta = (await client.get("/.well-known/oauth-authorization-server")).json()
    assert meta["issuer"] == ISSUER
    assert meta["require_pushed_authorization_requests"] is True
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    # client_credentials serves research clients only (tests/integration/test_research.py).
    assert meta["grant_types_supported"] == [
        "authorization_code",
        "refresh_token",
        "client_credentials",
    ]
    assert meta["authorization_response_iss_parameter_supported"] is True
    for name in ("pushed_authorization_request", "authorization", "token", "revocation"):
        assert meta[f"{name}_endpoint"].startswith(ISSUER + "/oauth/")
    assert meta["jwks_uri"] == ISSUER + "/.well-known/jwks.json"


async def test_full_flow_par_consent_code_dpop_token_refresh(client, ctx, flow):
    oc, start, _reference = flow
    answer = await start()
    assert answer["iss"] == ISSUER and answer["state"] == oc.state
    form = {
        "grant_type": "authorization_code",
        "code": answer["code"],
        "redirect_uri": REDIRECT_URI,
        "code_verifier": oc.verifier,
    }
    issued = await oc.token(client, form)
    assert issued.status_code == 200, issued.text
    tokens = issued.json()
    assert tokens["token_type"] == "DPoP" and tokens["expires_in"] <= 300
    assert issued.headers["cache-control"] == "no-store"
    jkt = oc.dpop_key.thumbprint()
    granted = await oauth.resolve_access_token(ctx, tokens["access_token"], jkt=jkt)
    assert granted.scopes == ["certificate.read", "immunization.read"]
    # Bound to the DPoP key: another key's thumbprint does not unlock it.
    with pytest.raises(oauth.InvalidToken):
        await oauth.resolve_access_token(
            ctx, tokens["access_token"], jkt=ECKey.generate_key("P-256").thumbprint()
        )
    # Refresh: same key only; rotated, and the old refresh token is dead.
    other = ECKey.generate_key("P-256", private=True)
    stolen = await oc.token(
        client, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}, key=other
    )
    assert stolen.status_code == 400 and _oauth_error(stolen) == "invalid_grant"
    refreshed = await oc.token(
        client, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    )
    assert refreshed.status_code == 200, refreshed.text
    new = refreshed.json()
    assert new["refresh_token"] != tokens["refresh_token"]
    replay = await oc.token(
        client, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    )
    assert replay.status_code == 400
    # A rotated-out refresh token coming back ends the whole chain.
    with pytest.raises(oauth.InvalidToken):
        await oauth.resolve_access_token(ctx, new["access_token"], jkt=jkt)


async def test_a_reused_code_is_refused_and_revokes_what_it_issued(client, ctx, flow):
    oc, start, _ = flow
    answer = await start()
    form = {
        "grant_type": "authorization_code",
        "code": answer["code"],
        "redirect_uri": REDIRECT_URI,
        "code_verifier": oc.verifier,
    }
    first = await oc.token(client, form)
    assert first.status_code == 200
    second = await oc.token(client, form)
    assert second.status_code == 400 and _oauth_error(second) == "invalid_grant"
    with pytest.raises(oauth.InvalidToken):
        await oauth.resolve_access_token(
            ctx, first.json()["access_token"], jkt=oc.dpop_key.thumbprint()
        )


async def test_a_late_code_or_wrong_verifier_is_refused(client, clock, flow):
    oc, start, _ = flow
    answer = await start()
    clock.advance(dt.timedelta(seconds=61))
    late = await oc.token(
        client,
        {
            "grant_type": "authorization_code",
            "code": answer["code"],
            "redirect_uri": REDIRECT_URI,
            "code_verifier": oc.verifier,
        },
    )
    assert late.status_code == 400 and _oauth_error(late) == "invalid_grant"
    answer = await start()
    wrong = await oc.token(
        client,
        {
            "grant_type": "authorization_code",
            "code": answer["code"],
            "redirect_uri": REDIRECT_URI,
            "code_verifier": "x" * 43,
        },
    )
    assert wrong.status_code == 400


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": ""}, "invalid_request"),
        ({"redirect_uri": "https://evil.example/cb"}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),  # implicit flow
        ({"scope": "immunization.read admin"}, "invalid_scope"),
    ],
)
async def test_par_rejections(client, ctx, clock, overrides, code):
    oc = OAuthClient(await register_partner(ctx), clock)
    response = await oc.par(client, **overrides)
    assert response.status_code == 400, response.text
    assert _oauth_error(response) == code


async def test_client_authentication_rejections(client, ctx, clock):
    oc = OAuthClient(await register_partner(ctx), clock)
    impostor = OAuthClient(await register_partner(ctx, "Other App"), clock)
    # The assertion names oc's client but is signed with the other client's key.
    impostor.partner = type(impostor.partner)(oc.partner.client_id, None, impostor.partner.keys)
    once = oc.auth_fields(jti="a-fixed-jti-of-sixteen+")
    assert (await oc.par(client, **once)).status_code == 201
    cases = [
        impostor.auth_fields(),  # another key
        oc.auth_fields(audience="https://elsewhere.example"),  # another audience
        oc.auth_fields(exp=int(clock.now().timestamp()) - 1),  # expired
        {**oc.auth_fields(), "client_assertion_type": "client_secret_post"},
        {**oc.auth_fields(), "client_assertion": ""},  # none at all
        once,  # replayed jti
    ]
    for fields in cases:
        response = await oc.par(client, **fields)
        assert response.status_code == 401, (fields, response.text)
        assert _oauth_error(response) == "invalid_client"


async def test_only_code_and_refresh_grants_exist(client, ctx, clock):
    oc = OAuthClient(await register_partner(ctx), clock)
    for grant_type in ("password", "client_credentials", "implicit", ""):
        response = await oc.token(
            client, {"grant_type": grant_type, "username": "x", "password": "y"}
        )
        assert response.status_code == 400, grant_type
        assert _oauth_error(response) == "unsupported_grant_type"


async def test_the_authorization_page_takes_only_a_pushed_request(client, ctx, settings):
    partner = await register_partner(ctx)
    async for browser in open_browser(settings, ctx):
        plain = await browser.http.get(
            "/oauth/authorize",
            params={
                "client_id": partner.client_id,
                "response_type": "code",
                "redirect_uri": REDIRECT_URI,
            },
        )
        assert plain.status_code == 400
        unknown = await browser.get(
            "/oauth/authorize",
            client_id=partner.client_id,
            request_uri="urn:ietf:params:oauth:request_uri:nope",
        )
        assert unknown.status == 400 and "Mobile number" not in unknown.labels()


async def test_deny_sends_access_denied_and_issues_nothing(client, ctx, clock, outbox, settings):
    reference = await _citizen_with_beneficiary(client, outbox)
    oc = OAuthClient(await register_partner(ctx), clock)
    body = (await oc.par(client)).json()

    async def value():
        return body

    oc.par_response = value()
    answer = await _consent(settings, ctx, outbox, oc, reference, allow=False)
    assert answer == {"error": "access_denied", "state": oc.state, "iss": ISSUER}
