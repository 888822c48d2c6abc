"""ob.investigate over a clickhouse:// source on the real engine (chdb behind the HTTP shim): the findings of the
same rows as frames, and no more rows pulled than the window and its baseline (counted from the fixture)."""

from __future__ import annotations

import json
import warnings

import polars as pl
import pytest

import obsnb as ob
from chdb_fixture import LOGS, MIN, SPANS, T0, ch  # noqa: F401 - ch is the module's server fixture
from obsnb.errors import UsageError

TS = pl.Datetime("ns", "UTC")


def _in(col: str, lo: int, hi: int) -> pl.Expr:
    t = pl.col(col).cast(pl.Int64)
    return (t >= lo) & (t < hi)


@pytest.mark.parametrize("baseline, back", [(None, 8 * MIN), ("5min", 5 * MIN)])
def test_investigate_over_clickhouse_equals_frames_and_pulls_only_the_window(ch, baseline, back):
    url, shim = ch
    t0, t1 = T0 + 12 * MIN, T0 + 20 * MIN  # the worker's logs are silent from T0+12m to T0+19m
    hints = {"baseline": baseline} if baseline else {}
    n = len(shim.sql)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        remote = ob.investigate(logs=url, spans=url, start=t0, end=t1, **hints)
        asked = shim.sql[n:]
        logs = ob.load(url, "logs", engine="polars")  # everything, cut here in polars
        spans = ob.load(url, "spans", engine="polars")
        local = ob.investigate(logs=logs.filter(_in("time", t0 - back, t1)), spans=spans.filter(_in("start", t0 - back, t1)),
                               start=t0, end=t1, **hints)
    a, b = json.loads(remote.to_json()), json.loads(local.to_json())
    for f in a["findings"] + b["findings"]:  # a row's _line is its place in what the backend answered, which
        f["numbers"].pop("line", None)       # depends on the query's window: the rows themselves are the same
    la, lb = a.pop("looked_at"), b.pop("looked_at")
    assert a == b and a["findings"]
    # each detector's line is the frames' line, then what the server answered and what was pulled
    assert la.keys() == lb.keys()
    def own(text: str) -> str:
        return "; ".join(p for p in text.split("; ") if not p.startswith(("logs on ClickHouse:", "spans on ClickHouse:")))
    assert {k: own(v) for k, v in la.items() if k != "telemetry_gap"} == {k: v for k, v in lb.items() if k != "telemetry_gap"}
    assert "logs on ClickHouse: 1 aggregate query answered by the server" in la["error_spike"]
    # the evidence is the fixture's rows of [t0 - baseline, t1), not all of them, and every query is bounded by it
    want_logs = sum(t0 - back <= r["Timestamp"] < t1 for r in LOGS)
    want_spans = sum(t0 - back <= r["Timestamp"] < t1 for r in SPANS)
    assert remote.evidence == {"logs": want_logs, "spans": want_spans, "metrics": 0}
    assert want_logs < len(LOGS) and want_spans < len(SPANS)
    assert f"the logs stayed on the ClickHouse server: {want_logs:,} rows" in la["telemetry_gap"]
    assert "127.0.0.1" not in "".join(la.values())  # the source's address is not echoed
    selects = [q for q in asked if q.lstrip().upper().startswith(("SELECT", "WITH")) and "otel_" in q]
    assert selects and all(f"Timestamp >= fromUnixTimestamp64Nano(toInt64({t0 - back}))" in q for q in selects)
    assert sorted(q.removesuffix("\nFORMAT ArrowStream") for q in selects) == sorted(remote.queries)  # on the Findings


def test_investigate_over_a_backend_needs_a_window(ch):
    url, _ = ch
    with pytest.raises(UsageError, match="start= and end="):
        ob.investigate(logs=url)
