"""Partner test helpers: real key pairs (joserfc) and a registered client."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
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
    **_ignored: Any,
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


ISSUER = "http://127.0.0.1:8000"  # Settings.public_url in the tests


def pkce_pair() -> tuple[str, str]:
    """A PKCE verifier and its S256 challenge (RFC 7636 §4.2), computed here, not by immunet."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


class OAuthClient:
    """The partner's side, built with joserfc: private_key_jwt assertions and DPoP proofs."""

    def __init__(self, partner: RegisteredPartner, clock: Any) -> None:
        self.partner = partner
        self.clock = clock
        self.dpop_key = ECKey.generate_key("P-256", private=True)

    def assertion(self, *, audience: str = ISSUER, jti: str | None = None, **claims: Any) -> str:
        now = int(self.clock.now().timestamp())
        body = {
            "iss": self.partner.client_id,
            "sub": self.partner.client_id,
            "aud": audience,
            "iat": now,
            "exp": now + 60,
            "jti": jti or secrets.token_urlsafe(24),
            **claims,
        }
        header = {"alg": "ES256", "kid": self.partner.keys.kid}
        return jwt.encode(header, body, self.partner.keys.private)

    def auth_fields(self, **kwargs: Any) -> dict[str, str]:
        return {
            "client_id": self.partner.client_id,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": self.assertion(**kwargs),
        }

    def dpop(
        self, method: str, path: str, *, access_token: str | None = None, key: ECKey | None = None
    ) -> str:
        signer = key or self.dpop_key
        claims: dict[str, Any] = {
            "jti": secrets.token_urlsafe(24),
            "htm": method,
            "htu": ISSUER + path,
            "iat": int(self.clock.now().timestamp()),
        }
        if access_token is not None:
            digest = hashlib.sha256(access_token.encode("ascii")).digest()
            claims["ath"] = base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")
        header = {"alg": "ES256", "typ": "dpop+jwt", "jwk": signer.as_dict(private=False)}
        return jwt.encode(header, claims, signer)

    async def par(self, http: Any, **overrides: str) -> Any:
        verifier, challenge = pkce_pair()
        self.verifier = verifier
        self.state = secrets.token_urlsafe(12)
        form = {
            "response_type": "code",
            "redirect_uri": REDIRECT_URI,
            "scope": "immunization.read certificate.read",
            "state": self.state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            **self.auth_fields(),
        }
        form.update(overrides)
        return await http.post("/oauth/par", data={k: v for k, v in form.items() if v})

    async def token(self, http: Any, form: dict[str, str], *, key: ECKey | None = None) -> Any:
        return await http.post(
            "/oauth/token",
            data={**form, **self.auth_fields()},
            headers={"DPoP": self.dpop("POST", "/oauth/token", key=key)},
        )
