"""Pure Merkle tree rules (RFC 6962): any size, any leaf, proofs verify; tampering fails."""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

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


def _leaves(n: int) -> list[bytes]:
    return [leaf_hash(hashlib.sha256(str(i).encode()).digest()) for i in range(n)]


def _reference_root(leaves: list[bytes]) -> bytes:
    # The recursive definition of RFC 6962 §2.1.
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(_reference_root(leaves[:k]), _reference_root(leaves[k:]))


def test_leaf_and_node_are_domain_separated():
    entry = bytes(32)
    assert leaf_hash(entry) == hashlib.sha256(b"\x00" + entry).digest()
    assert node_hash(entry, entry) == hashlib.sha256(b"\x01" + entry + entry).digest()
    assert root_of([]) == hashlib.sha256(b"").digest()


@given(st.integers(min_value=1, max_value=300))
def test_iterative_root_matches_the_recursive_definition(n):
    leaves = _leaves(n)
    assert root_of(leaves) == _reference_root(leaves)


@settings(max_examples=150)
@given(st.data())
def test_every_inclusion_proof_verifies(data):
    n = data.draw(st.integers(min_value=1, max_value=200))
    index = data.draw(st.integers(min_value=0, max_value=n - 1))
    leaves = _leaves(n)
    root = root_of(leaves)
    proof = inclusion_proof(index, leaves)
    assert verify_inclusion(leaves[index], index, n, proof, root)


@settings(max_examples=150)
@given(st.data())
def test_tampered_inclusion_proofs_fail(data):
    n = data.draw(st.integers(min_value=2, max_value=200))
    index = data.draw(st.integers(min_value=0, max_value=n - 1))
    leaves = _leaves(n)
    root = root_of(leaves)
    proof = inclusion_proof(index, leaves)
    other = data.draw(st.integers(min_value=0, max_value=n - 1).filter(lambda i: i != index))
    assert not verify_inclusion(leaves[other], index, n, proof, root)
    assert not verify_inclusion(leaves[index], index, n, proof, leaf_hash(b"x"))
    if proof:
        position = data.draw(st.integers(min_value=0, max_value=len(proof) - 1))
        bad = list(proof)
        bad[position] = hashlib.sha256(bad[position]).digest()
        assert not verify_inclusion(leaves[index], index, n, bad, root)
        assert not verify_inclusion(leaves[index], index, n, proof[:-1], root)
    assert not verify_inclusion(leaves[index], index, n, [*proof, root], root)


@settings(max_examples=150)
@given(st.data())
def test_every_consistency_proof_verifies(data):
    n = data.draw(st.integers(min_value=1, max_value=200))
    m = data.draw(st.integers(min_value=1, max_value=n))
    leaves = _leaves(n)
    proof = consistency_proof(m, leaves)
    assert verify_consistency(m, n, root_of(leaves[:m]), root_of(leaves), proof)


@settings(max_examples=150)
@given(st.data())
def test_tampered_consistency_proofs_fail(data):
    n = data.draw(st.integers(min_value=2, max_value=200))
    m = data.draw(st.integers(min_value=1, max_value=n - 1))
    leaves = _leaves(n)
    proof = consistency_proof(m, leaves)
    first, second = root_of(leaves[:m]), root_of(leaves)
    # A rewritten history: one of the first m entries changed.
    changed = list(leaves)
    changed[data.draw(st.integers(min_value=0, max_value=m - 1))] = leaf_hash(b"forged")
    assert not verify_consistency(m, n, root_of(changed[:m]), second, proof)
    assert not verify_consistency(m, n, first, root_of(changed), proof)
    if proof:
        position = data.draw(st.integers(min_value=0, max_value=len(proof) - 1))
        bad = list(proof)
        bad[position] = hashlib.sha256(bad[position]).digest()
        assert not verify_consistency(m, n, first, second, bad)
    assert not verify_consistency(m, n, first, second, [*proof, first])
