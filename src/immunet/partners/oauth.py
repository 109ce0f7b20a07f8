"""The authorization server: FAPI 2.0 Security Profile for partner apps.

Rules, each one a test in ``tests/integration/test_partner_oauth.py``:

- confidential clients only, authenticated by ``private_key_jwt`` (RFC 7523) against the
  JWKS they registered; each assertion's ``jti`` is accepted once;
- pushed authorization requests (RFC 9126) are the only way in: the authorization page
  takes nothing but a ``request_uri`` this server issued, valid 60 s, used once;
- PKCE with ``S256`` only; redirect URIs match a registered one exactly;
- authorization codes single-use and valid 60 s; a reused code revokes every token issued
  from it (RFC 6749 §4.1.2); ``iss`` in the authorization response (RFC 9207);
- access tokens bound to a DPoP key (RFC 9449), valid 5 minutes; refresh tokens bound to
  the same key and rotated on use (the old one dies);
- only the ``authorization_code`` and ``refresh_token`` grants exist for partner apps: no
  password, no implicit, no client credentials for person data. A research client (and
  only a research client) uses ``client_credentials`` (RFC 6749 §4.4), authenticated by the
  same ``private_key_jwt``, for research scopes only; its DPoP-bound token lives in its
  own table and names no person, so no person resource can ever accept it
  (``immunet/research``, issue #10 §4).

Codes and tokens are opaque 256-bit values kept only as keyed digests. Errors carry the
project's error shape: a stable ``OAUTHnnnn`` code, and the OAuth error name (``invalid_grant``
and so on) in the ``WWW-Authenticate`` header.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, OKPKey, RSAKey
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from immunet.context import AppContext
from immunet.errors import ApiError
from immunet.partners.models import (
    AuthorizationCode,
    AuthorizationRequest,
    Partner,
    PartnerClient,
    PartnerGrant,
    PartnerToken,
    UsedJti,
)
from immunet.partners.scopes import ClientKind, ClientState, ResearchScope, Scope
from immunet.partners.service import ALLOWED_ALGS
from immunet.security.audit import AuditAction, AuditChain, RequestContext
from immunet.security.keyring import Purpose

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
REQUEST_URI_PREFIX = "urn:ietf:params:oauth:request_uri:"
PAR_SECONDS = 60
CODE_SECONDS = 60
ACCESS_SECONDS = 300
REFRESH_SECONDS = 30 * 24 * 3600
ASSERTION_MAX_SECONDS = 300
DPOP_WINDOW_SECONDS = 60
DEFAULT_GRANT_DAYS = 90
MAX_GRANT_DAYS = 365
ALGORITHMS = sorted(ALLOWED_ALGS)
TOKEN_DIGEST = "digest:partner-oauth"  # noqa: S105 - a label inside the digest


class OAuthError(ApiError):
    """An OAuth refusal in the project's error shape; the RFC 6749/9449 error code travels
    in ``WWW-Authenticate`` (``error="..."``), as RFC 6750 §3 does for resource errors."""

    status_code = 400
    error_code = "OAUTH0001"
    oauth_error = "invalid_request"
    message = "The request is not valid."

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        scheme = "DPoP" if type(self).status_code in (401, 403) else "OAuth"
        self.headers.setdefault("WWW-Authenticate", f'{scheme} error="{self.oauth_error}"')


class UnsupportedResponseType(OAuthError):
    error_code = "OAUTH0010"
    oauth_error = "unsupported_response_type"
    message = "Only the authorization code flow (response_type=code) is supported."


class InvalidClient(OAuthError):
    status_code = 401
    error_code = "OAUTH0002"
    oauth_error = "invalid_client"
    message = "Client authentication failed."


class InvalidGrant(OAuthError):
    error_code = "OAUTH0003"
    oauth_error = "invalid_grant"
    message = "The authorization grant is not valid."


class UnsupportedGrantType(OAuthError):
    error_code = "OAUTH0004"
    oauth_error = "unsupported_grant_type"
    message = (
        "Only the authorization_code and refresh_token grants are supported "
        "(client_credentials for research clients only)."
    )


class InvalidScope(OAuthError):
    error_code = "OAUTH0005"
    oauth_error = "invalid_scope"
    message = "The requested scope is not allowed for this client."


class InvalidDpopProof(OAuthError):
    status_code = 401
    error_code = "OAUTH0006"
    oauth_error = "invalid_dpop_proof"
    message = "The DPoP proof is missing or not valid."


class InvalidToken(OAuthError):
    status_code = 401
    error_code = "OAUTH0007"
    oauth_error = "invalid_token"
    message = "The access token is missing, expired, revoked or not bound to this key."


class InsufficientScope(OAuthError):
    status_code = 403
    error_code = "OAUTH0008"
    oauth_error = "insufficient_scope"
    message = "The token does not grant this scope or this person."


class UnauthorizedClient(OAuthError):
    error_code = "OAUTH0011"
    oauth_error = "unauthorized_client"
    message = "This client may not use this grant type."


class AuthorizationRequestInvalid(OAuthError):
    error_code = "OAUTH0009"
    oauth_error = "invalid_request_uri"
    message = "The authorization request is unknown, expired or already used."


@dataclass(frozen=True)
class AuthenticatedClient:
    client_id: str
    name: str
    purpose: str
    scopes: list[str]
    redirect_uris: list[str]
    kind: str = ClientKind.APP.value


@dataclass(frozen=True)
class PendingAuthorization:
    request_id: str
    client_id: str
    partner_name: str
    purpose: str
    scopes: list[str]
    duration_days: int
    redirect_uri: str
    state: str | None


@dataclass(frozen=True)
class AccessGrant:
    """What a valid DPoP-bound access token lets its client do, for whom."""

    client_id: str
    partner_name: str
    grant_id: str
    account_id: str
    beneficiary_id: int
    scopes: list[str]
    purpose: str
    reads_per_minute: int
    reads_per_day: int


def issuer(ctx: AppContext) -> str:
    return ctx.settings.public_url.rstrip("/")


def metadata(ctx: AppContext) -> dict[str, Any]:
    """RFC 8414 authorization server metadata, with the FAPI 2.0 choices stated."""
    base = issuer(ctx)
    return {
        "issuer": base,
        "pushed_authorization_request_endpoint": f"{base}/oauth/par",
        "require_pushed_authorization_requests": True,
        "authorization_endpoint": f"{base}/oauth/authorize",
        "token_endpoint": f"{base}/oauth/token",
        "revocation_endpoint": f"{base}/oauth/revoke",
        "jwks_uri": f"{base}/.well-known/jwks.json",
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        # client_credentials: research clients only, research scopes only (no person data).
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ALGORITHMS,
        "revocation_endpoint_auth_methods_supported": ["private_key_jwt"],
        "code_challenge_methods_supported": ["S256"],
        "dpop_signing_alg_values_supported": ALGORITHMS,
        "authorization_response_iss_parameter_supported": True,
        "scopes_supported": [s.value for s in Scope] + [s.value for s in ResearchScope],
    }


def _digest(ctx: AppContext, *parts: str) -> str:
    return ctx.keyring.digest(Purpose.PARTNER_API_KEY)(TOKEN_DIGEST, *parts)


def _b64url_sha256(text: str) -> str:
    raw = hashlib.sha256(text.encode("ascii")).digest()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _now(ctx: AppContext) -> dt.datetime:
    return ctx.clock.now()


def _as_utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


async def _spend_jti(ctx: AppContext, kind: str, jti: Any, expires: dt.datetime) -> bool:
    if not isinstance(jti, str) or not 16 <= len(jti) <= 128:
        return False
    try:
        async with ctx.db.transaction() as session:
            session.add(UsedJti(digest=_digest(ctx, kind, jti), expires_at=expires))
            await session.flush()
    except IntegrityError:
        return False
    return True


def _number(claims: dict[str, Any], name: str) -> int | None:
    value = claims.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


APP_ONLY = frozenset({ClientKind.APP.value})
ANY_KIND = frozenset({ClientKind.APP.value, ClientKind.RESEARCH.value})


async def authenticate_client(
    ctx: AppContext,
    form: dict[str, str],
    *,
    endpoint: str,
    kinds: frozenset[str] = APP_ONLY,
) -> AuthenticatedClient:
    """``private_key_jwt``: an assertion signed by a key of the client's registered JWKS.

    ``kinds``: which clients the endpoint serves. Pushed authorization requests serve
    partner apps only; the token and revocation endpoints also serve research clients,
    whose only grant is ``client_credentials`` for research scopes."""
    if form.get("client_assertion_type") != ASSERTION_TYPE:
        raise InvalidClient()
    assertion = form.get("client_assertion", "")
    if not assertion or len(assertion) > 8192:
        raise InvalidClient()
    try:
        unverified = json.loads(base64.urlsafe_b64decode(assertion.split(".")[1] + "=="))
    except (ValueError, IndexError) as exc:
        raise InvalidClient() from exc
    client_id = unverified.get("iss") if isinstance(unverified, dict) else None
    if not isinstance(client_id, str) or not 1 <= len(client_id) <= 64:
        raise InvalidClient()
    if form.get("client_id", client_id) != client_id:
        raise InvalidClient()
    async with ctx.db.reader() as session:
        row = (
            await session.execute(
                select(PartnerClient, Partner)
                .join(Partner, Partner.id == PartnerClient.partner_id)
                .where(PartnerClient.client_id == client_id)
            )
        ).first()
    if row is None or row[0].state != ClientState.ACTIVE.value:
        raise InvalidClient()
    client, partner = row[0], row[1]
    try:
        key_set = KeySet.import_key_set(client.jwks)  # type: ignore[arg-type]
        claims = jwt.decode(assertion, key_set, algorithms=ALGORITHMS).claims
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise InvalidClient() from exc
    now = int(_now(ctx).timestamp())
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    exp, iat = _number(claims, "exp"), _number(claims, "iat")
    if (
        claims.get("sub") != client_id
        # FAPI 2.0 §5.3.2.1: the audience is the issuer (an endpoint URL is also accepted).
        or not ({issuer(ctx), endpoint} & {a for a in audiences if isinstance(a, str)})
        or exp is None
        or exp < now
        or (iat is not None and (iat > now + 30 or exp - iat > ASSERTION_MAX_SECONDS))
        or exp > now + ASSERTION_MAX_SECONDS
    ):
        raise InvalidClient()
    if not await _spend_jti(
        ctx, "assertion", claims.get("jti"), dt.datetime.fromtimestamp(exp, dt.UTC)
    ):
        raise InvalidClient()
    if client.kind not in kinds:
        # Research clients read de-identified data only; they have no business on the
        # person path (pushed authorization requests, consent).
        raise InvalidClient()
    return AuthenticatedClient(
        client.client_id,
        partner.name,
        partner.purpose,
        list(client.scopes),
        list(client.redirect_uris),
        client.kind,
    )


async def push_authorization_request(
    ctx: AppContext, client: AuthenticatedClient, form: dict[str, str]
) -> tuple[str, int]:
    """Store the request; answer its ``request_uri`` (RFC 9126 §2.2)."""
    if "request_uri" in form:
        raise OAuthError("request_uri is not allowed in a pushed request.")
    if form.get("response_type") != "code":
        raise UnsupportedResponseType()
    redirect_uri = form.get("redirect_uri", "")
    if redirect_uri not in client.redirect_uris:
        raise OAuthError("redirect_uri is not registered for this client.")
    if form.get("code_challenge_method") != "S256":
        raise OAuthError("PKCE with code_challenge_method S256 is required.")
    challenge = form.get("code_challenge", "")
    if not 43 <= len(challenge) <= 128:
        raise OAuthError("code_challenge is missing or malformed.")
    requested = sorted(set(form.get("scope", "").split()))
    if not requested or any(s not in client.scopes for s in requested):
        raise InvalidScope()
    state = form.get("state")
    if state is not None and len(state) > 256:
        raise OAuthError("state is too long.")
    days_text = form.get("duration_days", str(DEFAULT_GRANT_DAYS))
    if not days_text.isascii() or not days_text.isdigit():
        raise OAuthError("duration_days is a number of days.")
    days = int(days_text)
    if not 1 <= days <= MAX_GRANT_DAYS:
        raise OAuthError(f"duration_days is 1 to {MAX_GRANT_DAYS}.")
    request_id = secrets.token_urlsafe(32)
    async with ctx.db.transaction() as session:
        session.add(
            AuthorizationRequest(
                id=request_id,
                client_id=client.client_id,
                redirect_uri=redirect_uri,
                scopes=requested,
                state=state,
                code_challenge=challenge,
                duration_days=days,
                expires_at=_now(ctx) + dt.timedelta(seconds=PAR_SECONDS),
                used_at=None,
            )
        )
    return REQUEST_URI_PREFIX + request_id, PAR_SECONDS


async def pending_authorization(
    ctx: AppContext, *, client_id: str, request_uri: str
) -> PendingAuthorization:
    """The pushed request the authorization page shows; nothing else is accepted."""
    if not request_uri.startswith(REQUEST_URI_PREFIX) or len(request_uri) > 128:
        raise AuthorizationRequestInvalid()
    request_id = request_uri.removeprefix(REQUEST_URI_PREFIX)
    async with ctx.db.reader() as session:
        row = (
            await session.execute(
                select(AuthorizationRequest, PartnerClient, Partner)
                .join(PartnerClient, PartnerClient.client_id == AuthorizationRequest.client_id)
                .join(Partner, Partner.id == PartnerClient.partner_id)
                .where(AuthorizationRequest.id == request_id)
            )
        ).first()
    if row is None:
        raise AuthorizationRequestInvalid()
    request, client, partner = row[0], row[1], row[2]
    if (
        request.client_id != client_id
        or request.used_at is not None
        or _as_utc(request.expires_at) < _now(ctx)
        or client.state != ClientState.ACTIVE.value
    ):
        raise AuthorizationRequestInvalid()
    return PendingAuthorization(
        request_id=request.id,
        client_id=client.client_id,
        partner_name=partner.name,
        purpose=partner.purpose,
        scopes=list(request.scopes),
        duration_days=request.duration_days,
        redirect_uri=request.redirect_uri,
        state=request.state,
    )


def _redirect(pending: PendingAuthorization, ctx: AppContext, **params: str) -> str:
    values = dict(params)
    if pending.state is not None:
        values["state"] = pending.state
    values["iss"] = issuer(ctx)  # RFC 9207: the client checks who answered
    return pending.redirect_uri + ("&" if "?" in pending.redirect_uri else "?") + urlencode(values)


async def decide(
    ctx: AppContext,
    *,
    pending: PendingAuthorization,
    account_id: str,
    beneficiary_id: int | None,
    allow: bool,
    context: RequestContext,
) -> str:
    """Record the citizen's answer; return where to send the browser (code or denial)."""
    now = _now(ctx)
    async with ctx.db.transaction() as session:
        used = await session.execute(
            update(AuthorizationRequest)
            .where(AuthorizationRequest.id == pending.request_id)
            .where(AuthorizationRequest.used_at.is_(None))
            .values(used_at=now)
        )
        if used.rowcount != 1:  # type: ignore[attr-defined]
            raise AuthorizationRequestInvalid()
        if not allow or beneficiary_id is None:
            await AuditChain.append(
                session,
                actor=f"citizen:{account_id}",
                action=AuditAction.PARTNER_CONSENT_DENIED,
                subject_ref=f"partner-client:{pending.client_id}",
                purpose="partner-consent",
                context=context,
            )
            return _redirect(pending, ctx, error="access_denied")
        grant = PartnerGrant(
            id=secrets.token_hex(16),
            client_id=pending.client_id,
            account_id=account_id,
            beneficiary_id=beneficiary_id,
            scopes=pending.scopes,
            purpose=pending.purpose,
            created_at=now,
            expires_at=now + dt.timedelta(days=pending.duration_days),
            revoked_at=None,
        )
        session.add(grant)
        await session.flush()
        code = secrets.token_urlsafe(32)
        request = await session.get(AuthorizationRequest, pending.request_id)
        assert request is not None
        session.add(
            AuthorizationCode(
                digest=_digest(ctx, "code", code),
                client_id=pending.client_id,
                grant_id=grant.id,
                redirect_uri=pending.redirect_uri,
                code_challenge=request.code_challenge,
                expires_at=now + dt.timedelta(seconds=CODE_SECONDS),
                used_at=None,
            )
        )
        await AuditChain.append(
            session,
            actor=f"citizen:{account_id}",
            action=AuditAction.PARTNER_CONSENT_GRANTED,
            subject_ref=f"beneficiary:{beneficiary_id}",
            purpose="partner-consent",
            context=context,
            detail={
                "client": pending.client_id,
                "scopes": pending.scopes,
                "days": pending.duration_days,
            },
        )
    return _redirect(pending, ctx, code=code)


