"""Property-based conformance: schemathesis (an independent tool) generates requests from
``/openapi.json`` for every operation and checks the served app's answers against it.

Checks: no 5xx, every status and content type documented, bodies and headers as the
schema says, and ``ignored_auth`` (an operation that declares security refuses a request
without it). Three phases, each bounded to keep CI within minutes:

* anonymous: every operation, ``MAX_EXAMPLES`` cases each;
* as a citizen and as each staff role: the operations whose ``security`` names that caller's
  scheme, ``ROLE_EXAMPLES`` cases each, with a real token of that caller;
* as a partner app: the ``/partner/v1`` operations (declared ``partnerDPoP``) with an access
  token obtained once through the real flow (PAR, the citizen's OTP consent, code, token)
  and, per generated case, a fresh DPoP proof signed by the bound key (schemathesis' auth
  hook: ``get`` gives the token, ``set`` adds ``Authorization: DPoP`` and the proof);
* stateful: schemathesis' state machine over the links it infers from the document (a
  response's values feed the next request), as a citizen and as a national admin.

Rate limits a single fuzzing address trips are raised for this run only (settings);
accepted exceptions, each with its reason, are in ``schemathesis_exceptions.toml`` (none).
"""

from __future__ import annotations

import asyncio
import socket
import tomllib
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import hypothesis
import hypothesis.stateful
import pytest
import schemathesis
import uvicorn
from schemathesis.specs.openapi import checks

from immunet.app import create_app
from immunet.certificates import service as certificate_service
from immunet.context import build_context
from immunet.people.identifiers import normalize_mobile
from tests.factories.certificates import record_dose
from tests.factories.partners import REDIRECT_URI, OAuthClient, register_partner
from tests.factories.sessions import add_beneficiary, make_center, make_citizen
from tests.factories.staff import make_staff
from tests.web.portal import open_browser

MAX_EXAMPLES = 6
ROLE_EXAMPLES = 2
PARTNER_EXAMPLES = 10  # two operations only: more cases each, still a second or two
STATEFUL_EXAMPLES = 6
STATEFUL_STEPS = 5
STAFF_ROLES = {
    "national_admin": "national",
    "state_admin": "state:16",
    "district_admin": "district:294",
    "facility_manager": "center:{center}",
    "vaccinator": "center:{center}",
    "verifier": "center:{center}",
}
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


def _secured_by(spec: dict, scheme: str) -> set[tuple[str, str]]:
    """(METHOD, path) of the operations whose declared security names ``scheme``."""
    return {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if any(scheme in requirement for requirement in operation.get("security", []))
    }


def _fuzz(
    spec: dict,
    base_url: str,
    *,
    token: str | None = None,
    partner: tuple[OAuthClient, str] | None = None,
    only: set[tuple[str, str]] | None = None,
    examples: int = MAX_EXAMPLES,
    answered: set[str] | None = None,
) -> tuple[list[str], set[str], int]:
    schema = schemathesis.openapi.from_dict(spec)
    if partner is not None:
        oc, access_token = partner

        @schema.auth()
        class PartnerDPoP:
            """The partner's token (obtained once, by the real flow) and, set on each
            generated case, a fresh proof for that case's method and path."""

            def get(self, case: schemathesis.Case, ctx: object) -> str:
                return access_token

            def set(self, case: schemathesis.Case, data: str, ctx: object) -> None:
                proof = oc.dpop(case.method.upper(), case.formatted_path, access_token=data)
                case.headers = {
                    **(case.headers or {}),
                    "Authorization": f"DPoP {data}",
                    "DPoP": proof,
                }

    failures: list[str] = []
    seen: set[str] = set()
    sent = 0
    with httpx.Client(base_url=base_url, timeout=10.0, follow_redirects=False) as http:
        operations = [result.ok() for result in schema.get_all_operations()]
        # A logout ends the session the token names: fuzz it last, so the token works for all
        # the other operations (each run gets its own caller's token).
        operations.sort(key=lambda op: op.path.endswith("/logout"))
        for operation in operations:
            if only is not None and (operation.method.upper(), operation.path) not in only:
                continue

            @hypothesis.settings(
                max_examples=examples,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(hypothesis.HealthCheck),
                phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
            )
            @hypothesis.given(
                case=operation.as_strategy(auth_storage=schema.auth if partner else None)
            )
            def run(case: schemathesis.Case) -> None:
                if partner is not None:
                    pass  # the auth hook set the token and this case's own DPoP proof
                elif token is not None:
                    case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}
                elif case.headers and "Authorization" in case.headers:
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
                if answered is not None and response.status_code < 300:
                    answered.add(operation.label)
                if case.formatted_path != "/readyz":  # its 503 is documented: not ready
                    assert response.status_code < 500, (case.method, case.formatted_path)
                case.validate_response(response, checks=CHECKS)

            try:
                run()
            except Exception as failure:  # collect every operation's failure, then report
                failures.append(f"{operation.label}: {type(failure).__name__}: {failure}"[:1500])
    return failures, seen, sent


