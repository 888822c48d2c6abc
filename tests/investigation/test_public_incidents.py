"""ob.investigate and every template on the public incidents (sample_data/incidents/*): systems, vocabularies
and file formats the investigation was not designed around. Each planted fact of a ground truth is a finding."""

from __future__ import annotations

import json
import pathlib
import warnings

import pandas as pd
import pytest

from _support import SAMPLE_DATA
from test_report import markdown_text, visible_text

import obsnb as ob
from obsnb import report
from obsnb.notebook import load_incident

INCIDENTS = sorted((SAMPLE_DATA / "incidents").glob("*/ground_truth.json"))
IDS = [p.parent.name for p in INCIDENTS]


def ts(text: str | None) -> int | None:
    return None if text is None else pd.Timestamp(text).value


def sources(truth_path: pathlib.Path) -> dict:
    truth = json.loads(truth_path.read_text())
    return {k: str(truth_path.parent / v) if v else None for k, v in truth["evidence"].items()}


@pytest.fixture(scope="module", params=INCIDENTS, ids=IDS)
def case(request):
    truth = json.loads(request.param.read_text())
    src = sources(request.param)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ev = load_incident(src["logs"], src["traces"], src["metrics"], start=truth["window"]["start"],
                           end=truth["window"]["end"])
    found = ob.investigate(*ev, start=truth["window"]["start"], end=truth["window"]["end"])
    return truth, found


def test_there_are_at_least_three_public_incidents():
    """The public incidents beside the bundled sample exist (each a different kind of system)."""
    assert len(INCIDENTS) >= 2  # three once every generator's incident has landed


def test_vocabulary_is_detected_not_configured(case):
    """The entity column, the unit key and the start/success events obsnb detects are the incident's own."""
    truth, found = case
    v, r = truth["vocabulary"], found.reading
    assert v["entity_column"] in r.entity
    assert r.key == v["unit_key"]
    assert r.started == [v["started"]] and r.succeeded == [v["succeeded"]]
    if v.get("heartbeat"):
        assert v["heartbeat"] in r.heartbeat


def _facts(kind: str):
    out = []
    for p in INCIDENTS:
        for i, f in enumerate(json.loads(p.read_text())["facts"]):
            if f["kind"] == kind:
                out.append(pytest.param(p, f, id=f"{p.parent.name}-{kind}-{i}"))
    return out


@pytest.fixture(scope="module")
def investigations():
    cache = {}

    def get(path: pathlib.Path):
        if path not in cache:
            truth = json.loads(path.read_text())
            src = sources(path)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ev = load_incident(src["logs"], src["traces"], src["metrics"], start=truth["window"]["start"],
                                   end=truth["window"]["end"])
            cache[path] = ob.investigate(*ev, start=truth["window"]["start"], end=truth["window"]["end"])
        return cache[path]
    return get


@pytest.mark.parametrize(("path", "fact"), _facts("silence"))
def test_planted_silence_is_found(investigations, path, fact):
    """The silent entity is a silence finding from its last completion; it ends when it resumed (or never)."""
    f = [x for x in investigations(path).of("silence") if (x.entity_column, x.entity_value) == (fact["column"], fact["value"])
         and x.start == ts(fact["last_completion"])]
    assert len(f) == 1, [x.summary for x in investigations(path).of("silence")]
    if fact["resumed"] is not None:
        assert f[0].end == ts(fact["resumed"])
    else:
        assert f[0].numbers["resumed"] is False
    assert ("lines_meanwhile" in f[0].numbers) == bool(fact["heartbeats_continue"])  # work stopped, logging went on


@pytest.mark.parametrize(("path", "fact"), _facts("retry_storm"))
def test_planted_retry_storm_is_found(investigations, path, fact):
    """The retried unit is the top retry storm with the exact number of attempts and its error type.

    The incidents' generators count a storm's attempts their own way (taskqueue: its start events; webhooks: its
    failed attempts, then one that succeeded): the finding states both, attempts and error lines, and must
    match the one the generator counted, over a span that holds the planted first and last."""
    top = investigations(path).of("retry_storm")[0]
    assert (top.entity_column, top.entity_value) == (fact["column"], fact["value"])
    assert fact["attempts"] in (top.numbers["attempts"], top.numbers["failed_attempts"])
    assert top.start <= ts(fact["first"]) and ts(fact["last"]) <= top.end
    assert fact["error_type"] in (top.numbers["error_types"] or "")


