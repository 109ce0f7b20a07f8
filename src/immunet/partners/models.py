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
