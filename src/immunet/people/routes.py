"""Citizen routes: OTP login, beneficiaries (Co-WIN API v2 paths and fields)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from immunet.context import AppContext
from immunet.people import auth, family, service
from immunet.people.compat import beneficiary_payloads
from immunet.people.schemas import (
    BeneficiariesResponse,
    ConfirmOtpRequest,
    DeleteBeneficiaryRequest,
    Gender,
    GenderResponse,
    GenerateOtpRequest,
    GenerateOtpResponse,
    IdType,
    IdTypesResponse,
    NewBeneficiaryRequest,
    NewBeneficiaryResponse,
    NewChildRequest,
    PregnancyRequest,
    PregnancyResponse,
    ReminderSettings,
    ReminderSettingsResponse,
    TokenResponse,
)
from immunet.security.access import (
    CITIZEN,
    PUBLIC,
    CitizenPrincipal,
    PublicCaller,
    request_app_context,
)

router = APIRouter(prefix="/api/v2")

Ctx = Annotated[AppContext, Depends(request_app_context)]
Public = Annotated[PublicCaller, Depends(PUBLIC)]
Citizen = Annotated[CitizenPrincipal, Depends(CITIZEN)]


@router.post("/auth/public/generateOTP", response_model=GenerateOtpResponse, tags=["auth"])
async def generate_otp(body: GenerateOtpRequest, caller: Public, ctx: Ctx) -> GenerateOtpResponse:
    txn_id = await auth.request_otp(ctx, body.mobile, context=caller.context)
    return GenerateOtpResponse(txnId=txn_id)


@router.post("/auth/public/confirmOTP", response_model=TokenResponse, tags=["auth"])
async def confirm_otp(body: ConfirmOtpRequest, caller: Public, ctx: Ctx) -> TokenResponse:
    token = await auth.confirm_otp(ctx, body.txnId, body.otp, context=caller.context)
    return TokenResponse(token=token)


@router.post("/auth/logout", status_code=204, tags=["auth"])
async def logout(principal: Citizen, ctx: Ctx) -> Response:
    await auth.logout(ctx, principal)
    return Response(status_code=204)


@router.get(
    "/registration/beneficiary/idTypes", response_model=IdTypesResponse, tags=["registration"]
)
async def id_types(_caller: Public) -> IdTypesResponse:
    return IdTypesResponse(types=[IdType(id=k, type=v) for k, v in service.ID_TYPES.items()])


@router.get(
    "/registration/beneficiary/genders", response_model=GenderResponse, tags=["registration"]
)
async def genders(_caller: Public) -> GenderResponse:
    return GenderResponse(genders=[Gender(id=k, name=v) for k, v in service.GENDERS.items()])


@router.post(
    "/registration/beneficiary/new", response_model=NewBeneficiaryResponse, tags=["registration"]
)
async def new_beneficiary(
    body: NewBeneficiaryRequest, principal: Citizen, ctx: Ctx
) -> NewBeneficiaryResponse:
    registration = await service.register_beneficiary(ctx, body, actor=principal)
    return NewBeneficiaryResponse(beneficiary_reference_id=registration.reference_id)


@router.post(
    "/registration/beneficiary/child", response_model=NewBeneficiaryResponse, tags=["registration"]
)
async def new_child(body: NewChildRequest, principal: Citizen, ctx: Ctx) -> NewBeneficiaryResponse:
    registration = await family.register_child(ctx, body, actor=principal)
    return NewBeneficiaryResponse(beneficiary_reference_id=registration.reference_id)


@router.post(
    "/registration/beneficiary/pregnancy", response_model=PregnancyResponse, tags=["registration"]
)
async def record_pregnancy(
    body: PregnancyRequest, principal: Citizen, ctx: Ctx
) -> PregnancyResponse:
    recorded = await family.record_pregnancy(ctx, body, actor=principal)
    return PregnancyResponse(
        beneficiary_reference_id=recorded.reference_id,
        pregnancy_id=recorded.pregnancy_ref,
        edd=recorded.edd.strftime("%d-%m-%Y"),
    )


@router.post("/me/reminders", response_model=ReminderSettingsResponse, tags=["registration"])
async def reminder_settings(
    body: ReminderSettings, principal: Citizen, ctx: Ctx
) -> ReminderSettingsResponse:
    saved = await family.set_reminder_settings(ctx, body, actor=principal)
    return ReminderSettingsResponse(language=saved.language, opt_out=saved.opt_out)


@router.post("/registration/beneficiary/delete", status_code=204, tags=["registration"])
async def delete_beneficiary(
    body: DeleteBeneficiaryRequest, principal: Citizen, ctx: Ctx
) -> Response:
    await service.delete_beneficiary(ctx, body.beneficiary_reference_id, actor=principal)
    return Response(status_code=204)


@router.get(
    "/appointment/beneficiaries", response_model=BeneficiariesResponse, tags=["registration"]
)
async def beneficiaries(principal: Citizen, ctx: Ctx, request: Request) -> BeneficiariesResponse:
    views = await service.list_beneficiaries(ctx, actor=principal)
    payloads = await beneficiary_payloads(ctx, views)
    return BeneficiariesResponse.model_validate({"beneficiaries": payloads})
