"""Request and response models of the partner registry's staff API (strict and bounded)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import Field

from immunet.partners.scopes import ClientKind, ResearchScope, Scope
from immunet.partners.service import (
    DEFAULT_READS_PER_DAY,
    DEFAULT_READS_PER_MINUTE,
    MAX_CIDRS,
    MAX_READS_PER_DAY,
    MAX_READS_PER_MINUTE,
    MAX_REDIRECT_URIS,
)
from immunet.people.schemas import Out, Strict


class CreatePartnerClientRequest(Strict):
    name: str = Field(min_length=1, max_length=120)
    purpose: str = Field(min_length=1, max_length=500)
    contact: str = Field(min_length=1, max_length=254)
    kind: ClientKind = ClientKind.APP
    # Validated key by key by the service (public keys only, FAPI 2.0 algorithms).
    jwks: dict[str, Any]
    redirect_uris: list[str] = Field(default_factory=list, max_length=MAX_REDIRECT_URIS)
    # A partner app's person scopes, or a research client's research scopes (the service
    # refuses a mix: a research client never holds a person scope).
    scopes: list[Scope | ResearchScope] = Field(
        default_factory=list, max_length=len(Scope) + len(ResearchScope)
    )
    allowed_cidrs: list[str] = Field(default_factory=list, max_length=MAX_CIDRS)
    reads_per_minute: int = Field(default=DEFAULT_READS_PER_MINUTE, ge=1, le=MAX_READS_PER_MINUTE)
    reads_per_day: int = Field(default=DEFAULT_READS_PER_DAY, ge=1, le=MAX_READS_PER_DAY)


class CreatePartnerClientResponse(Out):
    client_id: str
    api_key: str | None


class SuspendRequest(Strict):
    reason: str = Field(default="admin", min_length=1, max_length=32)


class RotateKeyResponse(Out):
    client_id: str
    api_key: str


class PartnerClientOut(Out):
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


class PartnerClientsResponse(Out):
    clients: list[PartnerClientOut]
    next: str | None = Field(
        default=None, description="Pass as `after` to read the next page; null on the last."
    )


class ConsentOut(Out):
    consent_id: str
    partner: str
    purpose: str
    beneficiary_reference_id: str
    scopes: list[str]
    created_at: dt.datetime
    expires_at: dt.datetime
    status: str = Field(description="active, expired or revoked")


class ConsentsResponse(Out):
    consents: list[ConsentOut]


class PartnerAlertOut(Out):
    id: int
    client_id: str
    kind: str = Field(description="quota-breaches or reads-above-consents")
    severity: str
    created_at: dt.datetime
    detail: dict[str, int | str] = Field(description="Counts only, never a person.")
    acknowledged_by: str | None
    acknowledged_at: dt.datetime | None


class PartnerAlertsResponse(Out):
    alerts: list[PartnerAlertOut]
    next: int | None = Field(default=None, description="Pass as `before` for the next page.")
