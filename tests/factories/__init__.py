"""Factories for test data that go through the real API or services."""

from __future__ import annotations

import random

from stdnum import verhoeff
from stdnum.in_ import aadhaar as stdnum_aadhaar


def aadhaar(seed: int | None = None) -> str:
    """A valid Aadhaar number that belongs to no one.

    The check digit comes from python-stdnum, never from our own code, so a wrong rule
    of ours cannot make its own test data agree with it.
    """
    rng = random.Random(seed)
    while True:
        payload = str(rng.randint(2, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(10))
        number = payload + verhoeff.calc_check_digit(payload)
        if stdnum_aadhaar.is_valid(number):  # not a palindrome
            return number


def mobile(seed: int) -> str:
    return f"9{seed:09d}"[-10:] if seed >= 0 else "9000000000"


def adult(
    name: str = "Asha Kumari", *, birth_year: str = "1985", id_number: str | None = None
) -> dict[str, object]:
    return {
        "name": name,
        "birth_year": birth_year,
        "gender_id": 2,
        "photo_id_type": 1,
        "photo_id_number": id_number or aadhaar(),
        "comorbidity_ind": "N",
        "consent_version": "1",
    }
