"""The engine against every CDC CDSi test case of both releases (tests/data/cdsi/).

Each release runs against its own supporting data (v4.28 cases -> v4.38, v4.45 -> v4.64).
Every case must agree with CDC exactly (dose statuses, series status, forecast number and
dates) unless it is listed, with the reason, in src/immunet/schedules/KNOWN_ISSUES.json; a
listed case that starts agreeing fails the test too, so the list stays true.
"""

from __future__ import annotations

import collections
import json
from pathlib import Path
from typing import Any

import pytest

from immunet.schedules.cases import disagreements, evaluate_case

CASES = Path(__file__).parents[2] / "data" / "cdsi"
KNOWN = Path(__file__).parents[3] / "src" / "immunet" / "schedules" / "KNOWN_ISSUES.json"
RELEASES = {"v4.28": "v4.38", "v4.45": "v4.64"}


def _cases(release: str) -> list[dict[str, Any]]:
    return [
        json.loads(path.read_text(encoding="utf-8"))
        for path in sorted((CASES / f"cases-{release}").glob("*.json"))
    ]


@pytest.mark.parametrize("release", sorted(RELEASES))
def test_every_case_agrees_or_is_a_known_issue(release: str) -> None:
    known = json.loads(KNOWN.read_text(encoding="utf-8"))[release]
    cases = _cases(release)
    assert len(cases) == {"v4.28": 619, "v4.45": 675}[release]
    failing: dict[str, list[str]] = {}
    per_group: collections.Counter[str] = collections.Counter()
    for case in cases:
        found = disagreements(case, evaluate_case(case, RELEASES[release]))
        if found:
            failing[case["cdcTestId"]] = found
            per_group[case["vaccineGroup"]] += 1
    unexpected = {k: v for k, v in failing.items() if k not in known}
    fixed = sorted(k for k in known if k not in failing)
    assert not unexpected, f"new disagreements: {unexpected}"
    assert not fixed, f"now agree, remove from KNOWN_ISSUES.json: {fixed}"
    for entry in known.values():
        assert entry["reason"].strip(), "every accepted disagreement says why"


def test_known_issue_list_names_real_cases() -> None:
    known = json.loads(KNOWN.read_text(encoding="utf-8"))
    assert set(known) == set(RELEASES)
    for release, entries in known.items():
        ids = {case["cdcTestId"] for case in _cases(release)}
        assert set(entries) <= ids
