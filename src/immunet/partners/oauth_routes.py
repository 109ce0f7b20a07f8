"""The OAuth endpoints of the partner path: metadata, PAR, token, revocation."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse

from immunet.context import AppContext
from immunet.partners import oauth
from immunet.partners.guards import (
    PARTNER_CLIENT,
    PARTNER_CLIENT_ANY,
    PARTNER_CLIENT_DPOP,
    ClientCall,
)
from immunet.security.access import PUBLIC, PublicCaller, request_app_context

router = APIRouter(tags=["partners"])

Ctx = Annotated[AppContext, Depends(request_app_context)]
Public = Annotated[PublicCaller, Depends(PUBLIC)]
Client = Annotated[ClientCall, Depends(PARTNER_CLIENT)]
DpopClient = Annotated[ClientCall, Depends(PARTNER_CLIENT_DPOP)]
AnyClient = Annotated[ClientCall, Depends(PARTNER_CLIENT_ANY)]

NO_STORE = {"Cache-Control": "no-store"}


@router.get("/.well-known/oauth-authorization-server")
async def authorization_server_metadata(_caller: Public, ctx: Ctx) -> dict[str, Any]:
    return oauth.metadata(ctx)


@router.post("/oauth/par", status_code=201)
async def pushed_authorization_request(call: Client, ctx: Ctx) -> JSONResponse:
    request_uri, expires_in = await oauth.push_authorization_request(ctx, call.client, call.form)
    return JSONResponse(
        {"request_uri": request_uri, "expires_in": expires_in}, status_code=201, headers=NO_STORE
    )


@router.post("/oauth/token")
async def token(call: DpopClient, ctx: Ctx) -> JSONResponse:
    assert call.jkt is not None
    answer = await oauth.exchange(ctx, call.client, call.form, jkt=call.jkt)
    return JSONResponse(answer, headers=NO_STORE)


@router.post("/oauth/revoke")
async def revoke(call: AnyClient, ctx: Ctx) -> Response:
    await oauth.revoke_token(ctx, call.client, call.form.get("token", ""))
    return Response(status_code=200)
