"""Fixtures shared by the fault tests."""

from __future__ import annotations

import gc
import warnings
from collections.abc import Iterator

import pytest
from sqlalchemy.exc import SAWarning


@pytest.fixture(autouse=True)
def _collect_sockets_of_stopped_servers() -> Iterator[None]:
    """Each test here stops or kills a server under live connections (or, through a pooler
    set up wrongly on purpose, breaks them), and the driver may then leave a socket to the
    dead server for the garbage collector (a ResourceWarning), or SQLAlchemy a connection
    its failed request never checked back in (an SAWarning from the pool's finalizer).
    Collect them at the end of the test that caused them: otherwise the warning is raised,
    as an error, in whichever later test happens to run the collector (seen in CI, once
    each)."""
    yield
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        warnings.simplefilter("ignore", SAWarning)
        gc.collect()
