"""ob.audit on a small instrumented queue system (tests/audit_fixtures/queue_system.py): the clean run passes every
rule it can be judged on; each broken run fails exactly the rule it breaks, with the right examples."""

from __future__ import annotations

import json
import pathlib
import sys

import pandas as pd
import polars as pl
import pytest

import obsnb as ob

sys.path.insert(0, str(pathlib.Path(__file__).parent / "audit_fixtures"))
import queue_system as qs  # noqa: E402

CLEAN = {"structured": "pass", "events_not_code_flow": "pass", "boundaries_logged": "pass",
         "levels_mean_something": "pass", "errors_logged_once": "pass", "one_trace_id_per_workflow": "pass",
         "metrics_that_matter": "n/a", "absence_can_be_alerted_on": "warn", "audit_events": "n/a"}


def _run(tmp_path, **flags):
    rows, state = qs.run(tmp_path, **flags)
    spans = pd.DataFrame(rows)
    for c in ("start", "end"):
        spans[c] = pd.to_datetime(spans[c], unit="ns", utc=True)
    spans["status"] = "UNSET"
    logs = ob.load(str(tmp_path / "logs.jsonl"), kind="logs")
    raw = pd.read_json(tmp_path / "logs.jsonl", lines=True)
    return ob.audit(logs, spans), raw, spans, state


def _lines(raw: pd.DataFrame, mask, path) -> list[str]:
    return [f"{path}:{i + 1}" for i in raw.index[mask][:5]]


def test_clean_run(tmp_path):
    a, raw, spans, state = _run(tmp_path)
    assert a.verdicts == CLEAN
    assert a.of("metrics_that_matter")["summary"] == "no metrics were given"
    ab = a.of("absence_can_be_alerted_on")["numbers"]
    done = raw[raw["event"] == "job_completed"].sort_values("time")
    cadence = done.groupby("worker")["time"].apply(lambda t: t.diff().median())  # seconds
    assert ab["signal"] == {w: f"completions only, median every {c:.1f} s" for w, c in cadence.items()}
    assert list(cadence) == [20.0, 40.0]  # worker-2 gets the odd jobs, and 3, 7, 11, 15 fail
    lv = a.of("levels_mean_something")["numbers"]
    assert lv["error_rows"] == state["failed"] == (raw["level"] == "ERROR").sum()
    assert lv["error_share"] == round(state["failed"] / state["log_rows"], 4)
    assert a.of("boundaries_logged")["numbers"]["calls"] == 2 * state["jobs"]


def test_worker_starting_a_new_trace_breaks_only_the_trace_rule(tmp_path):
    a, raw, spans, state = _run(tmp_path, new_trace=True)
    assert a.verdicts == CLEAN | {"one_trace_id_per_workflow": "fail"}
    n = a.of("one_trace_id_per_workflow")["numbers"]
    per_job = raw.dropna(subset=["job_id"]).groupby("job_id")["trace_id"].nunique()
    assert n["units_with_several_traces"] == (per_job > 1).sum() == state["jobs"]
    consumers = spans[spans["kind"] == "CONSUMER"]
    assert n["unlinked_consumer_roots"] == consumers["parent_span_id"].isna().sum() == state["jobs"]
    assert n["orphan_spans"] == 0
    ex = a.of("one_trace_id_per_workflow")["examples"]
    first = consumers.sort_values("start").iloc[0]
    assert f"trace {first['trace_id']} span {first['span_id']}" in ex
    assert "job_id=job-0 (2 trace ids)" in ex


def test_failures_at_warning_break_only_levels(tmp_path):
    a, raw, _, state = _run(tmp_path, warn_failures=True)
    assert a.verdicts == CLEAN | {"levels_mean_something": "fail", "errors_logged_once": "pass"}
    n = a.of("levels_mean_something")["numbers"]
    assert n["failures_below_error"] == n["failure_rows"] == state["failed"]
    assert n["failures_below_error_share"] == 1.0
    failed = (raw["event"] == "job_failed").to_numpy()
    assert a.of("levels_mean_something")["examples"] == _lines(raw, failed, tmp_path / "logs.jsonl")


