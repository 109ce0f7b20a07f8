"""Certificates in the portal: the citizen sees the QR codes and downloads the PDF; the
verifier page answers as the API's verifier does, on valid and altered certificates."""

from __future__ import annotations

import html
import re

from tests.conftest import Outbox
from tests.factories.certificates import record_dose
from tests.web.portal import Browser


async def _vaccinated(browser: Browser, outbox: Outbox, ctx, mobile: str) -> tuple[str, str]:
    me = await browser.login(outbox, mobile)
    added = await browser.submit(
        me,
        "/me/members",
        name="Ravi Shankar",
        birth_year="1970",
        gender_id="1",
        photo_id_type="4",
        photo_id_number="M7654321",
    )
    assert added.status == 303
    me = await browser.get("/me")
    reference = re.search(r"/me/book\?beneficiary=([0-9]+)", me.text).group(1)
    await record_dose(ctx, reference, dose=1, center_id=None)
    return reference, (await browser.get("/me")).text


async def test_certificate_page_shows_each_format_and_downloads_the_pdf(
    browser: Browser, outbox: Outbox, ctx
):
    reference, me = await _vaccinated(browser, outbox, ctx, "9876500101")
    assert f"/me/certificate?beneficiary={reference}" in me
    page = await browser.get("/me/certificate", beneficiary=reference)
    assert page.status == 200
    assert page.response.headers["cache-control"] == "no-store"
    assert page.text.count("<svg") >= 3  # VC, DCC and at least one SHC chunk
    assert "Download certificate" in page.labels()
    pdf = await browser.http.get("/me/certificate.pdf", params={"beneficiary": reference})
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    # The QR texts are those the API hands out for the same certificate.
    texts = {
        kind: html.unescape(text)
        for kind, text in re.findall(r'data-format="(\w+)">([^<]+)</pre>', page.text)
    }
    assert texts["dcc"].startswith("HC1:")


async def test_verifier_page_agrees_with_the_api(browser: Browser, outbox: Outbox, ctx):
    reference, _me = await _vaccinated(browser, outbox, ctx, "9876500102")
    page = await browser.get("/me/certificate", beneficiary=reference)
    texts = dict(
        (kind, html.unescape(text))
        for kind, text in re.findall(r'data-format="(\w+)">([^<]+)</pre>', page.text)
    )
    form = await browser.get("/verify")
    assert "Paste QR text" in form.labels()
    for kind in ("vc", "dcc"):
        text = texts[kind]
        api = (await browser.http.post("/api/v2/certificates/verify", json={"qr": text})).json()
        answer = await browser.submit(form, "/verify", qr=text)
        assert answer.status == 200
        assert api["valid"] is True
        assert '<h2 id="result-heading">Valid</h2>' in answer.text
        # Altered by one character: both say not valid, the page says why.
        middle = len(text) // 2
        forged = text[:middle] + ("A" if text[middle] != "A" else "B") + text[middle + 1 :]
        api = (await browser.http.post("/api/v2/certificates/verify", json={"qr": forged})).json()
        answer = await browser.submit(form, "/verify", qr=forged)
        assert api["valid"] is False
        assert '<h2 id="result-heading">Not valid</h2>' in answer.text
        assert "Ravi Shankar" not in answer.text  # a forgery's claims are not shown


async def test_verifier_page_in_hindi_and_bounded(browser: Browser):
    await browser.http.get("/lang", params={"to": "hi"})
    form = await browser.get("/verify")
    answer = await browser.submit(form, "/verify", qr="HC1:NOTACERTIFICATE")
    assert '<h2 id="result-heading">मान्य नहीं</h2>' in answer.text
    too_big = await browser.submit(form, "/verify", qr="A" * 17_000)
    assert too_big.status == 400
    assert 'role="alert"' in too_big.text
    huge = await browser.http.post("/verify", data={"csrf": form.csrf(), "qr": "A" * 70_000})
    assert huge.status_code in (400, 413)
