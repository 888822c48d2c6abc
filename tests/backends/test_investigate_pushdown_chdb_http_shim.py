"""ob.investigate over ClickHouse aggregates in the server (chdb behind the HTTP shim, the exporter's DDL): the
findings equal those of the same rows loaded into frames, and no answer of the server holds more than
:data:`BOUND` rows while the spans are far more (a spy on the shim counts the rows of every Arrow answer)."""

from __future__ import annotations

import json
import warnings

import polars as pl
import pyarrow as pa
import pytest

import obsnb as ob
from chdb_fixture import MIN, ch  # noqa: F401 - ch is the module's server fixture
from chdb_incident import DB, LOGS, SILENT_FROM, SPANS, T0, WINDOW, fill
from fake_server import FakeServer

BOUND = 1_000
_FILLED: list = []


class Spy:
    """The shim, with the SQL and the number of rows of each Arrow answer it gave."""

    def __init__(self, shim):
        self.shim, self.answers = shim, []

    def __call__(self, req):
        resp = self.shim(req)
        rows = None
        if resp.status == 200 and resp.headers.get("Content-Type") == "application/octet-stream" and resp.body:
            with pa.ipc.open_stream(resp.body) as r:
                rows = r.read_all().num_rows
        self.answers.append((req.body.decode(), rows))
        return resp


@pytest.fixture(scope="module")
def inc(ch, tmp_path_factory):
    """(spy, the named source of the current DDL's logs, of the older DDL's): obsnb.toml names the database."""
    _, shim = ch
    if not _FILLED:
        fill(shim)
        _FILLED.append(True)
    spy = Spy(shim)
    with FakeServer(spy) as srv, pytest.MonkeyPatch.context() as mp:
        cfg = tmp_path_factory.mktemp("cfg") / "obsnb.toml"
        cfg.write_text(f'[sources.inc]\nurl = "clickhouse://{srv.hostport}"\ndatabase = "{DB}"\n\n'
                       f'[sources.inc-older]\nurl = "clickhouse://{srv.hostport}"\ndatabase = "{DB}"\n'
                       f'table = "otel_logs_older"\n')
        mp.setenv("OBSNB_CONFIG", str(cfg))
        yield spy


def _numbers(doc: dict) -> dict:
    """The findings' document without what differs by construction: a row's ``_line`` (its place in an answer),
    and floats to 12 significant digits (a share divided in another engine can differ in the last bit)."""
    def digits(v):
        if isinstance(v, float):
            return float(f"{v:.12g}")
        if isinstance(v, dict):
            return {k: digits(x) for k, x in v.items()}
        return [digits(x) for x in v] if isinstance(v, list) else v
    for f in doc["findings"]:
        f["numbers"].pop("line", None)
        f["numbers"].pop("last_line", None)
    return digits(doc)


@pytest.mark.parametrize("logs", ["inc", "inc-older"])
def test_investigate_pushdown_chdb_http_shim_equals_frames_and_answers_are_small(inc, logs):
    spy = inc
    t0, t1 = WINDOW
    lo = t0 - 60 * MIN
    n = len(spy.answers)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        remote = ob.investigate(logs=logs, spans="inc", start=t0, end=t1, baseline="60min")
        answers = spy.answers[n:]
        frames = ob.investigate(logs=ob.load(logs, "logs", start=lo, end=t1, engine="polars"),
                                spans=ob.load("inc", "spans", start=lo, end=t1, engine="polars"),
                                start=t0, end=t1, baseline="60min")
    a, b = _numbers(json.loads(remote.to_json())), _numbers(json.loads(frames.to_json()))
    a.pop("looked_at"), b.pop("looked_at")
    assert a == b
    # the findings the fixture was built to hold
    got = {(f["kind"], (f["entity"] or {}).get("value")) for f in a["findings"]}
    assert {("degraded_dependency", "payments"), ("latency_regression", "catalog / GET /items"), ("silence", "w3"),
            ("suspect", "eu-2"), ("error_spike", None)} <= got
    # the numbers counted from the fixture: failed payments calls (an Error status or an HTTP 5xx) in the window
    pay = next(f for f in a["findings"] if f["kind"] == "degraded_dependency")["numbers"]
    charge = [r for r in SPANS if r["SpanName"] == "charge"]
    failed = [r for r in charge if r["StatusCode"] == "Error" or r["SpanAttributes"].get("http.response.status_code") == "503"]
    assert pay["calls_during"] == sum(t0 <= r["Timestamp"] < t1 for r in charge)
    assert pay["errors_during"] == sum(t0 <= r["Timestamp"] < t1 for r in failed)
    assert pay["errors_before"] == sum(lo <= r["Timestamp"] < t0 for r in failed)
    clients = sum(lo <= r["Timestamp"] < t1 and r["SpanKind"] == "Client" for r in SPANS)
    assert remote.looked_at["degraded_dependency"].startswith(f"2 dependencies of {clients:,} client/producer spans")
    silence = next(f for f in a["findings"] if f["kind"] == "silence" and f["entity"]["value"] == "w3")
    last_w3 = max(r["Timestamp"] for r in LOGS if r["ResourceAttributes"]["host.name"] == "w3")
    assert silence["start"] == pl.Series([last_w3]).cast(pl.Datetime("ns", "UTC")).dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ")[0]
    assert last_w3 < SILENT_FROM
    # the evidence is every row of the window and its baseline; no answer held more than BOUND of them
    spans_n = sum(lo <= r["Timestamp"] < t1 for r in SPANS)
    logs_n = sum(lo <= r["Timestamp"] < t1 for r in LOGS)
    assert remote.evidence == {"logs": logs_n, "spans": spans_n, "metrics": 0}
    assert spans_n > 20 * BOUND
    sizes = [r for _, r in answers if r is not None]
    assert sizes and max(sizes) <= logs_n < BOUND
    # the spans' rows pulled: examples only (LIMIT 1 each), never a column of every span
    span_rows = [r for q, r in answers if r is not None and "otel_traces" in q and "GROUP BY" not in q
                 and "count()" not in q and "uniqExact" not in q]
    assert span_rows and max(span_rows) <= 1
    # what was asked is on the Findings, as sent
    sent = sorted(q.removesuffix("\nFORMAT ArrowStream") for q, _ in answers if "otel_" in q and not q.startswith("DESCRIBE"))
    assert sent == sorted(remote.queries)


