"""The partner registry: register, suspend, reinstate, rotate the API key, list.

Every change is an action that names its actor (a national admin through the staff API,
or the operator at the command line), owns its transaction and writes its audit record.
The API key of the Co-WIN compatible path is shown once and kept only as a keyed digest
(HMAC under the key ring's ``digest:partner-api-key`` secret), so a copy of the database
yields no usable key. Client authentication on the OAuth path uses the client's public
keys (``private_key_jwt``): immunet holds no client secret at all.
"""

from __future__ import annotations

import ipaddress
import secrets
import warnings
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from joserfc.errors import JoseError, SecurityWarning
from joserfc.jwk import ECKey, KeySet, OKPKey, RSAKey
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from immunet.context import AppContext
from immunet.errors import Conflict, NotFound, Unprocessable
from immunet.partners.models import Partner, PartnerAlert, PartnerClient
from immunet.partners.scopes import ClientKind, ClientState, ResearchScope, Scope
from immunet.security.audit import AuditAction, AuditChain
from immunet.security.keyring import Purpose
from immunet.staff.principal import OperatorPrincipal, StaffPrincipal

PartnerActor = StaffPrincipal | OperatorPrincipal

# FAPI 2.0 Security Profile §5.4: PS256, ES256 or EdDSA only; RSA keys of 2048 bits or more.
ALLOWED_ALGS = frozenset({"PS256", "ES256", "EdDSA"})
MIN_RSA_BITS = 2048
MAX_KEYS = 8
MAX_REDIRECT_URIS = 10
MAX_CIDRS = 20
DEFAULT_READS_PER_MINUTE = 60
DEFAULT_READS_PER_DAY = 10_000
MAX_READS_PER_MINUTE = 6_000
MAX_READS_PER_DAY = 5_000_000
LIST_PAGE_MAX = 50  # no staff listing pages more than 50 (tests/security/test_misuse_defences.py)
# Private members of a JWK: a JWKS that carries them was pasted from the wrong file.
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


class PartnerNotFound(NotFound):
    error_code = "PARTNER0404"
    message = "No such partner client."


class InvalidPartnerRequest(Unprocessable):
    error_code = "PARTNER0422"
    message = "The partner registration is not valid."


class PartnerConflict(Conflict):
    error_code = "PARTNER0409"
    message = "The partner client is not in a state that allows this."


@dataclass(frozen=True)
class MisuseAlert:
    """What the misuse defences saw: a kind, a severity and counts (never a person)."""

    kind: str
    severity: str
    detail: dict[str, int | str]


class NewClient(NamedTuple):
    client_id: str
    api_key: str | None


@dataclass(frozen=True)
class ClientView:
    client_id: str
    name: str
    purpose: str
    kind: str
    state: str
    scopes: list[str]
    redirect_uris: list[str]
    allowed_cidrs: list[str]
    reads_per_minute: int
    reads_per_day: int
    has_api_key: bool


def api_key_digest(ctx: AppContext, api_key: str) -> str:
    return ctx.keyring.digest(Purpose.PARTNER_API_KEY)(api_key)


def validate_jwks(raw: Any) -> dict[str, Any]:
    """A public key set fit for ``private_key_jwt`` and request signing, or a 422."""
    if not isinstance(raw, dict) or set(raw) != {"keys"} or not isinstance(raw["keys"], list):
        raise InvalidPartnerRequest('The JWKS is a JSON object {"keys": [...]}.')
    keys = raw["keys"]
    if not 1 <= len(keys) <= MAX_KEYS:
        raise InvalidPartnerRequest(f"The JWKS holds 1 to {MAX_KEYS} keys.")
    kids: set[str] = set()
    for jwk in keys:
        if not isinstance(jwk, dict):
            raise InvalidPartnerRequest("Every key of the JWKS is a JSON object.")
        if _PRIVATE_MEMBERS & set(jwk):
            raise InvalidPartnerRequest("The JWKS must hold public keys only.")
        kid = jwk.get("kid")
        if not isinstance(kid, str) or not 1 <= len(kid) <= 128 or kid in kids:
            raise InvalidPartnerRequest("Every key names a distinct 'kid'.")
        kids.add(kid)
        if jwk.get("use", "sig") != "sig":
            raise InvalidPartnerRequest("Every key is a signing key ('use': 'sig').")
        alg = jwk.get("alg")
        if alg is not None and alg not in ALLOWED_ALGS:
            raise InvalidPartnerRequest("Key algorithms are PS256, ES256 or EdDSA (FAPI 2.0).")
    try:
        with warnings.catch_warnings():
            # joserfc warns on weak keys (RSA under 2048 bits): here that is a refusal.
            warnings.simplefilter("error", SecurityWarning)
            key_set = KeySet.import_key_set({"keys": keys})
    except SecurityWarning as exc:
        raise InvalidPartnerRequest(f"RSA keys have at least {MIN_RSA_BITS} bits.") from exc
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise InvalidPartnerRequest("The JWKS holds a key that cannot be read.") from exc
    for key in key_set.keys:
        if isinstance(key, RSAKey):
            if key.raw_value.key_size < MIN_RSA_BITS:
                raise InvalidPartnerRequest(f"RSA keys have at least {MIN_RSA_BITS} bits.")
        elif isinstance(key, ECKey):
            if key.curve_name != "P-256":
                raise InvalidPartnerRequest("EC keys are on P-256 (ES256).")
        elif isinstance(key, OKPKey):
            if key.curve_name != "Ed25519":
                raise InvalidPartnerRequest("OKP keys are Ed25519 (EdDSA).")
        else:
            raise InvalidPartnerRequest("Keys are RSA, EC (P-256) or OKP (Ed25519).")
    return {"keys": [dict(jwk) for jwk in keys]}


