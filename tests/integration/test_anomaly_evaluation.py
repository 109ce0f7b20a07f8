"""The heavier anomaly rules (``immunet alerts evaluate``) over a day of audit entries:
one vaccinator reading far more people than peers, none of them ever checked in."""

from __future__ import annotations

from sqlalchemy import select

from immunet.oversight.models import StaffAlert
from immunet.security.audit import AuditAction, AuditChain
from immunet.staff.misuse import evaluate_anomalies
from tests.conftest import login, register
from tests.factories import aadhaar, adult
from tests.factories.sessions import make_center
from tests.factories.staff import make_staff


async def _views(ctx, actor: str, refs: list[str]) -> None:
    async with ctx.db.transaction() as session:
        for ref in refs:
            await AuditChain.append(
                session,
                actor=actor,
                action=AuditAction.BENEFICIARY_VIEWED,
                subject_ref=f"beneficiary:{ref}",
                purpose="walk-in-lookup",
                detail={"channel": "otp-verified", "role": "vaccinator"},
                at=ctx.clock.now(),  # the instant the rules read, as the chokepoint stamps
            )


async def test_scraping_vaccinator_is_flagged_and_peers_are_not(client, outbox, ctx):
    center = await make_center(ctx)
    scraper = await make_staff(ctx, "vaccinator", f"center:{center}")
    peers = [await make_staff(ctx, "vaccinator", f"center:{center}") for _ in range(3)]
    refs = []
    for account in range(2):  # 12 people: more than the rule's minimum of 10
        token = await login(client, outbox, f"982221110{account}")
        for n in range(6):
            body = adult(f"Person {chr(65 + n)}", id_number=aadhaar(900 + 10 * account + n))
            response = await register(client, token, body)
            refs.append(response.json()["beneficiary_reference_id"])

    # The scraper reads twelve people, none ever checked in, again and again; peers read one.
    await _views(ctx, f"staff:{scraper.user_id}", refs * 5)
    for peer in peers:
        await _views(ctx, f"staff:{peer.user_id}", refs[:1])

    raised = await evaluate_anomalies(ctx)
    flagged = {a.staff_user_id for a in raised}
    assert flagged == {scraper.user_id}
    kinds = {a.kind for a in raised}
    assert "anomaly.volume-peers" in kinds
    assert "anomaly.never-checked-in" in kinds

    # Running again within the dedupe window raises nothing new.
    assert await evaluate_anomalies(ctx) == []
    async with ctx.db.reader() as session:
        stored = (await session.execute(select(StaffAlert))).scalars().all()
    assert {a.staff_user_id for a in stored} == {scraper.user_id}
    # Alerts carry no personal data: counts and kinds only.
    for alert in stored:
        assert not any(ref in str(alert.detail) for ref in refs)
