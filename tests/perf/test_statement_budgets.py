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
from tests.conftest import bearer, login, sha
from tests.factories import aadhaar, adult
from tests.factories.vaccination import SLOT, next_mobile, secret_codes, setup_day


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
        counter.statements.append(" ".join(statement.split())[:90])

    engine = ctx.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", before)
    try:
        yield counter
    finally:
        event.remove(engine, "before_cursor_execute", before)


def report(name: str, counter: Counter) -> str:
    return f"{name}: {counter.count} statements: {counter.statements}"


async def test_print_counts(client, ctx, outbox):
    day = await setup_day(ctx, client)
    mobile = next_mobile()
    with counting(ctx) as gen:
        r = await client.post("/api/v2/auth/public/generateOTP", json={"mobile": mobile})
    assert r.status_code == 200
    txn = r.json()["txnId"]
    with counting(ctx) as conf:
        r = await client.post(
            "/api/v2/auth/public/confirmOTP",
            json={"otp": sha(outbox.last_otp("+91" + mobile[-10:]) if False else outbox.last_otp()), "txnId": txn},
        )
    assert r.status_code == 200, r.text
    token = r.json()["token"]
    with counting(ctx) as reg:
        r = await client.post(
            "/api/v2/registration/beneficiary/new",
            json=adult("Asha Kumari", birth_year="1985", id_number=aadhaar(7777)),
            headers=bearer(token),
        )
    assert r.status_code == 200, r.text
    ref = r.json()["beneficiary_reference_id"]
    with counting(ctx) as book:
        r = await client.post(
            "/api/v2/appointment/schedule",
            json={"dose": 1, "session_id": day.session.session_id, "slot": SLOT,
                  "beneficiaries": [ref], "center_id": day.session.center_id},
            headers=bearer(token),
        )
    assert r.status_code == 200, r.text
    appt = r.json()["appointment_confirmation_no"]
    code = secret_codes(outbox)[appt]
    staff = day.vaccinator.headers
    with counting(ctx) as chk:
        r = await client.post("/api/staff/checkin", json={"appointment_id": appt, "secret_code": code}, headers=staff)
    assert r.status_code == 200, r.text
    with counting(ctx) as dose:
        r = await client.post(
            "/api/staff/vaccinations",
            json={"beneficiary_reference_id": ref, "session_id": day.session.session_id,
                  "vaccine": "COVISHIELD", "dose": 1, "batch": day.lot},
            headers={**staff, "Idempotency-Key": "k-1"},
        )
    assert r.status_code == 201, r.text
    date = dt.date.today().strftime("%d-%m-%Y")
    path = f"/api/v2/appointment/sessions/public/calendarByDistrict?district_id=294&date={date}"
    with counting(ctx) as cal1:
        r = await client.get(path)
    assert r.status_code == 200
    with counting(ctx) as cal2:
        r = await client.get(path)
    for name, c in [("gen", gen), ("conf", conf), ("reg", reg), ("book", book), ("chk", chk), ("dose", dose), ("cal1", cal1), ("cal2", cal2)]:
        print(report(name, c))
    assert False
