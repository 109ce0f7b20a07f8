"""``make bench``: throughput and latency on PostgreSQL, as ratios to baselines of the same run.

Machines here are noisy, so every figure is reported next to a baseline measured in the
same run on the same machine: ``pgbench`` TPC-B on the same PostgreSQL server for the
write paths (OTP logins, registrations, bookings), and a bare endpoint of the same server
stack for public slot search. The audit log's append rate, checkpoint and proof costs at
two log sizes are measured directly against PostgreSQL (``bench/audit.py``). Results go
to ``bench/results/<time>.json`` and a table.

The server runs as it does in production: ``immunet serve --workers 2`` on PostgreSQL,
with Redis for OTP state and counters when Redis is reachable.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from bench.cpu import CpuMeter, follow, per_operation

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, os.environ.get("PGUSER", "root")
# Both may be set so that two bench runs on one machine do not flush or drop each other's.
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
DATABASE = os.environ.get("BENCH_DATABASE", "immunet_bench")
DISTRICT = 294  # BBMP (Bengaluru)
PATHS_AT_SCALE = ("login", "registration", "booking", "roster", "dose", "calendar")


def _india_today() -> dt.date:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(hours=5, minutes=30)).date()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), 2):
            return True
    except OSError:
        return False


def _psql(sql: str, database: str = "postgres") -> None:
    subprocess.run(
        ["psql", "-h", PG_HOST, "-p", str(PG_PORT), "-U", PG_USER, "-d", database, "-qc", sql],
        check=True,
        capture_output=True,
    )


class SmsTail:
    """Follows the file SMS backend and remembers the last OTP per mobile."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.otps: dict[str, str] = {}
        self.codes: dict[str, str] = {}  # appointment id → secret code
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self.path.exists() and not self._stop.is_set():
            time.sleep(0.01)
        partial = ""
        with self.path.open(encoding="utf-8") as handle:
            while not self._stop.is_set():
                line = partial + handle.readline()
                if not line.endswith("\n"):  # nothing new, or a line still being written
                    partial = line
                    time.sleep(0.002)
                    continue
                partial = ""
                message = json.loads(line)
                if message["template"] == "otp":
                    self.otps[message["to"]] = message["text"].split("code is ")[1][:6]
                elif message["template"] == "appointment_booked":
                    booked = re.search(
                        r"Appointment (\S+) .*secret code is (\d{4})", message["text"]
                    )
                    if booked:
                        self.codes[booked.group(1)] = booked.group(2)

    async def otp(self, mobile: str, previous: str | None = None) -> str:
        for _ in range(5000):
            code = self.otps.get(mobile)
            if code is not None and code != previous:
                return code
            await asyncio.sleep(0.002)
        raise TimeoutError(f"no OTP for {mobile[-4:]}")

    def stop(self) -> None:
        self._stop.set()


class Server:
    def __init__(self, workdir: Path, database: str, use_redis: bool) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.sms = workdir / "sms.jsonl"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("IMMUNET_")}
        self.env.update(
            IMMUNET_ENV="development",
            IMMUNET_DATABASE_URL=f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}",
            IMMUNET_KEYRING=str(workdir / "keyring.json"),
            IMMUNET_SMS_BACKEND=f"file:{self.sms}",
            # Benchmarks measure capacity, so the abuse limits are lifted for this server.
            IMMUNET_OTP_SENDS_PER_ADDRESS_PER_HOUR="1000000000",
            IMMUNET_PUBLIC_REQUESTS_PER_5MIN="1000000000",
            IMMUNET_API_REQUESTS_PER_MINUTE="1000000000",
            IMMUNET_DB_POOL_SIZE=os.environ.get("BENCH_DB_POOL_SIZE", "10"),
            IMMUNET_STAFF_READS_PER_HOUR="1000000000",
            IMMUNET_STAFF_READS_PER_DAY="1000000000",
        )
        if use_redis:
            self.env["IMMUNET_REDIS_URL"] = REDIS_URL
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    def cli(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "immunet.cli", *args],
            env=self.env,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout

    def start(self) -> None:
        self.cli("keys", "init")
        self.cli("db", "upgrade")
        log = (self.workdir / "server.log").open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "immunet.cli",
                "serve",
                "--port",
                str(self.port),
                "--workers",
                "2",
            ],
            env=self.env,
            cwd=self.workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("server did not start; see server.log")

    def stop(self) -> None:
        if self.process:
            self.process.terminate()
            self.process.wait(timeout=30)


