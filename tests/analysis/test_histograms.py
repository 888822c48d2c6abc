"""ob.histogram_quantile against Prometheus's own engine tests and hand-made histograms."""

from __future__ import annotations

import math
import sys
import warnings
from pathlib import Path

import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import promqltest  # noqa: E402
from _support import REALWORLD, need, to_pandas  # noqa: E402

import obsnb as ob  # noqa: E402
from obsnb.errors import ObsnbWarning  # noqa: E402
from obsnb.testing import make_metrics  # noqa: E402

TEST_FILE = REALWORLD / "prometheus" / "promqltest" / "histograms.test"
CASES = promqltest.parse(TEST_FILE) if TEST_FILE.is_file() else []
CLASSIC = [(c, promqltest.classic_frame(c)) for c in CASES]
CLASSIC = [(c, f) for c, f in CLASSIC if f is not None]


def _same(a: float, b: float) -> bool:
    if math.isnan(b):
        return math.isnan(a)
    if math.isinf(b) or b == 0:
        return a == b
    return math.isclose(a, b, rel_tol=1e-6)  # promqltest's own tolerance


def test_promqltest_file_has_the_classic_cases():
    """The parser finds the file's classic histogram_quantile(s) cases (55 in Prometheus 3.x's file)."""
    need(TEST_FILE.is_file(), f"{TEST_FILE} not found")
    exprs = [c.expr for c, _ in CLASSIC]
    assert len(CLASSIC) >= 50
    assert 'histogram_quantile(0.5, rate(mixed_bucket[10m]))' in exprs
    assert "histogram_quantile(0.5, nonmonotonic_bucket)" in exprs


@pytest.mark.parametrize("case,prepared", CLASSIC or [(None, None)], ids=lambda x: getattr(x, "expr", None))
def test_promqltest_case(case, prepared, engine):
    """Each classic case of Prometheus's histograms.test gives PromQL's answer (and its warnings)."""
    need(case is not None, f"{TEST_FILE} not found")
    frame, by, qs, plural = prepared
    df = frame if engine == "polars" else frame.to_pandas()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = ob.histogram_quantile(df, qs if plural else qs[0], by=by)
    assert isinstance(out, pl.DataFrame if engine == "polars" else type(frame.to_pandas()))
    got = pl.from_pandas(out, nan_to_null=False) if engine == "pandas" else out
    warned = any(issubclass(w.category, ObsnbWarning) for w in caught)
    if case.warns is not None:
        assert warned == case.warns, [str(w.message) for w in caught]
    if case.fails:
        # Prometheus fails: two histograms (request_duration_seconds, ..._seconds2) share a label set once
        # the name is dropped. obsnb keeps the name in `metric`, so each histogram gets its own row.
        assert sorted(set(got.get_column("metric"))) == ["request_duration_seconds", "request_duration_seconds2"]
        assert got.height == 5 * len(qs)
        return
    labels = [c for c in got.columns if c not in ("time", "value", "metric")]
    rows = []
    for r in got.iter_rows(named=True):
        labs = {k: (f"{r[k]:g}" if k == "q" else r[k]) for k in labels if r[k] is not None}
        rows.append((labs, r["value"]))
    expected = []
    for labs, v in case.results:
        if plural:
            labs = {**labs, "q": f"{float(labs['q']):g}"}
        expected.append((labs, v))
    assert len(rows) == len(expected), (rows, expected)
    for labs, v in expected:
        match = [val for have, val in rows if have == labs]
        assert len(match) == 1, (labs, rows)
        assert _same(match[0], v), (labs, match[0], v)


def _hist(le_counts: dict[str, float], engine: str, **labels):
    return make_metrics(
        time=["2024-05-14T13:00:00Z"] * len(le_counts),
        metric=["http_seconds_bucket"] * len(le_counts),
        value=list(le_counts.values()),
        le=list(le_counts),
        **{k: [v] * len(le_counts) for k, v in labels.items()},
        engine=engine,
    )


def test_interpolates_inside_the_bucket(engine):
    """q=0.5 of 10 observations, 4 below 0.1 and 8 below 0.5: 0.1 + 0.4 * (1/4) = 0.2."""
    df = _hist({"0.1": 4, "0.5": 8, "+Inf": 10}, engine)
    out = to_pandas(ob.histogram_quantile(df, 0.5))
    assert out.loc[0, "value"] == pytest.approx(0.2)
    assert out.loc[0, "metric"] == "http_seconds"
    assert str(out.loc[0, "time"]) == "2024-05-14 13:00:00+00:00"


def test_missing_inf_bucket_is_nan(engine):
    """Without a +Inf bucket the total is unknown, so PromQL (and obsnb) answer NaN."""
    out = to_pandas(ob.histogram_quantile(_hist({"0.1": 4, "0.5": 8}, engine), 0.9))
    assert math.isnan(out.loc[0, "value"])


def test_rank_in_inf_bucket_gives_largest_finite_bound(engine):
    """A quantile that falls in the +Inf bucket is the largest finite upper bound (0.5 here)."""
    out = to_pandas(ob.histogram_quantile(_hist({"0.1": 4, "0.5": 8, "+Inf": 10}, engine), 0.99))
    assert out.loc[0, "value"] == 0.5


def test_by_sums_over_other_labels(engine):
    """by='job' sums the buckets of two instances first: (1+3)/(4+4) below 0.1 -> q=0.5 at 0.1."""
    a = to_pandas(_hist({"0.1": 1, "1": 2, "+Inf": 4}, "pandas", job="api", instance="a"))
    b = to_pandas(_hist({"0.1": 3, "1": 4, "+Inf": 4}, "pandas", job="api", instance="b"))
    df = pl.from_pandas(__import__("pandas").concat([a, b], ignore_index=True))
    df = df if engine == "polars" else df.to_pandas()
    out = to_pandas(ob.histogram_quantile(df, [0.5, 0.75], by="job"))
    assert list(out.columns) == ["time", "job", "q", "value"]
    assert out["value"].tolist() == pytest.approx([0.1, 0.1 + 0.9 * (2 / 2)])


def test_sum_and_count_rows_are_ignored(engine):
    """Rows without `le` (the _sum and _count series) do not disturb the quantile."""
    df = to_pandas(_hist({"1": 5, "+Inf": 10}, "pandas"))
    extra = df.iloc[:1].copy()
    extra["metric"], extra["le"], extra["value"] = "http_seconds_count", None, 999.0
    both = __import__("pandas").concat([df, extra], ignore_index=True)
    both = pl.from_pandas(both) if engine == "polars" else both
    out = to_pandas(ob.histogram_quantile(both, 0.25))
    assert len(out) == 1 and out.loc[0, "value"] == pytest.approx(0.5)
