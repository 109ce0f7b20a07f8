"""The offline verifier in Chromium with the network cut: the service worker serves /verify and
the saved trust list, and the page checks SMART Health Cards with WebCrypto, giving the same
answer (valid, reason) as the server's verifier on the spec's examples and the dev-tools'
broken ones."""

from __future__ import annotations

import base64
import collections
import datetime as dt
import io
import json
import zipfile
import zlib
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from immunet.certificates import issue_all, offline, vc
from immunet.certificates.base45 import b45decode, b45encode
from immunet.certificates.keys import CertificateKeySet, dcc_kid
from immunet.certificates.record import CertificateRecord, DoseEntry, vaccine
from immunet.certificates.service import import_trust_list
from immunet.certificates.trust import DccSigner, TrustList, uvci_hashes
from immunet.certificates.verify import verify_qr
from tests.browser.conftest import VIEWPORTS, Server, axe_check, shoot
from tests.integration.test_verify_inputs import _spec_trust

DATA = Path(__file__).resolve().parents[1] / "data" / "shc"
EX = DATA / "spec-examples"
DT = DATA / "dev-tools"
# Checked offline: every example signed by the key without x5c, and the dev-tools' damaged ones.
OFFLINE = [
    EX / "example-00-f-qr-code-numeric-value-0.txt",  # valid
    EX / "example-03-f-qr-code-numeric-value-0.txt",  # revoked
    EX / "example-00-d-jws.txt",  # the raw JWS
    DT / "test-example-00-d-jws-der-signature.txt",
    DT / "test-example-00-d-jws-invalid-signature.txt",
    DT / "test-example-00-d-jws-no_deflate.txt",
    DT / "test-example-00-d-jws-no_jws_header_zip.txt",
    DT / "test-example-00-f-qr-code-numeric-value-0-number-too-big.txt",
    DT / "test-example-00-f-qr-code-numeric-value-0-odd-count.txt",
    DT / "test-example-00-f-qr-code-numeric-value-0-wrong_qr_header.txt",
]
CHUNKED = "\n".join(
    (EX / f"example-02-f-qr-code-numeric-value-{i}.txt").read_text().strip() for i in range(3)
)


def _server_answer(server: Server, text: str) -> tuple[bool, str | None]:
    answer = httpx.post(f"{server.base}/api/v2/certificates/verify", json={"qr": text}).json()
    return answer["valid"], answer["reason"]


def test_verifier_checks_shc_offline_as_the_server_does(chromium: Any, server: Server):
    async def trust(ctx: Any) -> bool:
        return await import_trust_list(
            ctx, _spec_trust(), label="SHC spec examples", actor="operator:test", context=None
        )

    server.run(trust)  # False when an earlier test of this server imported it already
    cases = {path.name: path.read_text().strip() for path in OFFLINE}
    cases["example-02 (3 chunks)"] = CHUNKED
    # One character of the valid card's signature changed: a forgery.
    valid = cases["example-00-f-qr-code-numeric-value-0.txt"]
    cases["example-00 forged"] = valid[:-4] + ("11" if valid[-4:-2] != "11" else "12") + valid[-2:]
    expected = {name: _server_answer(server, text) for name, text in cases.items()}
    assert expected["example-00-f-qr-code-numeric-value-0.txt"] == (True, None)
    assert expected["example-03-f-qr-code-numeric-value-0.txt"][0] is False  # revoked, expired

    context = chromium.new_context(base_url=server.base, viewport=VIEWPORTS["phone"])
    page = context.new_page()
    try:
        page.goto("/verify")
        page.evaluate("navigator.serviceWorker.ready.then(() => true)")
        page.wait_for_function("navigator.serviceWorker.controller !== null")
        page.get_by_role("status").wait_for()
        assert "minutes old" in page.get_by_role("status").inner_text()

        context.set_offline(True)
        page.reload()  # served by the service worker
        page.get_by_role("status").wait_for()
        for name, text in cases.items():
            got = page.evaluate("text => window.immunetVerifyOffline(text)", text)
            want_valid, want_reason = expected[name]
            assert (got["valid"], None if got["valid"] else got["reason"]) == (
                want_valid,
                want_reason,
            ), name

        # The page itself: the form is answered in the browser, with the reason.
        page.get_by_label("Paste QR text").fill(cases["example-00-f-qr-code-numeric-value-0.txt"])
        page.get_by_role("button", name="Verify").click()
        page.get_by_role("heading", name="Valid", exact=True).wait_for(timeout=5000)
        result = page.locator(".result").inner_text()
        assert "John B. Anyperson" in result and "without network" in result
        axe_check(page)
        shoot(page, "verifier-offline-valid", server)
        page.get_by_label("Paste QR text").fill(cases["example-03-f-qr-code-numeric-value-0.txt"])
        page.get_by_role("button", name="Verify").click()
        page.get_by_role("heading", name="Not valid").wait_for(timeout=5000)
        # A key whose x5c path only the server checks: no answer that could differ from it.
        x5c = (EX / "example-01-f-qr-code-numeric-value-0.txt").read_text().strip()
        page.get_by_label("Paste QR text").fill(x5c)
        page.get_by_role("button", name="Verify").click()
        page.get_by_role("heading", name="Not checked").wait_for(timeout=5000)
    finally:
        context.close()


