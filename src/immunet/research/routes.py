"""``/api/v2/research``: aggregates, differentially private counts and extracts for research
clients (DPoP-bound client-credentials tokens), the client's budgets, and the public
register of every research query and extract."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from immunet.context import AppContext
from immunet.partners.scopes import ResearchScope
from immunet.research import service
from immunet.research.guards import RESEARCH
from immunet.research.schemas import (
    AggregateRequest,
    AggregateResponse,
    BudgetResponse,
    DpCountRequest,
    DpCountResponse,
    ExtractRequest,
    ExtractResponse,
    RegisterResponse,
)
from immunet.research.service import ResearchPrincipal
from immunet.security.access import PUBLIC, PublicCaller, request_app_context

router = APIRouter(tags=["research"])

Ctx = Annotated[AppContext, Depends(request_app_context)]
Public = Annotated[PublicCaller, Depends(PUBLIC)]
Aggregates = Annotated[ResearchPrincipal, Depends(RESEARCH[ResearchScope.AGGREGATES])]
DpCounts = Annotated[ResearchPrincipal, Depends(RESEARCH[ResearchScope.DP_COUNTS])]
Extracts = Annotated[ResearchPrincipal, Depends(RESEARCH[ResearchScope.EXTRACTS])]
Limit = Annotated[int, Query(ge=1, le=service.REGISTER_PAGE_MAX)]
Before = Annotated[int | None, Query(ge=1, le=2**62)]

NO_STORE = {"Cache-Control": "no-store"}


def _json(
    model: AggregateResponse | DpCountResponse | ExtractResponse | BudgetResponse,
) -> JSONResponse:
    return JSONResponse(model.model_dump(mode="json", by_alias=True), headers=NO_STORE)


@router.post("/api/v2/research/aggregates", response_model=AggregateResponse)
async def aggregates(body: AggregateRequest, caller: Aggregates, ctx: Ctx) -> JSONResponse:
    return _json(await service.aggregate(ctx, body, actor=caller))


@router.post("/api/v2/research/dp-counts", response_model=DpCountResponse)
async def dp_counts(body: DpCountRequest, caller: DpCounts, ctx: Ctx) -> JSONResponse:
    return _json(await service.dp_count(ctx, body, actor=caller))


@router.get("/api/v2/research/budget", response_model=BudgetResponse)
async def budget(caller: DpCounts, ctx: Ctx) -> JSONResponse:
    return _json(await service.budgets(ctx, actor=caller))


@router.post("/api/v2/research/extracts", response_model=ExtractResponse)
async def extracts(body: ExtractRequest, caller: Extracts, ctx: Ctx) -> JSONResponse:
    return _json(await service.extract(ctx, body, actor=caller))


@router.get("/api/v2/research/register", response_model=RegisterResponse)
async def research_register(
    _caller: Public, ctx: Ctx, limit: Limit = service.REGISTER_PAGE_MAX, before: Before = None
) -> RegisterResponse:
    return await service.register(ctx, limit=limit, before=before)
