"""Provisioning staff users: create and disable, inside the actor's rank and jurisdiction.

An admin creates only users of a strictly lower rank, inside their own jurisdiction, and
disables only such users; the operator at the command line may do anything. A new user
gets a random one-time password (shown once) and a TOTP secret, sealed by the key ring.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from immunet.context import AppContext
from immunet.db.base import utcnow
from immunet.errors import Conflict, Forbidden, NotFound, Unprocessable
from immunet.security.audit import AuditAction, AuditChain
from immunet.security.ratelimit import Limit
from immunet.security.tokens import TokenAudience
from immunet.staff.credentials import (
    hash_password,
    new_one_time_password,
    new_totp_secret,
    otpauth_uri,
    verify_password,
)
from immunet.staff.jurisdiction import (
    jurisdiction_contains,
    jurisdiction_exists,
    staff_user_filter,
)
from immunet.staff.models import StaffUser
from immunet.staff.permissions import ROLE_JURISDICTIONS, ROLE_RANK, Role
from immunet.staff.principal import Jurisdiction, OperatorPrincipal, StaffPrincipal

USERNAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{2,63}")
LIST_PAGE_MAX = 50
CREATIONS_PER_HOUR = 200
MIN_PASSWORD_LENGTH = 12

StaffActor = StaffPrincipal | OperatorPrincipal


class StaffNotFound(NotFound):
    error_code = "STAFF0404"
    message = "No such staff user."


class StaffForbidden(Forbidden):
    error_code = "STAFF0403"
    message = "You may manage only users of a lower role inside your own jurisdiction."


class InvalidStaffRequest(Unprocessable):
    error_code = "STAFF0422"
    message = "The staff user request is not valid."


class UsernameTaken(Conflict):
    error_code = "STAFF0409"
    message = "That username is already in use."


class NewStaffUser(NamedTuple):
    user: StaffUser
    one_time_password: str
    otpauth_uri: str


@dataclass(frozen=True)
class StaffUserView:
    username: str
    role: str
    jurisdiction: str
    active: bool


def totp_context(username: str) -> str:
    return f"staff:{username}:totp"


def normalize_username(raw: str) -> str:
    username = raw.strip().lower()
    if not USERNAME_RE.fullmatch(username):
        raise InvalidStaffRequest(
            "A username is 3 to 64 characters: letters, digits, '.', '_' or '-', "
            "starting with a letter or digit."
        )
    return username


def parse_role(raw: str | Role) -> Role:
    try:
        return Role(raw)
    except ValueError as exc:
        raise InvalidStaffRequest("role is one of: " + ", ".join(r.value for r in Role)) from exc


def jurisdiction_of(user: StaffUser) -> Jurisdiction:
    return Jurisdiction(user.jurisdiction_kind, user.jurisdiction_id)


def view_of(user: StaffUser) -> StaffUserView:
    return StaffUserView(user.username, user.role, str(jurisdiction_of(user)), user.active)


async def create_staff_user(
    ctx: AppContext,
    *,
    username: str,
    role: Role | str,
    jurisdiction: Jurisdiction,
    actor: StaffActor,
) -> NewStaffUser:
    """Create a user; return it with its one-time password and ``otpauth://`` URI."""
    name = normalize_username(username)
    new_role = parse_role(role)
    if jurisdiction.kind not in ROLE_JURISDICTIONS[new_role]:
        raise InvalidStaffRequest(
            f"a {new_role.value} holds a jurisdiction of kind: "
            + ", ".join(sorted(ROLE_JURISDICTIONS[new_role]))
        )
    if isinstance(actor, StaffPrincipal):
        if ROLE_RANK[new_role] >= ROLE_RANK[actor.role]:
            raise StaffForbidden()
        await ctx.limiter.hit(
            Limit("staff-user-create", CREATIONS_PER_HOUR, 3600), str(actor.user_id)
        )
    password = new_one_time_password()
    secret = new_totp_secret()
    password_hash = await hash_password(password, memory_kib=ctx.settings.staff_password_memory_kib)
    sealed = ctx.keyring.field_cipher.encrypt(secret, context=totp_context(name))
    async with ctx.db.transaction() as session:
        if not await jurisdiction_exists(session, jurisdiction):
            raise InvalidStaffRequest("The jurisdiction names no known state, district or centre.")
        if isinstance(actor, StaffPrincipal) and not await jurisdiction_contains(
            session, actor.jurisdiction, jurisdiction
        ):
            raise StaffForbidden()
        taken = (
            await session.execute(select(StaffUser.id).where(StaffUser.username == name))
        ).scalar_one_or_none()
        if taken is not None:
            raise UsernameTaken()
        user = StaffUser(
            username=name,
            role=new_role.value,
            jurisdiction_kind=jurisdiction.kind,
            jurisdiction_id=jurisdiction.ref_id,
            password_hash=password_hash,
            totp_secret_ct=sealed,
            last_totp_step=0,
            active=True,
            must_change_password=True,
            created_by=actor.actor,
            created_at=utcnow(),
            disabled_at=None,
        )
        session.add(user)
        try:
            await session.flush()
        except IntegrityError as exc:  # a concurrent creation of the same username
            raise UsernameTaken() from exc
        await AuditChain.append(
            session,
            actor=actor.actor,
            action=AuditAction.STAFF_CREATED,
            subject_ref=f"staff:{user.id}",
            purpose="provisioning",
            context=actor.context,
            detail={"role": new_role.value, "jurisdiction": str(jurisdiction)},
        )
    return NewStaffUser(user, password, otpauth_uri(secret, name))


