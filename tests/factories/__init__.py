"""Factories for test data that go through the real API or services."""

from __future__ import annotations

import random

from immunet.people.identifiers import verhoeff_check_digit


def aadhaar(seed: int | None = None) -> str:
    """A valid (Verhoeff-correct) Aadhaar number that belongs to no one."""
    rng = random.Random(seed)
    payload = str(rng.randint(2, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(10))
    return payload + verhoeff_check_digit(payload)


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
