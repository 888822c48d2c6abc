"""Every helper gives the same answer on pandas and polars frames, and hands back the type it was given."""

from __future__ import annotations

import pandas as pd
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

import obsnb as ob
from obsnb.analysis import oldest_age
from obsnb.testing import make_logs, make_spans

T0 = pd.Timestamp("2024-05-14T13:00:00Z")

FIELDS = {
    "s": st.integers(0, 900),
    "service": st.sampled_from(["api", "db", "worker"]),
    "event": st.sampled_from(["job_started", "job_completed", "req 1 ok", "req 22 ok", "job_retry"]),
    "level": st.sampled_from(["info", "error", "warn"]),
    "duration_ms": st.one_of(st.floats(0, 1e4, allow_nan=False), st.just(float("nan"))),
    "job_id": st.sampled_from(["j1", "j2", "j3", None]),
    "trace_id": st.sampled_from(["t1", "t2", None]),
    "span_id": st.sampled_from(["s1", "s2"]),
    "error_type": st.sampled_from([None, "Timeout", "KeyError"]),
}
row = st.fixed_dictionaries(FIELDS)

CALLS = {
    "latency": lambda df: ob.latency(df, by="service", every="1m"),
    "rate": lambda df: ob.rate(df, "2m", by="service", start=T0, end=T0 + pd.Timedelta(minutes=16)),
    "error_rate": lambda df: ob.error_rate(df, "5m", by="service"),
    "gaps": lambda df: ob.gaps(df, "90s", by="service", start=T0, end=T0 + pd.Timedelta(minutes=16), groups=["api", "db", "worker", "mq"]),
    "stalls": lambda df: ob.stalls(df, key="job_id", started="job_started", finished="job_completed"),
    "oldest_age": lambda df: oldest_age(df, key="job_id", started="job_started", finished="job_completed", every="3m"),
    "retries": lambda df: ob.retries(df, key="job_id", min_attempts=1, started="job_started"),
    "compare": lambda df: ob.compare(df, incident=(T0, T0 + pd.Timedelta(minutes=5)), by=["service", "level", "event"]),
    "log_patterns": lambda df: ob.log_patterns(df, by="service"),
    "timeline": lambda df: ob.timeline(None, logs=df),
}


def _plain(df: pd.DataFrame) -> pd.DataFrame:
    """Text columns as objects with None for missing: an all-null input column has no type to keep."""
    df = df.copy()
    for c in df.columns:
        if df[c].dtype == object or str(df[c].dtype) in ("str", "string", "category"):
            df[c] = df[c].astype(object).where(df[c].notna(), None)
    return df


@settings(max_examples=15, deadline=None)
@given(st.lists(row, min_size=0, max_size=40))
def test_pandas_and_polars_agree(rows):
    """Random job logs through every helper: the pandas and the polars answers are equal, types preserved."""
    cols = {k: [r[k] for r in rows] for k in FIELDS}
    cols["time"] = [T0 + pd.Timedelta(seconds=s) for s in cols.pop("s")]
    pdf = make_logs(**cols)
    pldf = make_logs(**cols, engine="polars")
    for name, call in CALLS.items():
        a, b = call(pdf), call(pldf)
        assert isinstance(a, pd.DataFrame) and isinstance(b, pl.DataFrame), name
        b = b.to_pandas()
        if name == "timeline":
            a, b = a.drop(columns=["_source"]), b.drop(columns=["_source"])
        if name == "log_patterns":  # the example message of a pattern may be any of its messages
            a, b = a.drop(columns=["example"]), b.drop(columns=["example"])
        pd.testing.assert_frame_equal(_plain(a), _plain(b), check_dtype=False, check_categorical=False, obj=name)


def test_spans_frames_agree():
    """Spans given as pandas or polars give the same timeline and latency."""
    kw = dict(
        trace_id=["a", "a", "a"], span_id=["1", "2", "3"], parent_span_id=[None, "1", "2"],
        start=[T0, T0 + pd.Timedelta(seconds=1), T0 + pd.Timedelta(seconds=2)],
        end=[T0 + pd.Timedelta(seconds=9)] * 3, name=["a", "b", "c"],
    )
    a = ob.timeline("a", spans=make_spans(**kw))
    b = ob.timeline("a", spans=make_spans(**kw, engine="polars")).to_pandas()
    pd.testing.assert_frame_equal(a, b, check_dtype=False)
    assert a["depth"].tolist() == [0, 1, 2]
