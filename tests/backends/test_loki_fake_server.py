"""Loki loader against a fake Loki (no Loki server can be installed here) replaying the documented query_range shapes."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import obsnb as ob
from _support import to_pandas
from fake_server import FakeServer
from fakes_logs import LokiFake

T0 = 1704067200 * 10**9
S = 10**9


def entries(n: int = 12_000) -> list:
    """n lines over n seconds: JSON lines from api (some with structured metadata), text lines from web; 3 share a ts."""
    out = []
    for i in range(n):
        ts = T0 + i * S
        if i % 2:
            out.append(({"app": "api", "env": "prod"}, ts,
                        json.dumps({"level": "error" if i % 10 == 1 else "info", "msg": f"job {i}", "job_id": i}),
                        {"trace_id": f"{i:032x}"} if i % 3 == 0 else {}))
        else:
            out.append(({"app": "web", "env": "prod", "detected_level": "warn"}, ts, f"GET /page/{i} 200", {}))
    for k in range(3):  # three lines at the same nanosecond, at a page boundary for limit=1000
        out.append(({"app": "api", "env": "prod"}, T0 + 500 * S + 1, json.dumps({"msg": f"dup-ts {k}"}), {}))
    return out


@pytest.fixture(scope="module")
def loki():
    data = entries()
    with FakeServer(LokiFake(data)) as srv:
        yield srv, data


def test_loki_fake_server_pages_backward_past_the_line_limit(loki, engine):
    """12,003 lines with limit=1000 arrive whole (13 pages), none twice, sorted by time, with Loki's timestamps."""
    srv, data = loki
    srv.requests.clear()
    df = to_pandas(ob.load("loki://" + srv.hostport, query='{env="prod"}', start=T0, end=T0 + 20_000 * S,
                           limit=1000, engine=engine, progress=False))
    assert len(df) == len(data)
    want = sorted(e[1] for e in data)
    assert df["time"].astype("int64").tolist() == want
    assert len(srv.requests) == 13
    assert all(r.params["direction"] == "backward" and r.params["limit"] == "1000" for r in srv.requests)
    assert sorted(df.loc[df["event"].str.startswith("dup-ts"), "event"]) == ["dup-ts 0", "dup-ts 1", "dup-ts 2"]


def test_loki_fake_server_pages_forward_the_same_lines(loki):
    """direction='forward' pages from the oldest line and gives the same rows as backward."""
    srv, data = loki
    fwd = ob.load("loki://" + srv.hostport, query='{app="api"}', start=T0, end=T0 + 20_000 * S, limit=700,
                  direction="forward", progress=False)
    want = sorted(e[1] for e in data if e[0]["app"] == "api")
    assert fwd["time"].astype("int64").tolist() == want


def test_loki_fake_server_maps_json_lines_labels_and_metadata(loki):
    """JSON fields become canonical columns, stream labels and structured metadata become columns."""
    srv, _ = loki
    df = ob.load("loki://" + srv.hostport, query='{app="api"}', start=T0, end=T0 + 10 * S)
    assert df["event"].tolist() == ["job 1", "job 3", "job 5", "job 7", "job 9"]
    assert df["level"].tolist() == ["ERROR", "INFO", "INFO", "INFO", "INFO"]
    assert df["service"].tolist() == ["api"] * 5  # the app label, aliased like a JSON-lines field
    assert df["env"].tolist() == ["prod"] * 5
    assert df["job_id"].tolist() == [1, 3, 5, 7, 9]
    assert [x if isinstance(x, str) else None for x in df["trace_id"]] == [None, f"{3:032x}", None, None, f"{9:032x}"]
    assert df["time"].tolist() == [pd.Timestamp(T0 + i * S, unit="ns", tz="UTC") for i in (1, 3, 5, 7, 9)]


def test_loki_fake_server_text_lines_become_event_with_detected_level(loki):
    """A plain text line is the event; the detected_level label fills level."""
    srv, _ = loki
    df = ob.load("loki://" + srv.hostport, query='{app="web"} |= "/page/4"', start=T0, end=T0 + 100 * S)
    assert df["event"].tolist() == ["GET /page/4 200", "GET /page/40 200", "GET /page/42 200",
                                    "GET /page/44 200", "GET /page/46 200", "GET /page/48 200"]
    assert set(df["level"]) == {"WARNING"}
    assert df["_source"].iloc[0] == f'loki://{srv.hostport} {{app="web"}} |= "/page/4"'
    assert df["_line"].tolist() == [1, 2, 3, 4, 5, 6]


def test_loki_fake_server_metric_query_gives_metrics(loki):
    """count_over_time over 10 s every 10 s counts the api lines of each window (5 per window)."""
    srv, _ = loki
    df = ob.load("loki://" + srv.hostport, query='count_over_time({app="api"}[10s])', start=T0 + 100 * S,
                 end=T0 + 160 * S, step=10)
    assert df["value"].tolist() == [5.0] * 7  # T0+100s ... T0+160s: a range query keeps the point at end
    assert df["time"].tolist() == [pd.Timestamp(T0 + (100 + 10 * k) * S, unit="ns", tz="UTC") for k in range(7)]
    assert set(df["app"]) == {"api"} and set(df["env"]) == {"prod"}
    assert df["metric"].isna().all()


def test_loki_fake_server_rejected_query_raises_with_lokis_text(loki):
    """A LogQL syntax error raises QueryError at once with Loki's own text body and the query."""
    srv, _ = loki
    srv.requests.clear()
    with pytest.raises(ob.QueryError) as ei:
        ob.load("loki://" + srv.hostport, query='{app="api"} !! oops', start=T0, end=T0 + S)
    assert "parse error at line 1, col 8: syntax error: unexpected IDENTIFIER" in str(ei.value)
    assert '{app="api"} !! oops' in str(ei.value)
    assert len(srv.requests) == 1  # not retried


def test_loki_fake_server_limit_over_server_max_names_it(loki):
    """limit above the server's max_entries_limit_per_query is refused with the server's numbers."""
    srv, _ = loki
    with pytest.raises(ob.QueryError, match=r"max_entries_limit \(6000 > 5000\)"):
        ob.load("loki://" + srv.hostport, query='{app="api"}', start=T0, end=T0 + S, limit=6000)


def test_loki_fake_server_max_lines_warns_partial(loki):
    """max_lines stops paging early and says so with a TruncatedResultWarning."""
    srv, _ = loki
    with pytest.warns(ob.TruncatedResultWarning, match="PARTIAL RESULT: stopped at max_lines=1000"):
        df = ob.load("loki://" + srv.hostport, query='{env="prod"}', start=T0, end=T0 + 20_000 * S, limit=500,
                     max_lines=1000, progress=False)
    assert len(df) == 1000
    newest = sorted(e[1] for e in loki[1])[-1000:]
    assert df["time"].astype("int64").tolist() == newest  # backward: the newest lines are the ones kept


def test_loki_fake_server_empty_window_is_an_empty_logs_frame(loki, engine):
    """A window with no lines gives an empty frame with the canonical logs columns, not an error."""
    srv, _ = loki
    df = ob.load("loki://" + srv.hostport, query='{app="api"}', start=T0 - 100 * S, end=T0 - 50 * S, engine=engine)
    assert len(df) == 0
    assert list(df.columns) == ["time", "level", "event", "service", "trace_id", "span_id", "_source", "_line"]