def pgbench_tps(duration: int, clients: int) -> tuple[float, dict[str, float]]:
    """TPC-B transactions per second, and the CPU per transaction of PostgreSQL and pgbench."""
    database = f"{DATABASE}_pgbench"
    _psql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    _psql(f'CREATE DATABASE "{database}"')
    base = ["-h", PG_HOST, "-p", str(PG_PORT), "-U", PG_USER]
    subprocess.run(
        ["pgbench", *base, "-i", "-q", "-s", "10", database], check=True, capture_output=True
    )
    meter = CpuMeter(None, database)
    before = meter.snapshot()
    running = subprocess.Popen(
        ["pgbench", *base, "-c", str(clients), "-j", "2", "-T", str(duration), database],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    after = follow(meter, running)
    out, err = running.communicate()
    if running.returncode != 0:
        raise RuntimeError(f"pgbench failed: {err[-400:]}")
    if after is not None:  # pgbench's own CPU, now that it has been waited for
        after = dataclasses.replace(after, generator=meter.snapshot_generator())
    _psql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    match = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", out)
    done = re.search(r"number of transactions actually processed: (\d+)", out)
    if not match:
        raise RuntimeError("could not read pgbench's tps")
    return float(match.group(1)), per_operation(before, after, int(done.group(1)) if done else 0)


async def drive(
    concurrency: int, duration: float, step: Callable[[int], Awaitable[bool]]
) -> dict[str, float]:
    """Run ``step`` from ``concurrency`` workers for ``duration`` s; rate and latency."""
    latencies: list[float] = []
    failures = 0
    stop_at = time.perf_counter() + duration
    start = time.perf_counter()
    exhausted = False

    async def worker(n: int) -> None:
        nonlocal failures, exhausted
        i = 0
        while time.perf_counter() < stop_at and not exhausted:
            t0 = time.perf_counter()
            try:
                ok = await step(n * 1_000_000 + i)
            except StopAsyncIteration:
                exhausted = True
                return
            except (httpx.HTTPError, TimeoutError):
                ok = False
            if ok:
                latencies.append(time.perf_counter() - t0)
            else:
                failures += 1
            i += 1

    await asyncio.gather(*(worker(n) for n in range(concurrency)))
    elapsed = time.perf_counter() - start
    latencies.sort()

    def pct(p: float) -> float:
        return (
            latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else 0.0
        )

    return {
        "ops": len(latencies),
        "failures": failures,
        "seconds": round(elapsed, 3),
        "per_second": round(len(latencies) / elapsed, 1) if elapsed else 0.0,
        "p50_ms": round(pct(0.50), 2),
        "p99_ms": round(pct(0.99), 2),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 2) if latencies else 0.0,
    }