# -- DPoP ------------------------------------------------------------------------------------


def _public_key(jwk: Any) -> RSAKey | ECKey | OKPKey:
    if not isinstance(jwk, dict) or {"d", "p", "q", "k"} & set(jwk):
        raise InvalidDpopProof()
    try:
        key = KeySet.import_key_set({"keys": [jwk]}).keys[0]
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise InvalidDpopProof() from exc
    if not isinstance(key, RSAKey | ECKey | OKPKey):
        raise InvalidDpopProof()
    return key


async def verify_dpop(
    ctx: AppContext, proof: str | None, *, method: str, url: str, access_token: str | None = None
) -> str:
    """Check a DPoP proof (RFC 9449 §4.3) and return its key's thumbprint (``jkt``)."""
    if not proof or len(proof) > 8192:
        raise InvalidDpopProof()
    try:
        header = json.loads(base64.urlsafe_b64decode(proof.split(".")[0] + "=="))
    except (ValueError, IndexError) as exc:
        raise InvalidDpopProof() from exc
    if not isinstance(header, dict) or header.get("typ") != "dpop+jwt":
        raise InvalidDpopProof()
    if header.get("alg") not in ALLOWED_ALGS:
        raise InvalidDpopProof()
    key = _public_key(header.get("jwk"))
    try:
        claims = jwt.decode(proof, key, algorithms=ALGORITHMS).claims
    except (JoseError, ValueError, TypeError) as exc:
        raise InvalidDpopProof() from exc
    now = int(_now(ctx).timestamp())
    iat = _number(claims, "iat")
    if (
        claims.get("htm") != method
        or claims.get("htu") != url
        or iat is None
        or abs(iat - now) > DPOP_WINDOW_SECONDS
    ):
        raise InvalidDpopProof()
    if access_token is not None and claims.get("ath") != _b64url_sha256(access_token):
        raise InvalidDpopProof()
    expires = dt.datetime.fromtimestamp(now + 2 * DPOP_WINDOW_SECONDS, dt.UTC)
    if not await _spend_jti(ctx, "dpop", claims.get("jti"), expires):
        raise InvalidDpopProof()
    return str(key.thumbprint())


