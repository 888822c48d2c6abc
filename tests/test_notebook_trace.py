"""The report's "The trace that shows it": a trace inside the window, through the finding the report leads with,
that failed (else the slowest through it), with the reason; and no trace rather than an unrelated one.

Three workers log a line a minute for 3 h, each line in its own trace (one span, Zipkin v2 JSON); `w-2` goes
silent 20 min into the window. Expected picks are computed from how the spans are built here."""

from __future__ import annotations

import datetime as dt
import json
import warnings

import pytest

import obsnb as ob
from obsnb import notebook as obn

T0 = int(dt.datetime(2026, 9, 22, 8, 0, tzinfo=dt.timezone.utc).timestamp())
W0, W1 = T0 + 3600, T0 + 3 * 3600
WINDOW = {"start": "2026-09-22T09:00Z", "end": "2026-09-22T11:00Z"}
SILENT = W0 + 20 * 60


def iso(sec: float) -> str:
    return dt.datetime.fromtimestamp(sec, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def incident(tmp_path, *, failed_w2: tuple[int, ...] = (), w2_traced: bool = True):
    """Returns (logs, spans, findings, traces): ``traces`` maps trace id -> (worker, start s, duration ms, failed).
    ``failed_w2``: indexes of w-2's lines in the window logged at ERROR (its trace failed)."""
    lines, spans, traces = [], [], {}
    n = 0
    for t in range(T0, W1, 60):
        for w in ("w-0", "w-1", "w-2"):
            if w == "w-2" and t >= SILENT:
                continue
            n += 1
            tid = f"{n:032x}"
            k = (t - W0) // 60
            dur = 100 + (n * 37) % 97
            bad = w == "w-2" and t >= W0 and k in failed_w2
            traces[tid] = (w, t, dur, bad)
            rec = {"time": iso(t + dur / 1000 + 0.001), "level": "ERROR" if bad else "INFO",
                   "event": "job failed" if bad else "job done", "worker": w}
            if w != "w-2" or w2_traced:
                rec["trace_id"] = tid
            lines.append(rec)
            spans.append({"traceId": tid, "id": f"{n:016x}", "kind": "SERVER", "name": "job", "timestamp": t * 10**6,
                          "duration": dur * 1000, "localEndpoint": {"serviceName": "worker"}})
    # a long trace in the window through w-0 (healthy), a longer failed one through w-2 before the window
    for tid, w, t, dur, bad in ((f"{10**6:032x}", "w-0", W0 + 1800, 60_000, False),
                                (f"{10**6 + 1:032x}", "w-2", T0 + 600, 90_000, True)):
        traces[tid] = (w, t, dur, bad)
        spans.append({"traceId": tid, "id": f"{10**6 + len(spans):016x}", "kind": "SERVER", "name": "job",
                      "timestamp": t * 10**6, "duration": dur * 1000, "localEndpoint": {"serviceName": "worker"},
                      **({"tags": {"error": "boom"}} if bad else {})})
        lines.append({"time": iso(t + 1), "level": "ERROR" if bad else "INFO", "event": "job failed" if bad else "job done",
                      "worker": w, "trace_id": tid})
    (tmp_path / "app.jsonl").write_text("".join(json.dumps(r) + "\n" for r in sorted(lines, key=lambda r: r["time"])))
    (tmp_path / "spans.json").write_text(json.dumps(spans))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logs, sp = ob.load(str(tmp_path / "app.jsonl")), ob.load(str(tmp_path / "spans.json"))
    found = ob.investigate(logs, sp, None, **WINDOW)
    return logs, sp, found, traces


def through_w2_in_window(traces, failed: bool | None = None):
    return {t: d for t, (w, s, d, bad) in traces.items() if w == "w-2" and W0 <= s < W1 and (failed is None or bad == failed)}


def test_a_failed_trace_through_the_finding_in_the_window(tmp_path):
    """Two of w-2's traces in the window failed (an ERROR log line): the slower of them is shown, not the longer
    failed trace before the window nor the longer healthy one of another worker."""
    logs, spans, found, traces = incident(tmp_path, failed_w2=(3, 11))
    silence = next(f for f in found.of("silence") if f.entity_value == "w-2")
    failed = through_w2_in_window(traces, failed=True)
    assert len(failed) == 2
    pick = obn.trace_choice(found, spans, logs)
    assert pick.trace_id == max(failed, key=failed.get)
    assert pick.why == (f"Shown because it passes through finding {silence.rank} (silence: `worker` = `w-2`) in the "
                        f"window and failed: the slowest of the 2 failed traces of {len(through_w2_in_window(traces))} "
                        f"through it ({failed[pick.trace_id] / 1000:.1f} s).")
    assert obn.trace_of_interest(found, spans, logs) == pick.trace_id


def test_else_the_slowest_trace_through_it_in_the_window(tmp_path):
    logs, spans, found, traces = incident(tmp_path)
    mine = through_w2_in_window(traces)
    slowest = max(sorted(mine), key=mine.get)  # ties: the first id
    pick = obn.trace_choice(found, spans, logs)
    assert pick.trace_id == slowest
    assert f"none of the {len(mine)} traces through it failed, so this is the slowest" in pick.why


def test_no_trace_through_the_finding_is_said_not_replaced(tmp_path):
    """w-2 logs no trace ids and its spans name no worker: nothing ties a trace to the silence, so none is shown."""
    logs, spans, found, _ = incident(tmp_path, w2_traced=False)
    silence = next(f for f in found.of("silence") if f.entity_value == "w-2")
    pick = obn.trace_choice(found, spans, logs)
    assert pick.trace_id is None
    assert pick.why.startswith(f"No trace in the window passes through finding {silence.rank} (silence: `worker` = `w-2`)")


def test_the_reason_is_printed(tmp_path, monkeypatch):
    logs, spans, found, _ = incident(tmp_path, w2_traced=False)
    said = []
    monkeypatch.setattr("obsnb.prose._print", said.append)
    pick = obn.trace_choice(found, spans, logs)
    obn.why_this_trace(found, pick.trace_id, None, pick.why)
    assert said == [pick.why]


@pytest.mark.parametrize("asked", ["00000000000000000000000000000001"])
def test_an_asked_trace_needs_no_reason(tmp_path, monkeypatch, asked):
    said = []
    monkeypatch.setattr("obsnb.prose._print", said.append)
    obn.why_this_trace([], asked, asked, "unused")
    assert said == []