class Scenarios:
    def __init__(self, server: Server, tail: SmsTail, duration: float, concurrency: int) -> None:
        self.server = server
        self.tail = tail
        self.duration = duration
        self.concurrency = concurrency
        self.tokens: list[str] = []
        self.beneficiaries: list[tuple[str, str]] = []  # (token, reference id)
        self.session_ids: list[str] = []
        self.center_id: int | None = None
        self.booked: list[tuple[str, str, str]] = []  # (reference id, session id, appointment id)
        self.vaccinator: str | None = None
        self.mobile_offset = 0  # moved on between rounds, so each round logs in new people
        # A new vaccinator per round (bench/scale.py): the staff quota checks read the
        # user's own activity of the day, which must not grow from round to round.
        self.staff_round = ""
        self.lot = "BENCH-1"
        limits = httpx.Limits(max_connections=250, max_keepalive_connections=250)
        self.http = httpx.AsyncClient(base_url=server.base, timeout=30, limits=limits)

    async def otp_logins(self) -> dict[str, float]:
        async def step(n: int) -> bool:
            mobile = f"9{(n + self.mobile_offset) % 1_000_000_000:09d}"
            previous = self.tail.otps.get(mobile)
            r = await self.http.post("/api/v2/auth/public/generateOTP", json={"mobile": mobile})
            if r.status_code != 200:
                return False
            code = await self.tail.otp(mobile, previous)
            otp = hashlib.sha256(code.encode()).hexdigest()
            r = await self.http.post(
                "/api/v2/auth/public/confirmOTP", json={"otp": otp, "txnId": r.json()["txnId"]}
            )
            if r.status_code == 200:
                self.tokens.append(r.json()["token"])
                return True
            return False

        return await drive(self.concurrency, self.duration, step)

    async def registrations(self) -> dict[str, float]:
        slots = [(token, k) for token in self.tokens for k in range(6)]
        it = iter(slots)

        async def step(n: int) -> bool:
            try:
                token, k = next(it)
            except StopIteration:
                raise StopAsyncIteration from None
            body = {
                "name": f"Bench Person {chr(65 + k)}",
                "birth_year": "1980",
                "gender_id": 1 + k % 2,
                "photo_id_type": 4,
                "photo_id_number": f"P{(n + self.mobile_offset) % 1_000_000_000:09d}",
            }
            r = await self.http.post(
                "/api/v2/registration/beneficiary/new",
                json=body,
                headers={"Authorization": f"Bearer {token}"},
            )
            if r.status_code == 200:
                self.beneficiaries.append((token, r.json()["beneficiary_reference_id"]))
                return True
            return False

        return await drive(self.concurrency, self.duration, step)

    async def _staff_token(
        self,
        username: str = "bench-admin",
        role: str = "national_admin",
        jurisdiction: str = "national",
    ) -> str | None:
        import pyotp

        try:
            raw = self.server.cli(
                "staff",
                "add",
                "--username",
                username,
                "--role",
                role,
                "--jurisdiction",
                jurisdiction,
                "--json",
            )
        except subprocess.CalledProcessError as exc:
            print(f"bench: staff add failed: {exc.stderr}", file=sys.stderr)
            return None
        creds = json.loads(raw)
        otp = pyotp.parse_uri(creds["otpauth_uri"])
        assert isinstance(otp, pyotp.TOTP)
        totp = otp.now()
        r = await self.http.post(
            "/api/staff/auth/login",
            json={"username": creds["username"], "password": creds["password"], "totp": totp},
        )
        if r.status_code != 200:
            print(f"bench: staff login failed: {r.status_code} {r.text}", file=sys.stderr)
            return None
        token = str(r.json()["token"])
        # A one-time password allows nothing but its own change.
        r = await self.http.post(
            "/api/staff/auth/password",
            json={"current_password": creds["password"], "new_password": secrets.token_urlsafe(18)},
            headers={"Authorization": f"Bearer {token}"},
        )
        if r.status_code != 204:
            print(f"bench: staff password change failed: {r.status_code}", file=sys.stderr)
            return None
        return token

    async def prepare_sessions(self, sessions: int, capacity: int) -> bool:
        token = await self._staff_token()
        if token is None:
            return False
        headers = {"Authorization": f"Bearer {token}"}
        center = await self.http.post(
            "/api/staff/centers",
            headers=headers,
            json={
                "name": "Bench Centre",
                "address": "1 MG Road",
                "district_id": DISTRICT,
                "block_name": "East",
                "pincode": "560001",
                "lat": 12.97,
                "long": 77.59,
                "from": "09:00",
                "to": "17:00",
                "fee_type": "Free",
            },
        )
        if center.status_code != 200:
            print(f"bench: centre not created: {center.status_code} {center.text}", file=sys.stderr)
            return False
        center_id = center.json()["center_id"]
        self.center_id = center_id
        # Today: booked people are vaccinated in the doses scenario.
        day = _india_today().strftime("%d-%m-%Y")
        for _ in range(sessions):
            r = await self.http.post(
                "/api/staff/sessions",
                headers=headers,
                json={
                    "center_id": center_id,
                    "date": day,
                    "vaccine": "COVISHIELD",
                    "min_age_limit": 18,
                    "max_age_limit": None,
                    "capacity_dose1": capacity,
                    "capacity_dose2": 0,
                    "slots": ["09:00AM-11:00AM", "11:00AM-01:00PM"],
                    "fee": "0",
                },
            )
            if r.status_code != 200:
                print(f"bench: session not published: {r.status_code} {r.text}", file=sys.stderr)
                return False
            self.session_ids.append(r.json()["session_id"])
        return True

    async def bookings(self) -> dict[str, float]:
        it = iter(self.beneficiaries)

        async def step(n: int) -> bool:
            try:
                token, ref = next(it)
            except StopIteration:
                raise StopAsyncIteration from None
            session_id = self.session_ids[n % len(self.session_ids)]
            r = await self.http.post(
                "/api/v2/appointment/schedule",
                headers={"Authorization": f"Bearer {token}"},
                json={
                    "dose": 1,
                    "session_id": session_id,
                    "slot": "09:00AM-11:00AM",
                    "beneficiaries": [ref],
                },
            )
            if r.status_code != 200:
                return False
            self.booked.append((ref, session_id, r.json()["appointment_confirmation_no"]))
            return True

        return await drive(self.concurrency, self.duration, step)

    async def dose_staff(self) -> str | None:
        """The centre's vaccinator token (a manager adds stock first); made once per run."""
        if self.vaccinator is not None:
            return self.vaccinator
        if self.center_id is None:
            return None
        manager = await self._staff_token(
            f"bench-manager{self.staff_round}", "facility_manager", f"center:{self.center_id}"
        )
        vaccinator = await self._staff_token(
            f"bench-vaccinator{self.staff_round}", "vaccinator", f"center:{self.center_id}"
        )
        if manager is None or vaccinator is None:
            return None
        self.lot = f"BENCH-1{self.staff_round}"
        expiry = (dt.date.today() + dt.timedelta(days=365)).strftime("%d-%m-%Y")
        stock = await self.http.post(
            "/api/staff/stock",
            headers={"Authorization": f"Bearer {manager}"},
            json={
                "vaccine": "COVISHIELD",
                "lot": self.lot,
                "expiry": expiry,
                "quantity": 1_000_000,
            },
        )
        if stock.status_code not in (200, 201):
            print(f"bench: stock not added: {stock.status_code} {stock.text}", file=sys.stderr)
            return None
        self.vaccinator = vaccinator
        return vaccinator

    async def roster(self) -> dict[str, float] | None:
        """A vaccinator pages through a session's roster (masked, audited reads)."""
        vaccinator = await self.dose_staff()
        if vaccinator is None or not self.session_ids:
            return None
        headers = {"Authorization": f"Bearer {vaccinator}"}

        async def step(n: int) -> bool:
            session_id = self.session_ids[n % len(self.session_ids)]
            r = await self.http.get(
                f"/api/staff/sessions/{session_id}/roster?limit=50", headers=headers
            )
            return r.status_code == 200

        return await drive(self.concurrency, self.duration, step)

    async def doses(self) -> dict[str, float] | None:
        """Check-in with the secret code, then record the dose (with its audit writes)."""
        if self.center_id is None or not self.booked:
            return None
        vaccinator = await self.dose_staff()
        if vaccinator is None:
            return None
        headers = {"Authorization": f"Bearer {vaccinator}"}
        it = iter(self.booked)
        problems: list[str] = []

        async def step(n: int) -> bool:
            try:
                ref, session_id, appointment_id = next(it)
            except StopIteration:
                raise StopAsyncIteration from None
            code = self.tail.codes.get(appointment_id)
            if code is None:
                return False
            r = await self.http.post(
                "/api/staff/checkin",
                headers=headers,
                json={"appointment_id": appointment_id, "secret_code": code},
            )
            if r.status_code != 200:
                problems.append(f"check-in {r.status_code} {r.text[:120]}")
                return False
            r = await self.http.post(
                "/api/staff/vaccinations",
                headers={**headers, "Idempotency-Key": f"bench-{appointment_id}"},
                json={
                    "beneficiary_reference_id": ref,
                    "session_id": session_id,
                    "vaccine": "COVISHIELD",
                    "dose": 1,
                    "batch": self.lot,
                },
            )
            if r.status_code not in (200, 201):
                problems.append(f"record {r.status_code} {r.text[:120]}")
            return r.status_code in (200, 201)

        result = await drive(self.concurrency, self.duration, step)
        for problem in sorted(set(problems))[:5]:
            print(f"bench: {problem}", file=sys.stderr)
        return result

    async def get_loop(self, path: str, concurrency: int) -> dict[str, Any]:
        """GET ``path`` from ``concurrency`` clients: with wrk when installed (a C load
        generator takes far less of the shared cores than Python does), else httpx."""
        if shutil.which("wrk"):
            return wrk(self.server.base + path, concurrency, self.duration)

        async def step(n: int) -> bool:
            r = await self.http.get(path)
            return r.status_code == 200

        result: dict[str, Any] = dict(await drive(concurrency, self.duration, step))
        result["generator"] = "httpx"
        return result


