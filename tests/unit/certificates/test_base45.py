from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from immunet.certificates.base45 import Base45Error, b45decode, b45encode


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (b"AB", "BB8"),
        (b"Hello!!", "%69 VD92EX0"),
        (b"base-45", "UJCLQE7W581"),
        (b"ietf!", "QED8WEX0"),
        (b"", ""),
    ],
)
def test_rfc9285_examples(raw: bytes, text: str) -> None:
    assert b45encode(raw) == text
    assert b45decode(text) == raw


@given(st.binary(max_size=300))
def test_round_trip(data: bytes) -> None:
    assert b45decode(b45encode(data)) == data


@pytest.mark.parametrize("bad", ["GGW", "A", "abc", "ZZZZ", "::", "BB8ä"])
def test_invalid(bad: str) -> None:
    with pytest.raises(Base45Error):
        b45decode(bad)
