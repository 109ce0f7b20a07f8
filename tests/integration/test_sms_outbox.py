"""The SMS outbox: written with the business transaction, delivered by workers once each,
retried with back-off against a failing provider, dead-lettered, OTPs first. The provider
is a real HTTP server on a local port (the stdlib's), answering as each test scripts it.
On SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from immunet.app import create_app
from immunet.clock import FixedClock
from immunet.context import AppContext, build_context
from immunet.outbox.models import DEAD, PENDING, PRIORITY_OTP, SENT, OutboxMessage
from immunet.outbox.worker import OutboxWorker, counts, start_in_process
from immunet.sms import FileSmsGateway
from tests.conftest import Outbox, sha

MOBILE = "9811100001"


@dataclass
class Provider:
    """Answers each POST with the next scripted status (then 200), optionally slowly."""

    script: list[int] = field(default_factory=list)
    delay: float = 0.0
    received: list[dict[str, Any]] = field(default_factory=list)
    accepted: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""


@pytest.fixture
def provider() -> Iterator[Provider]:
    state = Provider()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the stdlib's hook name
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with state.lock:
                state.received.append(body)
                status = state.script.pop(0) if state.script else 200
                delay = state.delay
            if delay:
                time.sleep(delay)
            if status == 200:
                with state.lock:
                    state.accepted.append(body)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/send"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
async def http_ctx(settings, keyring, provider) -> Any:
    changed = settings.model_copy(
        update={
            "sms_backend": "http",
            "sms_http_url": provider.url,
            "sms_http_token": "t" * 32,
            "sms_http_timeout_seconds": 0.5,
            "outbox_max_attempts": 3,
        }
    )
    context = build_context(changed, keyring=keyring)
    context.clock = FixedClock(dt.datetime.now(dt.UTC))
    yield context
    await context.close()


def plain_client(ctx: AppContext) -> httpx.AsyncClient:
    """The app without the test suite's drain after each request: the request path alone."""
    app = create_app(ctx.settings, context=ctx)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def _rows(ctx: AppContext) -> list[OutboxMessage]:
    async with ctx.db.reader() as session:
        return list(
            (await session.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars()
        )


async def _generate(http: httpx.AsyncClient, mobile: str = MOBILE) -> str:
    response = await http.post("/api/v2/auth/public/generateOTP", json={"mobile": mobile})
    assert response.status_code == 200, response.text
    return str(response.json()["txnId"])


async def test_a_hanging_provider_does_not_slow_the_login(http_ctx, provider):
    provider.delay = 3.0  # far beyond the client timeout: every call times out
    async with plain_client(http_ctx) as http:
        started = time.monotonic()
        await _generate(http)
        elapsed = time.monotonic() - started
    assert elapsed < 1.0, f"generateOTP waited on the provider ({elapsed:.2f} s)"
    assert provider.received == []  # nothing was sent inside the request
    [row] = await _rows(http_ctx)
    assert (row.state, row.priority, row.attempts) == (PENDING, PRIORITY_OTP, 0)

    result = await http_ctx.outbox_worker().drain()  # times out: retried later
    assert (result.sent, result.retried) == (0, 1)
    [row] = await _rows(http_ctx)
    assert (row.state, row.attempts, row.last_error) == (PENDING, 1, "SmsError")
    assert row.next_attempt_at > http_ctx.clock.now()


async def test_a_failing_provider_gets_the_message_later_once(http_ctx, provider):
    provider.script = [500, 503]
    async with plain_client(http_ctx) as http:
        txn = await _generate(http)
        worker = http_ctx.outbox_worker()
        assert (await worker.drain()).retried == 1
        assert (await worker.drain()).sent == 0  # not due yet: back-off
        http_ctx.clock.advance(dt.timedelta(seconds=2))  # base 2 s, halved at most by jitter
        assert (await worker.drain()).retried == 1
        http_ctx.clock.advance(dt.timedelta(seconds=4))
        assert (await worker.drain()).sent == 1
        http_ctx.clock.advance(dt.timedelta(hours=1))
        assert (await worker.drain()).sent == 0
        assert [m["to"] for m in provider.received] == [MOBILE] * 3
        assert len(provider.accepted) == 1
        [row] = await _rows(http_ctx)
        assert (row.state, row.attempts, row.text_ct) == (SENT, 3, None)  # text dropped
        # The delivered code is the one the login accepts.
        code = provider.accepted[0]["text"].split("code is ")[1][:6]
        confirmed = await http.post(
            "/api/v2/auth/public/confirmOTP", json={"otp": sha(code), "txnId": txn}
        )
    assert confirmed.status_code == 200, confirmed.text


async def test_back_off_doubles_with_jitter_and_is_capped(http_ctx):
    worker = http_ctx.outbox_worker()
    s = worker.settings
    for attempt in range(1, 12):
        ceiling = min(
            s.outbox_backoff_max_seconds, s.outbox_backoff_base_seconds * 2 ** (attempt - 1)
        )
        delays = {worker.backoff(attempt).total_seconds() for _ in range(20)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1  # jittered: workers retrying together spread out


async def test_dead_letter_after_the_last_attempt(http_ctx, provider, caplog):
    caplog.set_level("INFO")
    provider.script = [500] * 10
    async with plain_client(http_ctx) as http:
        await _generate(http)
    worker = http_ctx.outbox_worker()
    for attempt in range(3):
        await worker.drain()
        http_ctx.clock.advance(dt.timedelta(seconds=2 * 2**attempt))
    assert (await worker.drain()).sent == 0
    assert len(provider.received) == 3  # outbox_max_attempts
    [row] = await _rows(http_ctx)
    assert (row.state, row.attempts, row.last_error, row.text_ct) == (DEAD, 3, "SmsError", None)
    assert await counts(http_ctx.db) == {PENDING: 0, SENT: 0, DEAD: 1}
    assert "dead-lettered" in caplog.text
    assert MOBILE not in caplog.text


async def test_an_otp_whose_next_try_would_be_too_late_is_dead_now(http_ctx, provider):
    provider.script = [500] * 10
    slow = http_ctx.settings.model_copy(update={"outbox_backoff_base_seconds": 600.0})
    async with plain_client(http_ctx) as http:
        await _generate(http)
    worker = OutboxWorker(http_ctx.db, http_ctx.keyring, http_ctx.sms, slow, http_ctx)
    assert (await worker.drain()).dead == 1
    [row] = await _rows(http_ctx)
    assert (row.state, row.last_error, row.text_ct) == (DEAD, "Expired", None)


async def test_a_refusal_is_dead_at_once(http_ctx, provider):
    provider.script = [400]
    async with plain_client(http_ctx) as http:
        await _generate(http)
    result = await http_ctx.outbox_worker().drain()
    assert (result.dead, len(provider.received)) == (1, 1)
    [row] = await _rows(http_ctx)
    assert (row.state, row.last_error) == (DEAD, "SmsProviderRefused")


async def test_an_expired_otp_is_never_delivered(ctx, outbox: Outbox):
    ctx.clock = FixedClock(dt.datetime.now(dt.UTC))
    async with plain_client(ctx) as http:
        await _generate(http)
    ctx.clock.advance(dt.timedelta(seconds=ctx.settings.otp_ttl_seconds + 1))
    assert (await ctx.drain_outbox()).dead == 1
    assert outbox.messages() == []
    [row] = await _rows(ctx)
    assert (row.state, row.last_error, row.text_ct) == (DEAD, "Expired", None)


async def test_otps_go_first(ctx, settings, keyring, sms_path: Path):
    async with ctx.db.transaction() as session:
        for n in range(5):
            await ctx.outbox.enqueue(
                session,
                to=f"+9198000000{n:02d}",
                template="appointment_cancelled",
                values={"appointment_id": f"a{n}"},
            )
    async with plain_client(ctx) as http:
        await _generate(http)
    one_at_a_time = OutboxWorker(
        ctx.db,
        keyring,
        FileSmsGateway(sms_path),
        settings.model_copy(update={"outbox_batch": 1}),
        ctx,
    )
    assert (await one_at_a_time.drain()).sent == 6
    templates = [m["template"] for m in Outbox(sms_path).messages()]
    assert templates == ["otp"] + ["appointment_cancelled"] * 5


async def test_the_same_logical_message_is_queued_once(ctx, outbox: Outbox):
    for _ in range(2):
        async with ctx.db.transaction() as session:
            added = await ctx.outbox.enqueue(
                session,
                to="+919800000001",
                template="appointment_cancelled",
                values={"appointment_id": "x1"},
                dedup_key="reminder:b1:dose2:2026-12-02",
            )
        assert added is (_ == 0)
    assert (await ctx.drain_outbox()).sent == 1
    assert len(outbox.messages()) == 1


async def test_a_rolled_back_write_sends_nothing(ctx, outbox: Outbox):
    with pytest.raises(RuntimeError):
        async with ctx.db.transaction() as session:
            await ctx.outbox.enqueue(
                session,
                to="+919800000001",
                template="appointment_cancelled",
                values={"appointment_id": "y"},
            )
            raise RuntimeError("the business write failed")
    assert await _rows(ctx) == []
    assert not ctx.outbox.wake.is_set()
    await ctx.drain_outbox()
    assert outbox.messages() == []


async def test_a_crashed_worker_s_message_goes_out_after_its_lease(ctx, outbox: Outbox):
    ctx.clock = FixedClock(dt.datetime.now(dt.UTC))
    async with ctx.db.transaction() as session:
        await ctx.outbox.enqueue(
            session,
            to="+919800000002",
            template="appointment_cancelled",
            values={"appointment_id": "z"},
        )
    crashed = ctx.outbox_worker()
    assert len(await crashed.claim()) == 1  # ... and the process dies before sending/marking
    assert (await ctx.drain_outbox()).sent == 0  # leased: nobody else takes it yet
    ctx.clock.advance(dt.timedelta(seconds=ctx.settings.outbox_lease_seconds + 1))
    assert (await ctx.drain_outbox()).sent == 1
    assert len(outbox.messages()) == 1
    [row] = await _rows(ctx)
    assert (row.state, row.attempts) == (SENT, 2)


async def test_two_workers_never_deliver_the_same_message_twice(ctx, settings, keyring, sms_path):
    total = 120
    async with ctx.db.transaction() as session:
        for n in range(total):
            await ctx.outbox.enqueue(
                session,
                to=f"+91980000{n:04d}",
                template="appointment_cancelled",
                values={"appointment_id": f"m{n}"},
            )
    small = settings.model_copy(update={"outbox_batch": 3})
    workers = [
        OutboxWorker(
            type(ctx.db)(settings.database_url), keyring, FileSmsGateway(sms_path), small, ctx
        )
        for _ in range(2)
    ]
    try:
        results = await asyncio.gather(*(w.drain() for w in workers))
    finally:
        for w in workers:
            await w.db.dispose()
    sent = [m["to"] for m in Outbox(sms_path).messages()]
    assert len(sent) == total and len(set(sent)) == total
    assert sum(r.sent for r in results) == total
    async with ctx.db.reader() as session:
        attempts = (await session.execute(select(func.max(OutboxMessage.attempts)))).scalar_one()
    assert attempts == 1  # no message was claimed twice


async def test_serve_s_in_process_worker_sends_an_otp_long_before_its_poll(
    settings, keyring, sms_path
):
    """The app's own lifespan starts the worker; the commit wakes it (the poll is 30 s). The
    bound is 5 s, far under the poll and loose enough for a loaded CI machine: the test
    tells a wake-up from a poll, it does not time the delivery."""
    keyring.save(settings.keyring)
    served = settings.model_copy(update={"outbox_poll_seconds": 30.0, "run_sequencer": False})
    app = create_app(served)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.10", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            await asyncio.sleep(0.2)  # the worker's first (empty) drain is done: it waits
            started = time.monotonic()
            await _generate(http)
            while not Outbox(sms_path).messages():
                assert time.monotonic() - started < 5.0, "the OTP waited for the worker's poll"
                await asyncio.sleep(0.02)
    assert [m["template"] for m in Outbox(sms_path).messages()] == ["otp"]


async def test_start_in_process_stops_cleanly(ctx):
    task, stop = start_in_process(ctx.outbox_worker(), ctx.outbox.wake, 30.0)
    await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, timeout=2)


async def test_a_separate_worker_is_woken_by_the_otp_commit(settings, ctx, keyring, sms_path):
    """PostgreSQL: `immunet worker` LISTENs; another process's OTP commit NOTIFYs it, so
    the OTP goes out long before the worker's next poll (30 s here)."""
    if ctx.db.dialect != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's; on SQLite the poll interval bounds it")
    other = type(ctx.db)(settings.database_url)  # the worker's own pool, as in its process
    worker = OutboxWorker(other, keyring, FileSmsGateway(sms_path), settings, ctx)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop, asyncio.Event(), interval=30.0))
    try:
        await asyncio.sleep(0.5)  # listening, and its first drain found nothing
        async with plain_client(ctx) as http:
            started = time.monotonic()
            await _generate(http)
        while not Outbox(sms_path).messages():
            assert time.monotonic() - started < 5.0, "the worker waited for its poll"
            await asyncio.sleep(0.02)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=5)
        await other.dispose()
