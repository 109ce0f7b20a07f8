"""The A4 PDF certificate: bilingual labels (English / Hindi) and the QR codes of every format.

Hindi is set in Lohit Devanagari (SIL OFL 1.1, bundled from Debian's ``fonts-lohit-deva`` with its
licence) and shaped with HarfBuzz (``uharfbuzz``) so that conjuncts and vowel signs render
correctly. QR codes are made with ``segno``.
"""

from __future__ import annotations

import io
import logging
from importlib import resources
from typing import Any

import segno
from fpdf import FPDF

from .record import CertificateRecord

log = logging.getLogger(__name__)
FONT_NAME = "LohitDevanagari"
LABELS: dict[str, tuple[str, str]] = {
    "title": ("Certificate for COVID-19 Vaccination", "कोविड-19 टीकाकरण प्रमाणपत्र"),
    "provisional": ("Provisional certificate", "अनंतिम प्रमाणपत्र"),
    "final": ("Final certificate", "अंतिम प्रमाणपत्र"),
    "precaution": ("Precaution dose certificate", "एहतियाती खुराक प्रमाणपत्र"),
    "certificate_id": ("Certificate ID", "प्रमाणपत्र आईडी"),
    "reference_id": ("Beneficiary reference ID", "लाभार्थी संदर्भ आईडी"),
    "name": ("Name", "नाम"),
    "age": ("Year or date of birth", "जन्म वर्ष / तिथि"),
    "gender": ("Gender", "लिंग"),
    "id": ("ID (masked)", "पहचान पत्र"),
    "dose": ("Dose", "खुराक"),
    "vaccine": ("Vaccine", "टीका"),
    "manufacturer": ("Manufacturer", "निर्माता"),
    "batch": ("Batch", "बैच"),
    "date": ("Date", "तारीख"),
    "centre": ("Vaccination centre", "टीकाकरण केंद्र"),
    "issued": ("Issued", "जारी"),
    "version": ("Version", "संस्करण"),
    "scan": ("Scan to verify", "सत्यापन के लिए स्कैन करें"),
}


def _font_path() -> str:
    ref = resources.files("immunet.certificates").joinpath("data/fonts/Lohit-Devanagari.ttf")
    return str(ref)


def _qr_png(text: str, *, error: str = "m") -> io.BytesIO:
    buf = io.BytesIO()
    segno.make(text, error=error, micro=False).save(buf, kind="png", scale=4, border=2)
    buf.seek(0)
    return buf


def _label(key: str) -> str:
    en, hi = LABELS[key]
    return f"{en} / {hi}"


def render_pdf(record: CertificateRecord, formats: dict[str, Any]) -> bytes:
    """Render the certificate; ``formats`` is the answer of :func:`issue_all` for ``record``."""
    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_title("COVID-19 vaccination certificate")
    pdf.set_creator("immunet")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_font(FONT_NAME, fname=_font_path())
    try:
        pdf.set_text_shaping(True)
    except Exception as exc:  # uharfbuzz missing: Devanagari still renders, unshaped
        log.warning("text shaping unavailable (%s); Hindi labels render unshaped", exc)
    pdf.add_page()
    pdf.set_font(FONT_NAME, size=16)
    pdf.cell(0, 10, LABELS["title"][0], new_x="LMARGIN", new_y="NEXT", align="C")
    pdf.cell(0, 10, LABELS["title"][1], new_x="LMARGIN", new_y="NEXT", align="C")
    pdf.set_font(FONT_NAME, size=11)
    pdf.cell(0, 7, _label(record.status), new_x="LMARGIN", new_y="NEXT", align="C")
    pdf.ln(3)

    rows = [
        ("certificate_id", f"{record.certificate_id}"),
        ("version", str(record.version)),
        ("reference_id", record.beneficiary_reference_id),
        ("name", record.name),
        ("age", record.dob_text),
        ("gender", record.gender),
        ("id", record.masked_id),
        ("issued", record.issued_at.strftime("%d %b %Y")),
    ]
    pdf.set_font(FONT_NAME, size=10)
    for key, value in rows:
        pdf.cell(80, 7, _label(key), border=1)
        pdf.cell(0, 7, value, border=1, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)

    headers = ["dose", "vaccine", "manufacturer", "batch", "date", "centre"]
    widths = [18, 26, 44, 24, 24, 54]
    pdf.set_font(FONT_NAME, size=8)
    for key, w in zip(headers, widths, strict=True):
        pdf.cell(w, 6, LABELS[key][0], border="LTR")
    pdf.ln()
    for key, w in zip(headers, widths, strict=True):
        pdf.cell(w, 6, LABELS[key][1], border="LBR")
    pdf.ln()
    for d in sorted(record.doses, key=lambda d: (d.date, d.dose_number)):
        values = [
            f"{d.dose_number}/{max(d.total_doses, d.dose_number)}",
            d.vaccine_name,
            d.manufacturer[:32],
            d.batch,
            d.date.strftime("%d %b %Y"),
            f"{d.center_name[:36]}, {d.country}",
        ]
        for value, w in zip(values, widths, strict=True):
            pdf.cell(w, 6, value, border=1)
        pdf.ln()
    pdf.ln(4)

    pdf.set_font(FONT_NAME, size=10)
    pdf.cell(0, 7, _label("scan"), new_x="LMARGIN", new_y="NEXT")
    codes: list[tuple[str, str, str]] = [("W3C VC", formats["vc"]["qr"], "m")]
    codes.append(("EU DCC", formats["dcc"]["qr"], "q"))
    codes += [
        (f"SMART Health Card {i}/{len(formats['shc']['qr'])}", text, "l")
        for i, text in enumerate(formats["shc"]["qr"], start=1)
    ]
    size, gap = 58.0, 5.0
    x0 = pdf.l_margin
    y = pdf.get_y()
    for n, (caption, text, level) in enumerate(codes):
        col = n % 3
        if col == 0 and n:
            y += size + 10
        if y + size + 8 > pdf.h - pdf.b_margin:
            pdf.add_page()
            y = pdf.t_margin
        x = x0 + col * (size + gap)
        pdf.image(_qr_png(text, error=level), x=x, y=y, w=size, h=size)
        pdf.set_xy(x, y + size)
        pdf.set_font(FONT_NAME, size=8)
        pdf.cell(size, 5, caption, align="C")
    return bytes(pdf.output())
