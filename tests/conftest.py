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
