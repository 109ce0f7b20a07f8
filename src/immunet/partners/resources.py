"""What a partner reads or does for the one person a grant names, and the citizen's view
of their grants. Every partner read is audited on that person (their access log shows the
partner's name, scope and purpose) and counted against the client's quotas."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from immunet.certificates.fhir import immunizations
from immunet.certificates.models import IssuedCertificate
from immunet.certificates.pdf import render_pdf
from immunet.certificates.service import CertificateDocument, open_payload
from immunet.context import AppContext
from immunet.errors import NotFound
from immunet.partners.guards import PartnerCall
from immunet.partners.misuse import count_partner_read
from immunet.partners.models import Partner, PartnerClient, PartnerGrant, PartnerLogin
from immunet.partners.scopes import Scope
from immunet.people.models import Beneficiary
from immunet.security.access import CitizenPrincipal
from immunet.security.audit import AuditAction, AuditChain
from immunet.security.models import AuthSession


class ConsentNotFound(NotFound):
    error_code = "PARTNER0414"
    message = "No such consent."


@dataclass(frozen=True)
class ConsentView:
    consent_id: str
    partner: str
    purpose: str
    beneficiary_reference_id: str
    scopes: list[str]
    created_at: dt.datetime
    expires_at: dt.datetime
    status: str


async def count_read(ctx: AppContext, call: PartnerCall) -> None:
    """The client's contracted quotas and misuse defences (see :mod:`partners.misuse`)."""
    grant = call.grant
    await count_partner_read(
        ctx,
        client_id=grant.client_id,
        reads_per_minute=grant.reads_per_minute,
        reads_per_day=grant.reads_per_day,
    )


async def immunization_bundle(ctx: AppContext, call: PartnerCall) -> dict[str, Any]:
    """FHIR R4 ``Immunization`` resources of the granted person, as a searchset Bundle.

    Built from the person's current certificate record (the doses immunet signed); the
    Bundle carries the Immunizations only, no Patient resource: no name, no ID number.
    """
    await count_read(ctx, call)
    grant = call.grant
    async with ctx.db.transaction() as session:
        beneficiary = await session.get(Beneficiary, grant.beneficiary_id)
        if beneficiary is None:
            raise ConsentNotFound()
        row = (
            await session.execute(
                select(IssuedCertificate)
                .where(
                    IssuedCertificate.beneficiary_id == grant.beneficiary_id,
                    IssuedCertificate.revoked_at.is_(None),
                )
                .order_by(IssuedCertificate.version.desc())
                .limit(1)
            )
        ).scalar_one_or_none()
        resources = immunizations(open_payload(ctx, row).record) if row is not None else []
        await AuditChain.append(
            session,
            actor=call.actor,
            action=AuditAction.PARTNER_PERSON_READ,
            subject_ref=f"beneficiary:{beneficiary.reference_id}",
            purpose=grant.purpose[:64],
            context=call.context,
            detail={
                "channel": "partner",
                "organisation": grant.partner_name,
                "scope": Scope.IMMUNIZATION_READ.value,
                "consent": grant.grant_id,
                "count": len(resources),
            },
        )
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [
            {"fullUrl": f"urn:uuid:{r['id']}", "resource": r, "search": {"mode": "match"}}
            for r in resources
        ],
    }


class NoCertificate(NotFound):
    error_code = "PARTNER0415"
    message = "No certificate has been issued for this person yet."


async def _granted_certificate(
    ctx: AppContext, call: PartnerCall, *, form: str
) -> tuple[str, CertificateDocument]:
    """The granted person's current certificate, counted and audited as one read."""
    await count_read(ctx, call)
    grant = call.grant
    async with ctx.db.transaction() as session:
        beneficiary = await session.get(Beneficiary, grant.beneficiary_id)
        if beneficiary is None:
            raise ConsentNotFound()
        row = (
            await session.execute(
                select(IssuedCertificate)
                .where(
                    IssuedCertificate.beneficiary_id == grant.beneficiary_id,
                    IssuedCertificate.revoked_at.is_(None),
                )
                .order_by(IssuedCertificate.version.desc())
                .limit(1)
            )
        ).scalar_one_or_none()
        if row is None:
            raise NoCertificate()
        document = open_payload(ctx, row)
        await AuditChain.append(
            session,
            actor=call.actor,
            action=AuditAction.PARTNER_PERSON_READ,
            subject_ref=f"beneficiary:{beneficiary.reference_id}",
            purpose=grant.purpose[:64],
            context=call.context,
            detail={
                "channel": "partner",
                "organisation": grant.partner_name,
                "scope": Scope.CERTIFICATE_READ.value,
                "consent": grant.grant_id,
                "form": form,
            },
        )
    return row.certificate_id, document


async def certificate_formats(ctx: AppContext, call: PartnerCall) -> dict[str, Any]:
    """The granted person's current certificate in its signed formats (the QR payloads,
    the verifiable credential, the FHIR bundle): what the person could download."""
    certificate_id, document = await _granted_certificate(ctx, call, form="formats")
    return {"certificate_id": certificate_id, "formats": document.formats}


async def certificate_pdf(ctx: AppContext, call: PartnerCall) -> bytes:
    """The granted person's current certificate as the PDF the person downloads."""
    _, document = await _granted_certificate(ctx, call, form="pdf")
    return await asyncio.to_thread(render_pdf, document.record, document.formats)


