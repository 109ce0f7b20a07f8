"""Property-based conformance: schemathesis (an independent tool) generates requests from
``/openapi.json`` for every operation and checks the served app's answers against it.

Checks: no 5xx, every status and content type documented, bodies and headers as the
schema says, and ``ignored_auth`` (an operation that declares security refuses a request
without it). Bounded (``MAX_EXAMPLES`` per operation) to keep CI within minutes.
"""

from __future__ import annotations

import asyncio
import socket

import httpx
import hypothesis
import pytest
import schemathesis
import uvicorn
from schemathesis.specs.openapi import checks

from immunet.app import create_app
from immunet.certificates import service as certificate_service
from immunet.context import build_context

MAX_EXAMPLES = 8
CHECKS = [
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
    checks.ignored_auth,
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _fuzz(spec: dict, base_url: str) -> tuple[list[str], set[str], int]:
    schema = schemathesis.openapi.from_dict(spec)
    failures: list[str] = []
    seen: set[str] = set()
    sent = 0
    with httpx.Client(base_url=base_url, timeout=10.0, follow_redirects=False) as http:
        for result in schema.get_all_operations():
            operation = result.ok()

            @hypothesis.settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(hypothesis.HealthCheck),
                phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
            )
            @hypothesis.given(case=operation.as_strategy())
            def run(case: schemathesis.Case) -> None:
                if case.headers and "Authorization" in case.headers:
                    # Generated credentials are random text (some not even a legal header
                    # value): one well-formed but invalid token stands for all of them.
                    case.headers["Authorization"] = "Bearer not-a-real-token"
                kwargs = case.as_transport_kwargs()
                wanted = ("headers", "params", "json", "content", "cookies")
                nonlocal sent
                sent += 1
                seen.add(operation.label)
                response = http.request(
                    case.method,
                    case.formatted_path,
                    **{k: v for k, v in kwargs.items() if k in wanted},
                )
                if case.formatted_path != "/readyz":  # its 503 is documented: not ready
                    assert response.status_code < 500, (case.method, case.formatted_path)
                case.validate_response(response, checks=CHECKS)

            try:
                run()
            except Exception as failure:  # collect every operation's failure, then report
                failures.append(f"{operation.label}: {type(failure).__name__}: {failure}"[:1500])
    return failures, seen, sent


async def test_the_served_app_conforms_to_its_document(settings, keyring, clock):
    # Generous limits: the fuzzer is one address and would otherwise mostly meet 429s.
    changed = settings.model_copy(update={"public_requests_per_5min": 10**6})
    context = build_context(changed, keyring=keyring)
    context.clock = clock
    # As `immunet db upgrade` leaves a deployment: with certificate signing keys (without
    # them the trust list and JWKS answer 503 by design).
    async with context.db.transaction() as session:
        await certificate_service.active_keyset(context, session)
    app = create_app(changed, context=context)
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", ws="none")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    try:
        for _ in range(200):
            if server.started:
                break
            await asyncio.sleep(0.05)
        spec = app.openapi()
        failures, seen, sent = await asyncio.to_thread(_fuzz, spec, f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        await serving
        await context.close()
    assert not failures, "\n\n".join(failures)
    operations = sum(len(item) for item in spec["paths"].values())
    assert len(seen) == operations  # not vacuous: every operation was exercised
    assert sent >= 2 * operations


pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
