"""SQL statements per request on the hot paths, counted and held to a budget.

Wall-clock figures on a shared machine are noise; the number of statements a request
sends is not. Each budget is today's count: a change that adds a statement to a hot path
fails here and has to raise the budget on purpose (NetBox-style query-count baselines).
The counter is SQLAlchemy's own ``before_cursor_execute`` event on the engine every
request uses, so it sees every statement, ORM or Core, including BEGIN-less autoflushes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event

from immunet.context import AppContext
from tests.conftest import bearer, sha
from tests.factories import aadhaar, adult
from tests.factories.vaccination import SLOT, book, next_mobile, secret_codes, setup_day


@dataclass
class Counter:
    statements: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.statements)


@contextmanager
def counting(ctx: AppContext) -> Iterator[Counter]:
    counter = Counter()

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        # SQLite's connection set-up PRAGMAs and BEGIN IMMEDIATE are the driver's, not
        # the request's statements; they do not exist on PostgreSQL.
        if statement.startswith(("PRAGMA", "BEGIN")):
            return
        # The test client drains the SMS outbox after each request (a worker's job in
        # production, after the answer): its claim and mark UPDATEs are not the request's.
        # The request's own INSERT into the outbox is counted.
        if statement.startswith("UPDATE sms_outbox"):
            return
        # The database counter store sweeps expired counters on 1% of increments (at
        # random): housekeeping, not the request's cost, and it made counts flaky.
        if statement.startswith("DELETE FROM rate_counters"):
            return
        counter.statements.append(" ".join(statement.split())[:90])

    engine = ctx.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", before)
    try:
        yield counter
    finally:
        event.remove(engine, "before_cursor_execute", before)


def report(name: str, counter: Counter) -> str:
    return f"{name}: {counter.count} statements: {counter.statements}"


# Statements per request, without Redis (rate counters and OTP state then live in the
# database too, so these are upper bounds of what production sends). Lower a budget when a
# change removes statements; raising one needs a reason in the commit message.
BATCH_FLUSH = 1
BUDGETS = {
    "sqlite": {
        "generate_otp": 10,  # was 9: the OTP's SMS is queued in the outbox, in the transaction
        "confirm_otp": 10,  # was 11: a new account's INSERT ... RETURNING, no re-read
        # was 11: account lock and count in one statement; no reference-ID look-up (the
        # unique index refuses a collision and the registration is drawn again)
        "registration": 9,
        # was 14: session+centre, beneficiaries+mobile joined, no live-dose SELECT (10); +1 the
        # confirmation SMS queued in the outbox, in the booking's transaction
        "booking": 11,
        # was 22: the staff user's state (active, frozen, centre hours) read once per
        # transaction in one statement; both wrong-code windows in one read; appointment
        # and session joined; the person and the roster relation in one statement; the
        # two audit leaves in one batch
        "check_in": 12,
        # was 44 (41 once the signing keys exist): as check-in, plus vaccine and dose rules
        # from the reference cache; the person's row locked once (the certificate reuses
        # the lock); the certificate's, the read's and the dose's leaves in one batch
        "dose": 25,
        "calendar_miss": 1,
        "calendar_hit": 0,  # was 1: the per-address count is batched per worker
    },
    "postgresql": {
        "generate_otp": 11,  # + the outbox INSERT and its NOTIFY to listening workers
        "confirm_otp": 10,
        "registration": 10,
        "booking": 11,
        "check_in": 12,
        "dose": 25,
        "calendar_miss": 1,
        "calendar_hit": 0,
    },
}


async def test_hot_paths_stay_within_their_statement_budgets(client, ctx, outbox):
    budget = BUDGETS[ctx.db.dialect]
    seen: dict[str, Counter] = {}
    day = await setup_day(ctx, client)
    # The public calendar first, while this address's per-address count has no batch due.
    path = (
        "/api/v2/appointment/sessions/public/calendarByDistrict"
        f"?district_id=294&date={dt.date.today().strftime('%d-%m-%Y')}"
    )
    with counting(ctx) as seen["calendar_miss"]:
        miss = await client.get(path)
    assert miss.status_code == 200
    with counting(ctx) as seen["calendar_hit"]:
        hit = await client.get(path)
    assert hit.status_code == 200
    assert hit.content == miss.content  # the same bytes, from the cache
    # A first person booked, checked in and vaccinated warms the per-process reference
    # cache (series rules, vaccines, dose rules) and creates the certificate signing keys,
    # as on any running server; the budget is the steady state.
    first = await book(client, outbox, day.session)
    r = await client.post(
        "/api/staff/checkin",
        json={"appointment_id": first.appointment_id, "secret_code": first.code},
        headers=day.vaccinator.headers,
    )
    assert r.status_code == 200, r.text
    r = await client.post(
        "/api/staff/vaccinations",
        json={
            "beneficiary_reference_id": first.reference_id,
            "session_id": day.session.session_id,
            "vaccine": "COVISHIELD",
            "dose": 1,
            "batch": day.lot,
        },
        headers={**day.vaccinator.headers, "Idempotency-Key": "budget-warm"},
    )
    assert r.status_code == 201, r.text

    mobile = next_mobile()
    with counting(ctx) as seen["generate_otp"]:
        r = await client.post("/api/v2/auth/public/generateOTP", json={"mobile": mobile})
    assert r.status_code == 200, r.text
    with counting(ctx) as seen["confirm_otp"]:
        r = await client.post(
            "/api/v2/auth/public/confirmOTP",
            json={"otp": sha(outbox.last_otp()), "txnId": r.json()["txnId"]},
        )
    assert r.status_code == 200, r.text
    token = r.json()["token"]
    with counting(ctx) as seen["registration"]:
        r = await client.post(
            "/api/v2/registration/beneficiary/new",
            json=adult("Asha Kumari", birth_year="1985", id_number=aadhaar(7777)),
            headers=bearer(token),
        )
    assert r.status_code == 200, r.text
    ref = r.json()["beneficiary_reference_id"]
    with counting(ctx) as seen["booking"]:
        r = await client.post(
            "/api/v2/appointment/schedule",
            json={
                "dose": 1,
                "session_id": day.session.session_id,
                "slot": SLOT,
                "beneficiaries": [ref],
                "center_id": day.session.center_id,
            },
            headers=bearer(token),
        )
    assert r.status_code == 200, r.text
    appointment = r.json()["appointment_confirmation_no"]
    staff = day.vaccinator.headers
    with counting(ctx) as seen["check_in"]:
        r = await client.post(
            "/api/staff/checkin",
            json={"appointment_id": appointment, "secret_code": secret_codes(outbox)[appointment]},
            headers=staff,
        )
    assert r.status_code == 200, r.text
    with counting(ctx) as seen["dose"]:
        r = await client.post(
            "/api/staff/vaccinations",
            json={
                "beneficiary_reference_id": ref,
                "session_id": day.session.session_id,
                "vaccine": "COVISHIELD",
                "dose": 1,
                "batch": day.lot,
            },
            headers={**staff, "Idempotency-Key": "budget-1"},
        )
    assert r.status_code == 201, r.text

    # A per-worker batched rate counter writes its batch to the shared store in whichever
    # request fills it, so any request may carry that one statement more.
    over = {
        name: report(name, counter)
        for name, counter in seen.items()
        if counter.count > budget[name] + BATCH_FLUSH
    }
    assert not over, "\n".join(over.values())
    # Budgets are kept tight: a path that got cheaper lowers its budget.
    slack = {name: (c.count, budget[name]) for name, c in seen.items() if c.count < budget[name]}
    assert not slack, f"lower these budgets to the new counts: {slack}"


ROSTER_BUDGET = {"sqlite": 10, "postgresql": 10}


async def test_a_roster_page_costs_the_same_statements_whatever_its_size_and_place(
    client, ctx, outbox
):
    """No per-person statement: one page of 1 and one of 4, first or after a cursor, send
    the same statements (each person is still checked and gets their own audit leaf)."""
    day = await setup_day(ctx, client)
    for _ in range(5):
        await book(client, outbox, day.session)
    base = f"/api/staff/sessions/{day.session.session_id}/roster"
    staff = day.vaccinator.headers
    await client.get(f"{base}?limit=1", headers=staff)  # warm, as a running server is
    seen: dict[str, Counter] = {}
    with counting(ctx) as seen["one"]:
        one = await client.get(f"{base}?limit=1", headers=staff)
    with counting(ctx) as seen["four"]:
        four = await client.get(f"{base}?limit=4", headers=staff)
    assert len(one.json()["appointments"]) == 1 and len(four.json()["appointments"]) == 4
    cursor = one.json()["next_cursor"]
    with counting(ctx) as seen["four_after"]:
        after = await client.get(f"{base}?limit=4&after={cursor}", headers=staff)
    assert [e["appointment_id"] for e in after.json()["appointments"]] == [
        e["appointment_id"] for e in four.json()["appointments"]
    ][1:] + [after.json()["appointments"][-1]["appointment_id"]]
    budget = ROSTER_BUDGET[ctx.db.dialect]
    # The cursor's own row is one look-up more; the page size adds nothing.
    assert seen["one"].count == seen["four"].count, report("four", seen["four"])
    assert seen["four_after"].count == seen["four"].count + 1, report("after", seen["four_after"])
    assert seen["four"].count <= budget + BATCH_FLUSH, report("four", seen["four"])
    assert seen["four"].count >= budget, f"lower ROSTER_BUDGET to {seen['four'].count}"
