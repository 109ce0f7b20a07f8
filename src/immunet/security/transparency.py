"""The verifiable audit log: signed Merkle checkpoints, inclusion and consistency proofs.

The tree's leaves are the audit entries' chain hashes in ``seq`` order (leaf ``i`` is entry
``seq = i + 1``); see :mod:`immunet.security.merkle` for the hashing and the pure proof
checks. A checkpoint signs ``(tree_size, root, time)`` with an Ed25519 key derived from
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
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from immunet.db.base import utcnow
from immunet.db.engine import Database
from immunet.security.keyring import Keyring
from immunet.security.merkle import (
    EMPTY_ROOT,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)
from immunet.security.models import AuditCheckpoint, AuditEvent

# One derived secret per purpose (see keyring.Purpose): this one seeds the signing key.
CHECKPOINT_KEY_PURPOSE = "sign:audit-checkpoint"
CHECKPOINT_FORMAT = "immunet-audit-checkpoint/v1"
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


def checkpoint_message(tree_size: int, root_hex: str, created_at: dt.datetime) -> bytes:
    """The exact bytes signed: format line, size, root, UTC time; newline terminated."""
    stamp = created_at.astimezone(dt.UTC).isoformat(timespec="microseconds")
    return f"{CHECKPOINT_FORMAT}\n{tree_size}\n{root_hex}\n{stamp}\n".encode("ascii")


def verify_checkpoint_signature(
    public_key: bytes, tree_size: int, root_hex: str, created_at: dt.datetime, signature_hex: str
) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(
            bytes.fromhex(signature_hex), checkpoint_message(tree_size, root_hex, created_at)
        )
    except (InvalidSignature, ValueError):
        return False
    return True


@dataclass(frozen=True)
class CheckpointView:
    tree_size: int
    root_hash: str
    created_at: dt.datetime
    key_id: str
    signature: str

    @classmethod
    def of(cls, row: AuditCheckpoint) -> CheckpointView:
        return cls(row.tree_size, row.root_hash, row.created_at, row.key_id, row.signature)


async def leaves(session: AsyncSession, tree_size: int | None = None) -> list[bytes]:
    """The leaf hashes of the first ``tree_size`` entries (all when ``None``)."""
    stmt = select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq)
    if tree_size is not None:
        stmt = stmt.where(AuditEvent.seq <= tree_size)
    out: list[bytes] = []
    for _seq, entry in (await session.execute(stmt)).all():
        out.append(leaf_hash(bytes.fromhex(entry)))
    return out


async def log_size(session: AsyncSession) -> int:
    return int(
        (await session.execute(select(func.coalesce(func.max(AuditEvent.seq), 0)))).scalar_one()
    )


async def latest(session: AsyncSession) -> AuditCheckpoint | None:
    return (
        await session.execute(
            select(AuditCheckpoint).order_by(AuditCheckpoint.tree_size.desc()).limit(1)
        )
    ).scalar_one_or_none()


async def create_checkpoint(db: Database, keyring: Keyring) -> CheckpointView | None:
    """Sign the current tree head; ``None`` when the log is empty. Idempotent per size."""
    key = CheckpointKey.from_keyring(keyring)
    async with db.reader() as session:
        size = await log_size(session)
        if size == 0:
            return None
        existing = await session.get(AuditCheckpoint, size)
        if existing is not None:
            return CheckpointView.of(existing)
        root = root_of(await leaves(session, size)).hex()
    now = utcnow()
    row = AuditCheckpoint(
        tree_size=size,
        root_hash=root,
        created_at=now,
        key_id=key.key_id,
        signature=key.sign(checkpoint_message(size, root, now)),
    )
    try:
        async with db.transaction() as session:
            session.add(row)
    except IntegrityError:  # another worker signed the same size first
        async with db.reader() as session:
            other = await session.get(AuditCheckpoint, size)
            assert other is not None
            return CheckpointView.of(other)
    return CheckpointView.of(row)


async def ensure_checkpoint(
    db: Database,
    keyring: Keyring,
    *,
    every_entries: int,
    every_seconds: int,
    covering: int | None = None,
) -> CheckpointView | None:
    """The latest checkpoint, signing a new one first when it is stale.

    Stale means: it does not cover entry ``covering``, or at least ``every_entries``
    entries (or ``every_seconds`` seconds with any new entry) have passed since it.
    """
    async with db.reader() as session:
        head = await latest(session)
        size = await log_size(session)
    if head is not None:
        behind = size - head.tree_size
        age = utcnow() - head.created_at
        old = age >= dt.timedelta(seconds=every_seconds)
        fresh = behind == 0 or (behind < every_entries and not old)
        if fresh and (covering is None or covering <= head.tree_size):
            return CheckpointView.of(head)
        if fresh and age < FORCED_MIN_INTERVAL:
            # Asked to cover a newer entry: sign at most once per interval, so proof
            # requests cannot make the server re-hash the whole log on every call.
            return CheckpointView.of(head)
    if size == 0:
        return None
    return await create_checkpoint(db, keyring)


@dataclass(frozen=True)
class InclusionProof:
    leaf_index: int
    entry_hash: str
    leaf_hash: str
    audit_path: list[str]
    checkpoint: CheckpointView


async def prove_inclusion(
    session: AsyncSession, seq: int, checkpoint: CheckpointView
) -> InclusionProof:
    all_leaves = await leaves(session, checkpoint.tree_size)
    if not 1 <= seq <= len(all_leaves):
        raise ValueError("entry not covered by the checkpoint")
    entry = (
        await session.execute(select(AuditEvent.hash).where(AuditEvent.seq == seq))
    ).scalar_one()
    path = inclusion_proof(seq - 1, all_leaves)
    return InclusionProof(
        leaf_index=seq - 1,
        entry_hash=entry,
        leaf_hash=all_leaves[seq - 1].hex(),
        audit_path=[p.hex() for p in path],
        checkpoint=checkpoint,
    )


async def prove_consistency(session: AsyncSession, first: int, second: int) -> list[str]:
    all_leaves = await leaves(session, second)
    if len(all_leaves) != second:
        raise ValueError("the log is shorter than the second size")
    return [p.hex() for p in consistency_proof(first, all_leaves)]


@dataclass(frozen=True)
class CheckpointReport:
    ok: bool
    checked: int
    problem: str | None = None


async def verify_checkpoints(session: AsyncSession, keyring: Keyring | None) -> CheckpointReport:
    """Every checkpoint: signed by our key, root equal to the recomputed tree, and each
    consistent with the one before it."""
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
    all_leaves = await leaves(session, rows[-1].tree_size)
    previous: AuditCheckpoint | None = None
    for row in rows:
        if row.key_id != key.key_id or not verify_checkpoint_signature(
            key.public_bytes, row.tree_size, row.root_hash, row.created_at, row.signature
        ):
            return CheckpointReport(False, 0, f"checkpoint {row.tree_size}: bad signature")
        if row.tree_size > len(all_leaves):
            return CheckpointReport(
                False, 0, f"checkpoint {row.tree_size}: the log has only {len(all_leaves)} entries"
            )
        if root_of(all_leaves[: row.tree_size]).hex() != row.root_hash:
            return CheckpointReport(
                False, 0, f"checkpoint {row.tree_size}: root differs from the recomputed log"
            )
        if previous is not None:
            proof = consistency_proof(previous.tree_size, all_leaves[: row.tree_size])
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


def empty_root_hex() -> str:
    return EMPTY_ROOT.hex()
