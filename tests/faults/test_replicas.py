"""Reads that scale: public availability from a real streaming replica, a lagging or lost
replica skipped for the primary, and citizens' own data always read from the primary.

The primary and its replica are PostgreSQL instances of the test's own (pg_basebackup -R
from the primary: real streaming replication). Replay is paused on the replica with
``pg_wal_replay_pause()`` to make it lag on purpose.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from immunet.app import create_app
from immunet.certificates import service as certificate_service
from immunet.clock import india_today
from immunet.context import build_context
from immunet.db.base import utcnow
from immunet.db.migrate import seed_reference_data, upgrade
from immunet.oversight.reports import PublicGroup, public_doses_report
from immunet.people.models import Beneficiary
from immunet.settings import Settings
from immunet.vaccination.models import DoseRecord
from tests.factories.sessions import make_center, make_citizen, make_session
from tests.factories.staff import make_staff
from tests.factories.uip import child
from tests.faults import pginstance

FIND = "/api/v2/appointment/sessions/public/findByPin"


@dataclass
class Pair:
    primary: pginstance.PgInstance
    replica: pginstance.PgInstance

    def caught_up(self, session_id: str, seconds: float = 20) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            found = self.replica.psql(
                f"SELECT count(*) FROM vaccination_sessions WHERE session_id = '{session_id}'",
                "immunet",
            )
            if found == "1":
                return
            time.sleep(0.05)
        raise AssertionError("the replica did not receive the write")

    def caught_up_sql(self, count_query: str, seconds: float = 20) -> None:
        """Wait until ``count_query`` gives the same count on the replica as on the primary."""
        want = self.primary.psql(count_query, "immunet")
        deadline = time.monotonic() + seconds
        while self.replica.psql(count_query, "immunet") != want:
            assert time.monotonic() < deadline, "the replica did not receive the write"
            time.sleep(0.05)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    if not pginstance.available():
        pytest.skip("PostgreSQL server binaries not found: the replica tests are skipped")
    root = Path("/tmp") / f"immunet-replica-{tmp_path_factory.mktemp('r').name}"
    primary = pginstance.PgInstance(root / "primary")
    primary.init("wal_level = replica", "max_wal_senders = 4")
    primary.start()
    replica = pginstance.PgInstance(root / "replica")
    try:
        primary.psql("CREATE DATABASE immunet")
        url = primary.url("immunet")
        upgrade(url)
        asyncio.run(seed_reference_data(url))
        replica.root.mkdir(parents=True)
        if pginstance.os.geteuid() == 0:
            shutil.chown(replica.root, "postgres", "postgres")
        primary.run(
            "pg_basebackup",
            "-h",
            "127.0.0.1",
            "-p",
            str(primary.port),
            "-U",
            primary.user,
            "-D",
            str(replica.data),
            "-R",
            "-X",
            "stream",
            "--checkpoint=fast",
        )
        with open(replica.data / "postgresql.auto.conf", "a", encoding="utf-8") as fh:
            fh.write(f"port = {replica.port}\nunix_socket_directories = '{replica.root}'\n")
        replica.start()
        assert replica.psql("SELECT pg_is_in_recovery()") == "t"
        yield Pair(primary, replica)
    finally:
        replica.stop("immediate")
        primary.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


def _settings(pair: Pair, tmp_path: Path, **overrides: object) -> Settings:
    return Settings(
        env="test",
        database_url=pair.primary.url("immunet"),
        database_replica_urls=[pair.replica.url("immunet")],
        sms_backend=f"file:{tmp_path / 'sms.jsonl'}",
        keyring=tmp_path / "keyring.json",
        redis_url=None,
        public_cache_seconds=0,  # every answer built: which database it read is what counts
        replica_check_seconds=0,
        **overrides,
    )


async def _ids(client: httpx.AsyncClient, day: str) -> set[str]:
    answer = await client.get(FIND, params={"pincode": "560001", "date": day})
    assert answer.status_code == 200, answer.text
    return {s["session_id"] for s in answer.json()["sessions"]}


async def test_public_reads_use_the_replica_and_skip_it_when_it_lags(pair, keyring, tmp_path):
    patient = build_context(
        _settings(pair, tmp_path, replica_max_lag_seconds=3600), keyring=keyring
    )
    strict = build_context(_settings(pair, tmp_path, replica_max_lag_seconds=0.5), keyring=keyring)
    try:
        center = await make_center(patient)
        first = await make_session(patient, center_id=center)
        pair.caught_up(first.session_id)
        day = first.date.strftime("%d-%m-%Y")
        clients = {}
        for name, ctx in (("patient", patient), ("strict", strict)):
            transport = httpx.ASGITransport(
                app=create_app(ctx.settings, context=ctx), client=("203.0.113.20", 1)
            )
            clients[name] = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        assert first.session_id in await _ids(clients["patient"], day)

        pair.replica.psql("SELECT pg_wal_replay_pause()")
        try:
            second = await make_session(patient, center_id=center)
            await asyncio.sleep(0.8)  # the replica is now behind by more than 0.5 s
            # Read from the (paused) replica: the second session is not there yet...
            assert await _ids(clients["patient"], day) == {first.session_id}
            assert patient.db.replicas[0].lag is not None and patient.db.replicas[0].lag > 0.5
            # ...while a threshold of 0.5 s skips it and reads the primary.
            assert await _ids(clients["strict"], day) == {first.session_id, second.session_id}
            ready = await clients["strict"].get("/readyz")
            assert ready.json()["checks"]["replicas"] == "lagging"
        finally:
            pair.replica.psql("SELECT pg_wal_replay_resume()")
        pair.caught_up(second.session_id)
        # Caught up: the replica serves again (lag measured within the threshold), with both.
        deadline = time.monotonic() + 10
        while True:
            assert await _ids(clients["strict"], day) == {first.session_id, second.session_id}
            lag = strict.db.replicas[0].lag
            if lag is not None and lag <= 0.5:
                break
            assert time.monotonic() < deadline, lag
            await asyncio.sleep(0.1)
        for http in clients.values():
            await http.aclose()
    finally:
        await patient.close()
        await strict.close()


async def test_a_lost_replica_sends_reads_to_the_primary(pair, keyring, tmp_path):
    ctx = build_context(_settings(pair, tmp_path, replica_max_lag_seconds=5), keyring=keyring)
    transport = httpx.ASGITransport(
        app=create_app(ctx.settings, context=ctx), client=("203.0.113.21", 1)
    )
    try:
        session = await make_session(ctx)
        day = session.date.strftime("%d-%m-%Y")
        async with ctx.db.transaction() as db_session:  # what `immunet db upgrade` creates
            await certificate_service.active_keyset(ctx, db_session)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            pair.replica.stop("fast")
            try:
                assert session.session_id in await _ids(client, day)
                ready = await client.get("/readyz")
                assert ready.status_code == 200  # the primary still serves everything
                assert ready.json()["checks"]["replicas"] == "unavailable"
            finally:
                pair.replica.start()
    finally:
        await ctx.close()


DUE = "/api/staff/due-list"
COVERAGE = "/api/staff/reports/immunization-coverage"


async def _dose_on(ctx, reference_id: str, center_id: int, given_on: dt.date) -> None:
    """A recorded routine dose at ``center_id`` (what the public dashboard counts)."""
    async with ctx.db.transaction() as session:
        beneficiary_id = (
            await session.execute(
                select(Beneficiary.id).where(Beneficiary.reference_id == reference_id)
            )
        ).scalar_one()
        session.add(
            DoseRecord(
                beneficiary_id=beneficiary_id,
                vaccine_code="BCG",
                series_code="uip-bcg",
                dose_number=1,
                administered_on=given_on,
                center_id=center_id,
                batch="TESTBATCH1",
                recorded_by="test",
                recorded_at=utcnow(),
                status="recorded",
            )
        )


async def test_reports_and_due_lists_read_the_replica_within_the_lag_bound(pair, keyring, tmp_path):
    """The public dashboard's counts, the coverage report and the due list's scan read the
    replica within the lag bound and the primary beyond it (writes made with replay paused
    show only on the primary). The people a due list shows are still read, checked and
    audited on the primary."""
    patient = build_context(
        _settings(pair, tmp_path, replica_max_lag_seconds=3600), keyring=keyring
    )
    strict = build_context(_settings(pair, tmp_path, replica_max_lag_seconds=0.5), keyring=keyring)
    clients: dict[str, httpx.AsyncClient] = {}
    try:
        today = india_today(utcnow())
        center = await make_center(patient, district_id=295)
        elsewhere = await make_center(patient, district_id=295)
        staff = {}
        for name, ctx in (("patient", patient), ("strict", strict)):
            transport = httpx.ASGITransport(
                app=create_app(ctx.settings, context=ctx), client=("203.0.113.22", 1)
            )
            clients[name] = httpx.AsyncClient(transport=transport, base_url="http://testserver")
            staff[name] = (
                await make_staff(ctx, "facility_manager", f"center:{center}"),
                await make_staff(ctx, "national_admin", "national"),
            )
        parent = await make_citizen(patient, "9811100001")

        async def register(born: dt.date) -> str:
            answer = await clients["patient"].post(
                "/api/v2/registration/beneficiary/child",
                json=child(born, center_id=center),
                headers={"Authorization": f"Bearer {parent.token}"},
            )
            assert answer.status_code == 200, answer.text
            return str(answer.json()["beneficiary_reference_id"])

        first_born = today - dt.timedelta(weeks=6)
        second_born = first_born - dt.timedelta(days=35)  # a first birthday in another month
        months = {
            "from": (second_born + dt.timedelta(days=366)).strftime("%Y-%m"),
            "to": (first_born + dt.timedelta(days=366)).strftime("%Y-%m"),
        }

        async def reads(name: str) -> tuple[set[str], set[str], set[str]]:
            manager, national = staff[name]
            due = await clients[name].get(DUE, headers=manager.headers)
            assert due.status_code == 200, due.text
            cover = await clients[name].get(COVERAGE, params=months, headers=national.headers)
            assert cover.status_code == 200, cover.text
            ctx = patient if name == "patient" else strict
            public = await public_doses_report(ctx, group_by=PublicGroup.DAY)
            return (
                {p["beneficiary_reference_id"] for p in due.json()["people"]},
                {r["month"] for r in cover.json()["rows"] if r["district_id"] == 295},
                set(public.cells),
            )

        first = await register(first_born)
        await _dose_on(patient, first, center, today - dt.timedelta(days=2))
        pair.caught_up_sql(f"SELECT count(*) FROM dose_records WHERE center_id = {center}")
        before = await reads("patient")
        assert before[0] == {first}
        assert await reads("strict") == before

        pair.replica.psql("SELECT pg_wal_replay_pause()")
        try:
            second = await register(second_born)
            await _dose_on(patient, second, center, today - dt.timedelta(days=3))
            await asyncio.sleep(0.8)  # the replica is now behind by more than 0.5 s
            assert await reads("patient") == before  # the paused replica: none of it yet
            after = await reads("strict")  # beyond the bound: the primary, with both
            assert after[0] == {first, second}
            assert after[1] == before[1] | {
                (second_born + dt.timedelta(days=366)).strftime("%Y-%m")
            }
            assert after[2] == before[2] | {(today - dt.timedelta(days=3)).isoformat()}
            # The first child moves to another facility (on the primary only): the replica's
            # scan still picks them, the primary's check drops them; the page still answers.
            pair.primary.psql(
                f"UPDATE beneficiaries SET home_center_id = {elsewhere} "
                f"WHERE reference_id = '{first}'",
                "immunet",
            )
            moved = await clients["patient"].get(DUE, headers=staff["patient"][0].headers)
            assert moved.status_code == 200, moved.text
            assert moved.json()["people"] == []
        finally:
            pair.replica.psql("SELECT pg_wal_replay_resume()")
    finally:
        for http in clients.values():
            await http.aclose()
        await patient.close()
        await strict.close()
