"""Rejected records are findings: an investigation whose logs were all rejected never reads as "no evidence"."""

from __future__ import annotations

import html
import io
import json
import warnings
from contextlib import redirect_stdout

import obsnb as ob
from obsnb import prose
from obsnb.errors import RejectedRecordsWarning

T0 = 1_758_532_800  # 2025-09-22T09:20:00Z


def _load(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RejectedRecordsWarning)
        return ob.load(path, engine="polars")


def _gaps(found):
    return [f for f in found if f.kind == "telemetry_gap" and str(f.entity_value).endswith("_rejected")]


def test_logs_all_rejected_are_a_finding_and_the_summary_says_so(tmp_path):
    """18 lines with no field obsnb reads as a time: all 18 are rejected, and the findings, the evidence line and the
    headline say that every one of them was rejected and why, rather than "no log lines"."""
    path = tmp_path / "app.jsonl"
    path.write_text("".join(json.dumps({"when": f"later {i}", "severity": "error", "msg": f"m{i}"}) + "\n" for i in range(18)))
    logs = _load(path)
    assert logs.height == 0 and len(ob.rejected(logs)) == 18
    found = ob.investigate(logs, None, None, start="2025-09-22T09:00Z", end="2025-09-22T10:00Z")
    (gap,) = _gaps(found)
    assert gap.numbers["logs_rejected"] == 18 and gap.numbers["records_read"] == 18 and gap.numbers["rows_loaded"] == 0
    assert gap.numbers["top_reason_records"] == 18 and "no timestamp" in gap.numbers["top_reason"]
    assert gap.summary.startswith("All 18 log records read were rejected")
    assert found.evidence["rejected"] == {"logs": 18}
    assert json.loads(found.to_json())["evidence"]["rejected"] == {"logs": 18}
    assert gap.rank < next(f.rank for f in found if f.kind == "telemetry_gap" and f.entity_value == "logs")
    out = io.StringIO()
    with redirect_stdout(out):
        prose.evidence(found, logs=True)
        prose.headline(found)
    text = html.unescape(out.getvalue())  # the prose is markdown with its punctuation as entities
    assert "no log lines (18 records read, all rejected)" in text
    assert "All 18 log records read were rejected" in text and "change in the window that was loaded." in text


def test_some_rejected_lines_are_counted_with_their_share(tmp_path):
    """40 good lines and 10 without a time: one finding with 10 of 50 (20.0%); 40 rows investigated."""
    path = tmp_path / "app.jsonl"
    good = [json.dumps({"ts": T0 + i, "level": "info", "msg": "ok"}) for i in range(40)]
    bad = [json.dumps({"level": "info", "msg": "no time"}) for _ in range(10)]
    path.write_text("\n".join(good + bad) + "\n")
    logs = _load(path)
    found = ob.investigate(logs, None, None)
    (gap,) = _gaps(found)
    assert (gap.numbers["logs_rejected"], gap.numbers["records_read"], gap.numbers["rows_loaded"]) == (10, 50, 40)
    assert "10 of 50 log records read (20.0%) were rejected" in gap.summary
    assert found.evidence["logs"] == 40


def test_a_frame_made_elsewhere_has_no_rejected_finding():
    """Evidence without a load's accounting (a frame built by hand) gets no rejected-records finding."""
    import polars as pl

    logs = pl.DataFrame({"time": pl.Series([T0 * 10**9 + i for i in range(30)]).cast(pl.Datetime("ns", "UTC")),
                         "level": ["INFO"] * 30, "event": ["ok"] * 30})
    found = ob.investigate(logs, None, None)
    assert _gaps(found) == [] and "rejected" not in found.evidence
