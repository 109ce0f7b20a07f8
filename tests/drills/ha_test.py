"""`make ha-test`: failover without losing a confirmed write.

etcd and three PostgreSQL nodes under Patroni with synchronous replication
(``synchronous_mode: true``: a commit returns only once a standby has its WAL), all on
127.0.0.1 with their own ports and data directories; an ``immunet serve --workers 2``
connected through libpq-style multi-host URLs with ``target_session_attrs=read-write``;
a load of bookings and of check-ins with dose recordings (each client retries with its
idempotency key, as a real client would).
In the middle of it the primary node is killed with ``kill -9`` (Patroni and PostgreSQL
both: the machine is gone). Patroni promotes the synchronous standby; the service finds it
by itself. Then: every booking answered 2xx is on the new primary, none is duplicated, no
session is overbooked, and ``immunet audit verify`` passes.

Last line: ``failover: <seconds>s; confirmed=<n> lost=<n> duplicated=<n> overbooked=<n>``;
the exit status is non-zero when any of the last three is not 0 (or the rehearsal failed).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from immunet.booking.models import Appointment
from immunet.context import build_context
from immunet.people.models import Beneficiary
from immunet.security.keyring import Keyring
from immunet.sessions.models import VaccinationSession
from immunet.settings import Settings
from immunet.vaccination.models import DoseRecord
from tests.conftest import Outbox
from tests.factories import mobile
from tests.factories.sessions import add_beneficiary, make_center, make_citizen, make_session
from tests.factories.staff import make_staff
from tests.factories.vaccination import secret_codes
from tests.faults.pginstance import PG_BIN, free_port

IMMUNET = [sys.executable, "-m", "immunet.cli"]
SLOT = "09:00AM-11:00AM"
NODES = 3
SESSIONS = 4
CAPACITY = 25
PEOPLE = 160
DOSE_ACCOUNTS = 4  # six beneficiaries each, booked into today's session, then vaccinated
SPACING = 0.08  # seconds between clients starting: the load spans the failover
KILL_AFTER = 4.0


class Failed(Exception):
    pass


def as_postgres(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


def owned(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(path, "postgres", "postgres")
    return path


class Cluster:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.etcd_client = free_port()
        self.etcd_peer = free_port()
        self.rest = [free_port() for _ in range(NODES)]
        self.pg = [free_port() for _ in range(NODES)]
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.killed: int | None = None

    def start(self) -> None:
        etcd_dir = owned(self.root / "etcd")
        self.procs["etcd"] = subprocess.Popen(
            as_postgres(
                [
                    "etcd",
                    "--name",
                    "e0",
                    "--data-dir",
                    str(etcd_dir / "data"),
                    "--listen-client-urls",
                    f"http://127.0.0.1:{self.etcd_client}",
                    "--advertise-client-urls",
                    f"http://127.0.0.1:{self.etcd_client}",
                    "--listen-peer-urls",
                    f"http://127.0.0.1:{self.etcd_peer}",
                    "--initial-advertise-peer-urls",
                    f"http://127.0.0.1:{self.etcd_peer}",
                    "--initial-cluster",
                    f"e0=http://127.0.0.1:{self.etcd_peer}",
                    "--listen-metrics-urls",
                    f"http://127.0.0.1:{free_port()}",
                ]
            ),
            stdout=(etcd_dir / "log").open("w"),
            cwd=etcd_dir,  # the postgres user's own directory (see start_node)
            stderr=subprocess.STDOUT,
        )
        for n in range(NODES):
            self.start_node(n)

    def config(self, n: int) -> Path:
        node = owned(self.root / f"node{n}")
        conf = {
            "scope": "immunet-ha",
            "name": f"node{n}",
            "restapi": {
                "listen": f"127.0.0.1:{self.rest[n]}",
                "connect_address": f"127.0.0.1:{self.rest[n]}",
            },
            "etcd3": {"hosts": f"127.0.0.1:{self.etcd_client}"},
            "bootstrap": {
                "dcs": {
                    "ttl": 10,
                    "loop_wait": 1,
                    "retry_timeout": 4,
                    "maximum_lag_on_failover": 1048576,
                    "synchronous_mode": True,
                    "postgresql": {
                        "use_pg_rewind": False,
                        "parameters": {
                            "max_connections": 100,
                            "wal_level": "replica",
                            "hot_standby": "on",
                            "max_wal_senders": 10,
                            "max_replication_slots": 10,
                            # A killed process loses nothing the OS has; the rehearsal kills
                            # processes, not machines, so fsync only costs time here.
                            "fsync": "off",
                            "shared_buffers": "32MB",
                        },
                    },
                },
                "initdb": [{"encoding": "UTF8"}, {"auth": "trust"}],
                "pg_hba": [
                    "local all all trust",
                    "host replication replicator 127.0.0.1/32 trust",
                    "host all all 127.0.0.1/32 trust",
                ],
            },
            "postgresql": {
                "listen": f"127.0.0.1:{self.pg[n]}",
                "connect_address": f"127.0.0.1:{self.pg[n]}",
                "data_dir": str(node / "data"),
                "bin_dir": str(PG_BIN),
                "pgpass": str(node / "pgpass"),
                "authentication": {
                    "superuser": {"username": "postgres", "password": "drill"},
                    "replication": {"username": "replicator", "password": "drill"},
                },
                "parameters": {"unix_socket_directories": str(node)},
            },
            "tags": {"nofailover": False, "noloadbalance": False, "clonefrom": False},
        }
        path = node / "patroni.yml"
        path.write_text(json.dumps(conf))  # YAML is a superset of JSON
        if os.geteuid() == 0:
            shutil.chown(path, "postgres", "postgres")
        return path

    def start_node(self, n: int) -> None:
        path = self.config(n)
        self.procs[f"node{n}"] = subprocess.Popen(
            as_postgres(["patroni", str(path)]),
            stdout=(self.root / f"node{n}" / "patroni.log").open("w"),
            stderr=subprocess.STDOUT,
            # Its own directory, not the checkout's: Patroni's worker processes change into
            # the directory they were started in, which the postgres user may not be allowed
            # to enter (a checkout under a root-only `mktemp -d`).
            cwd=path.parent,
        )

    def members(self) -> list[dict[str, Any]]:
        for port in self.rest:
            try:
                members = httpx.get(f"http://127.0.0.1:{port}/cluster", timeout=1).json()["members"]
                return list(members)
            except (httpx.HTTPError, ValueError, KeyError):
                continue
        return []

    def wait_healthy(self, members: int, seconds: float) -> dict[str, Any]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            found = self.members()
            leaders = [m for m in found if m["role"] == "leader" and m["state"] == "running"]
            sync = [
                m
                for m in found
                if m["role"] == "sync_standby" and m["state"] in ("running", "streaming")
            ]
            if leaders and sync and len(found) >= members:
                return leaders[0]
            time.sleep(0.5)
        raise Failed(f"the cluster did not become healthy: {self.members()}")

    def url(self) -> str:
        hosts = "&".join(f"host=127.0.0.1:{p}" for p in self.pg)
        return f"postgresql://postgres@/immunet?{hosts}&target_session_attrs=read-write"

    def kill_node(self, name: str) -> None:
        n = int(name.removeprefix("node"))
        pidfile = self.root / name / "data" / "postmaster.pid"
        postmaster = int(pidfile.read_text().split()[0])
        # Patroni (a child of runuser when run as root) and PostgreSQL, all at once: the
        # node is gone, nothing on it restarts PostgreSQL or keeps the leader key.
        victims = [*self.children(self.procs[name].pid), self.procs[name].pid, postmaster]
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.killed = n

    @staticmethod
    def children(parent: int) -> list[int]:
        out = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
                if ppid == parent:
                    out.append(int(entry.name))
                    out.extend(Cluster.children(int(entry.name)))
        return out

    def stop(self) -> None:
        for name, proc in self.procs.items():
            if name.startswith("node") and proc.poll() is None:
                proc.terminate()
        for name, proc in self.procs.items():
            if name.startswith("node"):
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
        for n in range(NODES):
            subprocess.run(
                as_postgres(
                    [
                        str(PG_BIN / "pg_ctl"),
                        "-D",
                        str(self.root / f"node{n}" / "data"),
                        "-m",
                        "immediate",
                        "stop",
                    ]
                ),
                capture_output=True,
            )
        etcd = self.procs.get("etcd")
        if etcd is not None:
            etcd.terminate()
            etcd.wait(10)


def create_database(port: int) -> None:
    subprocess.run(
        as_postgres(
            [
                str(PG_BIN / "psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-U",
                "postgres",
                "-XAtqc",
                "CREATE DATABASE immunet",
            ]
        ),
        check=True,
        capture_output=True,
    )


def start_server(port: int, env: dict[str, str], root: Path) -> subprocess.Popen[bytes]:
    with (root / "serve.log").open("w") as log:
        return subprocess.Popen(
            [*IMMUNET, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
            env=env,
            cwd=root,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/readyz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        IMMUNET + args, env=env, cwd=cwd, capture_output=True, text=True, timeout=300
    )


async def rehearse(root: Path) -> tuple[float, int, int, int, int]:
    cluster = Cluster(root)
    server = None
    try:
        cluster.start()
        leader = cluster.wait_healthy(NODES, 120)
        port = int(leader["port"]) if "port" in leader else cluster.pg[int(leader["name"][-1])]
        await asyncio.to_thread(create_database, port)
        url = cluster.url()
        env = {k: v for k, v in os.environ.items() if not k.startswith("IMMUNET_")}
        env.update(
            IMMUNET_DATABASE_URL=url,
            IMMUNET_KEYRING=str(root / "keys" / "keyring.json"),
            IMMUNET_SMS_BACKEND=f"file:{root / 'sms.jsonl'}",
            IMMUNET_ENV="development",
            IMMUNET_LOG_FORMAT="text",
            IMMUNET_API_REQUESTS_PER_MINUTE="100000",
            IMMUNET_DB_POOL_SIZE="5",
        )
        for command in (["keys", "init"], ["db", "upgrade"]):
            done = cli(command, env, root)
            if done.returncode != 0:
                raise Failed(f"immunet {' '.join(command)}: {done.stderr[-500:]}")
        settings = Settings(
            env="development",
            database_url=url,
            keyring=root / "keys" / "keyring.json",
            sms_backend=f"file:{root / 'sms-setup.jsonl'}",
            redis_url=None,
            db_pool_size=2,
        )
        ctx = build_context(settings, keyring=Keyring.load(settings.keyring))
        try:
            center = await make_center(ctx)
            sessions = [
                (await make_session(ctx, center_id=center, capacity_dose1=CAPACITY)).session_id
                for _ in range(SESSIONS)
            ]
            people = []
            for n in range(PEOPLE):
                citizen = await make_citizen(ctx, mobile(700_000 + n))
                people.append((citizen, await add_beneficiary(ctx, citizen)))
            # The vaccination day: today's session at a centre, its staff, six people per
            # account to book into it (through the served API below) and vaccinate.
            clinic = await make_center(ctx)
            today = await make_session(
                ctx, center_id=clinic, days_ahead=0, capacity_dose1=6 * DOSE_ACCOUNTS
            )
            vaccinator = await make_staff(ctx, "vaccinator", f"center:{clinic}")
            manager = await make_staff(ctx, "facility_manager", f"center:{clinic}")
            families = []
            for n in range(DOSE_ACCOUNTS):
                citizen = await make_citizen(ctx, mobile(760_000 + n))
                refs = [await add_beneficiary(ctx, citizen, name=f"Person {k}") for k in range(6)]
                families.append((citizen, refs))
        finally:
            await ctx.close()

        api = free_port()
        server = await asyncio.to_thread(start_server, api, env, root)
        base = f"http://127.0.0.1:{api}"
        deadline = time.monotonic() + 60
        while True:
            if await asyncio.to_thread(ready, base):
                break
            if server.poll() is not None or time.monotonic() > deadline:
                raise Failed("immunet serve did not become ready")
            await asyncio.sleep(0.3)

        lot = "HA0001"
        expiry = (today.date + dt.timedelta(days=90)).strftime("%d-%m-%Y")
        to_vaccinate: list[tuple[str, str]] = []  # (reference id, appointment id)
        async with httpx.AsyncClient(base_url=base, timeout=15) as http:
            stocked = await http.post(
                "/api/staff/stock",
                json={"vaccine": "COVISHIELD", "lot": lot, "expiry": expiry, "quantity": 100},
                headers=manager.headers,
            )
            if stocked.status_code != 201:
                raise Failed(f"stock refused: {stocked.status_code} {stocked.text[:200]}")
            for citizen, refs in families:
                booked = await http.post(
                    "/api/v2/appointment/schedule",
                    json={
                        "dose": 1,
                        "session_id": today.session_id,
                        "slot": SLOT,
                        "beneficiaries": refs,
                        "center_id": clinic,
                    },
                    headers=citizen.headers,
                )
                if booked.status_code != 200:
                    raise Failed(f"family booking refused: {booked.status_code}")
                to_vaccinate += list(zip(refs, booked.json()["appointment_ids"], strict=True))
        codes: dict[str, str] = {}
        deadline = time.monotonic() + 30
        while len(codes) < len(to_vaccinate):
            codes = secret_codes(Outbox(root / "sms.jsonl"))
            if time.monotonic() > deadline:
                raise Failed("the secret-code SMS were not delivered")
            await asyncio.sleep(0.3)

        vaccinated: set[str] = set()
        promised: dict[str, list[str]] = {}
        killed_at: list[float] = []
        first_after_kill: list[float] = []

        async def book(http: httpx.AsyncClient, k: int) -> None:
            citizen, ref = people[k]
            key = str(uuid.uuid4())
            body = {
                "dose": 1,
                "session_id": sessions[k % SESSIONS],
                "slot": SLOT,
                "beneficiaries": [ref],
            }
            for attempt in range(120):
                sent = time.monotonic()
                try:
                    answer = await http.post(
                        "/api/v2/appointment/schedule",
                        json=body,
                        headers={**citizen.headers, "Idempotency-Key": key},
                    )
                except httpx.HTTPError:
                    answer = None
                if answer is not None and answer.status_code < 500:
                    if answer.status_code == 200:
                        promised[ref] = list(answer.json()["appointment_ids"])
                        # Failover time: the kill to the first write *sent after it* that
                        # succeeded (a request in flight at the kill may have committed before).
                        if killed_at and sent > killed_at[0]:
                            first_after_kill.append(time.monotonic())
                    return
                await asyncio.sleep(min(2.0, 0.2 * (attempt + 1)))
            raise Failed("a booking never got an answer")

        async def vaccinate(http: httpx.AsyncClient, ref: str, appointment: str) -> None:
            staff = vaccinator.headers
            key = f"ha-{appointment}"
            for attempt in range(120):
                sent = time.monotonic()
                try:
                    checked = await http.post(
                        "/api/staff/checkin",
                        json={"appointment_id": appointment, "secret_code": codes[appointment]},
                        headers=staff,
                    )
                    if checked.status_code >= 500:
                        raise httpx.HTTPError("retry")
                    recorded = await http.post(
                        "/api/staff/vaccinations",
                        json={
                            "beneficiary_reference_id": ref,
                            "session_id": today.session_id,
                            "vaccine": "COVISHIELD",
                            "dose": 1,
                            "batch": lot,
                        },
                        headers={**staff, "Idempotency-Key": key},
                    )
                except httpx.HTTPError:
                    recorded = None
                if recorded is not None and recorded.status_code < 500:
                    if recorded.status_code != 201:
                        raise Failed(f"dose refused: {recorded.status_code} {recorded.text[:200]}")
                    vaccinated.add(ref)
                    if killed_at and sent > killed_at[0]:
                        first_after_kill.append(time.monotonic())
                    return
                await asyncio.sleep(min(2.0, 0.2 * (attempt + 1)))
            raise Failed("a dose never got an answer")

        async def killer() -> None:
            await asyncio.sleep(KILL_AFTER)
            name = (await asyncio.to_thread(cluster.wait_healthy, NODES, 5))["name"]
            killed_at.append(time.monotonic())
            cluster.kill_node(name)  # signals only: does not block
            print(f"ha-test: killed the primary {name} with kill -9", flush=True)

        async with httpx.AsyncClient(base_url=base, timeout=15) as http:
            tasks = [asyncio.create_task(killer())]
            doses = iter(to_vaccinate)
            for k in range(PEOPLE):
                tasks.append(asyncio.create_task(book(http, k)))
                if k % 6 == 0:  # a dose among every six bookings, all through the failover
                    nxt = next(doses, None)
                    if nxt is not None:
                        tasks.append(asyncio.create_task(vaccinate(http, *nxt)))
                await asyncio.sleep(SPACING)
            tasks += [asyncio.create_task(vaccinate(http, *rest)) for rest in doses]
            await asyncio.gather(*tasks)
        if not first_after_kill:
            raise Failed("no booking succeeded after the failover")
        failover = min(first_after_kill) - killed_at[0]
        leaders = [m["name"] for m in cluster.members() if m["role"] == "leader"]
        if leaders == [] or leaders[0] == f"node{cluster.killed}":
            raise Failed(f"no other node was promoted: {cluster.members()}")
        print(f"ha-test: {leaders[0]} promoted", flush=True)

        # Checks on the new primary (found through the same multi-host URL).
        ctx = build_context(settings, keyring=Keyring.load(settings.keyring))
        try:
            async with ctx.db.reader() as session:
                live = (
                    await session.execute(
                        select(Appointment.appointment_id, Appointment.session_id).where(
                            Appointment.session_id.in_(sessions), Appointment.status == "booked"
                        )
                    )
                ).all()
                dupes = (
                    await session.execute(
                        select(Appointment.beneficiary_id)
                        .where(Appointment.session_id.in_(sessions), Appointment.status == "booked")
                        .group_by(Appointment.beneficiary_id)
                        .having(func.count() > 1)
                    )
                ).all()
                counters = {
                    row.session_id: row.booked_dose1
                    for row in (
                        await session.execute(
                            select(
                                VaccinationSession.session_id, VaccinationSession.booked_dose1
                            ).where(VaccinationSession.session_id.in_(sessions))
                        )
                    ).all()
                }
                dose_rows = (
                    await session.execute(
                        select(Beneficiary.reference_id, func.count())
                        .join(DoseRecord, DoseRecord.beneficiary_id == Beneficiary.id)
                        .where(
                            Beneficiary.reference_id.in_([r for r, _ in to_vaccinate]),
                            DoseRecord.status == "recorded",
                        )
                        .group_by(Beneficiary.reference_id)
                    )
                ).all()
        finally:
            await ctx.close()
        doses_stored = {str(ref): int(n) for ref, n in dose_rows}
        doses_lost = len(vaccinated - set(doses_stored))
        doses_duplicated = sum(1 for n in doses_stored.values() if n > 1)
        print(
            f"ha-test: doses confirmed={len(vaccinated)} lost={doses_lost} "
            f"duplicated={doses_duplicated}",
            flush=True,
        )
        stored = {str(r.appointment_id) for r in live}
        confirmed = {i for ids in promised.values() for i in ids}
        lost = len(confirmed - stored)
        per_session = {s: sum(1 for r in live if r.session_id == s) for s in sessions}
        overbooked = sum(max(0, n - CAPACITY) for n in per_session.values())
        overbooked += sum(max(0, c - CAPACITY) for c in counters.values())
        if any(counters[s] != per_session[s] for s in sessions):
            raise Failed(f"seat counters disagree with live appointments: {counters} {per_session}")
        if stored - confirmed:
            print(f"ha-test: {len(stored - confirmed)} stored bookings never confirmed to a client")

        # The audit log verifies once the (re-elected) sequencer has caught up.
        deadline = time.monotonic() + 60
        while True:
            verified = cli(["audit", "verify"], env, root)
            if verified.returncode != 0:
                raise Failed(f"immunet audit verify failed: {verified.stderr[-500:]}")
            if "(0 awaiting the sequencer)" in verified.stderr:
                break
            if time.monotonic() > deadline:
                raise Failed("the sequencer did not catch up after the failover")
            await asyncio.sleep(1)
        print("ha-test: audit log verified on the new primary", flush=True)
        return (
            failover,
            len(confirmed) + len(vaccinated),
            lost + doses_lost,
            len(dupes) + doses_duplicated,
            overbooked,
        )
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
        cluster.stop()


def main() -> int:
    missing = [tool for tool in ("patroni", "etcd") if shutil.which(tool) is None]
    if missing:
        print(
            f"ha-test: skipped — {', '.join(missing)} not installed (Debian: patroni, etcd-server)"
        )
        return 0
    root = Path(tempfile.mkdtemp(prefix="immunet-ha-", dir="/tmp"))
    owned(root)
    started = time.monotonic()
    try:
        failover, confirmed, lost, duplicated, overbooked = asyncio.run(rehearse(root))
    except Failed as failure:
        print(f"ha-test: FAILED — {failure} (files kept in {root})")
        return 2
    print(f"ha-test took {time.monotonic() - started:.0f}s")
    shutil.rmtree(root, ignore_errors=True)
    print(
        f"failover: {failover:.1f}s; confirmed={confirmed} lost={lost} "
        f"duplicated={duplicated} overbooked={overbooked}"
    )
    return 1 if (lost or duplicated or overbooked) else 0


if __name__ == "__main__":
    sys.exit(main())
