"""The authorization page: immunet's own page, never the partner's.

The citizen proves their mobile with an OTP (the portal's login), picks one of their
beneficiaries, sees the partner's name, purpose, the exact data and actions and the
duration, and allows or denies. Only a pushed request (``request_uri``) can be shown.
"""

from __future__ import annotations

import hashlib
import re
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import Field

from immunet.context import AppContext
from immunet.errors import ApiError
from immunet.partners import oauth
from immunet.people import auth
from immunet.people import service as people
from immunet.people.schemas import GenerateOtpRequest, Strict
from immunet.security.access import (
    PUBLIC,
    CitizenPrincipal,
    PublicCaller,
    request_app_context,
)
from immunet.security.tokens import TokenAudience
from immunet.web.guards import SESSION_COOKIE, WEB_CITIZEN
from immunet.web.render import page, translate_error
from immunet.web.security import CSP, finish, parse, read_form, set_cookie

router = APIRouter(include_in_schema=False)

Ctx = Annotated[AppContext, Depends(request_app_context)]
Public = Annotated[PublicCaller, Depends(PUBLIC)]
Citizen = Annotated[CitizenPrincipal, Depends(WEB_CITIZEN)]


class OtpForm(Strict):
    txn: str = Field(min_length=36, max_length=36)
    otp: str = Field(min_length=6, max_length=6, pattern=r"^[0-9]{6}$")


def _consent_page(
    request: Request, pending: oauth.PendingAuthorization, request_uri: str, **values: Any
) -> Response:
    response = page(
        request,
        "partner_consent.html",
        pending=pending,
        request_uri=request_uri,
        **values,
    )
    # The Allow/Deny answer is a redirect to the partner's registered URI: the page's
    # form-action must allow that one origin (and only it).
    target = urlsplit(pending.redirect_uri)
    origin = f"{target.scheme}://{target.netloc}"
    response.headers["Content-Security-Policy"] = CSP.replace(
        "form-action 'self'", f"form-action 'self' {origin}"
    )
    return response


def _refusal(request: Request, exc: ApiError) -> Response:
    response = page(
        request, "error.html", status_code=exc.status_code, error=translate_error(request, exc)
    )
    response.headers.update(exc.headers)
    return response


@router.get("/oauth/authorize")
async def authorize(
    request: Request,
    _caller: Public,
    ctx: Ctx,
    client_id: Annotated[str | None, Query(max_length=64)] = None,
    request_uri: Annotated[str | None, Query(max_length=128)] = None,
) -> Response:
    """Only ``client_id`` and a pushed ``request_uri``: any other parameter is refused."""
    try:
        pending = await oauth.pending_authorization(
            ctx, client_id=client_id or "", request_uri=request_uri or ""
        )
    except ApiError as exc:
        return _refusal(request, exc)
    return _consent_page(request, pending, request_uri or "", step="mobile")


@router.post("/oauth/authorize/otp")
async def send_otp(request: Request, caller: Public, ctx: Ctx) -> Response:
    form = await read_form(request)
    request_uri = form.get("request_uri", "")
    try:
        pending = await oauth.pending_authorization(
            ctx, client_id=form.get("client_id", ""), request_uri=request_uri
        )
        body = parse(GenerateOtpRequest, {"mobile": form.get("mobile", "").strip()})
        txn = await auth.request_otp(ctx, body.mobile, context=caller.context)
    except ApiError as exc:
        return _refusal(request, exc)
    return _consent_page(request, pending, request_uri, step="otp", txn=txn)


@router.post("/oauth/authorize/verify")
async def verify_otp(request: Request, caller: Public, ctx: Ctx) -> Response:
    form = await read_form(request)
    request_uri = form.get("request_uri", "")
    try:
        pending = await oauth.pending_authorization(
            ctx, client_id=form.get("client_id", ""), request_uri=request_uri
        )
        parsed = parse(OtpForm, {"txn": form.get("txn", ""), "otp": form.get("otp", "").strip()})
        digest = hashlib.sha256(parsed.otp.encode("ascii")).hexdigest()
        token = await auth.confirm_otp(ctx, parsed.txn, digest, context=caller.context)
        verified = await ctx.tokens.verify(token, TokenAudience.CITIZEN)
        members = await people.list_beneficiaries(
            ctx,
            actor=CitizenPrincipal(verified.subject, verified.session_id, caller.context),
        )
    except ApiError as exc:
        return _refusal(request, exc)
    response = _consent_page(request, pending, request_uri, step="choose", members=members)
    set_cookie(response, request, SESSION_COOKIE, token)
    return response


@router.post("/oauth/authorize/decide")
async def decide(request: Request, principal: Citizen, ctx: Ctx) -> Response:
    form = await read_form(request)
    try:
        pending = await oauth.pending_authorization(
            ctx, client_id=form.get("client_id", ""), request_uri=form.get("request_uri", "")
        )
        allow = form.get("decision") == "allow"
        beneficiary_id: int | None = None
        if allow:
            reference = form.get("beneficiary", "")
            if not re.fullmatch(r"[0-9A-Za-z-]{1,20}", reference):
                raise people.BeneficiaryNotFound()
            async with ctx.db.reader() as session:
                own = await people.access_own_beneficiary(session, principal.account_id, reference)
            beneficiary_id = own.id
        target = await oauth.decide(
            ctx,
            pending=pending,
            account_id=principal.account_id,
            beneficiary_id=beneficiary_id,
            allow=allow,
            context=principal.context,
        )
    except ApiError as exc:
        return _refusal(request, exc)
    return finish(request, RedirectResponse(target, status_code=303))
