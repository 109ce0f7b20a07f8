"""Redis down, then back: OTPs fail closed (503 + Retry-After), public answers continue,
and the limits work again once it returns.

A redis-server of the test's own on a spare port (never the machine's 6379), stopped and
started again with SIGTERM/exec: the real outage, not a stand-in.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from immunet.people.identifiers import normalize_mobile
from tests.conftest import bearer, login, sha

REDIS_SERVER = shutil.which("redis-server")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class OwnRedis:
    def __init__(self, directory: Path) -> None:
        self.port = _free_port()
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert REDIS_SERVER is not None
        self.process = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), 0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed: the Redis outage test is skipped")
    server = OwnRedis(tmp_path)
    server.start()
    yield server
    server.stop()


async def test_redis_outage_fails_otp_closed_and_keeps_public_answers(
    client_with, outbox, own_redis
):
    client = await client_with(redis_url=own_redis.url, redis_timeout_seconds=0.5)
    token = await login(client, outbox, "9822200001")
    mobile = normalize_mobile("9822200002")
    pending = await client.post("/api/v2/auth/public/generateOTP", json={"mobile": mobile})
    assert pending.status_code == 200
    code = outbox.last_otp(mobile)

    own_redis.stop()
    refused = await client.post("/api/v2/auth/public/generateOTP", json={"mobile": "9822200003"})
    assert refused.status_code == 503
    assert refused.json()["errorCode"] == "GEN0503"
    assert int(refused.headers["retry-after"]) >= 1
    confirm = await client.post(
        "/api/v2/auth/public/confirmOTP", json={"otp": sha(code), "txnId": pending.json()["txnId"]}
    )
    assert confirm.status_code == 503 and "retry-after" in confirm.headers
    # Public answers come from the database (the cache and the counters being down).
    for _ in range(3):
        states = await client.get("/api/v2/admin/location/states")
        assert states.status_code == 200 and states.json()["states"]
    ready = await client.get("/readyz")
    assert ready.status_code == 503 and ready.json()["checks"]["redis"].startswith("unavailable")
    # A citizen's calls need the per-account counter: refused cleanly too, never a 500.
    mine = await client.get("/api/v2/appointment/beneficiaries", headers=bearer(token))
    assert mine.status_code in (401, 503)

    own_redis.start()  # an empty Redis: every OTP state of before is gone
    # The OTP sent before the outage has no state any more: never accepted.
    stale = await client.post(
        "/api/v2/auth/public/confirmOTP", json={"otp": sha(code), "txnId": pending.json()["txnId"]}
    )
    assert stale.status_code == 401
    # Logins work again, and the send limit counts again (3 per 15 minutes per mobile).
    await login(client, outbox, "9822200004")
    answers = [
        (
            await client.post("/api/v2/auth/public/generateOTP", json={"mobile": "9822200005"})
        ).status_code
        for _ in range(4)
    ]
    assert answers == [200, 200, 200, 429]
    assert (await client.get("/readyz")).json()["checks"]["redis"] == "ok"
