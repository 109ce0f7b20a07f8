"""The lock-free audit append path and its sequencer, on SQLite and PostgreSQL.

Appends take no shared lock; a sequencer gives committed leaves contiguous positions,
stores subtree hashes and signs v2 checkpoints. Checked here: concurrent appenders,
tampering of every kind caught by verify, proofs checked by an independent RFC 9162
implementation (tests/rfc9162.py), O(log n) stored hashes read per root or proof, the
PostgreSQL trigger, leader election, ids committed out of order, and the migration of a
v1 hash-chained log with its v1 checkpoint.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import os
import time
from typing import Any

import pytest
from sqlalchemy import event, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from immunet.db.engine import Database
from immunet.db.migrate import upgrade
from immunet.security.audit import AuditChain, entry_hash, expected_hash
from immunet.security.models import AuditCheckpoint, AuditEvent, AuditPosition
from immunet.security.sequencer import SEQUENCER_LOCK_ID, Sequencer, StepResult
from immunet.security.tiles import TileReader
from immunet.security.transparency import (
    CheckpointKey,
    checkpoint_message,
    create_checkpoint,
    prove_consistency,
    prove_inclusion,
    verify_checkpoints,
)
from tests import rfc9162
from tests.factories.audit import tamper


async def _append(db: Database, n: int, *, actor: str = "system:test") -> None:
    async with db.transaction() as session:
        for i in range(n):
            await AuditChain.append(
                session, actor=actor, action="test:entry:added", subject_ref=f"thing:{i}"
            )


async def _report(db: Database, keyring: Any) -> tuple[Any, Any]:
    async with db.reader() as session:
        chain = await AuditChain.verify(session)
        checkpoints = await verify_checkpoints(session, keyring)
    return chain, checkpoints


async def _tree_order(db: Database) -> list[tuple[int, str]]:
    """(seq, entry hash) in position order."""
    async with db.reader() as session:
        rows = await session.execute(
            select(AuditPosition.position, AuditEvent.seq, AuditEvent.hash)
            .join(AuditEvent, AuditEvent.seq == AuditPosition.seq)
            .order_by(AuditPosition.position)
        )
        out = []
        for position, seq, digest in rows.all():
            assert position == len(out)
            out.append((seq, digest))
        return out


async def test_32_concurrent_appenders_while_sequencing(ctx):
    stop = asyncio.Event()
    sequencer = Sequencer(ctx.db, ctx.keyring)

    async def sequence_meanwhile() -> None:
        while not stop.is_set():
            await sequencer.run_once()
            await asyncio.sleep(0.01)

    async def writer(w: int) -> None:
        for _ in range(8):
            await _append(ctx.db, 1, actor=f"system:writer-{w}")

    background = asyncio.create_task(sequence_meanwhile())
    await asyncio.gather(*(writer(w) for w in range(32)))
    stop.set()
    await background
    await Sequencer(ctx.db, ctx.keyring).run_once()

    order = await _tree_order(ctx.db)
    assert len(order) == 256 and len({seq for seq, _ in order}) == 256
    chain, checkpoints = await _report(ctx.db, ctx.keyring)
    assert chain.ok, chain.reason
    assert chain.entries == chain.sequenced == 256 and chain.pending == 0
    assert checkpoints.ok and checkpoints.checked >= 1, checkpoints.problem


async def _sequenced_log(ctx, sizes: tuple[int, ...] = (5, 9, 4)) -> None:
    for n in sizes:
        await _append(ctx.db, n)
        await Sequencer(ctx.db, ctx.keyring).run_once()


async def test_tampering_with_a_leaf_is_named(ctx):
    await _sequenced_log(ctx)
    await tamper(ctx.db, "UPDATE audit_events SET detail = '{}' WHERE seq = 7")
    chain, _ = await _report(ctx.db, ctx.keyring)
    assert not chain.ok and chain.broken_at == 7 and chain.reason == "entry contents altered"


async def test_editing_a_leaf_and_its_hash_is_caught_by_the_stored_tree_and_the_signature(ctx):
    await _sequenced_log(ctx)
    # A careful forger recomputes the row's hash: the stored leaf no longer matches...
    async with ctx.db.reader() as session:
        row = await session.get(AuditEvent, 3)
        assert row is not None
        session.expunge(row)
    row.actor = "system:forger"
    forged = expected_hash(row)
    await tamper(
        ctx.db,
        "UPDATE audit_events SET actor = 'system:forger', hash = :h WHERE seq = 3",
        {"h": forged},
    )
    chain, checkpoints = await _report(ctx.db, ctx.keyring)
    assert not chain.ok and "stored subtree (0, 2)" in str(chain.reason)
    # ...and the signed roots catch it even if the stored tree is rebuilt to match.
    assert not checkpoints.ok and "root differs" in str(checkpoints.problem)


async def test_deleting_a_sequenced_leaf_is_named(ctx):
    await _sequenced_log(ctx)
    await tamper(ctx.db, "DELETE FROM audit_events WHERE seq = 4")
    chain, _ = await _report(ctx.db, ctx.keyring)
    assert not chain.ok and chain.broken_at == 4 and chain.reason == "sequenced entry removed"


async def test_reordering_is_caught(ctx):
    await _sequenced_log(ctx)
    await tamper(
        ctx.db,
        [
            "UPDATE audit_positions SET seq = -1 WHERE position = 2",
            "UPDATE audit_positions SET seq = 3 WHERE position = 5",
            "UPDATE audit_positions SET seq = 6 WHERE position = 2",
        ],
    )
    chain, checkpoints = await _report(ctx.db, ctx.keyring)
    assert not chain.ok and "differs from the recomputed leaves" in str(chain.reason)
    assert not checkpoints.ok


async def test_removing_the_tail_consistently_is_caught_by_the_checkpoint(ctx):
    await _sequenced_log(ctx)
    last = (await _tree_order(ctx.db))[-1][0]
    await tamper(
        ctx.db,
        [
            f"DELETE FROM audit_events WHERE seq = {last}",
            "DELETE FROM audit_positions WHERE position = 17",
            # the nodes that position 17 completed: itself and (16, 17)
            "DELETE FROM audit_subtrees WHERE (level = 0 AND idx = 17) OR (level = 1 AND idx = 8)",
        ],
    )
    chain, checkpoints = await _report(ctx.db, ctx.keyring)
    assert chain.ok  # what remains is a self-consistent log of 17 entries...
    assert not checkpoints.ok and "only 17 entries" in str(checkpoints.problem)  # ...but signed 18


async def test_proofs_verify_with_an_independent_rfc9162_implementation(ctx):
    views = []
    for n in (3, 8, 13):
        await _append(ctx.db, n)
        result = await Sequencer(ctx.db, ctx.keyring).run_once()
        assert result is not None and result.checkpoint is not None
        views.append(result.checkpoint)
    order = await _tree_order(ctx.db)
    entries = [bytes.fromhex(h) for _, h in order]
    async with ctx.db.reader() as session:
        for view in views:
            assert view.root_hash == rfc9162.mth(entries[: view.tree_size]).hex()
            for position in range(view.tree_size):
                seq = order[position][0]
                proof = await prove_inclusion(session, seq, view)
                assert proof.leaf_index == position
                assert rfc9162.verify_inclusion(
                    rfc9162.hash_leaf(bytes.fromhex(proof.entry_hash)),
                    proof.leaf_index,
                    view.tree_size,
                    [bytes.fromhex(p) for p in proof.audit_path],
                    bytes.fromhex(view.root_hash),
                )
        for a, b in ((views[0], views[1]), (views[1], views[2]), (views[0], views[2])):
            proof = await prove_consistency(session, a.tree_size, b.tree_size)
            assert rfc9162.verify_consistency(
                a.tree_size,
                b.tree_size,
                bytes.fromhex(a.root_hash),
                bytes.fromhex(b.root_hash),
                [bytes.fromhex(p) for p in proof],
            )


async def test_roots_and_proofs_read_log_n_stored_hashes_in_one_statement(ctx):
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    budgets = {}
    for total in (200, 2500):
        await _append(ctx.db, total - len(await _tree_order(ctx.db)))
        result = await Sequencer(ctx.db, ctx.keyring).run_once()
        assert result is not None and result.checkpoint is not None
        view = result.checkpoint
        assert view.tree_size == total
        order = await _tree_order(ctx.db)
        bound = 2 * math.ceil(math.log2(total))
        async with ctx.db.reader() as session:
            reader = TileReader(session)
            assert (await reader.root(total)).hex() == view.root_hash
            assert reader.statements == 1 and reader.rows == bin(total).count("1")
            worst = 0
            for position in (0, 1, total // 3, total // 2, total - 2, total - 1):
                reader = TileReader(session)
                await reader.inclusion(position, total)
                assert reader.statements == 1 and reader.rows <= bound
                worst = max(worst, reader.rows)
            for first in (1, 7, total // 2, total - 1):
                reader = TileReader(session)
                await reader.consistency(first, total)
                assert reader.statements == 1 and reader.rows <= bound + 1
            # A whole proof request: a fixed number of statements at any size.
            event.listen(ctx.db.engine.sync_engine, "before_cursor_execute", count)
            statements.clear()
            await prove_inclusion(session, order[total // 3][0], view)
            event.remove(ctx.db.engine.sync_engine, "before_cursor_execute", count)
            budgets[total] = (len(statements), worst)
    assert budgets[200][0] == budgets[2500][0] <= 4
    assert budgets[2500][1] <= 2 * math.ceil(math.log2(2500))


async def test_an_entry_is_readable_right_after_commit_before_sequencing(ctx):
    await _append(ctx.db, 1, actor="staff:1")
    async with ctx.db.reader() as session:
        rows = (await session.execute(select(AuditEvent))).scalars().all()
        placed = (await session.execute(select(AuditPosition))).scalars().all()
    assert len(rows) == 1 and rows[0].actor == "staff:1" and not placed
    chain, _ = await _report(ctx.db, ctx.keyring)
    assert chain.ok and chain.pending == 1


# --- PostgreSQL only ---------------------------------------------------------------------------


def _postgres_only(ctx) -> None:
    if ctx.db.dialect != "postgresql":
        pytest.skip("a PostgreSQL mechanism (SQLite: one writer, tested above)")


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET actor = 'x'",
        "DELETE FROM audit_events",
        "UPDATE audit_positions SET seq = seq",
        "DELETE FROM audit_positions",
        "UPDATE audit_subtrees SET hash = hash",
        "DELETE FROM audit_subtrees",
        "UPDATE audit_checkpoints SET root_hash = root_hash",
        "DELETE FROM audit_checkpoints",
    ],
)
async def test_the_trigger_refuses_update_and_delete(ctx, statement):
    _postgres_only(ctx)
    await _sequenced_log(ctx, (3,))
    with pytest.raises(DBAPIError, match="append-only"):
        async with ctx.db.transaction() as session:
            await session.execute(text(statement))
    chain, checkpoints = await _report(ctx.db, ctx.keyring)
    assert chain.ok and chain.sequenced == 3 and checkpoints.ok


async def test_truncate_still_works(ctx):
    _postgres_only(ctx)
    await _sequenced_log(ctx, (3,))
    async with ctx.db.transaction() as session:
        await session.execute(
            text("TRUNCATE audit_events, audit_positions, audit_subtrees, audit_checkpoints")
        )
    chain, _ = await _report(ctx.db, ctx.keyring)
    assert chain.ok and chain.entries == 0


async def test_an_append_waits_for_no_other_transaction(ctx):
    # Decision 0004 held one advisory lock from each append to its commit: a second
    # append waited for the first transaction. Now it does not.
    _postgres_only(ctx)
    async with ctx.db.sessionmaker() as open_transaction:
        await open_transaction.begin()
        await AuditChain.append(open_transaction, actor="system:slow", action="test:entry:added")
        await asyncio.wait_for(_append(ctx.db, 1, actor="system:fast"), timeout=5)
        await open_transaction.commit()
    await Sequencer(ctx.db, ctx.keyring).run_once()
    chain, _ = await _report(ctx.db, ctx.keyring)
    assert chain.ok and chain.sequenced == 2


class _Recording(Sequencer):
    """The real sequencer, noting when each of its steps ran."""

    def __init__(self, *args: Any, log: list[tuple[str, float, float, int]], name: str) -> None:
        super().__init__(*args, full_sweep=True)
        self.log = log
        self.name = name

    async def step(self, conn: Any) -> StepResult:
        began = time.monotonic()
        result = await super().step(conn)
        self.log.append((self.name, began, time.monotonic(), result.sequenced))
        return result


async def test_two_sequencers_only_one_sequences_at_a_time(ctx, settings):
    _postgres_only(ctx)
    log: list[tuple[str, float, float, int]] = []
    dbs = [Database(settings.database_url, pool_size=2) for _ in range(2)]
    stops = [asyncio.Event(), asyncio.Event()]
    sequencers = [_Recording(db, ctx.keyring, log=log, name=f"s{i}") for i, db in enumerate(dbs)]
    tasks = [asyncio.create_task(s.run(stop, 0.05)) for s, stop in zip(sequencers, stops)]
    try:
        for _ in range(10):
            await _append(ctx.db, 3)
            await asyncio.sleep(0.03)
        async with ctx.db.reader() as session:
            holders = (
                await session.execute(
                    text(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                        "AND objid = :k"
                    ),
                    {"k": SEQUENCER_LOCK_ID},
                )
            ).scalar_one()
        assert holders == 1
        leader = next(name for name, *_ in log)
        index = int(leader[1:])
        await asyncio.sleep(0.3)
        stops[index].set()  # the leader stops: the other is elected
        await tasks[index]
        await _append(ctx.db, 5)
        for _ in range(200):  # the new leader sequences them within its first steps
            if len(await _tree_order(ctx.db)) >= 35:
                break
            await asyncio.sleep(0.05)
    finally:
        for stop in stops:
            stop.set()
        await asyncio.gather(*tasks)
        for db in dbs:
            await db.dispose()
    assert len(await _tree_order(ctx.db)) == 35
    names = {name for name, *_ in log}
    assert names == {"s0", "s1"}  # both led, one after the other
    steps = sorted(log, key=lambda r: r[1])
    for before, after in zip(steps, steps[1:]):
        if before[0] != after[0]:
            assert before[2] <= after[1], "two sequencers stepped at the same time"
    chain, checkpoints = await _report(ctx.db, ctx.keyring)
    assert chain.ok and chain.sequenced == 35 and checkpoints.ok


async def test_an_inline_checkpoint_request_does_not_sequence_while_another_leads(ctx):
    _postgres_only(ctx)
    await _sequenced_log(ctx, (3,))
    await _append(ctx.db, 2)
    async with ctx.db.engine.connect() as leader:
        await leader.execute(text("SELECT pg_advisory_lock(:k)"), {"k": SEQUENCER_LOCK_ID})
        await leader.commit()
        view = await create_checkpoint(ctx.db, ctx.keyring)
        assert view is not None and view.tree_size == 3  # the leader's latest, unchanged
        await leader.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": SEQUENCER_LOCK_ID})
        await leader.commit()
    view = await create_checkpoint(ctx.db, ctx.keyring)
    assert view is not None and view.tree_size == 5


async def test_ids_committed_out_of_order_and_rolled_back(ctx):
    _postgres_only(ctx)
    sequencer = Sequencer(ctx.db, ctx.keyring)
    async with ctx.db.engine.connect() as conn:
        # A takes an id and stays open; B takes the next one and commits first.
        async with ctx.db.sessionmaker() as slow:
            await slow.begin()
            await AuditChain.append(slow, actor="system:slow", action="test:entry:added")
            await _append(ctx.db, 1, actor="system:fast")
            assert (await sequencer.step(conn)).sequenced == 1
            assert len(sequencer._missing) == 1
            await slow.commit()
        # C takes an id and rolls back; D commits.
        async with ctx.db.sessionmaker() as gone:
            await gone.begin()
            await AuditChain.append(gone, actor="system:gone", action="test:entry:added")
            await gone.rollback()
        await _append(ctx.db, 1, actor="system:after")
        assert (await sequencer.step(conn)).sequenced == 2  # A (late) and D
        for _ in range(3):
            await sequencer.step(conn)
        assert sequencer._missing == {}  # C's id: rolled back, forgotten
    order = await _tree_order(ctx.db)
    async with ctx.db.reader() as session:
        actors = [(await session.get(AuditEvent, seq)).actor for seq, _ in order]  # type: ignore[union-attr]
    assert actors == ["system:fast", "system:slow", "system:after"]
    chain, checkpoints = await _report(ctx.db, ctx.keyring)
    assert chain.ok and chain.pending == 0 and checkpoints.ok


# --- migrating a v1 (hash-chained) log ----------------------------------------------------------


@pytest.fixture
async def v1_database(database_url, tmp_path):
    """An empty database at revision 0001 (before the sequencer), on the same server."""
    if database_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'v1.sqlite3'}"
        yield url
        return
    import asyncpg

    parsed = make_url(database_url)
    name = f"immunet_v1_{os.getpid()}"
    admin = await asyncpg.connect(
        host=parsed.host, port=parsed.port or 5432, user=parsed.username, database="postgres"
    )
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield parsed.set(database=name).render_as_string(hide_password=False)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def test_a_v1_chain_and_its_checkpoint_migrate_and_keep_verifying(v1_database, keyring):
    await asyncio.to_thread(upgrade, v1_database, "0001")
    db = Database(v1_database)
    key = CheckpointKey.from_keyring(keyring)
    base = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)
    prev = "0" * 64
    chain_hashes = []
    try:
        async with db.transaction() as session:
            for seq in range(1, 12):
                fields: dict[str, Any] = {
                    "seq": seq,
                    "occurred_at": base + dt.timedelta(seconds=seq),
                    "actor": "staff:1",
                    "action": "people:beneficiary:viewed",
                    "subject_ref": f"beneficiary:{seq}",
                    "purpose": "walk-in-lookup",
                    "request_id": None,
                    "client_address": None,
                    "detail": None,
                }
                digest = entry_hash(**fields, prev_hash=prev)
                await session.execute(
                    insert(AuditEvent.__table__).values(**fields, prev_hash=prev, hash=digest)
                )
                chain_hashes.append(bytes.fromhex(digest))
                prev = digest
            # The v1 signer signed the first 8 entries' tree with the v1 message.
            root = rfc9162.mth(chain_hashes[:8]).hex()
            stamp = base + dt.timedelta(minutes=5)
            # (Core insert of the given columns only: 0001 has no format_version yet.)
            await session.execute(
                insert(AuditCheckpoint.__table__).values(
                    tree_size=8,
                    root_hash=root,
                    created_at=stamp,
                    key_id=key.key_id,
                    signature=key.sign(checkpoint_message(8, root, stamp, version=1)),
                )
            )
        await db.dispose()
        await asyncio.to_thread(upgrade, v1_database, "head")
        db = Database(v1_database)

        order = await _tree_order(db)
        assert [seq for seq, _ in order] == list(range(1, 12))  # sequenced in chain order
        chain, checkpoints = await _report(db, keyring)
        assert chain.ok and chain.sequenced == 11 and checkpoints.ok, (chain, checkpoints)

        # New v2 leaves extend the same tree; the v2 checkpoint is consistent with the v1 one.
        await _append(db, 6)
        result = await Sequencer(db, keyring).run_once()
        assert result is not None and result.checkpoint is not None
        assert result.checkpoint.tree_size == 17 and result.checkpoint.version == 2
        chain, checkpoints = await _report(db, keyring)
        assert chain.ok and chain.sequenced == 17
        assert checkpoints.ok and checkpoints.checked == 2, checkpoints.problem
        async with db.reader() as session:
            proof = await prove_consistency(session, 8, 17)
        entries = [bytes.fromhex(h) for _, h in await _tree_order(db)]
        assert rfc9162.verify_consistency(
            8,
            17,
            bytes.fromhex(root),
            rfc9162.mth(entries),
            [bytes.fromhex(p) for p in proof],
        )
        # Breaking the old chain is still named at its entry.
        await tamper(db, "UPDATE audit_events SET purpose = 'x' WHERE seq = 5")
        chain, _ = await _report(db, keyring)
        assert not chain.ok and chain.broken_at == 5
    finally:
        await db.dispose()
