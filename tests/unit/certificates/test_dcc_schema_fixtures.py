"""The DCC schema's own fixtures: test/valid must pass, test/invalid must fail (fast suite)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import DATA
from immunet.certificates import dcc

SCHEMA_TESTS = DATA / "eu-dcc" / "schema" / "1.3.3" / "test"
VALID = sorted((SCHEMA_TESTS / "valid").glob("*.json"))
INVALID = sorted((SCHEMA_TESTS / "invalid").glob("*.json"))


def test_fixture_inventory() -> None:
    assert len(VALID) == 13 and len(INVALID) == 6


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid_fixture(path: Path) -> None:
    assert dcc.schema_errors(json.loads(path.read_text())) == []


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_fixture(path: Path) -> None:
    assert dcc.schema_errors(json.loads(path.read_text()))


def test_bundled_schema_is_the_shared_1_3_3() -> None:
    bundled = Path(dcc.__file__).parent / "data" / "DCC.combined-schema.json"
    assert (
        bundled.read_bytes()
        == (DATA / "eu-dcc" / "schema" / "1.3.3" / "DCC.combined-schema.json").read_bytes()
    )


def test_two_types_fail_the_one_of_rule() -> None:
    payload = json.loads((SCHEMA_TESTS / "valid" / "V-min-data.json").read_text())
    payload["r"] = [
        {
            "tg": "840539006",
            "fr": "2021-01-01",
            "co": "IN",
            "is": "x",
            "df": "2021-01-01",
            "du": "2021-06-01",
            "ci": "URN:UVCI:01:IN:X",
        }
    ]
    assert any("exactly one" in e for e in dcc.schema_errors(payload))
