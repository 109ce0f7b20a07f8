"""``POST /api/v2/certificates/verify`` takes every form a person holds (SQLite and PostgreSQL):
QR text, raw JWS, a .smart-health-card file, a $health-cards-issue response and an image of the
QR; a refused trust list changes nothing; uploads are bounded."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import segno
from PIL import Image

from immunet.certificates.service import InvalidTrustList, import_trust_list

DATA = Path(__file__).resolve().parents[1] / "data"
EX = DATA / "shc" / "spec-examples"
DT = DATA / "shc" / "dev-tools"
ISS = "https://spec.smarthealth.cards/examples/issuer"
VERIFY = "/api/v2/certificates/verify"
SHC_FILE = (EX / "example-00-e-file.smart-health-card").read_bytes()
JWS = (EX / "example-00-d-jws.txt").read_text().strip()
QR = (EX / "example-00-f-qr-code-numeric-value-0.txt").read_text().strip()


def _spec_trust() -> str:
    wk = EX / "issuer" / ".well-known"
    return json.dumps(
        {
            "shc": [{"iss": ISS, "keys": json.loads((wk / "jwks.json").read_text())["keys"]}],
            "revoked": {
                "shc": {p.stem: json.loads(p.read_text()) for p in (wk / "crl").glob("*.json")}
            },
        }
    )


@pytest.fixture
async def spec_trusted(ctx):
    assert await import_trust_list(
        ctx, _spec_trust(), label="SHC spec examples", actor="operator:test", context=None
    )


def _png(text: str) -> bytes:
    out = io.BytesIO()
    segno.make(text, micro=False).save(out, kind="png", scale=4, border=4)
    return out.getvalue()


def _forms() -> list[tuple[str, bytes, str]]:
    params = (DT / "test-example-00-fhirhealthcard.json").read_bytes()
    return [
        ("json qr", json.dumps({"qr": QR}).encode(), "application/json"),
        ("text qr", QR.encode() + b"\n", "text/plain"),
        ("text jws", JWS.encode(), "text/plain"),
        ("json jws", json.dumps({"qr": JWS}).encode(), "application/json"),
        ("shc file", SHC_FILE, "application/smart-health-card"),
        ("shc file as json", SHC_FILE, "application/json"),
        ("parameters", params, "application/fhir+json"),
        ("parameters as json", params, "application/json"),
        ("png", _png(QR), "image/png"),
        ("jpeg", (DT / "test-example-00-g-qr-code-0-scaled-23.jpg").read_bytes(), "image/jpeg"),
        (
            "large png",
            (DT / "test-example-00-g-qr-code-inflated-to-v22.png").read_bytes(),
            "image/png",
        ),
    ]


@pytest.mark.parametrize(("name", "body", "media"), _forms(), ids=[f[0] for f in _forms()])
async def test_every_form_a_person_holds_verifies(client, spec_trusted, name, body, media):
    response = await client.post(VERIFY, content=body, headers={"Content-Type": media})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["valid"], answer["format"], answer["reason"]) == (True, "shc", None), name


async def test_a_revoked_card_in_a_file_is_revoked(client, spec_trusted, clock):
    clock.set(dt.datetime(2024, 1, 1, tzinfo=dt.UTC))  # before its exp (2024-06-21)
    body = (EX / "example-03-e-file.smart-health-card").read_bytes()
    response = await client.post(
        VERIFY, content=body, headers={"Content-Type": "application/smart-health-card"}
    )
    assert (response.json()["valid"], response.json()["reason"]) == (False, "revoked")


async def test_what_the_spec_refuses_is_refused_over_http(client, spec_trusted):
    for name in (
        "test-example-00-d-jws-no_jws_header_zip.txt",
        "test-example-00-f-qr-code-numeric-value-0-trailing_chars.txt",
    ):
        response = await client.post(
            VERIFY, content=(DT / name).read_bytes(), headers={"Content-Type": "text/plain"}
        )
        assert response.json()["reason"] == "bad_encoding", name
    response = await client.post(
        VERIFY,
        content=(
            DT / "test-example-00-e-file-issuer_url_with_trailing_slash.smart-health-card"
        ).read_bytes(),
        headers={"Content-Type": "application/smart-health-card"},
    )
    assert response.json()["reason"] == "schema_error"


@pytest.mark.parametrize(
    ("body", "media", "status"),
    [
        (b'{"verifiableCredential": "eyJ"}', "application/smart-health-card", 400),
        (b'{"verifiableCredential": [], "x": 1}', "application/json", 400),
        (b'{"resourceType": "Patient"}', "application/fhir+json", 400),
        (b'{"resourceType": "Parameters", "parameter": [{"nam": "x"}]}', "application/json", 400),
        (b"[]", "application/smart-health-card", 400),
        (b"GIF89a" + b"\0" * 100, "image/gif", 415),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * (4 * 1024 * 1024), "image/png", 413),
        (b"A" * (70 * 1024), "text/plain", 413),
        (b'{"qr": "' + b"1" * (70 * 1024) + b'"}', "application/json", 413),
    ],
)
async def test_bad_documents_and_uploads_get_a_clean_error(client, body, media, status):
    response = await client.post(VERIFY, content=body, headers={"Content-Type": media})
    assert response.status_code == status, response.text
    assert set(response.json()) == {"errorCode", "error"}


async def test_an_image_that_is_not_a_qr_is_a_clean_invalid_answer(client):
    out = io.BytesIO()
    Image.new("L", (6000, 6000), 255).save(out, format="PNG")  # 36 Mpx, small file
    for body in (out.getvalue(), b"\x89PNG\r\n\x1a\nnot really"):
        response = await client.post(VERIFY, content=body, headers={"Content-Type": "image/png"})
        assert response.status_code == 200
        assert (response.json()["valid"], response.json()["reason"]) == (False, "bad_encoding")


async def test_a_trust_list_the_spec_refuses_is_not_imported(ctx):
    crl = json.loads((DT / "badcrl" / "invalid-method" / "crl.json").read_text())
    keys = json.loads((DT / "badcrl" / "invalid-method" / "jwks.json").read_text())["keys"]
    iss = "https://raw.githubusercontent.com/smart-on-fhir/health-cards-dev-tools/main/testdata"
    doc = {"shc": [{"iss": iss, "keys": keys}], "revoked": {"shc": {crl["kid"]: crl}}}
    with pytest.raises(InvalidTrustList, match="unknown method"):
        await import_trust_list(
            ctx, json.dumps(doc), label="x", actor="operator:test", context=None
        )
    doc["shc"][0]["iss"] = "http://issuer.example"
    with pytest.raises(InvalidTrustList, match="https"):
        await import_trust_list(
            ctx, json.dumps(doc), label="x", actor="operator:test", context=None
        )


def _cli(tmp_path, *args: str) -> subprocess.CompletedProcess[str]:
    """`immunet verify` in its own process, offline: no database is ever opened."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMMUNET_")}
    env["IMMUNET_DATABASE_URL"] = "sqlite:////nonexistent/never-opened.sqlite3"
    return subprocess.run(
        [sys.executable, "-m", "immunet.cli", "verify", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_command_line_verifies_every_form_offline(tmp_path):
    trust = tmp_path / "trust.json"
    trust.write_text(_spec_trust(), encoding="utf-8")
    (tmp_path / "card.png").write_bytes(_png(QR))
    files = [
        str(EX / "example-00-e-file.smart-health-card"),
        str(EX / "example-00-d-jws.txt"),
        str(EX / "example-00-f-qr-code-numeric-value-0.txt"),
        str(DT / "test-example-00-fhirhealthcard.json"),
        str(DT / "test-example-00-g-qr-code-0-scaled-23.jpg"),
        str(tmp_path / "card.png"),
        JWS,  # the JWS itself as the argument
    ]
    for given in files:
        result = _cli(tmp_path, given, "--trust-list", str(trust), "--at", "2024-01-01T00:00:00Z")
        assert result.returncode == 0, (given, result.stdout, result.stderr)
        assert json.loads(result.stdout)["format"] == "shc"
    refused = _cli(
        tmp_path,
        str(DT / "test-example-00-f-qr-code-numeric-value-0-trailing_chars.txt"),
        "--trust-list",
        str(trust),
    )
    assert refused.returncode == 1 and json.loads(refused.stdout)["reason"] == "bad_encoding"
    bad = tmp_path / "bad-trust.json"
    folder = DT / "badcrl" / "version-mismatch"
    crl = json.loads((folder / "crl.json").read_text())
    bad.write_text(
        json.dumps(
            {
                "shc": [
                    {"iss": ISS, "keys": json.loads((folder / "jwks.json").read_text())["keys"]}
                ],
                "revoked": {"shc": {crl["kid"]: crl}},
            }
        ),
        encoding="utf-8",
    )
    usage = _cli(tmp_path, str(folder / "jws.txt"), "--trust-list", str(bad))
    assert usage.returncode == 2 and "crlVersion" in usage.stderr


async def test_a_divoc_credential_verifies_once_the_operator_imports_divoc(client, ctx):
    divoc = DATA / "divoc"
    certificate = (divoc / "divoc-cowin-v2-certificate-1.json").read_bytes()
    before = await client.post(
        VERIFY, content=certificate, headers={"Content-Type": "application/json"}
    )
    assert (before.status_code, before.json()["valid"]) == (200, False)
    entry = {
        "id": "did:india",
        "issuer": "https://cowin.gov.in/",
        "publicKeyPem": (divoc / "divoc-verifier-public-key.pem").read_text(),
        "contexts": {
            "https://cowin.gov.in/credentials/vaccination/v2": json.loads(
                (divoc / "cowin-vaccination-v2.jsonld").read_text()
            )
        },
    }
    assert await import_trust_list(
        ctx, json.dumps({"divoc": [entry]}), label="DIVOC", actor="operator:test", context=None
    )
    for media in ("application/json", "application/vc+ld+json"):
        after = await client.post(VERIFY, content=certificate, headers={"Content-Type": media})
        assert (after.json()["valid"], after.json()["format"]) == (True, "vc"), after.json()
    with pytest.raises(InvalidTrustList, match="DIVOC public key"):
        await import_trust_list(
            ctx,
            json.dumps({"divoc": [{**entry, "publicKeyPem": "x"}]}),
            label="x",
            actor="operator:test",
            context=None,
        )
