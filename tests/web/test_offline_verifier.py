"""The offline verifier's server side: the page links its manifest and script (no inline
script), the service worker may control /verify, and the saved trust list is the one the
server's verifier uses (imported issuers and revocations included), public parts only."""

from __future__ import annotations

import json
import re

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
