"""Research data end to end, on SQLite and PostgreSQL: a research client's
client-credentials token (private_key_jwt, DPoP), suppressed aggregates, OpenDP counts
spending a per-client, per-dataset budget, k-anonymous pseudonymised extracts with their
manifest, and the public register."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import hashlib
import io
import re

import pytest
from sqlalchemy import select

from immunet.partners.service import InvalidPartnerRequest, add_partner_client
from immunet.research import service
from immunet.research.models import PrivacyBudget, RegisterEntry
from immunet.research.schemas import DpCountRequest
from immunet.security.audit import RequestContext
from immunet.staff.principal import OPERATOR_CLI
from tests.factories.partners import new_keys, register_partner
from tests.factories.research import ResearchClient, population, research_client

AGG = "/api/v2/research/aggregates"
DP = "/api/v2/research/dp-counts"
EXTRACT = "/api/v2/research/extracts"
REGISTER = "/api/v2/research/register"


def _oauth_error(response) -> str:
    assert set(response.json()) == {"errorCode", "error"}
    found = re.search(r'error="([a-z_]+)"', response.headers["www-authenticate"])
    assert found, response.headers
    return found.group(1)


def _day(clock) -> dt.date:
    return clock.now().date()


def _range(clock) -> dict[str, str]:
    day = _day(clock)
    return {"from": (day - dt.timedelta(days=6)).isoformat(), "to": day.isoformat()}


async def test_client_credentials_give_research_scopes_only(client, ctx, clock):
    rc = ResearchClient(await research_client(ctx), clock)
    issued = await rc.get_token(client, "research.aggregates")
    assert issued.status_code == 200, issued.text
    body = issued.json()
    assert body["token_type"] == "DPoP" and body["expires_in"] <= 300
    assert body["scope"] == "research.aggregates" and "refresh_token" not in body
    assert issued.headers["cache-control"] == "no-store"
    # Person scopes are refused, alone or mixed with research scopes.
    for scope in ("immunization.read", "research.aggregates certificate.read", "appointment.write"):
        refused = await rc.get_token(client, scope)
        assert refused.status_code == 400, scope
        assert _oauth_error(refused) == "invalid_scope"
    # No other grant for a research client; and no pushed authorization request at all.
    code = await rc.token(client, {"grant_type": "authorization_code", "code": "x" * 43})
    assert _oauth_error(code) == "unauthorized_client"
    par = await rc.par(client, scope="research.aggregates")
    assert par.status_code == 401 and _oauth_error(par) == "invalid_client"


async def test_a_research_scope_the_client_was_not_registered_with_is_refused(client, ctx, clock):
    rc = ResearchClient(await research_client(ctx, scopes=("research.aggregates",)), clock)
    refused = await rc.get_token(client, "research.extracts")
    assert refused.status_code == 400 and _oauth_error(refused) == "invalid_scope"


async def test_registry_keeps_research_and_person_scopes_apart(ctx):
    with pytest.raises(InvalidPartnerRequest):
        await add_partner_client(
            ctx,
            name="Mixed",
            jwks=new_keys().public_jwks(),
            redirect_uris=[],
            scopes=["research.aggregates", "immunization.read"],
            kind="research",
            actor=OPERATOR_CLI,
        )
    with pytest.raises(InvalidPartnerRequest):
        await register_partner(ctx, scopes=("immunization.read", "research.extracts"))


async def test_an_app_client_gets_no_client_credentials_token(client, ctx, clock):
    app = ResearchClient(await register_partner(ctx), clock)
    refused = await app.get_token(client, "research.aggregates")
    assert refused.status_code == 400 and _oauth_error(refused) == "unsupported_grant_type"


async def _people(ctx, clock) -> None:
    day = _day(clock)
    await population(
        ctx,
        [
            (30, {"district": 265, "gender": 1}),
            (20, {"district": 265, "gender": 2}),
            (3, {"district": 266, "gender": 1}),
            (25, {"district": 266, "gender": 2}),
            (15, {"district": 294, "gender": 1}),
            (12, {"district": 294, "gender": 2, "aefi": True}),
        ],
        on=day,
    )


async def test_aggregates_suppress_small_cells_and_their_complements(client, ctx, clock):
    await _people(ctx, clock)
    rc = ResearchClient(await research_client(ctx), clock)
    token = await rc.access_token(client)
    body = {"measure": "doses", "rows": "district", "columns": "sex", **_range(clock)}
    response = await rc.post(client, AGG, token, body)
    assert response.status_code == 200, response.text
    table = response.json()
    assert response.headers["cache-control"] == "no-store"
    cells = {(c["row"], c["column"]): c["value"] for c in table["cells"]}
    assert table["threshold"] == 10
    assert cells[("266", "Male")] is None  # 3 < 10
    assert cells[("265", "Male")] == 30
    assert table["total"] == 105
    # Recover the hidden cell from the published totals: every hidden figure enters some
    # equation together with another hidden figure, so the equations cannot pin it.
    row_totals, column_totals = table["rowTotals"], table["columnTotals"]
    for (row, column), value in cells.items():
        if value is None:
            others_in_row = [cells[(row, c)] for c in column_totals if c != column] + [
                row_totals[row]
            ]
            others_in_column = [cells[(r, column)] for r in row_totals if r != row] + [
                column_totals[column]
            ]
            assert None in others_in_row and None in others_in_column, (row, column)
    # The only way to "recover" it by subtraction fails: a row total minus shown cells
    # leaves a sum of two hidden cells, never the cell alone.
    assert table["suppressed"] >= 4


async def test_people_vaccinated_coverage_and_aefi(client, ctx, clock):
    await _people(ctx, clock)
    rc = ResearchClient(await research_client(ctx), clock)
    token = await rc.access_token(client)
    people = await rc.post(
        client, AGG, token, {"measure": "people_vaccinated", "rows": "sex", **_range(clock)}
    )
    assert people.status_code == 200, people.text
    by_sex = {c["row"]: c["value"] for c in people.json()["cells"]}
    assert by_sex == {"Male": 48, "Female": 57}
    coverage = await rc.post(
        client,
        AGG,
        token,
        {"measure": "coverage", "rows": "age_band", "columns": "sex", **_range(clock)},
    )
    assert coverage.status_code == 200, coverage.text
    cell = next(
        c for c in coverage.json()["cells"] if c["row"] == "18-44" and c["column"] == "Male"
    )
    assert cell["value"] == 48 and cell["registered"] is not None and 0 < cell["coverage"] <= 1
    aefi = await rc.post(
        client, AGG, token, {"measure": "aefi", "rows": "district", **_range(clock)}
    )
    assert aefi.status_code == 200, aefi.text
    assert {c["row"]: c["value"] for c in aefi.json()["cells"]} == {"294": 12}
    refused = await rc.post(
        client, AGG, token, {"measure": "coverage", "rows": "district", **_range(clock)}
    )
    assert refused.status_code == 400


async def test_dp_counts_spend_the_budget_and_refuse_once_spent(client, ctx, clock):
    await _people(ctx, clock)
    rc = ResearchClient(await research_client(ctx), clock)
    token = await rc.access_token(client)
    body = {
        "dataset": "doses",
        "dimensions": ["district", "sex"],
        "epsilon": 0.4,
        "state_id": 16,
        **_range(clock),
    }
    first = await rc.post(client, DP, token, body)
    assert first.status_code == 200, first.text
    answer = first.json()
    assert answer["budgetRemaining"] == pytest.approx(0.6)
    assert answer["maxContributions"] == 4 and "OpenDP" in answer["mechanism"]
    counts = {tuple(c["key"]): c["count"] for c in answer["cells"]}
    # The categories are every district of the state, not only those with doses.
    assert len(counts) > 6 and ("265", "Male") in counts
    second = await rc.post(client, DP, token, body)
    assert second.status_code == 200
    third = await rc.post(client, DP, token, body)
    assert third.status_code == 403, third.text
    assert third.json()["errorCode"] == "RESEARCH0403"
    assert "spent" in third.json()["error"]
    # Another dataset has its own budget; another client has its own.
    aefi = await rc.post(client, DP, token, {**body, "dataset": "aefi"})
    assert aefi.status_code == 200, aefi.text
    other = ResearchClient(await research_client(ctx, "Another Institute"), clock)
    other_token = await other.access_token(client)
    assert (await other.post(client, DP, other_token, body)).status_code == 200
    budget = await rc.get(client, "/api/v2/research/budget", token)
    assert budget.status_code == 200
    doses = next(b for b in budget.json()["budgets"] if b["dataset"] == "doses")
    assert doses["spent"] == pytest.approx(0.8) and doses["remaining"] == pytest.approx(0.2)


async def test_concurrent_queries_never_overspend_the_budget(ctx, clock):
    await _people(ctx, clock)
    registered = await research_client(ctx)
    actor = service.ResearchPrincipal(
        registered.client_id, "Institute of Epidemiology", "-", ["research.dp"], RequestContext()
    )
    day = _day(clock)
    request = DpCountRequest.model_validate(
        {"dataset": "doses", "dimensions": ["sex"], "epsilon": 0.3, "from": day, "to": day}
    )

    async def one() -> str:
        try:
            await service.dp_count(ctx, request, actor=actor)
        except service.BudgetSpent:
            return "refused"
        return "released"

    outcomes = await asyncio.gather(*(one() for _ in range(6)))
    assert sorted(outcomes) == ["refused"] * 3 + ["released"] * 3
    async with ctx.db.reader() as session:
        budget = (
            await session.execute(
                select(PrivacyBudget).where(PrivacyBudget.client_id == registered.client_id)
            )
        ).scalar_one()
        entries = list((await session.execute(select(RegisterEntry))).scalars())
    assert budget.spent_micro == 900_000 and budget.total_micro == 1_000_000
    assert sorted(e.outcome for e in entries) == ["refused"] * 3 + ["released"] * 3
    assert {e.epsilon_micro for e in entries if e.outcome == "released"} == {300_000}


async def test_extracts_refuse_unless_k_anonymous(client, ctx, clock):
    await _people(ctx, clock)
    rc = ResearchClient(await research_client(ctx), clock)
    token = await rc.access_token(client)
    body = {
        "dataset": "doses",
        "columns": ["district", "sex", "age_band", "week"],
        "purpose": "Uptake by district and sex",
        **_range(clock),
    }
    refused = await rc.post(client, EXTRACT, token, body)
    assert refused.status_code == 422, refused.text
    error = refused.json()
    assert error["errorCode"] == "RESEARCH0422"
    # The combination count is named, the data is not.
    assert "1 of 6 quasi-identifier combinations" in error["error"]
    assert "266" not in error["error"] and "Male" not in error["error"]
    assert set(error) == {"errorCode", "error"}


async def test_extracts_are_pseudonymised_per_client_with_a_manifest(client, ctx, clock):
    await _people(ctx, clock)
    body = {
        "dataset": "doses",
        "columns": ["sex", "age_band", "week"],
        "purpose": "Uptake by sex and age",
        **_range(clock),
    }
    pseudonyms = []
    for name in ("Institute A", "Institute B"):
        rc = ResearchClient(await research_client(ctx, name), clock)
        token = await rc.access_token(client)
        response = await rc.post(client, EXTRACT, token, body)
        assert response.status_code == 200, response.text
        answer = response.json()
        text = answer["csv"]
        manifest = answer["manifest"]
        rows = list(csv.reader(io.StringIO(text)))
        assert rows[0] == ["pseudonym", "sex", "age_band", "week"]
        assert len(rows) - 1 == manifest["rowCount"] == 105
        assert manifest["sha256"] == hashlib.sha256(text.encode("utf-8")).hexdigest()
        assert manifest["k"] == 10 and manifest["client"]["clientId"] == rc.partner.client_id
        assert manifest["purpose"] == "Uptake by sex and age"
        assert set(manifest["generalisation"]) == {"sex", "age_band", "week"}
        assert manifest["createdAt"].startswith(_day(clock).isoformat()[:4])
        assert {r[2] for r in rows[1:]} == {"18-44"}
        pseudonyms.append({r[0] for r in rows[1:]})
    assert len(pseudonyms[0]) == len(pseudonyms[1]) == 105
    assert not pseudonyms[0] & pseudonyms[1]  # two clients cannot join their extracts


async def test_the_register_lists_every_query_without_personal_data(client, ctx, clock):
    await _people(ctx, clock)
    rc = ResearchClient(await research_client(ctx), clock)
    token = await rc.access_token(client)
    await rc.post(client, AGG, token, {"measure": "doses", "rows": "sex", **_range(clock)})
    await rc.post(
        client,
        DP,
        token,
        {"dataset": "doses", "dimensions": ["sex"], "epsilon": 0.25, **_range(clock)},
    )
    await rc.post(
        client,
        EXTRACT,
        token,
        {
            "dataset": "doses",
            "columns": ["district", "sex"],
            "purpose": "Uptake by district",
            **_range(clock),
        },
    )
    response = await client.get(REGISTER)  # public: no token
    assert response.status_code == 200, response.text
    entries = response.json()["entries"]
    assert [e["kind"] for e in entries] == ["extract", "dp-count", "aggregate"]
    extract, dp_entry, aggregate = entries
    assert extract["outcome"] == "refused" and extract["reason"] == "k-anonymity"
    assert dp_entry["epsilon"] == pytest.approx(0.25) and dp_entry["dataset"] == "doses"
    assert aggregate["query"]["dimensions"] == ["sex"] and aggregate["query"]["measure"] == "doses"
    for entry in entries:
        assert entry["partner"] == "Institute of Epidemiology"
        assert entry["clientId"] == rc.partner.client_id
        assert "purpose" not in entry["query"]
    text = response.text
    assert "Uptake" not in text and "Test Person" not in text
    paged = await client.get(REGISTER, params={"limit": 2})
    assert len(paged.json()["entries"]) == 2
    rest = await client.get(REGISTER, params={"limit": 2, "before": paged.json()["next"]})
    assert [e["kind"] for e in rest.json()["entries"]] == ["aggregate"]


async def test_the_operator_sets_a_budget_and_spent_epsilon_stays_spent(client, ctx, clock):
    from immunet.research.facts import Dataset
    from immunet.security.audit import AuditAction
    from immunet.security.models import AuditEvent

    await _people(ctx, clock)
    registered = await research_client(ctx)
    await service.set_budget(
        ctx, client_id=registered.client_id, dataset=Dataset.DOSES, epsilon=0.5, actor=OPERATOR_CLI
    )
    rc = ResearchClient(registered, clock)
    token = await rc.access_token(client)
    body = {"dataset": "doses", "dimensions": ["sex"], "epsilon": 0.4, **_range(clock)}
    assert (await rc.post(client, DP, token, body)).status_code == 200
    assert (await rc.post(client, DP, token, body)).status_code == 403
    # Raising the total gives back only the difference; lowering it leaves nothing.
    await service.set_budget(
        ctx, client_id=registered.client_id, dataset=Dataset.DOSES, epsilon=0.8, actor=OPERATOR_CLI
    )
    assert (await rc.post(client, DP, token, body)).status_code == 200
    assert (await rc.post(client, DP, token, {**body, "epsilon": 0.01})).status_code == 403
    app = await register_partner(ctx)
    with pytest.raises(service.InvalidBudget):
        await service.set_budget(
            ctx, client_id=app.client_id, dataset=Dataset.DOSES, epsilon=5, actor=OPERATOR_CLI
        )
    async with ctx.db.reader() as session:
        actions = list(
            (
                await session.execute(
                    select(AuditEvent.action).where(AuditEvent.action.like("research:%"))
                )
            ).scalars()
        )
    assert actions.count(AuditAction.RESEARCH_BUDGET_SET.value) == 2
    assert actions.count(AuditAction.RESEARCH_DP_COUNT_READ.value) == 2
    assert actions.count(AuditAction.RESEARCH_QUERY_REFUSED.value) == 2
