"""Pure rules for identifiers: mobile numbers, Aadhaar (Verhoeff), ID numbers, masking, names."""

from __future__ import annotations

import re
import unicodedata

# Verhoeff tables (dihedral group D5): multiplication, permutation and inverse.
_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8),
    (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2),
    (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
    (9, 4, 5, 3, 1, 2, 7, 6, 8, 0),
    (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5),
    (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)
_INV = (0, 4, 3, 2, 1, 5, 6, 7, 8, 9)


class InvalidIdentifier(ValueError):
    """The value is not a valid identifier of the kind asked for."""


def _ascii_digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def verhoeff_checksum_ok(number: str) -> bool:
    if not number or not _ascii_digits(number):
        return False
    check = 0
    for i, ch in enumerate(reversed(number)):
        check = _D[check][_P[i % 8][int(ch)]]
    return check == 0


def verhoeff_check_digit(payload: str) -> str:
    if not _ascii_digits(payload):
        raise InvalidIdentifier("digits only")
    check = 0
    for i, ch in enumerate(reversed(payload)):
        check = _D[check][_P[(i + 1) % 8][int(ch)]]
    return str(_INV[check])


def normalize_aadhaar(raw: str) -> str:
    """12 ASCII digits, first not 0 or 1, Verhoeff check digit; spaces and dashes allowed."""
    compact = re.sub(r"[ \-]", "", raw.strip())
    if len(compact) != 12 or not _ascii_digits(compact):
        raise InvalidIdentifier("an Aadhaar number has 12 digits")
    if compact[0] in "01":
        raise InvalidIdentifier("an Aadhaar number does not start with 0 or 1")
    if not verhoeff_checksum_ok(compact):
        raise InvalidIdentifier("the Aadhaar check digit does not match")
    return compact


_MOBILE_SEPARATORS = re.compile(r"[ \-().]")


def normalize_mobile(raw: str) -> str:
    """Indian mobile numbers to their 10 significant digits, whatever the format.

    ``9876543210``, ``+919876543210``, ``0919876543210``, ``09876543210`` and
    ``+91 98765-43210`` are all the same mobile, so every limit keyed on the normalized
    value holds however the number is written. Non-ASCII digits are refused.
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


def normalize_name(raw: str) -> str:
    """Names in any script; control characters, markup and odd symbols are refused."""
    name = unicodedata.normalize("NFC", " ".join(raw.split()))
    if not 1 <= len(name) <= 100:
        raise InvalidIdentifier("a name has 1 to 100 characters")
    for ch in name:
        category = unicodedata.category(ch)
        if category[0] == "C" or category in ("Zl", "Zp"):
            raise InvalidIdentifier("a name cannot contain control characters")
    if _NAME_FORBIDDEN.search(name):
        raise InvalidIdentifier("a name cannot contain markup or symbols")
    if not any(unicodedata.category(ch)[0] == "L" for ch in name):
        raise InvalidIdentifier("a name needs at least one letter")
    return name