def test_error_logged_twice_up_the_stack_breaks_only_errors_once(tmp_path):
    a, raw, _, state = _run(tmp_path, log_twice=True)
    assert a.verdicts == CLEAN | {"errors_logged_once": "fail"}
    n = a.of("errors_logged_once")["numbers"]
    # errors by the one definition: the two ERROR lines of each failed job, and its call line with status=503
    # (an HTTP status >= 500; logged at WARNING)
    http_5xx = (pd.to_numeric(raw["status"], errors="coerce") >= 500).sum()
    assert n["error_rows"] == 3 * state["failed"] == (raw["level"] == "ERROR").sum() + http_5xx
    assert n["repeated_rows"] == state["failed"] and n["repeated_share"] == round(1 / 3, 4)
    second = (raw["event"] == "job_failed").to_numpy()
    assert a.of("errors_logged_once")["examples"] == _lines(raw, second, tmp_path / "logs.jsonl")


def test_narration_breaks_only_code_flow(tmp_path):
    a, raw, _, state = _run(tmp_path, narrate=True)
    assert a.verdicts == CLEAN | {"events_not_code_flow": "fail"}
    n = a.of("events_not_code_flow")["numbers"]
    narr = raw["event"].str.contains("entering|exiting").to_numpy()
    assert n["narrating_rows"] == narr.sum() == 2 * state["jobs"]
    assert n["narrating_events"] == 2
    assert a.of("events_not_code_flow")["examples"] == _lines(raw, narr, tmp_path / "logs.jsonl")


def test_free_text_breaks_only_structured(tmp_path):
    a, raw, _, state = _run(tmp_path, free_text=True)
    assert a.verdicts == CLEAN | {"structured": "fail"}
    n = a.of("structured")["numbers"]
    free = raw["event"].str.startswith("Job ").to_numpy()
    assert n["interpolated_rows"] == free.sum() == state["jobs"]
    assert n["interpolated_templates"] == 1  # one f-string ("Job {i} queued for user {i % 5}"): one template
    assert n["unstructured_share"] == round(state["jobs"] / len(raw), 4) == 0.25
    assert a.of("structured")["examples"] == _lines(raw, free, tmp_path / "logs.jsonl")


def _frame(rows):
    df = pd.DataFrame(rows)
    df["time"] = pd.to_datetime(df["time"], unit="s", utc=True)
    return df


def test_thresholds_at_their_edges():
    # structured: 1 of 20 rows free text = 5.0 % -> pass (warn only above 5 %); 2 of 20 -> warn
    base = [{"time": i, "level": "INFO", "event": "job_done", "job_id": f"j{i}"} for i in range(20)]
    one = base[:19] + [{"time": 19, "level": "INFO", "event": "Job 19 done for user 4"}]
    two = base[:18] + [{"time": t, "level": "INFO", "event": f"Job {t} done for user 4"} for t in (18, 19)]
    assert ob.audit(_frame(one)).of("structured")["verdict"] == "pass"
    assert ob.audit(_frame(two)).of("structured")["numbers"]["unstructured_share"] == 0.1
    assert ob.audit(_frame(two)).of("structured")["verdict"] == "warn"
    # ERROR share: 4 of 20 failures at ERROR = 20 % -> pass; 5 of 20 = 25 % -> warn; 11 of 20 = 55 % -> fail
    for n_err, verdict in ((4, "pass"), (5, "warn"), (11, "fail")):
        rows = [{"time": i, "level": "ERROR" if i < n_err else "INFO", "event": "job_failed" if i < n_err else "job_done",
                 "job_id": f"j{i}"} for i in range(20)]
        r = ob.audit(_frame(rows)).of("levels_mean_something")
        assert (r["numbers"]["error_share"], r["verdict"]) == (n_err / 20, verdict)


def test_audit_events_without_resource_and_metrics(tmp_path):
    rows = [{"time": 0, "level": "INFO", "event": "user_action", "actor_id": "u1", "action": "delete_invoice",
             "invoice_id": "inv-1"},
            {"time": 1, "level": "INFO", "event": "user_action", "actor_id": "u2", "action": "delete_invoice"}]
    r = ob.audit(_frame(rows)).of("audit_events")
    # 1 of 2 incomplete = 50 %: warn (fail only above 50 %)
    assert (r["verdict"], r["numbers"]["without_resource"], r["numbers"]["incomplete_rows"]) == ("warn", 1, 1)
    t = pd.Timestamp("2026-01-01", tz="UTC")
    metrics = pd.DataFrame({"time": [t] * 3, "metric": ["jobs_processed_total", "jobs_failed_total", "job_duration_avg_ms"],
                            "value": [10.0, 1.0, 250.0]})
    m = ob.audit(metrics=metrics).of("metrics_that_matter")
    assert m["verdict"] == "warn"  # an average-only latency gauge: no P95
    assert (m["numbers"]["throughput"], m["numbers"]["failure"], m["numbers"]["average_only_latency"]) == \
        ("jobs_processed_total", "jobs_failed_total", "job_duration_avg_ms")
    assert m["numbers"]["queued_work"] is False


