"""A drawn reference ID that is already taken: the registration runs again with a new one.

Registration no longer looks the drawn ID up first (one statement less on every
registration); the unique index refuses the collision and the whole transaction is tried
again. On SQLite and PostgreSQL.
"""

from __future__ import annotations

from sqlalchemy import func, select

from immunet.people import service
from immunet.people.models import Beneficiary
from immunet.security.models import AuditEvent
from tests.conftest import bearer, login
from tests.factories import aadhaar, adult
from tests.factories.vaccination import next_mobile


async def _count(ctx, model, *where):
    async with ctx.db.reader() as session:
        stmt = select(func.count()).select_from(model).where(*where)
        return int((await session.execute(stmt)).scalar_one())


async def test_a_taken_reference_id_is_drawn_again(client, ctx, outbox, monkeypatch):
    token = await login(client, outbox, next_mobile())
    first = await client.post(
        "/api/v2/registration/beneficiary/new",
        json=adult("Asha Kumari", birth_year="1985", id_number=aadhaar(8101)),
        headers=bearer(token),
    )
    assert first.status_code == 200, first.text
    taken = first.json()["beneficiary_reference_id"]
    draws = iter([taken, taken, "12345678901234"])
    monkeypatch.setattr(service, "new_reference_id", lambda: next(draws))

    other = await login(client, outbox, next_mobile())
    second = await client.post(
        "/api/v2/registration/beneficiary/new",
        json=adult("Ravi Kumar", birth_year="1990", id_number=aadhaar(8102)),
        headers=bearer(other),
    )
    assert second.status_code == 200, second.text
    assert second.json()["beneficiary_reference_id"] == "12345678901234"
    assert await _count(ctx, Beneficiary) == 2
    # The rolled-back tries left nothing behind: one registration audited per person.
    registered = AuditEvent.action == "people:beneficiary:registered"
    assert await _count(ctx, AuditEvent, registered) == 2


async def test_three_taken_draws_are_an_error_not_a_duplicate(client, ctx, outbox, monkeypatch):
    token = await login(client, outbox, next_mobile())
    first = await client.post(
        "/api/v2/registration/beneficiary/new",
        json=adult("Asha Kumari", birth_year="1985", id_number=aadhaar(8103)),
        headers=bearer(token),
    )
    taken = first.json()["beneficiary_reference_id"]
    monkeypatch.setattr(service, "new_reference_id", lambda: taken)
    other = await login(client, outbox, next_mobile())
    second = await client.post(
        "/api/v2/registration/beneficiary/new",
        json=adult("Ravi Kumar", birth_year="1990", id_number=aadhaar(8104)),
        headers=bearer(other),
    )
    assert second.status_code == 500
    assert set(second.json()) == {"errorCode", "error"}
    assert await _count(ctx, Beneficiary) == 1
