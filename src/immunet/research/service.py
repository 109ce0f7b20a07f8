"""Research actions: aggregates, differentially private counts, extracts, and the register.

Each action names its research client, owns its transaction and writes, in that same
transaction, a row of the public register and an audit entry (who, what, when, which
budget; never a person or an answer). Refusals (budget spent, k-anonymity not met, too
many rows) are recorded as well, then answered with a JSON error.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.exc import IntegrityError

from immunet.context import AppContext
from immunet.errors import Forbidden, Unprocessable
from immunet.partners import oauth
from immunet.partners.models import Partner, PartnerClient
from immunet.partners.scopes import ClientKind, ClientState
from immunet.research import dp, rules
from immunet.research.facts import (
    Dataset,
    Dimension,
    Fact,
    domain,
    load_facts,
    registered_people,
)
from immunet.research.models import PrivacyBudget, RegisterEntry, ResearchToken
from immunet.research.schemas import (
    AggregateCell,
    AggregateRequest,
    AggregateResponse,
    BudgetOut,
    BudgetResponse,
    DpCell,
    DpCountRequest,
    DpCountResponse,
    ExtractRequest,
    ExtractResponse,
    Measure,
    RegisterEntryOut,
    RegisterResponse,
)
from immunet.security.audit import AuditAction, AuditChain, RequestContext
from immunet.security.keyring import KeyedDigest, Purpose
from immunet.staff.principal import OperatorPrincipal, StaffPrincipal

MICRO = 1_000_000
MAX_DP_CELLS = 5_000
MAX_EXTRACT_ROWS = 100_000
REGISTER_PAGE_MAX = 50
MECHANISM = "OpenDP make_count_by_categories >> then_laplace (discrete Laplace)"


class BudgetSpent(Forbidden):
    error_code = "RESEARCH0403"
    message = "The privacy budget of this client for this dataset is spent."


class KAnonymityNotMet(Unprocessable):
    error_code = "RESEARCH0422"
    message = "The extract is not k-anonymous."


class ExtractTooLarge(Unprocessable):
    error_code = "RESEARCH0413"
    message = "The extract holds too many rows; narrow the date range or the state."


class InvalidBudget(Unprocessable):
    error_code = "RESEARCH0420"
    message = "The budget is for an existing research client, in epsilon from 0 to 100."


class QueryTooLarge(Unprocessable):
    error_code = "RESEARCH0414"
    message = "The query has too many cells."


@dataclass(frozen=True)
class ResearchPrincipal:
    """A research client holding a live DPoP-bound research token."""

    client_id: str
    partner_name: str
    purpose: str
    scopes: list[str]
    context: RequestContext

    @property
    def actor(self) -> str:
        return f"research:{self.client_id}"


async def resolve_research_token(
    ctx: AppContext, token: str, *, jkt: str, context: RequestContext
) -> ResearchPrincipal:
    """A live research token bound to ``jkt``, of an active research client."""
    if not token or len(token) > 128:
        raise oauth.InvalidToken()
    async with ctx.db.reader() as session:
        row = (
            await session.execute(
                select(ResearchToken, PartnerClient, Partner)
                .join(PartnerClient, PartnerClient.client_id == ResearchToken.client_id)
                .join(Partner, Partner.id == PartnerClient.partner_id)
                .where(ResearchToken.digest == oauth.research_token_digest(ctx, token))
            )
        ).first()
    if row is None:
        raise oauth.InvalidToken()
    tok, client, partner = row[0], row[1], row[2]
    if (
        tok.revoked_at is not None
        or oauth._as_utc(tok.expires_at) <= ctx.clock.now()
        or tok.jkt != jkt
        or client.state != ClientState.ACTIVE.value
        or client.kind != ClientKind.RESEARCH.value
    ):
        raise oauth.InvalidToken()
    return ResearchPrincipal(
        client.client_id, partner.name, partner.purpose, list(tok.scopes), context
    )


# -- recording -------------------------------------------------------------------------------


async def _record(
    session: Any,
    ctx: AppContext,
    actor: ResearchPrincipal,
    *,
    kind: str,
    dataset: str,
    query: dict[str, Any],
    action: AuditAction,
    outcome: str = "released",
    reason: str | None = None,
    epsilon_micro: int | None = None,
    row_count: int | None = None,
    sha256: str | None = None,
) -> None:
    now = ctx.clock.now()
    entry = RegisterEntry(
        client_id=actor.client_id,
        partner_name=actor.partner_name,
        kind=kind,
        dataset=dataset,
        query=query,
        epsilon_micro=epsilon_micro,
        outcome=outcome,
        reason=reason,
        row_count=row_count,
        sha256=sha256,
        created_at=now,
    )
    session.add(entry)
    await session.flush()
    await AuditChain.append(
        session,
        actor=actor.actor,
        action=action,
        subject_ref=f"research-register:{entry.id}",
        purpose="research",
        context=actor.context,
        detail={"kind": kind, "dataset": dataset, "outcome": outcome, "reason": reason},
        at=now,
    )


async def _refuse(
    ctx: AppContext,
    actor: ResearchPrincipal,
    *,
    kind: str,
    dataset: str,
    query: dict[str, Any],
    reason: str,
) -> None:
    async with ctx.db.transaction() as session:
        await _record(
            session,
            ctx,
            actor,
            kind=kind,
            dataset=dataset,
            query=query,
            action=AuditAction.RESEARCH_QUERY_REFUSED,
            outcome="refused",
            reason=reason,
        )


def _shape(request: AggregateRequest | DpCountRequest | ExtractRequest) -> dict[str, Any]:
    """The query's shape for the register: never an answer, never a person."""
    shape: dict[str, Any] = {
        "from": request.first.isoformat(),
        "to": request.last.isoformat(),
        "state_id": request.state_id,
    }
    if isinstance(request, AggregateRequest):
        shape.update(
            measure=request.measure.value,
            dimensions=[d.value for d in (request.rows, request.columns) if d is not None],
        )
    elif isinstance(request, DpCountRequest):
        shape.update(dimensions=[d.value for d in request.dimensions], epsilonAsked=request.epsilon)
    else:
        # The researcher's purpose text goes to the manifest and the audit, not the public
        # register: free text could name someone.
        shape.update(dimensions=[d.value for d in request.columns])
    return shape