# -- the token endpoint ------------------------------------------------------------------------


async def _issue_pair(
    session: Any,
    ctx: AppContext,
    *,
    client_id: str,
    grant: PartnerGrant,
    code_digest: str,
    jkt: str,
) -> dict[str, Any]:
    now = _now(ctx)
    access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    refresh_until = min(now + dt.timedelta(seconds=REFRESH_SECONDS), _as_utc(grant.expires_at))
    for kind, value, until in (
        ("access", access, now + dt.timedelta(seconds=ACCESS_SECONDS)),
        ("refresh", refresh, refresh_until),
    ):
        session.add(
            PartnerToken(
                digest=_digest(ctx, kind, value),
                kind=kind,
                client_id=client_id,
                grant_id=grant.id,
                code_digest=code_digest,
                jkt=jkt,
                expires_at=until,
                revoked_at=None,
            )
        )
    return {
        "access_token": access,
        "token_type": "DPoP",
        "expires_in": ACCESS_SECONDS,
        "refresh_token": refresh,
        "scope": " ".join(grant.scopes),
    }


async def _revoke_chain(ctx: AppContext, code_digest: str) -> None:
    async with ctx.db.transaction() as session:
        await session.execute(
            update(PartnerToken)
            .where(PartnerToken.code_digest == code_digest, PartnerToken.revoked_at.is_(None))
            .values(revoked_at=_now(ctx))
        )


