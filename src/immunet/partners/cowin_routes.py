"""Co-WIN's protected API login (``x-api-key``): ``/api/v2/auth/generateOTP`` and
``/api/v2/auth/confirmOTP``, the same bodies and answers as the public OTP routes.

Co-WIN's vaccinator look-ups (``/api/v2/vaccinator/beneficiaries/findByMobile`` and the
like) are deliberately absent: no route finds a person by mobile, ID number or name."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from immunet.context import AppContext
from immunet.partners import cowin
from immunet.partners.guards import PARTNER_API_KEY, ApiKeyCall
from immunet.people.schemas import (
    ConfirmOtpRequest,
    GenerateOtpRequest,
    GenerateOtpResponse,
    TokenResponse,
)
from immunet.security.access import request_app_context

router = APIRouter(prefix="/api/v2", tags=["partners"])

Ctx = Annotated[AppContext, Depends(request_app_context)]
PartnerApp = Annotated[ApiKeyCall, Depends(PARTNER_API_KEY)]


@router.post("/auth/generateOTP", response_model=GenerateOtpResponse)
async def generate_otp(body: GenerateOtpRequest, call: PartnerApp, ctx: Ctx) -> GenerateOtpResponse:
    txn_id = await cowin.request_otp(ctx, call.client, body.mobile, context=call.context)
    return GenerateOtpResponse(txnId=txn_id)


@router.post("/auth/confirmOTP", response_model=TokenResponse)
async def confirm_otp(body: ConfirmOtpRequest, call: PartnerApp, ctx: Ctx) -> TokenResponse:
    token = await cowin.confirm_otp(ctx, call.client, body.txnId, body.otp, context=call.context)
    return TokenResponse(token=token)
