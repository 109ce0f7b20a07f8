"""Fixtures shared by the fault tests."""

from __future__ import annotations

import gc
import warnings
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _collect_sockets_of_stopped_servers() -> Iterator[None]:
    """Each test here stops or kills a server under live connections, and the driver may
    then leave a socket to the dead server for the garbage collector (a ResourceWarning).
    Collect them at the end of the test that caused them: otherwise the warning is raised,
    as an error, in whichever later test happens to run the collector (seen once in CI)."""
    yield
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
