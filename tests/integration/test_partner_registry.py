"""The partner registry: service, national-admin staff API and `immunet partner` CLI."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc.jwk import ECKey
from sqlalchemy import select

from immunet.partners import service
from immunet.partners.models import PartnerClient
from immunet.security.keyring import Purpose
from immunet.security.models import AuditEvent
from immunet.staff.principal import OPERATOR_CLI
from tests.conftest import bearer
from tests.factories.partners import REDIRECT_URI, new_keys, register_partner
from tests.factories.staff_flow import add_staff, staff_login


def _weak_rsa_jwk() -> dict[str, str]:
    numbers = rsa.generate_private_key(65537, 1024).public_key().public_numbers()

    def b64(n: int) -> str:
        return (
            base64.urlsafe_b64encode(n.to_bytes((n.bit_length() + 7) // 8, "big"))
            .decode()
            .rstrip("=")
        )

    return {"kty": "RSA", "n": b64(numbers.n), "e": b64(numbers.e)}


@pytest.fixture
def settings(settings):
    return settings.model_copy(update={"staff_password_memory_kib": 1024})


async def _audit_actions(ctx) -> list[str]:
    async with ctx.db.reader() as session:
        rows = (await session.execute(select(AuditEvent.action).order_by(AuditEvent.seq))).all()
    return [r[0] for r in rows]


async def test_register_stores_only_a_keyed_digest_of_the_api_key(ctx):
    partner = await register_partner(ctx)
    assert partner.client_id.startswith("imc_") and partner.api_key
    async with ctx.db.reader() as session:
        row = (
            await session.execute(
                select(PartnerClient).where(PartnerClient.client_id == partner.client_id)
            )
        ).scalar_one()
    # The stored value is the HMAC under the per-purpose secret, not the key nor its plain hash.
    assert row.api_key_digest == ctx.keyring.digest(Purpose.PARTNER_API_KEY)(partner.api_key)
    assert partner.api_key not in json.dumps(
        [row.api_key_digest, row.jwks, row.scopes, row.redirect_uris]
    )
    found = await service.client_by_api_key(ctx, partner.api_key)
    assert found is not None and found.client_id == partner.client_id
    assert await service.client_by_api_key(ctx, partner.api_key + "x") is None


async def test_suspend_reinstate_rotate_are_audited_and_take_effect(ctx):
    partner = await register_partner(ctx)
    await service.suspend_client(ctx, client_id=partner.client_id, actor=OPERATOR_CLI)
    assert await service.client_by_api_key(ctx, partner.api_key) is None
    await service.reinstate_client(ctx, client_id=partner.client_id, actor=OPERATOR_CLI)
    assert await service.client_by_api_key(ctx, partner.api_key) is not None
    new_key = await service.rotate_api_key(ctx, client_id=partner.client_id, actor=OPERATOR_CLI)
    assert await service.client_by_api_key(ctx, partner.api_key) is None
    assert (await service.client_by_api_key(ctx, new_key)) is not None
    actions = await _audit_actions(ctx)
    assert actions[-4:] == [
        "partners:client:created",
        "partners:client:suspended",
        "partners:client:reinstated",
        "partners:client:key-rotated",
    ]
    with pytest.raises(service.PartnerNotFound):
        await service.suspend_client(ctx, client_id="imc_nope", actor=OPERATOR_CLI)
    # Reinstating an active client is a no-op: nothing changes, nothing is audited.
    await service.reinstate_client(ctx, client_id=partner.client_id, actor=OPERATOR_CLI)
    assert await _audit_actions(ctx) == actions


@pytest.mark.parametrize(
    "jwks",
    [
        {"keys": []},
        {"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "a"}]},
        # A private key pasted by mistake is refused (only public keys are held).
        {"keys": [{**ECKey.generate_key("P-256").as_dict(private=True), "kid": "a"}]},
        # RSA under 2048 bits, and an algorithm FAPI 2.0 does not allow.
        {"keys": [{**_weak_rsa_jwk(), "kid": "a"}]},
        {
            "keys": [
                {**ECKey.generate_key("P-256").as_dict(private=False), "kid": "a", "alg": "RS256"}
            ]
        },
        {"keys": [{**ECKey.generate_key("P-384").as_dict(private=False), "kid": "a"}]},
        {"keys": [{**ECKey.generate_key("P-256").as_dict(private=False)}]},
        {"keys": [{"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA", "kid": "a"}]},
    ],
)
async def test_bad_key_sets_are_refused(ctx, jwks):
    with pytest.raises(service.InvalidPartnerRequest):
        await service.add_partner_client(
            ctx,
            name="Bad keys",
            jwks=jwks,
            redirect_uris=[REDIRECT_URI],
            scopes=["immunization.read"],
            actor=OPERATOR_CLI,
        )
    assert (await service.list_clients(ctx))[0] == []


@pytest.mark.parametrize(
    ("uris", "scopes", "cidrs"),
    [
        (["http://app.example.org/cb"], ["immunization.read"], []),
        (["https://app.example.org/cb#frag"], ["immunization.read"], []),
        (["/relative"], ["immunization.read"], []),
        ([], ["immunization.read"], []),
        ([REDIRECT_URI], ["openid"], []),
        ([REDIRECT_URI], [], []),
        ([REDIRECT_URI], ["immunization.read"], ["10.0.0.0/33"]),
    ],
)
async def test_bad_registrations_are_refused(ctx, uris, scopes, cidrs):
    with pytest.raises(service.InvalidPartnerRequest):
        await service.add_partner_client(
            ctx,
            name="Bad app",
            jwks=new_keys().public_jwks(),
            redirect_uris=uris,
            scopes=scopes,
            allowed_cidrs=cidrs,
            actor=OPERATOR_CLI,
        )
    assert (await service.list_clients(ctx))[0] == []


async def test_national_admin_manages_partners_through_the_staff_api(client, ctx):
    creds = await add_staff(ctx, "nat.partners", "national_admin", "national")
    token = await staff_login(client, creds)
    keys = new_keys()
    created = await client.post(
        "/api/staff/partners",
        headers=bearer(token),
        json={
            "name": "Umang",
            "purpose": "Citizen services",
            "contact": "ops@umang.example.in",
            "jwks": keys.public_jwks(),
            "redirect_uris": [REDIRECT_URI],
            "scopes": ["immunization.read"],
            "allowed_cidrs": ["203.0.113.0/24"],
        },
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert set(body) == {"client_id", "api_key"}
    assert created.headers["cache-control"] == "no-store"
    listed = (await client.get("/api/staff/partners", headers=bearer(token))).json()
    (row,) = listed["clients"]
    assert row["client_id"] == body["client_id"] and row["state"] == "active"
    assert row["allowed_cidrs"] == ["203.0.113.0/24"] and "api_key" not in row
    cid = body["client_id"]
    assert (
        await client.post(
            f"/api/staff/partners/{cid}/suspend", headers=bearer(token), json={"reason": "review"}
        )
    ).status_code == 204
    listed = (await client.get("/api/staff/partners", headers=bearer(token))).json()
    assert listed["clients"][0]["state"] == "suspended"
    assert (
        await client.post(f"/api/staff/partners/{cid}/reinstate", headers=bearer(token))
    ).status_code == 204
    rotated = await client.post(f"/api/staff/partners/{cid}/rotate-key", headers=bearer(token))
    assert rotated.status_code == 200 and rotated.json()["api_key"] != body["api_key"]
    assert (await service.client_by_api_key(ctx, body["api_key"])) is None
    missing = await client.post("/api/staff/partners/imc_none/reinstate", headers=bearer(token))
    assert missing.status_code == 404 and missing.json()["errorCode"] == "PARTNER0404"


def _cli(settings, tmp_path, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMMUNET_")}
    env.update(
        IMMUNET_ENV="test",
        IMMUNET_DATABASE_URL=settings.database_url,
        IMMUNET_KEYRING=str(settings.keyring),
        IMMUNET_SMS_BACKEND=settings.sms_backend,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(exist_ok=True)
    return subprocess.run(
        [sys.executable, "-m", "immunet.cli", "partner", *args],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_cli_add_suspend_reinstate_rotate_list(ctx, settings, keyring, tmp_path):
    keyring.save(settings.keyring)
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(json.dumps(new_keys().public_jwks()))
    added = _cli(
        settings,
        tmp_path,
        "add",
        "--name",
        "CLI App",
        "--jwks",
        str(jwks_file),
        "--redirect-uri",
        REDIRECT_URI,
        "--scope",
        "immunization.read",
        "--scope",
        "appointment.write",
        "--allow-cidr",
        "198.51.100.0/24",
        "--json",
    )
    assert added.returncode == 0, added.stderr
    payload = json.loads(added.stdout)
    assert set(payload) == {"client_id", "api_key"}
    assert (await service.client_by_api_key(ctx, payload["api_key"])) is not None
    cid = payload["client_id"]
    assert _cli(settings, tmp_path, "suspend", "--client-id", cid).returncode == 0
    listed = json.loads(_cli(settings, tmp_path, "list", "--json").stdout)
    assert [(r["client_id"], r["state"]) for r in listed] == [(cid, "suspended")]
    assert listed[0]["scopes"] == ["appointment.write", "immunization.read"]
    assert _cli(settings, tmp_path, "reinstate", "--client-id", cid).returncode == 0
    rotated = _cli(settings, tmp_path, "rotate-key", "--client-id", cid, "--json")
    assert rotated.returncode == 0, rotated.stderr
    new_key = json.loads(rotated.stdout)["api_key"]
    assert (await service.client_by_api_key(ctx, payload["api_key"])) is None
    assert (await service.client_by_api_key(ctx, new_key)) is not None
    unknown = _cli(settings, tmp_path, "suspend", "--client-id", "imc_unknown")
    assert unknown.returncode == 1 and unknown.stdout == ""
    bad = _cli(
        settings,
        tmp_path,
        "add",
        "--name",
        "X",
        "--jwks",
        str(jwks_file),
        "--json",
        "--redirect-uri",
        REDIRECT_URI,
        "--scope",
        "everything",
    )
    assert bad.returncode == 1 and bad.stdout == ""
