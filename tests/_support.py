"""Test helpers shared by every test module: paths, the CI rule, frame conversion.

Import them as ``from _support import need, to_pandas, REALWORLD, SAMPLE_DATA`` (tests/ is on sys.path);
``conftest`` is not importable by name reliably because tests/live has a conftest of its own.

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


def to_pandas(df):
    """A pandas view of a pandas or polars frame, for comparisons."""
    if type(df).__module__.startswith("polars"):
        return df.to_pandas()
    return df


def record_collects(monkeypatch, scan) -> list[int]:
    """From now on (until ``monkeypatch.undo()``), every polars ``LazyFrame.collect`` and ``pl.collect_all`` appends
    the number of rows of each frame it returned to the list this returns, and collecting the scan ``scan`` (its
    type's ``collect``) raises."""
    import polars as pl

    heights: list[int] = []
    real = pl.LazyFrame.collect
    real_all = pl.collect_all

    def collect(self, *args, **kwargs):
        out = real(self, *args, **kwargs)
        heights.append(out.height)
        return out

    def collect_all(*args, **kwargs):
        out = real_all(*args, **kwargs)
        heights.extend(f.height for f in out)
        return out

    def whole(self, *args, **kwargs):
        raise AssertionError(f"{type(self).__name__}.collect: the scan was collected whole")

    monkeypatch.setattr(pl.LazyFrame, "collect", collect)
    monkeypatch.setattr(pl, "collect_all", collect_all)
    monkeypatch.setattr(type(scan), "collect", whole)
    return heights
