"""``immunet schedule evaluate``: the command-line contract, run as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

CASES = Path(__file__).parents[2] / "data" / "cdsi"
SRC = Path(__file__).parents[3] / "src"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    return subprocess.run(
        [sys.executable, "-m", "immunet.cli", "schedule", "evaluate", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def _case(release: str, case_id: str) -> tuple[Path, dict[str, Any]]:
    path = CASES / f"cases-{release}" / f"{case_id}.json"
    return path, json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("release", "case_id"),
    [
        ("v4.28", "2013-0037"),  # DTaP: an interval too short, then the forecast
        ("v4.45", "2013-0540"),  # MMR too young; live-virus conflict moves the forecast
        ("v4.45", "2013-0354"),  # Hib: a dose after completion is extraneous
    ],
)
def test_json_answer_matches_cdc(release: str, case_id: str) -> None:
    path, case = _case(release, case_id)
    done = _run(str(path), "--json")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert [d["evaluationStatus"] for d in answer["doses"]] == [
        d["evaluationStatus"] for d in case["doses"]
    ]
    assert [d["evaluationReason"] for d in answer["doses"]] == [
        d["evaluationReason"] for d in case["doses"]
    ]
    assert (
        answer["evaluation"]["seriesStatus"].lower() == case["evaluation"]["seriesStatus"].lower()
    )
    for key in ("earliestDate", "recommendedDate", "pastDueDate"):
        assert answer["forecast"][key] == case["forecast"][key]
    # The default supporting data is the release paired with the case.
    assert answer["supportingData"] == {"v4.28": "v4.38", "v4.45": "v4.64"}[release]


def test_named_supporting_data_is_used() -> None:
    path, _ = _case("v4.28", "2013-0001")
    done = _run(str(path), "--supporting-data", "v4.64", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["supportingData"] == "v4.64"


def test_unknown_version_and_bad_file_fail_cleanly(tmp_path: Path) -> None:
    path, _ = _case("v4.28", "2013-0001")
    done = _run(str(path), "--supporting-data", "v9.99", "--json")
    assert done.returncode == 2
    assert done.stdout == ""
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]", encoding="utf-8")
    done = _run(str(bad), "--json")
    assert done.returncode == 2
    assert "one JSON object" in done.stderr
    missing = tmp_path / "missing.json"
    missing.write_text('{"vaccineGroup": "DTAP"}', encoding="utf-8")
    done = _run(str(missing), "--json")
    assert done.returncode == 2
    assert "not a CDSi case" in done.stderr
