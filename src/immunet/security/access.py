"""Who may call a route: every route declares exactly one guard, and the guard is the check.

A guard is a FastAPI dependency carrying its :class:`Audience` (and, for staff, the
permission it demands). ``tests/security/test_route_audiences.py`` walks every route of
the application and fails on one without exactly one guard, or whose guard differs from
the audience the route table there expects.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from fastapi import Request

from immunet.context import AppContext
from immunet.errors import Unauthenticated
from immunet.security.audit import RequestContext
from immunet.security.ratelimit import Limit
from immunet.security.tokens import TokenAudience


class Audience(StrEnum):
    PUBLIC = "public"
    CITIZEN = "citizen"
    PARTNER = "partner"
    STAFF = "staff"
    RESEARCH = "research"


def app_context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


async def request_app_context(request: Request) -> AppContext:
    """:func:`app_context` as a route dependency. ``async`` although it never waits:
    FastAPI runs a plain ``def`` dependency in a worker thread, a thread handoff on every
    request (3 % of a booking's CPU in ``make bench-profile``) for one attribute read."""
    return app_context(request)


def client_address(request: Request, trusted_proxies: list[str]) -> str:
    """The caller's address; ``X-Forwarded-For`` counts only from a trusted proxy."""
    peer = request.client.host if request.client else "0.0.0.0"  # noqa: S104
    if not trusted_proxies:
        return peer
    try:
        peer_ip = ipaddress.ip_address(peer)
    except ValueError:
        return peer
    networks = [ipaddress.ip_network(cidr, strict=False) for cidr in trusted_proxies]
    if not any(peer_ip in net for net in networks):
        return peer
    forwarded = request.headers.get("x-forwarded-for", "")
    # Walk from the right: the first hop that is not a trusted proxy is the client.
    for hop in reversed([h.strip() for h in forwarded.split(",") if h.strip()]):
        try:
            hop_ip = ipaddress.ip_address(hop)
        except ValueError:
            return peer
        if not any(hop_ip in net for net in networks):
            return str(hop_ip)
    return peer


def request_context(request: Request) -> RequestContext:
    return RequestContext(
        request_id=getattr(request.state, "request_id", None),
        client_address=getattr(request.state, "client_address", None),
    )


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated()
    return token.strip()


@dataclass(frozen=True)
class PublicCaller:
    client_address: str
    context: RequestContext


@dataclass(frozen=True)
class CitizenPrincipal:
    account_id: str
    session_id: str
    context: RequestContext
    # The partner app's client_id when the token came through the Co-WIN compatible path:
    # the partner acts, so the audit names it and the person's access log shows it.
    via: str | None = None

    @property
    def actor(self) -> str:
        if self.via is not None:
            return f"partner:{self.via}"
        return f"citizen:{self.account_id}"


# Checks a partner-bound citizen session (consent live, client active, quotas, access log).
# The partners package registers it at import: this lower layer cannot import it.
PartnerSessionCheck = Callable[[Request, CitizenPrincipal], Awaitable[None]]
partner_session_checks: list[PartnerSessionCheck] = []


class Guard:
    """Base of every route guard."""

    audience: Audience
    permission: str | None = None
    # The OpenAPI security schemes this guard checks, when not its audience's (openapi.py):
    # a partner's OAuth endpoints authenticate in the body, its resources by DPoP only.
    schemes: tuple[str, ...] | None = None

    async def __call__(self, request: Request) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError


PUBLIC_LIMIT_NAME = "public-per-address"


class PublicGuard(Guard):
    """No login; a per-address request budget (Co-WIN: 100 calls / 5 min / IP)."""

    audience = Audience.PUBLIC

    def __init__(self, *, limited: bool = True) -> None:
        self.limited = limited

    async def __call__(self, request: Request) -> PublicCaller:
        ctx = app_context(request)
        context = request_context(request)
        address = context.client_address or "unknown"
        if self.limited:
            limit = Limit(PUBLIC_LIMIT_NAME, ctx.settings.public_requests_per_5min, 300)
            # Counted in per-worker batches: a cached answer must not cost a round trip
            # to the shared counter each time (trade-off: security/ratelimit.py).
            await ctx.limiter.hit_batched(limit, address)
        return PublicCaller(address, context)


class CitizenGuard(Guard):
    """A live citizen token (mobile + OTP) in ``Authorization: Bearer``."""

    audience = Audience.CITIZEN

    async def __call__(self, request: Request) -> CitizenPrincipal:
        ctx = app_context(request)
        verified = await ctx.tokens.verify(
            bearer_token(request),
            TokenAudience.CITIZEN,
            idle_seconds=ctx.settings.citizen_token_seconds,
        )
        principal = CitizenPrincipal(
            verified.subject, verified.session_id, request_context(request), verified.via
        )
        request.state.actor = principal.actor  # the access log's actor reference
        limit = Limit("citizen-per-account", ctx.settings.api_requests_per_minute, 60)
        await ctx.limiter.hit(limit, principal.account_id)
        if principal.via is not None:
            if not partner_session_checks:
                raise Unauthenticated()  # fail closed: no one to check the partner's consent
            for check in partner_session_checks:
                await check(request, principal)
        return principal


PUBLIC = PublicGuard()
PUBLIC_UNLIMITED = PublicGuard(limited=False)
CITIZEN = CitizenGuard()
