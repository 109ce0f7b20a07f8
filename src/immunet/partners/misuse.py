"""The partner misuse defences: contracted quotas, suspension and alerts for national admins.

A partner reads only the people who consented to it, so its reads have a natural ceiling:
a few per consenting person a day (an app refreshing a citizen's record). Two patterns no
consenting population produces suspend the client at once and raise an alert, like the
staff misuse defences do for staff users:

- repeated quota breaches: a client that keeps calling past its contract after 429s is a
  scraper, whatever its consents say (``quota-breaches``);
- reads far above its consents: more than ``READS_PER_CONSENT_PER_DAY`` reads a day per
  consent it holds, judged once it has made ``JUDGE_FROM_READS`` reads that day
  (``reads-above-consents``).

Alerts hold counts only. Both routes for partners (``/partner/v1`` and the Co-WIN
compatible path) count their reads here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from immunet.context import AppContext
from immunet.errors import NotFound, TooManyRequests
from immunet.partners.models import PartnerAlert, PartnerGrant, PartnerLogin
from immunet.partners.service import MisuseAlert, suspend_client
from immunet.security.audit import AuditAction, AuditChain
from immunet.security.ratelimit import Limit
from immunet.staff.principal import OperatorPrincipal, StaffPrincipal

DAY = 24 * 3600
# Refusals by quota a client may collect in an hour before it is suspended.
BREACHES_PER_HOUR = 20
# Reads a day per consent held that a real app's users produce, with room to spare.
READS_PER_CONSENT_PER_DAY = 50
# The day's reads before the ratio is judged (a new app with its first users is not judged
# on ten reads), and how often it is judged after that (one small query per this many).
JUDGE_FROM_READS = 200
JUDGE_EVERY_READS = 100
ALERTS_PAGE_MAX = 50
MISUSE_DEFENCE = OperatorPrincipal("misuse-defence")


class PartnerAlertNotFound(NotFound):
    error_code = "PARTNER0416"
    message = "No such partner alert."


@dataclass(frozen=True)
class PartnerAlertView:
    id: int
    client_id: str
    kind: str
    severity: str
    created_at: dt.datetime
    detail: dict[str, Any]
    acknowledged_by: str | None
    acknowledged_at: dt.datetime | None


async def count_partner_read(
    ctx: AppContext, *, client_id: str, reads_per_minute: int, reads_per_day: int
) -> None:
    """Count one person read against the client's quotas (R-VOL-1); 429 past them.

    Each refusal is itself counted, and past ``BREACHES_PER_HOUR`` the client is
    suspended with an alert. Every ``JUDGE_EVERY_READS`` reads of the day the reads are
    compared with the consents the client holds."""
    try:
        await ctx.limiter.hit(Limit("partner-reads-minute", reads_per_minute, 60), client_id)
        today = await ctx.limiter.hit(Limit("partner-reads-day", reads_per_day, DAY), client_id)
    except TooManyRequests:
        try:
            await ctx.limiter.hit(
                Limit("partner-quota-breaches", BREACHES_PER_HOUR, 3600), client_id
            )
        except TooManyRequests:
            await suspend_client(
                ctx,
                client_id=client_id,
                actor=MISUSE_DEFENCE,
                reason="quota-breaches",
                alert=MisuseAlert(
                    "quota-breaches", "critical", {"refusalsInAnHour": BREACHES_PER_HOUR}
                ),
            )
        raise
    if today >= JUDGE_FROM_READS and today % JUDGE_EVERY_READS == 0:
        await _judge_reads_against_consents(ctx, client_id, today)


async def active_consents(ctx: AppContext, client_id: str) -> int:
    """Consents the client holds now: its grants and its Co-WIN compatible logins."""
    now = ctx.clock.now()
    async with ctx.db.reader() as session:
        grants = await session.scalar(
            select(func.count())
            .select_from(PartnerGrant)
            .where(
                PartnerGrant.client_id == client_id,
                PartnerGrant.revoked_at.is_(None),
                PartnerGrant.expires_at > now,
            )
        )
        logins = await session.scalar(
            select(func.count())
            .select_from(PartnerLogin)
            .where(
                PartnerLogin.client_id == client_id,
                PartnerLogin.revoked_at.is_(None),
                PartnerLogin.expires_at > now,
            )
        )
    return int(grants or 0) + int(logins or 0)


async def _judge_reads_against_consents(ctx: AppContext, client_id: str, today: int) -> None:
    consents = await active_consents(ctx, client_id)
    if today <= READS_PER_CONSENT_PER_DAY * consents:
        return
    await suspend_client(
        ctx,
        client_id=client_id,
        actor=MISUSE_DEFENCE,
        reason="reads-above-consents",
        alert=MisuseAlert(
            "reads-above-consents",
            "critical",
            {
                "readsToday": today,
                "activeConsents": consents,
                "readsPerConsentPerDay": READS_PER_CONSENT_PER_DAY,
            },
        ),
    )


def _view(alert: PartnerAlert) -> PartnerAlertView:
    return PartnerAlertView(
        id=alert.id,
        client_id=alert.client_id,
        kind=alert.kind,
        severity=alert.severity,
        created_at=alert.created_at,
        detail=dict(alert.detail),
        acknowledged_by=alert.acknowledged_by,
        acknowledged_at=alert.acknowledged_at,
    )


async def list_partner_alerts(
    ctx: AppContext,
    *,
    limit: int = ALERTS_PAGE_MAX,
    before: int | None = None,
    open_only: bool = False,
) -> tuple[list[PartnerAlertView], int | None]:
    """Newest first; ``before`` is the cursor (an alert id). Returns the page and next cursor."""
    limit = max(1, min(limit, ALERTS_PAGE_MAX))
    stmt = select(PartnerAlert).order_by(PartnerAlert.id.desc())
    if before is not None:
        stmt = stmt.where(PartnerAlert.id < before)
    if open_only:
        stmt = stmt.where(PartnerAlert.acknowledged_at.is_(None))
    async with ctx.db.reader() as session:
        rows = list((await session.execute(stmt.limit(limit + 1))).scalars())
    page = rows[:limit]
    next_cursor = page[-1].id if len(rows) > limit else None
    return [_view(a) for a in page], next_cursor


async def acknowledge_partner_alert(
    ctx: AppContext, alert_id: int, *, actor: StaffPrincipal | OperatorPrincipal
) -> PartnerAlertView:
    """Mark an alert seen (audited once; acknowledging again changes nothing)."""
    async with ctx.db.transaction() as session:
        alert = (
            await session.execute(
                select(PartnerAlert).where(PartnerAlert.id == alert_id).with_for_update()
            )
        ).scalar_one_or_none()
        if alert is None:
            raise PartnerAlertNotFound()
        if alert.acknowledged_at is None:
            alert.acknowledged_at = ctx.clock.now()
            alert.acknowledged_by = actor.actor
            await session.flush()
            await AuditChain.append(
                session,
                actor=actor.actor,
                action=AuditAction.PARTNER_ALERT_ACKNOWLEDGED,
                subject_ref=f"partner-client:{alert.client_id}",
                purpose="misuse-review",
                context=actor.context,
                detail={"alert": alert.id, "kind": alert.kind},
            )
        return _view(alert)