def validate_redirect_uri(uri: str) -> str:
    """An absolute HTTPS URI without a fragment (HTTP only to a loopback address, RFC 8252)."""
    if len(uri) > 512 or any(ch.isspace() for ch in uri):
        raise InvalidPartnerRequest("A redirect URI is at most 512 characters, without spaces.")
    parts = urlsplit(uri)
    if parts.fragment or "#" in uri or not parts.hostname:
        raise InvalidPartnerRequest("A redirect URI is absolute and has no fragment.")
    loopback = parts.hostname in ("127.0.0.1", "::1", "localhost")
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise InvalidPartnerRequest("A redirect URI uses https (http only to a loopback address).")
    return uri


def validate_cidr(text: str) -> str:
    try:
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError as exc:
        raise InvalidPartnerRequest(f"{text[:64]!r} is not an address range.") from exc


def parse_scopes(raw: list[str], kind: ClientKind) -> list[str]:
    if kind is ClientKind.RESEARCH:
        # A research client reads de-identified data only: research scopes, no person scope.
        try:
            research = sorted({ResearchScope(s).value for s in raw})
        except ValueError as exc:
            raise InvalidPartnerRequest(
                "A research client holds research scopes only: "
                + ", ".join(s.value for s in ResearchScope)
            ) from exc
        if not research:
            raise InvalidPartnerRequest("A research client needs at least one research scope.")
        return research
    try:
        scopes = sorted({Scope(s).value for s in raw})
    except ValueError as exc:
        raise InvalidPartnerRequest("Scopes are: " + ", ".join(s.value for s in Scope)) from exc
    if not scopes:
        raise InvalidPartnerRequest("A partner app needs at least one scope.")
    return scopes


def _bounded_text(value: str, field: str, maximum: int) -> str:
    text = " ".join(value.split())
    if not 1 <= len(text) <= maximum:
        raise InvalidPartnerRequest(f"The {field} is 1 to {maximum} characters.")
    return text


