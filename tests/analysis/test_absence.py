"""ob.rate, ob.error_rate and ob.gaps: zeros present, silences found (leading, inner, trailing)."""

from __future__ import annotations

import pandas as pd
import polars as pl
import pytest
from _support import to_pandas
from hypothesis import given, settings
from hypothesis import strategies as st

import obsnb as ob
from obsnb.errors import UsageError
from obsnb.testing import make_logs

T0 = pd.Timestamp("2024-05-14T13:00:00Z")


def _at(*seconds):
    return [T0 + pd.Timedelta(seconds=s) for s in seconds]


def test_rate_has_zero_buckets(engine):
    """Three events at 0s, 10s and 65s in 30s buckets: counts 2, 0, 1 with the empty bucket present."""
    logs = make_logs(time=_at(0, 10, 65), service=["api"] * 3, engine=engine)
    out = to_pandas(ob.rate(logs, "30s"))
    assert [str(t) for t in out["time"]] == [
        "2024-05-14 13:00:00+00:00", "2024-05-14 13:00:30+00:00", "2024-05-14 13:01:00+00:00"
    ]
    assert out["count"].tolist() == [2, 0, 1]
    assert out["per_second"].tolist() == pytest.approx([2 / 30, 0, 1 / 30])


def test_rate_over_window_and_groups(engine):
    """With start/end every group gets every bucket of the window; events outside are not counted."""
    logs = make_logs(time=_at(-5, 30, 70), service=["api", "db", "api"], engine=engine)
    out = to_pandas(ob.rate(logs, "1m", by="service", start=T0, end=T0 + pd.Timedelta(minutes=3), groups=["api", "db", "mq"]))
    assert len(out) == 9
    got = {(str(t)[11:16], s): c for t, s, c in zip(out["time"], out["service"], out["count"])}
    assert got[("13:00", "db")] == 1 and got[("13:01", "api")] == 1 and got[("13:00", "api")] == 0
    assert sum(c for (_, s), c in got.items() if s == "mq") == 0
    assert out["count"].sum() == 2


def test_error_rate_is_ratio_of_two_rates(engine):
    """Per minute: 1 error of 4 events, then 0 of 0 (NaN), then 2 of 2."""
    logs = make_logs(
        time=_at(1, 2, 3, 4, 125, 126),
        level=["error", "info", "info", "info", "ERROR", "critical"],
        engine=engine,
    )
    out = to_pandas(ob.error_rate(logs, "1m"))
    assert out["total"].tolist() == [4, 0, 2]
    assert out["errors"].tolist() == [1, 0, 2]
    assert out["error_rate"].iloc[0] == 0.25 and pd.isna(out["error_rate"].iloc[1]) and out["error_rate"].iloc[2] == 1.0


def test_error_rate_with_dict_selector(engine):
    """errors={'status': 'ERROR'} counts the rows whose status is ERROR."""
    logs = make_logs(time=_at(0, 1, 2), status=["OK", "ERROR", "OK"], engine=engine)
    out = to_pandas(ob.error_rate(logs, "1m", errors={"status": "ERROR"}))
    assert out["errors"].tolist() == [1] and out["total"].tolist() == [3]


def test_gaps_inner_leading_trailing(engine):
    """Threshold 60s: a 100s silence inside, 90s before the first event and 200s after the last."""
    logs = make_logs(time=_at(90, 120, 220, 250), service=["api"] * 4, engine=engine)
    out = to_pandas(ob.gaps(logs, "60s", by="service", start=T0, end=T0 + pd.Timedelta(seconds=450)))
    assert list(out.columns) == ["service", "gap_start", "gap_end", "duration"]
    assert [(str(a)[11:19], str(b)[11:19]) for a, b in zip(out["gap_start"], out["gap_end"])] == [
        ("13:00:00", "13:01:30"), ("13:02:00", "13:03:40"), ("13:04:10", "13:07:30")
    ]
    assert [d.total_seconds() for d in out["duration"]] == [90, 100, 200]


def test_gaps_without_window_only_inner(engine):
    """Without start/end only silences between events count."""
    logs = make_logs(time=_at(0, 10, 200, 210), engine=engine)
    out = to_pandas(ob.gaps(logs, "1m"))
    assert len(out) == 1 and out["duration"].iloc[0].total_seconds() == 190


def test_stopped_system_has_only_trailing_gap(engine):
    """A service that logged every 10s then stopped at 100s has one gap: from its last event to end."""
    logs = make_logs(time=_at(*range(0, 101, 10)), service=["billing"] * 11, engine=engine)
    out = to_pandas(ob.gaps(logs, "30s", by="service", start=T0, end=T0 + pd.Timedelta(minutes=10)))
    assert len(out) == 1
    assert str(out["gap_start"].iloc[0]) == "2024-05-14 13:01:40+00:00"
    assert out["duration"].iloc[0] == pd.Timedelta(seconds=500)


def test_silent_named_group_is_one_window_gap(engine):
    """A group named in groups= with no events is one gap covering the whole window."""
    logs = make_logs(time=_at(0, 30), service=["api", "api"], engine=engine)
    end = T0 + pd.Timedelta(seconds=60)
    out = to_pandas(ob.gaps(logs, "45s", by="service", start=T0, end=end, groups=["api", "worker"]))
    assert out["service"].tolist() == ["worker"]
    assert out["duration"].iloc[0] == pd.Timedelta(seconds=60)


def test_groups_need_a_window():
    """groups= without start/end cannot define a silence and says so."""
    logs = make_logs(time=_at(0), service=["api"])
    with pytest.raises(UsageError, match="start= and end="):
        ob.gaps(logs, "1m", by="service", groups=["api"])


def test_gaps_same_type_back():
    """pandas in, pandas out with timedelta durations; polars in, polars out with Duration."""
    assert isinstance(ob.gaps(make_logs(time=_at(0, 100)), "1m"), pd.DataFrame)
    out = ob.gaps(make_logs(time=_at(0, 100), engine="polars"), "1m")
    assert isinstance(out, pl.DataFrame) and out.schema["duration"] == pl.Duration("ns")


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(5, 60),
    step=st.integers(1, 30),
    at=st.integers(1, 58),
    extra=st.integers(1, 500),
    services=st.integers(1, 3),
)
def test_inserted_gap_is_found_and_nothing_else(n, step, at, extra, services):
    """A regular series (one event every `step` s) with one silence inserted: exactly that silence is found."""
    at = min(at, n - 1)
    secs = [i * step + (extra if i >= at else 0) for i in range(n)]
    rows = [(s, f"svc{k}") for s in secs for k in range(services)]
    pdf = make_logs(time=_at(*[r[0] for r in rows]), service=[r[1] for r in rows])
    out = ob.gaps(pdf, f"{step}s", by="service")
    assert len(out) == services
    assert set(out["service"]) == {f"svc{k}" for k in range(services)}
    assert all(d == pd.Timedelta(seconds=step + extra) for d in out["duration"])
    assert all(g == T0 + pd.Timedelta(seconds=(at - 1) * step) for g in out["gap_start"])
    pl_out = ob.gaps(make_logs(time=_at(*[r[0] for r in rows]), service=[r[1] for r in rows], engine="polars"), f"{step}s", by="service")
    pd.testing.assert_frame_equal(out, pl_out.to_pandas(), check_dtype=False)