# -- aggregates ------------------------------------------------------------------------------


def _first_per_person(facts: list[Fact]) -> list[Fact]:
    firsts: dict[int, Fact] = {}
    for fact in facts:  # ordered by date
        firsts.setdefault(fact.person, fact)
    return list(firsts.values())


def _counts(facts: list[Fact], dims: tuple[Dimension, ...]) -> Counter[tuple[str, ...]]:
    return Counter(f.key(dims) for f in facts)


def _table(
    counts: Counter[tuple[str, ...]],
    rows: list[str],
    columns: list[str] | None,
    threshold: int,
) -> tuple[
    dict[tuple[str, str | None], int | None],
    dict[str, int | None],
    dict[str, int | None],
    int | None,
    int,
]:
    if columns is None:
        cells, total = rules.suppress_vector({r: counts.get((r,), 0) for r in rows}, threshold)
        hidden = sum(1 for v in cells.values() if v is None) + (total is None)
        return {(r, None): v for r, v in cells.items()}, {}, {}, total, hidden
    table = rules.suppress_table(
        {(r, c): counts.get((r, c), 0) for r in rows for c in columns}, rows, columns, threshold
    )
    out: dict[tuple[str, str | None], int | None] = dict(table.cells.items())
    return (
        out,
        table.row_totals,
        table.column_totals,
        table.total,
        (table.primary + table.complementary),
    )


