"""The Co-WIN compatible partner path: ``/api/v2/auth/generateOTP`` and ``confirmOTP``
with the partner app's ``x-api-key`` (Co-WIN's protected API of 2021).

The token they yield is a citizen token bound to the app (its ``via`` claim): the citizen
guard hands it to :func:`check_partner_session`, which refuses it once the citizen revoked
the consent (a :class:`PartnerLogin`) or the client is no longer active, counts it against
the client's quotas, and writes the partner's read on each of the account's beneficiaries
(the person's access log names the partner). Answers are those of the public OTP routes:
they never depend on whether the mobile is registered. There is no look-up by mobile.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from fastapi import Request
from sqlalchemy import select

from immunet.context import AppContext
from immunet.errors import Unauthenticated
from immunet.partners.misuse import count_partner_read
from immunet.partners.models import Partner, PartnerClient, PartnerLogin
from immunet.partners.scopes import ClientState
from immunet.partners.service import ClientView
from immunet.people import auth
from immunet.people.models import Beneficiary
from immunet.security.access import CitizenPrincipal, app_context, partner_session_checks
from immunet.security.audit import AuditAction, AuditChain, AuditEntry, RequestContext
from immunet.security.tokens import TokenAudience

# What a Co-WIN path token can do, as the citizen's consent list names it.
COWIN_SCOPES = ["beneficiaries.read", "appointment.write", "certificate.read"]
COWIN_SCOPE = "cowin-compatible"
# Co-WIN's protected routes a partner-bound token may call; every other citizen route
# (consents, access log, account deletion ...) is the citizen's own and refuses it.
PROTECTED_ROUTES = frozenset(
    {
        "/api/v2/appointment/beneficiaries",
        "/api/v2/appointment/schedule",
        "/api/v2/appointment/reschedule",
        "/api/v2/appointment/cancel",
        "/api/v2/appointment/appointmentslip/download",
        "/api/v2/registration/certificate/public/download",
    }
)


def otp_purpose(client_id: str) -> str:
    """An OTP sent for one partner app is confirmed only through that app (the OTP store
    keeps 32 characters of purpose: the client's digest, not its id, fits)."""
    return "partner-login:" + hashlib.sha256(client_id.encode("utf-8")).hexdigest()[:16]


async def request_otp(
    ctx: AppContext, client: ClientView, raw_mobile: str, *, context: RequestContext
) -> str:
    return await auth.request_otp(
        ctx,
        raw_mobile,
        context=context,
        purpose=otp_purpose(client.client_id),
        actor=f"partner:{client.client_id}",
    )


async def confirm_otp(
    ctx: AppContext, client: ClientView, txn_id: str, otp_sha256: str, *, context: RequestContext
) -> str:
    """A correct OTP → a citizen token bound to ``client`` and its consent record."""
    index, mobile = await auth.verify_otp(
        ctx,
        txn_id,
        otp_sha256,
        context=context,
        purpose=otp_purpose(client.client_id),
        actor=f"partner:{client.client_id}",
    )
    account_id = await auth.account_for_verified_mobile(ctx, index, mobile, context=context)
    lifetime = ctx.settings.citizen_token_seconds
    issued = await ctx.tokens.issue(
        TokenAudience.CITIZEN, account_id, lifetime_seconds=lifetime, via=client.client_id
    )
    now = ctx.clock.now()
    consent_id = secrets.token_hex(16)
    async with ctx.db.transaction() as session:
        session.add(
            PartnerLogin(
                id=consent_id,
                client_id=client.client_id,
                account_id=account_id,
                session_id=issued.session_id,
                created_at=now,
                expires_at=now + dt.timedelta(seconds=lifetime),
                revoked_at=None,
            )
        )
        await AuditChain.append(
            session,
            actor=f"citizen:{account_id}",
            action=AuditAction.PARTNER_CONSENT_GRANTED,
            subject_ref=f"partner-client:{client.client_id}",
            purpose="partner-consent",
            context=context,
            detail={"consent": consent_id, "channel": "cowin-compatible"},
        )
    return issued.token


async def _count(ctx: AppContext, client: PartnerClient) -> None:
    """The client's contracted quotas and misuse defences, as on /partner/v1."""
    await count_partner_read(
        ctx,
        client_id=client.client_id,
        reads_per_minute=client.reads_per_minute,
        reads_per_day=client.reads_per_day,
    )


async def check_partner_session(request: Request, principal: CitizenPrincipal) -> None:
    """Refuse a partner-bound citizen token whose consent or client is gone; count it;
    write the partner's access to each of the account's beneficiaries."""
    ctx = app_context(request)
    route = request.scope.get("route")
    if getattr(route, "path", None) not in PROTECTED_ROUTES:
        raise Unauthenticated()
    now = ctx.clock.now()
    async with ctx.db.reader() as session:
        row = (
            await session.execute(
                select(PartnerLogin, PartnerClient, Partner.name)
                .join(PartnerClient, PartnerClient.client_id == PartnerLogin.client_id)
                .join(Partner, Partner.id == PartnerClient.partner_id)
                .where(PartnerLogin.session_id == principal.session_id)
            )
        ).first()
    if row is None:
        raise Unauthenticated()
    login, client, partner_name = row[0], row[1], row[2]
    expires = login.expires_at.replace(tzinfo=login.expires_at.tzinfo or dt.UTC)
    if (
        login.client_id != principal.via
        or login.account_id != principal.account_id
        or login.revoked_at is not None
        or expires <= now
        or client.state != ClientState.ACTIVE.value
    ):
        raise Unauthenticated()
    await _count(ctx, client)
    async with ctx.db.transaction() as session:
        refs = (
            await session.execute(
                select(Beneficiary.reference_id).where(
                    Beneficiary.account_id == principal.account_id
                )
            )
        ).scalars()
        entries = [
            AuditEntry(
                actor=principal.actor,
                action=AuditAction.PARTNER_PERSON_READ,
                subject_ref=f"beneficiary:{ref}",
                purpose="partner-consent",
                context=principal.context,
                detail={
                    "channel": "partner",
                    "organisation": partner_name,
                    "scope": COWIN_SCOPE,
                    "consent": login.id,
                },
            )
            for ref in refs
        ]
        if entries:
            await AuditChain.append_many(session, entries)


partner_session_checks.append(check_partner_session)
