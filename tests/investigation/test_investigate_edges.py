"""ob.investigate on evidence with nothing wrong, nothing at all, or odd shapes: it says what it looked at
and never fails on a missing column. Expected values are counted by hand from the records written here."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import obsnb as ob
from obsnb.testing import make_logs, make_metrics, make_spans


def quiet_logs(n: int = 120, services=("api",)):
    """n INFO lines a minute apart per service, no errors."""
    t0 = pd.Timestamp("2024-05-14T12:00:00Z")
    return make_logs([{"time": t0 + pd.Timedelta(minutes=i), "level": "INFO", "event": "heartbeat", "service": s}
                      for i in range(n) for s in services])


def test_no_evidence_at_all():
    """Nothing loaded: no finding but the three telemetry gaps, and every section's 'looked at' line exists."""
    f = ob.investigate()
    assert [x.kind for x in f] == ["telemetry_gap"] * 3
    assert set(f.looked_at) == set(ob.investigation.KINDS)
    assert json.loads(f.to_json())["evidence"] == {"logs": 0, "spans": 0, "metrics": 0}


def test_quiet_system_has_no_incident_findings():
    """Two hours of healthy heartbeats from one service: no error spike, silence, storm or stall."""
    f = ob.investigate(quiet_logs(), start="2024-05-14T13:00Z", end="2024-05-14T14:00Z")
    assert {x.kind for x in f} <= {"telemetry_gap"}
    assert f.window[2] == "given" and f.baseline[2] == "the evidence before the window"
    assert "log lines" in f.looked_at["error_spike"]


def test_empty_window():
    """A window after all the evidence: nothing happened in it, and the report can say so."""
    f = ob.investigate(quiet_logs(), start="2024-05-15T00:00Z", end="2024-05-15T01:00Z")
    assert not f.of("error_spike", "first_error", "retry_storm", "stall")


def test_logs_with_only_time_and_message():
    """A frame with none of the optional columns (no event, service, level values) does not fail."""
    logs = make_logs([{"time": "2024-05-14T12:00:00Z"}, {"time": "2024-05-14T12:01:00Z"}])
    logs = logs.drop(columns=["event", "service", "level"])
    f = ob.investigate(logs)
    assert all(x.kind == "telemetry_gap" for x in f)


def test_spans_alone_find_the_failing_dependency():
    """Only spans: 40 client calls to db before the window (all OK), 40 during (10 fail): failing, 10 of 40."""
    t0 = pd.Timestamp("2024-05-14T12:00:00Z")
    rows = []
    for i in range(80):
        start = t0 + pd.Timedelta(minutes=i)
        failing = i >= 40 and i % 4 == 0
        rows.append({"trace_id": f"{i:032x}", "span_id": f"{i:016x}", "name": "SELECT", "service": "api",
                     "kind": "CLIENT", "start": start, "end": start + pd.Timedelta(milliseconds=5),
                     "status": "ERROR" if failing else "OK", "db.system": "postgresql"})
    f = ob.investigate(spans=make_spans(rows), start=t0 + pd.Timedelta(minutes=40), end=t0 + pd.Timedelta(minutes=80))
    dep = f.of("degraded_dependency")
    assert [d.entity_value for d in dep] == ["postgresql"]
    n = dep[0].numbers
    assert (n["mode"], n["calls_before"], n["errors_before"], n["calls_during"], n["errors_during"]) == ("failing", 40, 0, 40, 10)
    assert n["error_rate_during"] == 0.25
    assert "No logs" in " ".join(x.summary for x in f.of("telemetry_gap"))


def test_metrics_alone_find_a_counter_that_stops():
    """Only metrics: two instances' processed counters scraped every 15 s; one stays flat for 30 min."""
    t0 = pd.Timestamp("2024-05-14T12:00:00Z")
    rows = []
    for i in range(480):  # 2 h
        t = t0 + pd.Timedelta(seconds=15 * i)
        rows.append({"time": t, "metric": "jobs_processed_total", "value": float(i), "instance": "a"})
        flat = 240 <= i < 360  # 13:00 .. 13:30
        v = 239.0 if flat else float(i if i < 240 else i - 120)
        rows.append({"time": t, "metric": "jobs_processed_total", "value": v, "instance": "b"})
    f = ob.investigate(metrics=make_metrics(rows), start="2024-05-14T12:45Z", end="2024-05-14T14:00Z")
    s = f.of("silence")
    assert [(x.entity_column, x.entity_value) for x in s] == [("instance", "b")]
    assert s[0].start == pd.Timestamp("2024-05-14T12:59:45Z").value  # the last increase
    assert s[0].end == pd.Timestamp("2024-05-14T13:30:00Z").value and s[0].numbers["still_scraped"] is True


def test_a_counter_reset_is_not_a_silence():
    """A restart drops the counter to 0 and it keeps rising: that is work done, not a stop."""
    t0 = pd.Timestamp("2024-05-14T12:00:00Z")
    rows = [{"time": t0 + pd.Timedelta(seconds=15 * i), "metric": "tasks_total", "value": float(i % 200),
             "instance": inst} for i in range(480) for inst in ("a", "b")]
    f = ob.investigate(metrics=make_metrics(rows), start="2024-05-14T13:00Z", end="2024-05-14T14:00Z")
    assert f.of("silence") == []


def test_error_definition_is_shared_with_error_rate():
    """ob.error_rate's default counts exactly the rows the investigation calls errors (level, outcome, status, event)."""
    logs = make_logs([
        {"time": "2024-05-14T12:00:00Z", "level": "INFO", "event": "job_done"},
        {"time": "2024-05-14T12:00:01Z", "level": "ERROR", "event": "boom"},
        {"time": "2024-05-14T12:00:02Z", "level": "INFO", "event": "charge", "event.outcome": "failure"},
        {"time": "2024-05-14T12:00:03Z", "level": "INFO", "event": "GET /x", "http.response.status_code": 503},
        {"time": "2024-05-14T12:00:04Z", "level": "WARNING", "event": "job_failed"},
        {"time": "2024-05-14T12:00:05Z", "level": "INFO", "event": "call", "status": "timeout"},
        {"time": "2024-05-14T12:00:06Z", "level": "INFO", "event": "GET /y", "http.response.status_code": 404},
        {"time": "2024-05-14T12:00:07Z", "level": "INFO", "event": "a long message that says error in passing and goes on and on"},
    ])
    r = ob.error_rate(logs, "1min")
    assert (int(r["total"].sum()), int(r["errors"].sum())) == (8, 5)


def test_polars_evidence_gives_polars_findings():
    """Findings come back in the evidence's engine."""
    import polars as pl

    f = ob.investigate(quiet_logs().pipe(pl.from_pandas))
    assert isinstance(f.frame, pl.DataFrame) and f.frame.columns[:3] == ["rank", "kind", "entity_column"]
