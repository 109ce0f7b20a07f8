"""Disk full on the database volume: writes refused cleanly (503 + Retry-After, nothing
half-written), reads continue.

The database lives in a tablespace on a small tmpfs mounted for the test (WAL stays in the
data directory, as on a server whose data volume fills while pg_wal has its own): filled
to the last byte, PostgreSQL answers "could not extend file" (SQLSTATE 53100) to any write
that needs a new page. Mounting needs root; elsewhere the test is skipped, saying so.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from immunet.app import create_app
from immunet.context import build_context
from immunet.db.migrate import seed_reference_data, upgrade
from immunet.settings import Settings
from tests.faults import pginstance


def _mount(point: Path, size: str) -> bool:
    point.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)], capture_output=True
    )
    return done.returncode == 0


def _unmount(point: Path) -> None:
    subprocess.run(["umount", "-l", str(point)], check=False)


async def test_writes_are_refused_cleanly_and_reads_continue_when_the_disk_is_full(
    keyring, tmp_path
):
    if not pginstance.available() or os.geteuid() != 0:
        pytest.skip("needs root (to mount a small tmpfs) and PostgreSQL binaries: skipped")
    root = Path("/tmp") / f"immunet-diskfull-{tmp_path.name}"
    volume = root / "volume"
    if not _mount(volume, "48m"):
        pytest.skip("mounting a tmpfs is not permitted here: the disk-full test is skipped")
    pg = pginstance.PgInstance(root / "pg")
    try:
        shutil.chown(volume, "postgres", "postgres")
        pg.init()
        pg.start()
        pg.psql(f"CREATE TABLESPACE small LOCATION '{volume}'")
        pg.psql("CREATE DATABASE immunet TABLESPACE small")
        url = pg.url("immunet")
        await asyncio.to_thread(upgrade, url)
        await seed_reference_data(url)
        # Fill the volume: big rows until PostgreSQL cannot extend the table, then small ones
        # into the last pages (a failed insert keeps the pages it added).
        pg.psql("CREATE TABLE filler (b bytea)", "immunet")
        for size in (8000, 800, 80):
            for _ in range(200):
                done = pg.run(
                    "psql",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(pg.port),
                    "-U",
                    pg.user,
                    "-d",
                    "immunet",
                    "-XAtqc",
                    f"INSERT INTO filler SELECT repeat('x', {size})::bytea"
                    " FROM generate_series(1, 1000)",
                    check=False,
                )
                if done.returncode != 0:
                    assert (
                        "No space left on device" in done.stderr
                        or "could not extend" in done.stderr
                    ), done.stderr
                    break

        settings = Settings(
            env="test",
            database_url=url,
            sms_backend=f"file:{tmp_path / 'sms.jsonl'}",
            keyring=tmp_path / "keyring.json",
            redis_url=None,
        )
        ctx = build_context(settings, keyring=keyring)
        transport = httpx.ASGITransport(
            app=create_app(settings, context=ctx), client=("203.0.113.40", 1)
        )
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
                # A write (the OTP transaction, its audit leaf and its SMS) needs new pages.
                refused = await http.post(
                    "/api/v2/auth/public/generateOTP", json={"mobile": "9833300077"}
                )
                assert refused.status_code == 503, refused.text
                assert refused.json()["errorCode"] == "GEN0503"
                assert int(refused.headers["retry-after"]) >= 1
                # Nothing half-written: no OTP transaction, audit leaf or SMS row.
                for table in ("otp_transactions", "audit_events", "sms_outbox"):
                    assert pg.psql(f"SELECT count(*) FROM {table}", "immunet") == "0", table
                # Reads continue.
                states = await http.get("/api/v2/admin/location/states")
                assert states.status_code == 200 and states.json()["states"]
                districts = await http.get("/api/v2/admin/location/districts/16")
                assert districts.status_code == 200
                # Space freed (the operator grows the volume): writes work again.
                pg.psql("DROP TABLE filler", "immunet")
                again = await http.post(
                    "/api/v2/auth/public/generateOTP", json={"mobile": "9833300077"}
                )
                assert again.status_code == 200, again.text
        finally:
            await ctx.close()
    finally:
        pg.stop("immediate")
        _unmount(volume)
        shutil.rmtree(root, ignore_errors=True)
