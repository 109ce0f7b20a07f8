"""``appointment.write`` on /partner/v1: schedule, reschedule and cancel for the granted
person through the booking service (seats move, the citizen sees the appointment), and
refusals for another person of the same account, another scope, and a revoked grant."""

from __future__ import annotations

from immunet.partners import service
from immunet.staff.principal import OPERATOR_CLI
from tests.conftest import bearer, login
from tests.factories import adult
from tests.factories.sessions import make_session, seats
from tests.integration.test_partner_oauth import MOBILE, _citizen_with_beneficiary
from tests.integration.test_partner_resources import _tokens

SLOT = "09:00AM-11:00AM"


async def _write(client, oc, token, path, body, *, key=None):
    return await client.post(
        path,
        json=body,
        headers={
            "Authorization": f"DPoP {token}",
            "DPoP": oc.dpop("POST", path, access_token=token, key=key),
        },
    )


async def test_partner_books_moves_and_cancels_for_the_granted_person(
    client, ctx, clock, outbox, settings
):
    granted = await _citizen_with_beneficiary(client, outbox)
    citizen = await login(client, outbox, MOBILE)
    sibling = await client.post(
        "/api/v2/registration/beneficiary/new", json=adult("Ravi Kumari"), headers=bearer(citizen)
    )
    assert sibling.status_code == 200, sibling.text
    other = sibling.json()["beneficiary_reference_id"]
    oc, token = await _tokens(
        client, ctx, clock, outbox, settings, granted, scope="appointment.write"
    )
    first = await make_session(ctx, capacity_dose1=2)
    second = await make_session(ctx, days_ahead=2, capacity_dose1=2)

    def booking(refs):
        return {"dose": 1, "session_id": first.session_id, "slot": SLOT, "beneficiaries": refs}

    # Another person of the same account, or both: 403, nothing booked.
    for refs in ([other], [granted, other]):
        refused = await _write(client, oc, token, "/partner/v1/appointment/schedule", booking(refs))
        assert refused.status_code == 403 and refused.json()["errorCode"] == "PARTNER0403"
    assert await seats(ctx, first.session_id) == (0, 0, 0)

    booked = await _write(client, oc, token, "/partner/v1/appointment/schedule", booking([granted]))
    assert booked.status_code == 200, booked.text
    appointment = booked.json()["appointment_confirmation_no"]
    assert await seats(ctx, first.session_id) == (1, 0, 0)
    listing = await client.get("/api/v2/appointment/beneficiaries", headers=bearer(citizen))
    mine = {b["beneficiary_reference_id"]: b for b in listing.json()["beneficiaries"]}
    assert mine[granted]["appointments"][0]["appointment_id"] == appointment

    moved = await _write(
        client,
        oc,
        token,
        "/partner/v1/appointment/reschedule",
        {"appointment_id": appointment, "session_id": second.session_id, "slot": SLOT},
    )
    assert moved.status_code == 204, moved.text
    assert await seats(ctx, second.session_id) == (1, 0, 0)

    # The sibling's own appointment (booked by the citizen) is out of the partner's reach.
    own = await client.post(
        "/api/v2/appointment/schedule",
        json={**booking([other]), "session_id": first.session_id},
        headers=bearer(citizen),
    )
    assert own.status_code == 200, own.text
    theirs = own.json()["appointment_confirmation_no"]
    for path, body in (
        (
            "/partner/v1/appointment/cancel",
            {"appointment_id": theirs, "beneficiariesToCancel": [granted]},
        ),
        (
            "/partner/v1/appointment/cancel",
            {"appointment_id": theirs, "beneficiariesToCancel": [other]},
        ),
        (
            "/partner/v1/appointment/reschedule",
            {"appointment_id": theirs, "session_id": second.session_id, "slot": SLOT},
        ),
    ):
        response = await _write(client, oc, token, path, body)
        assert response.status_code == 403, (path, response.text)
    assert await seats(ctx, first.session_id) == (1, 0, 0)

    cancelled = await _write(
        client,
        oc,
        token,
        "/partner/v1/appointment/cancel",
        {"appointment_id": appointment, "beneficiariesToCancel": [granted]},
    )
    assert cancelled.status_code == 204, cancelled.text
    assert await seats(ctx, second.session_id) == (0, 0, 0)

    # The citizen's access log names the partner for the booking.
    log = (await client.get("/api/v2/me/access-log", headers=bearer(citizen))).json()
    assert any(
        e["who"] == {"organisation": "Health App", "role": "partner"} for e in log["entries"]
    ), log

    # Suspension stops the token on its next write.
    await service.suspend_client(ctx, client_id=oc.partner.client_id, actor=OPERATOR_CLI)
    again = await _write(client, oc, token, "/partner/v1/appointment/schedule", booking([granted]))
    assert again.status_code == 401


async def test_a_read_scope_cannot_book(client, ctx, clock, outbox, settings):
    granted = await _citizen_with_beneficiary(client, outbox)
    oc, token = await _tokens(
        client, ctx, clock, outbox, settings, granted, scope="immunization.read"
    )
    first = await make_session(ctx, capacity_dose1=2)
    body = {"dose": 1, "session_id": first.session_id, "slot": SLOT, "beneficiaries": [granted]}
    refused = await _write(client, oc, token, "/partner/v1/appointment/schedule", body)
    assert refused.status_code == 403
    assert await seats(ctx, first.session_id) == (0, 0, 0)
