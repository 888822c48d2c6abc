"""heroku logs: router and app lines, logfmt payloads split, the payload's own time and level winning."""

from __future__ import annotations

import warnings

import pandas as pd

import obsnb as ob
from conformance import ConformanceSuite, vals
from obsnb.registry import sniff

GOOD = (
    b'2026-05-08T14:20:01.123456+00:00 heroku[router]: at=info method=GET path="/jobs" host=a.herokuapp.com '
    b'request_id=8601b555 fwd="204.204.204.204" dyno=web.1 connect=1ms service=18ms status=200 bytes=13 protocol=https\n'
    b'2026-05-08T14:20:02.000000+00:00 app[worker.2]: time=2026-05-08T14:20:01.900Z level=error msg="job failed" job_id=42\n'
    b'2026-05-08T14:20:03+00:00 heroku[router]: at=error code=H12 desc="Request timeout" method=GET path="/slow" '
    b"dyno=web.1 connect=0ms service=30000ms status=503 bytes=0\n"
    b'2026-05-08T14:20:04+00:00 app[web.1]: Started GET "/jobs"\n'
)
MESSY = b"garbage line\n2026-05-08T14:20:04+00:00 app[web.1]: ok\n2026-05-08T14:20:0"


class TestHerokuConformance(ConformanceSuite):
    fmt = "logplex"
    kind = "logs"
    suffix = ".log"
    good = GOOD
    good_rows = 4
    messy = MESSY
    messy_good = 1
    messy_bad = 2
    first_bad_line = 1


def test_router_and_app_lines(tmp_path):
    """Router lines give level from at=, typed status/bytes and durations; app lines take their own time and level."""
    p = tmp_path / "heroku.log"
    p.write_bytes(GOOD)
    assert sniff(GOOD, str(p)) == "logplex"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = ob.load(str(p))
    assert list(df["time"]) == [pd.Timestamp("2026-05-08T14:20:01.123456Z"), pd.Timestamp("2026-05-08T14:20:01.9Z"),
                                pd.Timestamp("2026-05-08T14:20:03Z"), pd.Timestamp("2026-05-08T14:20:04Z")]
    assert vals(df["level"]) == ["INFO", "ERROR", "ERROR", None]
    assert list(df["event"]) == ["GET /jobs", "job failed", "GET /slow", 'Started GET "/jobs"']
    assert list(df["source"]) == ["heroku", "app", "heroku", "app"]
    assert list(df["dyno"]) == ["router", "worker.2", "router", "web.1"]
    assert vals(df["service"]) == [None, "worker", None, "web"]
    assert vals(df["status"]) == [200, None, 503, None]
    assert vals(df["service_ms"]) == [18, None, 30000, None]
    assert df["code"][2] == "H12" and df["desc"][2] == "Request timeout"
    assert df["job_id"][1] == 42
    assert ob.error_rate(df, "1h")["errors"].sum() == 2
