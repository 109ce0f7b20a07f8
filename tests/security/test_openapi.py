"""The OpenAPI document describes the API that runs (continuous assurance §1).

Checked with libraries we did not write: ``openapi-spec-validator`` validates the
document, and ``jsonschema`` checks real answers of the running app against the schemas
the document gives for that operation and status.
"""

from __future__ import annotations

import re
from typing import Any

import jsonschema
import pytest
from openapi_spec_validator import validate

from immunet.app import create_app
from immunet.certificates import service as certificate_service
from immunet.settings import Settings
from tests.conftest import bearer, login
from tests.security.test_route_audiences import EXPECTED, _api_routes, _concrete


def _spec() -> dict[str, Any]:
    return create_app(Settings(env="test", sms_backend="console")).openapi()


SPEC = _spec()
OPERATIONS = sorted(
    (method.upper(), path)
    for path, item in SPEC["paths"].items()
    for method in item
    if method in {"get", "post", "patch", "put", "delete"}
)


def _operation(method: str, path: str) -> dict[str, Any]:
    return SPEC["paths"][path][method.lower()]


def _check_answer(method: str, path: str, response: Any) -> None:
    """The status is documented for the operation and the body fits its schema."""
    responses = _operation(method, path)["responses"]
    status = str(response.status_code)
    assert status in responses, f"{method} {path} answered {status}, not documented"
    content = responses[status].get("content", {}).get("application/json")
    if content is None:
        return
    schema = dict(content["schema"])
    schema["components"] = SPEC["components"]  # so "#/components/..." resolves
    jsonschema.Draft202012Validator(schema).validate(response.json())
    if "x-error-codes" in responses[status]:
        codes = responses[status]["x-error-codes"]
        assert response.json()["errorCode"] in codes, (method, path, response.json())


def test_the_document_is_valid_openapi():
    validate(SPEC)
    assert SPEC["openapi"].startswith("3.1")


def test_the_document_served_is_the_one_validated():
    import asyncio

    import httpx

    async def fetch() -> dict[str, Any]:
        app = create_app(Settings(env="test", sms_backend="console"))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            return (await c.get("/openapi.json")).json()

    assert asyncio.run(fetch()) == SPEC


def test_every_operation_is_documented():
    # The portal's pages (immunet/web) are HTML, outside the API's document.
    served = {(m, r.path_format) for m, r in _api_routes() if r.include_in_schema}
    assert served == set(OPERATIONS)


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_security_matches_the_route_audience(method, path):
    expected = EXPECTED[(method, path)]
    operation = _operation(method, path)
    if expected == "public":
        assert operation["security"] == []
    elif expected == "citizen":
        assert operation["security"] == [{"citizenBearer": []}]
        assert {"401", "429"} <= set(operation["responses"])
    elif expected == "partner" and path.startswith("/oauth/"):
        # The client proves its key in the form body (private_key_jwt): no header scheme.
        assert operation["security"] == []
        assert operation["x-client-authentication"].startswith("private_key_jwt")
        assert {"401", "429"} <= set(operation["responses"])
    elif expected == "partner" and path.startswith("/api/v2/auth/"):
        # Co-WIN's partner login: the app's x-api-key (never a person's credential).
        assert operation["security"] == [{"partnerApiKey": []}]
        assert {"401", "429"} <= set(operation["responses"])
    elif expected == "research":
        # A research client's DPoP-bound client-credentials token with the research scope.
        scope = {
            "aggregates": "research.aggregates",
            "dp-counts": "research.dp",
            "budget": "research.dp",
            "extracts": "research.extracts",
        }
        assert operation["security"] == [{"researchDPoP": [scope[path.rsplit("/", 1)[1]]]}]
        assert {"401", "403", "429"} <= set(operation["responses"])
    elif expected == "partner":
        # A DPoP-bound token carrying the operation's scope.
        scope = {
            "Immunization": "immunization.read",
            "certificate": "certificate.read",
            "pdf": "certificate.read",
            "schedule": "appointment.write",
            "reschedule": "appointment.write",
            "cancel": "appointment.write",
        }
        assert operation["security"] == [{"partnerDPoP": [scope[path.rsplit("/", 1)[1]]]}]
        assert {"401", "429"} <= set(operation["responses"])
    else:
        permission = expected.removeprefix("staff:")
        assert operation["security"] == [{"staffBearer": [permission]}]
        assert {"401", "403", "429"} <= set(operation["responses"])
    for requirement in operation["security"]:
        assert set(requirement) <= set(SPEC["components"]["securitySchemes"])


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_errors_are_documented_with_the_real_shape(method, path):
    responses = _operation(method, path)["responses"]
    assert "422" not in responses or responses["422"]["x-error-codes"]
    assert "400" in responses
    for status, response in responses.items():
        if (method, path, status) == ("GET", "/readyz", "503"):
            continue  # readiness answers its checks, not an error
        if int(status) >= 400:
            schema = response["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/Error"}, (status, schema)
            assert all(re.fullmatch(r"[A-Z]+[0-9]{4}", c) for c in response["x-error-codes"])


