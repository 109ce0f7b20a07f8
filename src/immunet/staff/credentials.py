"""Staff credentials: argon2id password hashes and RFC 6238 TOTP codes.

Hashing is CPU- and memory-bound, so it runs in a worker thread. Time cost 3 is fixed;
memory comes from ``IMMUNET_STAFF_PASSWORD_MEMORY_KIB`` (64 MiB by default). An unknown
username is checked against a dummy hash with the same parameters, so it costs the same.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
import time
from functools import lru_cache

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

ARGON2_TIME_COST = 3
ARGON2_PARALLELISM = 4
TOTP_PERIOD = 30
TOTP_DIGITS = 6
TOTP_ISSUER = "immunet"
ONE_TIME_PASSWORD_BYTES = 18  # 24 URL-safe characters, 144 bits


@lru_cache(maxsize=8)
def password_hasher(memory_kib: int) -> PasswordHasher:
    return PasswordHasher(
        time_cost=ARGON2_TIME_COST, memory_cost=memory_kib, parallelism=ARGON2_PARALLELISM
    )


@lru_cache(maxsize=8)
def _dummy_hash(memory_kib: int) -> str:
    return password_hasher(memory_kib).hash(secrets.token_urlsafe(24))


def new_one_time_password() -> str:
    return secrets.token_urlsafe(ONE_TIME_PASSWORD_BYTES)


async def hash_password(password: str, *, memory_kib: int) -> str:
    return await asyncio.to_thread(password_hasher(memory_kib).hash, password)


def _verify(memory_kib: int, stored_hash: str | None, password: str) -> bool:
    hasher = password_hasher(memory_kib)
    target = stored_hash if stored_hash is not None else _dummy_hash(memory_kib)
    ok: bool
    try:
        ok = hasher.verify(target, password)
    except (VerificationError, InvalidHashError):
        ok = False
    return ok and stored_hash is not None


async def verify_password(stored_hash: str | None, password: str, *, memory_kib: int) -> bool:
    """Check ``password``; with no stored hash, spend the same work and answer False."""
    return await asyncio.to_thread(_verify, memory_kib, stored_hash, password)


def new_totp_secret() -> str:
    return pyotp.random_base32()


def otpauth_uri(secret: str, username: str) -> str:
    uri: str = pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_PERIOD).provisioning_uri(
        name=username, issuer_name=TOTP_ISSUER
    )
    return uri


def totp_now(secret: str, at: float | None = None) -> str:
    code: str = pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_PERIOD).at(
        int(at if at is not None else time.time())
    )
    return code


def matching_totp_step(secret: str, code: str, *, now: float | None = None) -> int | None:
    """The time step (±1, as ``valid_window=1``) whose code equals ``code``, or None.

    All three candidates are always computed and compared in constant time.
    """
    totp = pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_PERIOD)
    current = int(now if now is not None else time.time()) // TOTP_PERIOD
    candidate = code.encode("ascii", "replace")
    found: int | None = None
    for step in (current - 1, current, current + 1):
        expected = totp.generate_otp(step).encode("ascii")
        if hmac.compare_digest(expected, candidate) and found is None:
            found = step
    return found