def test_verifier_reads_a_photo_of_the_qr_code(chromium: Any, server: Server, tmp_path: Path):
    import segno

    async def trust(ctx: Any) -> bool:
        return await import_trust_list(
            ctx, _spec_trust(), label="SHC spec examples", actor="operator:test", context=None
        )

    server.run(trust)
    text = (EX / "example-00-f-qr-code-numeric-value-0.txt").read_text().strip()
    photo = tmp_path / "card.png"
    segno.make(text, micro=False).save(str(photo), kind="png", scale=4, border=4)
    context = chromium.new_context(base_url=server.base, viewport=VIEWPORTS["phone"])
    page = context.new_page()
    try:
        page.goto("/verify")
        page.get_by_label("Photo of the QR code").set_input_files(str(photo))
        page.get_by_role("heading", name="Valid", exact=True).wait_for(timeout=10000)
        result = page.locator(".result").inner_text()
        assert "John B. Anyperson" in result and "without network" not in result
        # A photo without a QR code: not valid, and why.
        blank = tmp_path / "blank.png"
        segno.make("x").save(str(blank), kind="png", scale=1, border=40, dark="white")
        page.get_by_label("Photo of the QR code").set_input_files(str(blank))
        page.get_by_role("heading", name="Not valid").wait_for(timeout=10000)
        axe_check(page)
    finally:
        context.close()


def test_our_own_shc_certificate_verifies_offline(chromium: Any, server: Server):
    import re

    from tests.browser.test_portal import _add_member, _login
    from tests.factories.certificates import record_dose

    context = chromium.new_context(base_url=server.base, viewport=VIEWPORTS["desktop"])
    page = context.new_page()
    try:
        _login(page, server, "9699000001")
        _add_member(page, "Meera Offline", "P7766554")
        link = page.get_by_role("link", name="Certificate of Meera Offline")
        reference = re.search(r"/me/book\?beneficiary=([0-9]+)", page.content()).group(1)

        async def dose(ctx: Any) -> Any:
            return await record_dose(ctx, reference, dose=1, center_id=None)

        server.run(dose)
        page.goto("/me")
        link.click()
        chunks = [t.strip() for t in page.locator('pre[data-format="shc"]').all_text_contents()]
        others = {f: page.locator(f'pre[data-format="{f}"]').text_content() for f in ("dcc", "vc")}
        others = {f: (t or "").strip() for f, t in others.items()}
        text = "\n".join(chunks)
        assert _server_answer(server, text) == (True, None)
        forged = text[:-4] + ("11" if text[-4:-2] != "11" else "12") + text[-2:]
        assert _server_answer(server, forged)[0] is False

        page.goto("/verify")
        page.evaluate("navigator.serviceWorker.ready.then(() => true)")
        page.wait_for_function("navigator.serviceWorker.controller !== null")
        page.get_by_role("status").wait_for()
        context.set_offline(True)
        page.reload()
        want_forged = _server_answer(server, forged)  # from the test process, not the browser
        got = page.evaluate("text => window.immunetVerifyOffline(text)", text)
        assert (got["valid"], got["format"]) == (True, "shc")
        bad = page.evaluate("text => window.immunetVerifyOffline(text)", forged)
        assert (bad["valid"], bad["reason"]) == want_forged
        # The EU DCC and the W3C credential of the same certificate, against the trust list
        # the page saved from the server (its keys, not a test's): the server's own answer.
        for fmt in ("dcc", "vc"):
            qr = others[fmt]
            want = httpx.post(f"{server.base}/api/v2/certificates/verify", json={"qr": qr}).json()
            assert (want["valid"], want["format"]) == (True, fmt)
            got = page.evaluate("text => window.immunetVerifyOffline(text)", qr)
            assert {k: got[k] for k in ("valid", "format", "fields")} == {
                k: want[k] for k in ("valid", "format", "fields")
            }, fmt
        # The form, offline: the EU DCC answered in the page, with what it carries.
        page.get_by_label("Paste QR text").fill(others["dcc"])
        page.get_by_role("button", name="Verify").click()
        page.get_by_role("heading", name="Valid", exact=True).wait_for(timeout=5000)
        result = page.locator(".result").inner_text()
        assert "without network" in result and "EU Digital COVID Certificate" in result
        assert "nam.gn" in result and "Meera" in result
    finally:
        context.close()


