"""Demo data for certificates: the signing key set (created once), and where to find it."""

from __future__ import annotations

from immunet.certificates import service
from immunet.context import build_context
from immunet.settings import Settings


async def demo_certificate_keys(settings: Settings) -> list[str]:
    ctx = build_context(settings)
    try:
        async with ctx.db.transaction() as session:
            await service.active_keyset(ctx, session)
    finally:
        await ctx.close()
    return [
        "Certificates: trust list /api/v2/certificates/trust-list, SHC keys "
        '/.well-known/jwks.json, verify POST /api/v2/certificates/verify {"qr": ...}; '
        "offline: `immunet trust export trust.json` then `immunet verify QR --trust-list "
        "trust.json`"
    ]
