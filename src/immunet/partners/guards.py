"""Guards of the partner path: a client authenticated by ``private_key_jwt`` (the OAuth
endpoints), and a DPoP-bound access token with its scope (the ``/partner/v1`` resources)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl

from fastapi import Request

from immunet.errors import Unauthenticated
from immunet.partners import oauth
from immunet.partners.scopes import Scope
from immunet.partners.service import ClientView, client_by_api_key
from immunet.security.access import Audience, Guard, app_context, request_context
from immunet.security.audit import RequestContext
from immunet.security.ratelimit import Limit

MAX_FORM_BYTES = 16 * 1024
MAX_FORM_FIELDS = 20


@dataclass(frozen=True)
class ClientCall:
    client: oauth.AuthenticatedClient
    form: dict[str, str]
    jkt: str | None
    context: RequestContext


@dataclass(frozen=True)
class PartnerCall:
    grant: oauth.AccessGrant
    context: RequestContext

    @property
    def actor(self) -> str:
        return f"partner:{self.grant.client_id}"


async def read_oauth_form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body; a repeated parameter is refused."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        raise oauth.OAuthError("The body is application/x-www-form-urlencoded.")
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise oauth.OAuthError("The request body is too large.")
    try:
        pairs = parse_qsl(
            body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS
        )
    except ValueError as exc:
        raise oauth.OAuthError() from exc
    form: dict[str, str] = {}
    for key, value in pairs:
        if key in form:
            raise oauth.OAuthError("A parameter is repeated.")  # RFC 6749 §3.1
        form[key] = value
    return form


def public_url_of(request: Request) -> str:
    """The URL the client addressed, as the issuer names it (``htu`` and ``aud`` use it)."""
    return oauth.issuer(app_context(request)) + request.url.path


class PartnerClientGuard(Guard):
    """A registered, active partner app proving its key (``private_key_jwt``)."""

    audience = Audience.PARTNER
    # private_key_jwt (RFC 7523) travels in the form body, which no OpenAPI security scheme
    # can name: the operations declare none and say so in ``x-client-authentication``.
    schemes = ()

    def __init__(self, *, dpop: bool, kinds: frozenset[str] = oauth.APP_ONLY) -> None:
        self.dpop = dpop
        self.kinds = kinds

    async def __call__(self, request: Request) -> ClientCall:
        ctx = app_context(request)
        try:
            form = await read_oauth_form(request)
        except oauth.OAuthError as exc:
            # No readable form, so no client authentication: the client is unknown.
            raise oauth.InvalidClient() from exc
        endpoint = public_url_of(request)
        client = await oauth.authenticate_client(ctx, form, endpoint=endpoint, kinds=self.kinds)
        limit = Limit("partner-oauth-per-client", ctx.settings.api_requests_per_minute, 60)
        await ctx.limiter.hit(limit, client.client_id)
        jkt = None
        if self.dpop:
            jkt = await oauth.verify_dpop(
                ctx, request.headers.get("dpop"), method=request.method, url=endpoint
            )
        return ClientCall(client, form, jkt, request_context(request))


async def dpop_bound_token(request: Request) -> tuple[str, str]:
    """The token of ``Authorization: DPoP <token>`` and the thumbprint (jkt) of the key
    whose proof came with it, for this method and URL (401 otherwise). Partner and research
    guards then resolve the token each in its own table."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "dpop" or not token.strip():
        raise oauth.InvalidToken(headers={"WWW-Authenticate": 'DPoP algs="ES256 PS256 EdDSA"'})
    token = token.strip()
    jkt = await oauth.verify_dpop(
        app_context(request),
        request.headers.get("dpop"),
        method=request.method,
        url=public_url_of(request),
        access_token=token,
    )
    return token, jkt


class PartnerTokenGuard(Guard):
    """``Authorization: DPoP <token>`` with a proof by the bound key, and one scope."""

    audience = Audience.PARTNER
    schemes = ("partnerDPoP",)

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.permission = scope.value  # the scope the token must carry, in the document

    async def __call__(self, request: Request) -> PartnerCall:
        ctx = app_context(request)
        token, jkt = await dpop_bound_token(request)
        grant = await oauth.resolve_access_token(ctx, token, jkt=jkt)
        if self.scope.value not in grant.scopes:
            raise oauth.InsufficientScope()
        return PartnerCall(grant, request_context(request))


PARTNER_CLIENT = PartnerClientGuard(dpop=False)
# The token and revocation endpoints also serve research clients (client_credentials).
PARTNER_CLIENT_DPOP = PartnerClientGuard(dpop=True, kinds=oauth.ANY_KIND)
PARTNER_CLIENT_ANY = PartnerClientGuard(dpop=False, kinds=oauth.ANY_KIND)
PARTNER_TOKEN = {scope: PartnerTokenGuard(scope) for scope in Scope}


class InvalidApiKey(Unauthenticated):
    error_code = "USRAUT0010"
    message = "A valid x-api-key of an active partner app is required."


@dataclass(frozen=True)
class ApiKeyCall:
    client: ClientView
    context: RequestContext


class PartnerApiKeyGuard(Guard):
    """Co-WIN's protected API: the partner app's ``x-api-key`` (stored as a keyed digest).

    The key identifies the app, never a person; a wrong, suspended or retired key is the
    same 401 whatever else the request holds."""

    audience = Audience.PARTNER
    schemes = ("partnerApiKey",)

    async def __call__(self, request: Request) -> ApiKeyCall:
        ctx = app_context(request)
        key = request.headers.get("x-api-key", "")
        client = await client_by_api_key(ctx, key) if key else None
        if client is None or client.kind != "app":
            raise InvalidApiKey()
        limit = Limit("partner-apikey-per-client", ctx.settings.api_requests_per_minute, 60)
        await ctx.limiter.hit(limit, client.client_id)
        return ApiKeyCall(client, request_context(request))


PARTNER_API_KEY = PartnerApiKeyGuard()
