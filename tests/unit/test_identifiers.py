"""Identifier rules: Verhoeff, Aadhaar, mobile normalization, masking, names."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from immunet.people.identifiers import (
    InvalidIdentifier,
    mask_id_number,
    mask_mobile,
    normalize_aadhaar,
    normalize_id_number,
    normalize_mobile,
    normalize_name,
    verhoeff_check_digit,
    verhoeff_checksum_ok,
)

digits = st.text(alphabet="0123456789", min_size=1, max_size=30)


@given(digits)
def test_appending_the_check_digit_always_validates(payload):
    assert verhoeff_checksum_ok(payload + verhoeff_check_digit(payload))


@given(digits, st.integers(min_value=0, max_value=29), st.integers(min_value=1, max_value=9))
def test_any_single_digit_error_is_detected(payload, position, delta):
    number = payload + verhoeff_check_digit(payload)
    i = position % len(number)
    wrong = number[:i] + str((int(number[i]) + delta) % 10) + number[i + 1 :]
    assert not verhoeff_checksum_ok(wrong)


def test_known_verhoeff_vectors():
    assert verhoeff_check_digit("236") == "3"
    assert verhoeff_checksum_ok("2363")
    assert not verhoeff_checksum_ok("2364")


@given(
    st.text(alphabet="23456789", min_size=1, max_size=1),
    st.text(alphabet="0123456789", min_size=10, max_size=10),
)
def test_valid_aadhaar_accepted_with_spacing(first, rest):
    number = first + rest
    number += verhoeff_check_digit(number)
    assert normalize_aadhaar(number) == number
    spaced = f"{number[:4]} {number[4:8]}-{number[8:]}"
    assert normalize_aadhaar(spaced) == number


@pytest.mark.parametrize(
    "bad", ["", "12345678901", "0234567890123", "abcdefghijkl", "१२३४५६७८९०१२"]
)
def test_invalid_aadhaar_refused(bad):
    with pytest.raises(InvalidIdentifier):
        normalize_aadhaar(bad)


def test_aadhaar_starting_with_0_or_1_refused():
    for first in "01":
        payload = first + "23456789012"[:10]
        with pytest.raises(InvalidIdentifier):
            normalize_aadhaar(payload + verhoeff_check_digit(payload))


@given(
    st.text(alphabet="6789", min_size=1, max_size=1),
    st.text(alphabet="0123456789", min_size=9, max_size=9),
)
def test_every_mobile_format_normalizes_to_one_value(first, rest):
    m = first + rest
    forms = [
        m,
        f"+91{m}",
        f"91{m}",
        f"0{m}",
        f"091{m}",
        f"+91 {m[:5]}-{m[5:]}",
        f"({m[:3]}) {m[3:6]}-{m[6:]}",
    ]
    assert {normalize_mobile(f) for f in forms} == {m}


@pytest.mark.parametrize(
    "bad",
    [
        "abc",
        "12345",
        "98765432101",
        "5876543210",
        "+1 9876543210",
        "९८७६५४३२१०",
        "9876543210'; --",
        "",
        "9" * 40,
    ],
)
def test_malformed_mobiles_refused(bad):
    with pytest.raises(InvalidIdentifier):
        normalize_mobile(bad)


@given(st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVW", min_size=5, max_size=20))
def test_masking_shows_only_the_last_four(number):
    masked = mask_id_number(number)
    # Exactly a run of X and the last four: nothing else of the number survives.
    assert masked == "X" * (len(masked) - 4) + number[-4:]
    assert len(masked) >= 8


def test_masks_match_cowin_shapes():
    assert mask_id_number("234567890123") == "XXXXXXXX0123"
    assert mask_mobile("9876543210") == "XXXXXX3210"


def test_id_numbers_normalized():
    assert normalize_id_number(" ab-12 34/5 ") == "AB12345"
    with pytest.raises(InvalidIdentifier):
        normalize_id_number("<script>")


@pytest.mark.parametrize(
    "name", ["Asha Kumari", "आशा कुमारी", "அனிதா", "O'Brien-Singh", "Zoë  Ramos"]
)
def test_unicode_names_allowed(name):
    assert normalize_name(name)


@pytest.mark.parametrize(
    "name",
    ["<b>x</b>", "a\x00b", "bad\u202ename", "   ", "1234", "x" * 101, "a\nb" * 0 + "{{7*7}}"],
)
def test_markup_and_control_characters_refused(name):
    with pytest.raises(InvalidIdentifier):
        normalize_name(name)
