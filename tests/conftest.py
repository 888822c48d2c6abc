"""Shared fixtures: engines, the bundled sample data, ../shared/realworld, and the CI rule.

In CI (``CI=true``) a test that would skip because a server, the browser or ../shared/realworld is
missing fails instead: a skipped check proves nothing. Use :func:`need` rather than ``pytest.skip``.
"""

from __future__ import annotations

import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SAMPLE_DATA = ROOT / "sample_data"
REALWORLD = pathlib.Path(os.environ.get("OBSNB_REALWORLD", ROOT.parent / "shared" / "realworld")).resolve()
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def need(condition: bool, reason: str) -> None:
    """Skip with ``reason`` when ``condition`` is false; in CI, fail instead."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI=true and {reason}: this check must run in CI", pytrace=False)
    pytest.skip(reason)


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


def to_pandas(df):
    """A pandas view of a pandas or polars frame, for comparisons."""
    if type(df).__module__.startswith("polars"):
        return df.to_pandas()
    return df
