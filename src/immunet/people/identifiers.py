"""Pure rules for identifiers: mobile numbers, Aadhaar, ID numbers, masking, names."""

from __future__ import annotations

import re
import unicodedata

from stdnum.exceptions import InvalidChecksum, ValidationError
from stdnum.in_ import aadhaar as stdnum_aadhaar


class InvalidIdentifier(ValueError):
    """The value is not a valid identifier of the kind asked for."""


def _ascii_digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def normalize_aadhaar(raw: str) -> str:
    """12 ASCII digits, first not 0 or 1, not a palindrome, Verhoeff check digit.

    The rules are python-stdnum's (``stdnum.in_.aadhaar``), a maintained implementation
    checked against published vectors: hand-copied Verhoeff tables were wrong once and
    refused 30% of real numbers. Spaces and dashes are allowed between the digits.
    """
    compact = re.sub(r"[ \-]", "", raw.strip())
    if len(compact) != 12 or not _ascii_digits(compact):
        raise InvalidIdentifier("an Aadhaar number has 12 digits")
    try:
        return str(stdnum_aadhaar.validate(compact))
    except InvalidChecksum as exc:
        raise InvalidIdentifier("the Aadhaar check digit does not match") from exc
    except ValidationError as exc:
        if compact[0] in "01":
            raise InvalidIdentifier("an Aadhaar number does not start with 0 or 1") from exc
        raise InvalidIdentifier("not a valid Aadhaar number") from exc


_MOBILE_SEPARATORS = re.compile(r"[ \-().]")


def normalize_mobile(raw: str) -> str:
    """Indian mobile numbers to their 10 significant digits, whatever the format.

    ``9876543210``, ``+919876543210``, ``0919876543210``, ``09876543210`` and
    ``+91 98765-43210`` are all the same mobile, so every limit keyed on the normalized
    value holds however the number is written. Non-ASCII digits are refused.

    Deliberately not narrowed to the allocated series in ``phonenumbers``' metadata (the
    tests use it as the independent reading): metadata lagging a new TRAI allocation
    would lock real people out, while an unallocated number costs one undelivered SMS
    within the send limits.
    """
    if len(raw) > 32:
        raise InvalidIdentifier("not a mobile number")
    compact = _MOBILE_SEPARATORS.sub("", raw.strip())
    if compact.startswith("+"):
        compact = compact[1:]
        if not compact.startswith("91"):
            raise InvalidIdentifier("only Indian mobile numbers (+91) are accepted")
        compact = compact[2:]
    if not _ascii_digits(compact):
        raise InvalidIdentifier("not a mobile number")
    if len(compact) == 13 and compact.startswith("091"):
        compact = compact[3:]
    elif len(compact) == 12 and compact.startswith("91"):
        compact = compact[2:]
    elif len(compact) == 11 and compact.startswith("0"):
        compact = compact[1:]
    if len(compact) != 10 or compact[0] not in "6789":
        raise InvalidIdentifier("not a mobile number")
    return compact


def mask_id_number(number: str) -> str:
    """Everything but the last four characters hidden: ``XXXXXXXX1234``."""
    tail = number[-4:]
    return "X" * max(len(number) - 4, 4) + tail


def mask_mobile(mobile: str) -> str:
    """Only the last four digits, as Co-WIN shows them: ``XXXXXX3210``."""
    return "XXXXXX" + mobile[-4:]


def normalize_id_number(raw: str) -> str:
    """Other photo IDs: upper-case ASCII letters and digits, 4 to 20 characters."""
    compact = re.sub(r"[ \-/]", "", raw.strip()).upper()
    if not (4 <= len(compact) <= 20) or not compact.isascii() or not compact.isalnum():
        raise InvalidIdentifier("not a valid ID number")
    return compact


_NAME_FORBIDDEN = re.compile(r"[<>{}\[\]\\/`$%@#^*=|~;\"]")

ZWNJ = "\u200c"
ZWJ = "\u200d"
# Scripts whose spelling needs ZERO WIDTH (NON-)JOINER inside words: the Brahmic scripts
# of India (e.g. Malayalam chillu forms, Devanagari half forms, Bengali ya-phala) and the
# Arabic script of Urdu, Kashmiri and Sindhi. Recognised by the Unicode character name.
_JOINING_SCRIPTS = (
    "DEVANAGARI",
    "BENGALI",
    "GURMUKHI",
    "GUJARATI",
    "ORIYA",
    "TAMIL",
    "TELUGU",
    "KANNADA",
    "MALAYALAM",
    "SINHALA",
    "ARABIC",
)


def _joining_script(ch: str) -> str | None:
    """The joining script of a letter or mark, or None (spaces, Latin, symbols...)."""
    if unicodedata.category(ch)[0] not in "LM":
        return None
    name = unicodedata.name(ch, "")
    return next((s for s in _JOINING_SCRIPTS if name.startswith(s + " ")), None)


def _joiner_inside_word(name: str, i: int) -> bool:
    """A ZWJ/ZWNJ at ``i`` belongs to a word of a joining script.

    It follows a letter or mark of that script and precedes another one of the same
    script, or ends the word right after a virama (as in Malayalam's legacy chillu
    ``ന്‍`` in a name such as ``അരുണ്‍``).
    """
    if i == 0:
        return False
    before = _joining_script(name[i - 1])
    if before is None:
        return False
    if i + 1 == len(name) or name[i + 1] == " ":
        return unicodedata.name(name[i - 1], "").endswith(("SIGN VIRAMA", "SIGN AL-LAKUNA"))
    return before == _joining_script(name[i + 1])


def normalize_name(raw: str) -> str:
    """Names in any script; control characters, markup and odd symbols are refused.

    Format characters (bidi overrides, zero-width space, BOM...) are refused, except ZWJ
    and ZWNJ inside a word of a script that needs them (:data:`_JOINING_SCRIPTS`).
    """
    name = unicodedata.normalize("NFC", " ".join(raw.split()))
    if not 1 <= len(name) <= 100:
        raise InvalidIdentifier("a name has 1 to 100 characters")
    for i, ch in enumerate(name):
        if ch in (ZWJ, ZWNJ) and _joiner_inside_word(name, i):
            continue
        category = unicodedata.category(ch)
        if category[0] == "C" or category in ("Zl", "Zp"):
            raise InvalidIdentifier("a name cannot contain control characters")
    if _NAME_FORBIDDEN.search(name):
        raise InvalidIdentifier("a name cannot contain markup or symbols")
    if not any(unicodedata.category(ch)[0] == "L" for ch in name):
        raise InvalidIdentifier("a name needs at least one letter")
    return name
