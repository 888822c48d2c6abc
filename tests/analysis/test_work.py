"""ob.stalls, ob.analysis.oldest_age and ob.retries on hand-made job logs."""

from __future__ import annotations

import pandas as pd
import pytest
from _support import to_pandas

import obsnb as ob
from obsnb.analysis import oldest_age
from obsnb.errors import UsageError
from obsnb.testing import make_logs

T0 = pd.Timestamp("2024-05-14T13:00:00Z")


def _jobs(engine):
    """j1 finishes, j2 starts twice and never finishes, j3 fails (finished), j4 starts late and hangs."""
    rows = [
        (0, "job_started", "j1", None, 1),
        (5, "job_completed", "j1", None, None),
        (10, "job_started", "j2", None, 1),
        (20, "job_retry", "j2", "Timeout", 2),
        (30, "job_started", "j2", None, 2),
        (40, "job_retry", "j2", "ConnectionError", 3),
        (50, "job_started", "j2", None, 3),
        (15, "job_started", "j3", None, 1),
        (25, "job_failed", "j3", "ValueError", None),
        (100, "job_started", "j4", None, 1),
        (120, "heartbeat", None, None, None),
    ]
    return make_logs(
        time=[T0 + pd.Timedelta(seconds=r[0]) for r in rows],
        event=[r[1] for r in rows],
        job_id=[r[2] for r in rows],
        error_type=[r[3] for r in rows],
        attempt=[r[4] for r in rows],
        service=["worker"] * len(rows),
        level=["error" if r[3] else "info" for r in rows],
        engine=engine,
    )


def test_stalls_lists_units_in_flight_oldest_first(engine):
    """At the last log line (120s) j2 has been in flight 110s (since its first start) and j4 20s."""
    out = to_pandas(ob.stalls(_jobs(engine), key="job_id", started="job_started", finished=["job_completed", "job_failed"]))
    assert list(out.columns) == ["job_id", "started", "age", "last_seen", "last_event", "service"]
    assert out["job_id"].tolist() == ["j2", "j4"]
    assert [a.total_seconds() for a in out["age"]] == [110, 20]
    assert out["last_event"].tolist() == ["job_started", "job_started"]
    assert str(out["last_seen"].iloc[0]) == "2024-05-14 13:00:50+00:00"


def test_stalls_older_than_and_at(engine):
    """at=60s, older_than=40s: j2 (50s) and j3 (45s: job_failed is not a finish unless named); at 100s, 1m: j2."""
    logs = _jobs(engine)
    early = to_pandas(ob.stalls(logs, key="job_id", started="job_started", finished="job_completed", older_than="40s", at=T0 + pd.Timedelta(seconds=60)))
    assert early["job_id"].tolist() == ["j2", "j3"]
    assert [a.total_seconds() for a in early["age"]] == [50, 45]
    out = to_pandas(ob.stalls(logs, key="job_id", started="job_started", finished=["job_completed", "job_failed"], older_than="1m", at=T0 + pd.Timedelta(seconds=100)))
    assert out["job_id"].tolist() == ["j2"]
    assert out["age"].iloc[0] == pd.Timedelta(seconds=90)


def test_oldest_age_series(engine):
    """Per 30s bucket, judged at its end (30..150s): only j2 until j4 starts at 100s; oldest is j2 (since 10s)."""
    logs = _jobs(engine)
    out = to_pandas(oldest_age(logs, key="job_id", started="job_started", finished=["job_completed", "job_failed"], every="30s"))
    # buckets 13:00:00, :30, 13:01:00, :30, 13:02:00 judged at their ends 30, 60, 90, 120, 150 s
    assert [str(t)[11:19] for t in out["time"]] == ["13:00:00", "13:00:30", "13:01:00", "13:01:30", "13:02:00"]
    assert out["in_flight"].tolist() == [1, 1, 1, 2, 2]
    assert [a.total_seconds() for a in out["oldest_age"]] == [20, 50, 80, 110, 140]


def test_stalls_every_gives_the_series(engine):
    """stalls(..., every=) is oldest_age."""
    logs = _jobs(engine)
    a = to_pandas(ob.stalls(logs, key="job_id", started="job_started", finished="job_completed", every="1m"))
    b = to_pandas(oldest_age(logs, key="job_id", started="job_started", finished="job_completed", every="1m"))
    pd.testing.assert_frame_equal(a, b)


def test_retries_counts_attempts_and_error_types(engine):
    """j2 started 3 times with Timeout then ConnectionError; it is the only unit with >= 3 attempts."""
    out = to_pandas(ob.retries(_jobs(engine), key="job_id", min_attempts=3, started="job_started"))
    assert out["job_id"].tolist() == ["j2"]
    row = out.iloc[0]
    assert row["attempts"] == 3 and row["events"] == 5
    assert row["error_types"] == "ConnectionError, Timeout"
    assert row["last_event"] == "job_started"
    assert str(row["first"]) == "2024-05-14 13:00:10+00:00" and str(row["last"]) == "2024-05-14 13:00:50+00:00"


def test_retries_from_attempt_column(engine):
    """Without started=, the distinct values of `attempt` count the attempts (j2 has 1, 2, 3)."""
    out = to_pandas(ob.retries(_jobs(engine), key="job_id", min_attempts=2))
    assert out["job_id"].tolist() == ["j2"] and out["attempts"].tolist() == [3]


def test_retries_needs_a_way_to_count():
    """No started= and no attempt column: a UsageError says what to pass."""
    logs = make_logs(time=[T0], event=["x"], job_id=["j"])
    with pytest.raises(UsageError, match="started="):
        ob.retries(logs, key="job_id")
