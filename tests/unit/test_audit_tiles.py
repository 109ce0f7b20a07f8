"""Roots and proofs from stored subtrees equal RFC 9162's, and read O(log n) of them.

The reference is tests/rfc9162.py, written from the RFC's text; the node counts are
exact budgets over sizes up to 2**40 (no storage needed: which nodes a root or proof
reads depends on the sizes only).
"""

from __future__ import annotations

import hashlib
import math

from hypothesis import given
from hypothesis import strategies as st

from immunet.security.tiles import (
    audit_path,
    consistency_path,
    extend,
    frontier_nodes,
    needed,
    range_root,
    root_of_frontier,
)
from tests import rfc9162


def _entries(n: int) -> list[bytes]:
    return [hashlib.sha256(f"entry {i}".encode()).digest() for i in range(n)]


def _stored(entries: list[bytes]) -> dict[tuple[int, int], bytes]:
    """Every complete subtree, as the sequencer stores them, built in uneven batches."""
    frontier: list[tuple[int, bytes]] = []
    nodes: dict[tuple[int, int], bytes] = {}
    size = 0
    step = 1
    while size < len(entries):
        batch = entries[size : size + step]
        frontier, created = extend(frontier, size, [rfc9162.hash_leaf(e) for e in batch])
        for level, index, digest in created:
            assert (level, index) not in nodes, "a subtree is written once"
            nodes[(level, index)] = digest
        size += len(batch)
        step = step * 3 % 7 + 1
    assert root_of_frontier([h for _, h in frontier]) == rfc9162.mth(entries)
    return nodes


def test_every_size_to_70_matches_the_rfc():
    entries = _entries(70)
    nodes = _stored(entries)
    for n in range(1, 71):
        assert range_root(nodes.__getitem__, 0, n) == rfc9162.mth(entries[:n])
        assert root_of_frontier([nodes[k] for k in frontier_nodes(n)]) == rfc9162.mth(entries[:n])
        for m in range(n):
            got = audit_path(nodes.__getitem__, m, 0, n)
            assert got == rfc9162.path(m, entries[:n])
            assert rfc9162.verify_inclusion(
                rfc9162.hash_leaf(entries[m]), m, n, got, rfc9162.mth(entries[:n])
            )
        for first in range(1, n):
            got = consistency_path(nodes.__getitem__, first, n)
            assert got == rfc9162.proof(first, entries[:n])
            assert rfc9162.verify_consistency(
                first, n, rfc9162.mth(entries[:first]), rfc9162.mth(entries[:n]), got
            )


def test_a_stored_node_is_never_rewritten_and_only_complete_ones_exist():
    nodes = _stored(_entries(37))
    for level, index in nodes:
        assert (index + 1) << level <= 37


@given(
    n=st.integers(min_value=2, max_value=2**40),
    data=st.data(),
)
def test_reads_are_logarithmic_at_any_size(n, data):
    log_n = math.ceil(math.log2(n))
    m = data.draw(st.integers(min_value=0, max_value=n - 1))
    first = data.draw(st.integers(min_value=1, max_value=n - 1))
    assert len(needed(lambda get: range_root(get, 0, n))) == bin(n).count("1") <= log_n + 1
    assert len(needed(lambda get: audit_path(get, m, 0, n))) <= 2 * log_n
    assert len(needed(lambda get: consistency_path(get, first, n))) <= 2 * log_n + 1


def test_the_budget_at_ten_million_is_twice_log_n():
    # The goal is the same cost at 10^4 and 10^7 entries: one statement reading
    # at most 2 log2(n) rows (28 at 10^4, 48 at 10^7), never a scan of the log.
    for n in (10**4, 10**7):
        worst = max(
            len(needed(lambda get, m=m, n=n: audit_path(get, m, 0, n)))
            for m in (0, n // 3, n // 2, n - 2, n - 1)
        )
        assert worst <= 2 * math.ceil(math.log2(n))
