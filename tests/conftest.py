"""Shared fixtures: engines, the bundled sample data, ../shared/realworld. Helpers live in _support.py."""

from __future__ import annotations

import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from _support import IN_CI, REALWORLD, ROOT, SAMPLE_DATA, need, to_pandas  # noqa: E402,F401


@pytest.fixture(params=["pandas", "polars"])
def engine(request) -> str:
    """Each test using it runs once per output engine."""
    return request.param


@pytest.fixture(scope="session")
def sample_data() -> pathlib.Path:
    return SAMPLE_DATA


@pytest.fixture(scope="session")
def realworld() -> pathlib.Path:
    """../shared/realworld (or $OBSNB_REALWORLD); skips (fails in CI) when absent."""
    need(REALWORLD.is_dir(), f"real-world telemetry files not found at {REALWORLD}")
    return REALWORLD


# chdb (the embedded ClickHouse of the push-down tests) can crash while Python tears the interpreter down
# ("ShutdownTablesThreadPool is not initialized", then SIGSEGV), after every test has passed and the summary
# is printed; the run would then exit non-zero. When chdb was loaded, leave with pytest's own exit status
# as soon as pytest is done, before that teardown.
_EXIT: dict[str, int] = {}


def pytest_sessionfinish(session, exitstatus):
    _EXIT["status"] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    if "chdb" in sys.modules and "status" in _EXIT:
        import os

        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_EXIT["status"])
