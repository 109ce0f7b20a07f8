"""Differentially private counts by OpenDP (decision 0022): no noise is written here.

The privacy unit is one person: each person's records are first cut to at most
``max_contributions`` (the earliest ones), so adding or removing a person changes the input
by at most that many records (symmetric distance). OpenDP's ``count_by_categories`` over a
category set fixed in advance (reference data and the calendar, never the records)
followed by its Laplace mechanism (discrete Laplace on integer counts) gives the release;
OpenDP's own search finds the noise scale for the epsilon asked, and its privacy map
confirms the loss before anything is released.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import opendp.prelude as dp

dp.enable_features("contrib")

KEY_SEPARATOR = "\x1f"


def bound_contributions(
    people: Sequence[int], keys: Sequence[str], max_contributions: int
) -> list[str]:
    """The category keys of records, at most ``max_contributions`` per person (in order)."""
    seen: Counter[int] = Counter()
    kept: list[str] = []
    for person, key in zip(people, keys, strict=True):
        if seen[person] < max_contributions:
            seen[person] += 1
            kept.append(key)
    return kept


def dp_counts(
    keys: Sequence[str], categories: Sequence[str], *, epsilon: float, max_contributions: int
) -> tuple[list[int], float, float]:
    """Noisy counts of ``keys`` over ``categories``; returns (counts, scale, epsilon spent).

    ``keys`` must already be bounded per person (:func:`bound_contributions`)."""
    space = dp.vector_domain(dp.atom_domain(T=str)), dp.symmetric_distance()

    def measurement(scale: float) -> dp.Measurement:
        chain: dp.Measurement = dp.t.make_count_by_categories(
            *space, categories=list(categories), null_category=False
        ) >> dp.m.then_laplace(scale)
        return chain

    scale = float(dp.binary_search_param(measurement, d_in=max_contributions, d_out=epsilon))
    release = measurement(scale)
    spent = float(release.map(max_contributions))  # type: ignore[no-untyped-call]
    if spent > epsilon:  # OpenDP's map is the accountant: never release above the ask
        raise ValueError("privacy loss above the requested epsilon")
    counts = [int(v) for v in release(list(keys))]
    return counts, scale, spent