async def disable_staff_user(ctx: AppContext, *, username: str, actor: StaffActor) -> StaffUser:
    """Disable a user and end all their sessions. Users outside the actor's reach are 404."""
    try:
        name = normalize_username(username)
    except InvalidStaffRequest as exc:
        raise StaffNotFound() from exc
    async with ctx.db.transaction() as session:
        user = (
            await session.execute(select(StaffUser).where(StaffUser.username == name))
        ).scalar_one_or_none()
        if user is None:
            raise StaffNotFound()
        if isinstance(actor, StaffPrincipal):
            if not await jurisdiction_contains(session, actor.jurisdiction, jurisdiction_of(user)):
                raise StaffNotFound()
            if ROLE_RANK[Role(user.role)] >= ROLE_RANK[actor.role]:
                raise StaffForbidden()
        # A suspended user (inactive, not disabled) is disabled too; disabling is final.
        if user.disabled_at is None or user.active:
            now = utcnow()
            await session.execute(
                update(StaffUser)
                .where(StaffUser.id == user.id)
                .values(active=False, disabled_at=now)
            )
            user.active = False
            user.disabled_at = now
            await AuditChain.append(
                session,
                actor=actor.actor,
                action=AuditAction.STAFF_DISABLED,
                subject_ref=f"staff:{user.id}",
                purpose="provisioning",
                context=actor.context,
            )
    # The guard refuses inactive users at once; revoking the sessions makes it final.
    await ctx.tokens.revoke_subject(TokenAudience.STAFF, str(user.id))
    return user


async def list_staff_users(
    ctx: AppContext, *, actor: StaffPrincipal, limit: int, after: str | None = None
) -> tuple[list[StaffUserView], str | None]:
    """Users inside the actor's jurisdiction, by username; returns the page and next cursor."""
    limit = max(1, min(limit, LIST_PAGE_MAX))
    stmt = select(StaffUser).where(staff_user_filter(actor)).order_by(StaffUser.username)
    if after:
        stmt = stmt.where(StaffUser.username > after)
    async with ctx.db.reader() as session:
        rows = list((await session.execute(stmt.limit(limit + 1))).scalars())
    page = rows[:limit]
    next_cursor = page[-1].username if len(rows) > limit else None
    return [view_of(u) for u in page], next_cursor


async def own_profile(ctx: AppContext, *, actor: StaffPrincipal) -> StaffUser:
    async with ctx.db.reader() as session:
        user = await session.get(StaffUser, actor.user_id)
    if user is None:
        raise StaffNotFound()
    return user


class WrongPassword(Forbidden):
    error_code = "STAFF0405"
    message = "The current password is not correct."


async def change_password(
    ctx: AppContext, *, current_password: str, new_password: str, actor: StaffPrincipal
) -> None:
    """Replace the (one-time) password; the current one must be given again."""
    if len(new_password) < MIN_PASSWORD_LENGTH or new_password == current_password:
        raise InvalidStaffRequest(
            f"The new password needs at least {MIN_PASSWORD_LENGTH} characters and must differ "
            "from the current one."
        )
    # A stolen session must not become a password-guessing oracle.
    await ctx.limiter.hit(Limit("staff-password-change", 5, 900), str(actor.user_id))
    memory = ctx.settings.staff_password_memory_kib
    user = await own_profile(ctx, actor=actor)
    if not await verify_password(user.password_hash, current_password, memory_kib=memory):
        raise WrongPassword()
    new_hash = await hash_password(new_password, memory_kib=memory)
    async with ctx.db.transaction() as session:
        await session.execute(
            update(StaffUser)
            .where(StaffUser.id == actor.user_id)
            .values(password_hash=new_hash, must_change_password=False)
        )
        await AuditChain.append(
            session,
            actor=actor.actor,
            action=AuditAction.STAFF_PASSWORD_CHANGED,
            subject_ref=f"staff:{actor.user_id}",
            purpose="credentials",
            context=actor.context,
        )
