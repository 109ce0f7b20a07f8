from __future__ import annotations

from conftest import make_record
from immunet.certificates import issue_all
from immunet.certificates.keys import CertificateKeySet
from immunet.certificates.pdf import LABELS, render_pdf


def test_pdf_renders_with_qr_codes(keyset: CertificateKeySet, tmp_path) -> None:
    record = make_record()
    formats = issue_all(record, keyset)
    data = render_pdf(record, formats)
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    assert len(data) > 10_000
    assert data.count(b"/Subtype /Image") >= 3  # VC, DCC, SHC QR codes
    assert b"NotoSansDevanagari" in data  # the Hindi labels' font is embedded
    (tmp_path / "certificate.pdf").write_bytes(data)


def test_pdf_qr_codes_decode_to_the_exact_texts(keyset: CertificateKeySet) -> None:
    import pytest

    zxingcpp = pytest.importorskip("zxingcpp")
    import io

    from PIL import Image

    from immunet.certificates.pdf import _qr_png

    formats = issue_all(make_record(), keyset)
    for text in (formats["dcc"]["qr"], formats["vc"]["qr"], *formats["shc"]["qr"]):
        found = zxingcpp.read_barcodes(Image.open(io.BytesIO(_qr_png(text).getvalue())))
        assert found and found[0].text == text


def test_labels_are_bilingual() -> None:
    for en, hi in LABELS.values():
        assert en.isascii()
        assert any("\u0900" <= c <= "\u097f" for c in hi)
