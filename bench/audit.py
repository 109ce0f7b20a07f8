"""The audit log on PostgreSQL: append rate under concurrent writers, and what a checkpoint
and a proof cost at two log sizes.

- ``append``: 32 writers, each committing transactions whose only statement is an audit
  append, while the elected sequencer runs in the same process; next to it the same
  writers taking the v1 design's global advisory lock first (the baseline of this run).
- ``sizes``: a log of 10^4 and of 10^6 entries (ids, positions and stored subtree hashes
  loaded by SQL; the subtree hashes are synthetic, which changes no cost), then: one
  sequencer step that adds 100 entries and signs a checkpoint, inclusion and consistency
  proofs at random positions, with the stored hashes each read. The goal is the same cost
  at both sizes (±50 %), i.e. O(log n).

Run alone: ``python -m bench.audit``.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import sys
import time
from typing import Any

from sqlalchemy import text

PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, os.environ.get("PGUSER", "root")
DATABASE = "immunet_bench_audit"
WRITERS = 32
SIZES = (10**4, 10**6)
_GLOBAL_LOCK = 0x1A0D17  # the v1 design's lock id


async def _admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database="postgres")
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _ms(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 3),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 3),
    }


async def _appends(db: Any, seconds: float, *, global_lock: bool) -> dict[str, float]:
    from immunet.security.audit import AuditChain

    latencies: list[float] = []
    deadline = time.monotonic() + seconds

    async def writer(w: int) -> None:
        n = 0
        while time.monotonic() < deadline:
            began = time.monotonic()
            async with db.transaction() as session:
                if global_lock:
                    await session.execute(
                        text("SELECT pg_advisory_xact_lock(:k)"), {"k": _GLOBAL_LOCK}
                    )
                await AuditChain.append(
                    session,
                    actor=f"system:bench-{w}",
                    action="bench:entry:added",
                    subject_ref=f"thing:{n}",
                )
            latencies.append(time.monotonic() - began)
            n += 1

    began = time.monotonic()
    await asyncio.gather(*(writer(w) for w in range(WRITERS)))
    elapsed = time.monotonic() - began
    return {"ops": len(latencies), "per_second": round(len(latencies) / elapsed, 1)} | _ms(
        latencies
    )


async def _load(db: Any, size: int) -> None:
    """A log of ``size`` sequenced entries, loaded by SQL (synthetic subtree hashes)."""
    async with db.engine.begin() as conn:
        await conn.execute(
            text("TRUNCATE audit_events, audit_positions, audit_subtrees, audit_checkpoints")
        )
        await conn.execute(
            text(
                "INSERT INTO audit_events (seq, occurred_at, actor, action, hash) "
                "SELECT g, now(), 'system:bench', 'bench:entry:added', "
                "encode(sha256(int8send(g)), 'hex') FROM generate_series(1, CAST(:n AS bigint)) g"
            ),
            {"n": size},
        )
        await conn.execute(
            text("INSERT INTO audit_positions (position, seq) SELECT g - 1, g "
                 "FROM generate_series(1, CAST(:n AS bigint)) g"),
            {"n": size},
        )  # fmt: skip
        level = 0
        while size >> level:
            await conn.execute(
                text(
                    "INSERT INTO audit_subtrees (level, idx, hash) "
                    "SELECT CAST(:l AS smallint), i, "
                    "sha256(int8send(i) || int8send(CAST(:l AS bigint))) "
                    "FROM generate_series(0, CAST(:c AS bigint) - 1) i"
                ),
                {"l": level, "c": size >> level},
            )
            level += 1
        await conn.execute(
            text("SELECT setval(pg_get_serial_sequence('audit_events', 'seq'), :n)"),
            {"n": size},
        )
    async with db.engine.connect() as conn:
        autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.execute(text("VACUUM ANALYZE audit_events, audit_positions"))
        await autocommit.execute(text("VACUUM ANALYZE audit_subtrees"))


async def _costs(db: Any, keyring: Any, size: int, rounds: int) -> dict[str, Any]:
    from immunet.security.audit import AuditChain
    from immunet.security.sequencer import Sequencer
    from immunet.security.tiles import TileReader

    await _load(db, size)
    sequencer = Sequencer(db, keyring)
    checkpoint: list[float] = []
    async with db.engine.connect() as conn:
        await sequencer.step(conn)  # a first step: the sequencer's own start-up sweep
        for _ in range(5):
            async with db.transaction() as session:
                for i in range(100):
                    await AuditChain.append(
                        session, actor="system:bench", action="bench:entry:added",
                        subject_ref=f"thing:{i}",
                    )  # fmt: skip
            began = time.monotonic()
            result = await sequencer.step(conn)
            checkpoint.append(time.monotonic() - began)
            assert result.sequenced == 100
    total = size + 500
    rng = random.Random(size)
    inclusion: list[float] = []
    consistency: list[float] = []
    rows = 0
    async with db.reader() as session:
        for _ in range(rounds):
            reader = TileReader(session)
            began = time.monotonic()
            await reader.inclusion(rng.randrange(total), total)
            inclusion.append(time.monotonic() - began)
            rows = max(rows, reader.rows)
            reader = TileReader(session)
            began = time.monotonic()
            await reader.consistency(rng.randrange(1, total), total)
            consistency.append(time.monotonic() - began)
            rows = max(rows, reader.rows)
    return {
        "entries": total,
        "checkpoint": _ms(checkpoint),
        "inclusion_proof": _ms(inclusion),
        "consistency_proof": _ms(consistency),
        "max_hashes_read": rows,
    }


async def run(seconds: float = 5.0, rounds: int = 200) -> dict[str, Any]:
    from immunet.db.engine import Database
    from immunet.db.migrate import upgrade
    from immunet.security.keyring import Keyring
    from immunet.security.sequencer import Sequencer

    await _admin(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    await _admin(f'CREATE DATABASE "{DATABASE}"')
    url = f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{DATABASE}"
    keyring = Keyring.generate(environment="test")
    out: dict[str, Any] = {"writers": WRITERS}
    try:
        await asyncio.to_thread(upgrade, url)
        db = Database(url, pool_size=WRITERS)
        try:
            stop = asyncio.Event()
            task = asyncio.create_task(Sequencer(db, keyring, full_sweep=True).run(stop, 1.0))
            out["append"] = await _appends(db, seconds, global_lock=False)
            out["append_with_v1_global_lock"] = await _appends(db, seconds, global_lock=True)
            out["append"]["ratio_to_global_lock"] = round(
                out["append"]["per_second"]
                / max(out["append_with_v1_global_lock"]["per_second"], 1e-9),
                2,
            )
            # Everything committed is sequenced within about a second of the last commit.
            began = time.monotonic()
            async with db.reader() as session:
                top = (await session.execute(text("SELECT max(seq) FROM audit_events"))).scalar()
            while True:
                async with db.reader() as session:
                    done = (
                        await session.execute(text("SELECT max(seq) FROM audit_positions"))
                    ).scalar()
                if done == top or time.monotonic() - began > 30:
                    break
                await asyncio.sleep(0.05)
            out["sequencer_catch_up_s"] = round(time.monotonic() - began, 3)
            stop.set()
            await task
            sizes = {}
            for size in SIZES:
                print(f"  audit log of {size} entries…", file=sys.stderr)
                sizes[str(size)] = await _costs(db, keyring, size, rounds)
            small, large = (sizes[str(s)] for s in SIZES)
            out["sizes"] = sizes
            out["proof_cost_ratio_large_to_small"] = round(
                large["inclusion_proof"]["p50_ms"] / max(small["inclusion_proof"]["p50_ms"], 1e-9),
                2,
            )
            out["checkpoint_cost_ratio_large_to_small"] = round(
                large["checkpoint"]["p50_ms"] / max(small["checkpoint"]["p50_ms"], 1e-9), 2
            )
        finally:
            await db.dispose()
    finally:
        await _admin(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    return out


if __name__ == "__main__":
    print(json.dumps(asyncio.run(run()), indent=2))
