"""Identifier rules: Aadhaar, mobile normalization, masking, names.

Checked against independent implementations (python-stdnum, phonenumbers) and published
vectors, never against numbers our own code produced.
"""

from __future__ import annotations

import random
import unicodedata

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum import verhoeff
from stdnum.in_ import aadhaar as stdnum_aadhaar

from immunet.people.identifiers import (
    InvalidIdentifier,
    mask_id_number,
    mask_mobile,
    normalize_aadhaar,
    normalize_id_number,
    normalize_mobile,
    normalize_name,
)

# Published vectors. Verhoeff: Wikipedia's worked example (236 -> 2363) and Rosetta Code's
# task (12345 -> 123451, 123456789012 -> 1234567890120). Aadhaar: python-stdnum's doc
# example and two numbers of UIDAI's public authentication sandbox.
VERHOEFF_VECTORS = {"236": "3", "12345": "1", "123456789012": "0", "142857": "0"}
PUBLISHED_AADHAAR = ["234123412346", "999941057058", "999971658847"]


def test_the_oracle_agrees_with_published_verhoeff_vectors():
    # The independent implementation we test against must itself match the literature.
    for payload, check in VERHOEFF_VECTORS.items():
        assert verhoeff.calc_check_digit(payload) == check
        assert verhoeff.is_valid(payload + check)


@pytest.mark.parametrize("number", PUBLISHED_AADHAAR)
def test_published_aadhaar_numbers_are_accepted(number):
    assert normalize_aadhaar(number) == number
    assert normalize_aadhaar(f"{number[:4]} {number[4:8]} {number[8:]}") == number
    for wrong in "0123456789":
        if wrong != number[-1]:
            with pytest.raises(InvalidIdentifier, match="check digit"):
                normalize_aadhaar(number[:-1] + wrong)


def test_a_thousand_numbers_with_independent_check_digits_are_all_accepted():
    # The defect: 304 of 1,000 such numbers were refused by a mistyped permutation table.
    rng = random.Random(20260401)
    refused = []
    for _ in range(1000):
        payload = str(rng.randint(2, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(10))
        number = payload + verhoeff.calc_check_digit(payload)
        if not stdnum_aadhaar.is_valid(number):
            continue  # a palindrome: refused by the rules, checked below
        try:
            normalize_aadhaar(number)
        except InvalidIdentifier:
            refused.append(number)
    assert refused == []


@given(st.text(alphabet="0123456789", min_size=12, max_size=12))
def test_accepts_exactly_what_the_independent_implementation_accepts(number):
    try:
        normalize_aadhaar(number)
        ours = True
    except InvalidIdentifier:
        ours = False
    assert ours == stdnum_aadhaar.is_valid(number)


@given(
    st.text(alphabet="23456789", min_size=1, max_size=1),
    st.text(alphabet="0123456789", min_size=10, max_size=10),
    st.integers(min_value=0, max_value=11),
    st.integers(min_value=1, max_value=9),
)
def test_any_single_digit_error_is_detected(first, rest, position, delta):
    number = first + rest + verhoeff.calc_check_digit(first + rest)
    wrong = number[:position] + str((int(number[position]) + delta) % 10) + number[position + 1 :]
    with pytest.raises(InvalidIdentifier):
        normalize_aadhaar(wrong)


@given(
    st.text(alphabet="23456789", min_size=1, max_size=1),
    st.text(alphabet="0123456789", min_size=10, max_size=10),
)
def test_valid_aadhaar_accepted_with_spacing(first, rest):
    number = first + rest + verhoeff.calc_check_digit(first + rest)
    if number == number[::-1]:
        return
    assert normalize_aadhaar(number) == number
    spaced = f"{number[:4]} {number[4:8]}-{number[8:]}"
    assert normalize_aadhaar(spaced) == number


@pytest.mark.parametrize(
    "bad", ["", "12345678901", "0234567890123", "abcdefghijkl", "१२३४५६७८९०१२", "222222222222"]
)
def test_invalid_aadhaar_refused(bad):
    with pytest.raises(InvalidIdentifier):
        normalize_aadhaar(bad)


def test_aadhaar_starting_with_0_or_1_refused():
    for first in "01":
        payload = first + "2345678901"
        with pytest.raises(InvalidIdentifier, match="0 or 1"):
            normalize_aadhaar(payload + verhoeff.calc_check_digit(payload))


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


@given(
    st.text(alphabet="6789", min_size=1, max_size=1),
    st.text(alphabet="0123456789", min_size=9, max_size=9),
)
def test_mobiles_normalize_as_phonenumbers_parses_them(first, rest):
    # phonenumbers (Google's libphonenumber metadata) is the independent reading of an
    # Indian number; wherever it calls the number an Indian mobile, we agree on its digits.
    national = first + rest
    for written in (national, f"+91{national}", f"+91 {national[:5]} {national[5:]}"):
        parsed = phonenumbers.parse(written, "IN")
        kind = phonenumbers.number_type(parsed)
        if not phonenumbers.is_valid_number(parsed) or kind not in (
            phonenumbers.PhoneNumberType.MOBILE,
            phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
        ):
            continue
        assert normalize_mobile(written) == str(parsed.national_number)


# ZWJ / ZWNJ inside words, written as the languages' users write them.
JOINER_NAMES = [
    "क्\u200dष",  # Devanagari: explicit half form (ZWJ)
    "अरुण्\u200dकुमार",  # Devanagari half form inside a name
    "കാര്\u200dത്തിക്",  # Malayalam: legacy chillu inside a word (ZWJ)
    "അരുണ്\u200d",  # Malayalam: legacy chillu ending a name (Arun)
    "അരുണ്\u200d കുമാര്\u200d",  # two words, each ending in a chillu
    "র\u200d্যাব",  # Bengali: ya-phala after ra (ZWJ)
    "ಶ್ರೀ\u200cನಿವಾಸ",  # Kannada: ZWNJ between conjuncts
    "श्री\u200cनिवास",  # Devanagari: ZWNJ prevents a conjunct
    "ශ්\u200dරී",  # Sinhala: rakaaraansaya (ZWJ)
    "فرح\u200cناز",  # Arabic script (Urdu/Persian name): ZWNJ
]


@pytest.mark.parametrize("name", JOINER_NAMES)
def test_names_with_joiners_inside_indic_words_are_accepted(name):
    assert normalize_name(name) == unicodedata.normalize("NFC", name)
    assert {"\u200c", "\u200d"} & set(normalize_name(name))


@pytest.mark.parametrize(
    "name",
    [
        "\u200dअरुण",  # joiner starting a word
        "Asha\u200dKumari",  # Latin has no use for it: a hidden character
        "अ\u200d\u200dरुण",  # two joiners in a row
        "अरुण \u200dकुमार",  # after a space
        "अरुण\u200d",  # word end not after a virama
        "क\u200dക",  # between two different scripts
        "a\u200cb",
        "अरु\u200bण",  # ZERO WIDTH SPACE
        "अरु\u202eण",  # RIGHT-TO-LEFT OVERRIDE
        "Asha\u2066Kumari\u2069",  # bidi isolates
        "अरु\u200eण",  # LEFT-TO-RIGHT MARK
        "\ufeffAsha",  # BOM
        "अरु\x00ण",
        "Asha\x7fKumari",
    ],
)
def test_hidden_and_control_characters_are_still_refused(name):
    with pytest.raises(InvalidIdentifier):
        normalize_name(name)