def _live_grant(grant: PartnerGrant | None, now: dt.datetime) -> PartnerGrant:
    if grant is None or grant.revoked_at is not None or _as_utc(grant.expires_at) <= now:
        raise InvalidGrant()
    return grant


async def exchange(
    ctx: AppContext, client: AuthenticatedClient, form: dict[str, str], *, jkt: str
) -> dict[str, Any]:
    """The token endpoint: ``authorization_code`` (with PKCE) or ``refresh_token`` for
    partner apps; ``client_credentials`` for research clients (research scopes only)."""
    grant_type = form.get("grant_type")
    if client.kind == ClientKind.RESEARCH.value:
        if grant_type != "client_credentials":
            raise UnauthorizedClient()
        return await _client_credentials(ctx, client, form, jkt=jkt)
    if grant_type == "authorization_code":
        return await _exchange_code(ctx, client, form, jkt=jkt)
    if grant_type == "refresh_token":
        return await _refresh(ctx, client, form, jkt=jkt)
    raise UnsupportedGrantType()


async def _client_credentials(
    ctx: AppContext, client: AuthenticatedClient, form: dict[str, str], *, jkt: str
) -> dict[str, Any]:
    """RFC 6749 §4.4 for a research client: a DPoP-bound token for research scopes.

    Any person scope (or any scope the client was not registered with) is refused: client
    credentials never reach a person's data (issue #10 §2). The token has no refresh token
    and no grant; it is stored in ``research_tokens``, a table no person resource reads."""
    from immunet.research.models import ResearchToken  # the research package's own table

    text = form.get("scope", "")
    if len(text) > 256:
        raise InvalidScope()
    requested = sorted(set(text.split())) or sorted(client.scopes)
    research = {s.value for s in ResearchScope}
    if not requested or any(s not in research or s not in client.scopes for s in requested):
        raise InvalidScope()
    token = secrets.token_urlsafe(32)
    now = _now(ctx)
    async with ctx.db.transaction() as session:
        session.add(
            ResearchToken(
                digest=_digest(ctx, "research-access", token),
                client_id=client.client_id,
                scopes=requested,
                jkt=jkt,
                created_at=now,
                expires_at=now + dt.timedelta(seconds=ACCESS_SECONDS),
                revoked_at=None,
            )
        )
    return {
        "access_token": token,
        "token_type": "DPoP",
        "expires_in": ACCESS_SECONDS,
        "scope": " ".join(requested),
    }


