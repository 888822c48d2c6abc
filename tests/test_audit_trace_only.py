"""ob.audit's boundaries_logged with log lines that carry a trace id and no span id, and structured's template count.

Each case builds its spans and log lines here; the expected counts follow from how they are built.
"""

from __future__ import annotations

import datetime as dt
import json
import warnings

import obsnb as ob

T0 = int(dt.datetime(2026, 9, 22, 8, 0, tzinfo=dt.timezone.utc).timestamp())


def _iso(sec: float) -> str:
    return dt.datetime.fromtimestamp(sec, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _load(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ob.load(str(path))


def _audit(tmp_path, log_at, span_of=None):
    """6 traces, each a SERVER root (2 s) and one CLIENT call from +1 ms for 0.5 s; one log line per trace at
    ``log_at(i)`` seconds after the call starts, with the trace id (and ``span_of(i)`` as span id, if given)."""
    def pair(i: int, s: int) -> list[dict]:
        base = {"traceId": f"{i + 1:032x}", "localEndpoint": {"serviceName": "a"}}
        return [{**base, "id": f"{i + 1:016x}", "kind": "SERVER", "name": "run", "timestamp": s * 10**6,
                 "duration": 2 * 10**6},
                {**base, "id": f"{i + 101:016x}", "parentId": f"{i + 1:016x}", "kind": "CLIENT", "name": "put",
                 "timestamp": s * 10**6 + 1000, "duration": 500_000, "remoteEndpoint": {"serviceName": "b"}}]

    starts = [T0 + i * 60 for i in range(6)]
    spans = [sp for i, s in enumerate(starts) for sp in pair(i, s)]
    sids = ["" if span_of is None else f" span_id={span_of(i)}" for i in range(6)]
    lines = [f't={_iso(s + 0.001 + log_at(i))} level=info msg="call done" trace_id={i + 1:032x}{sids[i]}'
             for i, s in enumerate(starts)]
    (tmp_path / "spans.json").write_text(json.dumps(spans))
    (tmp_path / "app.log").write_text("\n".join(lines) + "\n")
    return ob.audit(_load(tmp_path / "app.log"), _load(tmp_path / "spans.json"), None).of("boundaries_logged")["numbers"]


def test_trace_only_lines_count_within_the_call_and_one_second_after(tmp_path):
    # traces 0-2: 0.2 s into the call (inside it); 3: 1.3 s after start = 0.8 s after its end (inside the 1 s grace);
    # 4: 1.6 s after start = 1.1 s after the end (too late); 5: 0.1 s before the call starts (too early)
    at = [0.2, 0.2, 0.2, 1.3, 1.6, -0.1]
    n = _audit(tmp_path, lambda i: at[i])
    assert (n["calls"], n["unlogged_calls"]) == (6, 2)


def test_a_line_in_another_span_is_not_the_calls_line(tmp_path):
    # every line carries a span id of no span of its trace (written elsewhere): only the span id decides, and it
    # names neither the call nor its parent
    n = _audit(tmp_path, lambda i: 0.2, span_of=lambda i: f"{i + 901:016x}")
    assert (n["calls"], n["unlogged_calls"]) == (6, 6)


def test_structured_counts_templates_as_log_patterns(tmp_path):
    """Two interpolated templates (4 and 3 distinct messages) and one constant message: 7 interpolated rows in
    2 templates."""
    lines = [f"2026-08-05 01:00:{i:02d},000 INFO [main] org.example.Auth: user u{i} logged in from 10.0.0.{i}"
             for i in range(4)]
    lines += [f"2026-08-05 01:01:{i:02d},000 WARN [main] org.example.Store: disk {i} at {90 + i} percent full"
              for i in range(3)]
    lines += ["2026-08-05 01:02:00,000 INFO [main] org.example.Main: started"]
    f = tmp_path / "app.log"
    f.write_text("\n".join(lines) + "\n")
    logs = _load(f)
    row = ob.audit(logs, None, None).of("structured")
    nums = row["numbers"]
    assert (nums["rows"], nums["interpolated_rows"], nums["interpolated_templates"]) == (8, 7, 2)
    # three message shapes were written: the two interpolated ones and "started"; the prose and the helper agree
    assert "7 messages interpolate values (in 2 of the 3 templates ob.log_patterns finds)" in row["summary"]
    assert len(ob.log_patterns(logs)) == 3
