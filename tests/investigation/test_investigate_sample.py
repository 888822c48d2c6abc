"""ob.investigate on the bundled sample incident: each planted fact is a finding with the generator's values."""

from __future__ import annotations

import json
import warnings

import pandas as pd
import polars as pl
import pytest

from _support import SAMPLE_DATA

import obsnb as ob
from obsnb.investigation import KINDS

TRUTH = json.loads((SAMPLE_DATA / "ground_truth.json").read_text())
W = TRUTH["window"]


def ts(text: str) -> int:
    return pd.Timestamp(text).value


@pytest.fixture(scope="module")
def evidence():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return (ob.load(str(SAMPLE_DATA / "logs")), ob.load(str(SAMPLE_DATA / "traces")),
                ob.load(str(SAMPLE_DATA / "metrics")))


@pytest.fixture(scope="module")
def found(evidence):
    return ob.investigate(*evidence, start=W["start"], end=W["end"])


def test_reading_detects_the_sample_vocabulary(found):
    """Entity, key and start/finish events are detected from the data, not configured."""
    r = found.reading
    assert r.entity[0] == "worker" and r.key == "job_id"
    assert r.started == ["job_started"] and r.succeeded == ["job_completed"] and "job_failed" in r.failed
    table = found.reading.table().to_pandas().set_index("assumption")
    assert table.loc["key", "value"] == "job_id" and table.loc["key", "how"].startswith("named like")


def test_silent_worker_is_a_silence_with_exact_times(found):
    """The worker that stopped logging is a silence from its last line to its restart."""
    sw = TRUTH["silent_worker"]
    f = [f for f in found.of("silence") if f.entity_value == sw["worker"]]
    assert len(f) == 1
    assert (f[0].entity_column, f[0].start, f[0].end) == ("worker", ts(sw["last_log_time"]), ts(sw["resumed_time"]))
    assert f[0].numbers["minutes"] == pytest.approx(sw["silence_seconds"] / 60)
    assert f[0].numbers["last_job_id"] == sw["stuck_job_id"]


def test_retry_storm_counts_every_attempt(found):
    """The job retried forever is the top retry storm, with its attempt count and last failure."""
    rs = TRUTH["retry_storm"]
    top = found.of("retry_storm")[0]
    assert (top.entity_column, top.entity_value, top.numbers["attempts"]) == ("job_id", rs["job_id"], rs["attempts_started"])
    assert top.end == ts(rs["last_failure"])
    assert rs["trace_id"] in top.numbers["trace_ids"]


def test_failing_dependency_from_client_spans(found):
    """The dependency that timed out is the degraded dependency, failing, with a p99 equal to the spans' own."""
    dep = found.of("degraded_dependency")
    assert [d.entity_value for d in dep] == [TRUTH["slowest_dependency"]["name"]]
    n = dep[0].numbers
    assert n["mode"] == "failing" and n["from"] == "client spans"
    spans = ob.load(str(SAMPLE_DATA / "traces"))
    during = spans[(spans["kind"] == "CLIENT") & (spans["peer.service"] == dep[0].entity_value)
                   & (spans["start"] >= W["start"]) & (spans["start"] < W["end"])]
    assert n["calls_during"] == len(during)
    assert n["p99_during_ms"] == pytest.approx(float(during["duration_ms"].quantile(0.99)))
    assert n["errors_during"] == int((during["status"] == "ERROR").sum())


def test_deploy_is_a_change_before_the_first_error(found):
    """The deploy is a change finding at its time, ranked above the restart, minutes before the first error."""
    changes = found.of("change")
    deploy = next(f for f in changes if f.entity_value == "deploy")
    assert deploy.start == ts(TRUTH["deploy"]["time"])
    assert deploy.numbers["fields"]["version"] == TRUTH["deploy"]["version"]
    first = found.of("first_error")[0]
    assert first.start == ts(TRUTH["first_error"]["time"]) and first.numbers["job_id"] == TRUTH["first_error"]["job_id"]
    assert deploy.numbers["before_first_error_s"] == pytest.approx((first.start - deploy.start) / 1e9)


def test_stuck_job_is_a_stall(found):
    """The job the silent worker took is an attempt that never finished."""
    st = found.of("stall")[0]
    assert st.entity_value == TRUTH["silent_worker"]["stuck_job_id"]
    assert st.start == ts(TRUTH["silent_worker"]["last_log_time"])
    assert st.numbers["entities"]["worker"] == [TRUTH["silent_worker"]["worker"]]


def test_json_document_has_the_documented_schema(found):
    """to_json() is the versioned findings document; every finding has kind, entity, times, summary, call."""
    doc = json.loads(found.to_json())
    assert doc["schema"] == "obsnb.findings/1"
    assert doc["window"] == {"start": W["start"], "end": W["end"], "how": "given"}
    assert doc["evidence"] == {"logs": TRUTH["counts"]["log_lines"], "spans": TRUTH["counts"]["spans"],
                               "metrics": doc["evidence"]["metrics"]}
    ranks = [f["rank"] for f in doc["findings"]]
    assert ranks == list(range(1, len(ranks) + 1))
    for f in doc["findings"]:
        assert set(f) == {"rank", "kind", "entity", "start", "end", "summary", "numbers", "call", "score"}
        assert f["kind"] in KINDS
        assert f["summary"] and f["call"].startswith(("ob.", "logs", "spans"))


def test_polars_in_polars_out(evidence):
    """Polars evidence gives a polars findings frame with the same findings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pls = [ob.load(str(SAMPLE_DATA / p), engine="polars") for p in ("logs", "traces")]
    f = ob.investigate(pls[0], pls[1], start=W["start"], end=W["end"])
    assert isinstance(f.frame, pl.DataFrame)
    pd_f = ob.investigate(evidence[0], evidence[1], start=W["start"], end=W["end"])
    assert [(x.kind, x.entity_value, x.start) for x in f] == [(x.kind, x.entity_value, x.start) for x in pd_f]


def test_hints_override_detection(evidence):
    """A hint replaces what was detected, and the reading says it was given."""
    f = ob.investigate(evidence[0], start=W["start"], end=W["end"], entity="service", retry_min_attempts=30)
    assert f.reading.entity == ["service"] and "entity" in f.reading.given
    assert f.of("retry_storm") == []  # nobody reached 30 attempts
    assert all(s.entity_column == "service" for s in f.of("silence"))


def test_unknown_hint_is_a_usage_error(evidence):
    """A misspelled hint is an error naming the hints, not silently ignored."""
    with pytest.raises(ob.UsageError, match="unknown hint 'kye'"):
        ob.investigate(evidence[0], kye="job_id")