# -- EU DCC and our own W3C credential, checked in the browser as the server checks them -------

EU_DCC = Path(__file__).resolve().parents[1] / "data" / "eu-dcc" / "testdata"
NOW = dt.datetime(2024, 3, 1, 10, 0, tzinfo=dt.UTC)


def _eu_dcc_cases() -> list[tuple[str, str, TrustList, dt.datetime]]:
    """Every EU vector with a QR text, a usable DSC and a validation clock, as the unit tests
    take them (tests/unit/certificates/test_eu_dcc_vectors.py): the DSC is the trust list."""
    cases = []
    files = sorted(p for p in EU_DCC.rglob("*.json") if "/2dcode/raw/" in p.as_posix().lower())
    for path in files:
        v = json.loads(path.read_text(encoding="utf-8"))
        ctx = v.get("TESTCTX", {})
        if "PREFIX" not in v or "CERTIFICATE" not in ctx or "VALIDATIONCLOCK" not in ctx:
            continue
        der = base64.b64decode(ctx["CERTIFICATE"])
        try:
            DccSigner(dcc_kid(der), der).public_key()
        except ValueError:
            continue  # no usable trust entry
        clock = dt.datetime.fromisoformat(ctx["VALIDATIONCLOCK"])
        clock = clock if clock.tzinfo else clock.replace(tzinfo=dt.UTC)
        trust = TrustList(dcc=[DccSigner(dcc_kid(der), der)])
        cases.append((path.relative_to(EU_DCC).as_posix(), v["PREFIX"], trust, clock))
    return cases


def _record(**kw: Any) -> CertificateRecord:
    v = vaccine("COVISHIELD")
    doses = tuple(
        DoseEntry(
            vaccine_code=v.code,
            vaccine_name=v.name,
            manufacturer=v.manufacturer,
            batch=f"4121Z{n:03d}",
            date=dt.date(2021, 6, 1) + dt.timedelta(days=84 * (n - 1)),
            dose_number=n,
            total_doses=v.default_doses,
            center_name="PHC Kasba, Kolkata",
        )
        for n in (1, 2)
    )
    args: dict[str, Any] = {
        "certificate_id": "CERT-0001-2345",
        "beneficiary_reference_id": "12345678901234",
        "name": "Asha Ramesh Kumari",
        "gender": "Female",
        "masked_id": "XXXXXXXX1234",
        "doses": doses,
        "issued_at": NOW,
        "version": 1,
        "status": "final",
        "birth_year": 1985,
    } | kw
    return CertificateRecord(**args)


def _resigned(credential: dict[str, Any], keyset: CertificateKeySet, **changes: Any) -> str:
    """Our credential changed and signed again with our key: a genuine signature over it."""
    doc = {k: v for k, v in credential.items() if k != "proof"} | changes
    key = keyset.vc.private_key
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    return vc.to_qr(vc.sign_jcs(doc, key, keyset.vc_verification_method, created=NOW))


def _flip(text: str, at: int, alphabet: str) -> str:
    c = text[at]
    return text[:at] + alphabet[(alphabet.index(c) + 1) % len(alphabet)] + text[at + 1 :]


def _forged_dcc(hc1: str) -> str:
    """The HC1 text with one byte of its COSE signature changed, compressed again."""
    cose = bytearray(zlib.decompress(b45decode(hc1[4:])))
    cose[-1] ^= 1
    return "HC1:" + b45encode(zlib.compress(bytes(cose), 9))


