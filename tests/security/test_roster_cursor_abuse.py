"""The roster's ``after`` cursor is no oracle and no way around the roster's scope.

A cursor names an appointment of the session being paged; anything else (an unknown id,
an appointment of another session or another centre, with a page number) gets the same
400 and reveals and audits nothing. Oversized cursors are refused before any work.
"""

from __future__ import annotations

from sqlalchemy import func, select

from immunet.security.models import AuditEvent
from tests.factories.sessions import make_session
from tests.factories.vaccination import book, setup_day


async def _viewed(ctx) -> int:
    async with ctx.db.reader() as session:
        return int(
            (
                await session.execute(
                    select(func.count())
                    .select_from(AuditEvent)
                    .where(AuditEvent.action == "people:beneficiary:viewed")
                )
            ).scalar_one()
        )


async def test_a_cursor_outside_the_session_is_refused_alike_and_reveals_nothing(
    client, ctx, outbox
):
    day = await setup_day(ctx, client)
    mine = await book(client, outbox, day.session)
    other_day = await setup_day(ctx, client)  # another centre
    theirs = await book(client, outbox, other_day.session)
    same_centre = await make_session(ctx, center_id=day.center_id, days_ahead=0)
    next_door = await book(client, outbox, same_centre)
    base = f"/api/staff/sessions/{day.session.session_id}/roster"
    before = await _viewed(ctx)

    answers = []
    for query in (
        f"after={theirs.appointment_id}",  # another centre's appointment
        f"after={next_door.appointment_id}",  # another session of the own centre
        "after=00000000-0000-0000-0000-000000000000",  # no such appointment
        f"after={mine.appointment_id}&page=2",  # a cursor and a page number
    ):
        r = await client.get(f"{base}?{query}", headers=day.vaccinator.headers)
        assert r.status_code == 400, (query, r.text)
        answers.append(r.json())
        assert "Asha" not in r.text and theirs.reference_id not in r.text
    assert all(a == {"errorCode": "VACCIN0031", "error": answers[0]["error"]} for a in answers)
    assert await _viewed(ctx) == before  # nothing shown, nothing audited

    too_long = await client.get(f"{base}?after={'9' * 37}", headers=day.vaccinator.headers)
    assert too_long.status_code == 400
    assert await _viewed(ctx) == before


async def test_another_centres_vaccinator_cannot_page_with_a_valid_cursor(client, ctx, outbox):
    day = await setup_day(ctx, client)
    first = await book(client, outbox, day.session)
    await book(client, outbox, day.session)
    other = await setup_day(ctx, client)
    r = await client.get(
        f"/api/staff/sessions/{day.session.session_id}/roster?after={first.appointment_id}",
        headers=other.vaccinator.headers,
    )
    assert r.status_code == 404  # the session is not theirs: the same 404 as a missing one
    assert first.reference_id not in r.text