def test_frame_engine_and_findings(tmp_path):
    a, *_ = _run(tmp_path, new_trace=True)
    assert isinstance(a.frame, pd.DataFrame) and list(a.frame.columns) == \
        ["rule", "verdict", "summary", "numbers", "examples", "fix"]
    assert len(a.frame) == 9
    assert json.loads(a.frame.set_index("rule").loc["one_trace_id_per_workflow", "numbers"])["unlinked_consumer_roots"] == 20
    logs = ob.load(str(tmp_path / "logs.jsonl"), kind="logs", engine="polars")
    assert isinstance(ob.audit(logs).frame, pl.DataFrame)
    found = a.findings()
    assert [(f.kind, f.numbers["rule"], f.numbers["verdict"]) for f in found] == [
        ("telemetry_gap", "one_trace_id_per_workflow", "fail"), ("telemetry_gap", "absence_can_be_alerted_on", "warn")]
    assert found[0].summary.endswith(a.of("one_trace_id_per_workflow")["fix"])


def test_hints_are_investigates():
    with pytest.raises(ob.UsageError):
        ob.audit(_frame([{"time": 0, "level": "INFO", "event": "x"}]), keyy="job_id")
    rows = [{"time": i, "level": "INFO", "event": "step", "ref": f"r{i // 2}"} for i in range(8)]
    a = ob.audit(_frame(rows), key="ref")
    assert a.reading.key == "ref" and a.of("one_trace_id_per_workflow")["numbers"]["unit_rows_without_trace"] == 8


def test_callee_starting_new_traces_breaks_only_the_trace_rule(tmp_path):
    a, raw, spans, state = _run(tmp_path, server_new_trace=True)
    assert a.verdicts == CLEAN | {"one_trace_id_per_workflow": "fail"}
    n = a.of("one_trace_id_per_workflow")["numbers"]
    calls = spans[(spans["kind"] == "CLIENT") & (spans["peer.service"] == "payments")]
    childless = calls[~calls["span_id"].isin(spans["parent_span_id"].dropna())]
    assert (n["calls_to_traced_services"], n["calls_not_continued"]) == (len(calls), len(childless)) == (20, 20)
    roots = spans[spans["parent_span_id"].isna()]
    assert (roots["service"] == "payments").sum() == state["jobs"]  # every payments server span is its own root
    first = childless.sort_values("start").iloc[0]
    assert f"trace {first['trace_id']} span {first['span_id']}" in a.of("one_trace_id_per_workflow")["examples"]
    clean, *_ = _run(tmp_path)
    c = clean.of("one_trace_id_per_workflow")["numbers"]
    assert (c["calls_to_traced_services"], c["calls_not_continued"]) == (20, 0)


def test_worker_starting_a_new_trace_linked_to_the_producer_is_one_workflow(tmp_path):
    a, raw, spans, state = _run(tmp_path, linked_new_trace=True)
    assert a.verdicts == CLEAN
    n = a.of("one_trace_id_per_workflow")["numbers"]
    per_job = raw.dropna(subset=["job_id"]).groupby("job_id")["trace_id"].nunique()
    assert (per_job == 2).sum() == state["jobs"]  # two trace ids per job, joined by the consumer's link
    assert (n["units_with_several_traces"], n["unlinked_consumer_roots"]) == (0, 0)
    consumers = spans[spans["kind"] == "CONSUMER"]
    assert consumers["parent_span_id"].isna().all() and consumers["links"].map(len).eq(1).all()


def test_no_evidence_every_rule_is_na_and_says_why():
    a = ob.audit()
    assert set(a.verdicts.values()) == {"n/a"} and a.findings() == []
    assert a.of("metrics_that_matter")["summary"] == "no metrics were given"
    assert a.of("boundaries_logged")["summary"].startswith("no spans were given")
