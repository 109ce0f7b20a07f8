"""The offline verifier's server side: the page links its manifest and script (no inline
script), the service worker may control /verify, and the saved trust list is the one the
server's verifier uses (imported issuers and revocations included), public parts only."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from immunet.certificates.service import import_trust_list
from tests.integration.test_verify_inputs import _spec_trust
from tests.web.portal import Browser


async def test_verify_page_is_an_installable_app_without_inline_script(browser: Browser):
    page = await browser.get("/verify")
    assert '<link rel="manifest" href="/verify/manifest.webmanifest">' in page.text
    assert '<script src="/static/verify.js" defer></script>' in page.text
    # The only <script> without src is a JSON data block, which browsers never execute.
    inline = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", page.text)
    assert inline == [' type="application/json" id="verify-texts"']
    texts = json.loads(re.search(r'id="verify-texts">([^<]*)</script>', page.text).group(1))
    assert texts["valid"] == "Valid" and texts["invalid"] == "Not valid"
    assert set(texts["reasons"]) >= {"bad_signature", "unknown_key", "revoked", "expired"}
    assert "worker-src 'self'" in page.response.headers["content-security-policy"]

    manifest = await browser.http.get("/verify/manifest.webmanifest")
    assert manifest.headers["content-type"].startswith("application/manifest+json")
    body = manifest.json()
    assert body["start_url"] == "/verify" and body["scope"] == "/verify"
    icon = await browser.http.get(body["icons"][0]["src"])
    assert icon.status_code == 200 and icon.text.startswith("<svg")

    worker = await browser.http.get("/verify/sw.js")
    assert worker.status_code == 200
    assert worker.headers["service-worker-allowed"] == "/verify"
    assert worker.headers["content-type"].startswith("text/javascript")
    script = await browser.http.get("/static/verify.js")
    assert script.status_code == 200 and "crypto.subtle.verify" in script.text


async def test_verify_page_texts_in_hindi(browser: Browser):
    await browser.http.get("/lang", params={"to": "hi"})
    page = await browser.get("/verify")
    texts = json.loads(re.search(r'id="verify-texts">([^<]*)</script>', page.text).group(1))
    assert texts["invalid"] == "मान्य नहीं"
    assert "{minutes}" in texts["saved"] and "{date}" in texts["saved"]


async def test_offline_trust_list_is_the_verifiers_with_its_time(browser: Browser, ctx, clock):
    empty = (await browser.http.get("/verify/offline.json")).json()
    assert empty["generatedAt"] == clock.now().isoformat().replace("+00:00", "Z")
    spec = json.loads(_spec_trust())
    assert await import_trust_list(
        ctx, _spec_trust(), label="SHC spec examples", actor="operator:test", context=None
    )
    answer = await browser.http.get("/verify/offline.json")
    assert answer.status_code == 200
    bundle = answer.json()
    by_kid = {k["kid"]: k for k in bundle["shc"]}
    for jwk in spec["shc"][0]["keys"]:
        entry = by_kid[jwk["kid"]]
        assert entry["iss"] == spec["shc"][0]["iss"]
        assert entry["jwk"] == {n: jwk[n] for n in ("kty", "crv", "x", "y")}  # public only
        assert entry["offline"] is ("x5c" not in jwk)  # x5c paths are checked online only
    revoked = bundle["revoked"]["shc"]["3Kfdg-XwP-7gXyywtUfUADwBumDOPKMQx-iELL11W9s"]
    assert "vwAjHdarZuc.1687450765" in revoked
    assert not any("d" in k["jwk"] for k in bundle["shc"])  # never a private part


EU_DCC = Path(__file__).resolve().parents[1] / "data" / "eu-dcc" / "testdata"


def _vector(name: str) -> str:
    return (EU_DCC / name).read_text(encoding="utf-8")


async def test_offline_trust_list_carries_dcc_signers_and_vc_keys(browser: Browser, ctx):
    """The DCC signers (an imported EU DSC, RSA as well as EC) and the VC keys are in the saved
    trust list as their certificates say, read here with ``cryptography`` on its own: the key,
    the DSC's validity and the types its EKU allows (the IS vector allows none); the DCC
    schema and the VC contexts and terms the browser checks against; revocations; never a
    private part."""
    raw = (Encoding.Raw, PublicFormat.Raw)
    chosen = {}
    for name in ("IS/2DCode/raw/3.json", "AT/2DCode/raw/1.json"):
        der = base64.b64decode(json.loads(_vector(name))["TESTCTX"]["CERTIFICATE"])
        chosen[name] = x509.load_der_x509_certificate(der)
    vc_raw = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(*raw)
    vc_jwk = {"kty": "OKP", "crv": "Ed25519", "x": base64.urlsafe_b64encode(vc_raw).decode()}
    vc_jwk["x"] = vc_jwk["x"].rstrip("=")
    trust = {
        "dcc": [
            {"certificate": base64.b64encode(c.public_bytes(Encoding.DER)).decode()}
            for c in chosen.values()
        ],
        "vc": [{"id": "https://vc.example/issuer#key-1", "publicKeyJwk": vc_jwk}],
        "revoked": {"dcc": ["abc"], "vc": ["CERT-1/v2"]},
    }
    assert await import_trust_list(
        ctx, json.dumps(trust), label="EU vectors", actor="operator:test", context=None
    )
    bundle = (await browser.http.get("/verify/offline.json")).json()
    spki = (Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    for name, cert in chosen.items():
        der = cert.public_bytes(Encoding.DER)
        kid = base64.b64encode(hashlib.sha256(der).digest()[:8]).decode()
        entry = next(e for e in bundle["dcc"] if e["kid"] == kid)
        assert entry["offline"] is True
        assert base64.b64decode(entry["spki"]) == cert.public_key().public_bytes(*spki)
        assert entry["alg"] == ("PS256" if isinstance(cert.public_key(), RSAPublicKey) else "ES256")
        assert entry["notBefore"] == cert.not_valid_before_utc.timestamp()
        assert entry["notAfter"] == cert.not_valid_after_utc.timestamp()
        if name.startswith("IS/"):
            assert entry["types"] == []
    assert len(bundle["dcc"]) == 2
    method = next(m for m in bundle["vc"] if m["id"] == "https://vc.example/issuer#key-1")
    assert base64.b64decode(method["ed25519"]) == vc_raw
    assert (
        bundle["dccSchema"]["$defs"]
        and "https://www.w3.org/2018/credentials/v1" in (bundle["vcContexts"])
    )
    assert {"credentialSubject", "evidence", "certificateId"} <= set(bundle["vcTerms"])
    assert "abc" in bundle["revoked"]["dcc"] and "CERT-1/v2" in bundle["revoked"]["vc"]
    text = json.dumps(bundle)
    assert '"d"' not in text and "PRIVATE" not in text