def test_investigate_pushdown_chdb_http_shim_says_what_the_server_answered(inc):
    t0, t1 = WINDOW
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f = ob.investigate(logs="inc", spans="inc", start=t0, end=t1, baseline="60min")
    la = f.looked_at
    assert "spans on ClickHouse: " in la["degraded_dependency"] and "answered by the server" in la["degraded_dependency"]
    assert "calls, errors, p95 and p99 per dep in the window and the baseline" in la["degraded_dependency"]
    assert "the longest gaps per `host.name` past the silence threshold (top 5)" in la["silence"]
    # a row-based question says what it pulled: rows and columns
    assert "rows pulled in" in la["new_pattern"] and "(columns event, time)" in la["new_pattern"]
    assert "the logs stayed on the ClickHouse server" in la["telemetry_gap"]
    assert all("clickhouse://" not in v and "127.0.0.1" not in v for v in la.values())
    assert any("quantilesExactInclusiveIf(0.95, 0.99)" in q for q in f.queries)


def test_investigate_pushdown_chdb_http_shim_refuses_a_pull_past_the_cap(inc, monkeypatch):
    """A row-based question that would pull more rows than MAX_PULL is an error naming the detector and the count,
    never findings drawn from a cut frame."""
    from obsnb.investigation import remote

    t0, t1 = WINDOW
    logs_n = sum(t0 - 60 * MIN <= r["Timestamp"] < t1 for r in LOGS)
    monkeypatch.setattr(remote, "MAX_PULL", logs_n - 1)
    with pytest.raises(ob.BackendError, match=rf"ob.investigate \(reading\): more than {logs_n - 1:,} logs rows") as exc:
        ob.investigate(logs="inc", spans="inc", start=t0, end=t1, baseline="60min")
    assert "127.0.0.1" not in str(exc.value)
    monkeypatch.setattr(remote, "MAX_PULL", logs_n)  # exactly the rows there: no error
    assert ob.investigate(logs="inc", start=t0, end=t1, baseline="60min").evidence["logs"] == logs_n


def test_investigate_pushdown_chdb_http_shim_a_server_fault_is_an_error(inc, monkeypatch):
    """The server failing one aggregate mid-investigation raises the backend's error, with no findings."""
    spy = inc
    real = spy.shim

    def failing(req):
        if "quantilesExactInclusiveIf" in req.body.decode():
            from chdb_shim import _error
            return _error("Code: 241. DB::Exception: Memory limit exceeded. (MEMORY_LIMIT_EXCEEDED)")
        return real(req)
    monkeypatch.setattr(spy, "shim", failing)
    t0, t1 = WINDOW
    with pytest.raises(ob.BackendError, match="Memory limit exceeded"):
        ob.investigate(spans="inc", start=t0, end=t1, baseline="60min")


@pytest.mark.parametrize("source", ["inc", "inc-older"])
def test_investigate_pushdown_chdb_http_shim_lazy_evidence_pulls_only_what_a_query_reads(inc, source):
    """The row-based questions' frame: each polars query pulls only its columns (as ob.load has them), a head a LIMIT."""
    from obsnb.investigation.remote import Remote

    t0, t1 = WINDOW
    lo = t0 - 60 * MIN
    rm = Remote(source, "logs", lo, t1)
    frame = ob.load(source, "logs", start=lo, end=t1, engine="polars")
    cols = ["time", "level", "level_original", "host.name", "region", "trace_id"]
    got = rm.lazy().select(cols).collect()
    assert got.equals(frame.select(cols))
    assert set(rm.log[-1].columns) == set(cols) and rm.log[-1].rows == frame.height and "Body" not in rm.log[-1].sql
    assert set(got.get_column("level_original").drop_nulls()) == {"warn"}
    first = rm.lazy().select("event").head(3).collect()
    assert first.equals(frame.select("event").head(3)) and rm.log[-1].sql.endswith("LIMIT 3")
    rm.close()


def test_investigate_pushdown_chdb_http_shim_spans_alone_equal_frames(inc):
    """Spans without logs: the first error is the first failed span (LIMIT 1 of the columns it shows)."""
    t0, t1 = WINDOW
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        remote = ob.investigate(spans="inc", start=t0, end=t1, baseline="60min")
        frames = ob.investigate(spans=ob.load("inc", "spans", start=t0 - 60 * MIN, end=t1, engine="polars"),
                                start=t0, end=t1, baseline="60min")
    a, b = _numbers(json.loads(remote.to_json())), _numbers(json.loads(frames.to_json()))
    a.pop("looked_at"), b.pop("looked_at")
    assert a == b
    first = next(f for f in a["findings"] if f["kind"] == "first_error")["numbers"]
    failed = min((r for r in SPANS if t0 <= r["Timestamp"] < t1 and (r["StatusCode"] == "Error" or
                  r["SpanAttributes"].get("http.response.status_code") == "503")), key=lambda r: r["Timestamp"])
    assert (first["trace_id"], first["name"]) == (failed["TraceId"], failed["SpanName"])
