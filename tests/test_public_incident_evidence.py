"""The public sample incidents under sample_data/incidents/<name>/: their evidence loads whole, and every planted
fact in their ground_truth.json can be seen in the loaded frames with plain pandas (no obsnb helper).

The tests are generic: each incident found is one parameter. ground_truth.json holds name, system, window,
evidence (paths relative to the incident folder, each passable to ob.load), counts (rows ob.load returns),
vocabulary (column and event names of the loaded frames) and facts. What a fact's numbers cover:

* ``silence``: rows of ``column == value``; no ``succeeded`` event strictly between ``last_completion`` and
  ``resumed`` (or after ``last_completion`` when ``resumed`` is null), one at each end; with
  ``heartbeats_continue``, the entity's ``heartbeat`` events go on inside that span.
* ``retry_storm``: the unit's ``failed`` events: ``attempts`` of them, the first at ``first``, the last at
  ``last``, each carrying ``error_type`` in some column.
* ``degraded_dependency``: the CLIENT spans of ``column == value`` (or, when the incident has no traces, the
  log rows of ``column == value`` that have the fact's ``duration_column``, by log time); before = starting
  before ``start``, during = starting in [start, end); errors = span status ERROR (log rows: level ERROR/CRITICAL); p95 = numpy's
  default (linear) percentile of ``duration_ms``, rounded to 3 decimals.
* ``change``: a log row with ``column == value`` at ``time``.
* ``stall``: each unit has a ``started`` event and neither ``succeeded`` nor ``failed``.
* ``first_error``: a row with ``event`` at ``time``, and no ERROR/CRITICAL row in the window before it.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import pathlib
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import obsnb as ob
from conftest import ROOT, SAMPLE_DATA, need

# The incidents whose generators write facts as this module reads them (see tests/test_sample_incidents.py for
# the others, and for the generic checks, byte-for-byte regeneration included, over every incident).
INCIDENTS = sorted(p.parent for p in (SAMPLE_DATA / "incidents").glob("*/ground_truth.json")
                   if p.parent.name in ("batch", "webhooks"))
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
KINDS = {"logs": "logs", "traces": "spans", "metrics": "metrics"}
ERROR_LEVELS = ("ERROR", "CRITICAL")

pytestmark = pytest.mark.parametrize("incident", INCIDENTS, ids=[p.name for p in INCIDENTS])


@functools.lru_cache(maxsize=None)
def truth(incident: pathlib.Path) -> dict:
    return json.loads((incident / "ground_truth.json").read_text())


@functools.lru_cache(maxsize=None)
def frame(incident: pathlib.Path, evidence: str) -> pd.DataFrame | None:
    """The incident's evidence of one kind as ob.load returns it (None when the incident has none)."""
    rel = truth(incident)["evidence"][evidence]
    return None if rel is None else ob.load(str(incident / rel), kind=KINDS[evidence])


def ts(iso: str | None) -> pd.Timestamp | None:
    return None if iso is None else pd.Timestamp(iso)


def facts(incident: pathlib.Path, kind: str) -> list[dict]:
    return [f for f in truth(incident)["facts"] if f["kind"] == kind]


def test_ground_truth_follows_the_schema(incident):
    t = truth(incident)
    assert t["name"] == incident.name and t["system"]
    assert set(t) >= {"window", "evidence", "counts", "vocabulary", "facts"}
    assert set(t["vocabulary"]) == {"entity_column", "unit_key", "started", "succeeded", "failed", "heartbeat",
                                    "dependency_column"}
    assert set(t["counts"]) == {"log_lines", "spans", "metric_samples"}
    for ev, count in (("logs", "log_lines"), ("traces", "spans"), ("metrics", "metric_samples")):
        assert (t["evidence"][ev] is None) == (t["counts"][count] is None), ev
    stamps = [t["window"]["start"], t["window"]["end"]]
    for f in t["facts"]:
        stamps += [f[k] for k in ("time", "start", "end", "first", "last", "last_completion", "resumed")
                   if f.get(k) is not None]
    assert all(ISO.match(s) for s in stamps), stamps
    assert {f["kind"] for f in t["facts"]} <= {"silence", "retry_storm", "degraded_dependency", "change", "stall",
                                               "first_error"}
    assert (incident / "README.md").is_file()


def test_vocabulary_names_what_the_evidence_holds(incident):
    """The vocabulary's columns are columns of the loaded frames and its events occur in ``event``."""
    voc, logs = truth(incident)["vocabulary"], frame(incident, "logs")
    assert logs[voc["entity_column"]].notna().any() and logs[voc["unit_key"]].notna().any()
    events = set(logs["event"])
    for key in ("started", "succeeded", "failed", "heartbeat"):
        if voc[key] is None:
            assert key == "heartbeat", "only the heartbeat may be absent"
        else:
            assert voc[key] in events, key
    if voc["dependency_column"] is not None:
        spans = frame(incident, "traces")
        assert spans.loc[spans["kind"] == "CLIENT", voc["dependency_column"]].notna().all()