def ensure_wrk() -> bool:
    """wrk for the GET loops: installed (Debian package ``wrk``) when missing and possible."""
    if shutil.which("wrk"):
        return True
    if shutil.which("apt-get") and hasattr(os, "geteuid") and os.geteuid() == 0:
        print("bench: installing wrk (apt-get install wrk)…", file=sys.stderr)
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "wrk"],
            check=False,
            capture_output=True,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
    if shutil.which("wrk"):
        return True
    print(
        "bench: wrk is not installed and could not be: the GET figures (bare endpoint, "
        "calendarByDistrict) measure the Python load generator, not the server.",
        file=sys.stderr,
    )
    return False


def _ms(text: str) -> float:
    value = float(re.sub(r"[a-z]+$", "", text))
    if text.endswith("us"):
        return value / 1000
    if text.endswith("ms"):
        return value
    if text.endswith("s"):
        return value * 1000
    return value


def wrk(url: str, connections: int, duration: float) -> dict[str, Any]:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{max(1, int(duration))}s", "--latency", url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s*50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s*99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "per_second": round(rate, 1),
        "p50_ms": round(p50, 2),
        "p99_ms": round(p99, 2),
        "failures": int(bad.group(1)) if bad else 0,
        "generator": "wrk",
    }


def overbooking_check(database: str) -> dict[str, int]:
    sql = (
        "SELECT coalesce(sum(booked_dose1),0), coalesce(sum(capacity_dose1),0), "
        "(SELECT count(*) FROM appointments WHERE status='booked'), "
        "(SELECT count(*) FROM vaccination_sessions WHERE booked_dose1 > capacity_dose1) "
        "FROM vaccination_sessions"
    )
    out = subprocess.run(
        ["psql", "-h", PG_HOST, "-p", str(PG_PORT), "-U", PG_USER, "-d", database, "-Atc", sql],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    booked, capacity, live, overbooked = (int(x) for x in out.split("|"))
    return {
        "booked_seats": booked,
        "capacity": capacity,
        "live_appointments": live,
        "overbooked_sessions": overbooked,
    }


async def metered(meter: CpuMeter, step: Awaitable[dict[str, Any] | None]) -> dict[str, Any] | None:
    """A step's figures with its CPU per operation (``cpu``: bench/cpu.py)."""
    before = meter.snapshot()
    result = await step
    after = meter.snapshot()
    if result is not None:
        result = {**result, "cpu": per_operation(before, after, int(result.get("ops", 0)))}
    return result


async def run(duration: float, concurrency: int) -> dict[str, Any]:
    if not _reachable(PG_HOST, PG_PORT):
        raise SystemExit("bench: PostgreSQL at 127.0.0.1:5432 is needed")
    if shutil.which("pgbench") is None:
        raise SystemExit(
            "bench: pgbench is needed (Debian package postgresql-contrib / postgresql)"
        )
    use_redis = _reachable("127.0.0.1", 6379)
    ensure_wrk()
    database = DATABASE
    _psql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    _psql(f'CREATE DATABASE "{database}"')
    results: dict[str, Any] = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cores": os.cpu_count(), "python": sys.version.split()[0]},
        "config": {
            "duration_s": duration,
            "concurrency": concurrency,
            "workers": 2,
            "redis": use_redis,
        },
    }
    print("pgbench TPC-B baseline…", file=sys.stderr)
    tps, pgbench_cpu = pgbench_tps(int(duration), 16)
    results["pgbench_tps"] = round(tps, 1)
    results["pgbench_cpu"] = pgbench_cpu
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp), database, use_redis)
        if use_redis:
            import redis

            redis.Redis.from_url(REDIS_URL).flushdb()
        server.start()
        tail = SmsTail(server.sms)
        scenarios = Scenarios(server, tail, duration, concurrency)
        meter = CpuMeter(server.process.pid if server.process else None, database)
        try:
            print("OTP logins…", file=sys.stderr)
            results["otp_logins"] = await metered(meter, scenarios.otp_logins())
            print("registrations…", file=sys.stderr)
            results["registrations"] = await metered(meter, scenarios.registrations())
            print("bookings…", file=sys.stderr)
            if await scenarios.prepare_sessions(sessions=4, capacity=10_000):
                results["bookings"] = await metered(meter, scenarios.bookings())
                results["bookings"]["integrity"] = overbooking_check(database)
                print("doses (check-in + record)…", file=sys.stderr)
                doses = await metered(meter, scenarios.doses())
                if doses is not None:
                    results["doses"] = doses
            print("public calendar vs bare endpoint at 200 clients…", file=sys.stderr)
            results["bare_endpoint"] = await scenarios.get_loop("/healthz", 200)
            day = dt.date.today().strftime("%d-%m-%Y")
            results["calendar_by_district"] = await scenarios.get_loop(
                f"/api/v2/appointment/sessions/public/calendarByDistrict?district_id={DISTRICT}&date={day}",
                200,
            )
        finally:
            await scenarios.http.aclose()
            tail.stop()
            server.stop()
    _psql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    print("audit log: appends, checkpoints and proofs…", file=sys.stderr)
    from bench import audit

    results["audit"] = await audit.run(min(duration, 5.0))
    print("certificates on one core…", file=sys.stderr)
    from bench import certificates

    results["certificates"] = certificates.run(min(duration, 3.0))
    results["scale"] = latest_scale()
    return results