def research_token_digest(ctx: AppContext, token: str) -> str:
    return _digest(ctx, "research-access", token)


async def _exchange_code(
    ctx: AppContext, client: AuthenticatedClient, form: dict[str, str], *, jkt: str
) -> dict[str, Any]:
    code, verifier = form.get("code", ""), form.get("code_verifier", "")
    if not code or len(code) > 128 or not 43 <= len(verifier) <= 128:
        raise InvalidGrant()
    code_digest = _digest(ctx, "code", code)
    now = _now(ctx)
    reused = False
    async with ctx.db.transaction() as session:
        row = await session.get(AuthorizationCode, code_digest)
        if row is None or row.client_id != client.client_id:
            raise InvalidGrant()
        if row.used_at is not None:
            reused = True
        else:
            await session.execute(
                update(AuthorizationCode)
                .where(AuthorizationCode.digest == code_digest)
                .values(used_at=now)
            )
            if (
                _as_utc(row.expires_at) < now
                or row.redirect_uri != form.get("redirect_uri")
                or _b64url_sha256(verifier) != row.code_challenge
            ):
                # The code is spent anyway: a failed attempt must not leave it usable.
                pass
            else:
                grant = _live_grant(await session.get(PartnerGrant, row.grant_id), now)
                return await _issue_pair(
                    session,
                    ctx,
                    client_id=client.client_id,
                    grant=grant,
                    code_digest=code_digest,
                    jkt=jkt,
                )
    if reused:
        # RFC 6749 §4.1.2 / FAPI: a second use of a code revokes what the first one issued.
        await _revoke_chain(ctx, code_digest)
    raise InvalidGrant()