async def aggregate(
    ctx: AppContext, request: AggregateRequest, *, actor: ResearchPrincipal
) -> AggregateResponse:
    """A suppressed table of one measure by one or two dimensions (issue #10 §4)."""
    threshold = ctx.settings.research_suppression_threshold
    dataset = Dataset.AEFI if request.measure is Measure.AEFI else Dataset.DOSES
    facts = await load_facts(
        ctx, dataset, first=request.first, last=request.last, state_id=request.state_id
    )
    if request.measure in (Measure.PEOPLE_VACCINATED, Measure.COVERAGE):
        # People are counted once, by the attributes of their first dose in the range:
        # the cells add up to the margins, as the suppression rule needs.
        facts = _first_per_person(facts)
    dims = (request.rows,) if request.columns is None else (request.rows, request.columns)
    counts = _counts(facts, dims)
    denominators: Counter[tuple[str, ...]] | None = None
    if request.measure is Measure.COVERAGE:
        denominators = _counts(await registered_people(ctx, on=request.last), dims)
    keys = set(counts) | set(denominators or ())
    rows = sorted({k[0] for k in keys})
    columns = sorted({k[1] for k in keys}) if request.columns is not None else None
    if len(rows) * len(columns or [None]) > MAX_DP_CELLS:
        raise QueryTooLarge()
    cells, row_totals, column_totals, total, hidden = _table(counts, rows, columns, threshold)
    shown_den: dict[tuple[str, str | None], int | None] = {}
    if denominators is not None:
        shown_den, _r, _c, _t, extra = _table(denominators, rows, columns, threshold)
        hidden += extra
    out: list[AggregateCell] = []
    for (row, column), value in cells.items():
        cell = AggregateCell(row=row, column=column, value=value)
        if denominators is not None:
            registered = shown_den.get((row, column))
            ratio = (
                round(value / registered, 4)
                if value is not None and registered  # both shown, denominator non-zero
                else None
            )
            cell = AggregateCell(
                row=row, column=column, value=value, registered=registered, coverage=ratio
            )
        out.append(cell)
    async with ctx.db.transaction() as session:
        await _record(
            session,
            ctx,
            actor,
            kind="aggregate",
            dataset=dataset.value,
            query=_shape(request),
            action=AuditAction.RESEARCH_AGGREGATE_READ,
        )
    return AggregateResponse(
        measure=request.measure.value,
        rows=request.rows.value,
        columns=request.columns.value if request.columns else None,
        first=request.first,
        last=request.last,
        threshold=threshold,
        cells=out,
        rowTotals=row_totals,
        columnTotals=column_totals,
        total=total,
        suppressed=hidden,
    )


# -- differentially private counts -------------------------------------------------------------


def _micro(epsilon: float) -> int:
    return max(1, math.ceil(epsilon * MICRO - 1e-6))


async def _ensure_budget(ctx: AppContext, client_id: str, dataset: Dataset) -> None:
    """The client's budget row for the dataset, created at the configured default once."""
    async with ctx.db.reader() as session:
        found = (
            await session.execute(
                select(PrivacyBudget.id).where(
                    PrivacyBudget.client_id == client_id, PrivacyBudget.dataset == dataset.value
                )
            )
        ).first()
    if found is not None:
        return
    try:
        async with ctx.db.transaction() as session:
            session.add(
                PrivacyBudget(
                    client_id=client_id,
                    dataset=dataset.value,
                    total_micro=_micro(ctx.settings.research_epsilon_per_dataset),
                    spent_micro=0,
                    updated_at=ctx.clock.now(),
                )
            )
    except IntegrityError:
        pass  # created concurrently: the same default


async def dp_count(
    ctx: AppContext, request: DpCountRequest, *, actor: ResearchPrincipal
) -> DpCountResponse:
    """Noisy counts over a category set fixed in advance; spends epsilon first, atomically."""
    dims = tuple(request.dimensions)
    domains = [
        await domain(ctx, d, first=request.first, last=request.last, state_id=request.state_id)
        for d in dims
    ]
    size = math.prod(len(values) for values in domains)
    if size > MAX_DP_CELLS:
        raise QueryTooLarge(f"The query has {size} cells; at most {MAX_DP_CELLS}.")
    categories: list[tuple[str, ...]] = [()]
    for values in domains:
        categories = [(*c, v) for c in categories for v in values]
    facts = await load_facts(
        ctx, request.dataset, first=request.first, last=request.last, state_id=request.state_id
    )
    bound = ctx.settings.research_max_contributions
    keys = dp.bound_contributions(
        [f.person for f in facts],
        [dp.KEY_SEPARATOR.join(f.key(dims)) for f in facts],
        bound,
    )
    labels = [dp.KEY_SEPARATOR.join(c) for c in categories]
    micro = _micro(request.epsilon)
    await _ensure_budget(ctx, actor.client_id, request.dataset)
    shape = _shape(request)
    async with ctx.db.transaction() as session:
        spent = await session.execute(
            update(PrivacyBudget)
            .where(
                and_(
                    PrivacyBudget.client_id == actor.client_id,
                    PrivacyBudget.dataset == request.dataset.value,
                    PrivacyBudget.spent_micro + micro <= PrivacyBudget.total_micro,
                )
            )
            .values(spent_micro=PrivacyBudget.spent_micro + micro, updated_at=ctx.clock.now())
        )
        granted = spent.rowcount == 1  # type: ignore[attr-defined]
        if granted:
            counts, scale, _loss = await asyncio.to_thread(
                dp.dp_counts, keys, labels, epsilon=request.epsilon, max_contributions=bound
            )
            budget = (
                await session.execute(
                    select(PrivacyBudget).where(
                        PrivacyBudget.client_id == actor.client_id,
                        PrivacyBudget.dataset == request.dataset.value,
                    )
                )
            ).scalar_one()
            remaining = (budget.total_micro - budget.spent_micro) / MICRO
            await _record(
                session,
                ctx,
                actor,
                kind="dp-count",
                dataset=request.dataset.value,
                query=shape,
                action=AuditAction.RESEARCH_DP_COUNT_READ,
                epsilon_micro=micro,
            )
    if not granted:
        await _refuse(
            ctx,
            actor,
            kind="dp-count",
            dataset=request.dataset.value,
            query=shape,
            reason="budget-spent",
        )
        left = await _remaining(ctx, actor.client_id, request.dataset)
        raise BudgetSpent(
            f"The privacy budget for dataset {request.dataset.value} is spent: "
            f"{left:.6g} epsilon remains and this query asks {request.epsilon:.6g}."
        )
    return DpCountResponse(
        dataset=request.dataset.value,
        dimensions=[d.value for d in dims],
        first=request.first,
        last=request.last,
        epsilon=request.epsilon,
        scale=scale,
        maxContributions=bound,
        mechanism=MECHANISM,
        budgetRemaining=remaining,
        cells=[DpCell(key=list(c), count=n) for c, n in zip(categories, counts, strict=True)],
    )