def latest_scale() -> dict[str, Any]:
    """``make bench-scale`` takes up to 30 minutes, so ``make bench`` reports its latest run."""
    runs = sorted(RESULTS.glob("scale-*.json")) if RESULTS.exists() else []
    if not runs:
        return {"note": "not measured: run make bench-scale"}
    latest = json.loads(runs[-1].read_text())
    return {
        "note": "from the latest make bench-scale run",
        "file": runs[-1].name,
        "when": latest.get("when"),
        "sizes": {size: figures for size, figures in latest.get("sizes", {}).items()},
        "ratios": latest.get("ratios", {}),
    }


def _cpu_note(cpu: dict[str, float] | None, tps: float) -> str:
    """CPU per operation by whom, and the rate (and ratio to pgbench) the cores would allow
    without the load generator: what bounds the figure (bench/cpu.py)."""
    if not cpu:
        return ""
    if "server_ms" not in cpu:
        return ""
    mine = "" if cpu["server_ms"] == 0 else f"server {cpu['server_ms']:.2f} + "
    return (
        f"CPU/op: {mine}PostgreSQL {cpu['postgres_ms']:.2f} + generator "
        f"{cpu['load_generator_ms']:.2f} ms; {cpu['cores_busy']:.1f} cores busy; "
        f"without generator ≤ {cpu['rate_without_generator']:.0f}/s "
        f"({cpu['rate_without_generator'] / tps:.2f})"
    )


