"""Pure rules of research releases: small-cell suppression with complementary suppression,
generalisation, and the k-anonymity check. Nothing here touches the database.

Suppression model. A table is published with its margins (row totals, column totals and
the grand total). Cells with ``0 < n < threshold`` are suppressed (*primary*); zeros are
published. Someone who knows the rule knows only that a suppressed cell holds at least 1.

In a two-way table with margins, write the margins with a minus sign beside the cells:
every row and every column then sums to zero. Adding +1, -1, +1, ... around a cycle of
suppressed cells (alternating between a row and a column) keeps every published figure. If
every other cell of the cycle holds at least 2, both directions keep all cells at least 1,
so the primary cell can take two values and its value is not recoverable. The rule below
therefore protects each primary cell by a cycle of suppressed cells worth at least 2 each;
when none exists it suppresses further cells (*complementary*), chosen as the cheapest
path (least published count lost) that closes such a cycle. A one-way table has a single
equation (cells sum to the total): a primary cell is protected by one other suppressed
cell worth at least 2.
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

TOTAL = "__total__"

Cell = tuple[str, str]


@dataclass(frozen=True)
class SuppressedTable:
    """A two-way table; ``None`` marks a suppressed figure."""

    rows: list[str]
    columns: list[str]
    cells: dict[Cell, int | None]
    row_totals: dict[str, int | None]
    column_totals: dict[str, int | None]
    total: int | None
    primary: int  # how many figures were suppressed for being small
    complementary: int  # how many more were suppressed to protect them


def _extended(
    cells: Mapping[Cell, int], rows: Sequence[str], columns: Sequence[str]
) -> dict[Cell, int]:
    grid: dict[Cell, int] = {}
    for r in rows:
        for c in columns:
            grid[(r, c)] = int(cells.get((r, c), 0))
    for r in rows:
        grid[(r, TOTAL)] = sum(grid[(r, c)] for c in columns)
    for c in columns:
        grid[(TOTAL, c)] = sum(grid[(r, c)] for r in rows)
    grid[(TOTAL, TOTAL)] = sum(grid[(TOTAL, c)] for c in columns)
    return grid


def _connected(grid: Mapping[Cell, int], hidden: set[Cell], cell: Cell) -> bool:
    """Is there a cycle through ``cell`` of hidden cells, the others each worth >= 2?"""
    start, goal = ("r", cell[0]), ("c", cell[1])
    adjacency: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    for r, c in hidden:
        if (r, c) != cell and grid[(r, c)] >= 2:
            adjacency[("r", r)].append(("c", c))
            adjacency[("c", c)].append(("r", r))
    seen = {start}
    stack = [start]
    while stack:
        node = stack.pop()
        if node == goal:
            return True
        for nxt in adjacency[node]:
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return False


def _cheapest_cycle(grid: Mapping[Cell, int], hidden: set[Cell], cell: Cell) -> list[Cell] | None:
    """The cells to hide (least published count lost) that close a protecting cycle."""
    start, goal = ("r", cell[0]), ("c", cell[1])
    adjacency: dict[tuple[str, str], list[tuple[tuple[str, str], Cell]]] = defaultdict(list)
    for (r, c), value in grid.items():
        if (r, c) == cell or value < 2:
            continue
        adjacency[("r", r)].append((("c", c), (r, c)))
        adjacency[("c", c)].append((("r", r), (r, c)))
    best: dict[tuple[str, str], int] = {start: 0}
    back: dict[tuple[str, str], tuple[tuple[str, str], Cell]] = {}
    queue: list[tuple[int, tuple[str, str]]] = [(0, start)]
    while queue:
        cost, node = heapq.heappop(queue)
        if node == goal:
            path: list[Cell] = []
            while node != start:
                node, edge = back[node]
                path.append(edge)
            return [edge for edge in path if edge not in hidden]
        if cost > best.get(node, cost):
            continue
        for nxt, edge in sorted(adjacency[node]):
            step = 0 if edge in hidden else grid[edge]
            if cost + step < best.get(nxt, cost + step + 1):
                best[nxt] = cost + step
                back[nxt] = (node, edge)
                heapq.heappush(queue, (cost + step, nxt))
    return None


def suppress_table(
    cells: Mapping[Cell, int], rows: Sequence[str], columns: Sequence[str], threshold: int
) -> SuppressedTable:
    """Suppress small figures of a two-way table and protect them (see the module note)."""
    grid = _extended(cells, rows, columns)
    primary = {cell for cell, value in grid.items() if 0 < value < threshold}
    hidden = set(primary)
    if 0 < grid[(TOTAL, TOTAL)] < threshold:
        # The whole table is small: publish nothing that is not 0.
        hidden = {cell for cell, value in grid.items() if value > 0}
    else:
        changed = True
        while changed:
            changed = False
            for cell in sorted(primary):
                if _connected(grid, hidden, cell):
                    continue
                extra = _cheapest_cycle(grid, hidden, cell)
                if extra is None:
                    hidden = {c for c, value in grid.items() if value > 0}
                    break
                hidden.update(extra)
                changed = True
    shown = {cell: (None if cell in hidden else value) for cell, value in grid.items()}
    return SuppressedTable(
        rows=list(rows),
        columns=list(columns),
        cells={(r, c): shown[(r, c)] for r in rows for c in columns},
        row_totals={r: shown[(r, TOTAL)] for r in rows},
        column_totals={c: shown[(TOTAL, c)] for c in columns},
        total=shown[(TOTAL, TOTAL)],
        primary=len(primary),
        complementary=len(hidden - primary),
    )


def suppress_vector(
    counts: Mapping[str, int], threshold: int
) -> tuple[dict[str, int | None], int | None]:
    """A one-way table and its total: small cells hidden, each protected by another hidden
    cell worth at least 2 (the smallest shown one), or the total withheld."""
    total = sum(counts.values())
    if 0 < total < threshold:
        return {k: (None if v > 0 else 0) for k, v in counts.items()}, None
    primary = {k for k, v in counts.items() if 0 < v < threshold}
    hidden = set(primary)
    shown_total: int | None = total

    def protected(key: str) -> bool:
        return any(counts[other] >= 2 for other in hidden if other != key)

    if any(not protected(key) for key in primary):
        # Hide the smallest shown cell as well (it holds >= threshold), or else the total.
        candidates = sorted((v, k) for k, v in counts.items() if k not in hidden and v >= 2)
        if candidates:
            hidden.add(candidates[0][1])
        else:
            shown_total = None
    return {k: (None if k in hidden else v) for k, v in counts.items()}, shown_total


# -- generalisation and k-anonymity ---------------------------------------------------------

AGE_BANDS = ((0, 4, "0-4"), (5, 17, "5-17"), (18, 44, "18-44"), (45, 59, "45-59"), (60, 200, "60+"))


def age_band(age: int) -> str:
    for low, high, label in AGE_BANDS:
        if low <= age <= high:
            return label
    return "unknown"


@dataclass(frozen=True)
class KAnonymity:
    k: int
    classes: int  # distinct quasi-identifier combinations (one per person's set of rows)
    failing: int  # combinations shared by fewer than k people

    @property
    def ok(self) -> bool:
        return self.failing == 0


def k_anonymity(rows: Iterable[tuple[str, tuple[str, ...]]], k: int) -> KAnonymity:
    """Rows of (pseudonym, quasi-identifiers). A person's rows are linked by the pseudonym,
    so what identifies a person is the *set* of their rows' quasi-identifiers (dose 1 in one
    week, dose 2 in another): each such combination must be shared by at least ``k``
    distinct people. With one row per person this is the usual per-row k-anonymity."""
    per_person: dict[str, set[tuple[str, ...]]] = defaultdict(set)
    for pseudonym, key in rows:
        per_person[pseudonym].add(key)
    people: Counter[tuple[tuple[str, ...], ...]] = Counter(
        tuple(sorted(keys)) for keys in per_person.values()
    )
    failing = sum(1 for count in people.values() if count < k)
    return KAnonymity(k=k, classes=len(people), failing=failing)
