"""Routine-immunization sessions planned from the due list (decision 0021), SQLite and PG."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from immunet.booking.models import Appointment
from immunet.clock import india_today
from immunet.outbox.models import OutboxMessage
from immunet.people.identifiers import normalize_mobile
from immunet.security.audit import AuditAction
from immunet.security.models import AuditEvent
from immunet.vaccination.models import RoutineSessionSite
from tests.conftest import bearer
from tests.factories.uip import ddmmyyyy, register_family, routine_dose, setup_routine_day

PLAN = "/api/staff/routine-sessions"


def plan(day: dt.date, groups: list[str], **extra: object) -> dict[str, object]:
    body: dict[str, object] = {
        "date": ddmmyyyy(day),
        "due_to": ddmmyyyy(day + dt.timedelta(days=6)),
        "vaccine_groups": groups,
        "site_kind": "outreach",
        "site_name": "Anganwadi ward 4",
        "site_location": "Rampur village",
        "capacity": 10,
        "slots": ["09:00AM-11:00AM"],
    }
    body.update(extra)
    return body


def invitations(outbox, mobile: str) -> list[dict]:
    to = normalize_mobile(mobile)
    return [
        m
        for m in outbox.messages()
        if m["template"].startswith("routine_invitation_") and m["to"] == to
    ]


async def _audited(ctx, purpose: str) -> list[str]:
    async with ctx.db.reader() as session:
        return list(
            (
                await session.execute(
                    select(AuditEvent.subject_ref).where(
                        AuditEvent.action == AuditAction.BENEFICIARY_VIEWED,
                        AuditEvent.purpose == purpose,
                    )
                )
            ).scalars()
        )


async def test_a_routine_session_invites_the_catchment_due_then(client, outbox, ctx, clock):
    today = india_today(clock.now())
    day = await setup_routine_day(ctx, client)
    other = await setup_routine_day(ctx, client)
    six_weeks = await register_family(
        client, outbox, today - dt.timedelta(weeks=6), center_id=day.center_id
    )
    quiet = await register_family(
        client, outbox, today - dt.timedelta(weeks=6), center_id=day.center_id
    )
    # Two weeks old: the 6-week doses are due in four weeks, outside the session's window.
    young = await register_family(
        client, outbox, today - dt.timedelta(weeks=2), center_id=day.center_id
    )
    elsewhere = await register_family(
        client, outbox, today - dt.timedelta(weeks=6), center_id=other.center_id
    )
    for family, settings in (
        (six_weeks, {"language": "hi", "opt_out": False}),
        (quiet, {"language": "en", "opt_out": True}),
    ):
        response = await client.post(
            "/api/v2/me/reminders", json=settings, headers=bearer(family.token)
        )
        assert response.status_code == 200, response.text

    response = await client.post(
        PLAN, json=plan(today, ["Pentavalent", "Rotavirus"]), headers=day.manager.headers
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["invited"] == 2 and body["already_invited"] == 0
    assert body["more_due"] is False and body["sms_queued"] == 1
    assert body["site_kind"] == "outreach" and body["site_location"] == "Rampur village"
    assert body["due_to"] == ddmmyyyy(today + dt.timedelta(days=6))
    session_id = body["session_id"]
    await ctx.drain_outbox()

    # One SMS, in Hindi, to the guardian who did not opt out; none to anyone else.
    (sms,) = invitations(outbox, six_weeks.mobile)
    assert sms["template"] == "routine_invitation_hi"
    assert "Rampur village" in sms["text"] and six_weeks.child_ref[-4:] in sms["text"]
    assert invitations(outbox, quiet.mobile) == []
    assert invitations(outbox, young.mobile) == []
    assert invitations(outbox, elsewhere.mobile) == []

    # The invited are the session's roster, masked like any roster.
    roster = await client.get(
        f"/api/staff/sessions/{session_id}/roster", headers=day.vaccinator.headers
    )
    assert roster.status_code == 200, roster.text
    lines = {a["beneficiary_reference_id"]: a for a in roster.json()["appointments"]}
    assert set(lines) == {six_weeks.child_ref, quiet.child_ref}
    assert all(a["status"] == "booked" for a in lines.values())
    # The other facility's staff do not see the session.
    theirs = await client.get(
        f"/api/staff/sessions/{session_id}/roster", headers=other.vaccinator.headers
    )
    assert theirs.status_code == 404

    # Check-in with the code of the SMS, and the routine dose on the invitation.
    code = sms["text"].split("कोड ")[1][:4]
    appointment_id = lines[six_weeks.child_ref]["appointment_id"]
    checked = await client.post(
        f"/api/staff/appointments/{appointment_id}/check-in",
        json={"code": code},
        headers=day.vaccinator.headers,
    )
    assert checked.status_code == 200, checked.text
    dose = await client.post(
        "/api/staff/doses",
        json={
            **routine_dose(six_weeks.child_ref, "PENTA", day.lots["PENTA"]),
            "appointment_id": appointment_id,
        },
        headers={**day.vaccinator.headers, "Idempotency-Key": "routine-session-penta"},
    )
    assert dose.status_code == 201, dose.text
    assert dose.json()["evaluation"]["status"] == "Valid"

    # Each invitee is one audited read; the plan is one audit entry.
    assert sorted(await _audited(ctx, "routine-session")) == sorted(
        f"beneficiary:{ref}" for ref in (six_weeks.child_ref, quiet.child_ref)
    )
    async with ctx.db.reader() as session:
        planned = (
            await session.execute(
                select(AuditEvent.subject_ref).where(
                    AuditEvent.action == AuditAction.ROUTINE_SESSION_PLANNED
                )
            )
        ).scalars()
        assert list(planned) == [f"session:{session_id}"]
        site = await session.get(RoutineSessionSite, session_id)
        assert site is not None and site.invited == 2 and site.site_name == "Anganwadi ward 4"

    # Planned again: the one holding a live invitation is not invited twice, the one who
    # got pentavalent is no longer due for it; no second SMS to anyone.
    again = await client.post(
        PLAN,
        json=plan(today, ["Pentavalent"], site_kind="fixed", site_name=None, site_location=None),
        headers=day.manager.headers,
    )
    assert again.status_code == 201, again.text
    assert again.json()["invited"] == 0 and again.json()["already_invited"] == 1
    await ctx.drain_outbox()
    assert len(invitations(outbox, six_weeks.mobile)) == 1
    async with ctx.db.reader() as session:
        keys = list(
            (
                await session.execute(
                    select(OutboxMessage.dedup_key).where(
                        OutboxMessage.template.like("routine_invitation_%")
                    )
                )
            ).scalars()
        )
    assert len(keys) == len(set(keys)) == 1


async def test_capacity_and_lapsed_invitations(client, outbox, ctx, clock):
    today = india_today(clock.now())
    day = await setup_routine_day(ctx, client)
    families = [
        await register_family(
            client, outbox, today - dt.timedelta(weeks=6), center_id=day.center_id
        )
        for _ in range(3)
    ]
    first = await client.post(
        PLAN, json=plan(today, ["Rotavirus"], capacity=2), headers=day.manager.headers
    )
    assert first.status_code == 201, first.text
    assert first.json()["invited"] == 2 and first.json()["more_due"] is True
    await ctx.drain_outbox()
    assert sum(len(invitations(outbox, f.mobile)) for f in families) == 2

    # Nobody came; a week later the unused invitations to the past session lapse and
    # everyone still due is invited to the new one.
    clock.advance(dt.timedelta(days=7))
    later = india_today(clock.now())
    second = await client.post(
        PLAN, json=plan(later, ["Rotavirus"], capacity=5), headers=day.manager.headers
    )
    assert second.status_code == 201, second.text
    assert second.json()["invited"] == 3 and second.json()["already_invited"] == 0
    async with ctx.db.reader() as session:
        statuses = sorted(
            (
                await session.execute(
                    select(Appointment.session_id, Appointment.status).where(
                        Appointment.session_id.in_(
                            [first.json()["session_id"], second.json()["session_id"]]
                        )
                    )
                )
            ).all()
        )
    old = [s for sid, s in statuses if sid == first.json()["session_id"]]
    new = [s for sid, s in statuses if sid == second.json()["session_id"]]
    assert old == ["cancelled", "cancelled"] and new == ["booked"] * 3
    await ctx.drain_outbox()
    assert sum(len(invitations(outbox, f.mobile)) for f in families) == 5


async def test_routine_session_refusals_change_nothing(client, ctx, clock):
    today = india_today(clock.now())
    day = await setup_routine_day(ctx, client)
    bad = [
        plan(today - dt.timedelta(days=1), ["OPV"]),
        plan(today, ["Smallpox"]),
        plan(today, ["JE"]),  # regional: not run in this district
        plan(today, ["OPV"], due_to=ddmmyyyy(today - dt.timedelta(days=1))),
        plan(today, ["OPV"], due_to=ddmmyyyy(today + dt.timedelta(days=93))),
        plan(today, ["OPV"], site_name=None),
        plan(today, ["OPV"], site_kind="fixed"),
        plan(today, ["OPV"], site_kind="mobile"),
        plan(today, ["OPV"], capacity=0),
        plan(today, ["OPV"], capacity=201),
        plan(today, ["OPV", "OPV"]),
        plan(today, []),
        plan(today, ["OPV"] + [f"G{i}" for i in range(16)]),
        plan(today, ["OPV"], site_name="x" * 81),
        plan(today, ["OPV"], site_location="<script>"),
        plan(today, ["OPV"], slots=["whenever"]),
        plan(today, ["OPV"], date="2026-12-05"),
        plan(today, ["OPV"], center_id=day.center_id),
    ]
    for body in bad:
        response = await client.post(PLAN, json=body, headers=day.manager.headers)
        assert response.status_code == 400, (body, response.text)
        assert set(response.json()) == {"errorCode", "error"}
    async with ctx.db.reader() as session:
        assert list((await session.execute(select(RoutineSessionSite))).scalars()) == []
