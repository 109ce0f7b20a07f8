"""Staff login: username + password (argon2id) + TOTP, one live session per user.

Every failure answers the same 401, whatever went wrong and whether the user exists; an
unknown username is checked against a dummy hash so it costs as much as a known one.
Failures are throttled per (username, client address) and per address, with a much higher
per-username ceiling (NIST SP 800-63B 5.2.2), so wrong passwords typed elsewhere cannot lock
a staff member out (429 + ``Retry-After``); a
TOTP code is accepted once (``last_totp_step`` moves forward with a guarded UPDATE), and
every login, failure and logout is audited with the address and the user agent.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import select, update

from immunet.context import AppContext
from immunet.errors import TooManyRequests, Unauthenticated
from immunet.security.audit import AuditAction, AuditChain, RequestContext
from immunet.security.keyring import DecryptionError
from immunet.security.ratelimit import Limit
from immunet.security.tokens import TokenAudience
from immunet.staff.credentials import matching_totp_step, new_totp_secret, verify_password
from immunet.staff.guards import STAFF_ABSOLUTE_SECONDS
from immunet.staff.models import StaffUser
from immunet.staff.principal import StaffPrincipal
from immunet.staff.service import totp_context

# Failed logins, in fixed windows (the counts come from settings):
# * per (username, address): a guesser at one address stops after a few tries at one user;
# * per address: ... and after a few more across users;
# * per username, a much higher ceiling: only a guess spread over many addresses reaches it.
# Only the last one could block the real user, and only at a cost of 100 guesses an hour.
USER_ADDRESS_WINDOW = 900
ADDRESS_WINDOW = 900
USER_WINDOW = 3600
# All attempts from one address, successful or not (credential stuffing across users):
# IMMUNET_STAFF_LOGIN_ATTEMPTS_PER_ADDRESS per ATTEMPTS_WINDOW.
ATTEMPTS_WINDOW = 900
USER_AGENT_MAX = 120
_DUMMY_TOTP_SECRET = new_totp_secret()


class StaffLoginFailed(Unauthenticated):
    error_code = "STAFF0401"
    message = "Invalid username, password or authenticator code."


@dataclass(frozen=True)
class StaffLogin:
    token: str
    role: str
    expires_in: int


def clean_user_agent(raw: str | None) -> str:
    text = "".join(ch for ch in (raw or "") if " " <= ch <= "~")
    return text[:USER_AGENT_MAX]


def _retry_after(limit: Limit) -> int:
    return limit.window_seconds - int(time.time()) % limit.window_seconds


def attempts_per_address(ctx: AppContext) -> Limit:
    return Limit(
        "staff-login-address", ctx.settings.staff_login_attempts_per_address, ATTEMPTS_WINDOW
    )


def failure_limits(ctx: AppContext, username_key: str, address: str) -> list[tuple[Limit, str]]:
    """The failure counters one attempt is checked against and counted in, with their keys."""
    settings = ctx.settings
    return [
        (
            Limit(
                "staff-login-fail-user-address",
                settings.staff_login_failures_per_user_address,
                USER_ADDRESS_WINDOW,
            ),
            # A separator that cannot occur in a username key or an address.
            f"{username_key}\n{address}",
        ),
        (
            Limit(
                "staff-login-fail-address",
                settings.staff_login_failures_per_address,
                ADDRESS_WINDOW,
            ),
            address,
        ),
        (
            Limit("staff-login-fail-user", settings.staff_login_failures_per_user, USER_WINDOW),
            username_key,
        ),
    ]


async def _refuse_if_throttled(ctx: AppContext, username_key: str, address: str) -> None:
    for limit, key in failure_limits(ctx, username_key, address):
        if await ctx.limiter.used(limit, key) >= limit.limit:
            raise TooManyRequests(retry_after=_retry_after(limit), error_code="STAFF0429")


async def _record_failure(
    ctx: AppContext,
    *,
    username_key: str,
    address: str,
    user_id: int | None,
    reason: str,
    context: RequestContext,
    user_agent: str,
) -> None:
    for limit, key in failure_limits(ctx, username_key, address):
        try:
            await ctx.limiter.hit(limit, key)
        except TooManyRequests:
            pass  # counted; the next attempt is refused up front
    async with ctx.db.transaction() as session:
        await AuditChain.append(
            session,
            actor="anonymous",
            action=AuditAction.STAFF_LOGIN_FAILED,
            subject_ref=f"staff:{user_id}" if user_id is not None else None,
            purpose="staff-login",
            context=context,
            # Never the typed username: it may be someone's password typed in the wrong box.
            detail={"reason": reason, "user_agent": user_agent},
        )


async def login(
    ctx: AppContext,
    *,
    username: str,
    password: str,
    totp: str,
    context: RequestContext,
    user_agent: str | None,
) -> StaffLogin:
    agent = clean_user_agent(user_agent)
    address = context.client_address or "unknown"
    username_key = username.strip().lower()[:64]
    await ctx.limiter.hit(attempts_per_address(ctx), address)
    await _refuse_if_throttled(ctx, username_key, address)

    async with ctx.db.reader() as session:
        user = (
            await session.execute(select(StaffUser).where(StaffUser.username == username_key))
        ).scalar_one_or_none()
    memory = ctx.settings.staff_password_memory_kib
    password_ok = await verify_password(
        user.password_hash if user is not None else None, password, memory_kib=memory
    )
    secret = _DUMMY_TOTP_SECRET
    if user is not None:
        try:
            secret = ctx.keyring.field_cipher.decrypt(
                user.totp_secret_ct, context=totp_context(user.username)
            )
        except DecryptionError:
            secret = _DUMMY_TOTP_SECRET
    code = totp.strip()
    step = matching_totp_step(secret, code) if code.isascii() and code.isdigit() else None

    reason: str | None = None
    if user is None:
        reason = "unknown-user"
    elif not password_ok:
        reason = "password"
    elif not user.active:
        reason = "disabled"
    elif step is None or secret is _DUMMY_TOTP_SECRET:
        reason = "totp"
    else:
        async with ctx.db.transaction() as session:
            moved = await session.execute(
                update(StaffUser)
                .where(
                    StaffUser.id == user.id,
                    StaffUser.active.is_(True),
                    StaffUser.last_totp_step < step,
                )
                .values(last_totp_step=step)
            )
        if moved.rowcount != 1:  # type: ignore[attr-defined]
            reason = "totp-replay"
    if reason is not None or user is None:
        await _record_failure(
            ctx,
            username_key=username_key,
            address=address,
            user_id=user.id if user is not None else None,
            reason=reason or "unknown-user",
            context=context,
            user_agent=agent,
        )
        raise StaffLoginFailed()

    # One live session per user: a new login ends the previous one.
    await ctx.tokens.revoke_subject(TokenAudience.STAFF, str(user.id))
    issued = await ctx.tokens.issue(
        TokenAudience.STAFF, str(user.id), lifetime_seconds=STAFF_ABSOLUTE_SECONDS
    )
    async with ctx.db.transaction() as session:
        await AuditChain.append(
            session,
            actor=f"staff:{user.id}",
            action=AuditAction.STAFF_LOGIN,
            subject_ref=f"staff:{user.id}",
            purpose="staff-login",
            context=context,
            detail={"user_agent": agent},
        )
    return StaffLogin(issued.token, user.role, issued.expires_in)


async def logout(ctx: AppContext, principal: StaffPrincipal, *, user_agent: str | None) -> None:
    await ctx.tokens.revoke(principal.session_id)
    async with ctx.db.transaction() as session:
        await AuditChain.append(
            session,
            actor=principal.actor,
            action=AuditAction.STAFF_LOGOUT,
            subject_ref=f"staff:{principal.user_id}",
            purpose="staff-logout",
            context=principal.context,
            detail={"user_agent": clean_user_agent(user_agent)},
        )