async def _remaining(ctx: AppContext, client_id: str, dataset: Dataset) -> float:
    async with ctx.db.reader() as session:
        budget = (
            await session.execute(
                select(PrivacyBudget).where(
                    PrivacyBudget.client_id == client_id, PrivacyBudget.dataset == dataset.value
                )
            )
        ).scalar_one_or_none()
    if budget is None:
        return ctx.settings.research_epsilon_per_dataset
    return (budget.total_micro - budget.spent_micro) / MICRO


async def set_budget(
    ctx: AppContext,
    *,
    client_id: str,
    dataset: Dataset,
    epsilon: float,
    actor: StaffPrincipal | OperatorPrincipal,
) -> None:
    """Set a research client's total epsilon for a dataset (what is spent stays spent).

    An operator's decision, audited like every registry change; lowering the total below
    what is spent simply leaves nothing to spend."""
    if not 0 <= epsilon <= 100 or not 1 <= len(client_id) <= 64:
        raise InvalidBudget()
    async with ctx.db.reader() as session:
        kind = (
            await session.execute(
                select(PartnerClient.kind).where(PartnerClient.client_id == client_id)
            )
        ).scalar_one_or_none()
    if kind != ClientKind.RESEARCH.value:
        raise InvalidBudget()
    await _ensure_budget(ctx, client_id, dataset)
    async with ctx.db.transaction() as session:
        await session.execute(
            update(PrivacyBudget)
            .where(PrivacyBudget.client_id == client_id, PrivacyBudget.dataset == dataset.value)
            .values(total_micro=round(epsilon * MICRO), updated_at=ctx.clock.now())
        )
        await AuditChain.append(
            session,
            actor=actor.actor,
            action=AuditAction.RESEARCH_BUDGET_SET,
            subject_ref=f"partner-client:{client_id}",
            purpose="research",
            context=actor.context,
            detail={"dataset": dataset.value, "epsilon": epsilon},
        )


async def budgets(ctx: AppContext, *, actor: ResearchPrincipal) -> BudgetResponse:
    out = []
    for dataset in Dataset:
        remaining = await _remaining(ctx, actor.client_id, dataset)
        total = ctx.settings.research_epsilon_per_dataset
        async with ctx.db.reader() as session:
            row = (
                await session.execute(
                    select(PrivacyBudget.total_micro).where(
                        PrivacyBudget.client_id == actor.client_id,
                        PrivacyBudget.dataset == dataset.value,
                    )
                )
            ).scalar_one_or_none()
        if row is not None:
            total = row / MICRO
        out.append(
            BudgetOut(
                dataset=dataset.value, total=total, spent=total - remaining, remaining=remaining
            )
        )
    return BudgetResponse(clientId=actor.client_id, budgets=out)


# -- extracts --------------------------------------------------------------------------------


def pseudonymiser(ctx: AppContext, client_id: str) -> KeyedDigest:
    """HMAC-SHA256 under a key derived for this client alone: two research clients'
    pseudonyms of one person differ, and neither can compute the other's."""
    return KeyedDigest(ctx.keyring.secret(f"{Purpose.RESEARCH_PSEUDONYM.value}:{client_id}"))


