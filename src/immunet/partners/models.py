"""Partners and their clients. API keys are stored only as keyed digests.

A partner is the registered organisation (its name, contact and purpose statement); a
client is one integration of it with its own ``client_id``, public keys (JWKS, for
``private_key_jwt`` and request signing), redirect URIs, scopes, optional source addresses,
quotas and state. Suspending a client stops it at once; a retired client never returns.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from immunet.db.base import Base, UTCDateTime


class Partner(Base):
    __tablename__ = "partners"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    contact: Mapped[str] = mapped_column(String(254))
    purpose: Mapped[str] = mapped_column(String(500))
    created_by: Mapped[str] = mapped_column(String(96))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class PartnerClient(Base):
    __tablename__ = "partner_clients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), index=True)
    # "app" acts for consenting citizens; "research" reads only de-identified data.
    kind: Mapped[str] = mapped_column(String(16))
    jwks: Mapped[dict[str, Any]] = mapped_column(JSON)
    redirect_uris: Mapped[list[str]] = mapped_column(JSON)
    scopes: Mapped[list[str]] = mapped_column(JSON)
    allowed_cidrs: Mapped[list[str]] = mapped_column(JSON)
    # HMAC-SHA256 under the key ring's partner-API-key secret: found by digest, never stored.
    api_key_digest: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    reads_per_minute: Mapped[int] = mapped_column(Integer)
    reads_per_day: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))
    suspension_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class PartnerGrant(Base):
    """A citizen's consent: one client, one beneficiary, named scopes, a purpose, an expiry."""

    __tablename__ = "partner_grants"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("partner_clients.client_id"), index=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("citizen_accounts.id"), index=True)
    beneficiary_id: Mapped[int] = mapped_column(ForeignKey("beneficiaries.id"))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    purpose: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class AuthorizationRequest(Base):
    """A pushed authorization request (RFC 9126): the only way to start an authorization."""

    __tablename__ = "oauth_authorization_requests"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the request_uri's tail
    client_id: Mapped[str] = mapped_column(ForeignKey("partner_clients.client_id"), index=True)
    redirect_uri: Mapped[str] = mapped_column(String(512))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    state: Mapped[str | None] = mapped_column(String(256), nullable=True)
    code_challenge: Mapped[str] = mapped_column(String(128))
    duration_days: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class AuthorizationCode(Base):
    """A single-use code (≤ 60 s), kept as a keyed digest; its reuse revokes its tokens."""

    __tablename__ = "oauth_codes"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64))
    grant_id: Mapped[str] = mapped_column(ForeignKey("partner_grants.id"), index=True)
    redirect_uri: Mapped[str] = mapped_column(String(512))
    code_challenge: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class PartnerToken(Base):
    """Access and refresh tokens as keyed digests, bound to a DPoP key thumbprint (jkt)."""

    __tablename__ = "oauth_tokens"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))  # access | refresh
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    grant_id: Mapped[str] = mapped_column(ForeignKey("partner_grants.id"), index=True)
    # The code the chain of tokens descends from: a reused code revokes them all.
    code_digest: Mapped[str] = mapped_column(String(64), index=True)
    jkt: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class UsedJti(Base):
    """JWT IDs of client assertions and DPoP proofs seen, so neither can be replayed."""

    __tablename__ = "oauth_used_jtis"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)


class PartnerLogin(Base):
    """A citizen's login through a partner app on the Co-WIN compatible path
    (``/api/v2/auth/confirmOTP`` with the app's ``x-api-key``): a consent for the whole
    account, as long as the citizen token it yielded. Revoking it ends that token."""

    __tablename__ = "partner_logins"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("partner_clients.client_id"), index=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("citizen_accounts.id"), index=True)
    session_id: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class PartnerAlert(Base):
    """A misuse alert about a partner client, for the national admins: raised when the
    misuse defences suspend it (repeated quota breaches, reads far above its consents).
    ``detail`` holds counts only, never a person."""

    __tablename__ = "partner_alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("partner_clients.client_id"), index=True)
    kind: Mapped[str] = mapped_column(String(48))
    severity: Mapped[str] = mapped_column(String(16))  # info | warning | critical
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    acknowledged_by: Mapped[str | None] = mapped_column(String(96), nullable=True)
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
