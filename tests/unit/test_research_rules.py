"""Suppression, complementary suppression and k-anonymity of research releases, checked
against an independent attacker: a search for another table that agrees with every
published figure (cells and margins) and with the published rule (a hidden figure holds at
least 1), in which a suppressed small cell has a different value."""

from __future__ import annotations

from collections.abc import Mapping

from hypothesis import given, settings
from hypothesis import strategies as st

from immunet.research import rules
from immunet.research.rules import TOTAL, suppress_table, suppress_vector

Cell = tuple[str, str]


def _grid(cells: Mapping[Cell, int], rows: list[str], cols: list[str]) -> dict[Cell, int]:
    grid = {(r, c): cells.get((r, c), 0) for r in rows for c in cols}
    for r in rows:
        grid[(r, TOTAL)] = sum(grid[(r, c)] for c in cols)
    for c in cols:
        grid[(TOTAL, c)] = sum(grid[(r, c)] for r in rows)
    grid[(TOTAL, TOTAL)] = sum(grid[(r, TOTAL)] for r in rows)
    return grid


def _other_solution(
    published: Mapping[Cell, int | None],
    truth: Mapping[Cell, int],
    rows: list[str],
    cols: list[str],
    target: Cell,
) -> dict[Cell, int] | None:
    """Another table agreeing with every published figure, hidden figures >= 1, in which
    ``target`` differs from its true value; or None. The attacker starts from the true table (as
    an insider would, the strongest case) and searches changes of -2..+2 to the hidden
    figures, depth first with each row and column equation propagated: any such change
    that keeps all equations is a second table the publication cannot tell apart."""
    rr, cc = [*rows, TOTAL], [*cols, TOTAL]
    equations = [[(r, c) for c in cols] + [(r, TOTAL)] for r in rr]
    equations += [[(r, c) for r in rows] + [(TOTAL, c)] for c in cc]
    # Row r: sum of cells - margin = 0; the margin's coefficient is -1.
    coeff = [{cell: (-1 if cell[1] == TOTAL else 1) for cell in eq} for eq in equations[: len(rr)]]
    coeff += [{cell: (-1 if cell[0] == TOTAL else 1) for cell in eq} for eq in equations[len(rr) :]]
    hidden = sorted((c for c, v in published.items() if v is None), key=lambda c: (c != target, c))

    def consistent(delta: dict[Cell, int]) -> bool:
        for eq in coeff:
            known = [c for c in eq if published[c] is not None or c in delta]
            if len(known) == len(eq):
                if sum(eq[c] * delta.get(c, 0) for c in eq) != 0:
                    return False
        return True

    def search(delta: dict[Cell, int], todo: list[Cell]) -> dict[Cell, int] | None:
        if not consistent(delta):
            return None
        if not todo:
            return delta if delta.get(target, 0) != 0 else None
        cell, rest = todo[0], todo[1:]
        steps = [s for s in (1, -1, 2, -2, 0) if not (cell == target and s == 0)]
        for step in steps:
            if truth[cell] + step < 1:
                continue
            delta[cell] = step
            found = search(delta, rest)
            if found is not None:
                return {c: truth[c] + d for c, d in found.items()}
            del delta[cell]
        return None

    return search({}, hidden)


def _published(table: rules.SuppressedTable) -> dict[Cell, int | None]:
    out: dict[Cell, int | None] = dict(table.cells)
    out.update({(r, TOTAL): v for r, v in table.row_totals.items()})
    out.update({(TOTAL, c): v for c, v in table.column_totals.items()})
    out[(TOTAL, TOTAL)] = table.total
    return out


ROWS, COLS = ["265", "266", "294"], ["Female", "Male"]
EXAMPLE = {
    ("265", "Male"): 30,
    ("265", "Female"): 20,
    ("266", "Male"): 3,
    ("266", "Female"): 25,
    ("294", "Male"): 15,
    ("294", "Female"): 12,
}


def test_primary_suppression_alone_is_recovered_from_the_totals():
    """The attacker is real: hide only the small cell and the margins give it away."""
    grid = _grid(EXAMPLE, ROWS, COLS)
    naive: dict[Cell, int | None] = dict(grid)
    naive[("266", "Male")] = None
    assert _other_solution(naive, grid, ROWS, COLS, ("266", "Male")) is None  # recovered: 3


