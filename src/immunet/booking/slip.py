"""The appointment slip: a one-page PDF (fpdf2) with a QR code (segno). Pure rendering.

Texts are set in the bundled Noto Sans font of their script and shaped (the certificate's
fonts, :mod:`immunet.certificates.fonts`), so a name in any Indian script prints.
"""

from __future__ import annotations

import io
import json
from dataclasses import astuple, dataclass

import segno
from fpdf import FPDF

from immunet.certificates.fonts import PdfFonts

_DOSE_LABELS = {1: "Dose 1", 2: "Dose 2", 3: "Precaution dose"}


@dataclass(frozen=True)
class SlipData:
    appointment_id: str
    status: str
    center_name: str
    center_address: str
    district_name: str
    state_name: str
    pincode: str
    date: str
    slot: str
    dose: int
    vaccine: str
    beneficiary_name: str
    beneficiary_reference_id: str
    masked_id: str
    photo_id_type: str
    secret_code: str


def qr_payload(appointment_id: str, code: str) -> str:
    return json.dumps({"appointment_id": appointment_id, "code": code}, separators=(",", ":"))


def _qr_png(payload: str) -> io.BytesIO:
    buffer = io.BytesIO()
    segno.make(payload, error="m").save(buffer, kind="png", scale=8, border=2)
    buffer.seek(0)
    return buffer


def render_slip(data: SlipData) -> bytes:
    pdf = FPDF(format="A4")
    pdf.set_title("Appointment slip")
    pdf.set_creator("immunet")
    fonts = PdfFonts(pdf, [str(v) for v in astuple(data)])
    pdf.add_page()
    pdf.cell(0, 12, fonts.use("Vaccination appointment slip", 18), new_x="LMARGIN", new_y="NEXT")
    pdf.cell(
        0, 6, fonts.use(f"Appointment ID: {data.appointment_id}", 10), new_x="LMARGIN", new_y="NEXT"
    )
    pdf.cell(0, 6, fonts.use(f"Status: {data.status}", 10), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    rows = [
        ("Beneficiary", data.beneficiary_name),
        ("Reference ID", data.beneficiary_reference_id),
        ("Photo ID", f"{data.photo_id_type} {data.masked_id}".strip()),
        ("Centre", data.center_name),
        ("Address", data.center_address),
        ("District", f"{data.district_name}, {data.state_name} {data.pincode}"),
        ("Date", data.date),
        ("Time slot", data.slot),
        ("Dose", _DOSE_LABELS.get(data.dose, f"Dose {data.dose}")),
        ("Vaccine", data.vaccine),
    ]
    for label, value in rows:
        pdf.cell(40, 8, fonts.use(label, 11))
        pdf.multi_cell(0, 8, fonts.use(value or "-", 11), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.cell(
        0, 10, fonts.use(f"Secret code: {data.secret_code}", 14), new_x="LMARGIN", new_y="NEXT"
    )
    pdf.multi_cell(
        0,
        5,
        fonts.use(
            "Show this code (or the QR code) to the vaccinator at the centre. "
            "Do not share it with anyone else.",
            9,
        ),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.image(_qr_png(qr_payload(data.appointment_id, data.secret_code)), w=50, h=50)
    return bytes(pdf.output())
