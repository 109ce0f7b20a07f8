"""The lock files pin, with hashes, every dependency pyproject.toml declares, at a version
its specifier allows (checked with ``packaging``), so a stale lock fails the suite."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^\s\\]+)((?:\s*\\\n\s+--hash=sha256:[0-9a-f]{64})+)", re.M)


def _pins(lock: str) -> dict[str, str]:
    text = (ROOT / lock).read_text("utf-8")
    pins = {canonicalize_name(m[1]): m[2] for m in PIN.finditer(text)}
    # Every requirement line is a pin with at least one hash (pip --require-hashes).
    lines = [line for line in text.splitlines() if line and line[0] not in "# "]
    assert len(lines) == len(pins), f"{lock}: a requirement without == and a hash"
    return pins


def _declared(extra: bool) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    declared = list(project["dependencies"])
    if extra:
        declared += project["optional-dependencies"]["dev"]
    return [Requirement(r) for r in declared]


@pytest.mark.parametrize(
    ("lock", "extra"), [("requirements.lock", False), ("requirements-dev.lock", True)]
)
def test_the_lock_pins_every_declared_dependency(lock, extra):
    pins = _pins(lock)
    problems = []
    for requirement in _declared(extra):
        version = pins.get(canonicalize_name(requirement.name))
        if version is None:
            problems.append(f"{requirement.name}: not in {lock}")
        elif not requirement.specifier.contains(version, prereleases=True):
            problems.append(f"{requirement.name}=={version} does not satisfy {requirement}")
    assert not problems, "\n".join(problems)


def test_the_runtime_lock_holds_no_development_tool():
    pins = _pins("requirements.lock")
    for tool in ("pytest", "mypy", "ruff", "pip-audit"):
        assert canonicalize_name(tool) not in pins
