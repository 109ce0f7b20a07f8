"""An app worker killed with ``kill -9`` in the middle of a booking load: clients retry
with their idempotency keys; no confirmed booking is lost, none is duplicated, the session
is not overbooked, and the audit log verifies (sequencer resumed).

A real ``immunet serve --workers 2`` on PostgreSQL; one of its worker processes gets
SIGKILL while requests are in flight.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from immunet.booking.models import Appointment
from immunet.context import build_context
from immunet.security.keyring import Keyring
from immunet.settings import Settings
from tests.factories import mobile
from tests.factories.sessions import add_beneficiary, make_citizen, make_session, seats

IMMUNET = [sys.executable, "-m", "immunet.cli"]
SLOT = "09:00AM-11:00AM"
PEOPLE = 48
CAPACITY = 30


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(IMMUNET + args, env=env, capture_output=True, text=True, timeout=120)


def _start(port: int, env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("w") as log:
        return subprocess.Popen(
            [*IMMUNET, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/readyz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _workers(parent: int) -> list[int]:
    """The uvicorn worker processes (spawned children running ``spawn_main``)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat[1]) == parent and b"spawn_main" in cmdline:
            found.append(int(entry.name))
    return sorted(found)


async def test_a_worker_killed_mid_load_loses_and_duplicates_nothing(database_url, tmp_path):
    if not database_url.startswith("postgresql"):
        pytest.skip("a multi-worker server runs on PostgreSQL")
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMMUNET_")}
    env.update(
        IMMUNET_DATABASE_URL=database_url,
        IMMUNET_KEYRING=str(tmp_path / "keys" / "keyring.json"),
        IMMUNET_SMS_BACKEND=f"file:{tmp_path / 'sms.jsonl'}",
        IMMUNET_ENV="development",
        IMMUNET_LOG_FORMAT="text",
        IMMUNET_API_REQUESTS_PER_MINUTE="100000",
    )
    for command in (["keys", "init"], ["db", "upgrade"]):
        done = await asyncio.to_thread(_cli, command, env)
        assert done.returncode == 0, done.stderr
    settings = Settings(
        env="development",
        database_url=database_url,
        keyring=tmp_path / "keys" / "keyring.json",
        sms_backend=f"file:{tmp_path / 'sms-setup.jsonl'}",
        redis_url=None,
    )
    ctx = build_context(settings, keyring=Keyring.load(settings.keyring))
    try:
        people = []
        for n in range(PEOPLE):
            citizen = await make_citizen(ctx, mobile(900_000 + n))
            people.append((citizen, await add_beneficiary(ctx, citizen)))
        target = await make_session(ctx, capacity_dose1=CAPACITY)

        port = _free_port()
        server = await asyncio.to_thread(_start, port, env, tmp_path / "server.log")
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                if await asyncio.to_thread(_ready, base):
                    break
                assert time.monotonic() < deadline and server.poll() is None
                await asyncio.sleep(0.3)
            workers = _workers(server.pid)
            assert len(workers) == 2, workers

            outcomes: dict[str, tuple[int, list[str]]] = {}
            retried = 0
            answered = asyncio.Event()
            count = 0

            async def book(http: httpx.AsyncClient, citizen, ref) -> None:
                nonlocal retried, count
                key = str(uuid.uuid4())  # one key per intended booking, kept across retries
                body = {
                    "dose": 1,
                    "session_id": target.session_id,
                    "slot": SLOT,
                    "beneficiaries": [ref],
                }
                for attempt in range(30):
                    try:
                        answer = await http.post(
                            "/api/v2/appointment/schedule",
                            json=body,
                            headers={**citizen.headers, "Idempotency-Key": key},
                        )
                    except httpx.HTTPError:
                        answer = None
                    if answer is not None and answer.status_code < 500:
                        ids = (
                            answer.json().get("appointment_ids", [])
                            if answer.status_code == 200
                            else []
                        )
                        outcomes[ref] = (answer.status_code, ids)
                        count += 1
                        if count >= 8:
                            answered.set()
                        return
                    retried += 1
                    await asyncio.sleep(0.1 * (attempt + 1))
                outcomes[ref] = (-1, [])

            async with httpx.AsyncClient(base_url=base, timeout=10) as http:
                tasks = []
                for citizen, ref in people:
                    tasks.append(asyncio.create_task(book(http, citizen, ref)))
                    await asyncio.sleep(0.02)
                    if len(tasks) == 12:
                        await answered.wait()
                        os.kill(workers[0], signal.SIGKILL)  # mid-load: requests in flight
                await asyncio.gather(*tasks)

            # Every intended booking got a final answer after retries.
            assert all(status != -1 for status, _ in outcomes.values()), outcomes
            confirmed = {ref: ids for ref, (status, ids) in outcomes.items() if status == 200}
            full = [ref for ref, (status, _) in outcomes.items() if status == 409]
            assert len(confirmed) + len(full) == PEOPLE, outcomes
            async with ctx.db.reader() as session:
                live = (
                    await session.execute(
                        select(Appointment.appointment_id, Appointment.beneficiary_id).where(
                            Appointment.session_id == target.session_id,
                            Appointment.status == "booked",
                        )
                    )
                ).all()
                per_person = (
                    await session.execute(
                        select(func.count())
                        .select_from(Appointment)
                        .where(Appointment.session_id == target.session_id)
                        .group_by(Appointment.beneficiary_id)
                        .having(func.count() > 1)
                    )
                ).all()
            stored = {str(row.appointment_id) for row in live}
            promised = {i for ids in confirmed.values() for i in ids}
            lost = promised - stored
            duplicated = len(per_person)
            overbooked = max(0, len(live) - CAPACITY)
            print(
                f"kill -9 worker: confirmed={len(confirmed)} lost={len(lost)} "
                f"duplicated={duplicated} overbooked={overbooked} retried={retried}"
            )
            assert not lost and duplicated == 0 and overbooked == 0
            assert stored == promised  # nothing stored that no client was told about
            assert len(confirmed) == CAPACITY  # the load filled the session exactly
            assert await seats(ctx, target.session_id) == (CAPACITY, 0, 0)

            # The audit log verifies once the (re-elected) sequencer has caught up.
            deadline = time.monotonic() + 30
            while True:
                verified = await asyncio.to_thread(_cli, ["audit", "verify"], env)
                assert verified.returncode == 0, verified.stderr
                if "(0 awaiting the sequencer)" in verified.stderr:
                    break
                assert time.monotonic() < deadline, verified.stderr
                await asyncio.sleep(0.5)
        finally:
            server.terminate()
            server.wait(30)
    finally:
        await ctx.close()
