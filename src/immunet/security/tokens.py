"""Bearer tokens: short HS256 JWTs that carry no personal data, backed by a session row.

Each audience (citizen, staff, partner) signs with its own secret and is checked for its
own ``aud``; a token is accepted only while its server-side session is live, so logout,
idle timeout and absolute expiry all take effect at once on every worker.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

import jwt
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from immunet.db.base import utcnow
from immunet.db.engine import Database
from immunet.errors import Unauthenticated
from immunet.security.keyring import Keyring, Purpose
from immunet.security.models import AuthSession

ISSUER = "immunet"
_TOUCH_EVERY = dt.timedelta(seconds=30)


class TokenAudience(StrEnum):
    CITIZEN = "citizen"
    STAFF = "staff"
    PARTNER = "partner"


_PURPOSE = {
    TokenAudience.CITIZEN: Purpose.CITIZEN_TOKEN,
    TokenAudience.STAFF: Purpose.STAFF_TOKEN,
    TokenAudience.PARTNER: Purpose.PARTNER_TOKEN,
}


@dataclass(frozen=True)
class IssuedToken:
    token: str
    session_id: str
    expires_in: int


async def _load_nothing(_session: AsyncSession, _subject: str) -> None:
    return None


T = TypeVar("T")


@dataclass(frozen=True)
class VerifiedSession:
    session_id: str
    subject: str
    audience: TokenAudience
    # The partner app a citizen token was issued through (Co-WIN compatible path), or None.
    via: str | None = None


class TokenService:
    def __init__(self, keyring: Keyring, database: Database) -> None:
        self._keyring = keyring
        self._db = database

    def _secret(self, audience: TokenAudience) -> bytes:
        return self._keyring.secret(_PURPOSE[audience])

    async def issue(
        self,
        audience: TokenAudience,
        subject: str,
        *,
        lifetime_seconds: int,
        via: str | None = None,
    ) -> IssuedToken:
        now = utcnow()
        session_id = secrets.token_urlsafe(24)
        expires = now + dt.timedelta(seconds=lifetime_seconds)
        async with self._db.transaction() as session:
            session.add(
                AuthSession(
                    id=session_id,
                    audience=str(audience),
                    subject=subject,
                    created_at=now,
                    expires_at=expires,
                    last_seen_at=now,
                    revoked_at=None,
                )
            )
        claims = {
            "iss": ISSUER,
            "aud": str(audience),
            "sub": subject,
            "sid": session_id,
            "iat": int(now.timestamp()),
            "exp": int(expires.timestamp()),
        }
        if via is not None:
            claims["via"] = via
        token = jwt.encode(claims, self._secret(audience), algorithm="HS256")
        return IssuedToken(token, session_id, lifetime_seconds)

    async def verify(
        self, token: str, audience: TokenAudience, *, idle_seconds: int | None = None
    ) -> VerifiedSession:
        verified, _ = await self.verify_and_load(
            token, audience, idle_seconds=idle_seconds, load=_load_nothing
        )
        return verified

    async def verify_and_load(
        self,
        token: str,
        audience: TokenAudience,
        *,
        idle_seconds: int | None = None,
        load: Callable[[AsyncSession, str], Awaitable[T]],
    ) -> tuple[VerifiedSession, T]:
        """:meth:`verify`, then ``load(session, subject)`` in the same read session (a
        guard's user row: one pool checkout and one read transaction per request, not
        two). ``load`` runs only for a session that passed every check."""
        if len(token) > 2048:
            raise Unauthenticated()
        try:
            claims = jwt.decode(
                token,
                self._secret(audience),
                algorithms=["HS256"],
                audience=str(audience),
                issuer=ISSUER,
                options={"require": ["exp", "iat", "aud", "iss", "sub", "sid"]},
            )
        except jwt.PyJWTError as exc:
            raise Unauthenticated() from exc
        session_id = str(claims["sid"])
        now = utcnow()
        async with self._db.reader() as db_session:
            row = await db_session.get(AuthSession, session_id)
            if (
                row is None
                or row.revoked_at is not None
                or row.audience != str(audience)
                or row.subject != str(claims["sub"])
                or row.expires_at <= now
            ):
                raise Unauthenticated()
            if (
                idle_seconds is not None
                and row.last_seen_at + dt.timedelta(seconds=idle_seconds) <= now
            ):
                raise Unauthenticated("The session timed out. Please log in again.")
            loaded = await load(db_session, row.subject)
        if now - row.last_seen_at >= _TOUCH_EVERY:
            async with self._db.transaction() as db_session:
                await db_session.execute(
                    update(AuthSession).where(AuthSession.id == session_id).values(last_seen_at=now)
                )
        via = claims.get("via")
        verified = VerifiedSession(
            session_id, row.subject, audience, via if isinstance(via, str) else None
        )
        return verified, loaded

    async def revoke(self, session_id: str) -> None:
        async with self._db.transaction() as session:
            await session.execute(
                update(AuthSession)
                .where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )

    async def revoke_subject(self, audience: TokenAudience, subject: str) -> None:
        async with self._db.transaction() as session:
            await session.execute(
                update(AuthSession)
                .where(
                    AuthSession.audience == str(audience),
                    AuthSession.subject == subject,
                    AuthSession.revoked_at.is_(None),
                )
                .values(revoked_at=utcnow())
            )