def test_evidence_loads_whole_with_the_counted_records(incident):
    """Every evidence file loads with zero rejected records; rows equal the counts; >= 1 h before the window."""
    t = truth(incident)
    count_key = {"logs": "log_lines", "traces": "spans", "metrics": "metric_samples"}
    first_times = []
    for ev, key in count_key.items():
        df = frame(incident, ev)
        if df is None:
            continue
        assert len(ob.rejected(df)) == 0, ob.rejected(df).head()
        assert len(df) == t["counts"][key], ev
        path = incident / t["evidence"][ev]
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        each = [ob.load(str(p), kind=KINDS[ev]) for p in files]  # each file on its own, too
        assert [len(ob.rejected(x)) for x in each] == [0] * len(files)
        assert sum(len(x) for x in each) == t["counts"][key] and all(len(x) for x in each), ev
        first_times.append(df["start" if ev == "traces" else "time"].min())
    assert first_times, "an incident with no evidence"
    assert min(first_times) <= ts(t["window"]["start"]) - pd.Timedelta("1h")


def test_silences_are_in_the_logs(incident):
    voc, logs = truth(incident)["vocabulary"], frame(incident, "logs")
    for f in facts(incident, "silence"):
        mine = logs[logs[f["column"]] == f["value"]]
        done = mine.loc[mine["event"] == voc["succeeded"], "time"]
        t0, t1 = ts(f["last_completion"]), ts(f["resumed"])
        assert (done == t0).sum() >= 1
        inside = done[(done > t0) & (done < t1)] if t1 is not None else done[done > t0]
        assert inside.empty, inside
        if t1 is not None:
            assert (done == t1).sum() >= 1
        if f["heartbeats_continue"]:
            beats = mine.loc[mine["event"] == voc["heartbeat"], "time"]
            end = t1 if t1 is not None else logs["time"].max()
            beats = beats[(beats > t0) & (beats < end)].sort_values()
            assert len(beats) >= 2
            # they go on through the silence: no gap between beats is a tenth of it
            edges = pd.concat([pd.Series([t0]), beats, pd.Series([end])]).diff().dropna()
            assert edges.max() < (end - t0) / 10


def test_retry_storms_are_in_the_logs(incident):
    voc, logs = truth(incident)["vocabulary"], frame(incident, "logs")
    for f in facts(incident, "retry_storm"):
        failed = logs[(logs[f["column"]].astype("string") == str(f["value"])) & (logs["event"] == voc["failed"])]
        assert len(failed) == f["attempts"]
        assert failed["time"].min() == ts(f["first"]) and failed["time"].max() == ts(f["last"])
        carries = [c for c in failed.columns if (failed[c].astype("string") == f["error_type"]).fillna(False).all()]
        assert carries, f"no column holds {f['error_type']!r} on every failed attempt"


def test_degraded_dependencies_are_in_the_evidence(incident):
    for f in facts(incident, "degraded_dependency"):
        if "duration_column" in f:
            rows = frame(incident, "logs")
            rows = rows[(rows[f["column"]] == f["value"]) & rows[f["duration_column"]].notna()]
            start, dur = rows["time"], rows[f["duration_column"]].astype(float)
            err = rows["level"].isin(ERROR_LEVELS)
        else:
            spans = frame(incident, "traces")
            rows = spans[(spans["kind"] == "CLIENT") & (spans[f["column"]] == f["value"])]
            start, dur, err = rows["start"], rows["duration_ms"].astype(float), rows["status"] == "ERROR"
        before = start < ts(f["start"])
        during = (start >= ts(f["start"])) & (start < ts(f["end"]))
        assert (before.sum(), during.sum()) == (f["calls_before"], f["calls_during"])
        assert (err[before].sum(), err[during].sum()) == (f["errors_before"], f["errors_during"])
        assert round(float(np.percentile(dur[before], 95)), 3) == f["p95_before_ms"]
        assert round(float(np.percentile(dur[during], 95)), 3) == f["p95_during_ms"]
        if f["mode"] == "failing":
            assert f["errors_during"] / f["calls_during"] > f["errors_before"] / max(f["calls_before"], 1)
        else:
            assert f["p95_during_ms"] > f["p95_before_ms"]


def test_changes_are_logged_at_their_time(incident):
    logs = frame(incident, "logs")
    for f in facts(incident, "change"):
        hit = logs[(logs[f["column"]].astype("string") == str(f["value"])) & (logs["time"] == ts(f["time"]))]
        assert len(hit) >= 1, f


def test_stalled_units_started_and_never_finished(incident):
    voc, logs = truth(incident)["vocabulary"], frame(incident, "logs")
    for f in facts(incident, "stall"):
        assert f["values"]
        for unit in f["values"]:
            events = set(logs.loc[logs[f["column"]].astype("string") == str(unit), "event"])
            assert voc["started"] in events, unit
            assert not events & {voc["succeeded"], voc["failed"]}, unit


def test_first_error_is_the_first_in_the_window(incident):
    t, logs = truth(incident), frame(incident, "logs")
    for f in facts(incident, "first_error"):
        at = ts(f["time"])
        assert ((logs["event"] == f["event"]) & (logs["time"] == at)).any()
        earlier = logs[(logs["time"] >= ts(t["window"]["start"])) & (logs["time"] < at)]
        assert not earlier["level"].isin(ERROR_LEVELS).any()
