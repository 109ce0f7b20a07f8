"""Fonts for the PDFs people print (the certificate, the appointment slip), per script.

A person's name may be written in any of India's major scripts, and no single font covers
them: each text is set in the Noto Sans font of its script (Latin, Devanagari, Bengali,
Gurmukhi, Gujarati, Odia, Tamil, Telugu, Kannada, Malayalam; SIL OFL 1.1, bundled in
``data/fonts/`` with the licence), shaped by HarfBuzz (``uharfbuzz``) so conjuncts, reordered
vowel signs and ligatures come out right. Characters the chosen font lacks (Latin letters in
a Devanagari name, an English label next to a Hindi one) are taken from the other fonts
(fpdf2's fallback fonts), so a mixed-script text prints whole.

Only the fonts a document needs are embedded (and subset by fpdf2), so a PDF stays small.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from functools import cache
from importlib import resources
from typing import Any

LATIN = "latin"
# family -> bundled file. The family names are what fpdf2 and pdffonts report.
FONT_FILES: dict[str, str] = {
    LATIN: "NotoSans-Regular.ttf",  # Latin, Greek, Cyrillic
    "devanagari": "NotoSansDevanagari-Regular.ttf",
    "bengali": "NotoSansBengali-Regular.ttf",  # Bengali and Assamese
    "gurmukhi": "NotoSansGurmukhi-Regular.ttf",
    "gujarati": "NotoSansGujarati-Regular.ttf",
    "oriya": "NotoSansOriya-Regular.ttf",
    "tamil": "NotoSansTamil-Regular.ttf",
    "telugu": "NotoSansTelugu-Regular.ttf",
    "kannada": "NotoSansKannada-Regular.ttf",
    "malayalam": "NotoSansMalayalam-Regular.ttf",
}
# Unicode blocks of the Indic scripts (letters and marks only decide the script).
_BLOCKS: tuple[tuple[int, int, str], ...] = (
    (0x0900, 0x097F, "devanagari"),
    (0x0980, 0x09FF, "bengali"),
    (0x0A00, 0x0A7F, "gurmukhi"),
    (0x0A80, 0x0AFF, "gujarati"),
    (0x0B00, 0x0B7F, "oriya"),
    (0x0B80, 0x0BFF, "tamil"),
    (0x0C00, 0x0C7F, "telugu"),
    (0x0C80, 0x0CFF, "kannada"),
    (0x0D00, 0x0D7F, "malayalam"),
    (0x1CD0, 0x1CFF, "devanagari"),  # Vedic extensions
    (0xA8E0, 0xA8FF, "devanagari"),  # Devanagari extended
)


def script_of(ch: str) -> str | None:
    """The font family a letter or mark needs; ``None`` for a character any font may set
    (space, digit, punctuation, danda, ZWJ/ZWNJ): it follows the text around it."""
    if unicodedata.category(ch)[0] not in ("L", "M"):
        return None
    code = ord(ch)
    for first, last, family in _BLOCKS:
        if first <= code <= last:
            return family
    return LATIN


def scripts_in(text: str) -> list[str]:
    """The families a text needs, in order of first appearance."""
    seen: dict[str, None] = {}
    for ch in text:
        family = script_of(ch)
        if family is not None:
            seen.setdefault(family)
    return list(seen)


def family_for(text: str) -> str:
    """The font of a text: that of its first letter's script (Latin for none)."""
    found = scripts_in(text)
    return found[0] if found else LATIN


def font_path(family: str) -> str:
    ref = resources.files("immunet.certificates").joinpath(f"data/fonts/{FONT_FILES[family]}")
    return str(ref)


@cache
def _coverage() -> frozenset[int]:
    from fontTools.ttLib import TTFont  # type: ignore[import-untyped]

    covered: set[int] = set()
    for family in FONT_FILES:
        with TTFont(font_path(family), lazy=True) as font:
            covered.update(font.getBestCmap())
    return frozenset(covered)


def unprintable(text: str) -> set[str]:
    """The visible characters of ``text`` that no bundled font has (printed blank)."""
    covered = _coverage()
    return {
        ch
        for ch in text
        if ord(ch) not in covered and unicodedata.category(ch)[0] not in ("C", "Z")
    }


class PdfFonts:
    """The fonts of one document: registers those ``texts`` need, then sets each text's."""

    def __init__(self, pdf: Any, texts: Iterable[str]) -> None:
        wanted: dict[str, None] = {LATIN: None}
        for text in texts:
            for family in scripts_in(text):
                wanted.setdefault(family)
        self.pdf = pdf
        self.families = list(wanted)
        for family in self.families:
            pdf.add_font(family, fname=font_path(family))
        # Shaping is required: without it Indic text prints with broken conjuncts.
        pdf.set_text_shaping(True)
        pdf.set_fallback_fonts(self.families, exact_match=False)

    def use(self, text: str, size: float) -> str:
        """Select the font of ``text`` at ``size``; returns the text, for inline use."""
        family = family_for(text)
        self.pdf.set_font(family if family in self.families else LATIN, size=size)
        return text
