"""The appointment slip: a one-page PDF (fpdf2) with a QR code (segno). Pure rendering."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import segno
from fpdf import FPDF

_UNICODE_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
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
    pdf.add_page()
    if _UNICODE_FONT.exists():
        pdf.add_font("slip", "", str(_UNICODE_FONT))
        family = "slip"

        def text(value: str) -> str:
            return value
    else:  # pragma: no cover - machines without DejaVu fall back to a Latin-1 core font
        family = "Helvetica"

        def text(value: str) -> str:
            return value.encode("latin-1", "replace").decode("latin-1")

    pdf.set_font(family, size=18)
    pdf.cell(0, 12, text("Vaccination appointment slip"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(family, size=10)
    pdf.cell(0, 6, text(f"Appointment ID: {data.appointment_id}"), new_x="LMARGIN", new_y="NEXT")
    pdf.cell(0, 6, text(f"Status: {data.status}"), new_x="LMARGIN", new_y="NEXT")
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
    pdf.set_font(family, size=11)
    for label, value in rows:
        pdf.cell(40, 8, text(label))
        pdf.multi_cell(0, 8, text(value or "-"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font(family, size=14)
    pdf.cell(0, 10, text(f"Secret code: {data.secret_code}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(family, size=9)
    pdf.multi_cell(
        0,
        5,
        text(
            "Show this code (or the QR code) to the vaccinator at the centre. "
            "Do not share it with anyone else."
        ),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.image(_qr_png(qr_payload(data.appointment_id, data.secret_code)), w=50, h=50)
    return bytes(pdf.output())
