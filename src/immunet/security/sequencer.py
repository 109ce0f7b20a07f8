"""The audit sequencer: gives committed leaves tree positions, extends the tree, signs.

Business transactions insert audit leaves with no shared lock
(:meth:`immunet.security.audit.AuditChain.append`). One sequencer at a time (on
PostgreSQL the holder of a session-level advisory lock, ``pg_try_advisory_lock``; on
SQLite every write transaction is ``BEGIN IMMEDIATE``, so steps never interleave) runs a
*step* about once a second, in one transaction of its own:

1. read the tree size ``n`` and its frontier (``popcount(n)`` stored subtree hashes);
2. read committed leaves without a position: those above the highest sequenced id, the
   ids it saw missing earlier that have committed since, and once per leadership the
   older ones a previous sequencer may have left;
3. give them positions ``n, n+1, ...``, store every newly complete subtree hash, and sign
   a v2 checkpoint over the new size and root.

Ids and commit order differ on PostgreSQL (a transaction that took id 10 may commit after
the one that took id 11). The sequencer does not wait for the gap: it sequences what is
committed and remembers the missing id. Each append takes its transaction id *before* its
leaf id (``pg_current_xact_id()`` then ``nextval``, one statement), so once a higher id is
visible the transaction holding a missing id has an xid and is either finished or listed
in ``pg_stat_activity``; at the next step the sequencer notes the transactions of this
database then holding xids, and forgets the id only when all of them have ended and the
id is still absent: it rolled back. (Not the cluster-wide ``pg_snapshot_xmin``: one long
transaction in another database would hold every gap.)
Late leaves therefore get later positions; the tree order is the sequencer's order, and
that order is what is signed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from sqlalchemy import bindparam, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from immunet.db.base import utcnow
from immunet.db.engine import Database
from immunet.security.keyring import Keyring
from immunet.security.merkle import leaf_hash
from immunet.security.models import AuditCheckpoint, AuditEvent, AuditPosition, AuditSubtree
from immunet.security.tiles import TileReader, extend, root_of_frontier
from immunet.security.transparency import (
    CHECKPOINT_VERSION,
    CheckpointKey,
    CheckpointView,
    checkpoint_message,
)

log = logging.getLogger("immunet.sequencer")

# Held (session level) by the elected sequencer for as long as it runs.
SEQUENCER_LOCK_ID = 0x1A0D18
DEFAULT_INTERVAL = 1.0
DEFAULT_BATCH = 20_000
# At a new leadership: ids this far below the highest sequenced one are checked for
# transactions still in flight (a previous sequencer's memory of missing ids is gone).
STARTUP_WINDOW = 100_000


@dataclass
class _Gap:
    # The transactions of this database holding an xid, read in the step after the gap
    # was first seen (pid, xid).
    holders: frozenset[tuple[int, str]] | None = None


@dataclass
class StepResult:
    sequenced: int
    checkpoint: CheckpointView | None
    tiles_read: int = 0


@dataclass
class Sequencer:
    db: Database
    keyring: Keyring
    batch: int = DEFAULT_BATCH
    # Long-running sequencers: at the first step of a leadership, an anti-join over all
    # leaves and a look for ids still in flight. Inline one-off steps look only at a
    # recent window (what they miss, the elected sequencer finds).
    full_sweep: bool = False
    _missing: dict[int, _Gap] = field(default_factory=dict)
    _started: bool = False

    def __post_init__(self) -> None:
        self._key = CheckpointKey.from_keyring(self.keyring)

    def _reset(self) -> None:
        self._missing.clear()
        self._started = False

    async def step(self, conn: AsyncConnection) -> StepResult:
        """One batch in one transaction on ``conn``; the caller holds the leadership."""
        async with conn.begin():
            return await self._step(conn)

    async def _step(self, conn: AsyncConnection) -> StepResult:
        postgres = conn.dialect.name == "postgresql"
        size = int(
            (
                await conn.execute(select(func.coalesce(func.max(AuditPosition.position) + 1, 0)))
            ).scalar_one()
        )
        high = int(
            (await conn.execute(select(func.coalesce(func.max(AuditPosition.seq), 0)))).scalar_one()
        )
        reader = TileReader(conn)
        frontier = await reader.frontier(size)

        found: dict[int, str] = {}
        if postgres:
            if not self._started and self.full_sweep:
                await self._seed_missing(conn, high)
            if self._missing:
                holders = await _xid_holders(conn)  # before looking for the late rows
                found.update(await self._unsequenced(conn, AuditEvent.seq.in_(self._missing)))
                self._settle(found, holders)
        if not self._started:
            floor = 0 if self.full_sweep else max(0, high - STARTUP_WINDOW)
            found.update(
                await self._unsequenced(conn, AuditEvent.seq > floor, AuditEvent.seq <= high)
            )
            self._started = True
        fresh = (
            await conn.execute(
                select(AuditEvent.seq, AuditEvent.hash)
                .where(AuditEvent.seq > high)
                .order_by(AuditEvent.seq)
                .limit(self.batch)
            )
        ).all()
        previous = high
        for seq, digest in fresh:
            if postgres:
                for absent in range(previous + 1, seq):
                    self._missing.setdefault(absent, _Gap())
            found[int(seq)] = str(digest)
            previous = int(seq)
        for seq in found:
            self._missing.pop(seq, None)
        if not found:
            return StepResult(0, None, reader.rows)

        order = sorted(found)
        new_frontier, nodes = extend(
            frontier, size, (leaf_hash(bytes.fromhex(found[s])) for s in order)
        )
        await conn.execute(
            insert(AuditPosition),
            [{"position": size + i, "seq": s} for i, s in enumerate(order)],
        )
        await conn.execute(
            insert(AuditSubtree),
            [{"level": lv, "idx": ix, "hash": h} for lv, ix, h in nodes],
        )
        new_size = size + len(order)
        root = root_of_frontier([h for _, h in new_frontier]).hex()
        now = utcnow()
        signature = self._key.sign(checkpoint_message(new_size, root, now, CHECKPOINT_VERSION))
        await conn.execute(
            insert(AuditCheckpoint).values(
                tree_size=new_size,
                root_hash=root,
                created_at=now,
                key_id=self._key.key_id,
                signature=signature,
                format_version=CHECKPOINT_VERSION,
            )
        )
        view = CheckpointView(new_size, root, now, self._key.key_id, signature, CHECKPOINT_VERSION)
        return StepResult(len(order), view, reader.rows)

    async def _unsequenced(self, conn: AsyncConnection, *where: object) -> dict[int, str]:
        placed = select(AuditPosition.seq).where(AuditPosition.seq == AuditEvent.seq).exists()
        rows = await conn.execute(
            select(AuditEvent.seq, AuditEvent.hash).where(*where, ~placed)  # type: ignore[arg-type]
        )
        return {int(seq): str(digest) for seq, digest in rows.all()}

    async def _seed_missing(self, conn: AsyncConnection, high: int) -> None:
        """Ids below ``high`` with no row yet: perhaps still in flight (PostgreSQL only)."""
        absent = await conn.execute(
            text(
                "SELECT g FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) AS g "
                "WHERE NOT EXISTS (SELECT 1 FROM audit_events e WHERE e.seq = g)"
            ).bindparams(bindparam("lo"), bindparam("hi")),
            {"lo": max(1, high - STARTUP_WINDOW), "hi": high},
        )
        for (seq,) in absent.all():
            self._missing.setdefault(int(seq), _Gap())

    def _settle(self, found: dict[int, str], holders: frozenset[tuple[int, str]]) -> None:
        for seq, gap in list(self._missing.items()):
            if seq in found:
                continue
            if gap.holders is None:
                gap.holders = holders  # the id's holder, if still running, is among these
            elif not gap.holders & holders:
                del self._missing[seq]  # they all ended, and the id is absent: rolled back

    async def run_once(self) -> StepResult | None:
        """Sequence everything pending now, if no other sequencer holds the leadership."""
        async with self.db.engine.connect() as conn:
            if not await _try_lead(conn):
                return None
            try:
                result = StepResult(0, None)
                while True:
                    batch = await self.step(conn)
                    result = StepResult(
                        result.sequenced + batch.sequenced, batch.checkpoint or result.checkpoint
                    )
                    if batch.sequenced < self.batch:
                        return result
            finally:
                await _resign(conn)

    async def run(self, stop: asyncio.Event, interval: float = DEFAULT_INTERVAL) -> None:
        """Campaign for the leadership; while holding it, step every ``interval`` seconds."""
        while not stop.is_set():
            try:
                async with self.db.engine.connect() as conn:
                    if await _try_lead(conn):
                        log.info("audit sequencer: elected")
                        self._reset()
                        try:
                            while not stop.is_set():
                                result = await self.step(conn)
                                if result.sequenced < self.batch:
                                    await _sleep(stop, interval)
                        finally:
                            with contextlib.suppress(Exception):
                                await _resign(conn)
            except asyncio.CancelledError:
                raise
            except Exception:  # a lost connection or a failed step: campaign again
                log.exception("audit sequencer step failed; campaigning again")
            self._reset()
            await _sleep(stop, interval)


async def _xid_holders(conn: AsyncConnection) -> frozenset[tuple[int, str]]:
    """(pid, xid) of every transaction of this database that holds a transaction id.

    Needs the application's own role (or pg_read_all_stats): other roles' xids are hidden.
    """
    rows = await conn.execute(
        text(
            "SELECT pid, backend_xid::text FROM pg_stat_activity "
            "WHERE datname = current_database() AND backend_xid IS NOT NULL"
        )
    )
    return frozenset((int(pid), str(xid)) for pid, xid in rows.all())


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def _try_lead(conn: AsyncConnection) -> bool:
    """PostgreSQL: this connection's session takes the sequencer lock, or another has it."""
    if conn.dialect.name != "postgresql":
        return True  # SQLite: BEGIN IMMEDIATE serializes steps across processes
    got = (
        await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": SEQUENCER_LOCK_ID})
    ).scalar_one()
    await conn.commit()
    return bool(got)


async def _resign(conn: AsyncConnection) -> None:
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": SEQUENCER_LOCK_ID})
        await conn.commit()


def start_in_process(db: Database, keyring: Keyring) -> tuple[asyncio.Task[None], asyncio.Event]:
    """The sequencer as a task of this process (``immunet serve`` and ``demo``)."""
    stop = asyncio.Event()
    task = asyncio.create_task(Sequencer(db, keyring, full_sweep=True).run(stop))
    return task, stop
