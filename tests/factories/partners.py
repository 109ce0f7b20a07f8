"""Partner test helpers: real key pairs (joserfc) and a registered client."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from joserfc.jwk import ECKey

from immunet.context import AppContext
from immunet.partners.service import add_partner_client
from immunet.staff.principal import OPERATOR_CLI

REDIRECT_URI = "https://app.example.org/callback"


@dataclass
class PartnerKeys:
    kid: str
    private: ECKey

    def public_jwks(self) -> dict[str, Any]:
        public = self.private.as_dict(private=False)
        public.update(kid=self.kid, use="sig", alg="ES256")
        return {"keys": [public]}


def new_keys(kid: str = "k1") -> PartnerKeys:
    return PartnerKeys(kid, ECKey.generate_key("P-256", private=True))


@dataclass
class RegisteredPartner:
    client_id: str
    api_key: str | None
    keys: PartnerKeys


async def register_partner(
    ctx: AppContext,
    name: str = "Health App",
    *,
    scopes: tuple[str, ...] = ("immunization.read", "certificate.read", "appointment.write"),
    reads_per_minute: int = 60,
    reads_per_day: int = 10_000,
) -> RegisteredPartner:
    keys = new_keys()
    created = await add_partner_client(
        ctx,
        name=name,
        purpose="Show your vaccinations in the app",
        contact="security@app.example.org",
        jwks=keys.public_jwks(),
        redirect_uris=[REDIRECT_URI],
        scopes=list(scopes),
        reads_per_minute=reads_per_minute,
        reads_per_day=reads_per_day,
        actor=OPERATOR_CLI,
    )
    return RegisteredPartner(created.client_id, created.api_key, keys)
