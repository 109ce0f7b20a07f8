"""PostgreSQL restarted under load: clean 503s (with Retry-After) while it is down, and
success afterwards from the same running application — no restart of immunet.

The database is an instance of the test's own (tests/faults/pginstance.py), stopped with
``pg_ctl -m fast`` (every session terminated, as in a real restart) and started again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from immunet.app import create_app
from immunet.context import build_context
from immunet.db.migrate import seed_reference_data, upgrade
from immunet.settings import Settings
from tests.conftest import Outbox, bearer, sha
from tests.faults import pginstance


@pytest.fixture
def own_pg(tmp_path: Path):
    if not pginstance.available():
        pytest.skip("PostgreSQL server binaries not found: the restart test is skipped")
    pg = pginstance.PgInstance(Path("/tmp") / f"immunet-pgfault-{tmp_path.name}")
    pg.init()
    pg.start()
    yield pg
    pg.stop("immediate")
    import shutil

    shutil.rmtree(pg.root, ignore_errors=True)


async def test_requests_fail_cleanly_while_postgresql_restarts(own_pg, keyring, tmp_path, clock):
    own_pg.psql("CREATE DATABASE immunet")
    url = own_pg.url("immunet")
    await asyncio.to_thread(upgrade, url)
    await seed_reference_data(url)
    sms = tmp_path / "sms.jsonl"
    settings = Settings(
        env="test",
        database_url=url,
        sms_backend=f"file:{sms}",
        keyring=tmp_path / "keyring.json",
        redis_url=None,
        db_pool_size=4,
        api_requests_per_minute=100_000,
    )
    ctx = build_context(settings, keyring=keyring)
    ctx.clock = clock
    app = create_app(settings, context=ctx)
    # Plain ASGI (the draining transport would touch the database after each answer).
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 40000))
    statuses: Counter[int] = Counter()
    after: list[int] = []
    phase = "before"
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        mobile = "9811100001"
        txn = await client.post("/api/v2/auth/public/generateOTP", json={"mobile": mobile})
        await ctx.drain_outbox()
        confirmed = await client.post(
            "/api/v2/auth/public/confirmOTP",
            json={"otp": sha(Outbox(sms).last_otp(mobile)), "txnId": txn.json()["txnId"]},
        )
        token = confirmed.json()["token"]

        async def load() -> None:
            while phase != "done":
                try:
                    answer = await client.get(
                        "/api/v2/appointment/beneficiaries", headers=bearer(token)
                    )
                    code = answer.status_code
                    if code == 503:
                        assert int(answer.headers["retry-after"]) >= 1
                        assert answer.json()["errorCode"] == "GEN0503"
                except Exception as exc:  # a transport-level failure is a failure here
                    code = -1
                    print("load failure", type(exc).__name__)
                statuses[code] += 1
                if phase == "after":
                    after.append(code)
                await asyncio.sleep(0.01)

        workers = [asyncio.create_task(load()) for _ in range(6)]
        await asyncio.sleep(0.5)
        await asyncio.to_thread(own_pg.stop, "fast")
        down_at = time.monotonic()
        await asyncio.sleep(1.0)
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["database"].startswith("unavailable")
        await asyncio.to_thread(own_pg.start)
        phase = "after"
        # Until ten answers in a row are 200 (a loaded machine may take seconds to start
        # PostgreSQL and reconnect), or 20 s: then the assertion below says what came back.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if after[-10:] == [200] * 10:
                break
            await asyncio.sleep(0.1)
        phase = "done"
        await asyncio.gather(*workers)
        restart_seconds = time.monotonic() - down_at
        assert (await client.get("/readyz")).json()["checks"]["database"] == "ok"
    with contextlib.suppress(Exception):
        await ctx.close()
    print("statuses", dict(statuses), f"restart {restart_seconds:.1f}s")
    assert set(statuses) <= {200, 503}, statuses
    assert statuses[503] >= 1 and statuses[200] >= 1
    # After the restart, the same application answers again (a dead pooled connection may
    # cost one 503 each; then only 200s).
    assert after[-10:] == [200] * 10, after
