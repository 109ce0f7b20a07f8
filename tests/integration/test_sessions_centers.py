"""Centres and sessions through the staff API, seen through Co-WIN's public availability API."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, update

from immunet.security.audit import AuditAction
from immunet.security.models import AuditEvent
from immunet.sessions.availability import invalidate_availability
from immunet.sessions.models import VaccinationSession
from immunet.sessions.rules import today_ist
from tests.factories.staff import make_staff

BBMP, CHENNAI = 294, 571  # Karnataka (16), Tamil Nadu (31)


def day(offset: int = 1) -> str:
    return (today_ist() + dt.timedelta(days=offset)).strftime("%d-%m-%Y")


def center_body(**changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "name": "PHC Shivajinagar",
        "address": "1 Infantry Road",
        "district_id": BBMP,
        "block_name": "Shivajinagar",
        "pincode": "560001",
        "lat": 12.9811,
        "long": 77.5942,
        "from": "09:00",
        "to": "17:00:00",
        "fee_type": "Paid",
        "vaccine_fees": [{"vaccine": "COVISHIELD", "fee": "780"}],
    }
    body.update(changes)
    return body


def session_body(center_id: int, **changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "center_id": center_id,
        "date": day(1),
        "vaccine": "COVISHIELD",
        "min_age_limit": 18,
        "max_age_limit": None,
        "capacity_dose1": 10,
        "capacity_dose2": 5,
        "slots": ["09:00AM-11:00AM", "11:00AM-01:00PM"],
        "fee": "780",
    }
    body.update(changes)
    return body


async def create_center(client, headers, **changes) -> int:
    response = await client.post("/api/staff/centers", json=center_body(**changes), headers=headers)
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"center_id"}
    return int(response.json()["center_id"])


async def publish(client, headers, center_id, **changes) -> str:
    response = await client.post(
        "/api/staff/sessions", json=session_body(center_id, **changes), headers=headers
    )
    assert response.status_code == 200, response.text
    return str(response.json()["session_id"])


async def test_publish_and_find_publicly(client, ctx):
    admin = await make_staff(ctx, "national_admin")
    center_id = await create_center(client, admin.headers)
    session_id = await publish(client, admin.headers, center_id)
    assert len(session_id) == 36 and session_id[14] == "4"

    found = await client.get(
        "/api/v2/appointment/sessions/public/findByPin",
        params={"pincode": "560001", "date": day(1)},
    )
    assert found.status_code == 200, found.text
    (entry,) = [s for s in found.json()["sessions"] if s["session_id"] == session_id]
    assert entry["center_id"] == center_id
    assert entry["pincode"] == 560001
    assert entry["state_name"] == "Karnataka"
    assert entry["district_name"] == "BBMP"
    assert (entry["lat"], entry["long"]) == (12, 77)
    assert (entry["from"], entry["to"]) == ("09:00:00", "17:00:00")
    assert entry["available_capacity"] == 15
    assert entry["available_capacity_dose1"] == 10
    assert entry["available_capacity_dose2"] == 5
    assert entry["fee"] == "780" and entry["fee_type"] == "Paid"
    assert entry["allow_all_age"] is True and "max_age_limit" not in entry
    assert entry["slots"] == ["09:00AM-11:00AM", "11:00AM-01:00PM"]
    assert found.headers["cache-control"] == "public, max-age=5"
    assert found.headers["etag"].startswith('"')

    by_district = await client.get(
        "/api/v2/appointment/sessions/public/findByDistrict",
        params={"district_id": str(BBMP), "date": day(1), "vaccine": "covishield"},
    )
    assert [s["session_id"] for s in by_district.json()["sessions"]] == [session_id]
    other_vaccine = await client.get(
        "/api/v2/appointment/sessions/public/findByDistrict",
        params={"district_id": str(BBMP), "date": day(1), "vaccine": "COVAXIN"},
    )
    assert other_vaccine.json() == {"sessions": []}
    other_day = await client.get(
        "/api/v2/appointment/sessions/public/findByPin",
        params={"pincode": "560001", "date": day(2)},
    )
    assert other_day.json() == {"sessions": []}

    for path, params in (
        ("calendarByPin", {"pincode": "560001"}),
        ("calendarByDistrict", {"district_id": str(BBMP)}),
    ):
        calendar = await client.get(
            f"/api/v2/appointment/sessions/public/{path}", params={**params, "date": day(0)}
        )
        assert calendar.status_code == 200
        (center,) = calendar.json()["centers"]
        assert center["vaccine_fees"] == [{"vaccine": "COVISHIELD", "fee": "780"}]
        (session,) = center["sessions"]
        assert session["session_id"] == session_id and "fee" not in session
        assert session["date"] == day(1)

    single = await client.get(
        "/api/v2/appointment/sessions/public/calendarByCenter",
        params={"center_id": str(center_id), "date": day(0)},
    )
    assert single.json()["centers"]["center_id"] == center_id
    assert [s["session_id"] for s in single.json()["centers"]["sessions"]] == [session_id]
    unknown = await client.get(
        "/api/v2/appointment/sessions/public/calendarByCenter",
        params={"center_id": "999999", "date": day(0)},
    )
    assert unknown.json() == {"centers": {}}
    # Seven days from the given date: a session eight days on is not in this week.
    late = await client.get(
        "/api/v2/appointment/sessions/public/calendarByPin",
        params={"pincode": "560001", "date": day(-6)},
    )
    assert late.json() == {"centers": []}

    nearby = await client.get(
        "/api/v2/appointment/centers/public/findByLatLong",
        params={"lat": "12.97", "long": "77.59"},
    )
    (near,) = nearby.json()["centers"]
    assert near["center_id"] == center_id and near["pincode"] == "560001"
    assert near["lat"] == "12.9811" and nearby.json()["ttl"] == 24
    far = await client.get(
        "/api/v2/appointment/centers/public/findByLatLong",
        params={"lat": "13.08", "long": "80.27"},  # Chennai, ~290 km away
    )
    assert far.json()["centers"] == []

    # A booking elsewhere changes the counters; its invalidation refreshes the answer.
    async with ctx.db.transaction() as session:
        await session.execute(
            update(VaccinationSession)
            .where(VaccinationSession.session_id == session_id)
            .values(booked_dose1=4)
        )
    await invalidate_availability(ctx, center_id)
    found = await client.get(
        "/api/v2/appointment/sessions/public/findByPin",
        params={"pincode": "560001", "date": day(1)},
    )
    (entry,) = found.json()["sessions"]
    assert entry["available_capacity_dose1"] == 6 and entry["available_capacity"] == 11

    async with ctx.db.reader() as session:
        actions = set((await session.execute(select(AuditEvent.action))).scalars())
    assert {str(AuditAction.CENTER_CREATED), str(AuditAction.SESSION_PUBLISHED)} <= actions


async def test_session_rules(client, ctx):
    admin = await make_staff(ctx, "national_admin")
    center_id = await create_center(client, admin.headers, fee_type="Free", vaccine_fees=[])
    cases = {
        "past": {"date": day(-1)},
        "too far": {"date": day(91)},
        "bad date": {"date": "2026-01-01"},
        "vaccine": {"vaccine": "NOSUCHVAX"},
        "slot": {"slots": ["9-11"]},
        "slot order": {"slots": ["11:00AM-09:00AM"]},
        "dup slots": {"slots": ["09:00AM-11:00AM", "09:00AM-11:00AM"]},
        "too many slots": {
            "slots": [f"{h:02d}:00AM-{h:02d}:30AM" for h in range(1, 13)] + ["01:00PM-02:00PM"]
        },
        "ages": {"min_age_limit": 45, "max_age_limit": 18},
        "no seats": {"capacity_dose1": 0, "capacity_dose2": 0},
        "huge": {"capacity_dose1": 10**9},
        "fee at a free centre": {"fee": "250"},
        "extra field": {"booked_dose1": 3},
    }
    for name, change in cases.items():
        response = await client.post(
            "/api/staff/sessions",
            json=session_body(center_id, **{"fee": 0, **change}),
            headers=admin.headers,
        )
        assert response.status_code == 400, (name, response.text)
        assert set(response.json()) == {"errorCode", "error"}
    assert await publish(
        client,
        admin.headers,
        center_id,
        fee=0,
        date=day(90),
        max_age_limit=44,
        capacity_precaution=3,
    )


async def test_center_rules(client, ctx):
    admin = await make_staff(ctx, "national_admin")
    for change in (
        {"pincode": "999999"},  # well-formed, but no such PIN code
        {"pincode": "56001"},
        {"from": "18:00", "to": "09:00"},
        {"from": "9am"},
        {"lat": 91},
        {"fee_type": "Cheap"},
        {"fee_type": "Free"},  # with a non-zero vaccine fee
        {"vaccine_fees": [{"vaccine": "NOSUCHVAX", "fee": "1"}]},
        {"center_id": 5},
    ):
        response = await client.post(
            "/api/staff/centers", json=center_body(**change), headers=admin.headers
        )
        assert response.status_code == 400, (change, response.text)
    missing = await client.post(
        "/api/staff/centers", json=center_body(district_id=99999), headers=admin.headers
    )
    assert missing.status_code == 404


async def test_jurisdiction_escapes(client, ctx):
    national = await make_staff(ctx, "national_admin")
    district_a = await make_staff(ctx, "district_admin", f"district:{BBMP}")
    state_ka = await make_staff(ctx, "state_admin", "state:16")
    center_b = await create_center(
        client, national.headers, district_id=CHENNAI, pincode="600001", lat=13.09, long=80.28
    )

    # District admin of A creates in A, not in B (B looks like a missing district).
    center_a = await create_center(client, district_a.headers)
    refused = await client.post(
        "/api/staff/centers",
        json=center_body(district_id=CHENNAI, pincode="600001"),
        headers=district_a.headers,
    )
    assert refused.status_code == 404
    assert (
        await client.post(
            "/api/staff/centers",
            json=center_body(district_id=CHENNAI, pincode="600001"),
            headers=state_ka.headers,
        )
    ).status_code == 404
    await create_center(client, state_ka.headers)

    # ...cannot see, read or change B's centre.
    listing = await client.get(
        "/api/staff/centers", params={"limit": 50}, headers=district_a.headers
    )
    ids = [c["center_id"] for c in listing.json()["centers"]]
    assert center_a in ids and center_b not in ids
    assert (
        await client.get(f"/api/staff/centers/{center_b}", headers=district_a.headers)
    ).status_code == 404
    patched = await client.patch(
        f"/api/staff/centers/{center_b}", json={"name": "Taken over"}, headers=district_a.headers
    )
    assert patched.status_code == 404
    assert (await client.get(f"/api/staff/centers/{center_b}", headers=national.headers)).json()[
        "name"
    ] == "PHC Shivajinagar"

    # Facility manager of A: own centre only.
    manager_a = await make_staff(ctx, "facility_manager", f"center:{center_a}")
    assert (
        await client.post(
            "/api/staff/sessions", json=session_body(center_b, fee=0), headers=manager_a.headers
        )
    ).status_code == 404
    own = await publish(client, manager_a.headers, center_a)
    assert (
        await client.post("/api/staff/centers", json=center_body(), headers=manager_a.headers)
    ).status_code == 403
    ok = await client.patch(
        f"/api/staff/centers/{center_a}", json={"to": "18:00"}, headers=manager_a.headers
    )
    assert ok.status_code == 200 and ok.json()["to"] == "18:00:00"
    assert (
        await client.patch(
            f"/api/staff/centers/{center_b}", json={"to": "18:00"}, headers=manager_a.headers
        )
    ).status_code == 404

    # Sessions of B are invisible and untouchable from A.
    session_b = await publish(client, national.headers, center_b, fee=780)
    seen = await client.get("/api/staff/sessions", headers=district_a.headers)
    assert [s["session_id"] for s in seen.json()["sessions"]] == [own]
    for call in (
        client.patch(
            f"/api/staff/sessions/{session_b}",
            json={"capacity_dose1": 1},
            headers=manager_a.headers,
        ),
        client.post(f"/api/staff/sessions/{session_b}/cancel", headers=district_a.headers),
    ):
        assert (await call).status_code == 404

    # A vaccinator of A reads its sessions but cannot publish or cancel.
    vaccinator = await make_staff(ctx, "vaccinator", f"center:{center_a}")
    assert (await client.get("/api/staff/sessions", headers=vaccinator.headers)).status_code == 200
    assert (
        await client.post(
            "/api/staff/sessions", json=session_body(center_a), headers=vaccinator.headers
        )
    ).status_code == 403
    assert (
        await client.post(f"/api/staff/sessions/{own}/cancel", headers=vaccinator.headers)
    ).status_code == 403


async def test_edit_refuses_capacity_below_booked(client, ctx):
    admin = await make_staff(ctx, "district_admin", f"district:{BBMP}")
    center_id = await create_center(client, admin.headers)
    session_id = await publish(client, admin.headers, center_id)
    async with ctx.db.transaction() as session:
        await session.execute(
            update(VaccinationSession)
            .where(VaccinationSession.session_id == session_id)
            .values(booked_dose1=3, booked_dose2=1)
        )
    url = f"/api/staff/sessions/{session_id}"
    below = await client.patch(url, json={"capacity_dose1": 2}, headers=admin.headers)
    assert below.status_code == 409 and below.json()["errorCode"] == "SESSION0410"
    below2 = await client.patch(url, json={"capacity_dose2": 0}, headers=admin.headers)
    assert below2.status_code == 409
    ok = await client.patch(
        url,
        json={"capacity_dose1": 3, "slots": ["10:00AM-12:00PM"], "max_age_limit": 60},
        headers=admin.headers,
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["capacity_dose1"] == 3 and ok.json()["booked_dose1"] == 3
    assert ok.json()["slots"] == ["10:00AM-12:00PM"] and ok.json()["max_age_limit"] == 60
    for bad in ({}, {"capacity_dose1": None}, {"center_id": 1}, {"min_age_limit": 70}):
        response = await client.patch(url, json=bad, headers=admin.headers)
        assert response.status_code == 400, (bad, response.text)

    found = await client.get(
        "/api/v2/appointment/sessions/public/findByPin",
        params={"pincode": "560001", "date": day(1)},
    )
    (entry,) = found.json()["sessions"]
    assert entry["available_capacity_dose1"] == 0 and entry["available_capacity_dose2"] == 4
    assert entry["max_age_limit"] == 60 and entry["allow_all_age"] is False


async def test_cancel_hides_session(client, ctx):
    admin = await make_staff(ctx, "state_admin", "state:16")
    center_id = await create_center(client, admin.headers)
    session_id = await publish(client, admin.headers, center_id)
    params = {"pincode": "560001", "date": day(1)}
    before = await client.get("/api/v2/appointment/sessions/public/findByPin", params=params)
    assert len(before.json()["sessions"]) == 1

    cancelled = await client.post(f"/api/staff/sessions/{session_id}/cancel", headers=admin.headers)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json() == {"session_id": session_id, "status": "cancelled", "notified": 0}
    after = await client.get("/api/v2/appointment/sessions/public/findByPin", params=params)
    assert after.json() == {"sessions": []}
    again = await client.post(f"/api/staff/sessions/{session_id}/cancel", headers=admin.headers)
    assert again.status_code == 409
    edit = await client.patch(
        f"/api/staff/sessions/{session_id}", json={"capacity_dose1": 20}, headers=admin.headers
    )
    assert edit.status_code == 409
    listed = await client.get(
        "/api/staff/sessions",
        params={"center_id": center_id, "date": day(1)},
        headers=admin.headers,
    )
    assert [s["status"] for s in listed.json()["sessions"]] == ["cancelled"]


async def test_staff_listing_pages(client, ctx):
    admin = await make_staff(ctx, "national_admin")
    ids = [await create_center(client, admin.headers, name=f"Centre {n}") for n in range(3)]
    first = await client.get("/api/staff/centers", params={"limit": 2}, headers=admin.headers)
    page = first.json()
    assert [c["center_id"] for c in page["centers"]] == ids[:2]
    second = await client.get(
        "/api/staff/centers",
        params={"limit": 2, "after": page["next_after"]},
        headers=admin.headers,
    )
    assert [c["center_id"] for c in second.json()["centers"]] == ids[2:]
    assert second.json()["next_after"] is None
    for bad in ({"limit": 51}, {"limit": 0}, {"limit": 10**12}, {"after": -1}):
        assert (
            await client.get("/api/staff/centers", params=bad, headers=admin.headers)
        ).status_code == 400
    assert (
        await client.get("/api/staff/sessions", params={"limit": 100000}, headers=admin.headers)
    ).status_code == 400
    assert (
        await client.get("/api/staff/sessions", params={"date": "tomorrow"}, headers=admin.headers)
    ).status_code == 400


CSV = """name,address,district_id,block_name,pincode,lat,long,from,to,fee_type,vaccine_fees
UPHC Frazer Town,2 Mosque Road,294,East,560005,13.0007,77.6161,09:00,17:00,Free,
Apollo Clinic,3 MG Road,294,East,560001,12.98,77.59,08:00,20:00,Paid,COVISHIELD:780;COVAXIN:1410
Bad Hours,4 Road,294,East,560001,12.98,77.59,20:00,08:00,Free,
Other District,5 Road,571,Central,600001,13.09,80.28,09:00,17:00,Free,
No Pin,6 Road,294,East,999999,12.98,77.59,09:00,17:00,Free,
"""


async def test_bulk_import(client, ctx):
    admin = await make_staff(ctx, "district_admin", f"district:{BBMP}")
    response = await client.post(
        "/api/staff/centers/import",
        content=CSV.encode(),
        headers={**admin.headers, "Content-Type": "text/csv"},
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["created"], report["rejected"]) == (2, 3)
    rows = {r["row"]: r for r in report["rows"]}
    assert rows[2]["ok"] and rows[3]["ok"] and rows[2]["center_id"]
    assert not rows[4]["ok"] and "from" in rows[4]["errors"][0]
    assert rows[5]["errors"] == ["district_id: no such district"]
    assert rows[6]["errors"] == ["pincode: not a known PIN code"]
    listing = await client.get("/api/staff/centers", headers=admin.headers)
    apollo = [c for c in listing.json()["centers"] if c["name"] == "Apollo Clinic"]
    assert apollo[0]["vaccine_fees"] == [
        {"vaccine": "COVAXIN", "fee": "1410"},
        {"vaccine": "COVISHIELD", "fee": "780"},
    ]

    as_json = await client.post(
        "/api/staff/centers/import", json={"csv": CSV}, headers=admin.headers
    )
    assert as_json.status_code == 200 and as_json.json()["created"] == 2
    for content, media in (
        (b"name,oops\nx,y\n", "text/csv"),
        (b"", "text/csv"),
        (CSV.encode(), "text/plain"),
        (b'{"csv": "a", "more": 1}', "application/json"),
    ):
        bad = await client.post(
            "/api/staff/centers/import",
            content=content,
            headers={**admin.headers, "Content-Type": media},
        )
        assert bad.status_code in (400, 415), (content, bad.text)
    manager = await make_staff(ctx, "facility_manager", f"center:{rows[2]['center_id']}")
    forbidden = await client.post(
        "/api/staff/centers/import", json={"csv": CSV}, headers=manager.headers
    )
    assert forbidden.status_code == 403


@pytest.mark.parametrize("role", ["national_admin", "district_admin"])
async def test_cancel_notifies_through_hooks(client, ctx, outbox, role, monkeypatch):
    """A hook registered by booking is called inside the transaction; SMS go after commit."""
    from immunet.sessions import service

    seen: list[str] = []

    async def hook(_ctx, session, row):
        seen.append(row.status)
        return [("9999900001", {"appointment_id": "A-1"})]

    monkeypatch.setattr(service, "SESSION_CANCEL_HOOKS", [*service.SESSION_CANCEL_HOOKS, hook])
    admin = await make_staff(
        ctx, role, "national" if role == "national_admin" else f"district:{BBMP}"
    )
    center_id = await create_center(client, admin.headers)
    session_id = await publish(client, admin.headers, center_id)
    response = await client.post(f"/api/staff/sessions/{session_id}/cancel", headers=admin.headers)
    assert response.json()["notified"] == 1
    assert seen == ["cancelled"]
    (sms,) = [m for m in outbox.messages() if m["template"] == "session_cancelled"]
    assert sms["to"] == "9999900001" and "A-1" in sms["text"] and day(1) in sms["text"]