def _stateful(spec: dict, base_url: str, token: str, paths: str) -> tuple[list[str], int]:
    """schemathesis' state machine over its inferred links between the operations whose path
    matches ``paths`` (the caller's audience), every call with ``token``."""
    # Logouts are left out of the machine: one would end the session mid-sequence and turn
    # every later step into a 401 (they are fuzzed on their own, last, in the role runs).
    schema = (
        schemathesis.openapi.from_dict(spec)
        .include(path_regex=paths)
        .exclude(path_regex=r"/logout$")
    )
    # The caller's real token as configured auth (not a generated credential), so that
    # ignored_auth knows it is meant to be accepted and still checks requests without it.
    schema.config.update(base_url=base_url, headers={"Authorization": f"Bearer {token}"})
    machine = schema.as_state_machine()
    calls = 0

    class Bounded(machine):  # type: ignore[misc, valid-type]
        def validate_response(self, response, case, additional_checks=None, **kwargs) -> None:  # type: ignore[no-untyped-def]
            nonlocal calls
            calls += 1
            if case.formatted_path != "/readyz":
                assert response.status_code < 500, (case.method, case.formatted_path)
            case.validate_response(response, checks=CHECKS)

    failures: list[str] = []
    try:
        hypothesis.stateful.run_state_machine_as_test(
            Bounded,
            settings=hypothesis.settings(
                max_examples=STATEFUL_EXAMPLES,
                stateful_step_count=STATEFUL_STEPS,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(hypothesis.HealthCheck),
                phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
            ),
        )
    except Exception as failure:
        failures.append(f"stateful: {type(failure).__name__}: {failure}"[:3000])
    return failures, calls


async def _partner_token(
    settings, context, outbox, clock, mobile: str, reference: str
) -> tuple[OAuthClient, str]:
    """A DPoP-bound access token, the way a partner app gets one: PAR (private_key_jwt, PKCE),
    the citizen's consent on immunet's own pages (OTP to their mobile, one beneficiary,
    Allow), the code, and the token request with a DPoP proof."""
    partner = await register_partner(context, reads_per_minute=6000, reads_per_day=10**5)
    oc = OAuthClient(partner, clock)
    async for browser in open_browser(settings, context):
        par = await oc.par(browser.http)
        assert par.status_code == 201, par.text
        request_uri = par.json()["request_uri"]
        ids = {"client_id": partner.client_id, "request_uri": request_uri}
        start = await browser.get("/oauth/authorize", **ids)
        assert start.status == 200, start.text
        sent = await browser.submit(start, "/oauth/authorize/otp", **ids, mobile=mobile)
        otp = outbox.last_otp(normalize_mobile(mobile))
        chooser = await browser.submit(
            sent, "/oauth/authorize/verify", **ids, txn=sent.hidden("txn"), otp=otp
        )
        assert chooser.status == 200, chooser.text
        done = await browser.submit(
            chooser,
            "/oauth/authorize/decide",
            **ids,
            beneficiary=reference,
            decision="allow",
        )
        assert done.status == 303, done.text
        query = parse_qs(urlsplit(done.response.headers["location"]).query)
        issued = await oc.token(
            browser.http,
            {
                "grant_type": "authorization_code",
                "code": query["code"][0],
                "redirect_uri": REDIRECT_URI,
                "code_verifier": oc.verifier,
            },
        )
        assert issued.status_code == 200, issued.text
        return oc, str(issued.json()["access_token"])
    raise AssertionError("no browser")


