"""Abuse of the partner OAuth endpoints: forged proofs and assertions, repeated or oversized
parameters, and answers that must not differ by whether a client is registered."""

from __future__ import annotations

import base64
import json

from tests.factories.partners import OAuthClient, register_partner


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


async def test_alg_none_assertion_and_proof_are_refused(client, ctx, clock):
    oc = OAuthClient(await register_partner(ctx), clock)
    claims = json.loads(base64.urlsafe_b64decode(oc.assertion().split(".")[1] + "=="))
    unsigned = f"{_b64({'alg': 'none'})}.{_b64(claims)}."
    fields = {**oc.auth_fields(), "client_assertion": unsigned}
    response = await oc.par(client, **fields)
    assert response.status_code == 401
    # A DPoP proof with alg none, or with a private key in its header, is refused.
    proof = oc.dpop("POST", "/oauth/token")
    header, body, _sig = proof.split(".")
    for bad_header in (
        {**json.loads(base64.urlsafe_b64decode(header + "==")), "alg": "none"},
        {
            **json.loads(base64.urlsafe_b64decode(header + "==")),
            "jwk": oc.dpop_key.as_dict(private=True),
        },
    ):
        forged = f"{_b64(bad_header)}.{body}.{_sig}"
        answer = await client.post(
            "/oauth/token",
            data={"grant_type": "authorization_code", "code": "x", **oc.auth_fields()},
            headers={"DPoP": forged},
        )
        assert answer.status_code == 401, answer.text


async def test_repeated_and_oversized_parameters_are_refused(client, ctx, clock):
    oc = OAuthClient(await register_partner(ctx), clock)
    fields = oc.auth_fields()
    repeated = "&".join(f"{k}={v}" for k, v in fields.items()) + "&scope=a&scope=b"
    response = await client.post(
        "/oauth/par",
        content=repeated,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 401
    huge = await oc.par(client, state="s" * 20_000)
    assert huge.status_code in (401, 413)
    assert set(huge.json()) == {"errorCode", "error"}


async def test_unknown_and_suspended_clients_get_the_same_answer(client, ctx, clock):
    from immunet.partners.service import suspend_client
    from immunet.staff.principal import OPERATOR_CLI

    known = OAuthClient(await register_partner(ctx), clock)
    await suspend_client(ctx, client_id=known.partner.client_id, actor=OPERATOR_CLI)
    ghost = OAuthClient(await register_partner(ctx, "Ghost"), clock)
    ghost.partner.client_id = "imc_never_registered_anywhere"
    answers = set()
    for oc in (known, ghost):
        response = await oc.par(client)
        answers.add((response.status_code, response.text))
    assert len(answers) == 1 and next(iter(answers))[0] == 401
