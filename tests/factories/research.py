"""Research test helpers: a population inserted directly (test setup only), a research
client with real keys, and its client-credentials token (joserfc assertions and DPoP)."""

from __future__ import annotations

import datetime as dt
import secrets
from itertools import count
from typing import Any

from immunet.context import AppContext
from immunet.db.base import utcnow
from immunet.partners.service import add_partner_client
from immunet.people.models import Beneficiary, CitizenAccount
from immunet.staff.principal import OPERATOR_CLI
from immunet.vaccination.models import AefiReport, DoseRecord
from tests.factories.partners import OAuthClient, RegisteredPartner, new_keys
from tests.factories.sessions import make_center

RESEARCH_SCOPES = ("research.aggregates", "research.dp", "research.extracts")
_refs = count(10_000_000_000)


async def research_client(
    ctx: AppContext,
    name: str = "Institute of Epidemiology",
    *,
    scopes: tuple[str, ...] = RESEARCH_SCOPES,
) -> RegisteredPartner:
    keys = new_keys()
    created = await add_partner_client(
        ctx,
        name=name,
        purpose="Vaccine effectiveness studies",
        contact="data@institute.example.org",
        jwks=keys.public_jwks(),
        redirect_uris=[],
        scopes=list(scopes),
        kind="research",
        actor=OPERATOR_CLI,
    )
    assert created.api_key is None
    return RegisteredPartner(created.client_id, None, keys)


class ResearchClient(OAuthClient):
    """The research body's side: client credentials with private_key_jwt, DPoP proofs."""

    async def get_token(self, http: Any, scope: str = " ".join(RESEARCH_SCOPES)) -> Any:
        return await self.token(http, {"grant_type": "client_credentials", "scope": scope})

    async def access_token(self, http: Any, scope: str = " ".join(RESEARCH_SCOPES)) -> str:
        response = await self.get_token(http, scope)
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    def headers(self, method: str, path: str, token: str) -> dict[str, str]:
        return {
            "Authorization": f"DPoP {token}",
            "DPoP": self.dpop(method, path, access_token=token),
        }

    async def post(self, http: Any, path: str, token: str, body: dict[str, Any]) -> Any:
        return await http.post(path, json=body, headers=self.headers("POST", path, token))

    async def get(self, http: Any, path: str, token: str, **params: Any) -> Any:
        return await http.get(path, params=params, headers=self.headers("GET", path, token))


async def population(
    ctx: AppContext,
    groups: list[tuple[int, dict[str, Any]]],
    *,
    on: dt.date,
) -> dict[str, int]:
    """People with one dose each: ``groups`` of (how many, {district, vaccine, dose,
    birth_year, gender, aefi}). Returns the centre of each district used."""
    centers: dict[int, int] = {}
    account_id = secrets.token_hex(16)
    cipher = ctx.keyring.field_cipher
    async with ctx.db.transaction() as session:
        session.add(
            CitizenAccount(
                id=account_id,
                mobile_index=secrets.token_hex(32),
                mobile_ct=b"x",
                created_at=utcnow(),
            )
        )
    for _n, spec in groups:
        district = int(spec.get("district", 294))
        if district not in centers:
            centers[district] = await make_center(ctx, district_id=district)
    async with ctx.db.transaction() as session:
        for how_many, spec in groups:
            for _ in range(how_many):
                ref = str(next(_refs))
                person = Beneficiary(
                    reference_id=ref,
                    account_id=account_id,
                    name_ct=cipher.encrypt("Test Person", context=f"beneficiary:{ref}:name"),
                    birth_year_ct=cipher.encrypt(
                        str(spec.get("birth_year", 1985)), context=f"beneficiary:{ref}:birth_year"
                    ),
                    gender_id=int(spec.get("gender", 1)),
                    category="adult",
                    created_at=utcnow(),
                )
                session.add(person)
                await session.flush()
                dose = DoseRecord(
                    beneficiary_id=person.id,
                    vaccine_code=spec.get("vaccine", "COVISHIELD"),
                    series_code=None,
                    dose_number=int(spec.get("dose", 1)),
                    administered_on=spec.get("on", on),
                    center_id=centers[int(spec.get("district", 294))],
                    batch="TESTBATCH1",
                    recorded_by="test",
                    recorded_at=utcnow(),
                    status="recorded",
                )
                session.add(dose)
                await session.flush()
                if spec.get("aefi"):
                    session.add(
                        AefiReport(
                            beneficiary_id=person.id,
                            dose_record_id=dose.id,
                            vaccine_code=dose.vaccine_code,
                            center_id=dose.center_id,
                            reporter_kind="staff",
                            reported_by="test",
                            symptoms='["fever"]',
                            onset_on=dose.administered_on,
                            severity="mild",
                            outcome="recovered",
                            created_at=utcnow(),
                        )
                    )
    return centers
