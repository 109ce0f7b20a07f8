"""`make restore-drill`: back up a running database, restore it to a point in time into a
fresh instance, and prove the restored service works. Prints ``restore: ok`` or what failed.

1. A PostgreSQL primary of its own (spare port, /tmp) with WAL archiving
   (``archive_command`` copying into an archive directory); `immunet keys init` and
   `immunet db upgrade` as an operator runs them.
2. Writes before the base backup (a citizen with a dose and its certificate), the base
   backup of the running database (``pg_basebackup``), writes after it (more citizens),
   the target time, then writes after the target (which the restore must not bring back).
3. A fresh data directory from the base backup, ``restore_command`` from the archive,
   ``recovery_target_time``, promotion.
4. Checks on the restored instance: every write before the target is there and none
   after it; `immunet audit verify` passes; `immunet serve` starts on it (the offline copy
   of the key ring), a citizen logs in with an OTP and downloads their certificate (PDF).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from immunet.app import create_app
from immunet.context import build_context
from immunet.security.keyring import Keyring
from immunet.settings import Settings
from tests.conftest import DrainingTransport, Outbox
from tests.factories import aadhaar
from tests.factories.certificates import holder, record_dose
from tests.faults import pginstance

IMMUNET = [sys.executable, "-m", "immunet.cli"]


class DrillFailed(Exception):
    pass


def check(condition: bool, what: str) -> None:
    if not condition:
        raise DrillFailed(what)


def cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        IMMUNET + args, env=env, cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


def environment(root: Path, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMMUNET_")}
    env.update(
        IMMUNET_DATABASE_URL=database_url,
        IMMUNET_KEYRING=str(root / "keys" / "keyring.json"),
        IMMUNET_SMS_BACKEND=f"file:{root / 'sms.jsonl'}",
        IMMUNET_ENV="development",
        IMMUNET_LOG_FORMAT="text",
    )
    return env


async def writes(settings: Settings, keyring: Keyring, sms: Path, phase: str, n: int) -> list[str]:
    """``n`` citizens with a beneficiary each (the first of phase "a" also vaccinated,
    with its certificate); returns their reference ids."""
    ctx = build_context(settings, keyring=keyring)
    refs: list[str] = []
    try:
        transport = DrainingTransport(create_app(settings, context=ctx), ctx, ("198.51.100.7", 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            for k in range(n):
                mobile = f"98{ord(phase) % 10}{k:07d}"
                who = await holder(
                    client,
                    Outbox(sms),
                    mobile,
                    name=f"Drill {phase.upper()}{k}",
                    id_number=aadhaar(ord(phase) * 10 + k),
                )
                refs.append(who.reference_id)
                if phase == "a" and k == 0:
                    issued = await record_dose(ctx, who.reference_id, dose=1, center_id=None)
                    check(issued is not None, "no certificate was issued before the backup")
                    refs.append("mobile:" + mobile)
    finally:
        await ctx.close()
    return refs


def wait_archived(pg: pginstance.PgInstance, seconds: float = 60) -> None:
    segment = pg.psql("SELECT pg_walfile_name(pg_current_wal_lsn())")
    pg.psql("SELECT pg_switch_wal()")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        last = pg.psql("SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver")
        if last and last >= segment:
            return
        time.sleep(0.2)
    raise DrillFailed("WAL was not archived in time")


def present(pg: pginstance.PgInstance, refs: list[str]) -> set[str]:
    quoted = ",".join(f"'{r}'" for r in refs if not r.startswith("mobile:"))
    out = pg.psql(
        f"SELECT reference_id FROM beneficiaries WHERE reference_id IN ({quoted})", "immunet"
    )
    return set(out.split()) if out else set()


def serve_and_download(env: dict[str, str], cwd: Path, root: Path, mobile: str, ref: str) -> None:
    port = pginstance.free_port()
    log = (root / "serve.log").open("w")
    server = subprocess.Popen(
        [*IMMUNET, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=cwd,
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
            check(server.poll() is None, "immunet serve exited on the restored database")
            check(time.monotonic() < deadline, "the restored service did not become ready")
            time.sleep(0.3)
        sms = Outbox(root / "sms.jsonl")
        with httpx.Client(base_url=base, timeout=20) as http:
            earlier = len(sms.messages())  # the OTPs of before the backup are in the file too
            sent = http.post("/api/v2/auth/public/generateOTP", json={"mobile": mobile})
            check(sent.status_code == 200, f"OTP request refused: {sent.status_code}")
            deadline = time.monotonic() + 20
            while len(sms.messages()) == earlier:
                check(time.monotonic() < deadline, "no OTP delivered by the restored service")
                time.sleep(0.2)
            otp = sms.last_otp()
            confirmed = http.post(
                "/api/v2/auth/public/confirmOTP",
                json={
                    "otp": hashlib.sha256(otp.encode()).hexdigest(),
                    "txnId": sent.json()["txnId"],
                },
            )
            check(confirmed.status_code == 200, "the citizen could not log in after the restore")
            pdf = http.get(
                "/api/v2/registration/certificate/public/download",
                params={"beneficiary_reference_id": ref},
                headers={"Authorization": f"Bearer {confirmed.json()['token']}"},
            )
            check(
                pdf.status_code == 200 and pdf.content.startswith(b"%PDF"),
                f"certificate download failed: {pdf.status_code}",
            )
    finally:
        server.terminate()
        server.wait(30)
        log.close()


def drill(root: Path) -> None:
    archive = root / "archive"
    archive.mkdir(parents=True)
    if os.geteuid() == 0:
        shutil.chown(archive, "postgres", "postgres")
    primary = pginstance.PgInstance(root / "primary")
    primary.init(
        "wal_level = replica",
        "archive_mode = on",
        # Succeed only once the segment is safely stored; never overwrite one.
        f"archive_command = 'test ! -f {archive}/%f && cp %p {archive}/%f.tmp"
        f" && mv {archive}/%f.tmp {archive}/%f'",
    )
    primary.start()
    restored = pginstance.PgInstance(root / "restored")
    try:
        primary.psql("CREATE DATABASE immunet")
        env = environment(root, primary.url("immunet"))
        for command in (["keys", "init"], ["db", "upgrade"]):
            done = cli(command, env, root)
            check(done.returncode == 0, f"immunet {' '.join(command)} failed: {done.stderr[-400:]}")
        settings = Settings(
            env="development",
            database_url=primary.url("immunet"),
            sms_backend=f"file:{root / 'sms.jsonl'}",
            keyring=root / "keys" / "keyring.json",
            redis_url=None,
        )
        keyring = Keyring.load(settings.keyring)
        sms = root / "sms.jsonl"

        before_backup = asyncio.run(writes(settings, keyring, sms, "a", 3))
        base = root / "base"
        primary.run(
            "pg_basebackup",
            "-h",
            "127.0.0.1",
            "-p",
            str(primary.port),
            "-U",
            primary.user,
            "-D",
            str(base),
            "-X",
            "stream",
            "--checkpoint=fast",
        )
        after_backup = asyncio.run(writes(settings, keyring, sms, "b", 3))
        time.sleep(1.1)
        target = primary.psql("SELECT now()::text")
        time.sleep(1.1)
        after_target = asyncio.run(writes(settings, keyring, sms, "c", 2))
        wait_archived(primary)
        primary.stop("fast")  # the old primary is gone; only the backup and archive remain

        # Restore into a fresh instance.
        shutil.copytree(base, restored.data, symlinks=True)
        restored.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            subprocess.run(["chown", "-R", "postgres:postgres", str(restored.root)], check=True)
        with open(restored.data / "postgresql.auto.conf", "a", encoding="utf-8") as fh:
            fh.write(
                f"port = {restored.port}\nunix_socket_directories = '{restored.root}'\n"
                "archive_mode = off\n"
                f"restore_command = 'cp {archive}/%f %p'\n"
                f"recovery_target_time = '{target}'\nrecovery_target_action = 'promote'\n"
            )
        (restored.data / "recovery.signal").touch()
        if os.geteuid() == 0:
            shutil.chown(restored.data / "recovery.signal", "postgres", "postgres")
        restored.start()
        deadline = time.monotonic() + 60
        while restored.psql("SELECT pg_is_in_recovery()") != "f":
            check(time.monotonic() < deadline, "the restored instance was not promoted")
            time.sleep(0.2)

        wanted = before_backup + after_backup
        found = present(restored, wanted + after_target)
        missing = [r for r in wanted if not r.startswith("mobile:") and r not in found]
        check(not missing, f"writes before the target are missing: {missing}")
        check(not (found & set(after_target)), "writes after the target were restored")

        restored_env = environment(root, restored.url("immunet"))
        verified = cli(["audit", "verify"], restored_env, root)
        check(verified.returncode == 0, f"immunet audit verify failed: {verified.stderr[-400:]}")
        mobile = next(r for r in before_backup if r.startswith("mobile:")).removeprefix("mobile:")
        serve_and_download(restored_env, root, root, mobile, before_backup[0])
        print(
            json.dumps(
                {
                    "restored_before_target": len(wanted) - 1,
                    "after_target_absent": len(after_target),
                }
            )
        )
    finally:
        restored.stop("immediate")
        primary.stop("immediate")


def main() -> int:
    if not pginstance.available():
        print("restore: skipped (PostgreSQL server binaries not found)")
        return 0
    root = Path(tempfile.mkdtemp(prefix="immunet-restore-drill-", dir="/tmp"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    started = time.monotonic()
    try:
        drill(root)
    except DrillFailed as failure:
        print(f"restore: FAILED — {failure} (files kept in {root})")
        return 1
    shutil.rmtree(root, ignore_errors=True)
    print(f"restore drill took {time.monotonic() - started:.0f}s")
    print("restore: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