async def _refresh(
    ctx: AppContext, client: AuthenticatedClient, form: dict[str, str], *, jkt: str
) -> dict[str, Any]:
    refresh = form.get("refresh_token", "")
    if not refresh or len(refresh) > 128:
        raise InvalidGrant()
    digest = _digest(ctx, "refresh", refresh)
    now = _now(ctx)
    async with ctx.db.transaction() as session:
        row = await session.get(PartnerToken, digest)
        if row is None or row.kind != "refresh" or row.client_id != client.client_id:
            raise InvalidGrant()
        if row.revoked_at is not None:
            # A rotated-out refresh token came back: someone holds a copy. End the chain.
            code_digest = row.code_digest
        elif row.jkt != jkt or _as_utc(row.expires_at) <= now:
            raise InvalidGrant()
        else:
            code_digest = ""
            await session.execute(
                update(PartnerToken).where(PartnerToken.digest == digest).values(revoked_at=now)
            )
            grant = _live_grant(await session.get(PartnerGrant, row.grant_id), now)
            return await _issue_pair(
                session,
                ctx,
                client_id=client.client_id,
                grant=grant,
                code_digest=row.code_digest,
                jkt=jkt,
            )
    await _revoke_chain(ctx, code_digest)
    raise InvalidGrant()


async def revoke_token(ctx: AppContext, client: AuthenticatedClient, token: str) -> None:
    """RFC 7009: revoke an access or refresh token of this client (unknown ones: no-op)."""
    if not token or len(token) > 128:
        return
    if client.kind == ClientKind.RESEARCH.value:
        from immunet.research.models import ResearchToken

        async with ctx.db.transaction() as session:
            await session.execute(
                update(ResearchToken)
                .where(
                    ResearchToken.digest == research_token_digest(ctx, token),
                    ResearchToken.client_id == client.client_id,
                    ResearchToken.revoked_at.is_(None),
                )
                .values(revoked_at=_now(ctx))
            )
        return
    async with ctx.db.transaction() as session:
        for kind in ("access", "refresh"):
            await session.execute(
                update(PartnerToken)
                .where(
                    PartnerToken.digest == _digest(ctx, kind, token),
                    PartnerToken.client_id == client.client_id,
                    PartnerToken.revoked_at.is_(None),
                )
                .values(revoked_at=_now(ctx))
            )