async def add_partner_client(
    ctx: AppContext,
    *,
    name: str,
    jwks: Any,
    redirect_uris: list[str],
    scopes: list[str],
    actor: PartnerActor,
    purpose: str = "",
    contact: str = "",
    allowed_cidrs: list[str] | None = None,
    kind: ClientKind | str = ClientKind.APP,
    reads_per_minute: int = DEFAULT_READS_PER_MINUTE,
    reads_per_day: int = DEFAULT_READS_PER_DAY,
) -> NewClient:
    """Register a client (and its partner, the first time its name is seen).

    Returns the new ``client_id`` and, for partner apps, the API key of the Co-WIN
    compatible path: the only time it exists outside the caller's hands.
    """
    try:
        client_kind = ClientKind(kind)
    except ValueError as exc:
        raise InvalidPartnerRequest("The kind is app or research.") from exc
    partner_name = _bounded_text(name, "name", 120)
    purpose_text = _bounded_text(purpose or f"Services of {partner_name}", "purpose", 500)
    contact_text = _bounded_text(contact or "-", "contact", 254)
    key_set = validate_jwks(jwks)
    granted = parse_scopes(scopes, client_kind)
    if client_kind is ClientKind.APP and not redirect_uris:
        raise InvalidPartnerRequest("A partner app needs at least one redirect URI.")
    if len(redirect_uris) > MAX_REDIRECT_URIS:
        raise InvalidPartnerRequest(f"At most {MAX_REDIRECT_URIS} redirect URIs.")
    uris = list(dict.fromkeys(validate_redirect_uri(u) for u in redirect_uris))
    cidrs = list(dict.fromkeys(validate_cidr(c) for c in allowed_cidrs or []))
    if len(cidrs) > MAX_CIDRS:
        raise InvalidPartnerRequest(f"At most {MAX_CIDRS} address ranges.")
    if not 1 <= reads_per_minute <= MAX_READS_PER_MINUTE:
        raise InvalidPartnerRequest(f"Reads per minute are 1 to {MAX_READS_PER_MINUTE}.")
    if not 1 <= reads_per_day <= MAX_READS_PER_DAY:
        raise InvalidPartnerRequest(f"Reads per day are 1 to {MAX_READS_PER_DAY}.")

    client_id = "imc_" + secrets.token_urlsafe(18)
    api_key = "imk_" + secrets.token_urlsafe(32) if client_kind is ClientKind.APP else None
    now = ctx.clock.now()
    async with ctx.db.transaction() as session:
        partner = (
            await session.execute(select(Partner).where(Partner.name == partner_name))
        ).scalar_one_or_none()
        if partner is None:
            partner = Partner(
                name=partner_name,
                contact=contact_text,
                purpose=purpose_text,
                created_by=actor.actor,
                created_at=now,
            )
            session.add(partner)
            try:
                await session.flush()
            except IntegrityError as exc:  # the same name registered concurrently
                raise PartnerConflict("A partner of that name is being registered.") from exc
        client = PartnerClient(
            client_id=client_id,
            partner_id=partner.id,
            kind=client_kind.value,
            jwks=key_set,
            redirect_uris=uris,
            scopes=granted,
            allowed_cidrs=cidrs,
            api_key_digest=api_key_digest(ctx, api_key) if api_key else None,
            reads_per_minute=reads_per_minute,
            reads_per_day=reads_per_day,
            state=ClientState.ACTIVE.value,
            suspension_reason=None,
            created_at=now,
            updated_at=now,
        )
        session.add(client)
        await session.flush()
        await AuditChain.append(
            session,
            actor=actor.actor,
            action=AuditAction.PARTNER_CREATED,
            subject_ref=f"partner-client:{client_id}",
            purpose="partner-registry",
            context=actor.context,
            detail={"kind": client_kind.value, "scopes": granted, "partner": partner.id},
        )
    return NewClient(client_id, api_key)


async def _load(session: Any, client_id: str) -> PartnerClient:
    if not 1 <= len(client_id) <= 64:
        raise PartnerNotFound()
    client = (
        await session.execute(select(PartnerClient).where(PartnerClient.client_id == client_id))
    ).scalar_one_or_none()
    if client is None:
        raise PartnerNotFound()
    return client  # type: ignore[no-any-return]


async def _set_state(
    ctx: AppContext,
    *,
    client_id: str,
    actor: PartnerActor,
    target: ClientState,
    allowed_from: ClientState,
    action: AuditAction,
    reason: str | None,
    alert: MisuseAlert | None = None,
) -> None:
    async with ctx.db.transaction() as session:
        client = await _load(session, client_id)
        if client.state == target.value:
            return  # idempotent: already there, nothing to audit
        if client.state != allowed_from.value:
            raise PartnerConflict()
        changed = await session.execute(
            update(PartnerClient)
            .where(PartnerClient.id == client.id, PartnerClient.state == allowed_from.value)
            .values(state=target.value, suspension_reason=reason, updated_at=ctx.clock.now())
        )
        if changed.rowcount != 1:  # type: ignore[attr-defined]
            return  # another worker moved it first; it wrote the audit record (and alert)
        if alert is not None:
            session.add(
                PartnerAlert(
                    client_id=client_id,
                    kind=alert.kind,
                    severity=alert.severity,
                    created_at=ctx.clock.now(),
                    detail=alert.detail,
                )
            )
        await AuditChain.append(
            session,
            actor=actor.actor,
            action=action,
            subject_ref=f"partner-client:{client_id}",
            purpose="partner-registry",
            context=actor.context,
            detail={"reason": reason} if reason else None,
        )


