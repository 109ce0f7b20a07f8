"""The guard of research routes: ``Authorization: DPoP <token>`` of a research client (a
client-credentials token, ``private_key_jwt``), a DPoP proof by the bound key, one scope.

A partner app's token is not a research token (it lives in another table, under another
digest label) and a research token is not a partner token: each side answers 401 to the
other's."""

from __future__ import annotations

from fastapi import Request

from immunet.partners import oauth
from immunet.partners.guards import dpop_bound_token
from immunet.partners.scopes import ResearchScope
from immunet.research.service import ResearchPrincipal, resolve_research_token
from immunet.security.access import Audience, Guard, app_context, request_context
from immunet.security.ratelimit import Limit


class ResearchTokenGuard(Guard):
    audience = Audience.RESEARCH  # documented as the researchDPoP scheme (openapi.py)

    def __init__(self, scope: ResearchScope) -> None:
        self.scope = scope
        self.permission = scope.value  # the scope the token must carry, in the document

    async def __call__(self, request: Request) -> ResearchPrincipal:
        ctx = app_context(request)
        token, jkt = await dpop_bound_token(request)
        principal = await resolve_research_token(
            ctx, token, jkt=jkt, context=request_context(request)
        )
        request.state.actor = principal.actor  # the access log's actor reference
        limit = Limit("research-per-client", ctx.settings.api_requests_per_minute, 60)
        await ctx.limiter.hit(limit, principal.client_id)
        if self.scope.value not in principal.scopes:
            raise oauth.InsufficientScope()
        return principal


RESEARCH = {scope: ResearchTokenGuard(scope) for scope in ResearchScope}
