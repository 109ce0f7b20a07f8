"""HTTP plumbing shared by every route: request IDs, Host and body checks, errors, security
headers, the cache policy, unknown query parameters and the access log."""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from immunet.errors import ApiError, BadRequest, error_body
from immunet.observability.metrics import DB_UNAVAILABLE, HTTP_REQUESTS, REDIS_ERRORS
from immunet.security.access import Audience, Guard, client_address

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


def _error_payload(code: str, message: str) -> bytes:
    return json.dumps(error_body(code, message), separators=(",", ":")).encode()


async def _send_error(send: Send, status: int, code: str, message: str) -> None:
    payload = _error_payload(code, message)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


# Methods a route may serve; anything else (TRACE, CONNECT, made-up tokens), and any of
# these no route serves, is answered 405 at the edge. Made-up method tokens are logged as "-"
# (they are the caller's free text).
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
LOGGED_METHODS = KNOWN_METHODS | {"TRACE", "CONNECT"}
HSTS_VALUE = b"max-age=63072000; includeSubDomains"

access_log = logging.getLogger("immunet.access")


@dataclass(frozen=True)
class GuardOptions:
    max_body: int
    max_depth: int
    trusted_proxies: list[str]
    # Host names (no port) a request may name; anything else is refused before routing, so
    # no answer (redirect, absolute URL) is ever built from a caller-chosen Host.
    allowed_hosts: frozenset[str]
    hsts: bool
    # Paths that accept a larger body (an image of a QR code for /verify), and their limit.
    upload_limits: Mapping[str, int] = field(default_factory=dict)


def request_host(raw: str | None) -> str | None:
    """The host name of a ``Host`` header, lower-case, without port; None when malformed."""
    if not raw or any(ch in raw for ch in "/\\?#@ "):
        return None
    try:
        parsed = urlsplit("//" + raw)
        parsed.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        return None
    return parsed.hostname or None


def route_audience(route: Any) -> Audience | None:
    """The audience of the route's one guard (None for documentation routes)."""
    dependant = getattr(route, "dependant", None)
    stack = [dependant] if dependant is not None else []
    while stack:
        current = stack.pop()
        for dep in current.dependencies:
            if isinstance(dep.call, Guard):
                return dep.call.audience
            stack.append(dep)
    return None


def declared_query_parameters(route: Any) -> frozenset[str]:
    """Every query parameter a route (its endpoint and all its dependencies) declares."""
    dependant = getattr(route, "dependant", None)
    names: set[str] = set()
    stack = [dependant] if dependant is not None else []
    while stack:
        current = stack.pop()
        for param in current.query_params:
            annotation = param.field_info.annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                # A query-parameter model: its fields are the parameters.
                names.update(f.alias or n for n, f in annotation.model_fields.items())
            else:
                names.add(param.alias)
        stack.extend(current.dependencies)
    return frozenset(names)


# Keyed by id() (routes are unhashable: Starlette defines __eq__), with a weak reference to
# tell a route from a later one that got the same id; applications come and go in tests.
_DECLARED: dict[int, tuple[weakref.ref[Any], frozenset[str]]] = {}


async def reject_unknown_query_parameters(request: Request) -> None:
    """App-wide dependency: a query parameter the route does not declare is a 400.

    Identifiers must never travel in URLs (they end up in logs, proxies and browser
    history); a route that ignored ``?aadhaar=...`` would invite exactly that. ``async``
    although it never waits: FastAPI hands every plain ``def`` dependency to a worker
    thread, a thread handoff on every request for a few dictionary lookups.
    """
    route = request.scope.get("route")
    if route is None:
        return
    cached = _DECLARED.get(id(route))
    if cached is None or cached[0]() is not route:
        cached = _DECLARED[id(route)] = (weakref.ref(route), declared_query_parameters(route))
    declared = cached[1]
    # The names are not echoed: a name can carry data as well as a value can.
    if any(key not in declared for key in request.query_params):
        raise BadRequest(
            "The request has query parameters this route does not accept.", error_code="GEN0400"
        )


