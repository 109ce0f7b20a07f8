"""Demo partner: "Demo Health App", a registered client whose key lives next to the key
ring, so ``python -m immunet.partners.demo_client`` can play the partner's side and a
person can click through the consent page (``make demo`` registers it once)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from joserfc.jwk import ECKey
from sqlalchemy import select

from immunet.context import build_context
from immunet.partners.models import Partner
from immunet.partners.service import add_partner_client
from immunet.settings import Settings
from immunet.staff.principal import OperatorPrincipal

DEMO_PARTNER = "Demo Health App"
DEMO_REDIRECT = "http://127.0.0.1:8765/callback"
DEMO_KID = "demo-1"


def demo_client_file(settings: Settings) -> Path:
    return settings.keyring.parent / "demo-partner.json"


def _write_private(path: Path, payload: dict[str, Any]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(payload, handle)


async def demo_partner(settings: Settings) -> list[str]:
    ctx = build_context(settings)
    path = demo_client_file(settings)
    try:
        async with ctx.db.reader() as session:
            exists = (
                await session.execute(select(Partner.id).where(Partner.name == DEMO_PARTNER))
            ).scalar_one_or_none()
        if exists is None:
            key = ECKey.generate_key("P-256", private=True)
            public = {**key.as_dict(private=False), "kid": DEMO_KID, "use": "sig", "alg": "ES256"}
            created = await add_partner_client(
                ctx,
                name=DEMO_PARTNER,
                purpose="Show your vaccination record in the Demo Health App",
                contact="demo@example.org",
                jwks={"keys": [public]},
                redirect_uris=[DEMO_REDIRECT],
                scopes=["immunization.read", "certificate.read"],
                actor=OperatorPrincipal("demo"),
            )
            _write_private(
                path,
                {
                    "client_id": created.client_id,
                    # The Co-WIN compatible path's key (x-api-key), shown nowhere else.
                    "api_key": created.api_key,
                    "kid": DEMO_KID,
                    "key": key.as_dict(private=True),
                    "redirect_uri": DEMO_REDIRECT,
                },
            )
    finally:
        await ctx.close()
    return [
        f"Partner:    {DEMO_PARTNER} (its key: {path})",
        "  try it:   python -m immunet.partners.demo_client  (then open the printed link, "
        "sign in with a mobile and its OTP, choose a person, Allow)",
        "  Co-WIN:   POST /api/v2/auth/generateOTP and /api/v2/auth/confirmOTP with header "
        f'x-api-key: the "api_key" in {path.name}',
    ]
