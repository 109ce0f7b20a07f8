"""``Idempotency-Key``: a retried write answers what the first one answered, and runs once.

A write service calls :func:`prepare` with the caller, the route, the header value and the
parsed request. :meth:`Idempotency.replay` (outside any transaction) returns the stored
answer of an earlier request with the same key, or raises :class:`IdempotencyMismatch`
when the same key came with a different body. Inside its own transaction the service
calls :meth:`Idempotency.claim` FIRST (it inserts the record; the primary key on
``key_digest`` makes a concurrent duplicate wait, then fail with ``IntegrityError``) and
:meth:`Idempotency.complete` with the answer before the audit append, so the answer is
stored in the same transaction as the effect. A service that catches ``IntegrityError``
calls :meth:`Idempotency.replay` again to answer the duplicate with the stored result.

Keys are stored only as keyed digests of (caller, route, key); requests only as keyed
digests of their canonical JSON. Failed requests roll back and store nothing, so a retry
of a failed request runs again.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from fastapi.responses import JSONResponse, Response
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from immunet.context import AppContext
from immunet.db.base import utcnow
from immunet.errors import BadRequest, Unprocessable
from immunet.security.keyring import Purpose
from immunet.security.models import IdempotencyRecord

HEADER = "Idempotency-Key"
_KEY_PATTERN = re.compile(r"[\x21-\x7e]{1,128}")
_PENDING = 0


class InvalidIdempotencyKey(BadRequest):
    error_code = "IDEMP0400"
    message = "The Idempotency-Key header must be 1 to 128 printable ASCII characters."


class IdempotencyMismatch(Unprocessable):
    error_code = "IDEMP0422"
    message = "This Idempotency-Key was already used with a different request."


@dataclass(frozen=True)
class StoredResponse:
    """A write's answer: status and JSON body bytes (empty for 204)."""

    status_code: int
    body: bytes
    replayed: bool = False

    @classmethod
    def of(cls, status_code: int, payload: Any = None) -> StoredResponse:
        body = b"" if payload is None else json.dumps(payload, separators=(",", ":")).encode()
        return cls(status_code, body)

    def to_response(self) -> Response:
        headers = {"Idempotent-Replayed": "true"} if self.replayed else {}
        if not self.body:
            return Response(status_code=self.status_code, headers=headers)
        return JSONResponse(json.loads(self.body), status_code=self.status_code, headers=headers)


@dataclass(frozen=True)
class Idempotency:
    ctx: AppContext
    key_digest: str
    request_digest: str

    async def replay(self) -> StoredResponse | None:
        """The stored answer for this key, None if there is none yet; mismatch → 422."""
        async with self.ctx.db.reader() as session:
            record = await session.get(IdempotencyRecord, self.key_digest)
            if record is None or record.status_code == _PENDING:
                return None
            if record.request_digest != self.request_digest:
                raise IdempotencyMismatch()
            return StoredResponse(record.status_code, bytes(record.response_body), replayed=True)

    async def claim(self, session: AsyncSession) -> None:
        """Insert the pending record: the first statement of the write's transaction."""
        session.add(
            IdempotencyRecord(
                key_digest=self.key_digest,
                request_digest=self.request_digest,
                status_code=_PENDING,
                response_body=b"",
                created_at=utcnow(),
            )
        )
        await session.flush()

    async def complete(self, session: AsyncSession, response: StoredResponse) -> None:
        await session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.key_digest == self.key_digest)
            .values(status_code=response.status_code, response_body=response.body)
        )


def canonical(payload: Any) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)


def prepare(
    ctx: AppContext, *, caller: str, route: str, key: str | None, request: Any
) -> Idempotency | None:
    """None without a header; otherwise the key's handle (bad header → 400)."""
    if key is None:
        return None
    if not _KEY_PATTERN.fullmatch(key):
        raise InvalidIdempotencyKey()
    digest = ctx.keyring.digest(Purpose.IDEMPOTENCY_KEY)
    return Idempotency(
        ctx=ctx,
        key_digest=digest(caller, route, key),
        request_digest=digest("request", route, canonical(request)),
    )
