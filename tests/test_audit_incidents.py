"""ob.audit on the bundled sample and the four public incidents: the verdicts they get, with the numbers
recomputed here with plain pandas from the loaded evidence."""

from __future__ import annotations

import pathlib
import warnings

import pandas as pd
import pytest

import obsnb as ob

ROOT = pathlib.Path(__file__).resolve().parents[1] / "sample_data"
DIRS = {"sample": ROOT, **{p.name: p for p in sorted((ROOT / "incidents").iterdir()) if p.is_dir()}}
VERDICTS = {
    "sample": dict(structured="pass", events_not_code_flow="pass", boundaries_logged="warn", levels_mean_something="pass",
                   errors_logged_once="pass", one_trace_id_per_workflow="pass", metrics_that_matter="pass",
                   absence_can_be_alerted_on="warn", audit_events="pass"),
    "batch": dict(structured="pass", events_not_code_flow="pass", boundaries_logged="pass", levels_mean_something="warn",
                  errors_logged_once="pass", one_trace_id_per_workflow="pass", metrics_that_matter="n/a",
                  absence_can_be_alerted_on="pass", audit_events="pass"),
    "stream": dict(structured="pass", events_not_code_flow="pass", boundaries_logged="pass", levels_mean_something="fail",
                   errors_logged_once="pass", one_trace_id_per_workflow="pass", metrics_that_matter="n/a",
                   absence_can_be_alerted_on="pass", audit_events="n/a"),
    "taskqueue": dict(structured="pass", events_not_code_flow="pass", boundaries_logged="warn",
                      levels_mean_something="warn", errors_logged_once="pass", one_trace_id_per_workflow="pass",
                      metrics_that_matter="warn", absence_can_be_alerted_on="pass", audit_events="pass"),
    "webhooks": dict(structured="pass", events_not_code_flow="pass", boundaries_logged="n/a", levels_mean_something="warn",
                     errors_logged_once="pass", one_trace_id_per_workflow="fail", metrics_that_matter="warn",
                     absence_can_be_alerted_on="warn", audit_events="pass"),
}
_CACHE: dict = {}


