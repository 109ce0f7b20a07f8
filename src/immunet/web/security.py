"""Browser-facing protections of the portal: cookies, CSRF tokens, CSP and form parsing.

* The web session is a cookie holding a token of the existing token sessions
  (``security/tokens.py``): ``__Host-`` prefix, ``HttpOnly``, ``SameSite=Strict``,
  ``Secure`` when the page is served over https (browsers also treat ``localhost`` as a
  secure context). Browsers refuse a ``__Host-`` cookie without ``Secure``, so over plain
  http elsewhere (development only: production demands an https public URL) the same
  cookie is named without the prefix.
* CSRF: a random token in its own ``__Host-`` cookie, repeated in a hidden field of every
  form and compared in constant time (double submit; the prefix stops a sibling host
  from planting the cookie), besides ``SameSite=Strict`` and an ``Origin`` check.
* Forms are parsed here, bounded (size, field count, no repeated field), into the same
  strict Pydantic models the API uses.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit

from fastapi import Request, Response
from pydantic import BaseModel, ValidationError

from immunet.errors import ApiError

CSRF_FIELD = "csrf"
# Room for the largest QR text (16 KiB) percent-encoded; every field is bounded again by
# the API model it is parsed into.
MAX_FORM_BYTES = 64 * 1024
MAX_FORM_FIELDS = 30
LANG_COOKIE = "immunet-lang"
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})

# No inline script or style anywhere: every page loads /static files of its own origin.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; manifest-src 'self'; worker-src 'self'"
)

M = TypeVar("M", bound=BaseModel)


class CsrfRejected(ApiError):
    status_code = 403
    error_code = "WEB0403"
    message = "This form has expired. Please open the page again and resend it."


class FormRejected(ApiError):
    status_code = 400
    error_code = "WEB0400"
    message = "The form could not be read. Please fill it in again."


def is_secure(request: Request) -> bool:
    host = (request.url.hostname or "").lower()
    return request.url.scheme == "https" or host in LOCAL_HOSTS


def cookie_name(request: Request, base: str) -> str:
    return f"__Host-{base}" if is_secure(request) else base


def set_cookie(
    response: Response, request: Request, base: str, value: str, *, max_age: int | None = None
) -> None:
    response.set_cookie(
        cookie_name(request, base),
        value,
        max_age=max_age,
        path="/",
        secure=is_secure(request),
        httponly=True,
        samesite="strict",
    )


def delete_cookie(response: Response, request: Request, base: str) -> None:
    response.delete_cookie(
        cookie_name(request, base),
        path="/",
        secure=is_secure(request),
        httponly=True,
        samesite="strict",
    )


def read_cookie(request: Request, base: str) -> str | None:
    value = request.cookies.get(cookie_name(request, base))
    return value if value and len(value) <= 512 else None


# -- CSRF ------------------------------------------------------------------------------------

CSRF_COOKIE = "immunet-csrf"


def csrf_token(request: Request) -> str:
    """This browser's CSRF token (a new one is set on the response by :func:`finish`)."""
    existing = read_cookie(request, CSRF_COOKIE)
    if existing is not None and len(existing) == 43:
        return existing
    token: str | None = getattr(request.state, "new_csrf", None)
    if token is None:
        token = secrets.token_urlsafe(32)
        request.state.new_csrf = token
    return token


def finish(request: Request, response: Response) -> Response:
    """Headers every page carries, and the CSRF cookie when this request minted one."""
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    response.headers["Permissions-Policy"] = "camera=(self), geolocation=(), microphone=()"
    minted = getattr(request.state, "new_csrf", None)
    if minted is not None:
        set_cookie(response, request, CSRF_COOKIE, minted)
    return response


def _same_origin(request: Request) -> bool:
    """No sign of another site: Fetch Metadata when the browser sends it, else ``Origin``.

    ``Origin: null`` is what browsers send under ``Referrer-Policy: no-referrer`` (every
    answer here carries it), so it proves nothing either way: the CSRF token decides."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return True
    parts = urlsplit(origin)
    return parts.netloc.lower() == (request.headers.get("host") or "").lower()


async def read_form(request: Request) -> dict[str, str]:
    """The posted form, with its CSRF token checked and removed; bounded in every way."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        raise FormRejected()
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise FormRejected()
    try:
        pairs = parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=bool(body),
            max_num_fields=MAX_FORM_FIELDS,
        )
    except ValueError as exc:  # bad encoding, malformed pairs or too many fields
        raise FormRejected() from exc
    form: dict[str, str] = {}
    for key, value in pairs:
        if key in form:
            raise FormRejected()
        form[key] = value
    sent = form.pop(CSRF_FIELD, "")
    expected = read_cookie(request, CSRF_COOKIE) or ""
    if (
        not expected
        or not _same_origin(request)
        or not hmac.compare_digest(sent.encode(), expected.encode())
    ):
        raise CsrfRejected()
    return form


def parse(model: type[M], data: dict[str, Any]) -> M:
    """``data`` as the API's strict model; a refusal names no value."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise FormRejected() from exc


def safe_next(target: str | None, default: str = "/") -> str:
    """A local path to return to: never another origin (``//host``, ``/\\host``, schemes)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    if any(ch in target for ch in "\r\n\\") or len(target) > 200:
        return default
    return target
