"""Assembles the application: settings → context → middleware → routers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import select

from immunet import __version__
from immunet.booking.routes import router as booking_router
from immunet.certificates.models import CertificateSigningKeys
from immunet.certificates.routes import VERIFY_PATH, VERIFY_UPLOAD_LIMIT
from immunet.certificates.routes import router as certificate_router
from immunet.context import AppContext, build_context
from immunet.geography.center_routes import router as center_router
from immunet.geography.routes import router as geography_router
from immunet.http import (
    GuardedFastAPI,
    GuardOptions,
    install_error_handlers,
    reject_unknown_query_parameters,
)
from immunet.observability import probes
from immunet.observability.metrics import REDIS_ERRORS
from immunet.oversight.routes import citizen_router as oversight_citizen_router
from immunet.oversight.routes import staff_router as oversight_staff_router
from immunet.partners.cowin_routes import router as partner_cowin_router
from immunet.partners.oauth_routes import router as partner_oauth_router
from immunet.partners.resource_routes import router as partner_resource_router
from immunet.partners.routes import staff_router as partner_staff_router
from immunet.people.routes import router as people_router
from immunet.research.routes import router as research_router
from immunet.security.access import PUBLIC_UNLIMITED, PublicCaller, request_app_context
from immunet.security.disclosure import router as disclosure_router
from immunet.sessions.public_routes import router as availability_router
from immunet.sessions.routes import router as session_router
from immunet.settings import Settings, get_settings
from immunet.staff.routes import router as staff_router
from immunet.vaccination.routes import citizen_router as vaccination_citizen_router
from immunet.vaccination.routes import router as vaccination_router

log = logging.getLogger("immunet")

health_router = APIRouter(tags=["health"])
Ctx = Annotated[AppContext, Depends(request_app_context)]
Anyone = Annotated[PublicCaller, Depends(PUBLIC_UNLIMITED)]


@health_router.get("/healthz")
async def healthz(_caller: Anyone) -> dict[str, str]:
    return {"status": "ok", "version": __version__}


class Readiness(BaseModel):
    status: str
    checks: dict[str, str]


@health_router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "A dependency is not ready."}},
)
async def readyz(_caller: Anyone, ctx: Ctx) -> JSONResponse:
    """Each dependency's state, in words only (numbers go to the metrics listener).

    Not ready (503) when this node cannot serve writes: the primary unreachable or
    read-only, no certificate signing keys, Redis configured and unreachable. A lagging
    outbox or sequencer is reported but keeps the node in rotation: taking every node out
    would stop the writes that do work.
    """
    checks: dict[str, str] = {}
    try:
        async with ctx.db.reader() as session:
            checks["database"] = "ok" if await probes.writable(session) else "read-only"
    except Exception as exc:  # readiness reports, never raises
        checks["database"] = f"unavailable: {type(exc).__name__}"
    try:
        # Without signing keys the trust list and JWKS are empty: verifiers would cache
        # "no keys" and reject every certificate. `immunet db upgrade` creates them.
        async with ctx.db.reader() as session:
            active = await session.execute(
                select(CertificateSigningKeys.id).where(CertificateSigningKeys.active_slot == 1)
            )
            checks["certificate_keys"] = "ok" if active.first() is not None else "missing"
    except Exception as exc:
        checks["certificate_keys"] = f"unavailable: {type(exc).__name__}"
    if ctx.redis is not None:
        try:
            await ctx.redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            REDIS_ERRORS.labels("readiness").inc()
            checks["redis"] = f"unavailable: {type(exc).__name__}"
    essential = dict(checks)
    if ctx.db.replicas:
        # Reported, not essential: reads skip a lagging or lost replica for the primary.
        states = []
        for replica in ctx.db.replicas:
            lag = await replica.measure()
            states.append(
                "unavailable"
                if lag is None
                else "ok"
                if lag <= ctx.db.replica_max_lag_seconds
                else "lagging"
            )
        checks["replicas"] = next((st for st in states if st != "ok"), "ok")
    s = ctx.settings
    try:
        async with ctx.db.reader() as session:
            box = await probes.outbox_state(session, ctx.now())
            seq = await probes.sequencer_state(session)
        checks["outbox"] = (
            "ok" if box.oldest_due_seconds <= s.ready_outbox_max_age_seconds else "lagging"
        )
        checks["sequencer"] = (
            "ok"
            if seq.oldest_unsequenced_seconds <= s.ready_sequencer_max_age_seconds
            else "lagging"
        )
    except Exception as exc:
        checks["outbox"] = checks["sequencer"] = f"unavailable: {type(exc).__name__}"
    ready = all(v == "ok" for v in essential.values())
    return JSONResponse(
        {"status": "ready" if ready else "not-ready", "checks": checks},
        status_code=200 if ready else 503,
    )


# Routes are matched in this order, one by one: the public availability API, which takes
# most of a rollout day's requests, comes first after the health checks (a few percent of
# its CPU went to matching the routes listed before it).
ROUTERS: list[APIRouter] = [
    health_router,
    availability_router,
    geography_router,
    people_router,
    staff_router,
    booking_router,
    center_router,
    session_router,
    certificate_router,
    vaccination_router,
    vaccination_citizen_router,
    oversight_staff_router,
    oversight_citizen_router,
    disclosure_router,
    partner_staff_router,
    partner_oauth_router,
    partner_cowin_router,
    partner_resource_router,
    research_router,
]


def create_app(settings: Settings | None = None, *, context: AppContext | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = context is None
        app.state.ctx = context or build_context(settings)
        sequencer = None
        if owned and settings.run_sequencer:
            from immunet.security.sequencer import start_in_process

            sequencer = start_in_process(app.state.ctx.db, app.state.ctx.keyring)
        outbox = None
        if owned and settings.run_outbox_worker:
            from immunet.outbox.worker import start_in_process as start_outbox

            ctx = app.state.ctx
            outbox = start_outbox(
                ctx.outbox_worker(), ctx.outbox.wake, settings.outbox_poll_seconds
            )
        try:
            yield
        finally:
            if outbox is not None:
                task, stop = outbox
                stop.set()
                await task
            if sequencer is not None:
                task, stop = sequencer
                stop.set()
                await task
            if owned:
                await app.state.ctx.close()

    app = GuardedFastAPI(
        title="immunet",
        version=__version__,
        description=(
            "National vaccination platform — Co-WIN API v2 compatible, private by construction."
        ),
        lifespan=lifespan,
        # A trailing slash is a 404, never a redirect (which would be built from Host).
        redirect_slashes=False,
        # Once for every route: a query parameter the route does not declare is a 400.
        dependencies=[Depends(reject_unknown_query_parameters)],
    )
    app.request_guard = GuardOptions(
        max_body=settings.max_body_bytes,
        max_depth=settings.max_json_depth,
        trusted_proxies=settings.trusted_proxies,
        allowed_hosts=settings.trusted_hosts,
        hsts=settings.serves_https,
        upload_limits={VERIFY_PATH: VERIFY_UPLOAD_LIMIT},
    )
    if context is not None:
        app.state.ctx = context
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    # The web portal, at the same origin (its pages call the services these routes call).
    from immunet.web.routes import install as install_portal

    install_portal(app)
    return app