GENERALISATION = {
    "age_band": "age in years at the dose, in bands " + ", ".join(b[2] for b in rules.AGE_BANDS),
    "sex": "Male, Female, Others",
    "district": "district id (Co-WIN ids); no centre, block or PIN code",
    "state": "state id (Co-WIN ids)",
    "week": "ISO week of the dose (AEFI: of onset); no date",
    "vaccine": "vaccine code",
    "dose_number": "dose number",
}


async def extract(
    ctx: AppContext, request: ExtractRequest, *, actor: ResearchPrincipal
) -> ExtractResponse:
    """A pseudonymised, generalised line list, released only when k-anonymous."""
    k = ctx.settings.research_k_anonymity
    columns = tuple(request.columns)
    shape = _shape(request)
    facts = await load_facts(
        ctx, request.dataset, first=request.first, last=request.last, state_id=request.state_id
    )
    if len(facts) > MAX_EXTRACT_ROWS:
        await _refuse(
            ctx, actor, kind="extract", dataset=request.dataset.value, query=shape, reason="rows"
        )
        raise ExtractTooLarge()
    pseudonym = pseudonymiser(ctx, actor.client_id)
    lines = sorted((f.key(columns), pseudonym(str(f.person))[:32]) for f in facts)
    check = rules.k_anonymity(((p, key) for key, p in lines), k)
    if not check.ok:
        await _refuse(
            ctx,
            actor,
            kind="extract",
            dataset=request.dataset.value,
            query=shape,
            reason="k-anonymity",
        )
        raise KAnonymityNotMet(
            f"k-anonymity (k={k}) not met: {check.failing} of {check.classes} "
            f"quasi-identifier combinations over ({', '.join(c.value for c in columns)}) are "
            f"shared by fewer than {k} people. Use fewer columns or a wider range."
        )
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["pseudonym", *[c.value for c in columns]])
    for key, person in lines:
        writer.writerow([person, *key])
    text = buffer.getvalue()
    sha256 = hashlib.sha256(text.encode("utf-8")).hexdigest()
    created = ctx.clock.now()
    manifest: dict[str, Any] = {
        "client": {"clientId": actor.client_id, "partner": actor.partner_name},
        "purpose": request.purpose,
        "query": {"dataset": request.dataset.value, **shape},
        "generalisation": {c.value: GENERALISATION[c.value] for c in columns},
        "pseudonym": "HMAC-SHA256 under a key of this client only (not joinable across clients)",
        "k": k,
        "kAnonymity": {"combinations": check.classes, "failing": 0},
        "rowCount": len(lines),
        "format": "text/csv; charset=utf-8",
        "createdAt": created.isoformat(),
        "sha256": sha256,
    }
    async with ctx.db.transaction() as session:
        await _record(
            session,
            ctx,
            actor,
            kind="extract",
            dataset=request.dataset.value,
            query=shape,
            action=AuditAction.RESEARCH_EXTRACT_CREATED,
            row_count=len(lines),
            sha256=sha256,
        )
    return ExtractResponse(manifest=manifest, csv=text)


# -- the public register -----------------------------------------------------------------------


async def register(
    ctx: AppContext, *, limit: int = REGISTER_PAGE_MAX, before: int | None = None
) -> RegisterResponse:
    """Research releases and refusals, newest first: who, what, when, which budget."""
    limit = max(1, min(limit, REGISTER_PAGE_MAX))
    query = select(RegisterEntry).order_by(RegisterEntry.id.desc()).limit(limit + 1)
    if before is not None:
        query = query.where(RegisterEntry.id < before)
    async with ctx.db.replica_reader() as session:
        rows = list((await session.execute(query)).scalars())
    page = rows[:limit]
    entries = [
        RegisterEntryOut(
            id=e.id,
            at=oauth._as_utc(e.created_at),
            partner=e.partner_name,
            clientId=e.client_id,
            kind=e.kind,
            dataset=e.dataset,
            query=dict(e.query),
            epsilon=None if e.epsilon_micro is None else e.epsilon_micro / MICRO,
            outcome=e.outcome,
            reason=e.reason,
            rows=e.row_count,
            sha256=e.sha256,
        )
        for e in page
    ]
    return RegisterResponse(entries=entries, next=page[-1].id if len(rows) > limit else None)
