"""``make bench-profile``: where the server's CPU goes on each write path, by layer.

Runs the same server and load as ``make bench`` (``immunet serve --workers 2`` on
PostgreSQL, Redis when reachable) and, during each write step, samples both workers with
py-spy (an external sampling profiler: the workers run unmodified), keeping only samples
of a worker holding the GIL, that is running Python or a C extension called from it.
Every sampled stack is sorted into layers by the file of each frame (our code,
SQLAlchemy, its greenlet bridge, asyncpg, FastAPI/Starlette, pydantic, uvicorn, Redis,
cryptography, asyncio, the rest) and reported two ways: *self* (the layer of the
innermost frame: where the CPU is spent) and *on stack* (the layer appears anywhere: what
it costs including what it calls). Also the functions with the most self samples, how
busy the workers were (samples over what two always-busy workers would give), and the
CPU per operation of the server, PostgreSQL and the load generator (bench/cpu.py).

Writes ``bench/results/profile-<time>.json`` (and each step's collapsed stacks beside it,
``profile-<time>-<step>.txt``, for flame graph tools) and prints a table per step. Needs py-spy
(in the dev extras) and the right to ptrace the workers (root, or
``kernel.yama.ptrace_scope=0``).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import datetime as dt
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench import run as bench
from bench.cpu import CpuMeter, per_operation

# First match wins: the greenlet bridge lives inside SQLAlchemy's own files.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "greenlet bridge",
        ("sqlalchemy/util/concurrency", "sqlalchemy/util/_concurrency", "greenlet/"),
    ),
    ("sqlalchemy", ("/sqlalchemy/",)),
    ("asyncpg", ("/asyncpg/",)),
    ("redis", ("/redis/",)),
    ("pydantic", ("/pydantic/", "/pydantic_core/")),
    ("fastapi/starlette", ("/fastapi/", "/starlette/")),
    ("uvicorn", ("/uvicorn/", "/uvloop/", "/httptools/")),
    ("cryptography", ("/cryptography/",)),
    ("immunet", ("/immunet/",)),
    ("asyncio", ("/asyncio/",)),
)
FRAME = re.compile(r"^(?P<func>.+?) \((?P<file>[^():]+):\d+\)$")
STEPS = ("otp_logins", "registrations", "bookings", "doses")
# The virtualenv's own py-spy (make install puts it beside this interpreter), else PATH's.
PY_SPY = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")


def layer_of(filename: str) -> str:
    for layer, needles in LAYERS:
        if any(needle in filename for needle in needles):
            return layer
    return "other"


def summarize(raw: str, rate: int, seconds: float, workers: int = 2) -> dict[str, Any]:
    """Self and on-stack shares per layer, and the top self functions, of py-spy raw output
    (one collapsed stack per line, ``frame;frame;… count``)."""
    total = 0
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    functions: collections.Counter[str] = collections.Counter()
    ours: collections.Counter[str] = collections.Counter()
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [m for part in stack.split(";") if (m := FRAME.match(part.strip()))]
        if not frames:
            continue
        total += count
        layers = [layer_of(m.group("file")) for m in frames]
        own[layers[-1]] += count
        for layer in set(layers):
            inclusive[layer] += count
        # Our own functions on the stack (each once per sample): the request's service
        # function against the background work (outbox, audit sequencer) and the guards.
        for name in {
            f"{m.group('func')} ({'/'.join(Path(m.group('file')).parts[-2:])})"
            for m in frames
            if "/immunet/" in m.group("file")
        }:
            ours[name] += count
        leaf = frames[-1]
        short = "/".join(Path(leaf.group("file")).parts[-2:])
        functions[f"{leaf.group('func')} ({short})"] += count

    def share(counter: collections.Counter[str]) -> dict[str, float]:
        return {k: round(100 * v / total, 1) for k, v in counter.most_common()} if total else {}

    return {
        "samples": total,
        # Share of the time each worker held the GIL (ran code), on average.
        "workers_busy": round(total / (rate * seconds * workers), 2) if seconds else 0.0,
        "self_percent": share(own),
        "on_stack_percent": share(inclusive),
        "immunet_on_stack": [
            {"function": name, "percent": round(100 * n / total, 1)}
            for name, n in ours.most_common(25)
        ]
        if total
        else [],
        "top_self_functions": [
            {"function": name, "percent": round(100 * n / total, 1)}
            for name, n in functions.most_common(12)
        ]
        if total
        else [],
    }


async def profiled(
    scenarios: bench.Scenarios, meter: CpuMeter, step: str, rate: int, out: Path
) -> dict[str, Any] | None:
    server = scenarios.server.process
    assert server is not None
    seconds = max(1, int(scenarios.duration))
    assert PY_SPY is not None
    spy = await asyncio.create_subprocess_exec(
        PY_SPY,
        "record",
        "--pid",
        str(server.pid),
        "--subprocesses",
        "--rate",
        str(rate),
        "--duration",
        str(seconds),
        "--format",
        "raw",
        "--output",
        str(out),
        "--nonblocking",
        # Only stacks holding the GIL: the CPU a worker spends running Python (and the C
        # extensions it calls), not the time its event loop waits or the OS preempts it.
        "--gil",
        "--full-filenames",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    before = meter.snapshot()
    figures: dict[str, Any] | None = await getattr(scenarios, step)()
    after = meter.snapshot()
    _, err = await spy.communicate()
    if figures is None:
        return None
    raw = await asyncio.to_thread(lambda: out.read_text() if out.exists() else "")
    if spy.returncode != 0 or not raw:
        raise SystemExit(f"bench-profile: py-spy failed: {err.decode(errors='replace')[-400:]}")
    return {
        "rate": {k: figures[k] for k in ("per_second", "p50_ms", "p99_ms", "ops", "failures")},
        "cpu": per_operation(before, after, int(figures.get("ops", 0))),
        "profile": summarize(raw, rate, seconds),
    }


async def bare_request_cpu(scenarios: bench.Scenarios, meter: CpuMeter) -> dict[str, Any]:
    """The server CPU of one request that does nothing (``/healthz``): what the HTTP stack,
    the request guard and the logging cost before any work."""
    before = meter.snapshot()
    figures = await scenarios.get_loop("/healthz", scenarios.concurrency)
    after = meter.snapshot()
    ops = int(figures["per_second"] * scenarios.duration)
    return {"rate": figures, "cpu": per_operation(before, after, ops)}


async def statement_cpu(database: str, rounds: int = 3000) -> dict[str, float]:
    """CPU microseconds of one primary-key SELECT sent by this process, through an ORM
    session as the services send theirs, through SQLAlchemy Core on a connection, and with
    asyncpg directly on the same connection: the floor each way of sending a statement."""
    from sqlalchemy import Integer, column, select, table
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from immunet.db.engine import create_engine

    engine = create_engine(
        f"postgresql://{bench.PG_USER}@{bench.PG_HOST}:{bench.PG_PORT}/{database}"
    )
    rows = table("bench_floor", column("id", Integer), column("n", Integer))
    out: dict[str, float] = {}
    try:
        async with engine.begin() as conn:
            await conn.exec_driver_sql(
                "CREATE TABLE IF NOT EXISTS bench_floor (id int PRIMARY KEY, n int NOT NULL)"
            )
            await conn.exec_driver_sql(
                "INSERT INTO bench_floor SELECT g, 0 FROM generate_series(1, 1000) g "
                "ON CONFLICT DO NOTHING"
            )

        async def measure(name: str, once: Callable[[int], Awaitable[object]]) -> None:
            for i in range(200):  # warm: statement caches, prepared statements
                await once(i)
            start = time.process_time()
            for i in range(rounds):
                await once(i)
            out[name] = round((time.process_time() - start) / rounds * 1e6, 1)

        async with async_sessionmaker(engine)() as session:

            async def via_session(i: int) -> object:
                query = select(rows.c.n).where(rows.c.id == 1 + i % 1000)
                return (await session.execute(query)).scalar_one()

            await measure("sqlalchemy_session_us", via_session)
        async with engine.connect() as conn:

            async def via_core(i: int) -> object:
                query = select(rows.c.n).where(rows.c.id == 1 + i % 1000)
                return (await conn.execute(query)).scalar_one()

            await measure("sqlalchemy_core_us", via_core)
            driver = (await conn.get_raw_connection()).driver_connection
            assert driver is not None

            async def via_driver(i: int) -> object:
                return await driver.fetchval(
                    "SELECT n FROM bench_floor WHERE id = $1", 1 + i % 1000
                )

            await measure("asyncpg_us", via_driver)
    finally:
        await engine.dispose()
    return out


async def run(duration: float, concurrency: int, rate: int) -> dict[str, Any]:
    if PY_SPY is None:
        raise SystemExit("bench-profile: py-spy is needed (pip install py-spy)")
    database = f"{bench.DATABASE}_profile"
    bench._psql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    bench._psql(f'CREATE DATABASE "{database}"')
    use_redis = bench._reachable("127.0.0.1", 6379)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    bench.RESULTS.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "stamp": stamp,
        "config": {"duration_s": duration, "concurrency": concurrency, "rate_hz": rate},
        "steps": {},
    }
    try:
        with tempfile.TemporaryDirectory() as tmp:
            server = bench.Server(Path(tmp), database, use_redis)
            if use_redis:
                import redis

                redis.Redis.from_url(bench.REDIS_URL).flushdb()
            server.start()
            tail = bench.SmsTail(server.sms)
            scenarios = bench.Scenarios(server, tail, duration, concurrency)
            meter = CpuMeter(server.process.pid if server.process else None, database)
            try:
                print("floor: a bare request, one statement…", file=sys.stderr)
                results["floor"] = {
                    "bare_request": await bare_request_cpu(scenarios, meter),
                    "statement": await statement_cpu(database),
                }
                for step in STEPS:
                    if step == "bookings" and not await scenarios.prepare_sessions(4, 10_000):
                        raise SystemExit("bench-profile: could not publish sessions")
                    print(f"{step}…", file=sys.stderr)
                    raw = bench.RESULTS / f"profile-{stamp}-{step}.txt"
                    found = await profiled(scenarios, meter, step, rate, raw)
                    if found is not None:
                        results["steps"][step] = found
            finally:
                await scenarios.http.aclose()
                tail.stop()
                server.stop()
    finally:
        bench._psql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    return results


def table(results: dict[str, Any]) -> str:
    lines: list[str] = []
    floor = results.get("floor")
    if floor:
        bare, stmt = floor["bare_request"], floor["statement"]
        lines.append(
            f"floor: a bare request (/healthz, wrk) {bare['rate']['per_second']:.0f}/s, "
            f"server CPU {bare['cpu'].get('server_ms', 0):.2f} ms each; one statement "
            f"{stmt['sqlalchemy_session_us']:.0f} µs CPU through an ORM session, "
            f"{stmt['sqlalchemy_core_us']:.0f} µs through Core, {stmt['asyncpg_us']:.0f} µs "
            "with asyncpg directly"
        )
        lines.append("")
    for step, found in results["steps"].items():
        rate, cpu, prof = found["rate"], found["cpu"], found["profile"]
        lines.append(
            f"{step}: {rate['per_second']:.0f}/s, p99 {rate['p99_ms']:.0f} ms; workers "
            f"{prof['workers_busy']:.0%} busy; CPU/op server {cpu.get('server_ms', 0):.2f} ms, "
            f"PostgreSQL {cpu.get('postgres_ms', 0):.2f} ms, generator "
            f"{cpu.get('load_generator_ms', 0):.2f} ms"
        )
        lines.append(f"  {'layer':<20} {'self %':>7} {'on stack %':>11}")
        for layer, pct in prof["self_percent"].items():
            lines.append(
                f"  {layer:<20} {pct:>7.1f} {prof['on_stack_percent'].get(layer, 0):>11.1f}"
            )
        lines.append(
            "  immunet on stack: "
            + "; ".join(f"{f['function']} {f['percent']}%" for f in prof["immunet_on_stack"][:10])
        )
        lines.append(
            "  top self functions: "
            + "; ".join(f"{f['function']} {f['percent']}%" for f in prof["top_self_functions"][:6])
        )
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rate", type=int, default=200, help="samples per second per worker")
    args = parser.parse_args()
    results = asyncio.run(run(args.duration, args.concurrency, args.rate))
    bench.save(results, "profile-", table(results), results["stamp"])


if __name__ == "__main__":
    main()
