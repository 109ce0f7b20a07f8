"""``make bench-scale``: latency of the hot paths at 100 thousand and at 10 million people.

Synthetic people are written straight into the bench database with PostgreSQL ``COPY``
(asyncpg's binary copy), encrypted exactly like registered ones: the server's own key
ring seals the mobile, name, birth year and ID number with the field cipher (each under
its row's context) and computes the blind indexes the server looks people up by. Each
size has its own database and its own server (``immunet serve --workers 2``), loaded side
by side and then vacuumed; the same paths (OTP login, registration, booking, the
vaccinator's roster, check-in + dose, and the public calendar) are measured at each size
in turns, for several rounds, and each path keeps its median. The figure that matters is
each path's latency at the large size as a ratio to the small one (goal: at most 1.5).

Loading ten million people takes about ten minutes here; the whole run stays within 30.
``--sizes`` picks other sizes, ``--rounds`` the turns.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from bench import run as bench
from immunet.security.keyring import Keyring, Purpose

BATCH = 10_000
# Synthetic people get mobiles 7xxxxxxxxx (the bench's own logins use 9xxxxxxxxx) and
# reference IDs 17xxxxxxxxxxxx (random ones are drawn over all 14-digit numbers; the
# server retries on the unlikely collision).
MOBILE_BASE = 7_000_000_000
REFERENCE_BASE = 17 * 10**12

ACCOUNT_COLUMNS = ("id", "mobile_index", "mobile_ct", "created_at")
BENEFICIARY_COLUMNS = (
    "reference_id",
    "account_id",
    "name_ct",
    "birth_year_ct",
    "gender_id",
    "category",
    "photo_id_type",
    "id_number_ct",
    "id_index",
    "comorbidity_ind",
    "consent_version",
    "created_at",
    "is_canary",
)


def people(keyring: Keyring, start: int, stop: int) -> tuple[list[tuple[Any, ...]], ...]:
    """Rows for people ``start``..``stop-1``: one account and one beneficiary each."""
    cipher = keyring.field_cipher
    mobile_index = keyring.blind_index(Purpose.MOBILE_INDEX)
    id_index = keyring.blind_index(Purpose.ID_NUMBER_INDEX)
    now = dt.datetime.now(dt.UTC)
    accounts: list[tuple[Any, ...]] = []
    beneficiaries: list[tuple[Any, ...]] = []
    for i in range(start, stop):
        mobile = str(MOBILE_BASE + i)
        account_id = f"{i:032x}"
        ref = str(REFERENCE_BASE + i)
        number = f"S{i:09d}"
        accounts.append(
            (
                account_id,
                mobile_index(mobile),
                cipher.encrypt(mobile, context=f"account:{account_id}:mobile"),
                now,
            )
        )
        beneficiaries.append(
            (
                ref,
                account_id,
                cipher.encrypt(f"Synthetic Person {i}", context=f"beneficiary:{ref}:name"),
                cipher.encrypt(str(1950 + i % 50), context=f"beneficiary:{ref}:birth_year"),
                1 + i % 2,
                "adult",
                4,
                cipher.encrypt(number, context=f"beneficiary:{ref}:id_number"),
                id_index(f"4:{number}"),
                "N",
                "",
                now,
                False,
            )
        )
    return accounts, beneficiaries


async def load(database: str, keyring: Keyring, start: int, stop: int) -> float:
    """COPY people ``start``..``stop-1`` into ``database``; seconds taken."""
    import asyncpg

    conn = await asyncpg.connect(
        host=bench.PG_HOST, port=bench.PG_PORT, user=bench.PG_USER, database=database
    )
    t0 = time.perf_counter()
    try:
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            transient=False,
        ) as progress:
            task = progress.add_task(f"people {start:,}→{stop:,}", total=stop - start)
            for lo in range(start, stop, BATCH):
                hi = min(stop, lo + BATCH)
                accounts, beneficiaries = people(keyring, lo, hi)
                async with conn.transaction():
                    await conn.copy_records_to_table(
                        "citizen_accounts", records=accounts, columns=ACCOUNT_COLUMNS
                    )
                    await conn.copy_records_to_table(
                        "beneficiaries", records=beneficiaries, columns=BENEFICIARY_COLUMNS
                    )
                progress.advance(task, hi - lo)
        # Measure the steady state of a big register, not the upkeep that follows a bulk
        # load: without this, PostgreSQL's insert-triggered autovacuum of ten million new
        # rows (and the first reads setting their hint bits) runs during the measurement.
        for table in ("citizen_accounts", "beneficiaries"):
            await conn.execute(f"VACUUM (ANALYZE) {table}")
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()
    return time.perf_counter() - t0


async def measure(scenarios: bench.Scenarios, round_no: int) -> dict[str, Any]:
    scenarios.mobile_offset = round_no * 100_000_000
    scenarios.tokens.clear()
    scenarios.beneficiaries.clear()
    scenarios.booked.clear()
    scenarios.staff_round = f"-{round_no}"
    scenarios.vaccinator = None
    out: dict[str, Any] = {}
    out["login"] = await scenarios.otp_logins()
    out["registration"] = await scenarios.registrations()
    out["booking"] = await scenarios.bookings()
    roster = await scenarios.roster()
    if roster is not None:
        out["roster"] = roster
    doses = await scenarios.doses()
    if doses is not None:
        out["dose"] = doses
    day = dt.date.today().strftime("%d-%m-%Y")
    out["calendar"] = await scenarios.get_loop(
        "/api/v2/appointment/sessions/public/calendarByDistrict"
        f"?district_id={bench.DISTRICT}&date={day}",
        50,
    )
    return out


PATHS = bench.PATHS_AT_SCALE


def _redis_url(offset: int) -> str:
    """The bench's Redis URL with its database number moved on by ``offset``: each size's
    server has its own (the public calendar's cache is keyed by district, not database)."""
    base, _, number = bench.REDIS_URL.rpartition("/")
    return f"{base}/{int(number or 0) + offset}"


def _median_figures(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Each path's median p50 and p99 over the rounds (and its mean rate)."""
    out: dict[str, Any] = {}
    for path in PATHS:
        seen = [r[path] for r in rounds if path in r]
        if seen:
            out[path] = {
                "p50_ms": round(statistics.median(f["p50_ms"] for f in seen), 2),
                "p99_ms": round(statistics.median(f["p99_ms"] for f in seen), 2),
                "per_second": round(statistics.fmean(f["per_second"] for f in seen), 1),
            }
    return out


async def run(
    sizes: list[int], duration: float, concurrency: int, rounds: int = 3
) -> dict[str, Any]:
    """One database and one server per size, loaded side by side; then the paths are
    measured in turns, size after size, round after round (the order reversed every other
    round), and each path's median over the rounds is kept. A machine whose load drifts
    (other jobs, a checkpoint) then weighs on both sizes alike instead of on whichever was
    measured at the wrong moment."""
    sizes = sorted(sizes)
    use_redis = bench._reachable("127.0.0.1", 6379)
    databases = {size: f"{bench.DATABASE}_scale_{size}" for size in sizes}
    results: dict[str, Any] = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "config": {
            "duration_s": duration,
            "concurrency": concurrency,
            "sizes": sizes,
            "rounds": rounds,
            "interleaved": True,
        },
        "sizes": {},
        "rounds": {str(size): [] for size in sizes},
    }
    for database in databases.values():
        bench._psql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        bench._psql(f'CREATE DATABASE "{database}"')
    scenarios: dict[int, bench.Scenarios] = {}
    tails: list[bench.SmsTail] = []
    servers: list[bench.Server] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for offset, size in enumerate(sizes):
                workdir = Path(tmp) / str(size)
                workdir.mkdir()
                server = bench.Server(workdir, databases[size], use_redis)
                if use_redis:
                    import redis

                    server.env["IMMUNET_REDIS_URL"] = _redis_url(offset)
                    redis.Redis.from_url(_redis_url(offset)).flushdb()
                servers.append(server)
                server.start()
                tail = bench.SmsTail(server.sms)
                tails.append(tail)
                scenarios[size] = bench.Scenarios(server, tail, duration, concurrency)
                if not await scenarios[size].prepare_sessions(sessions=16, capacity=10_000):
                    raise SystemExit("bench-scale: could not publish sessions")
                keyring = Keyring.load(workdir / "keyring.json")
                seconds = await load(databases[size], keyring, 0, size)
                results["sizes"][str(size)] = {"load_seconds": round(seconds, 1)}
                print(f"{size:,} people loaded ({seconds:.0f} s)", file=sys.stderr)
            for round_no in range(1, rounds + 1):
                order = sizes if round_no % 2 else list(reversed(sizes))
                for size in order:
                    print(f"round {round_no}: measuring at {size:,}…", file=sys.stderr)
                    figures = await measure(scenarios[size], round_no)
                    results["rounds"][str(size)].append(figures)
            for size in sizes:
                results["sizes"][str(size)].update(_median_figures(results["rounds"][str(size)]))
    finally:
        for found in scenarios.values():
            await found.http.aclose()
        for tail in tails:
            tail.stop()
        for server in servers:
            server.stop()
        for database in databases.values():
            bench._psql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    results["ratios"] = ratios(results["sizes"])
    return results


def ratios(by_size: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Each path's p50 and p99 at every size as a ratio to the smallest size."""
    if not by_size:
        return {}
    sizes = sorted(by_size, key=int)
    base = by_size[sizes[0]]
    out: dict[str, dict[str, float]] = {}
    for size in sizes[1:]:
        row: dict[str, float] = {}
        for path in PATHS:
            if path in base and path in by_size[size]:
                for q in ("p50_ms", "p99_ms"):
                    b = base[path].get(q) or 0.0
                    row[f"{path}_{q[:3]}"] = round(by_size[size][path][q] / b, 2) if b else 0.0
        out[size] = row
    return out


def table(results: dict[str, Any]) -> str:
    sizes = sorted(results["sizes"], key=int)
    lines = [f"{'path':<14}" + "".join(f"{int(s):>22,}" for s in sizes) + "   ratio (p50/p99)"]
    last = sizes[-1]
    for path in PATHS:
        cells = []
        for size in sizes:
            fig = results["sizes"][size].get(path)
            cells.append(f"{fig['p50_ms']:>9.1f}/{fig['p99_ms']:>7.1f} ms" if fig else " " * 22)
        ratio = results["ratios"].get(last, {})
        r = f"{ratio.get(f'{path}_p50', 0):.2f}/{ratio.get(f'{path}_p99', 0):.2f}"
        lines.append(f"{path:<14}" + "".join(f"{c:>22}" for c in cells) + f"   {r}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="100000,10000000")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3, help="turns at each size")
    args = parser.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    results = asyncio.run(run(sizes, args.duration, args.concurrency, args.rounds))
    bench.save(results, "scale-", table(results))


if __name__ == "__main__":
    main()
