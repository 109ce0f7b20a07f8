"""Pure rules of the misuse defences: anomaly rules over counts, and small-cell suppression.

Every anomaly rule takes counts and thresholds and returns a finding (or ``None``); the
service layer gathers the counts and turns findings into alerts. Nothing here touches the
database, so each rule is unit tested over many cases.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# --- anomaly rules -----------------------------------------------------------------------

DISTINCT_MOBILES_PER_10_MIN = 8
OFF_HOURS_GRACE = dt.timedelta(hours=1)
VOLUME_FACTOR = 3.0
VOLUME_MIN_COUNT = 20
NEVER_CHECKED_IN_MIN = 10
NEVER_CHECKED_IN_RATIO = 0.5


@dataclass(frozen=True)
class Finding:
    kind: str
    severity: str  # info | warning | critical
    detail: dict[str, object]


def many_distinct_mobiles(
    distinct: int, threshold: int = DISTINCT_MOBILES_PER_10_MIN
) -> Finding | None:
    """Many different mobiles looked up in a short time: someone is working a list."""
    if distinct > threshold:
        return Finding(
            "anomaly.distinct-mobiles", "warning", {"distinct_10min": distinct, "limit": threshold}
        )
    return None


def outside_session_hours(
    local_time: dt.time,
    opens_at: dt.time,
    closes_at: dt.time,
    grace: dt.timedelta = OFF_HOURS_GRACE,
) -> Finding | None:
    """A read at the centre's local time outside its opening hours (± grace)."""

    def minutes(t: dt.time) -> int:
        return t.hour * 60 + t.minute

    slack = int(grace.total_seconds() // 60)
    now = minutes(local_time)
    start, end = minutes(opens_at) - slack, minutes(closes_at) + slack
    if start <= now <= end:
        return None
    return Finding("anomaly.off-hours", "info", {"hour": local_time.hour})


def far_above_own_usual(
    today: int,
    previous_days: Sequence[int],
    factor: float = VOLUME_FACTOR,
    min_count: int = VOLUME_MIN_COUNT,
) -> Finding | None:
    """Today's reads far above this user's own mean of the previous days."""
    if today < min_count:
        return None
    mean = sum(previous_days) / len(previous_days) if previous_days else 0.0
    if today > factor * max(mean, 1.0):
        return Finding("anomaly.volume-own", "warning", {"today": today, "mean_7d": round(mean, 1)})
    return None


def far_above_peers(
    own: int,
    peers: Sequence[int],
    factor: float = VOLUME_FACTOR,
    min_count: int = VOLUME_MIN_COUNT,
) -> Finding | None:
    """This user's reads far above the mean of peers (same role) in the same period."""
    if own < min_count or not peers:
        return None
    mean = sum(peers) / len(peers)
    if own > factor * max(mean, 1.0):
        return Finding("anomaly.volume-peers", "warning", {"own": own, "peer_mean": round(mean, 1)})
    return None


def many_never_checked_in(
    never_checked_in: int,
    total: int,
    minimum: int = NEVER_CHECKED_IN_MIN,
    ratio: float = NEVER_CHECKED_IN_RATIO,
) -> Finding | None:
    """Many people read who were never checked in anywhere (not patients, just look-ups)."""
    if total <= 0 or never_checked_in < minimum:
        return None
    if never_checked_in / total >= ratio:
        return Finding(
            "anomaly.never-checked-in",
            "warning",
            {"never_checked_in": never_checked_in, "total": total},
        )
    return None


# --- small-cell suppression --------------------------------------------------------------

SMALL = "<5"
COMPLEMENTARY = "suppressed"
SMALL_MAX = 4
Shown = int | str


def _determined(primary: int, complementary: int, residual: int) -> bool:
    """Could someone who knows the total derive the suppressed primary cells' values?

    Primary cells hold 1..4, complementary cells at least 5, and their sum ``residual`` is
    known (total minus the shown cells). The values are pinned down when only one split
    is possible: a lone primary with nothing else, or every primary at an extreme.
    """
    if primary == 0:
        return False
    if complementary == 0:
        return primary == 1 or residual in (primary, SMALL_MAX * primary)
    upper = min(SMALL_MAX * primary, residual - (SMALL_MAX + 1) * complementary)
    return upper <= primary


def suppress(cells: Mapping[str, int]) -> tuple[dict[str, Shown], Shown]:
    """Cells and total with counts 1..4 shown as ``"<5"`` and complementary suppression.

    When a suppressed cell could be derived from the total and the shown cells, the
    smallest shown non-zero cells are suppressed too (``"suppressed"``); when no cell is
    left to add, the total is withheld instead.
    """
    total = sum(cells.values())
    shown: dict[str, Shown] = dict(cells)
    if 0 < total <= SMALL_MAX:
        return {k: (SMALL if v > 0 else 0) for k, v in cells.items()}, SMALL
    primary = [k for k, v in cells.items() if 0 < v <= SMALL_MAX]
    for key in primary:
        shown[key] = SMALL
    complementary: list[str] = []
    residual = sum(cells[k] for k in primary)
    while _determined(len(primary), len(complementary), residual):
        candidates = sorted(
            (v, k) for k, v in cells.items() if v > SMALL_MAX and k not in complementary
        )
        if not candidates:
            return shown, COMPLEMENTARY
        value, key = candidates[0]
        complementary.append(key)
        residual += value
        shown[key] = COMPLEMENTARY
    return shown, total
