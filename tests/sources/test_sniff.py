"""Format sniffing: every real file goes to its reader; ambiguous files get an error that shows the fix."""

from __future__ import annotations

import json
import re

import pytest

import obsnb as ob
from obsnb import registry
from obsnb.errors import UsageError
from obsnb.sources.base import FileInput

REAL = {
    "otlp/trace.json": "otlp_json",
    "otlp/logs.json": "otlp_json",
    "otlp/metrics.json": "otlp_json",
    "otlp/jaeger/example_trace.json": "otlp_json",
    "otlp/jaeger/otlp2jaeger-in.json": "otlp_json",
    "jaeger/apiv3/GetTrace.json": "otlp_json",
    "jaeger/apiv3/FindTraces.json": "otlp_json",
    "jaeger/es_01.json": "jaeger_json",
    "jaeger/otlp2jaeger-out.json": "jaeger_json",
    "jaeger/trace_success.json": "jaeger_json",
    "jaeger/ui_01.json": "jaeger_json",
    "zipkin/ascend.json": "zipkin_json",
    "zipkin/envoy.json": "zipkin_json",
    "zipkin/smartthings-oauth-authorization.json": "zipkin_json",
    "zipkin/zipkin2-client.json": "zipkin_json",
    "prometheus/docs-extracted/query_instant_vector_response.json": "prom_api",
    "prometheus/docs-extracted/query_range_matrix_response.json": "prom_api",
    "prometheus/exposition/alltypes.237mfs.prom.txt": "prom_text",
    "prometheus/exposition/1histogram.om.txt": "prom_text",
    "prometheus/exposition/dump-openmetrics-test.prom": "prom_text",
    "prometheus/exposition/metrics-test.prom": "prom_text",
    "syslog/beats/suse-syslog.log": "syslog",
    "syslog/beats/test-syslog.log": "syslog",
}


@pytest.mark.parametrize("rel,fmt", sorted(REAL.items()))
def test_real_files_are_recognised(realworld, rel, fmt):
    """Each real file is sniffed as the format it is written in."""
    path = str(realworld / rel)
    assert registry.sniff(FileInput(path).head(), path) == fmt


def test_collector_file_exporter_lines_go_to_otlp(tmp_path, realworld):
    """One OTLP request per line (the collector's file exporter) is OTLP, not generic JSON lines."""
    doc = json.loads((realworld / "otlp/trace.json").read_text())
    p = tmp_path / "export.json"
    p.write_text(json.dumps(doc) + "\n" + json.dumps(doc) + "\n")
    assert registry.sniff(FileInput(str(p)).head(), str(p)) == "otlp_json"
    assert len(ob.load(str(p))) == 2


def test_logfmt_and_syslog_lines(tmp_path):
    """logfmt lines and RFC 3164 /var/log lines are told apart without being named."""
    a = tmp_path / "app.log"
    a.write_text('time=2024-01-01T00:00:00Z level=info msg="hello world" user=7\nlevel=warn msg=bye\n')
    b = tmp_path / "messages"
    b.write_text("Jan  1 00:00:00 host sshd[1]: hello\nJan  1 00:00:01 host cron: bye\n")
    assert registry.sniff(a.read_bytes(), str(a)) == "logfmt"
    assert registry.sniff(b.read_bytes(), str(b)) == "syslog"


def test_json_log_lines_with_trace_fields_are_not_claimed_by_span_readers():
    """A JSON log line carrying traceID/spanID or traceId/id is not mistaken for Jaeger or Zipkin."""
    head = (b'{"time":"2024-01-01T00:00:00Z","level":"info","msg":"x","traceID":"ab","spanID":"cd"}\n'
            b'{"time":"2024-01-01T00:00:01Z","level":"info","msg":"y","traceId":"ab","id":7,"timestamp":1}\n')
    for name in ("jaeger_json", "zipkin_json", "otlp_json", "prom_api", "logfmt", "syslog", "prom_text"):
        assert registry.get_format(name).sniff(head, "app.jsonl") <= 0.5, name


def test_unrecognisable_file_error_lists_candidates_and_fix(tmp_path):
    """A file no reader recognises raises UsageError naming candidates and showing format=."""
    p = tmp_path / "mystery.dat"
    p.write_text("%%% 1 2 3 %%%\n")
    known = re.escape(", ".join(sorted(registry.FORMATS)))
    with pytest.raises(UsageError, match=rf"no known format recognises it \({known}\).*format='jsonl'"):
        ob.load(str(p))


HEADS = {
    "docker_json": b'{"log":"GET /health 200\\n","stream":"stdout","time":"2024-05-14T12:00:01.123456789Z"}\n'
                   b'{"log":"boom\\n","stream":"stderr","attrs":{"tag":"web"},"time":"2024-05-14T12:00:02Z"}\n',
    "journald_json": b'{"__CURSOR":"s=1;i=1","__REALTIME_TIMESTAMP":"1715688001000000","PRIORITY":"6","MESSAGE":"hi"}\n'
                     b'{"__CURSOR":"s=1;i=2","__REALTIME_TIMESTAMP":"1715688002000000","PRIORITY":"3","MESSAGE":"x"}\n',
    "python_basic": b"WARNING:root:disk full\nTraceback (most recent call last):\nERROR:app.db:boom\n",
    "jsonl": b'{"time":"2024-05-14T12:00:01Z","level":"info","msg":"hi","log":"x","stream":"stdout"}\n' * 2,
    "kubernetes_cri": b"2024-05-14T12:00:01.000000000Z stderr F WARNING:root:disk full\n",
}


@pytest.mark.parametrize("fmt", sorted(HEADS))
def test_container_and_journal_shapes_are_told_apart(fmt):
    """Docker json-file, journald JSON, BASIC_FORMAT lines, generic JSON lines and CRI each go to their reader."""
    assert registry.sniff(HEADS[fmt], "x.log") == fmt
