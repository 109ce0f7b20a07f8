"""The A4 PDF certificate: bilingual labels (English / Hindi) and the QR codes of every format.

Every text is set in the Noto Sans font of its script and shaped with HarfBuzz (see
:mod:`immunet.certificates.fonts`), so the person's name prints whatever Indian script it is
written in, and the Hindi labels' conjuncts and vowel signs come out right. QR codes are made
with ``segno``.
"""

from __future__ import annotations

import io
from typing import Any

import segno
from fpdf import FPDF

from .fonts import PdfFonts
from .record import CertificateRecord

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
    doses = sorted(record.doses, key=lambda d: (d.date, d.dose_number))
    dose_rows = [
        [
            f"{d.dose_number}/{max(d.total_doses, d.dose_number)}",
            d.vaccine_name,
            d.manufacturer[:32],
            d.batch,
            d.date.strftime("%d %b %Y"),
            f"{d.center_name[:36]}, {d.country}",
        ]
        for d in doses
    ]
    texts = [t for pair in LABELS.values() for t in pair]
    texts += [value for _, value in rows] + [v for row in dose_rows for v in row]
    fonts = PdfFonts(pdf, texts)
    pdf.add_page()
    pdf.cell(0, 10, fonts.use(LABELS["title"][0], 16), new_x="LMARGIN", new_y="NEXT", align="C")
    pdf.cell(0, 10, fonts.use(LABELS["title"][1], 16), new_x="LMARGIN", new_y="NEXT", align="C")
    pdf.cell(0, 7, fonts.use(_label(record.status), 11), new_x="LMARGIN", new_y="NEXT", align="C")
    pdf.ln(3)

    for key, value in rows:
        pdf.cell(80, 7, fonts.use(_label(key), 10), border=1)
        pdf.cell(0, 7, fonts.use(value, 10), border=1, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)

    headers = ["dose", "vaccine", "manufacturer", "batch", "date", "centre"]
    widths = [18, 26, 44, 24, 24, 54]
    for key, w in zip(headers, widths, strict=True):
        pdf.cell(w, 6, fonts.use(LABELS[key][0], 8), border="LTR")
    pdf.ln()
    for key, w in zip(headers, widths, strict=True):
        pdf.cell(w, 6, fonts.use(LABELS[key][1], 8), border="LBR")
    pdf.ln()
    for values in dose_rows:
        for value, w in zip(values, widths, strict=True):
            pdf.cell(w, 6, fonts.use(value, 8), border=1)
        pdf.ln()
    pdf.ln(4)

    pdf.cell(0, 7, fonts.use(_label("scan"), 10), new_x="LMARGIN", new_y="NEXT")
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
        pdf.cell(size, 5, fonts.use(caption, 8), align="C")
    return bytes(pdf.output())