async def suspend_client(
    ctx: AppContext,
    *,
    client_id: str,
    actor: PartnerActor,
    reason: str = "admin",
    alert: MisuseAlert | None = None,
) -> None:
    """Stop a client at once: its tokens and API key are refused from the next call.

    The misuse defences pass ``alert``: it is raised for the national admins in the same
    transaction as the suspension, and only by the call that suspended the client."""
    await _set_state(
        ctx,
        client_id=client_id,
        actor=actor,
        target=ClientState.SUSPENDED,
        allowed_from=ClientState.ACTIVE,
        action=AuditAction.PARTNER_SUSPENDED,
        reason=_bounded_text(reason, "reason", 32),
        alert=alert,
    )


async def reinstate_client(ctx: AppContext, *, client_id: str, actor: PartnerActor) -> None:
    await _set_state(
        ctx,
        client_id=client_id,
        actor=actor,
        target=ClientState.ACTIVE,
        allowed_from=ClientState.SUSPENDED,
        action=AuditAction.PARTNER_REINSTATED,
        reason=None,
    )


async def rotate_api_key(ctx: AppContext, *, client_id: str, actor: PartnerActor) -> str:
    """A new API key for a partner app; the old one stops working at once."""
    api_key = "imk_" + secrets.token_urlsafe(32)
    async with ctx.db.transaction() as session:
        client = await _load(session, client_id)
        if client.kind != ClientKind.APP.value or client.state == ClientState.RETIRED.value:
            raise PartnerConflict("Only a partner app that is not retired holds an API key.")
        await session.execute(
            update(PartnerClient)
            .where(PartnerClient.id == client.id)
            .values(api_key_digest=api_key_digest(ctx, api_key), updated_at=ctx.clock.now())
        )
        await AuditChain.append(
            session,
            actor=actor.actor,
            action=AuditAction.PARTNER_KEY_ROTATED,
            subject_ref=f"partner-client:{client_id}",
            purpose="partner-registry",
            context=actor.context,
        )
    return api_key


def _view(client: PartnerClient, partner: Partner) -> ClientView:
    return ClientView(
        client_id=client.client_id,
        name=partner.name,
        purpose=partner.purpose,
        kind=client.kind,
        state=client.state,
        scopes=list(client.scopes),
        redirect_uris=list(client.redirect_uris),
        allowed_cidrs=list(client.allowed_cidrs),
        reads_per_minute=client.reads_per_minute,
        reads_per_day=client.reads_per_day,
        has_api_key=client.api_key_digest is not None,
    )


async def list_clients(
    ctx: AppContext, *, limit: int = LIST_PAGE_MAX, after: str | None = None
) -> tuple[list[ClientView], str | None]:
    """Clients by ``client_id``; returns the page and the next cursor."""
    limit = max(1, min(limit, LIST_PAGE_MAX))
    stmt = (
        select(PartnerClient, Partner)
        .join(Partner, Partner.id == PartnerClient.partner_id)
        .order_by(PartnerClient.client_id)
    )
    if after:
        stmt = stmt.where(PartnerClient.client_id > after)
    async with ctx.db.reader() as session:
        rows = [(r[0], r[1]) for r in await session.execute(stmt.limit(limit + 1))]
    page = rows[:limit]
    next_cursor = page[-1][0].client_id if len(rows) > limit else None
    return [_view(c, p) for c, p in page], next_cursor


async def client_by_api_key(ctx: AppContext, api_key: str) -> ClientView | None:
    """The active partner app holding this API key, or None (looked up by keyed digest)."""
    if not 1 <= len(api_key) <= 128:
        return None
    digest = api_key_digest(ctx, api_key)
    async with ctx.db.reader() as session:
        row = (
            await session.execute(
                select(PartnerClient, Partner)
                .join(Partner, Partner.id == PartnerClient.partner_id)
                .where(PartnerClient.api_key_digest == digest)
            )
        ).first()
    if row is None or row[0].state != ClientState.ACTIVE.value:
        return None
    return _view(row[0], row[1])


async def client_by_id(ctx: AppContext, client_id: str) -> tuple[ClientView, dict[str, Any]]:
    """A client's view and its JWKS (for ``private_key_jwt``), whatever its state."""
    async with ctx.db.reader() as session:
        client = await _load(session, client_id)
        partner = await session.get(Partner, client.partner_id)
    assert partner is not None
    return _view(client, partner), dict(client.jwks)
