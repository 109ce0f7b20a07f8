"""Abuse of the research channel: person data through a research token, a partner app's
token on research routes and a research token on partner routes, scopes the token lacks,
a suspended client, forged or replayed proofs, and oversized or unknown parameters."""

from __future__ import annotations

import datetime as dt
import secrets

import pytest

from immunet.partners import oauth
from immunet.partners.models import PartnerGrant
from immunet.partners.service import suspend_client
from immunet.staff.principal import OPERATOR_CLI
from tests.factories.partners import OAuthClient, register_partner
from tests.factories.research import ResearchClient, population, research_client
from tests.factories.sessions import add_beneficiary, make_citizen

AGG = "/api/v2/research/aggregates"
DP = "/api/v2/research/dp-counts"
EXTRACT = "/api/v2/research/extracts"
PERSON_ROUTES = [
    ("GET", "/partner/v1/Immunization"),
    ("GET", "/partner/v1/certificate"),
    ("POST", "/partner/v1/appointment/cancel"),
]


def _range(clock) -> dict[str, str]:
    day = clock.now().date()
    return {"from": (day - dt.timedelta(days=6)).isoformat(), "to": day.isoformat()}


async def _partner_access_token(ctx, clock) -> tuple[OAuthClient, str]:
    """A real partner app access token under a citizen's grant (test setup: the consent
    page is driven in tests/integration/test_partner_oauth.py)."""
    partner = await register_partner(ctx)
    oc = OAuthClient(partner, clock)
    citizen = await make_citizen(ctx, "9811100001")
    reference = await add_beneficiary(ctx, citizen)
    from sqlalchemy import select

    from immunet.people.models import Beneficiary

    now = clock.now()
    async with ctx.db.transaction() as session:
        beneficiary_id = (
            await session.execute(
                select(Beneficiary.id).where(Beneficiary.reference_id == reference)
            )
        ).scalar_one()
        grant = PartnerGrant(
            id=secrets.token_hex(16),
            client_id=partner.client_id,
            account_id=citizen.account_id,
            beneficiary_id=beneficiary_id,
            scopes=["immunization.read", "certificate.read", "appointment.write"],
            purpose="test",
            created_at=now,
            expires_at=now + dt.timedelta(days=30),
            revoked_at=None,
        )
        session.add(grant)
        await session.flush()
        issued = await oauth._issue_pair(
            session,
            ctx,
            client_id=partner.client_id,
            grant=grant,
            code_digest="test-setup",
            jkt=oc.dpop_key.thumbprint(),
        )
    # The token works where it belongs: the person's immunizations.
    return oc, str(issued["access_token"])


async def test_a_research_token_reaches_no_person_route(client, ctx, clock):
    rc = ResearchClient(await research_client(ctx), clock)
    token = await rc.access_token(client)
    for method, path in PERSON_ROUTES:
        response = await client.request(
            method,
            path,
            headers=rc.headers(method, path, token),
            json={} if method == "POST" else None,
        )
        assert response.status_code == 401, (path, response.text)
        assert set(response.json()) == {"errorCode", "error"}


async def test_a_partner_token_reaches_no_research_route_and_vice_versa(client, ctx, clock):
    oc, token = await _partner_access_token(ctx, clock)
    ok = await client.get(
        "/partner/v1/Immunization",
        headers={
            "Authorization": f"DPoP {token}",
            "DPoP": oc.dpop("GET", "/partner/v1/Immunization", access_token=token),
        },
    )
    assert ok.status_code == 200, ok.text  # a real, working partner token
    body = {"measure": "doses", "rows": "sex", **_range(clock)}
    for path in (AGG, DP, EXTRACT, "/api/v2/research/budget"):
        method = "GET" if path.endswith("budget") else "POST"
        response = await client.request(
            method,
            path,
            json=None if method == "GET" else body,
            headers={
                "Authorization": f"DPoP {token}",
                "DPoP": oc.dpop(method, path, access_token=token),
            },
        )
        assert response.status_code == 401, (path, response.text)


async def test_a_token_without_the_scope_is_refused(client, ctx, clock):
    rc = ResearchClient(await research_client(ctx), clock)
    token = await rc.access_token(client, "research.aggregates")
    response = await rc.post(
        client,
        DP,
        token,
        {"dataset": "doses", "dimensions": ["sex"], "epsilon": 0.1, **_range(clock)},
    )
    assert response.status_code == 403 and response.json()["errorCode"] == "OAUTH0008"
    extract = await rc.post(
        client,
        EXTRACT,
        token,
        {"dataset": "doses", "columns": ["sex"], "purpose": "Uptake by sex", **_range(clock)},
    )
    assert extract.status_code == 403


