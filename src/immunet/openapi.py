"""The OpenAPI document, completed from what the running application really does.

FastAPI's generated document knows the route shapes but not two things every client
needs: which credential a route takes, and how it fails. Both are derived here, in one
place, from the application itself, so a new route is documented correctly for free:

- ``security``: from the route's one guard (``security/access.py``, ``staff/guards.py``);
  a staff route names the permission its guard demands (OAS 3.1 role names).
- error answers: every error is ``{"errorCode", "error"}`` (``errors.py``). The statuses
  an operation can give come from its guard (401/403/429), its shape (400 for any bad
  input or unknown query parameter, 404 for a path id, 413 for a body) and the error
  classes defined in the packages its route module uses (a registry built from the
  :class:`ApiError` subclasses). FastAPI's 422 ``HTTPValidationError`` is never sent (the
  validation handler answers 400) and is removed.
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import pkgutil
import re
import sys
from collections.abc import Iterable, Iterator
from typing import Any

from immunet.errors import (
    ApiError,
    BadRequest,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    TooManyRequests,
    Unauthenticated,
)
from immunet.formats import normalize_parameters
from immunet.security.access import Audience, Guard, PublicGuard

ERROR_SCHEMA_NAME = "Error"
ERROR_SCHEMA: dict[str, Any] = {
    "title": ERROR_SCHEMA_NAME,
    "type": "object",
    "description": "Every error answer: a stable code and a human message (Co-WIN's shape).",
    "properties": {
        "errorCode": {"type": "string", "pattern": "^[A-Z]+[0-9]{4}$"},
        "error": {"type": "string"},
    },
    "required": ["errorCode", "error"],
    "additionalProperties": False,
}

# Audience → the security scheme(s) its guard checks, unless the guard names its own
# (``Guard.schemes``). Schemes are published only once a route uses them: ``x-api-key``
# (Co-WIN's partner key) is declared here but no route accepts it yet, so it is not listed.
SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "citizenBearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "A citizen token from POST /api/v2/auth/public/confirmOTP.",
    },
    "staffBearer": {
        "type": "http",
        "scheme": "bearer",
        "description": (
            "A staff token from POST /api/staff/auth/login; the operation's role name is "
            "the permission the route demands."
        ),
    },
    "partnerDPoP": {
        "type": "http",
        "scheme": "DPoP",
        "description": "A partner access token bound to a DPoP proof (RFC 9449).",
    },
    "partnerApiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
    "researchDPoP": {
        "type": "http",
        "scheme": "DPoP",
        "description": (
            "A research client's access token (client_credentials with private_key_jwt, "
            "research scopes only) bound to a DPoP proof (RFC 9449)."
        ),
    },
}
AUDIENCE_SCHEMES: dict[Audience, list[str]] = {
    Audience.PUBLIC: [],
    Audience.CITIZEN: ["citizenBearer"],
    Audience.STAFF: ["staffBearer"],
    Audience.PARTNER: ["partnerDPoP"],
    Audience.RESEARCH: ["researchDPoP"],
}

STATUS_TEXT = {
    400: "The request is not valid (a field, a query parameter, the Host or the body).",
    401: "No credential, or not a valid one for this audience.",
    403: "The credential does not allow this.",
    404: "Not found (or not visible to this caller).",
    409: "The request conflicts with the current state.",
    413: "The request body is too large.",
    415: "The body's media type is not accepted.",
    422: "Well-formed, but the rules refuse it.",
    423: "Locked.",
    429: "Too many requests; Retry-After says when to come back.",
    500: "Internal error; the message names only a request reference.",
    503: "The service is temporarily unavailable.",
}
BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def _subclasses(cls: type[ApiError]) -> Iterator[type[ApiError]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def error_registry() -> dict[str, list[type[ApiError]]]:
    """immunet module name ("immunet.booking.rules", …) → the error classes defined in it."""
    registry: dict[str, list[type[ApiError]]] = {}
    classes: set[type[ApiError]] = {ApiError, *_subclasses(ApiError)}
    for cls in classes:
        if cls.__module__.startswith("immunet."):  # a test's own error class is not the API's
            registry.setdefault(cls.__module__, []).append(cls)
    return registry


CODE = re.compile(r"[A-Z]+[0-9]{4}")


def _error_class(value: Any) -> type[ApiError] | None:
    """The error class a callable makes: the class itself, or a factory's return type."""
    if inspect.isclass(value):
        return value if issubclass(value, ApiError) else None
    if inspect.isfunction(value):
        try:
            made = inspect.signature(value, eval_str=True).return_annotation
        except (NameError, TypeError, ValueError):
            return None
        return made if inspect.isclass(made) and issubclass(made, ApiError) else None
    return None