def test_the_validation_error_fastapi_never_sends_is_gone():
    text = repr(SPEC)
    assert "HTTPValidationError" not in text
    assert "ValidationError" not in SPEC["components"]["schemas"]


# -- real answers against the document ----------------------------------------------------


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
async def test_anonymous_answers_match_the_document(client, method, path):
    response = await client.request(method, _concrete(path), json={} if method != "GET" else None)
    _check_answer(method, path, response)


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
async def test_unknown_query_parameter_answers_match_the_document(client, method, path):
    response = await client.request(method, _concrete(path) + "?zz_unknown=1")
    assert response.status_code in (400, 401)
    _check_answer(method, path, response)


PUBLIC_READS = [
    "/healthz",
    "/api/v2/admin/location/states",
    "/api/v2/admin/location/districts/1",
    "/api/v2/registration/beneficiary/genders",
    "/api/v2/registration/beneficiary/idTypes",
    "/.well-known/jwks.json",
    "/api/v2/certificates/trust-list",
    "/api/v2/appointment/sessions/public/findByPin?pincode=110001&date=01-12-2026",
    "/api/v2/appointment/sessions/public/calendarByPin?pincode=110001&date=01-12-2026",
]


@pytest.mark.parametrize("url", PUBLIC_READS)
async def test_public_answers_match_the_document(client, ctx, url):
    # As `immunet db upgrade` leaves a deployment: with certificate signing keys.
    async with ctx.db.transaction() as session:
        await certificate_service.active_keyset(ctx, session)
    response = await client.get(url)
    assert response.status_code == 200, response.text
    path = url.split("?")[0].replace("/districts/1", "/districts/{state_id}")
    _check_answer("GET", path, response)


async def test_citizen_answers_match_the_document(client, outbox):
    token = await login(client, outbox, "9876543210")
    response = await client.get("/api/v2/appointment/beneficiaries", headers=bearer(token))
    assert response.status_code == 200
    _check_answer("GET", "/api/v2/appointment/beneficiaries", response)
    response = await client.get("/api/v2/me/data-summary", headers=bearer(token))
    _check_answer("GET", "/api/v2/me/data-summary", response)


async def test_a_word_is_not_a_centre_id(client):
    """``PATCH /api/staff/centers/import`` was routed to ``{center_id}`` (a 401, then a 400)."""
    response = await client.patch("/api/staff/centers/import", json={})
    assert response.status_code == 405
    assert {m.strip() for m in response.headers["allow"].split(",")} == {"POST"}
    response = await client.patch("/api/staff/centers/12", json={})
    assert response.status_code == 401


def test_the_document_does_not_depend_on_what_the_process_imported():
    """A fresh process that imports only the app serves the same document as one that has
    imported every module (a CLI, the portal's catalogue builder, a test run): the error
    codes come from whole packages, not from whatever ``sys.modules`` held."""
    import importlib
    import json
    import pkgutil
    import subprocess
    import sys

    import immunet

    fresh = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json; from immunet.app import create_app; from immunet.settings import"
            " Settings; print(json.dumps(create_app(Settings(env='test',"
            " sms_backend='console')).openapi()))",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    for module in pkgutil.walk_packages(immunet.__path__, "immunet."):
        if ".migrations" not in module.name and not module.name.endswith("__main__"):
            importlib.import_module(module.name)
    everything = create_app(Settings(env="test", sms_backend="console")).openapi()
    assert json.loads(fresh.stdout) == json.loads(json.dumps(everything))
