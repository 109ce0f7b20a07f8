"""Reads that scale: public availability from a real streaming replica, a lagging or lost
replica skipped for the primary, and citizens' own data always read from the primary.

The primary and its replica are PostgreSQL instances of the test's own (pg_basebackup -R
from the primary: real streaming replication). Replay is paused on the replica with
``pg_wal_replay_pause()`` to make it lag on purpose.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from immunet.app import create_app
from immunet.certificates import service as certificate_service
from immunet.context import build_context
from immunet.db.migrate import seed_reference_data, upgrade
from immunet.settings import Settings
from tests.factories.sessions import make_center, make_session
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