class RequestGuardMiddleware:
    """The outermost layer: request IDs, client address, Host check, body pre-checks,
    the headers every answer carries, the cache policy and the access log.

    It wraps the whole application (ServerErrorMiddleware included, see
    :class:`GuardedFastAPI`), and its own early answers go through the same ``send`` wrapper
    as the application's, so no answer from any layer misses ``X-Request-ID`` or ``nosniff``.
    The whole body is read (up to the limit) before the application sees it, so an
    oversized or absurdly nested body is answered 413/400 without being parsed.
    """

    def __init__(self, app: ASGIApp, options: GuardOptions) -> None:
        self.app = app
        self.options = options
        # Keyed by id(): the routes live as long as the application this layer wraps.
        self._audiences: dict[int, Audience | None] = {}
        self._allow: list[tuple[re.Pattern[str], frozenset[str]]] | None = None
        self._served: frozenset[str] | None = None

    # -- route tables, built on first use from the application's routes ------------------

    def _route_table(self, scope: Scope) -> list[tuple[re.Pattern[str], frozenset[str]]]:
        if self._allow is None:
            table: list[tuple[re.Pattern[str], frozenset[str]]] = []
            application = scope.get("app")
            for route in _flatten(getattr(application, "routes", [])):
                methods = getattr(route, "methods", None) or frozenset({"GET", "HEAD"})
                path = getattr(route, "path", None)
                if path:
                    table.append((compile_path(path)[0], frozenset(methods)))
            self._allow = table
        return self._allow

    def _allowed_methods(self, scope: Scope) -> list[str]:
        table = self._route_table(scope)
        path = scope.get("path", "")
        matched = [methods for regex, methods in table if regex.match(path)]
        served = matched or [methods for _regex, methods in table]
        return sorted(set().union(*served)) if served else ["GET"]

    def _audience(self, route: Any) -> Audience | None:
        key = id(route)
        if key not in self._audiences:
            self._audiences[key] = route_audience(route)
        return self._audiences[key]

    # -- the request ---------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started_at = time.perf_counter()
        request = Request(scope)
        request_id = secrets.token_hex(8)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        state["client_address"] = client_address(request, self.options.trusted_proxies)
        status = 0

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message["headers"] = self._response_headers(
                    scope, status, list(message.get("headers", [])), request_id
                )
            await send(message)

        try:
            await self._handle(scope, receive, send_with_headers, request)
        except Exception as exc:
            # ServerErrorMiddleware has answered 500 already (or the failure came before
            # any answer); the traceback is not logged, as exception texts may hold values
            # from the request. The type and where it was raised are enough to find it.
            if dependency_outage(exc) is None:  # an outage was answered 503 and logged
                where = _raised_at(exc)
                access_log.getChild("error").error(
                    "unhandled %s at %s in request %s", type(exc).__name__, where, request_id
                )
            if status == 0:
                await _send_error(
                    send_with_headers,
                    500,
                    "GEN0500",
                    f"Internal error. Reference: {request_id}",
                )
        finally:
            self._log(scope, status, started_at, request_id)

    async def _handle(self, scope: Scope, receive: Receive, send: Send, request: Request) -> None:
        method = scope.get("method", "")
        if method not in KNOWN_METHODS or method not in self._served_methods(scope):
            await _send_error(send, 405, *_STATUS_CODES[405])
            return
        host = request_host(request.headers.get("host"))
        if host is None or host not in self.options.allowed_hosts:
            await _send_error(send, 400, "GEN0400", "The Host header names no host served here.")
            return

        max_body = self.options.upload_limits.get(scope.get("path", ""), self.options.max_body)
        declared = request.headers.get("content-length")
        if declared is not None:
            try:
                if int(declared) > max_body:
                    await _send_error(send, 413, *_STATUS_CODES[413])
                    return
            except ValueError:
                await _send_error(send, 400, *_STATUS_CODES[400])
                return

        if method not in ("POST", "PUT", "PATCH", "DELETE"):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > max_body:
                await _send_error(send, 413, *_STATUS_CODES[413])
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        # An image is not JSON (its bytes may hold any number of brackets) and is bounded by size.
        if not media.startswith("image/") and json_depth_exceeds(body, self.options.max_depth):
            await _send_error(send, 400, "GEN0400", "The request body is nested too deeply.")
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _served_methods(self, scope: Scope) -> frozenset[str]:
        if self._served is None:
            table = self._route_table(scope)
            self._served = frozenset().union(*(methods for _regex, methods in table))
        return self._served

    def _response_headers(
        self,
        scope: Scope,
        status: int,
        headers: list[tuple[bytes, bytes]],
        request_id: str,
    ) -> list[tuple[bytes, bytes]]:
        route = scope.get("route")
        audience = self._audience(route) if route is not None else None
        own_cache = any(name.lower() == b"cache-control" for name, _ in headers)
        # Personal data and tokens must never sit in a shared or browser cache: every
        # answer is no-store unless a public route chose its own caching (calendars, trust
        # lists with ETag). A citizen or staff route cannot opt out.
        keep_cache = own_cache and audience is Audience.PUBLIC
        dropped = {b"x-request-id", b"x-content-type-options", b"referrer-policy"}
        dropped |= {b"x-frame-options", b"strict-transport-security"}
        if not keep_cache:
            dropped.add(b"cache-control")
        if status == 405:
            dropped.add(b"allow")
        out = [(name, value) for name, value in headers if name.lower() not in dropped]
        if not keep_cache:
            out.append((b"cache-control", b"no-store"))
        if status == 405:
            # Every method the path serves, whichever of its routes answered (Starlette
            # names only the first partial match).
            out.append((b"allow", ", ".join(self._allowed_methods(scope)).encode()))
        out.append((b"x-request-id", request_id.encode()))
        out.append((b"x-content-type-options", b"nosniff"))
        out.append((b"referrer-policy", b"no-referrer"))
        out.append((b"x-frame-options", b"DENY"))
        if self.options.hsts:
            out.append((b"strict-transport-security", HSTS_VALUE))
        return out

    def _log(self, scope: Scope, status: int, started_at: float, request_id: str) -> None:
        # The route template, never the path or query string: both can carry identifiers.
        route = scope.get("route")
        template = getattr(route, "path", None) or "-"
        method = scope.get("method", "")
        shown = method if method in LOGGED_METHODS else "-"
        elapsed = time.perf_counter() - started_at
        elapsed_ms = elapsed * 1000
        # An opaque account or staff reference set by the route's guard, never a name.
        actor = scope.get("state", {}).get("actor")
        # Status "-": the client went away before any answer.
        access_log.info(
            "%s %s %s %.1fms %s",
            shown,
            template,
            status or "-",
            elapsed_ms,
            request_id,
            extra={
                "request_id": request_id,
                "method": shown,
                "route": template,
                "status": status or None,
                "duration_ms": round(elapsed_ms, 1),
                "actor": actor,
            },
        )
        HTTP_REQUESTS.labels(shown, template, str(status or "-")).observe(elapsed)


