"""Regression checks from an independent new-user review on evidence obsnb was not designed around.

Each test writes the files a user would have (in tmp_path), loads them with ``ob.load`` and asks what the
report's findings are built from. Expected values come from how the files are built here. A check that obsnb
fails today is ``xfail(strict=True)`` with the reason, so it turns into a failure (remove the marker) once fixed.
"""

from __future__ import annotations

import datetime as dt
import json
import warnings

import pytest

import obsnb as ob

T0 = int(dt.datetime(2026, 9, 22, 8, 0, tzinfo=dt.timezone.utc).timestamp())
WINDOW = {"start": "2026-09-22T09:00Z", "end": "2026-09-22T11:00Z"}


def iso(sec: float) -> str:
    return dt.datetime.fromtimestamp(sec, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def load(path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ob.load(str(path), **kw)


def document(found) -> dict:
    doc = found.to_json()
    return json.loads(doc) if isinstance(doc, str) else doc


# ---------------------------------------------------------------- levels: log15 / Grafana spellings
LOG15 = {"dbug": "DEBUG", "info": "INFO", "warn": "WARNING", "eror": "ERROR", "crit": "CRITICAL"}


@pytest.mark.parametrize("word", list(LOG15))
def test_log15_level_words(tmp_path, word):
    """log15 (and Grafana's logger) write `lvl=dbug|info|warn|eror|crit`. An unread `eror` leaves level null, so
    the audit then reports '81 of 81 failure rows are logged below ERROR; ERROR is 0.0% of all rows'."""
    f = tmp_path / "app.log"
    f.write_text(f't=2026-08-05T01:00:00.000Z lvl={word} msg="part stored" host=exp-1\n')
    logs = load(f)
    assert logs["level"].tolist() == [LOG15[word]]


# ---------------------------------------------------------------- change detection: "gave up" is no restart
def _giving_up_logs(tmp_path):
    """Three hosts store a part every 30 s for 3 h; in the window each gives up on 20 parts (logged at WARNING, as
    a retrying client may), and exp-2's worker is restarted once at T0 + 150 min."""
    lines = []
    for t in range(T0, T0 + 3 * 3600, 30):
        for h in ("exp-1", "exp-2", "exp-3"):
            lines.append((t, f't={iso(t)} level=info msg="part stored" host={h} key=k{t}'))
    for i in range(20):
        for j, h in enumerate(("exp-1", "exp-2", "exp-3")):
            t = T0 + 80 * 60 + i * 90 + j * 7 + 1
            lines.append((t, f't={iso(t)} level=warn msg="part gave up" host={h} key=g{i} err="503 SlowDown"'))
    t = T0 + 150 * 60 + 3
    lines.append((t, f't={iso(t)} level=info msg="worker restarted" host=exp-2'))
    f = tmp_path / "exporter.log"
    f.write_text("".join(line + "\n" for _, line in sorted(lines)))
    found = ob.investigate(load(f), None, None, **WINDOW)
    return [f["numbers"] for f in document(found)["findings"] if f["kind"] == "change" and f["numbers"].get("what") == "restart"]


def test_restart_is_a_restart(tmp_path):
    """Control: the one real restart is one restart finding, at its time, naming the host."""
    restarts = _giving_up_logs(tmp_path)
    assert {"event": ["worker restarted"], "first": iso(T0 + 150 * 60 + 3), "who": {"host": ["exp-2"]}} in \
        [{k: r[k] for k in ("event", "first", "who")} for r in restarts]


def test_giving_up_is_not_a_restart(tmp_path):
    assert [r["event"] for r in _giving_up_logs(tmp_path)] == [["worker restarted"]]


# ---------------------------------------------------------------- audit: boundaries logged with a trace id only
def _calls_and_logs(tmp_path, with_span_id: bool):
    """10 traces: a SERVER root and one CLIENT call each; each call logged 1 ms after it returns, with its trace id
    (and, when `with_span_id`, the root's span id: the log line is written in the caller's span)."""
    spans, lines = [], []
    for i in range(10):
        tid, root, call = f"{i + 1:032x}", f"{i + 1:016x}", f"{i + 101:016x}"
        s = T0 + i * 60
        spans.append({"traceId": tid, "id": root, "kind": "SERVER", "name": "run", "timestamp": s * 10**6,
                      "duration": 2 * 10**6, "localEndpoint": {"serviceName": "exporter"}})
        spans.append({"traceId": tid, "id": call, "parentId": root, "kind": "CLIENT", "name": "put",
                      "timestamp": s * 10**6 + 1000, "duration": 500_000, "localEndpoint": {"serviceName": "exporter"},
                      "remoteEndpoint": {"serviceName": "objstore"}})
        at = s + 0.001 + 0.5 + 0.001
        sid = f" span_id={root}" if with_span_id else ""
        lines.append(f't={iso(at)} level=info msg="part stored" dependency=objstore took_ms=500 trace_id={tid}{sid}')
    (tmp_path / "spans.json").write_text(json.dumps(spans))
    (tmp_path / "app.log").write_text("\n".join(lines) + "\n")
    return load(tmp_path / "app.log"), load(tmp_path / "spans.json")


def test_boundaries_logged_with_span_id(tmp_path):
    """Control: every call has a log line in its parent's span within 1 s after it returned."""
    logs, spans = _calls_and_logs(tmp_path, with_span_id=True)
    assert ob.audit(logs, spans, None).of("boundaries_logged")["numbers"]["unlogged_calls"] == 0


def test_boundaries_logged_with_trace_id_only(tmp_path):
    logs, spans = _calls_and_logs(tmp_path, with_span_id=False)
    assert ob.audit(logs, spans, None).of("boundaries_logged")["numbers"]["unlogged_calls"] == 0


# ---------------------------------------------------------------- counter silence: OpenTelemetry metric names
NODES = ("ing-01", "ing-02", "ing-03", "ing-04")
STOP, RESUME = T0 + 100 * 60, T0 + 170 * 60   # ing-03's counter is flat from its increase at STOP until RESUME + 15 s


def _processed(node: str, t: int) -> int:
    if node != "ing-03" or t < STOP:
        return (t - T0) // 15 * 10
    if t < RESUME:
        return (STOP - T0) // 15 * 10
    return (t - T0) // 15 * 10 - (RESUME - STOP) // 15 * 10


def _expected_silence():
    return {"value": "ing-03", "flat_from": iso(STOP), "flat_until": iso(RESUME + 15), "still_scraped": True}


def _silences(metrics):
    found = ob.investigate(None, None, metrics, **WINDOW)
    return [{"value": f["entity"]["value"], **{k: f["numbers"][k] for k in ("flat_from", "flat_until", "still_scraped")}}
            for f in document(found)["findings"] if f["kind"] == "silence"]


def test_counter_silence_prometheus_name(tmp_path):
    """Control: a Prometheus `*_total` work counter per node that stops increasing while scraped is a silence."""
    lines = ["# TYPE ingestor_messages_processed_total counter"]
    lines += [f'ingestor_messages_processed_total{{node="{n}"}} {_processed(n, t)} {t * 1000}'
              for t in range(T0, T0 + 180 * 60, 15) for n in NODES]
    (tmp_path / "m.prom").write_text("\n".join(lines) + "\n")
    assert _silences(load(tmp_path / "m.prom")) == [_expected_silence()]


def test_counter_silence_otel_name(tmp_path):
    pts = [{"startTimeUnixNano": str(T0 * 10**9), "timeUnixNano": str(t * 10**9), "asInt": str(_processed(n, t)),
            "attributes": [{"key": "node", "value": {"stringValue": n}}]}
           for t in range(T0, T0 + 180 * 60, 15) for n in NODES]
    doc = {"resourceMetrics": [{"resource": {"attributes": []}, "scopeMetrics": [{"scope": {"name": "review"}, "metrics": [
        {"name": "ingestor.messages.processed",
         "sum": {"aggregationTemporality": 2, "isMonotonic": True, "dataPoints": pts}}]}]}]}
    (tmp_path / "m.otlp.json").write_text(json.dumps(doc))
    assert _silences(load(tmp_path / "m.otlp.json")) == [_expected_silence()]


# ---------------------------------------------------------------- errors: a bare `status` holding an HTTP code
@pytest.mark.parametrize("status, expected", [(503, 1), (200, 0)])
def test_http_status_in_a_status_field_is_an_error(tmp_path, status, expected):
    """The README's one definition of an error includes 'an HTTP status >= 500'. A log line `status=503` (the field
    many apps and the review's exporter write) is not counted: `status` is read only for failure words."""
    f = tmp_path / "app.log"
    f.write_text(f't=2026-08-05T01:00:00.000Z level=warn msg="objstore throttled" status={status}\n'
                 't=2026-08-05T01:00:01.000Z level=info msg="part stored"\n')
    rate = ob.error_rate(load(f), "1min")
    assert (rate["total"].tolist(), rate["errors"].tolist()) == ([2], [expected])


# ---------------------------------------------------------------- audit: "templates" are distinct messages
def test_structured_counts_templates(tmp_path):
    """Ten lines of one interpolated message are ten interpolated rows of one template."""
    f = tmp_path / "app.log"
    f.write_text("".join(f"2026-08-05 01:00:{i:02d},000 INFO [main] org.example.Auth: user u{i} logged in from 10.0.0.{i}\n"
                         for i in range(10)))
    nums = ob.audit(load(f), None, None).of("structured")["numbers"]
    assert (nums["interpolated_rows"], nums["interpolated_templates"]) == (10, 1)


# ---------------------------------------------------------------- latency regression: when it began
def test_latency_regression_starts_when_it_slowed(tmp_path):
    """One span a minute from T0, 100 ms each until T0 + 140 min, 5 s from then on: the slowdown begins at T0 + 140 min."""
    spans = [{"traceId": f"{i + 1:032x}", "id": f"{i + 1:016x}", "kind": "SERVER", "name": "run",
              "timestamp": (T0 + i * 60) * 10**6, "duration": (100_000 if i < 140 else 5_000_000),
              "localEndpoint": {"serviceName": "exporter"}} for i in range(180)]
    (tmp_path / "spans.json").write_text(json.dumps(spans))
    found = ob.investigate(None, load(tmp_path / "spans.json"), None, **WINDOW)
    slow = [f for f in document(found)["findings"] if f["kind"] == "latency_regression"]
    assert [(f["numbers"]["p95_during_ms"], f["start"]) for f in slow] == [(5000.0, iso(T0 + 140 * 60))]
