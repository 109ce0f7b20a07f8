"""The offline verifier in Chromium with the network cut: the service worker serves /verify and
the saved trust list, and the page checks SMART Health Cards with WebCrypto, giving the same
answer (valid, reason) as the server's verifier on the spec's examples and the dev-tools'
broken ones."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from immunet.certificates.service import import_trust_list
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
    finally:
        context.close()