@functools.cache
def raised_with_codes(module_name: str) -> frozenset[tuple[int, str]]:
    """(status, code) of the errors a module raises with an explicit code, read from its
    source: ``BadRequest(..., error_code="X")`` or a factory ``_bad("X", ...)``."""
    module = sys.modules.get(module_name)
    try:
        tree = ast.parse(inspect.getsource(module)) if module else None
    except (OSError, TypeError):
        tree = None
    found: set[tuple[int, str]] = set()
    for node in ast.walk(tree) if tree else ():
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
            continue
        cls = _error_class(vars(module).get(node.func.id))
        if cls is None:
            continue
        keywords = {k.arg: k.value for k in node.keywords}
        candidates = [keywords.get("error_code")]
        if inspect.isfunction(vars(module).get(node.func.id)) and node.args:
            candidates.append(node.args[0])
        status = keywords.get("status_code")
        code_status = cls.status_code
        if isinstance(status, ast.Constant) and isinstance(status.value, int):
            code_status = status.value
        for candidate in candidates:
            if isinstance(candidate, ast.Constant) and isinstance(candidate.value, str):
                if CODE.fullmatch(candidate.value):
                    found.add((int(code_status), candidate.value))
    return frozenset(found)


def modules_used(module_name: str) -> set[str]:
    """Where an endpoint's errors can come from: every module of its own package (its
    service and rules), and each module of another package its route module refers to."""
    parts = module_name.split(".")
    own = ".".join(parts[:2]) + "." if len(parts) > 2 else module_name
    if len(parts) > 2:
        # Every module of the package, imported here: the document must not depend on which
        # of them this process happened to import before (a CLI or a test imports more).
        _import_package(".".join(parts[:2]))
    package = {name for name in sys.modules if name.startswith(own)} | {module_name}
    used = set(package)
    for name in package:
        module = sys.modules.get(name)
        for value in vars(module).values() if module else ():
            owner = value.__name__ if inspect.ismodule(value) else getattr(value, "__module__", "")
            if isinstance(owner, str) and owner.startswith("immunet."):
                used.add(owner)
    return used


@functools.cache
def _import_package(package_name: str) -> None:
    package = importlib.import_module(package_name)
    for module in pkgutil.walk_packages(package.__path__, package_name + "."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)


def _guard(route: Any) -> Guard | None:
    stack = [route.dependant]
    while stack:
        for dep in stack.pop().dependencies:
            if isinstance(dep.call, Guard):
                return dep.call
            stack.append(dep)
    return None


