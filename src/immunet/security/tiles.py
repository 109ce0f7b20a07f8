"""Stored subtree hashes ("tiles"): roots and RFC 9162 proofs in O(log n) stored hashes.

The sequencer writes the hash of every complete subtree once, when its last leaf is
sequenced (:class:`~immunet.security.models.AuditSubtree`, node ``(level, index)``
covering positions ``[index << level, (index + 1) << level)``). Every range that the
RFC 9162 recursions (MTH, PATH, SUBPROOF) ask for decomposes into at most
``log2 n`` complete subtrees, and only one range per proof is not itself complete, so a
root costs at most ``popcount(n)`` rows and a proof at most about ``2 log2 n``, read in
one statement: the algorithms below run once with a recorder to learn which nodes they
need (their control flow depends on sizes only, never on hash values), then again over
the fetched hashes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from immunet.security.merkle import EMPTY_ROOT, node_hash
from immunet.security.models import AuditSubtree

Node = tuple[int, int]  # (level, index)
Get = Callable[[Node], bytes]

_PLACEHOLDER = bytes(32)


class TreeIncomplete(RuntimeError):
    """A stored subtree hash the tree of this size needs is missing."""


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _perfect(start: int, size: int) -> Node | None:
    if size & (size - 1) == 0 and start % size == 0:
        level = size.bit_length() - 1
        return (level, start >> level)
    return None


def range_root(get: Get, start: int, end: int) -> bytes:
    """MTH of positions ``[start, end)`` (a range the RFC recursion produces)."""
    size = end - start
    if size == 0:
        return EMPTY_ROOT
    node = _perfect(start, size)
    if node is not None:
        return get(node)
    k = _split(size)
    return node_hash(range_root(get, start, start + k), range_root(get, start + k, end))


def audit_path(get: Get, index: int, start: int, end: int) -> list[bytes]:
    """PATH(index, D[start:end]) of RFC 9162 §2.1.3.1, ``index`` absolute."""
    size = end - start
    if size <= 1:
        return []
    k = _split(size)
    if index < start + k:
        return [*audit_path(get, index, start, start + k), range_root(get, start + k, end)]
    return [*audit_path(get, index, start + k, end), range_root(get, start, start + k)]


def _subproof(get: Get, first: int, start: int, end: int, complete: bool) -> list[bytes]:
    if first == end:
        return [] if complete else [range_root(get, start, end)]
    k = _split(end - start)
    if first <= start + k:
        return [*_subproof(get, first, start, start + k, complete), range_root(get, start + k, end)]
    return [*_subproof(get, first, start + k, end, False), range_root(get, start, start + k)]


def consistency_path(get: Get, first: int, second: int) -> list[bytes]:
    """PROOF(first, D[second]) of RFC 9162 §2.1.4.1."""
    if not 0 < first <= second:
        raise ValueError("the first tree size must be between 1 and the second")
    if first == second:
        return []
    return _subproof(get, first, 0, second, True)


def needed(compute: Callable[[Get], object]) -> set[Node]:
    """The stored nodes ``compute`` reads (sizes alone decide them)."""
    keys: set[Node] = set()

    def record(node: Node) -> bytes:
        keys.add(node)
        return _PLACEHOLDER

    compute(record)
    return keys


def frontier_nodes(size: int) -> list[Node]:
    """The complete subtrees that make up a tree of ``size`` leaves, left to right."""
    out: list[Node] = []
    start = 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            out.append((level, start >> level))
            start += 1 << level
    return out


def root_of_frontier(frontier: Sequence[bytes]) -> bytes:
    """MTH from the frontier's hashes (left to right): fold from the right."""
    if not frontier:
        return EMPTY_ROOT
    node = frontier[-1]
    for left in reversed(frontier[:-1]):
        node = node_hash(left, node)
    return node


def extend(
    frontier: list[tuple[int, bytes]], start: int, leaves: Iterable[bytes]
) -> tuple[list[tuple[int, bytes]], list[tuple[int, int, bytes]]]:
    """Append leaf hashes at positions ``start, start+1, ...``.

    ``frontier`` is the tree's complete subtrees as ``(level, hash)``, left to right.
    Returns the new frontier and every newly complete node ``(level, index, hash)``.
    """
    stack = list(frontier)
    created: list[tuple[int, int, bytes]] = []
    position = start
    for leaf in leaves:
        level, node = 0, leaf
        created.append((0, position, node))
        while stack and stack[-1][0] == level:
            _, left = stack.pop()
            node = node_hash(left, node)
            level += 1
            created.append((level, position >> level, node))
        stack.append((level, node))
        position += 1
    return stack, created


@dataclass
class TileReader:
    """Reads stored subtree hashes, counting statements and rows (for the O(log n) test)."""

    bind: AsyncConnection | AsyncSession
    statements: int = 0
    rows: int = 0
    _cache: dict[Node, bytes] = field(default_factory=dict)

    async def fetch(self, nodes: Iterable[Node]) -> dict[Node, bytes]:
        wanted = sorted(set(nodes) - self._cache.keys())
        if wanted:
            stmt = select(AuditSubtree.level, AuditSubtree.idx, AuditSubtree.hash).where(
                tuple_(AuditSubtree.level, AuditSubtree.idx).in_(wanted)
            )
            self.statements += 1
            for level, index, digest in (await self.bind.execute(stmt)).all():
                self.rows += 1
                self._cache[(int(level), int(index))] = bytes(digest)
        missing = [n for n in wanted if n not in self._cache]
        if missing:
            raise TreeIncomplete(f"stored subtree {missing[0]} is missing")
        return self._cache

    async def run(self, compute: Callable[[Get], bytes | list[bytes]]) -> bytes | list[bytes]:
        cache = await self.fetch(needed(compute))
        return compute(cache.__getitem__)

    async def root(self, size: int) -> bytes:
        result = await self.run(lambda get: range_root(get, 0, size))
        assert isinstance(result, bytes)
        return result

    async def inclusion(self, index: int, size: int) -> list[bytes]:
        if not 0 <= index < size:
            raise ValueError("leaf index outside the tree")
        result = await self.run(lambda get: audit_path(get, index, 0, size))
        assert isinstance(result, list)
        return result

    async def consistency(self, first: int, second: int) -> list[bytes]:
        result = await self.run(lambda get: consistency_path(get, first, second))
        assert isinstance(result, list)
        return result

    async def frontier(self, size: int) -> list[tuple[int, bytes]]:
        nodes = frontier_nodes(size)
        cache = await self.fetch(nodes)
        return [(level, cache[(level, index)]) for level, index in nodes]