async def resolve_access_token(ctx: AppContext, token: str, *, jkt: str) -> AccessGrant:
    """A live access token bound to ``jkt``, of an active client, under a live grant."""
    if not token or len(token) > 128:
        raise InvalidToken()
    now = _now(ctx)
    async with ctx.db.reader() as session:
        row = (
            await session.execute(
                select(PartnerToken, PartnerGrant, PartnerClient, Partner)
                .join(PartnerGrant, PartnerGrant.id == PartnerToken.grant_id)
                .join(PartnerClient, PartnerClient.client_id == PartnerToken.client_id)
                .join(Partner, Partner.id == PartnerClient.partner_id)
                .where(PartnerToken.digest == _digest(ctx, "access", token))
            )
        ).first()
    if row is None:
        raise InvalidToken()
    tok, grant, client, partner = row[0], row[1], row[2], row[3]
    if (
        tok.kind != "access"
        or tok.revoked_at is not None
        or _as_utc(tok.expires_at) <= now
        or tok.jkt != jkt
        or client.state != ClientState.ACTIVE.value
        # Revocation by the citizen cuts an unexpired token on its next use.
        or grant.revoked_at is not None
        or _as_utc(grant.expires_at) <= now
    ):
        raise InvalidToken()
    return AccessGrant(
        client_id=client.client_id,
        partner_name=partner.name,
        grant_id=grant.id,
        account_id=grant.account_id,
        beneficiary_id=grant.beneficiary_id,
        scopes=list(grant.scopes),
        purpose=grant.purpose,
        reads_per_minute=client.reads_per_minute,
        reads_per_day=client.reads_per_day,
    )