def evidence(name):
    if name not in _CACHE:
        d, ev = DIRS[name], {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for kind, sub in (("logs", "logs"), ("spans", "traces"), ("metrics", "metrics")):
                if (d / sub).is_dir():
                    ev[kind] = ob.load(str(d / sub), kind=kind)
        _CACHE[name] = (ev, ob.audit(**ev))
    return _CACHE[name]


@pytest.mark.parametrize("name", sorted(VERDICTS))
def test_verdicts(name):
    ev, a = evidence(name)
    assert a.verdicts == VERDICTS[name]
    for r in a.rows:
        assert len(r["examples"]) <= 5 and r["fix"].endswith(".")
        if r["verdict"] in ("fail", "warn"):
            assert r["examples"] or r["rule"] == "metrics_that_matter", r["rule"]


def test_sample_boundaries_postgres_calls_are_not_logged():
    ev, a = evidence("sample")
    logs, spans = ev["logs"], ev["spans"]
    calls = spans[spans["kind"].isin(["CLIENT", "PRODUCER"])]
    lg = logs.dropna(subset=["trace_id", "span_id"])[["trace_id", "span_id", "time"]]
    hit = set()
    for own in ("span_id", "parent_span_id"):
        j = calls.merge(lg, left_on=["trace_id", own], right_on=["trace_id", "span_id"], suffixes=("", "_log"))
        j = j[(j["time"] >= j["start"]) & (j["time"] <= j["end"] + pd.Timedelta("1s"))]
        hit |= set(j["span_id"])
    n = a.of("boundaries_logged")["numbers"]
    assert (n["calls"], n["unlogged_calls"]) == (len(calls), len(calls) - len(hit)) == (12426, 3239)
    pg = calls[calls["db.system"] == "postgresql"] if "db.system" in calls else calls.iloc[:0]
    assert n["by_dependency"]["postgres"] == f"{len(calls) - len(hit)} of {len(pg)} unlogged"
    assert n["by_dependency"]["payments-api"] == "0 of 3265 unlogged"


def test_sample_trace_ids_levels_metrics_absence():
    ev, a = evidence("sample")
    logs, spans = ev["logs"], ev["spans"]
    t = a.of("one_trace_id_per_workflow")["numbers"]
    units = logs.dropna(subset=["job_id"])
    assert t["unit_rows"] == len(units) and t["unit_rows_without_trace"] == units["trace_id"].isna().sum() == 0
    assert t["units_with_several_traces"] == (units.groupby("job_id")["trace_id"].nunique() > 1).sum() == 0
    assert t["orphan_spans"] == (~spans["parent_span_id"].dropna().isin(spans["span_id"])).sum() == 0
    assert t["log_traces_without_span"] == (~logs["trace_id"].dropna().drop_duplicates().isin(spans["trace_id"])).sum()
    lv = a.of("levels_mean_something")["numbers"]
    assert lv["error_rows"] == (logs["level"] == "ERROR").sum() == 322
    assert lv["error_share"] == round(322 / len(logs), 4)
    m = a.of("metrics_that_matter")["numbers"]
    assert (m["failure"], m["queue_depth"], m["oldest_job_age"]) == \
        ("jobs_processed_total", "queue_depth", "queue_oldest_job_age_seconds")
    ab = a.of("absence_can_be_alerted_on")["numbers"]
    done = logs[logs["event"] == "job_completed"].sort_values("time")
    med = done.groupby("worker")["time"].apply(lambda s: s.diff().median().total_seconds())
    assert ab["signal"] == {w: f"completions only, median every {s:.1f} s" for w, s in med.items()}


def test_stream_timeouts_are_logged_at_warning():
    ev, a = evidence("stream")
    logs = ev["logs"]
    r = a.of("levels_mean_something")
    to = logs[logs["event"] == "enrichment_timeout"]
    assert (r["numbers"]["failures_below_error"], r["numbers"]["failure_rows"]) == (len(to), len(to)) == (8, 8)
    assert (to["level"] == "WARNING").all()
    assert r["examples"] == [f"{s}:{ln}" for s, ln in zip(to["_source"][:5], to["_line"][:5])]
    hb = logs[logs["event"] == "consumer_heartbeat"].sort_values("time")
    cad = hb.groupby("pod")["time"].apply(lambda s: s.diff().median().total_seconds())
    assert a.of("absence_can_be_alerted_on")["numbers"]["signal"] == {p: f"heartbeat every {c:.1f} s" for p, c in cad.items()}


def test_webhooks_have_no_trace_ids_and_much_error():
    ev, a = evidence("webhooks")
    logs = ev["logs"]
    t = a.of("one_trace_id_per_workflow")["numbers"]
    units = logs.dropna(subset=["delivery_id"])
    assert (t["unit_rows"], t["unit_rows_without_trace"]) == (len(units), units["trace_id"].isna().sum()) == (14531, 14531)
    lv = a.of("levels_mean_something")["numbers"]
    assert lv["error_share"] == round((logs["level"] == "ERROR").sum() / len(logs), 4) == 0.3708
    assert a.of("boundaries_logged")["summary"].startswith("no spans were given")


def test_taskqueue_and_batch():
    ev, a = evidence("taskqueue")
    logs = ev["logs"]
    lv = a.of("levels_mean_something")["numbers"]
    retried = logs[logs["event"] == "task-retried"]
    assert (lv["failure_rows"], lv["failures_below_error"]) == (len(retried), (retried["level"] == "WARNING").sum()) == (53, 12)
    m = a.of("metrics_that_matter")
    assert "missing: oldest-job age" in m["summary"] and m["numbers"]["failure"] == "celery_tasks_total"
    ev, a = evidence("batch")
    spans = ev["spans"]
    t = a.of("one_trace_id_per_workflow")["numbers"]
    orphans = spans["parent_span_id"].notna() & ~spans["parent_span_id"].isin(spans["span_id"])
    assert t["orphan_spans"] == orphans.sum() == 2
    assert t["orphan_span_share"] == round(2 / len(spans), 4)
