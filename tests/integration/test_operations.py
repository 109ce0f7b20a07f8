"""Operator commands: key rotation and re-encryption, audit verification, health."""

from __future__ import annotations

from sqlalchemy import select

from immunet.certificates import service as certificate_service
from immunet.outbox.models import OutboxMessage
from immunet.people.models import AadhaarVaultEntry, Beneficiary, CitizenAccount
from immunet.security.audit import AuditChain
from immunet.security.keyring import FieldCipher
from immunet.security.reencrypt import reencrypt_all
from immunet.security.transparency import create_checkpoint
from tests.conftest import bearer, login, register
from tests.factories import aadhaar, adult
from tests.factories.audit import tamper


async def test_rotate_then_reencrypt_moves_every_field(client, outbox, ctx, settings, keyring):
    token = await login(client, outbox, "9844400001")
    for n in range(3):
        assert (
            await register(client, token, adult(f"Person {chr(65 + n)}", id_number=aadhaar(40 + n)))
        ).status_code == 200
    assert (
        await register(
            client, token, {**adult("Pass Port"), "photo_id_type": 4, "photo_id_number": "Z7654321"}
        )
    ).status_code == 200

    rotated = keyring  # the same object the running app uses: rotation is visible at once
    old_version = rotated.current_field_version
    rotated.rotate()
    try:
        seen: list[tuple[int, int]] = []
        changed = await reencrypt_all(
            settings, batch_size=2, keyring=rotated, progress=lambda d, t: seen.append((d, t))
        )
        assert changed >= 1 + 4 * 2 + 3
        assert seen and seen[-1][0] == seen[-1][1]
        async with ctx.db.reader() as session:
            for row in (await session.execute(select(Beneficiary))).scalars():
                assert FieldCipher.version_of(row.name_ct) == rotated.current_field_version
            for acc in (await session.execute(select(CitizenAccount))).scalars():
                assert FieldCipher.version_of(acc.mobile_ct) == rotated.current_field_version
            for entry in (await session.execute(select(AadhaarVaultEntry))).scalars():
                assert FieldCipher.version_of(entry.number_ct) == rotated.current_vault_version
            for message in (await session.execute(select(OutboxMessage))).scalars():
                assert FieldCipher.version_of(message.recipient_ct) == rotated.current_field_version
        # A second run has nothing left to do (resumable, idempotent).
        assert await reencrypt_all(settings, keyring=rotated) == 0
        # And the service still reads everything.
        listing = await client.get("/api/v2/appointment/beneficiaries", headers=bearer(token))
        assert len(listing.json()["beneficiaries"]) == 4
        assert old_version in rotated.field_keys
    finally:
        pass


async def test_audit_chain_verifies_and_detects_tampering(client, outbox, ctx):
    token = await login(client, outbox, "9844400002")
    await register(client, token, adult(id_number=aadhaar(50)))
    async with ctx.db.reader() as session:
        report = await AuditChain.verify(session)
    assert report.ok and report.entries >= 3 and report.pending == report.entries
    await create_checkpoint(ctx.db, ctx.keyring)
    async with ctx.db.reader() as session:
        report = await AuditChain.verify(session)
    assert report.ok and report.sequenced == report.entries >= 3
    await tamper(ctx.db, "UPDATE audit_events SET actor = 'someone-else' WHERE seq = 2")
    async with ctx.db.reader() as session:
        report = await AuditChain.verify(session)
    assert not report.ok and report.broken_at == 2


async def test_audit_chain_detects_deletion(client, outbox, ctx):
    await login(client, outbox, "9844400003")
    await create_checkpoint(ctx.db, ctx.keyring)
    await tamper(ctx.db, "DELETE FROM audit_events WHERE seq = 1")
    async with ctx.db.reader() as session:
        report = await AuditChain.verify(session)
    assert not report.ok and report.broken_at == 1


async def test_registrations_logins_and_deletions_are_audited(client, outbox, ctx):
    token = await login(client, outbox, "9844400004")
    ref = (await register(client, token, adult(id_number=aadhaar(51)))).json()[
        "beneficiary_reference_id"
    ]
    await client.post(
        "/api/v2/registration/beneficiary/delete",
        json={"beneficiary_reference_id": ref},
        headers=bearer(token),
    )
    async with ctx.db.reader() as session:
        from immunet.security.models import AuditEvent

        actions = [
            e.action
            for e in (await session.execute(select(AuditEvent).order_by(AuditEvent.seq))).scalars()
        ]
        details = " ".join(
            str(e.detail) + str(e.subject_ref)
            for e in (await session.execute(select(AuditEvent))).scalars()
        )
    assert actions == [
        "auth:otp:requested",
        "people:account:created",
        "people:beneficiary:registered",
        "people:beneficiary:deleted",
    ]
    assert "9844400004" not in details


async def test_health_endpoints(client, ctx):
    assert (await client.get("/healthz")).json()["status"] == "ok"
    # No certificate signing keys yet (`db upgrade` creates them): not ready.
    ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"] == {
        "database": "ok",
        "certificate_keys": "missing",
        "outbox": "ok",
        "sequencer": "ok",
    }
    # Nor is an empty trust list or JWKS published: verifiers would cache "trust nothing".
    for path in ("/.well-known/jwks.json", "/api/v2/certificates/trust-list"):
        refused = await client.get(path)
        assert refused.status_code == 503, path
        assert refused.json()["errorCode"] == "CERT0503"
        assert refused.headers["retry-after"] == "60"
        assert refused.headers["cache-control"] == "no-store"
    async with ctx.db.transaction() as session:
        await certificate_service.active_keyset(ctx, session)
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["database"] == "ok"
    assert (await client.get("/.well-known/jwks.json")).json()["keys"]
    assert (await client.get("/api/v2/certificates/trust-list")).status_code == 200
    assert (await client.get("/openapi.json")).status_code == 200
