"""Logs that carry no level and no status (Loghub's OpenSSH syslog: free-text messages, no severity) cannot tell an
error: the report says so, and never reads as "no errors".

Expected counts come from the source file itself (its lines), not from obsnb."""

from __future__ import annotations

import html
import json
import warnings

import pytest
from _support import REALWORLD, need

import obsnb as ob
from obsnb import prose

OPENSSH = REALWORLD / "loghub" / "OpenSSH" / "OpenSSH_2k.log"
T0 = "2026-09-22T08:00:00.000Z"


def said(monkeypatch, call, *args) -> str:
    out = []
    monkeypatch.setattr(prose, "_markdown", out.append)
    monkeypatch.setattr(prose, "_print", out.append)
    call(*args)
    return html.unescape("\n".join(out))  # what the page shows (the helpers escape what they write)


@pytest.fixture(scope="module")
def openssh():
    need(OPENSSH.exists(), f"{OPENSSH} is missing")
    lines = sum(1 for line in OPENSSH.read_text(errors="replace").splitlines() if line.strip())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logs = ob.load(str(OPENSSH), "logs")
    return lines, ob.investigate(logs, None, None)


def test_the_gap_is_a_finding_with_the_files_count(openssh):
    lines, found = openssh
    gap, = [f for f in found.of("telemetry_gap") if f.entity_value == "log_levels"]
    assert gap.numbers["log_lines"] == lines == 2000
    assert gap.summary.startswith(f"Logs without a level or status: none of the {lines:,} log lines carries a level")
    assert "no spans were loaded, so no error could be counted at all" in gap.summary


def test_the_report_never_says_no_errors(openssh, monkeypatch):
    lines, found = openssh
    impact = said(monkeypatch, prose.section, found, "error_spike")
    assert impact == (f"Errors could not be counted from the logs: none of their {lines:,} lines carries a level, an "
                      "outcome or a status, and their messages are free text. No other evidence of errors was loaded, "
                      "so this is not a finding of no errors.")
    assert "No rise in the error rate" not in impact
    detection = said(monkeypatch, prose.section, found, "first_error")
    assert detection.startswith("No first error can be named from the logs")
    headline = said(monkeypatch, prose.headline, found)
    assert headline.splitlines()[0].startswith("* Logs without a level or status")
    assert prose.no_error_chart(found, lines) == ("No error-rate chart of the logs: they carry no level, outcome or "
                                                  "status to count errors from.")


def _logs(tmp_path, with_level: bool):
    f = tmp_path / "app.jsonl"
    f.write_text("".join(json.dumps({"time": f"2026-09-22T08:{m:02d}:00Z", "message": f"user u{m} logged in from host h{m}",
                                     **({"level": "info"} if with_level else {})}) + "\n" for m in range(60)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ob.load(str(f))


def test_with_spans_the_error_findings_say_they_come_from_the_spans(tmp_path, monkeypatch):
    """The same free-text logs with spans beside them: the spans' status is the evidence of errors, said so."""
    spans = [{"traceId": f"{i + 1:032x}", "id": f"{i + 1:016x}", "kind": "SERVER", "name": "login",
              "timestamp": (1790064000 + i * 60) * 10**6, "duration": 1000, "localEndpoint": {"serviceName": "auth"}}
             for i in range(60)]
    (tmp_path / "spans.json").write_text(json.dumps(spans))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = ob.investigate(_logs(tmp_path, False), ob.load(str(tmp_path / "spans.json")), None)
    gap, = [f for f in found.of("telemetry_gap") if f.entity_value == "log_levels"]
    assert "the error findings below come from the spans' status only" in gap.summary
    assert said(monkeypatch, prose.section, found, "error_spike").endswith(
        "From the spans' status: no rise in the error rate against the baseline.")


def test_a_level_on_every_line_is_no_gap(tmp_path, monkeypatch):
    """Control: the same messages with `level=info` can tell errors (there are none): no gap, the usual sentence."""
    found = ob.investigate(_logs(tmp_path, True), None, None)
    assert [f for f in found.of("telemetry_gap") if f.entity_value == "log_levels"] == []
    assert said(monkeypatch, prose.section, found, "error_spike").startswith("No rise in the error rate")