def test_complementary_suppression_defeats_recovery_from_the_totals():
    table = suppress_table(EXAMPLE, ROWS, COLS, threshold=10)
    published = _published(table)
    assert published[("266", "Male")] is None
    assert table.primary == 1 and table.complementary >= 3
    assert table.total == 105  # the grand total stays published
    grid = _grid(EXAMPLE, ROWS, COLS)
    other = _other_solution(published, grid, ROWS, COLS, ("266", "Male"))
    assert other is not None and other[("266", "Male")] != 3
    # The same holds for every hidden figure worth protecting.
    for cell, value in published.items():
        if value is None and 0 < grid[cell] < 10:
            assert _other_solution(published, grid, ROWS, COLS, cell) is not None


def test_small_margins_are_suppressed_and_protected():
    cells = {("a", "x"): 4, ("a", "y"): 3, ("b", "x"): 20, ("b", "y"): 30, ("c", "x"): 11}
    rows, cols = ["a", "b", "c"], ["x", "y"]
    table = suppress_table(cells, rows, cols, threshold=10)
    published = _published(table)
    grid = _grid(cells, rows, cols)
    assert published[("a", TOTAL)] is None  # 7: a small margin is a small cell too
    for cell, value in published.items():
        if value is None and 0 < grid[cell] < 10:
            assert _other_solution(published, grid, rows, cols, cell) is not None, cell


def test_a_table_under_the_threshold_publishes_only_zeros():
    table = suppress_table(
        {("a", "x"): 3, ("a", "y"): 0, ("b", "x"): 2}, ["a", "b"], ["x", "y"], 10
    )
    assert table.total is None
    assert table.cells[("a", "y")] == table.cells[("b", "y")] == 0  # zeros stay published
    assert table.cells[("a", "x")] is None and table.cells[("b", "x")] is None
    assert all(v in (None, 0) for v in [*table.row_totals.values(), *table.column_totals.values()])


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.lists(st.integers(0, 25), min_size=3, max_size=3), min_size=3, max_size=3),
)
def test_no_small_cell_of_any_table_can_be_recovered(values):
    rows, cols = ["r0", "r1", "r2"], ["c0", "c1", "c2"]
    cells = {(rows[i], cols[j]): values[i][j] for i in range(3) for j in range(3)}
    table = suppress_table(cells, rows, cols, threshold=10)
    published = _published(table)
    grid = _grid(cells, rows, cols)
    for cell, value in grid.items():
        if 0 < value < 10:
            assert published[cell] is None, cell
            assert _other_solution(published, grid, rows, cols, cell) is not None, (cell, values)
        if value == 0:
            assert published[cell] == 0


def test_one_way_tables_protect_a_lone_small_cell():
    cells, total = suppress_vector({"a": 3, "b": 40, "c": 25, "d": 0}, 10)
    assert cells["a"] is None and cells["d"] == 0
    assert total == 68
    hidden = [k for k, v in cells.items() if v is None]
    assert len(hidden) == 2  # the small cell and the smallest other: 3 + 25 = 28, split unknown
    shown_sum = sum(v for v in cells.values() if v is not None)
    assert total - shown_sum == 28


def test_one_way_two_small_cells_of_one_and_one_are_not_left_alone():
    cells, total = suppress_vector({"a": 1, "b": 1, "c": 50}, 10)
    # 1 + 1 = 2 with each hidden cell >= 1 would pin both: a third figure is hidden.
    assert cells["c"] is None or total is None


def test_k_anonymity_counts_people_and_their_linked_rows():
    rows = [(f"p{i}", ("265", "Male")) for i in range(10)]
    assert rules.k_anonymity(rows, 10).ok
    assert not rules.k_anonymity(rows[:9], 10).ok
    # One person's ten rows are one person, not ten.
    assert not rules.k_anonymity([("p", ("265", "Male"))] * 10, 10).ok
    # Every row's combination is common, but one person's pair of rows is unique.
    linked = rows + [("p0", ("266", "Male"))] + [(f"q{i}", ("266", "Male")) for i in range(10)]
    check = rules.k_anonymity(linked, 10)
    assert check.failing == 2 and check.classes == 3
