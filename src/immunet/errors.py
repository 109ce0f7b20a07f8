"""Errors as Co-WIN shapes them: ``{"errorCode": "...", "error": "human message"}``.

Every error the API answers is an :class:`ApiError` with a stable code. Handlers turn
framework errors (validation, unknown route, wrong method) into the same shape, and an
unexpected exception into a bare 500 that names only the request ID.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    status_code: int = 400
    error_code: str = "GEN0400"
    message: str = "The request could not be processed."

    def __init__(
        self,
        message: str | None = None,
        *,
        error_code: str | None = None,
        status_code: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or type(self).message
        if error_code:
            self.error_code = error_code
        if status_code:
            self.status_code = status_code
        self.headers = headers or {}
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        return {"errorCode": self.error_code, "error": self.message}


class BadRequest(ApiError):
    status_code = 400
    error_code = "GEN0400"
    message = "The request is not valid."


class ValidationFailed(ApiError):
    status_code = 400
    error_code = "GEN0422"
    message = "The request did not pass validation."


class Unauthenticated(ApiError):
    status_code = 401
    error_code = "USRAUT0001"
    message = "Authentication is required or the token is not valid."


class Forbidden(ApiError):
    status_code = 403
    error_code = "USRAUT0003"
    message = "You are not allowed to do this."


class NotFound(ApiError):
    status_code = 404
    error_code = "GEN0404"
    message = "Not found."


class MethodNotAllowed(ApiError):
    status_code = 405
    error_code = "GEN0405"
    message = "Method not allowed."


class Conflict(ApiError):
    status_code = 409
    error_code = "GEN0409"
    message = "The request conflicts with the current state."


class PayloadTooLarge(ApiError):
    status_code = 413
    error_code = "GEN0413"
    message = "The request body is too large."


class Unprocessable(ApiError):
    status_code = 422
    error_code = "GEN0422"
    message = "The request cannot be carried out."


class TooManyRequests(ApiError):
    status_code = 429
    error_code = "GEN0429"
    message = "Too many requests. Please try again later."

    def __init__(self, retry_after: int, message: str | None = None, **kwargs: Any) -> None:
        headers = {"Retry-After": str(max(1, int(retry_after)))}
        super().__init__(message, headers=headers, **kwargs)
        self.retry_after = max(1, int(retry_after))


class ServiceUnavailable(ApiError):
    status_code = 503
    error_code = "GEN0503"
    message = "The service is temporarily unavailable."


def error_body(error_code: str, message: str) -> dict[str, str]:
    return {"errorCode": error_code, "error": message}