def table(results: dict[str, Any]) -> str:
    tps = results["pgbench_tps"]
    rows = [
        (
            "pgbench TPC-B (baseline)",
            f"{tps:.0f}/s",
            "1.00",
            _cpu_note(results.get("pgbench_cpu"), tps),
        )
    ]
    for key, label in (
        ("otp_logins", "OTP logins (generate+confirm)"),
        ("registrations", "registrations"),
        ("bookings", "bookings"),
        ("doses", "doses (check-in + record)"),
    ):
        if key in results:
            r = results[key]
            rows.append(
                (
                    label,
                    f"{r['per_second']:.0f}/s",
                    f"{r['per_second'] / tps:.2f}",
                    f"p99 {r['p99_ms']:.0f} ms; " + _cpu_note(r.get("cpu"), tps),
                )
            )
    if "bookings" in results:
        goal = results["bookings"]["per_second"] / tps
        integ = results["bookings"]["integrity"]
        rows.append(
            (
                "  goal: at least 0.40 of pgbench",
                "",
                "met" if goal >= 0.4 else "NOT met",
                f"overbooked sessions: {integ['overbooked_sessions']}",
            )
        )
    bare = results.get("bare_endpoint")
    cal = results.get("calendar_by_district")
    if bare and cal:
        rows.append(
            (
                "bare endpoint, 200 clients",
                f"{bare['per_second']:.0f}/s",
                "1.00",
                f"p50 {bare['p50_ms']:.1f} / p99 {bare['p99_ms']:.1f} ms",
            )
        )
        rows.append(
            (
                "calendarByDistrict, 200 clients",
                f"{cal['per_second']:.0f}/s",
                f"{cal['per_second'] / max(bare['per_second'], 1e-9):.2f}",
                f"p50 {cal['p50_ms']:.1f} / p99 {cal['p99_ms']:.1f} ms",
            )
        )
    if "doses" in results:
        met = "met" if results["doses"]["per_second"] >= 700 else "NOT met"
        rows.append(("  anchor: 700 doses/s on one node", "", met, ""))
    aud = results.get("audit")
    if aud:
        a, locked = aud["append"], aud["append_with_v1_global_lock"]
        rows.append(
            (
                f"audit appends, {aud['writers']} writers",
                f"{a['per_second']:.0f}/s",
                f"{a['ratio_to_global_lock']:.2f}",
                f"vs {locked['per_second']:.0f}/s under the v1 global lock; "
                f"p99 {a['p99_ms']:.0f} ms",
            )
        )
        for size, cost in aud["sizes"].items():
            rows.append(
                (
                    f"audit log of {int(size):.0e} entries",
                    "",
                    "",
                    f"checkpoint p50 {cost['checkpoint']['p50_ms']:.1f} ms, inclusion proof "
                    f"p50 {cost['inclusion_proof']['p50_ms']:.2f} ms, "
                    f"{cost['max_hashes_read']} hashes read",
                )
            )
        ratio = aud["proof_cost_ratio_large_to_small"]
        met = "met" if 0.5 <= ratio <= 1.5 else "NOT met"
        rows.append(("  goal: same proof cost at both sizes ±50 %", "", f"{ratio:.2f}", met))
    certs = results.get("certificates")
    if certs:
        issue = certs["issue_all_formats"]
        rows.append(
            (
                "certificates issued (4 formats)",
                f"{issue['per_second']:.0f}/s",
                f"{issue['ratio']:.2f}",
                f"vs {issue['baseline_per_second']:.0f}/s raw signing; goal 0.25 "
                + ("met" if issue["ratio"] >= 0.25 else "NOT met"),
            )
        )
        for fmt in ("vc", "dcc", "shc"):
            v = certs[f"verify_{fmt}"]
            goal = "met" if v["ratio"] >= 0.7 else "NOT met"
            rows.append(
                (
                    f"verify {fmt}, one core",
                    f"{v['per_second']:.0f}/s",
                    f"{v['ratio']:.2f}",
                    f"vs {v['baseline']} {v['baseline_per_second']:.0f}/s; goal 0.70 {goal}",
                )
            )
    scale = results.get("scale")
    if scale and scale.get("ratios"):
        largest = max(scale["ratios"], key=int)
        worst = max(scale["ratios"][largest].values(), default=0.0)
        met = "met" if worst <= 1.5 else "NOT met"
        rows.append(
            (
                f"latency at {int(largest):,} vs smallest size",
                "",
                f"{worst:.2f}",
                f"worst p50/p99 ratio over {', '.join(PATHS_AT_SCALE)}; goal 1.5 {met}",
            )
        )
    elif scale:
        rows.append(("latency at 10 M people", "", "", scale["note"]))
    width = max(len(r[0]) for r in rows)
    lines = [f"{'measure':<{width}}  {'rate':>10}  {'ratio':>7}  notes"]
    lines += [f"{a:<{width}}  {b:>10}  {c:>7}  {d}" for a, b, c, d in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    results = asyncio.run(run(args.duration, args.concurrency))
    save(results, "", table(results))


def save(results: dict[str, Any], prefix: str, shown: str, stamp: str | None = None) -> Path:
    """Write a run's figures to ``bench/results/<prefix><time>.json`` and print its table."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = stamp or dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"{prefix}{stamp}.json"
    out.write_text(json.dumps(results, indent=2))
    print(shown)
    print(f"\nresults: {out.relative_to(ROOT)}")
    return out


if __name__ == "__main__":
    main()
