"""PgBouncer in transaction mode in front of PostgreSQL (the production default), with the
version Debian 12 ships (1.18: no ``max_prepared_statements``): immunet works through it
with ``IMMUNET_DATABASE_STATEMENT_CACHE=false``, and fails without it (the control that
shows the pooler really shares server connections between clients).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from immunet.app import create_app
from immunet.context import build_context
from immunet.db.migrate import seed_reference_data, upgrade
from immunet.settings import Settings
from tests.conftest import DrainingTransport, Outbox, bearer, login, register
from tests.factories import adult
from tests.faults import pginstance

PGBOUNCER = shutil.which("pgbouncer") or (
    "/usr/sbin/pgbouncer" if Path("/usr/sbin/pgbouncer").exists() else None
)


@dataclass
class Bouncer:
    pg: pginstance.PgInstance
    port: int

    @property
    def url(self) -> str:
        return f"postgresql://{self.pg.user}@127.0.0.1:{self.port}/immunet"


@pytest.fixture(scope="module")
def bouncer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bouncer]:
    if PGBOUNCER is None or not pginstance.available():
        pytest.skip("pgbouncer (Debian package) or PostgreSQL binaries missing: skipped")
    root = Path("/tmp") / f"immunet-bouncer-{tmp_path_factory.mktemp('b').name}"
    pg = pginstance.PgInstance(root / "pg")
    pg.init()
    pg.start()
    process = None
    try:
        pg.psql("CREATE DATABASE immunet")
        upgrade(pg.url("immunet"))
        asyncio.run(seed_reference_data(pg.url("immunet")))
        port = pginstance.free_port()
        conf = root / "pgbouncer.ini"
        (root / "userlist.txt").write_text(f'"{pg.user}" ""\n')
        conf.write_text(
            "[databases]\n"
            f"immunet = host=127.0.0.1 port={pg.port} dbname=immunet\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
            f"auth_type = trust\nauth_file = {root / 'userlist.txt'}\n"
            # Two server connections for every client: statements of one client land on
            # connections another client prepared its own on.
            "pool_mode = transaction\ndefault_pool_size = 2\nmax_client_conn = 200\n"
            "ignore_startup_parameters = extra_float_digits\n"
        )
        if os.geteuid() == 0:
            for path in (root, conf, root / "userlist.txt"):
                shutil.chown(path, "postgres", "postgres")
        command = [PGBOUNCER, str(conf)]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while (
            subprocess.run(
                [str(pginstance.PG_BIN / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
                capture_output=True,
            ).returncode
            != 0
        ):
            assert time.monotonic() < deadline, "pgbouncer did not start"
            time.sleep(0.1)
        yield Bouncer(pg, port)
    finally:
        if process is not None:
            process.terminate()
            process.wait(10)
        pg.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


async def _journey(
    bouncer: Bouncer, keyring, tmp_path: Path, statement_cache: bool, failures: list[str]
) -> list[int]:
    sms = tmp_path / f"sms-{statement_cache}.jsonl"
    settings = Settings(
        env="test",
        database_url=bouncer.url,
        database_statement_cache=statement_cache,
        sms_backend=f"file:{sms}",
        keyring=tmp_path / "keyring.json",
        redis_url=None,
        db_pool_size=6,
        api_requests_per_minute=100_000,
        public_cache_seconds=0,
    )
    ctx = build_context(settings, keyring=keyring)
    statuses: list[int] = []
    try:
        transport = DrainingTransport(create_app(settings, context=ctx), ctx, ("203.0.113.30", 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            try:
                token = await login(
                    client, Outbox(sms), "9877700001" if statement_cache else "9877700002"
                )
                assert (await register(client, token, adult("Ravi Menon"))).status_code == 200
            except Exception as exc:
                failures.append(f"{type(exc).__name__}: {exc}")
                return [-1]

            async def one(n: int) -> int:
                if n % 2:
                    path = "/api/v2/admin/location/districts/16"
                    return (await client.get(path)).status_code
                listing = await client.get(
                    "/api/v2/appointment/beneficiaries", headers=bearer(token)
                )
                return listing.status_code

            for _ in range(3):
                statuses += await asyncio.gather(
                    *(one(n) for n in range(12)), return_exceptions=False
                )
    except Exception as exc:
        failures.append(f"{type(exc).__name__}: {exc}")
        statuses.append(-1)
    finally:
        await ctx.close()
    return statuses


async def test_immunet_works_through_pgbouncer_transaction_pooling(bouncer, keyring, tmp_path):
    failures: list[str] = []
    statuses = await _journey(bouncer, keyring, tmp_path, False, failures)
    assert statuses and set(statuses) == {200}, (statuses, failures)


async def test_without_the_setting_shared_server_connections_break_prepared_statements(
    bouncer, keyring, tmp_path
):
    failures: list[str] = []
    statuses = await _journey(bouncer, keyring, tmp_path, True, failures)
    assert set(statuses) != {200}, "the pooler did not share server connections"
    # ...and what failed is asyncpg's prepared statements, found on the wrong connection.
    assert any("prepared statement" in failure for failure in failures), failures