async def test_proofs_are_bound_and_single_use_and_suspension_cuts_tokens(client, ctx, clock):
    registered = await research_client(ctx)
    rc = ResearchClient(registered, clock)
    token = await rc.access_token(client)
    body = {"measure": "doses", "rows": "sex", **_range(clock)}
    headers = rc.headers("POST", AGG, token)
    assert (await client.post(AGG, json=body, headers=headers)).status_code == 200
    replay = await client.post(AGG, json=body, headers=headers)  # the same proof again
    assert replay.status_code == 401
    other_key = ResearchClient(registered, clock)  # another DPoP key, the same token
    stolen = await other_key.post(client, AGG, token, body)
    assert stolen.status_code == 401
    bearer = await client.post(AGG, json=body, headers={"Authorization": f"Bearer {token}"})
    assert bearer.status_code == 401
    await suspend_client(ctx, client_id=registered.client_id, actor=OPERATOR_CLI)
    assert (await rc.post(client, AGG, token, body)).status_code == 401
    assert (await rc.get_token(client)).status_code == 401


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (AGG, {"measure": "doses", "rows": "sex", "extra": 1}),
        (AGG, {"measure": "doses", "rows": "name"}),
        (AGG, {"measure": "doses", "rows": "sex", "columns": "sex"}),
        (AGG, {"measure": "mobile", "rows": "sex"}),
        (AGG, {"measure": "doses", "rows": "sex", "from": "2020-01-01"}),
        (DP, {"dataset": "doses", "dimensions": ["sex"], "epsilon": 5}),
        (DP, {"dataset": "doses", "dimensions": ["sex"], "epsilon": 0}),
        (
            DP,
            {
                "dataset": "doses",
                "dimensions": ["sex", "week", "district", "vaccine"],
                "epsilon": 0.1,
            },
        ),
        (DP, {"dataset": "people", "dimensions": ["sex"], "epsilon": 0.1}),
        (EXTRACT, {"dataset": "doses", "columns": ["sex", "reference_id"], "purpose": "x" * 20}),
        (EXTRACT, {"dataset": "doses", "columns": ["sex"], "purpose": "x" * 5000}),
        (EXTRACT, {"dataset": "doses", "columns": ["sex"] * 50, "purpose": "x" * 20}),
    ],
)
async def test_bad_queries_are_refused_and_spend_nothing(client, ctx, clock, path, body):
    rc = ResearchClient(await research_client(ctx), clock)
    token = await rc.access_token(client)
    full = {**_range(clock), **body}
    response = await rc.post(client, path, token, full)
    assert response.status_code == 400, response.text
    assert set(response.json()) == {"errorCode", "error"}
    budget = await rc.get(client, "/api/v2/research/budget", token)
    assert all(b["spent"] == 0 for b in budget.json()["budgets"])
    assert (await client.get("/api/v2/research/register")).json()["entries"] == []


async def test_unknown_and_oversized_query_parameters(client, ctx, clock):
    rc = ResearchClient(await research_client(ctx), clock)
    token = await rc.access_token(client)
    unknown = await client.post(
        AGG + "?state=16",
        json={"measure": "doses", "rows": "sex", **_range(clock)},
        headers=rc.headers("POST", AGG, token),
    )
    assert unknown.status_code in (400, 401)  # never served
    for params in ({"limit": 10_000}, {"limit": -1}, {"before": "x"}, {"mobile": "9876543210"}):
        response = await client.get("/api/v2/research/register", params=params)
        assert response.status_code == 400, params
        assert set(response.json()) == {"errorCode", "error"}


async def test_a_dp_query_too_fine_is_refused_before_spending(client, ctx, clock):
    await population(ctx, [(12, {"district": 265})], on=clock.now().date())
    rc = ResearchClient(await research_client(ctx), clock)
    token = await rc.access_token(client)
    day = clock.now().date()
    body = {
        "dataset": "doses",
        "dimensions": ["district", "vaccine", "week"],
        "epsilon": 0.1,
        "from": (day - dt.timedelta(days=300)).isoformat(),
        "to": day.isoformat(),
    }
    response = await rc.post(client, DP, token, body)
    assert response.status_code == 422 and response.json()["errorCode"] == "RESEARCH0414"
    budget = await rc.get(client, "/api/v2/research/budget", token)
    assert all(b["spent"] == 0 for b in budget.json()["budgets"])
