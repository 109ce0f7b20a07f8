"""The DCC schema's own fixtures: test/valid must pass, test/invalid must fail (fast suite)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


def _reference_valid(payload: object) -> bool:
    """``jsonschema`` (2020-12, no formats) alone: the reference for the fast validator."""
    return not list(dcc._schema_validator().iter_errors(payload))


def _all_payloads() -> list[object]:
    """Every DCC payload in the bundled data: schema fixtures and the EU vectors' JSON."""
    out: list[object] = [json.loads(p.read_text()) for p in (*VALID, *INVALID)]
    for path in sorted((DATA / "eu-dcc" / "testdata").rglob("*.json")):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):
            continue
        if isinstance(doc, dict) and "JSON" in doc:
            out.append(doc["JSON"])
    return out


def test_fast_validator_agrees_with_jsonschema_on_all_bundled_payloads() -> None:
    payloads = _all_payloads()
    assert len(payloads) > 150
    verdicts = {dcc.schema_valid_fast(p) for p in payloads}
    assert verdicts == {True, False}  # both answers occur
    for p in payloads:
        assert dcc.schema_valid_fast(p) == _reference_valid(p), json.dumps(p)[:200]
        if dcc.vaccination_surely_valid(p):
            assert _reference_valid(p), json.dumps(p)[:200]
    # the written-out check takes the common case: every valid vaccination fixture
    vaccinations = [json.loads(p.read_text()) for p in VALID if p.name.startswith("V")]
    assert vaccinations and all(dcc.vaccination_surely_valid(p) for p in vaccinations)


_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=90) | st.floats()


def _mutations(payload: dict[str, object]) -> st.SearchStrategy[object]:
    """A valid payload with one member, anywhere, deleted or replaced by an arbitrary value."""

    def paths(node: object, prefix: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        out = [prefix] if prefix else []
        if isinstance(node, dict):
            for k, v in node.items():
                out += paths(v, (*prefix, k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                out += paths(v, (*prefix, i))
        return out

    def apply(path: tuple[object, ...], value: object, delete: bool) -> object:
        doc = json.loads(json.dumps(payload))
        node = doc
        for step in path[:-1]:
            node = node[step]
        if delete and isinstance(node, dict):
            del node[path[-1]]
        else:
            node[path[-1]] = value
        return doc

    values = st.recursive(
        _scalars,
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
        ),
        max_leaves=5,
    )
    return st.builds(apply, st.sampled_from(paths(payload)), values, st.booleans())


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_fast_validator_agrees_with_jsonschema_on_mutations(data: st.DataObject) -> None:
    base = json.loads(VALID[data.draw(st.integers(0, len(VALID) - 1))].read_text())
    payload = data.draw(_mutations(base))
    assert dcc.schema_valid_fast(payload) == _reference_valid(payload)
    if dcc.vaccination_surely_valid(payload):  # only ever a shortcut to "valid"
        assert _reference_valid(payload)
