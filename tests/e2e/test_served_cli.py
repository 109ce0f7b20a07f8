"""The real commands, from an empty directory with only IMMUNET_* variables set:
``keys init``, ``db upgrade``, ``serve --workers 2``, then the citizen flow over HTTP,
then ``audit verify`` — on SQLite and on PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.factories import aadhaar, adult

IMMUNET = [sys.executable, "-m", "immunet.cli"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        IMMUNET + args, env=env, cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture
def environment(tmp_path: Path, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMMUNET_")}
    env.update(
        IMMUNET_DATABASE_URL=database_url,
        IMMUNET_KEYRING=str(tmp_path / "keys" / "keyring.json"),
        IMMUNET_SMS_BACKEND=f"file:{tmp_path / 'sms.jsonl'}",
        IMMUNET_ENV="development",
    )
    return env


def _otp(sms: Path, mobile: str, within: float = 5.0) -> str:
    """The OTP as a phone gets it: a worker delivers it from the outbox, moments later."""
    deadline = time.monotonic() + within
    while True:
        lines = sms.read_text().splitlines() if sms.exists() else []
        for line in reversed(lines):
            message = json.loads(line)
            assert set(message) == {"to", "text", "template", "sent_at"}
            if message["to"] == mobile and message["template"] == "otp":
                return str(message["text"].split("code is ")[1][:6])
        assert time.monotonic() < deadline, "no OTP"
        time.sleep(0.05)


def test_commands_serve_two_workers_and_verify_the_audit_log(environment, tmp_path):
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    assert _run(["keys", "init"], environment, workdir).returncode == 0
    upgraded = _run(["db", "upgrade"], environment, workdir)
    assert upgraded.returncode == 0, upgraded.stderr
    assert _run(["db", "check"], environment, workdir).returncode == 0

    port = _free_port()
    metrics_port = _free_port()
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(
        [*IMMUNET, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
        env={**environment, "IMMUNET_METRICS_PORT": str(metrics_port)},
        cwd=workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "server did not become ready"
            assert server.poll() is None, (tmp_path / "server.log").read_text()
            time.sleep(0.3)

        sms = Path(environment["IMMUNET_SMS_BACKEND"].removeprefix("file:"))
        with httpx.Client(base_url=base, timeout=10) as http:
            # `db upgrade` created the certificate keys: the JWKS is not empty.
            assert http.get("/readyz").json()["checks"]["certificate_keys"] == "ok"
            assert http.get("/.well-known/jwks.json").json()["keys"]
            # Identifiers in a URL are refused, and never reach the server's log.
            snooped = http.get(
                "/api/v2/admin/location/states?aadhaar=690257748464&mobile=9000000001"
            )
            assert snooped.status_code == 400
            assert snooped.headers["cache-control"] == "no-store"
            assert snooped.headers["x-request-id"]
            # Several requests so both workers take part; state lives only in the database.
            tokens = []
            for n in range(4):
                mobile = f"985550000{n}"
                txn = http.post("/api/v2/auth/public/generateOTP", json={"mobile": mobile}).json()[
                    "txnId"
                ]
                otp = hashlib.sha256(_otp(sms, mobile).encode()).hexdigest()
                response = http.post(
                    "/api/v2/auth/public/confirmOTP", json={"otp": otp, "txnId": txn}
                )
                assert response.status_code == 200, response.text
                tokens.append(response.json()["token"])
            headers = {"Authorization": f"Bearer {tokens[0]}"}
            created = http.post(
                "/api/v2/registration/beneficiary/new",
                json=adult(id_number=aadhaar(77)),
                headers=headers,
            )
            assert created.status_code == 200, created.text
            for _ in range(6):  # every worker sees the same sessions and data
                listing = http.get("/api/v2/appointment/beneficiaries", headers=headers)
                assert len(listing.json()["beneficiaries"]) == 1
            assert http.post("/api/v2/auth/logout", headers=headers).status_code == 204
            for _ in range(4):
                assert (
                    http.get("/api/v2/appointment/beneficiaries", headers=headers).status_code
                    == 401
                )
        # The sequencer runs inside the workers (one is elected): everything committed
        # gets a tree position within about a second.
        deadline = time.monotonic() + 20
        while True:
            verified = _run(["audit", "verify"], environment, workdir)
            assert verified.returncode == 0, verified.stderr
            if "(0 awaiting the sequencer)" in verified.stderr:
                break
            assert time.monotonic() < deadline, verified.stderr
            time.sleep(0.5)
        # One metrics listener adds up both workers' samples (prometheus multiprocess
        # mode); parsed by prometheus-client's own parser.
        scrape = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
        confirmed = sum(
            sample.value
            for family in text_string_to_metric_families(scrape)
            for sample in family.samples
            if sample.name == "immunet_http_request_duration_seconds_count"
            and sample.labels["route"] == "/api/v2/auth/public/confirmOTP"
            and sample.labels["status"] == "200"
        )
        assert confirmed == 4
        assert "immunet_audit_unsequenced_entries 0.0" in scrape
        for n in range(4):
            assert f"985550000{n}" not in scrape
        assert "690257748464" not in scrape and tokens[0] not in scrape
        with pytest.raises(httpx.HTTPError):  # the public port has no metrics route
            httpx.get(f"{base}/metrics", timeout=5).raise_for_status()
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    server_log = (tmp_path / "server.log").read_text()
    for n in range(4):  # the server's own log names no mobile number
        assert f"985550000{n}" not in server_log
    assert "690257748464" not in server_log and "aadhaar" not in server_log
    assert "9000000001" not in server_log
    # immunet's own access line: route template, status, request id (uvicorn's is off).
    assert "GET /api/v2/admin/location/states 400 " in server_log
    assert snooped.headers["x-request-id"] in server_log
    assert "HTTP/1.1" not in server_log
    # JSON lines (IMMUNET_LOG_FORMAT defaults to json), the access line's fields included.
    access = [
        json.loads(line)
        for line in server_log.splitlines()
        if line.startswith("{") and '"logger":"immunet.access"' in line
    ]
    assert any(
        entry["route"] == "/api/v2/registration/beneficiary/new"
        and entry["status"] == 200
        and entry["actor"].startswith("citizen:")
        for entry in access
    )

    verified = _run(["audit", "verify"], environment, workdir)
    assert verified.returncode == 0, verified.stderr
    assert "intact" in verified.stderr


@pytest.fixture
def sqlite_environment(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMMUNET_")}
    env.update(
        IMMUNET_DATABASE_URL=f"sqlite:///{tmp_path / 'tamper.sqlite3'}",
        IMMUNET_KEYRING=str(tmp_path / "keys" / "keyring.json"),
        IMMUNET_SMS_BACKEND=f"file:{tmp_path / 'sms.jsonl'}",
        IMMUNET_ENV="development",
    )
    return env


def test_audit_verify_reports_the_first_broken_link(sqlite_environment, tmp_path):
    # Tampering is done on the SQLite file directly; the chain logic is shared by both
    # databases and tested on PostgreSQL in tests/integration/test_operations.py.
    environment = sqlite_environment
    database_url = environment["IMMUNET_DATABASE_URL"]
    assert _run(["keys", "init"], environment, tmp_path).returncode == 0
    assert _run(["db", "upgrade"], environment, tmp_path).returncode == 0
    path = database_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        # `db upgrade` audited the creation of the certificate keys; forge entries after it.
        (last,) = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM audit_events").fetchone()
        for seq in (last + 1, last + 2, last + 3):
            prev = conn.execute(
                "SELECT hash FROM audit_events WHERE seq = ?", (seq - 1,)
            ).fetchone()
            conn.execute(
                "INSERT INTO audit_events (seq, occurred_at, actor, action, prev_hash, hash) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    seq,
                    "2026-01-01 00:00:00.000000",
                    "x",
                    "y",
                    prev[0] if prev else "0" * 64,
                    f"{seq:064d}",
                ),
            )
    result = _run(["audit", "verify"], environment, tmp_path)
    assert result.returncode == 1
    assert f"broken at entry {last + 1}" in result.stderr


def test_production_refuses_development_keys_and_console_sms(sqlite_environment, tmp_path):
    environment = sqlite_environment
    assert _run(["keys", "init"], environment, tmp_path).returncode == 0
    prod = {**environment, "IMMUNET_ENV": "production", "IMMUNET_SMS_BACKEND": "console"}
    result = _run(["serve", "--port", str(_free_port())], prod, tmp_path)
    assert result.returncode != 0
    prod = {
        **environment,
        "IMMUNET_ENV": "production",
        "IMMUNET_SMS_BACKEND": "http",
        "IMMUNET_SMS_HTTP_URL": "https://sms.invalid/send",
        "IMMUNET_SMS_HTTP_TOKEN": "t" * 32,
        "IMMUNET_PUBLIC_URL": "https://immunet.invalid",
    }
    result = _run(["serve", "--port", str(_free_port())], prod, tmp_path)
    assert result.returncode != 0
    assert "development key ring" in result.stderr + result.stdout


def _append_entries(database_url: str, n: int) -> None:
    import asyncio

    from immunet.db.engine import Database
    from immunet.security.audit import AuditChain

    async def run() -> None:
        db = Database(database_url)
        try:
            async with db.transaction() as session:
                for i in range(n):
                    await AuditChain.append(
                        session, actor="system:e2e", action="test:entry:added", subject_ref=f"t:{i}"
                    )
        finally:
            await db.dispose()

    asyncio.run(run())


def test_sequencer_command_runs_standalone_and_stops_cleanly(environment, tmp_path):
    """``immunet sequencer`` as its own process (twice: one is elected), web nodes off."""
    assert _run(["keys", "init"], environment, tmp_path).returncode == 0
    assert _run(["db", "upgrade"], environment, tmp_path).returncode == 0
    env = {**environment, "IMMUNET_RUN_SEQUENCER": "false"}
    logs = [(tmp_path / f"sequencer-{i}.log").open("w") for i in range(2)]
    processes = [
        subprocess.Popen(
            [*IMMUNET, "sequencer", "--interval", "0.2"],
            env=env,
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        for log in logs
    ]
    try:
        _append_entries(environment["IMMUNET_DATABASE_URL"], 7)
        deadline = time.monotonic() + 30
        while True:
            verified = _run(["audit", "verify"], env, tmp_path)
            assert verified.returncode == 0, verified.stderr
            # The 7 entries plus those `db upgrade` wrote (the signing keys' creation).
            done = re.search(r"(\d+) entries, (\d+) sequenced \(0 awaiting", verified.stderr)
            if done and done[1] == done[2] and int(done[2]) >= 7:
                break
            assert time.monotonic() < deadline, verified.stderr
            assert all(p.poll() is None for p in processes)
            time.sleep(0.3)
        assert "checkpoints verified: " in verified.stderr
    finally:
        for process in processes:
            process.terminate()
        codes = [process.wait(timeout=30) for process in processes]
        for log in logs:
            log.close()
    assert codes == [0, 0], [(tmp_path / f"sequencer-{i}.log").read_text() for i in range(2)]


def _wait_ready(base: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "server did not become ready"
        assert server.poll() is None, log.read_text()
        time.sleep(0.3)


def test_worker_command_delivers_the_outbox_and_stops_on_sigterm(environment, tmp_path):
    """Web node without an in-process worker; two ``immunet worker`` processes deliver
    each OTP exactly once within their poll interval, then stop cleanly on SIGTERM."""
    assert _run(["keys", "init"], environment, tmp_path).returncode == 0
    assert _run(["db", "upgrade"], environment, tmp_path).returncode == 0
    web = {**environment, "IMMUNET_RUN_OUTBOX_WORKER": "false", "IMMUNET_RUN_SEQUENCER": "false"}
    port = _free_port()
    server_log = tmp_path / "server.log"
    with server_log.open("w") as out:
        server = subprocess.Popen(
            [*IMMUNET, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=web,
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    logs = [tmp_path / f"worker-{i}.log" for i in range(2)]
    workers: list[subprocess.Popen[bytes]] = []
    base = f"http://127.0.0.1:{port}"
    sms = Path(environment["IMMUNET_SMS_BACKEND"].removeprefix("file:"))
    try:
        _wait_ready(base, server, server_log)
        with httpx.Client(base_url=base, timeout=10) as http:
            first = http.post("/api/v2/auth/public/generateOTP", json={"mobile": "9855510000"})
            assert first.status_code == 200, first.text
            time.sleep(1.0)
            assert not sms.exists()  # no worker yet: the message waits in the outbox
            for log in logs:
                with log.open("w") as out:
                    workers.append(
                        subprocess.Popen(
                            [*IMMUNET, "worker", "--interval", "0.2"],
                            env=web,
                            cwd=tmp_path,
                            stdout=out,
                            stderr=subprocess.STDOUT,
                        )
                    )
            _otp(sms, "9855510000", within=30.0)  # the workers' start-up included
            for n in range(1, 6):
                mobile = f"985551000{n}"
                txn = http.post("/api/v2/auth/public/generateOTP", json={"mobile": mobile})
                started = time.monotonic()
                code = _otp(sms, mobile, within=2.0)
                assert time.monotonic() - started < 2.0  # the poll interval, with margin
                confirmed = http.post(
                    "/api/v2/auth/public/confirmOTP",
                    json={
                        "otp": hashlib.sha256(code.encode()).hexdigest(),
                        "txnId": txn.json()["txnId"],
                    },
                )
                assert confirmed.status_code == 200, confirmed.text
        status = _run(["outbox", "status"], environment, tmp_path)
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout) == {"pending": 0, "sent": 6, "dead": 0}
    finally:
        for process in [*workers, server]:
            process.send_signal(signal.SIGTERM)
        codes = [process.wait(timeout=30) for process in workers]
        server.wait(timeout=30)
    assert codes == [0, 0], [log.read_text() for log in logs]
    assert all("worker stopped" in log.read_text() for log in logs)
    recipients = [json.loads(line)["to"] for line in sms.read_text().splitlines()]
    assert sorted(recipients) == sorted(f"985551000{n}" for n in range(6))  # once each