def _own_cases() -> list[tuple[str, str, TrustList, dt.datetime]]:
    keyset = CertificateKeySet.generate(
        issuer="https://immunet.example/issuer", now=NOW - dt.timedelta(days=30)
    )
    other = CertificateKeySet.generate(
        issuer="https://immunet.example/issuer", now=NOW - dt.timedelta(days=30)
    )
    issued = issue_all(_record(), keyset)
    trust = TrustList.from_keyset(keyset)
    hc1, vc_qr, shc_qr = issued["dcc"]["qr"], issued["vc"]["qr"], "\n".join(issued["shc"]["qr"])
    credential = issued["vc"]["credential"]
    uvci = _record().uvci
    revoked = TrustList.from_keyset(keyset)
    revoked.revoked_dcc = {uvci_hashes(uvci)[0]}
    revoked.revoked_vc = {"CERT-0001-2345"}
    revoked_version = TrustList.from_keyset(keyset)
    revoked_version.revoked_vc = {"CERT-0001-2345/v1"}
    unknown = TrustList.from_keyset(other)
    b45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
    b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    day = dt.timedelta(days=1)
    cases = [
        ("dcc valid", hc1, trust, NOW + day),
        ("dcc not yet valid", hc1, trust, NOW - day),
        ("dcc expired", hc1, trust, NOW + 400 * day),
        ("dcc revoked", hc1, revoked, NOW + day),
        ("dcc unknown key", hc1, unknown, NOW + day),
        ("dcc tampered (signature)", _flip(hc1, len(hc1) - 10, b45), trust, NOW + day),
        ("dcc forged signature", _forged_dcc(hc1), trust, NOW + day),
        ("dcc tampered (middle)", _flip(hc1, len(hc1) // 2, b45), trust, NOW + day),
        ("dcc bad base45", hc1[:-1] + "a", trust, NOW + day),
        ("vc valid", vc_qr, trust, NOW + day),
        ("vc revoked", vc_qr, revoked, NOW + day),
        ("vc revoked version", vc_qr, revoked_version, NOW + day),
        ("vc unknown key", vc_qr, unknown, NOW + day),
        ("vc tampered", _flip(vc_qr, len(vc_qr) // 2, b64), trust, NOW + day),
        ("vc not base64", vc_qr[:-2] + "*=", trust, NOW + day),
        (
            "vc expired",
            _resigned(credential, keyset, expirationDate="2024-02-01T00:00:00Z"),
            trust,
            NOW,
        ),
        (
            "vc expires later",
            _resigned(credential, keyset, expirationDate="2025-02-01T00:00:00+05:30"),
            trust,
            NOW,
        ),
        ("vc bad expiry", _resigned(credential, keyset, expirationDate="2024-02-31"), trust, NOW),
        ("vc undefined term", _resigned(credential, keyset, hidden="x"), trust, NOW),
        ("vc other issuer", _resigned(credential, keyset, issuer="https://x.example"), trust, NOW),
        ("vc no evidence", _resigned(credential, keyset, evidence=[]), trust, NOW),
        (
            "vc changed after signing",
            vc.to_qr(
                {
                    **credential,
                    "credentialSubject": {**credential["credentialSubject"], "name": "X"},
                }
            ),
            trust,
            NOW,
        ),
        (
            "vc wrong proof purpose",
            vc.to_qr(
                {**credential, "proof": {**credential["proof"], "proofPurpose": "authentication"}}
            ),
            trust,
            NOW,
        ),
        ("shc valid", shc_qr, trust, NOW + day),
        ("shc unknown key", shc_qr, unknown, NOW + day),
        ("not a certificate", "hello", trust, NOW),
        ("other prefix", "HC2:6BFOXN", trust, NOW),
        ("vc unbundled context", _resigned_context(credential, keyset), trust, NOW),
    ]
    return cases + [(f"hostile {n}", text, trust, NOW) for n, text in _hostile()]


def _resigned_context(credential: dict[str, Any], keyset: CertificateKeySet) -> str:
    doc = {k: v for k, v in credential.items() if k != "proof"}
    doc["@context"] = [*doc["@context"], "https://evil.example/ctx"]
    key = keyset.vc.private_key
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    return vc.to_qr(vc.sign_jcs(doc, key, keyset.vc_verification_method, created=NOW))


def _hc1(data: bytes) -> str:
    return "HC1:" + b45encode(zlib.compress(data, 9))


def _zip(member: bytes) -> str:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("certificate.json", member)
    return base64.b64encode(out.getvalue()).decode()


def _hostile() -> list[tuple[str, str]]:
    """Input built to hurt a decoder (as tests/unit/certificates/test_verify_hostile.py): the
    page must refuse each within its limits and for the server's reason."""
    bomb = zlib.compress(b"\0" * (5 * 1024 * 1024), 9)
    return [
        ("hc1 zip bomb", "HC1:" + b45encode(bomb)),
        ("hc1 truncated", "HC1:" + b45encode(bomb[:2000])),
        ("hc1 nested cbor", _hc1(b"\x81" * 100_000 + b"\x00")),
        ("hc1 huge byte string", _hc1(b"\x5b\xff\xff\xff\xff\xff\xff\xff\xff")),
        ("hc1 huge array", _hc1(b"\x9b\x00\x00\x00\x10\x00\x00\x00\x00")),
        ("hc1 huge map", _hc1(b"\xbb\x00\x00\x00\x10\x00\x00\x00\x00")),
        ("hc1 array of ints", _hc1(bytes.fromhex("8401020304"))),
        ("hc1 tag 18 of ints", _hc1(bytes.fromhex("d28401020304"))),
        ("hc1 unknown tag", _hc1(bytes.fromhex("d86380"))),
        ("hc1 map", _hc1(bytes.fromhex("a1616101"))),
        ("hc1 lower case", "hc1:NCFOXN"),
        ("hc1 not base45", "HC1:abc"),
        ("vc zip bomb", _zip(b" " * (5 * 1024 * 1024))),
        ("vc not json", _zip(b"[" * 200_000)),
        ("vc json array", _zip(b"[1]")),
        ("empty", ""),
        ("blank", "   "),
        ("shc one digit", "shc:/9"),
        ("shc chunk junk", "shc:/1/2/00"),
    ]


def _answer(result: dict[str, Any]) -> dict[str, Any]:
    return {k: result.get(k) for k in ("valid", "format", "reason")} | {
        "fields": result.get("fields") or {}
    }


def test_eu_dcc_and_our_credentials_verify_in_the_browser_as_on_the_server(
    chromium: Any, server: Server
):
    if server.database != "sqlite":
        pytest.skip("the check runs in the browser alone: once is enough")
    cases = _eu_dcc_cases() + _own_cases()
    assert len(cases) > 100
    bundles: dict[tuple[int, dt.datetime], dict[str, Any]] = {}
    inputs = []
    for _name, text, trust, at in cases:
        key = (id(trust), at)
        if key not in bundles:
            bundles[key] = offline.bundle(trust, at)
        inputs.append([text, list(bundles).index(key), at.timestamp()])
    expected = [verify_qr(text, trust, at=at).to_dict() for _n, text, trust, at in cases]

    context = chromium.new_context(base_url=server.base)
    page = context.new_page()
    try:
        page.goto("/verify")
        # Camera scanning is offered only where the browser reads QR codes itself (Debian's
        # Chromium on Linux has no BarcodeDetector): elsewhere the control stays hidden.
        reads_qr = page.evaluate(
            """() => 'BarcodeDetector' in window
                ? BarcodeDetector.getSupportedFormats().then(f => f.includes('qr_code'))
                : false"""
        )
        assert page.locator("#camera-scan").is_visible() is reads_qr
        assert page.get_by_label("Paste QR text").is_visible()
        got = page.evaluate(
            """([inputs, bundles]) => Promise.all(inputs.map(
                 ([text, b, now]) => window.immunetVerifyWith(text, bundles[b], now)))""",
            [inputs, list(bundles.values())],
        )
    finally:
        context.close()
    checked = unchecked = 0
    mismatches = []
    for (name, _text, _trust, _at), want, answer in zip(cases, expected, got, strict=True):
        if answer["reason"] == "online_only":  # "not checked here: connect"
            unchecked += 1
            continue
        checked += 1
        mine = _answer(answer)
        if mine["valid"]:
            mine["reason"] = None
        if want["format"] == "shc":  # the page shows an SHC as rows, not the server's fields
            mine["fields"] = want["fields"]
        if mine != want:
            mismatches.append((name, want, mine))
    assert not mismatches, mismatches[:3]
    by_name = {name: answer for (name, *_), answer in zip(cases, got, strict=True)}
    own = {name: (a["valid"], a["reason"]) for name, a in by_name.items() if " " in name}
    assert own["dcc valid"] == own["vc valid"] == own["shc valid"] == (True, "ok")
    for name in ("dcc revoked", "vc revoked", "vc revoked version"):
        assert own[name] == (False, "revoked")
    assert own["dcc not yet valid"] == own["vc expired"] == (False, "expired")
    # Every input is answered in the browser: none is left to the server ("connect").
    assert unchecked == 0, [
        n for (n, *_), a in zip(cases, got, strict=True) if a["reason"] == "online_only"
    ]
    reasons = collections.Counter(a["reason"] for a in got)
    assert {
        "ok",
        "bad_encoding",
        "bad_signature",
        "unknown_key",
        "key_not_allowed",
        "expired",
        "revoked",
        "schema_error",
    } <= set(reasons), reasons
    assert checked == len(cases)