def _status(grant: PartnerGrant, now: dt.datetime) -> str:
    if grant.revoked_at is not None:
        return "revoked"
    expires = (
        grant.expires_at if grant.expires_at.tzinfo else grant.expires_at.replace(tzinfo=dt.UTC)
    )
    return "expired" if expires <= now else "active"


async def list_consents(ctx: AppContext, *, actor: CitizenPrincipal) -> list[ConsentView]:
    """The account's grants to partner apps, newest first."""
    now = ctx.clock.now()
    async with ctx.db.reader() as session:
        rows = (
            await session.execute(
                select(PartnerGrant, Partner.name, Beneficiary.reference_id)
                .join(PartnerClient, PartnerClient.client_id == PartnerGrant.client_id)
                .join(Partner, Partner.id == PartnerClient.partner_id)
                .join(Beneficiary, Beneficiary.id == PartnerGrant.beneficiary_id)
                .where(PartnerGrant.account_id == actor.account_id)
                .order_by(PartnerGrant.created_at.desc())
                .limit(200)
            )
        ).all()
    return [
        ConsentView(
            consent_id=g.id,
            partner=name,
            purpose=g.purpose,
            beneficiary_reference_id=ref,
            scopes=list(g.scopes),
            created_at=g.created_at,
            expires_at=g.expires_at,
            status=_status(g, now),
        )
        for g, name, ref in rows
    ] + await _cowin_consents(ctx, actor, now)


# Co-WIN compatible logins hold the whole account, not one beneficiary.
ALL_BENEFICIARIES = "*"
COWIN_SCOPES = ["beneficiaries.read", "appointment.write", "certificate.read"]


def _login_status(login: PartnerLogin, now: dt.datetime) -> str:
    if login.revoked_at is not None:
        return "revoked"
    expires = login.expires_at.replace(tzinfo=login.expires_at.tzinfo or dt.UTC)
    return "expired" if expires <= now else "active"


async def _cowin_consents(
    ctx: AppContext, actor: CitizenPrincipal, now: dt.datetime
) -> list[ConsentView]:
    """Logins through a partner app's ``x-api-key`` (Co-WIN compatible path), newest first."""
    async with ctx.db.reader() as session:
        rows = (
            await session.execute(
                select(PartnerLogin, Partner.name, Partner.purpose)
                .join(PartnerClient, PartnerClient.client_id == PartnerLogin.client_id)
                .join(Partner, Partner.id == PartnerClient.partner_id)
                .where(PartnerLogin.account_id == actor.account_id)
                .order_by(PartnerLogin.created_at.desc())
                .limit(200)
            )
        ).all()
    return [
        ConsentView(
            consent_id=login.id,
            partner=name,
            purpose=purpose,
            beneficiary_reference_id=ALL_BENEFICIARIES,
            scopes=list(COWIN_SCOPES),
            created_at=login.created_at,
            expires_at=login.expires_at,
            status=_login_status(login, now),
        )
        for login, name, purpose in rows
    ]


async def revoke_consent(ctx: AppContext, consent_id: str, *, actor: CitizenPrincipal) -> None:
    """Withdraw a grant: the partner's next call fails, with an unexpired token too.

    Another account's grant, or an unknown one, is the same 404."""
    if not 1 <= len(consent_id) <= 32:
        raise ConsentNotFound()
    async with ctx.db.transaction() as session:
        grant = await session.get(PartnerGrant, consent_id)
        if grant is None:
            login = await session.get(PartnerLogin, consent_id)
            if login is None or login.account_id != actor.account_id:
                raise ConsentNotFound()
            await _revoke_login(ctx, session, login, actor)
            return
        if grant.account_id != actor.account_id:
            raise ConsentNotFound()
        if grant.revoked_at is not None:
            return
        await session.execute(
            update(PartnerGrant)
            .where(PartnerGrant.id == consent_id)
            .values(revoked_at=ctx.clock.now())
        )
        await AuditChain.append(
            session,
            actor=actor.actor,
            action=AuditAction.PARTNER_CONSENT_REVOKED,
            subject_ref=f"partner-client:{grant.client_id}",
            purpose="partner-consent",
            context=actor.context,
            detail=json.loads(json.dumps({"consent": consent_id})),
        )


async def _revoke_login(
    ctx: AppContext, session: AsyncSession, login: PartnerLogin, actor: CitizenPrincipal
) -> None:
    """End a Co-WIN compatible login: its token stops on the partner's next call."""
    if login.revoked_at is not None:
        return
    now = ctx.clock.now()
    await session.execute(
        update(PartnerLogin).where(PartnerLogin.id == login.id).values(revoked_at=now)
    )
    # The citizen token itself, in the same transaction as the consent's end.
    await session.execute(
        update(AuthSession)
        .where(AuthSession.id == login.session_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    await AuditChain.append(
        session,
        actor=actor.actor,
        action=AuditAction.PARTNER_CONSENT_REVOKED,
        subject_ref=f"partner-client:{login.client_id}",
        purpose="partner-consent",
        context=actor.context,
        detail={"consent": login.id, "channel": "cowin-compatible"},
    )
