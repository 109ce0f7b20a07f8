"""Request and response models of the staff API (strict, bounded, explicit allow-lists)."""

from __future__ import annotations

from pydantic import Field

from immunet.people.schemas import Out, Strict
from immunet.staff.permissions import Role


class LoginRequest(Strict):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)
    # Empty or malformed codes are refused like wrong ones (401), never as a 4xx hint.
    totp: str = Field(max_length=10)


class LoginResponse(Out):
    token: str
    role: str
    expires_in: int


class MeResponse(Out):
    username: str
    role: str
    jurisdiction: str
    permissions: list[str]
    must_change_password: bool


class ChangePasswordRequest(Strict):
    current_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=1, max_length=256)


class CreateStaffUserRequest(Strict):
    username: str = Field(min_length=3, max_length=64)
    role: Role
    jurisdiction: str = Field(min_length=1, max_length=32)


class CreateStaffUserResponse(Out):
    username: str
    password: str
    otpauth_uri: str


class StaffUserOut(Out):
    username: str
    role: str
    jurisdiction: str
    active: bool


class StaffUsersResponse(Out):
    users: list[StaffUserOut]
    next: str | None = Field(
        default=None, description="Pass as `after` to read the next page; null on the last."
    )
