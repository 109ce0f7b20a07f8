"""Request and response models of the research API (strict and bounded)."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from pydantic import Field, model_validator

from immunet.people.schemas import Out, Strict
from immunet.research.facts import Dataset, Dimension

MAX_RANGE_DAYS = 366
MAX_DP_DIMENSIONS = 3
MAX_EXTRACT_COLUMNS = len(Dimension)


class Measure(StrEnum):
    DOSES = "doses"
    PEOPLE_VACCINATED = "people_vaccinated"
    COVERAGE = "coverage"
    AEFI = "aefi"


class _Range(Strict):
    first: dt.date = Field(alias="from")
    last: dt.date = Field(alias="to")
    state_id: int | None = Field(default=None, ge=1, le=10_000)

    @model_validator(mode="after")
    def _bounded(self) -> _Range:
        if self.last < self.first:
            raise ValueError("from must not be after to")
        if (self.last - self.first).days >= MAX_RANGE_DAYS:
            raise ValueError(f"from..to spans at most {MAX_RANGE_DAYS} days")
        return self


class AggregateRequest(_Range):
    measure: Measure
    rows: Dimension
    columns: Dimension | None = None

    @model_validator(mode="after")
    def _dimensions(self) -> AggregateRequest:
        if self.columns is not None and self.columns == self.rows:
            raise ValueError("rows and columns are different dimensions")
        if self.measure is Measure.COVERAGE and (
            {self.rows, self.columns} - {Dimension.AGE_BAND, Dimension.SEX, None}
        ):
            raise ValueError("coverage is by age_band and sex only (registrations carry no place)")
        return self


class DpCountRequest(_Range):
    dataset: Dataset
    dimensions: list[Dimension] = Field(min_length=1, max_length=MAX_DP_DIMENSIONS)
    epsilon: float = Field(gt=0, le=1.0)

    @model_validator(mode="after")
    def _distinct(self) -> DpCountRequest:
        if len(set(self.dimensions)) != len(self.dimensions):
            raise ValueError("dimensions are distinct")
        return self


class ExtractRequest(_Range):
    dataset: Dataset
    columns: list[Dimension] = Field(min_length=1, max_length=MAX_EXTRACT_COLUMNS)
    purpose: str = Field(min_length=10, max_length=500)

    @model_validator(mode="after")
    def _distinct(self) -> ExtractRequest:
        if len(set(self.columns)) != len(self.columns):
            raise ValueError("columns are distinct")
        return self


class AggregateCell(Out):
    row: str
    column: str | None
    value: int | None  # None: suppressed
    registered: int | None = None  # coverage only: the denominator (None: suppressed)
    coverage: float | None = None  # coverage only: shown when both figures are


class AggregateResponse(Out):
    measure: str
    rows: str
    columns: str | None
    first: dt.date = Field(serialization_alias="from")
    last: dt.date = Field(serialization_alias="to")
    threshold: int
    cells: list[AggregateCell]
    rowTotals: dict[str, int | None]
    columnTotals: dict[str, int | None]
    total: int | None
    suppressed: int


class DpCell(Out):
    key: list[str]
    count: int


class DpCountResponse(Out):
    dataset: str
    dimensions: list[str]
    first: dt.date = Field(serialization_alias="from")
    last: dt.date = Field(serialization_alias="to")
    epsilon: float
    scale: float
    maxContributions: int
    mechanism: str
    budgetRemaining: float
    cells: list[DpCell]


class ExtractResponse(Out):
    manifest: dict[str, Any]
    csv: str


class BudgetOut(Out):
    dataset: str
    total: float
    spent: float
    remaining: float


class BudgetResponse(Out):
    clientId: str
    budgets: list[BudgetOut]


class RegisterEntryOut(Out):
    id: int
    at: dt.datetime
    partner: str
    clientId: str
    kind: str
    dataset: str
    query: dict[str, Any]
    epsilon: float | None
    outcome: str
    reason: str | None
    rows: int | None
    sha256: str | None


class RegisterResponse(Out):
    entries: list[RegisterEntryOut]
    next: int | None