EXCEPTIONS = tomllib.loads(
    (Path(__file__).with_name("schemathesis_exceptions.toml")).read_text(encoding="utf-8")
)["exception"]


def _accepted(failure: str) -> bool:
    return any(e["operation"] in failure and e["check"] in failure for e in EXCEPTIONS)


# Only this run raises them: one fuzzing address would otherwise meet mostly 429s.
FUZZ_LIMITS = {
    "public_requests_per_5min": 10**6,
    "staff_login_attempts_per_address": 10**6,
    "staff_login_failures_per_address": 1000,
    "otp_sends_per_address_per_hour": 10**4,
}


async def test_the_served_app_conforms_to_its_document(settings, keyring, clock, outbox):
    changed = settings.model_copy(update=FUZZ_LIMITS)
    context = build_context(changed, keyring=keyring)
    context.clock = clock
    # As `immunet db upgrade` leaves a deployment: with certificate signing keys (without
    # them the trust list and JWKS answer 503 by design).
    async with context.db.transaction() as session:
        await certificate_service.active_keyset(context, session)
    center = await make_center(context)
    citizen = await make_citizen(context, "9899900001")
    reference = await add_beneficiary(context, citizen)
    # A dose and its certificate: what the partner's consented reads return.
    await record_dose(context, reference, dose=1, center_id=None)
    partner = await _partner_token(changed, context, outbox, clock, citizen.mobile, reference)
    staff = {
        role: (await make_staff(context, role, place.format(center=center))).token
        for role, place in STAFF_ROLES.items()
    }
    second_citizen = await make_citizen(context, "9899900002")
    second_admin = await make_staff(context, "national_admin")
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
        base = f"http://127.0.0.1:{port}"
        failures, seen, sent = await asyncio.to_thread(_fuzz, spec, base)
        as_citizen = _secured_by(spec, "citizenBearer")
        as_staff = _secured_by(spec, "staffBearer")
        as_partner = _secured_by(spec, "partnerDPoP")
        partner_ok: set[str] = set()  # the token and proofs really work, not only 401s
        role_runs: list[tuple[str, str | None, set[tuple[str, str]]]]
        role_runs = [("citizen", citizen.token, as_citizen)]
        role_runs += [(role, token, as_staff) for role, token in staff.items()]
        role_runs.append(("partner", None, as_partner))
        for role, token, only in role_runs:
            failed, role_seen, role_sent = await asyncio.to_thread(
                _fuzz,
                spec,
                base,
                token=token,
                partner=partner if role == "partner" else None,
                only=only,
                examples=PARTNER_EXAMPLES if role == "partner" else ROLE_EXAMPLES,
                answered=partner_ok if role == "partner" else None,
            )
            failures += [f"as {role}: {f}" for f in failed]
            assert len(role_seen) == len(only), role  # every operation of that audience
            sent += role_sent
        # stateful last, with callers of its own: its links reach logins and staff accounts
        # (a user list feeds a disable), which must not spoil the role runs' tokens
        stateful_runs = [
            ("citizen", second_citizen.token, r"^/api/v2/"),
            ("national_admin", second_admin.token, r"^/api/staff/"),
        ]
        for role, token, paths in stateful_runs:
            failed, calls = await asyncio.to_thread(_stateful, spec, base, token, paths)
            failures += [f"as {role}: {f}" for f in failed]
            assert calls, role  # the machine ran
    finally:
        server.should_exit = True
        await serving
        await context.close()
    assert all(e.get("reason") for e in EXCEPTIONS)  # every accepted exception says why
    failures = [f for f in failures if not _accepted(f)]
    assert not failures, "\n\n".join(failures)
    operations = sum(len(item) for item in spec["paths"].values())
    assert len(seen) == operations  # not vacuous: every operation was exercised
    assert sent >= 2 * operations
    assert as_citizen and as_staff and as_partner
    # The token and its DPoP proofs really work: every partner read answered 2xx at least
    # once (a generated booking cannot name a real seat, so the writes prove only the rest).
    reads = {f"{method} {path}" for method, path in as_partner if method == "GET"}
    assert reads and reads <= partner_ok, partner_ok


pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
