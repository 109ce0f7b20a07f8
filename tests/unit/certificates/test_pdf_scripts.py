"""Names in every supported script print on the appointment slip and the certificate PDF.

The defect: a Devanagari name came out blank on the slip (its font had no glyphs for it).
Each PDF is checked with poppler, which we did not write: ``pdffonts`` must list the Noto
font of the name's script as embedded, ``pdftotext`` must give the name's characters back,
and ``pdftoppm`` must show ink where the name is (the same document with the name replaced
by spaces is the blank reference).
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from conftest import make_record
from immunet.booking.slip import SlipData, render_slip
from immunet.certificates import fonts, issue_all
from immunet.certificates.keys import CertificateKeySet
from immunet.certificates.pdf import render_pdf

# Names with conjuncts, pre-base and split vowel signs, nukta and chillu forms.
NAMES: dict[str, str] = {
    "latin": "Asha Ramesh Kumari",
    "devanagari": "आशा क्षत्रिय कुमारी",
    "bengali": "সৌমিত্র চট্টোপাধ্যায়",
    "gurmukhi": "ਗੁਰਪ੍ਰੀਤ ਸਿੰਘ ਖ਼ਾਲਸਾ",
    "gujarati": "ક્ષિતિજ પટેલ",
    "oriya": "ଶ୍ରୀକାନ୍ତ ମହାପାତ୍ର",
    "tamil": "செல்வி கௌசல்யா",
    "telugu": "శ్రీనివాస్ రెడ్డి",
    "kannada": "ಕೃಷ್ಣಮೂರ್ತಿ ಹೆಗ್ಡೆ",
    "malayalam": "ശ്രീലക്ഷ്മി കെ. നായർ",
}
SCRIPTS = list(NAMES)

POPPLER = all(shutil.which(t) for t in ("pdffonts", "pdftotext", "pdftoppm"))


@pytest.fixture(autouse=True)
def _poppler() -> None:
    if POPPLER:
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail("poppler-utils (pdffonts, pdftotext, pdftoppm) are needed in CI")
    pytest.skip("poppler-utils (pdffonts, pdftotext, pdftoppm) not installed")


def _slip(name: str) -> bytes:
    return render_slip(
        SlipData(
            appointment_id="a7d4e3b2-0c1f-4e5a-9b8c-1d2e3f405162",
            status="Booked",
            center_name="PHC Kasba",
            center_address="1 MG Road",
            district_name="Kolkata",
            state_name="West Bengal",
            pincode="700107",
            date="01-06-2026",
            slot="09:00AM-11:00AM",
            dose=1,
            vaccine="COVISHIELD",
            beneficiary_name=name,
            beneficiary_reference_id="12345678901234",
            masked_id="XXXXXXXX1234",
            photo_id_type="Aadhaar Card",
            secret_code="4821",
        )
    )


@pytest.fixture(scope="module")
def formats(keyset: CertificateKeySet) -> dict:
    # Only the printed text is under test here: short QR texts keep the QR encoder (most of
    # a certificate's rendering time) out of the way; real ones are in test_pdf.py.
    real = issue_all(make_record(), keyset)
    return {**real, "vc": {"qr": "VC"}, "dcc": {"qr": "HC1:X"}, "shc": {"qr": ["shc:/0"]}}


@pytest.fixture(scope="module")
def blanks() -> dict[str, bytes]:
    """Each document with a blank name (rendered once): the reference for text and ink."""
    return {}


def _certificate(name: str, formats: dict) -> bytes:
    return render_pdf(dataclasses.replace(make_record(), name=name), formats)


def _run(tool: str, path: Path, *args: str) -> str:
    done = subprocess.run(
        [tool, *args, str(path)] if tool == "pdffonts" else [tool, *args, str(path), "-"],
        capture_output=True,
        check=True,
        timeout=60,
    )
    return done.stdout.decode("utf-8")


def _embedded_fonts(path: Path) -> dict[str, bool]:
    """pdffonts: base font name (without the subset tag) -> embedded."""
    out: dict[str, bool] = {}
    for line in _run("pdffonts", path).splitlines()[2:]:
        columns = line.split()
        name = re.sub(r"^[A-Z]{6}\+", "", columns[0])
        emb = [c for c in columns if c in ("yes", "no")]
        out[name] = bool(emb) and emb[0] == "yes"
    return out


def _letters(text: str) -> Counter[str]:
    return Counter(ch for ch in text if not ch.isspace())


def _ink(pdf: bytes, blank: bytes, tmp_path: Path) -> int:
    """Pixels of page 1 that differ between the document and its blank-name twin."""
    pages = []
    for label, data in (("named", pdf), ("blank", blank)):
        source = tmp_path / f"{label}.pdf"
        source.write_bytes(data)
        subprocess.run(
            ["pdftoppm", "-r", "100", "-gray", "-f", "1", "-l", "1", "-png", str(source)]
            + [str(tmp_path / label)],
            check=True,
            timeout=60,
        )
        (page,) = sorted(tmp_path.glob(f"{label}*.png"))
        pages.append(Image.open(page).convert("L"))
    diff = ImageChops.difference(pages[0], pages[1]).point(lambda v: 255 if v > 64 else 0)
    return diff.histogram()[255]


@pytest.mark.parametrize("script", SCRIPTS)
@pytest.mark.parametrize("document", ["slip", "certificate"])
def test_name_prints_in_its_script(script: str, document: str, formats, blanks, tmp_path) -> None:
    name = NAMES[script]
    assert fonts.scripts_in(name) == [script]
    assert fonts.unprintable(name) == set()
    render = _slip if document == "slip" else (lambda n: _certificate(n, formats))
    data = render(name)
    path = tmp_path / f"{document}.pdf"
    path.write_bytes(data)

    embedded = _embedded_fonts(path)
    expected = fonts.FONT_FILES[script].removesuffix("-Regular.ttf")
    assert embedded.get(expected) is True, embedded

    # The text layer holds exactly the name's characters more than the blank-name twin's
    # (shaping may reorder a pre-base vowel sign in extraction: characters are compared,
    # not their order).
    if document not in blanks:
        blanks[document] = render(" ")
    blank = blanks[document]
    blank_path = tmp_path / f"{document}-blank.pdf"
    blank_path.write_bytes(blank)
    text = _run("pdftotext", path, "-enc", "UTF-8")
    reference = _run("pdftotext", blank_path, "-enc", "UTF-8")
    assert _letters(text) - _letters(reference) == _letters(name), text

    # And the name is drawn: ink where the blank-name twin has none.
    assert _ink(data, blank, tmp_path) > 12 * len(name.replace(" ", ""))


def test_mixed_script_name_uses_both_fonts(formats, tmp_path) -> None:
    name = "Ravi रवि Kumar"
    path = tmp_path / "slip.pdf"
    path.write_bytes(_slip(name))
    embedded = _embedded_fonts(path)
    assert embedded.get("NotoSans") and embedded.get("NotoSansDevanagari"), embedded
    assert _letters(name) <= _letters(_run("pdftotext", path, "-enc", "UTF-8"))


def test_only_needed_fonts_are_embedded(formats, tmp_path) -> None:
    path = tmp_path / "certificate.pdf"
    path.write_bytes(_certificate(NAMES["tamil"], formats))
    # Latin and Devanagari for the bilingual labels, Tamil for the name: nothing else.
    assert set(_embedded_fonts(path)) == {"NotoSans", "NotoSansDevanagari", "NotoSansTamil"}


def test_bundled_fonts_are_licensed_and_small() -> None:
    folder = Path(fonts.font_path(fonts.LATIN)).parent
    files = {p.name for p in folder.glob("*.ttf")}
    assert files == set(fonts.FONT_FILES.values())
    assert sum(p.stat().st_size for p in folder.glob("*.ttf")) < 6 * 1024 * 1024
    licence = (folder / "LICENSE-Noto.txt").read_text(encoding="utf-8")
    assert "SIL OPEN FONT LICENSE" in licence and "Version 1.1" in licence