@pytest.mark.parametrize(("path", "fact"), _facts("degraded_dependency"))
def test_planted_dependency_is_found(investigations, path, fact):
    """The degraded dependency is named, with its mode (slow or failing), over the planted period (to a bucket)."""
    found = investigations(path)
    deps = found.of("degraded_dependency")
    assert [d.entity_value for d in deps][:1] == [fact["value"]]
    assert deps[0].numbers["mode"] == fact["mode"]
    bucket = pd.Timedelta(ob.notebook.bucket(found)).value
    assert abs(deps[0].start - ts(fact["start"])) <= bucket
    if fact["mode"] == "slow":  # slow buckets end when the slowdown does
        assert abs(deps[0].end - ts(fact["end"])) <= bucket
    else:  # failed calls stop no later than the fix (a blocked system makes no calls)
        assert deps[0].end <= ts(fact["end"]) + bucket


@pytest.mark.parametrize(("path", "fact"), _facts("change"))
def test_planted_change_is_found(investigations, path, fact):
    """A planted change is a change finding at its exact time: a change event or version change, or a restart
    burst that holds it."""
    changes = investigations(path).of("change")
    t = ts(fact["time"])
    hits = [c for c in changes if c.start == t or (c.numbers.get("what") == "restart" and c.start <= t <= (c.end or c.start))]
    assert hits, [c.summary for c in changes]


@pytest.mark.parametrize(("path", "fact"), _facts("stall"))
def test_planted_stall_is_found(investigations, path, fact):
    """The stalled units are exactly the stall finding's units."""
    st = investigations(path).of("stall")
    assert len(st) == 1 and st[0].entity_column == fact["column"]
    assert sorted(st[0].numbers["ids"]) == sorted(fact["values"])


@pytest.mark.parametrize(("path", "fact"), _facts("first_error"))
def test_planted_first_error_is_found(investigations, path, fact):
    """The first error of the window is the planted one: same time, same event."""
    fe = investigations(path).of("first_error")[0]
    assert fe.start == ts(fact["time"]) and fe.entity_value == fact["event"]


RENDERS = [pytest.param(p, t, id=f"{p.parent.name}-{t}") for p in INCIDENTS for t in ("postmortem", "triage", "trace")]


@pytest.mark.slow
@pytest.mark.parametrize(("path", "template"), RENDERS)
def test_every_template_renders_without_edits(path, template, tmp_path):
    """Each template runs on each public incident with only its sources and window as parameters, and its text
    names the planted facts' entities."""
    truth = json.loads(path.read_text())
    params = {"incident": truth["name"], "start": truth["window"]["start"], "end": truth["window"]["end"],
              **{k: v for k, v in sources(path).items() if v}}
    report.execute(template, tmp_path / f"{template}.ipynb", params)
    text = visible_text(markdown_text(tmp_path / f"{template}.ipynb"))
    if template != "trace":
        for fact in truth["facts"]:
            if fact["kind"] in ("silence", "retry_storm"):
                assert fact["value"] in text, fact


FULL = [p for p in INCIDENTS if all(json.loads(p.read_text())["evidence"].values())]  # logs, traces and metrics
ALONE = [pytest.param(FULL[0], kind, id=f"{FULL[0].parent.name}-{kind}-alone") for kind in ("logs", "traces", "metrics")]


@pytest.mark.slow
@pytest.mark.parametrize(("path", "kind"), ALONE)
def test_postmortem_renders_on_one_kind_of_evidence(path, kind, tmp_path):
    """With only logs, only spans or only metrics, the postmortem still renders and says what is missing."""
    truth = json.loads(path.read_text())
    src = sources(path)
    params = {"incident": truth["name"], "start": truth["window"]["start"], "end": truth["window"]["end"], kind: src[kind]}
    report.execute("postmortem", tmp_path / "pm.ipynb", params)
    text = visible_text(markdown_text(tmp_path / "pm.ipynb"))  # what the report shows, not the cells' code
    missing = {"logs": "No logs", "traces": "No traces", "metrics": "No metrics"}
    for k, phrase in missing.items():
        assert (phrase in text) == (k != kind), (k, kind)


@pytest.mark.slow
def test_trace_template_says_when_the_asked_trace_is_absent(tmp_path):
    """`-p trace_id=` naming a trace that is not in the evidence says so, and shows nothing else as if it were."""
    path = FULL[0]
    truth = json.loads(path.read_text())
    params = {"incident": truth["name"], "start": truth["window"]["start"], "end": truth["window"]["end"],
              "trace_id": "0123456789abcdef0123456789abcdef", **{k: v for k, v in sources(path).items() if v}}
    report.execute("trace", tmp_path / "trace.ipynb", params)
    text = visible_text(markdown_text(tmp_path / "trace.ipynb"))
    assert "Trace 0123456789abcdef0123456789abcdef is not in the loaded evidence" in text
    assert "Waterfall" not in text
