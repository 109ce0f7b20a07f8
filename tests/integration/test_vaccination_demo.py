"""The vaccination demo step: stock at every centre and a vaccinator who can log in."""

from __future__ import annotations

from sqlalchemy import func, select

from immunet.demo import DEMO_STEPS
from immunet.vaccination.demo import DEMO_VACCINATOR, DEMO_VACCINES, demo_stock_and_vaccinator
from immunet.vaccination.models import StockBatch
from tests.conftest import bearer
from tests.factories.sessions import make_center
from tests.factories.staff_flow import StaffCredentials, staff_login


async def _batches(ctx) -> int:
    async with ctx.db.reader() as session:
        return (await session.execute(select(func.count()).select_from(StockBatch))).scalar_one()


async def test_demo_stock_and_vaccinator_is_idempotent(client, ctx, settings, keyring):
    keyring.save(settings.keyring)
    assert demo_stock_and_vaccinator in DEMO_STEPS
    await make_center(ctx)
    await make_center(ctx)
    lines = await demo_stock_and_vaccinator(settings)
    joined = "\n".join(lines)
    assert DEMO_VACCINATOR in joined and "otpauth://totp/" in joined
    assert await _batches(ctx) == 2 * len(DEMO_VACCINES)
    password = lines[1].rsplit("one-time password ", 1)[1].strip()
    uri = lines[2].split("TOTP:", 1)[1].strip()
    token = await staff_login(client, StaffCredentials(DEMO_VACCINATOR, password, uri))
    # The one-time password must be changed before anything else.
    refused = await client.get("/api/staff/stock", headers=bearer(token))
    assert refused.status_code == 403 and refused.json()["errorCode"] == "STAFF0406"
    changed = await client.post(
        "/api/staff/auth/password",
        json={"current_password": password, "new_password": "demo-vaccinator-new-password"},
        headers=bearer(token),
    )
    assert changed.status_code == 204, changed.text
    stock = await client.get("/api/staff/stock", headers=bearer(token))
    assert stock.status_code == 200, stock.text
    assert len(stock.json()["batches"]) == len(DEMO_VACCINES)
    again = await demo_stock_and_vaccinator(settings)
    assert "already exists" in "\n".join(again)
    assert await _batches(ctx) == 2 * len(DEMO_VACCINES)
