"""Pure misuse rules: anomaly rules over counts and small-cell suppression."""

from __future__ import annotations

import datetime as dt
import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from immunet.oversight.rules import (
    COMPLEMENTARY,
    SMALL,
    far_above_own_usual,
    far_above_peers,
    many_distinct_mobiles,
    many_never_checked_in,
    outside_session_hours,
    suppress,
)


def test_distinct_mobiles_threshold():
    assert many_distinct_mobiles(8) is None
    finding = many_distinct_mobiles(9)
    assert finding is not None and finding.kind == "anomaly.distinct-mobiles"
    assert many_distinct_mobiles(3, threshold=2) is not None


def test_outside_session_hours_with_grace():
    opens, closes = dt.time(9, 0), dt.time(17, 0)
    assert outside_session_hours(dt.time(12, 0), opens, closes) is None
    assert outside_session_hours(dt.time(8, 0), opens, closes) is None  # within the hour
    assert outside_session_hours(dt.time(18, 0), opens, closes) is None
    assert outside_session_hours(dt.time(7, 59), opens, closes) is not None
    assert outside_session_hours(dt.time(2, 30), opens, closes) is not None
    assert outside_session_hours(dt.time(23, 0), opens, closes) is not None


@given(
    st.integers(min_value=0, max_value=10_000),
    st.lists(st.integers(min_value=0, max_value=10_000), min_size=0, max_size=7),
)
def test_own_volume_rule(today, history):
    finding = far_above_own_usual(today, history)
    mean = sum(history) / len(history) if history else 0.0
    expected = today >= 20 and today > 3 * max(mean, 1.0)
    assert (finding is not None) == expected


@given(
    st.integers(min_value=0, max_value=10_000),
    st.lists(st.integers(min_value=0, max_value=10_000), max_size=30),
)
def test_peer_volume_rule(own, peers):
    finding = far_above_peers(own, peers)
    if not peers or own < 20:
        assert finding is None
    else:
        assert (finding is not None) == (own > 3 * max(sum(peers) / len(peers), 1.0))


def test_never_checked_in_rule():
    assert many_never_checked_in(9, 9) is None
    assert many_never_checked_in(10, 12) is not None
    assert many_never_checked_in(10, 40) is None
    assert many_never_checked_in(0, 0) is None


# --- small-cell suppression ---------------------------------------------------------------


def _feasible_values(cells, shown, total):
    """Every assignment of the hidden cells consistent with what is shown (brute force)."""
    hidden = [k for k, v in shown.items() if isinstance(v, str)]
    known = sum(v for v in shown.values() if isinstance(v, int))
    ranges = []
    for k in hidden:
        if shown[k] == SMALL:
            ranges.append(range(1, 5))
        else:
            ranges.append(range(5, max(cells[k], 5) + 12))
    out = []
    for combo in itertools.product(*ranges):
        if isinstance(total, int) and known + sum(combo) != total:
            continue
        out.append(dict(zip(hidden, combo, strict=True)))
    return out


def test_suppression_examples():
    shown, total = suppress({"a": 10, "b": 3, "c": 20})
    assert shown["b"] == SMALL
    assert shown["a"] == COMPLEMENTARY  # the smallest other cell hides b's value
    assert shown["c"] == 20 and total == 33
    shown, total = suppress({"a": 10, "b": 12})
    assert shown == {"a": 10, "b": 12} and total == 22
    shown, total = suppress({"a": 2, "b": 1})
    assert total == SMALL and shown == {"a": SMALL, "b": SMALL}
    shown, total = suppress({"a": 0, "b": 7})
    assert shown == {"a": 0, "b": 7} and total == 7
    shown, total = suppress({"a": 3, "b": 9})  # b alone would give a away: total withheld?
    assert shown["a"] == SMALL and shown["b"] == COMPLEMENTARY


@settings(max_examples=300)
@given(
    st.dictionaries(
        st.sampled_from("abcdef"), st.integers(min_value=0, max_value=30), min_size=1, max_size=5
    )
)
def test_no_small_cell_can_be_derived(cells):
    shown, total = suppress(cells)
    for key, value in cells.items():
        if 1 <= value <= 4:
            assert shown[key] == SMALL
        elif value == 0:
            assert shown[key] == 0
        else:
            assert shown[key] in (value, COMPLEMENTARY)
    if isinstance(total, int):
        assert total == sum(cells.values())
    feasible = _feasible_values(cells, shown, total)
    small = [k for k, v in shown.items() if v == SMALL]
    for key in small:
        values = {assignment[key] for assignment in feasible}
        assert cells[key] in values
        assert len(values) > 1, (cells, shown, total, key)
