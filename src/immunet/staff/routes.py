"""Staff routes: login / logout / me, and provisioning inside the caller's jurisdiction."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from immunet.context import AppContext
from immunet.security.access import PUBLIC, PublicCaller, request_app_context
from immunet.staff import auth, service
from immunet.staff.guards import STAFF
from immunet.staff.permissions import ROLE_PERMISSIONS, Permission
from immunet.staff.principal import InvalidJurisdiction, Jurisdiction, StaffPrincipal
from immunet.staff.schemas import (
    ChangePasswordRequest,
    CreateStaffUserRequest,
    CreateStaffUserResponse,
    LoginRequest,
    LoginResponse,
    MeResponse,
    StaffUserOut,
    StaffUsersResponse,
)

router = APIRouter(prefix="/api/staff", tags=["staff"])

Ctx = Annotated[AppContext, Depends(request_app_context)]
Public = Annotated[PublicCaller, Depends(PUBLIC)]
Self = Annotated[StaffPrincipal, Depends(STAFF(Permission.SELF_SESSION))]
Creator = Annotated[StaffPrincipal, Depends(STAFF(Permission.STAFF_USER_CREATE))]
Disabler = Annotated[StaffPrincipal, Depends(STAFF(Permission.STAFF_USER_DISABLE))]
Reader = Annotated[StaffPrincipal, Depends(STAFF(Permission.STAFF_USER_READ))]
Username = Annotated[str, Path(min_length=1, max_length=64)]

NO_STORE = {"Cache-Control": "no-store"}


@router.post("/auth/login", response_model=LoginResponse)
async def login(
    body: LoginRequest, caller: Public, ctx: Ctx, request: Request, response: Response
) -> LoginResponse:
    result = await auth.login(
        ctx,
        username=body.username,
        password=body.password,
        totp=body.totp,
        context=caller.context,
        user_agent=request.headers.get("user-agent"),
    )
    response.headers.update(NO_STORE)
    return LoginResponse(token=result.token, role=result.role, expires_in=result.expires_in)


@router.post("/auth/logout", status_code=204)
async def logout(principal: Self, ctx: Ctx, request: Request) -> Response:
    await auth.logout(ctx, principal, user_agent=request.headers.get("user-agent"))
    return Response(status_code=204)


@router.get("/me", response_model=MeResponse)
async def me(principal: Self, ctx: Ctx, response: Response) -> MeResponse:
    user = await service.own_profile(ctx, actor=principal)
    response.headers.update(NO_STORE)
    return MeResponse(
        username=principal.username,
        role=principal.role.value,
        jurisdiction=str(principal.jurisdiction),
        permissions=sorted(p.value for p in ROLE_PERMISSIONS[principal.role]),
        must_change_password=user.must_change_password,
    )


@router.post("/auth/password", status_code=204)
async def change_password(body: ChangePasswordRequest, principal: Self, ctx: Ctx) -> Response:
    await service.change_password(
        ctx,
        current_password=body.current_password,
        new_password=body.new_password,
        actor=principal,
    )
    return Response(status_code=204)


@router.post("/users", status_code=201, response_model=CreateStaffUserResponse)
async def create_user(
    body: CreateStaffUserRequest, principal: Creator, ctx: Ctx, response: Response
) -> CreateStaffUserResponse:
    try:
        jurisdiction = Jurisdiction.parse(body.jurisdiction)
    except InvalidJurisdiction as exc:
        raise service.InvalidStaffRequest(str(exc)) from exc
    created = await service.create_staff_user(
        ctx,
        username=body.username,
        role=body.role,
        jurisdiction=jurisdiction,
        actor=principal,
    )
    response.headers.update(NO_STORE)
    return CreateStaffUserResponse(
        username=created.user.username,
        password=created.one_time_password,
        otpauth_uri=created.otpauth_uri,
    )


@router.post("/users/{username}/disable", status_code=204)
async def disable_user(username: Username, principal: Disabler, ctx: Ctx) -> Response:
    await service.disable_staff_user(ctx, username=username, actor=principal)
    return Response(status_code=204)


@router.get("/users", response_model=StaffUsersResponse)
async def list_users(
    principal: Reader,
    ctx: Ctx,
    response: Response,
    limit: Annotated[int, Query(ge=1, le=service.LIST_PAGE_MAX)] = service.LIST_PAGE_MAX,
    after: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
) -> StaffUsersResponse:
    views, next_cursor = await service.list_staff_users(
        ctx, actor=principal, limit=limit, after=after
    )
    response.headers.update(NO_STORE)
    return StaffUsersResponse(
        users=[
            StaffUserOut(
                username=v.username, role=v.role, jurisdiction=v.jurisdiction, active=v.active
            )
            for v in views
        ],
        next=next_cursor,
    )
