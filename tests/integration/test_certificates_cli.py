"""`immunet keys rotate-certificates`, `immunet trust export|import` and `immunet verify`
(database mode) in separate processes, configured by environment variables only."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from immunet.certificates import TrustList, issue_all
from immunet.certificates.keys import CertificateKeySet
from tests.factories import aadhaar
from tests.factories.certificates import formats, holder, record_dose, verify
from tests.factories.sessions import make_center
from tests.integration.test_certificates_flow import _foreign_record


def _run(settings, tmp_path, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMMUNET_")}
    env.update(
        IMMUNET_ENV="test",
        IMMUNET_DATABASE_URL=settings.database_url,
        IMMUNET_KEYRING=str(settings.keyring),
        IMMUNET_SMS_BACKEND=settings.sms_backend,
    )
    return subprocess.run(
        [sys.executable, "-m", "immunet.cli", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_rotate_export_import_and_verify_from_the_command_line(
    client, outbox, ctx, settings, keyring, tmp_path
):
    keyring.save(settings.keyring)
    center = await make_center(ctx)
    who = await holder(client, outbox, "9822200011", name="Kiran Bedi", id_number=aadhaar(701))
    await record_dose(ctx, who.reference_id, dose=1, center_id=center)
    before = await formats(client, who)

    rotated = _run(settings, tmp_path, "keys", "rotate-certificates")
    assert rotated.returncode == 0, rotated.stderr
    exported = tmp_path / "immunet-trust.json"
    result = _run(settings, tmp_path, "trust", "export", str(exported))
    assert result.returncode == 0, result.stderr
    trust = json.loads(exported.read_text(encoding="utf-8"))
    assert len(trust["dcc"]) == 2 and len(trust["vc"]) == 2  # active and retired keys

    # database mode (no --trust-list): the old certificate still verifies after rotation
    verified = _run(settings, tmp_path, "verify", before["dcc"]["qr"])
    assert verified.returncode == 0, verified.stderr
    assert json.loads(verified.stdout)["valid"] is True

    now = ctx.clock.now()
    foreign = CertificateKeySet.generate(issuer="https://health.example.org/issuer", now=now)
    cert = issue_all(_foreign_record(now), foreign)
    assert (await verify(client, cert["shc"]["qr"][0]))["reason"] == "unknown_key"
    their_file = tmp_path / "their-trust.json"
    their_file.write_text(TrustList.from_keyset(foreign).to_json(), encoding="utf-8")
    imported = _run(settings, tmp_path, "trust", "import", str(their_file), "--label", "example")
    assert imported.returncode == 0, imported.stderr
    assert (await verify(client, cert["shc"]["qr"][0]))["valid"] is True

    bad = tmp_path / "bad.json"
    bad.write_text('{"dcc": [{"certificate": "bm90IGEgY2VydA=="}]}', encoding="utf-8")
    refused = _run(settings, tmp_path, "trust", "import", str(bad))
    assert refused.returncode == 1

    usage = _run(settings, tmp_path, "verify", "HC1:XX", "--at", "yesterday")
    assert usage.returncode == 2
