"""HTTP plumbing shared by every route: request IDs, body limits, errors, security headers."""

from __future__ import annotations

import json
import logging
import secrets
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from immunet.errors import ApiError, error_body
from immunet.security.access import client_address

log = logging.getLogger("immunet.http")

_STATUS_CODES = {
    400: ("GEN0400", "The request is not valid."),
    401: ("USRAUT0001", "Authentication is required or the token is not valid."),
    403: ("USRAUT0003", "You are not allowed to do this."),
    404: ("GEN0404", "Not found."),
    405: ("GEN0405", "Method not allowed."),
    406: ("GEN0406", "Not acceptable."),
    413: ("GEN0413", "The request body is too large."),
    415: ("GEN0415", "Unsupported media type."),
    422: ("GEN0422", "The request did not pass validation."),
    429: ("GEN0429", "Too many requests. Please try again later."),
}


def json_depth_exceeds(body: bytes, limit: int) -> bool:
    """True when brackets nest deeper than ``limit``, without parsing (strings skipped)."""
    depth = 0
    in_string = False
    escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return False


async def _send_error(send: Send, status: int, code: str, message: str) -> None:
    payload = json.dumps(error_body(code, message)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class RequestGuardMiddleware:
    """Assigns request IDs, resolves the client address, bounds and pre-checks bodies.

    The whole body is read (up to the limit) before the application sees it, so an
    oversized or absurdly nested body is answered 413/400 without being parsed.
    """

    def __init__(
        self, app: ASGIApp, *, max_body: int, max_depth: int, trusted_proxies: list[str]
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.max_depth = max_depth
        self.trusted_proxies = trusted_proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        request_id = secrets.token_hex(8)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        state["client_address"] = client_address(request, self.trusted_proxies)

        declared = request.headers.get("content-length")
        if declared is not None:
            try:
                if int(declared) > self.max_body:
                    await _send_error(send, 413, *_STATUS_CODES[413])
                    return
            except ValueError:
                await _send_error(send, 400, *_STATUS_CODES[400])
                return

        chunks: list[bytes] = []
        size = 0
        if scope.get("method") in ("POST", "PUT", "PATCH", "DELETE"):
            more = True
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > self.max_body:
                    await _send_error(send, 413, *_STATUS_CODES[413])
                    return
                chunks.append(chunk)
                more = message.get("more_body", False)
            body = b"".join(chunks)
            if json_depth_exceeds(body, self.max_depth):
                await _send_error(send, 400, "GEN0400", "The request body is nested too deeply.")
                return
            replayed = False

            async def replay() -> Message:
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            downstream_receive: Receive = replay
        else:
            downstream_receive = receive

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                headers.append((b"x-content-type-options", b"nosniff"))
                headers.append((b"referrer-policy", b"no-referrer"))
                headers.append((b"x-frame-options", b"DENY"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, downstream_receive, send_with_headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        # A refusal may carry what must be recorded once the refused transaction has rolled
        # back (e.g. a quota breach alert or a suspension: staff/misuse.py).
        followup = getattr(exc, "followup", None)
        if followup is not None:
            try:
                await followup()
            except Exception as failure:  # the refusal stands; the record is best-effort
                log.error("refusal follow-up failed: %s", type(failure).__name__)
        return JSONResponse(exc.body(), status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # Name the fields at fault, never echo the values sent.
        fields = sorted(
            {".".join(str(p) for p in err.get("loc", ())[1:]) or "body" for err in exc.errors()}
        )
        message = "Invalid or unexpected fields: " + ", ".join(fields[:10])
        return JSONResponse(error_body("GEN0400", message), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code, message = _STATUS_CODES.get(exc.status_code, (f"GEN{exc.status_code:04d}", "Error."))
        headers: dict[str, Any] = dict(exc.headers or {})
        return JSONResponse(error_body(code, message), status_code=exc.status_code, headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        request_id = getattr(request.state, "request_id", "-")
        # The exception type only: messages may carry values from the request.
        log.error("unhandled %s in request %s", type(exc).__name__, request_id)
        return JSONResponse(
            error_body("GEN0500", f"Internal error. Reference: {request_id}"), status_code=500
        )