def _raised_at(exc: BaseException) -> str:
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return "-"
    return f"{tb.tb_frame.f_code.co_filename.rsplit('/', 1)[-1]}:{tb.tb_lineno}"


def _flatten(routes: list[Any]) -> list[Any]:
    """Every served route: FastAPI may keep included routers as lazy branches."""
    flat: list[Any] = []
    for route in routes:
        if hasattr(route, "effective_route_contexts"):
            flat.extend(route.effective_route_contexts())
        else:
            flat.append(route)
    return flat


class GuardedFastAPI(FastAPI):
    """FastAPI with :class:`RequestGuardMiddleware` outside every other layer.

    ``add_middleware`` would place it inside ServerErrorMiddleware, whose 500 answers
    would then miss the headers every answer must carry.
    """

    request_guard: GuardOptions | None = None

    def openapi(self) -> dict[str, Any]:
        """FastAPI's document plus security and error answers derived from the routes."""
        if self.openapi_schema is None:
            from immunet.openapi import complete

            self.openapi_schema = complete(super().openapi(), self.routes)
        return self.openapi_schema

    def build_middleware_stack(self) -> ASGIApp:
        inner = super().build_middleware_stack()
        if self.request_guard is None:
            return inner
        return RequestGuardMiddleware(inner, self.request_guard)


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
        outage = dependency_outage(exc)
        if outage is not None:
            # A dependency is down or refusing writes: nothing was done (the transaction
            # never committed; an OTP store that cannot be reached accepts no OTP), so the
            # client may retry the same request, with its idempotency key, later.
            if outage == "redis":
                REDIS_ERRORS.labels("request").inc()
            else:
                DB_UNAVAILABLE.inc()
            log.warning("%s unavailable (%s) in request %s", outage, type(exc).__name__, request_id)
            return JSONResponse(
                error_body("GEN0503", "The service is temporarily unavailable. Please retry."),
                status_code=503,
                headers={"Retry-After": str(OUTAGE_RETRY_AFTER_SECONDS)},
            )
        # The exception type only: messages may carry values from the request.
        log.error("unhandled %s in request %s", type(exc).__name__, request_id)
        return JSONResponse(
            error_body("GEN0500", f"Internal error. Reference: {request_id}"), status_code=500
        )


OUTAGE_RETRY_AFTER_SECONDS = 5
# SQLSTATE classes of a database that cannot serve now: connection exceptions (08),
# insufficient resources such as a full disk (53), operator intervention such as a
# shutdown or a standby in recovery (57), and a read-only transaction on a demoted
# primary (25006).
_UNAVAILABLE_SQLSTATE_CLASSES = ("08", "53", "57")
_READ_ONLY_SQLSTATE = "25006"


def dependency_outage(exc: BaseException) -> str | None:
    """ "redis" or "database" when ``exc`` means that dependency cannot serve now; else None."""
    from redis.exceptions import RedisError
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, RedisError):
            return "redis"
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return "database"
        if isinstance(current, PoolTimeout):  # every pooled connection busy for too long
            return "database"
        state = getattr(current, "sqlstate", None) or getattr(current, "pgcode", None)
        if isinstance(state, str) and (
            state[:2] in _UNAVAILABLE_SQLSTATE_CLASSES or state == _READ_ONLY_SQLSTATE
        ):
            return "database"
        if isinstance(current, (ConnectionError, TimeoutError)) or (
            isinstance(current, OSError) and current.errno is not None
        ):
            return "database"
        current = getattr(current, "orig", None) or current.__cause__ or current.__context__
    return None