def operation_errors(route: Any, method: str, guard: Guard | None) -> dict[int, set[str]]:
    """Status → the error codes this operation can answer with it."""
    endpoint = getattr(getattr(route, "original_route", route), "endpoint", None)
    module = getattr(endpoint, "__module__", "") or ""
    used = modules_used(module)  # imports the whole package first: before the registry
    registry = error_registry()
    errors: dict[int, set[str]] = {400: {BadRequest.error_code}, 500: {"GEN0500"}}

    def add(*classes: type[ApiError]) -> None:
        for cls in classes:
            errors.setdefault(cls.status_code, set()).add(cls.error_code)

    audience = guard.audience if guard else Audience.PUBLIC
    if audience is not Audience.PUBLIC:
        add(Unauthenticated)
    if audience is Audience.STAFF:
        # The guard's own refusals, and the misuse defences every staff action passes.
        add(Forbidden, *registry.get("immunet.staff.guards", []))
        add(*registry.get("immunet.staff.misuse", []))
    if guard is not None and (not isinstance(guard, PublicGuard) or guard.limited):
        add(TooManyRequests)
    if route.dependant.path_params:
        add(NotFound)
    if method in BODY_METHODS:
        add(PayloadTooLarge)
    for name in sorted(used - {"immunet.errors"}):
        for cls in registry.get(name, []):
            # The staff package's refusals come from its guard: only staff routes (and the
            # staff package's own public login) can give them.
            if name.startswith("immunet.staff.") and audience is not Audience.STAFF:
                if not module.startswith("immunet.staff."):
                    continue
            add(cls)
        for status, code in raised_with_codes(name):
            errors.setdefault(status, set()).add(code)
    errors.pop(405, None)  # a property of the path, not the operation (Allow header)
    return errors


def _flatten(routes: Iterable[Any]) -> list[Any]:
    flat: list[Any] = []
    for route in routes:
        if hasattr(route, "effective_route_contexts"):
            flat.extend(route.effective_route_contexts())
        else:
            flat.append(route)
    return flat


def complete(schema: dict[str, Any], routes: Iterable[Any]) -> dict[str, Any]:
    """Add security and the real error answers to FastAPI's document (in place)."""
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas[ERROR_SCHEMA_NAME] = ERROR_SCHEMA
    used_schemes: set[str] = set()
    ref = {"$ref": f"#/components/schemas/{ERROR_SCHEMA_NAME}"}
    for route in _flatten(routes):
        dependant = getattr(route, "dependant", None)
        path = getattr(route, "path_format", None)
        if dependant is None or path not in schema.get("paths", {}):
            continue
        guard = _guard(route)
        for method in sorted(getattr(route, "methods", set()) - {"HEAD", "OPTIONS"}):
            operation = schema["paths"][path].get(method.lower())
            if operation is None:
                continue
            normalize_parameters(operation)
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)  # never sent: validation failures answer 400
            for status, codes in sorted(operation_errors(route, method, guard).items()):
                entry: dict[str, Any] = {
                    "description": f"{STATUS_TEXT.get(status, 'Error.')} "
                    f"Codes: {', '.join(sorted(codes))}.",
                    "content": {"application/json": {"schema": ref}},
                    "x-error-codes": sorted(codes),
                }
                if status == 429:
                    entry["headers"] = {
                        "Retry-After": {
                            "description": "Seconds to wait.",
                            "schema": {"type": "integer", "minimum": 1},
                        }
                    }
                declared = responses.setdefault(str(status), entry)
                if declared is not entry:  # a route's own `responses=` note: keep its words
                    words = declared.get("description", "")
                    entry["description"] = f"{words} {entry['description']}"
                    declared.update(entry)
            audience = guard.audience if guard else Audience.PUBLIC
            names = AUDIENCE_SCHEMES[audience]
            if guard is not None and guard.schemes is not None:
                names = list(guard.schemes)
                if not names and audience is Audience.PARTNER:
                    operation["x-client-authentication"] = (
                        "private_key_jwt (RFC 7523): client_id, client_assertion_type and "
                        "client_assertion in the form body"
                    )
            roles = [guard.permission] if guard is not None and guard.permission else []
            # Alternatives (a partner may use either scheme): one requirement object each.
            operation["security"] = [{name: roles} for name in names]
            operation["x-audience"] = audience.value
            used_schemes.update(names)
    components["securitySchemes"] = {n: SECURITY_SCHEMES[n] for n in sorted(used_schemes)}
    return schema
