"""The verifiable audit log: signed Merkle checkpoints, inclusion and consistency proofs.

The tree's leaves are the audit entries' hashes in the order the sequencer gave them
(``audit_positions``; :mod:`immunet.security.sequencer`); see
:mod:`immunet.security.merkle` for the hashing and the pure proof checks, and
:mod:`immunet.security.tiles` for the stored subtrees that make roots and proofs
O(log n). A checkpoint signs ``(tree_size, root, time)`` with an Ed25519 key derived from
the key ring (the public key is published), so anyone holding two checkpoints can ask
for a consistency proof and anyone holding an entry hash can ask for an inclusion proof:
the operator cannot rewrite history without the published heads disagreeing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from immunet.db.base import utcnow
from immunet.db.engine import Database
from immunet.security.keyring import Keyring
from immunet.security.merkle import (
    EMPTY_ROOT,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)
from immunet.security.models import AuditCheckpoint, AuditEvent, AuditPosition
from immunet.security.tiles import (
    TileReader,
    consistency_path,
    frontier_nodes,
    root_of_frontier,
)

# One derived secret per purpose (see keyring.Purpose): this one seeds the signing key.
CHECKPOINT_KEY_PURPOSE = "sign:audit-checkpoint"
# v1: signed by the lazy signer over the hash chain (before decision 0006); v2: signed by
# the sequencer. The tree is the same (migration 0005 sequenced v1 entries in chain order),
# so v1 checkpoints still verify and are consistent with v2 ones.
CHECKPOINT_FORMATS = {1: "immunet-audit-checkpoint/v1", 2: "immunet-audit-checkpoint/v2"}
CHECKPOINT_VERSION = 2
CHECKPOINT_FORMAT = CHECKPOINT_FORMATS[CHECKPOINT_VERSION]
FORCED_MIN_INTERVAL = dt.timedelta(seconds=10)

__all__ = [
    "CheckpointKey",
    "CheckpointView",
    "checkpoint_message",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "root_of",
    "verify_consistency",
    "verify_inclusion",
]


@dataclass(frozen=True)
class CheckpointKey:
    private: Ed25519PrivateKey

    @classmethod
    def from_keyring(cls, keyring: Keyring) -> CheckpointKey:
        seed = keyring.secret(CHECKPOINT_KEY_PURPOSE)
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    @property
    def public_bytes(self) -> bytes:
        return self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @property
    def key_id(self) -> str:
        return hashlib.sha256(self.public_bytes).hexdigest()[:32]

    def sign(self, message: bytes) -> str:
        return self.private.sign(message).hex()


def checkpoint_message(
    tree_size: int, root_hex: str, created_at: dt.datetime, version: int = CHECKPOINT_VERSION
) -> bytes:
    """The exact bytes signed: format line, size, root, UTC time; newline terminated."""
    stamp = created_at.astimezone(dt.UTC).isoformat(timespec="microseconds")
    line = CHECKPOINT_FORMATS[version]
    return f"{line}\n{tree_size}\n{root_hex}\n{stamp}\n".encode("ascii")


def verify_checkpoint_signature(
    public_key: bytes,
    tree_size: int,
    root_hex: str,
    created_at: dt.datetime,
    signature_hex: str,
    *,
    version: int = CHECKPOINT_VERSION,
) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(
            bytes.fromhex(signature_hex),
            checkpoint_message(tree_size, root_hex, created_at, version),
        )
    except (InvalidSignature, ValueError, KeyError):  # KeyError: an unknown format version
        return False
    return True


@dataclass(frozen=True)
class CheckpointView:
    tree_size: int
    root_hash: str
    created_at: dt.datetime
    key_id: str
    signature: str
    version: int = CHECKPOINT_VERSION

    @classmethod
    def of(cls, row: AuditCheckpoint) -> CheckpointView:
        return cls(
            row.tree_size,
            row.root_hash,
            row.created_at,
            row.key_id,
            row.signature,
            row.format_version,
        )

    @property
    def message(self) -> bytes:
        return checkpoint_message(self.tree_size, self.root_hash, self.created_at, self.version)


async def position_of(session: AsyncSession, seq: int) -> int | None:
    """The tree position the sequencer gave entry ``seq`` (``None`` while pending)."""
    value = await session.execute(select(AuditPosition.position).where(AuditPosition.seq == seq))
    found = value.scalar_one_or_none()
    return None if found is None else int(found)


async def log_size(session: AsyncSession) -> int:
    """How many entries have a tree position (the sequenced tree's size)."""
    value = await session.execute(select(func.coalesce(func.max(AuditPosition.position) + 1, 0)))
    return int(value.scalar_one())


async def pending_estimate(session: AsyncSession) -> int:
    """Roughly how many entries await the sequencer (ids above the last sequenced one)."""
    top = (await session.execute(select(func.coalesce(func.max(AuditEvent.seq), 0)))).scalar_one()
    done = (
        await session.execute(select(func.coalesce(func.max(AuditPosition.seq), 0)))
    ).scalar_one()
    return max(0, int(top) - int(done))


async def latest(session: AsyncSession) -> AuditCheckpoint | None:
    return (
        await session.execute(
            select(AuditCheckpoint).order_by(AuditCheckpoint.tree_size.desc()).limit(1)
        )
    ).scalar_one_or_none()


async def create_checkpoint(db: Database, keyring: Keyring) -> CheckpointView | None:
    """Sequence what is pending and sign, now; the latest checkpoint (``None``: empty log).

    When another process is the elected sequencer this does not wait for it: the answer
    is then the latest checkpoint it has signed (at most about a second old).
    """
    from immunet.security.sequencer import Sequencer

    await Sequencer(db, keyring).run_once()
    async with db.reader() as session:
        head = await latest(session)
    return None if head is None else CheckpointView.of(head)


async def ensure_checkpoint(
    db: Database,
    keyring: Keyring,
    *,
    every_entries: int,
    every_seconds: int,
    covering: int | None = None,
) -> CheckpointView | None:
    """The latest checkpoint, sequencing and signing inline first when it is stale.

    The elected sequencer normally keeps it under a second old; this covers a deployment
    where none runs (tests, a one-off CLI). Stale means: it does not cover entry
    ``covering``, or at least ``every_entries`` entries (or ``every_seconds`` seconds with
    any new entry) are pending.
    """
    async with db.reader() as session:
        head = await latest(session)
        behind = await pending_estimate(session)
        position = await position_of(session, covering) if covering is not None else None
    if head is not None:
        age = utcnow() - head.created_at
        old = age >= dt.timedelta(seconds=every_seconds)
        fresh = behind == 0 or (behind < every_entries and not old)
        covered = covering is None or (position is not None and position < head.tree_size)
        if fresh and covered:
            return CheckpointView.of(head)
        if age < FORCED_MIN_INTERVAL:
            # Asked to cover a newer entry: sign at most once per interval, so proof
            # requests cannot make the server sequence and sign on every call.
            return CheckpointView.of(head)
    elif behind == 0:
        return None
    return await create_checkpoint(db, keyring)


@dataclass(frozen=True)
class InclusionProof:
    leaf_index: int
    entry_hash: str
    leaf_hash: str
    audit_path: list[str]
    checkpoint: CheckpointView


class NotCovered(ValueError):
    """The entry has no position yet, or one the checkpoint does not cover."""


async def prove_inclusion(
    session: AsyncSession, seq: int, checkpoint: CheckpointView
) -> InclusionProof:
    """PATH of entry ``seq`` in the checkpoint's tree: O(log n) stored hashes, one query."""
    position = await position_of(session, seq)
    if position is None or position >= checkpoint.tree_size:
        raise NotCovered("entry not covered by the checkpoint")
    entry = (
        await session.execute(select(AuditEvent.hash).where(AuditEvent.seq == seq))
    ).scalar_one()
    path = await TileReader(session).inclusion(position, checkpoint.tree_size)
    return InclusionProof(
        leaf_index=position,
        entry_hash=entry,
        leaf_hash=leaf_hash(bytes.fromhex(entry)).hex(),
        audit_path=[p.hex() for p in path],
        checkpoint=checkpoint,
    )


async def prove_consistency(session: AsyncSession, first: int, second: int) -> list[str]:
    """PROOF(first, D[second]) from stored subtrees: O(log n) hashes, one query."""
    if second > await log_size(session):
        raise ValueError("the log is shorter than the second size")
    return [p.hex() for p in await TileReader(session).consistency(first, second)]


async def sequenced_leaves(session: AsyncSession) -> list[bytes]:
    """Every sequenced leaf hash in tree order, recomputed from the entry rows (O(n))."""
    out: list[bytes] = []
    result = await session.stream(
        select(AuditPosition.position, AuditEvent.hash)
        .join(AuditEvent, AuditEvent.seq == AuditPosition.seq)
        .order_by(AuditPosition.position)
    )
    async for _position, entry in result:
        out.append(leaf_hash(bytes.fromhex(entry)))
    return out


@dataclass(frozen=True)
class CheckpointReport:
    ok: bool
    checked: int
    problem: str | None = None


async def verify_checkpoints(session: AsyncSession, keyring: Keyring | None) -> CheckpointReport:
    """Every checkpoint (v1 and v2): signed by our key, root equal to the tree recomputed
    from the entry rows, and each consistent with the one before it (RFC 9162 proof,
    checked by the RFC's verification algorithm)."""
    rows = list(
        (await session.execute(select(AuditCheckpoint).order_by(AuditCheckpoint.tree_size)))
        .scalars()
        .all()
    )
    if not rows:
        return CheckpointReport(True, 0)
    if keyring is None:
        return CheckpointReport(False, 0, "signed checkpoints exist but no key ring to check them")
    key = CheckpointKey.from_keyring(keyring)
    all_leaves = await sequenced_leaves(session)
    levels = _levels(all_leaves)
    previous: AuditCheckpoint | None = None
    for row in rows:
        if (
            row.format_version not in CHECKPOINT_FORMATS
            or row.key_id != key.key_id
            or not verify_checkpoint_signature(
                key.public_bytes,
                row.tree_size,
                row.root_hash,
                row.created_at,
                row.signature,
                version=row.format_version,
            )
        ):
            return CheckpointReport(False, 0, f"checkpoint {row.tree_size}: bad signature")
        if row.tree_size > len(all_leaves):
            return CheckpointReport(
                False, 0, f"checkpoint {row.tree_size}: the log has only {len(all_leaves)} entries"
            )
        if _root(levels, row.tree_size).hex() != row.root_hash:
            return CheckpointReport(
                False, 0, f"checkpoint {row.tree_size}: root differs from the recomputed log"
            )
        if previous is not None:
            proof = consistency_path(
                lambda node: levels[node[0]][node[1]], previous.tree_size, row.tree_size
            )
            if not verify_consistency(
                previous.tree_size,
                row.tree_size,
                bytes.fromhex(previous.root_hash),
                bytes.fromhex(row.root_hash),
                proof,
            ):
                return CheckpointReport(
                    False, 0, f"checkpoints {previous.tree_size}→{row.tree_size} inconsistent"
                )
        previous = row
    return CheckpointReport(True, len(rows))


def _levels(leaves: list[bytes]) -> list[list[bytes]]:
    """Every complete subtree hash, recomputed: ``levels[l][i]`` is node ``(l, i)``."""
    levels = [leaves]
    while len(levels[-1]) > 1:
        below = levels[-1]
        levels.append([node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)])
    return levels


def _root(levels: list[list[bytes]], size: int) -> bytes:
    return root_of_frontier([levels[lv][ix] for lv, ix in frontier_nodes(size)])


def empty_root_hex() -> str:
    return EMPTY_ROOT.hex()
