"""Vulnerability disclosure: ``/.well-known/security.txt`` (RFC 9116) and the policy it cites.

``Expires`` is computed from the clock (RFC 9116 2.5.5: at most a year ahead), never
written down, so a deployment cannot serve an expired file; ``Canonical`` and ``Policy``
are built from the public URL. The policy is the repository's ``SECURITY.md`` (a copy is
packaged; a test keeps the two equal).
"""

from __future__ import annotations

import datetime as dt
from importlib import resources
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends
from fastapi.responses import PlainTextResponse, Response

from immunet.context import AppContext
from immunet.security.access import PUBLIC, PublicCaller, request_app_context

router = APIRouter(tags=["security"])
Ctx = Annotated[AppContext, Depends(request_app_context)]
Public = Annotated[PublicCaller, Depends(PUBLIC)]

SECURITY_TXT = "/.well-known/security.txt"
POLICY = "/.well-known/security-policy"
CACHE = "public, max-age=86400"


def contact(ctx: AppContext) -> str:
    configured = ctx.settings.security_contact
    if configured:
        return configured
    return f"mailto:security@{urlsplit(ctx.settings.public_url).hostname}"


def security_txt(ctx: AppContext) -> str:
    base = ctx.settings.public_url.rstrip("/")
    now = ctx.clock.now().astimezone(dt.UTC)
    # From midnight UTC, so every answer of a day is the same (and cacheable for it).
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    expires = midnight + dt.timedelta(days=ctx.settings.security_txt_valid_days)
    return "".join(
        f"{name}: {value}\n"
        for name, value in (
            ("Contact", contact(ctx)),
            ("Expires", expires.strftime("%Y-%m-%dT%H:%M:%SZ")),
            ("Policy", base + POLICY),
            ("Preferred-Languages", "en, hi"),
            ("Canonical", base + SECURITY_TXT),
        )
    )


@router.get(SECURITY_TXT, response_class=PlainTextResponse)
async def well_known_security_txt(_caller: Public, ctx: Ctx) -> Response:
    return PlainTextResponse(security_txt(ctx), headers={"Cache-Control": CACHE})


@router.get(
    POLICY,
    response_class=Response,
    responses={200: {"content": {"text/markdown": {"schema": {"type": "string"}}}}},
)
async def security_policy(_caller: Public) -> Response:
    text = resources.files("immunet").joinpath("data/SECURITY.md").read_text("utf-8")
    return Response(
        text, media_type="text/markdown; charset=utf-8", headers={"Cache-Control": CACHE}
    )
