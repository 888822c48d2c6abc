"""JSON-lines logs: the usual shapes, messy input accounted line by line, real files."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import logging
import warnings

import pandas as pd
import polars as pl
import pytest

import obsnb as ob
from obsnb.errors import ParseError, RejectedRecordsWarning

from _support import to_pandas

UTC = dt.timezone.utc


def _load(path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RejectedRecordsWarning)
        return ob.load(path, **kw)


MESSY_LINES = [
    b'{"ts":"2024-05-14T10:00:00Z","level":"info","event":"job_started","service":"billing","job_id":"j1","trace_id":"AAAA0000AAAA0000AAAA0000AAAA0000"}',
    b"",
    b"   ",
    b'{"ts":1715680800.5,"level":"warn","event":"external_api_call","service":"billing","duration_ms":12.5}',
    b"Traceback (most recent call last):",
    b'{"ts":"2024-05-14T10:00:02Z","level":"error",\x00\xff\xfe\x01\x02\x03',
    b'{"ts":"2024-05-14T10:00:03Z","event":"a"}{"ts":"2024-05-14T10:00:04Z","event":"b"}',
    b"[1, 2, 3]",
    b'{"ts":1715680805123,"level":"ERROR","event":"job_failed","service":"billing","job":{"id":7,"attempt":3}}',
    b"{}",
    b'{"level":"info","event":"no time here"}',
    b'{"ts":"yesterday","event":"bad time"}',
    b'{"ts":"2024-05-14T12:00:06+02:00","level":"critical","event":"job_completed","service":"billing","duration_ms":"n/a"}',
    b'{"ts":"2024-05-14T10:00:07Z","level":"info","event":"trunc',
]
# line numbers (1-based) and the reason each bad line must be rejected with
EXPECTED_REJECTS = {
    5: "not JSON (stray text line)",
    6: "binary data, not text",
    7: "more than one JSON value on one line",
    8: "JSON list where a record (object) was expected",
    10: "record has no fields",
    11: "no timestamp",
    12: "unparseable timestamp ts='yesterday'",
    14: "truncated JSON (the file ends inside this record)",
}


@pytest.fixture
def messy(tmp_path):
    p = tmp_path / "messy.jsonl"
    p.write_bytes(b"\n".join(MESSY_LINES))
    return p


def test_messy_file_loads_good_lines_and_accounts_for_every_bad_one(messy):
    """Rows loaded + rows rejected = non-blank lines; each bad line is listed with its line and reason."""
    with pytest.warns(RejectedRecordsWarning, match=r"8 of 12 records rejected"):
        df = ob.load(messy)
    assert list(df["_line"]) == [1, 4, 9, 13]
    rej = ob.rejected(df)
    assert list(rej["line"]) == sorted(EXPECTED_REJECTS)
    for line, reason in zip(rej["line"], rej["reason"]):
        assert reason.startswith(EXPECTED_REJECTS[line]), (line, reason)
    assert set(rej["source"]) == {str(messy)}
    assert rej.loc[rej["line"] == 5, "raw"].item() == "Traceback (most recent call last):"
    info = ob.load_info(df)
    assert (info.rows_loaded, info.n_rejected, info.records_read) == (4, 8, 12)


def test_messy_file_values_are_normalised(messy):
    """Mixed timestamps become UTC, levels canonical, ids lowercase, nested objects flattened."""
    df = _load(messy)
    assert list(df.columns[:6]) == ["time", "level", "event", "service", "trace_id", "span_id"]
    assert str(df["time"].dtype) == "datetime64[ns, UTC]"
    assert list(df["time"]) == [
        pd.Timestamp("2024-05-14T10:00:00Z"),
        pd.Timestamp("2024-05-14T10:00:00.5Z"),
        pd.Timestamp("2024-05-14T10:00:05.123Z"),
        pd.Timestamp("2024-05-14T10:00:06Z"),
    ]
    assert list(df["level"]) == ["INFO", "WARNING", "ERROR", "CRITICAL"]
    assert list(df["level_original"].fillna("-")) == ["-", "warn", "-", "-"]
    assert df["trace_id"].iloc[0] == "aaaa0000aaaa0000aaaa0000aaaa0000"
    assert df["job.id"].iloc[2] == 7 and df["job.attempt"].iloc[2] == 3
    # a numeric field with one text value keeps every value, as text
    assert list(df["duration_ms"].fillna("-")) == ["-", "12.5", "-", "n/a"]


def test_strict_raises_on_first_bad_line_with_file_and_line(messy):
    """strict=True stops at the first bad record and names file and line."""
    with pytest.raises(ParseError) as exc:
        ob.load(messy, strict=True)
    assert exc.value.line == 5
    assert f"{messy}:5: not JSON" in str(exc.value)


def test_pandas_and_polars_give_the_same_rows(messy):
    """engine='polars' returns a polars frame with the same rows and columns as pandas."""
    a = _load(messy, engine="pandas")
    b = _load(messy, engine="polars")
    assert isinstance(b, pl.DataFrame)
    assert b.columns == list(a.columns)
    assert b.schema["time"] == pl.Datetime("ns", "UTC")
    pd.testing.assert_frame_equal(
        to_pandas(b).drop(columns=["_source"]), a.drop(columns=["_source"]), check_dtype=False
    )


def test_time_window_filters_rows(messy):
    """start/end keep rows with start <= time < end, from any time notation."""
    df = _load(messy, start="2024-05-14T10:00:00.5Z", end=1715680806)
    assert list(df["_line"]) == [4, 9]
    assert ob.load_info(df).rows_outside_window == 2


def test_gzip_and_truncated_gzip(tmp_path, messy):
    """A .gz file reads like the plain one; a truncated .gz keeps what was readable and says so."""
    data = messy.read_bytes()
    gz = tmp_path / "messy.jsonl.gz"
    gz.write_bytes(gzip.compress(data))
    a, b = _load(messy), _load(gz)
    assert list(b["_line"]) == list(a["_line"])
    assert list(b["event"]) == list(a["event"])
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(gzip.compress(data)[:-30])
    df = _load(cut)
    rej = ob.rejected(df)
    assert any("gzip" in r and "truncated" in r for r in rej["reason"])
    assert len(df) >= 3


def test_empty_file_gives_empty_canonical_frame(tmp_path):
    """An empty file is an empty frame with the canonical columns, not an error."""
    p = tmp_path / "empty.jsonl"
    p.write_bytes(b"")
    df = ob.load(p, kind="logs")
    assert len(df) == 0
    assert list(df.columns) == ["time", "level", "event", "service", "trace_id", "span_id", "_source", "_line"]


def test_field_first_seen_after_the_sample_is_kept(tmp_path):
    """A field that first appears on line 9,000 (after every sample) is a column, not silently dropped."""
    lines = [json.dumps({"ts": 1715680800 + i, "event": "tick", "ctx": {"a": i}}) for i in range(9000)]
    lines.append(json.dumps({"ts": 1715690000, "event": "boom", "error_type": "Timeout",
                             "ctx": {"a": 1, "exc": {"type": "Timeout", "stack": "..."}}}))
    p = tmp_path / "late.jsonl"
    p.write_text("\n".join(lines) + "\n")
    df = _load(p)
    assert len(df) == 9001
    assert df["error_type"].iloc[-1] == "Timeout"
    assert df["error_type"].iloc[:-1].isna().all()
    assert json.loads(df["ctx.exc"].iloc[-1]) == {"type": "Timeout", "stack": "..."}


def test_object_where_a_scalar_was_seen_is_loaded_not_dropped(tmp_path):
    """A field that is an object on one line and text on another loses neither value."""
    lines = [json.dumps({"ts": 1715680800 + i, "event": "e", "err": {"code": i}}) for i in range(3)]
    lines.append(json.dumps({"ts": 1715680900, "event": "e", "err": "plain text"}))
    p = tmp_path / "conflict.jsonl"
    p.write_text("\n".join(lines) + "\n")
    df = _load(p)
    assert len(df) == 4 and ob.load_info(df).n_rejected == 0
    assert list(df["err.code"].iloc[:3]) == [0, 1, 2]
    assert df["err"].iloc[3] == "plain text"


def test_python_json_logger_output(tmp_path):
    """Records written by python-json-logger through logging map to canonical columns."""
    from pythonjsonlogger.json import JsonFormatter

    p = tmp_path / "app.log"
    handler = logging.FileHandler(p)
    handler.setFormatter(JsonFormatter("%(asctime)s %(created)f %(levelname)s %(name)s %(message)s"))
    log = logging.getLogger("obsnb-test-worker")
    log.handlers[:] = [handler]
    log.setLevel(logging.DEBUG)
    log.propagate = False
    log.warning("job_failed", extra={"job_id": "j-42", "trace_id": "ABCDEF", "retryable": True})
    log.info("job_completed", extra={"job_id": "j-43", "duration_ms": 12.5})
    handler.close()
    df = _load(p)
    assert list(df["event"]) == ["job_failed", "job_completed"]
    assert list(df["level"]) == ["WARNING", "INFO"]
    assert list(df["job_id"]) == ["j-42", "j-43"]
    assert df["trace_id"].iloc[0] == "abcdef"
    created = [json.loads(x)["created"] for x in p.read_text().splitlines()]
    assert [t.timestamp() for t in df["time"]] == pytest.approx(created, abs=1e-6)


def test_structlog_pino_and_ecs_shapes(tmp_path):
    """structlog (event, lowercase level), pino (numeric level, epoch ms) and ecs-logging (nested) lines."""
    p = tmp_path / "mixed.jsonl"
    p.write_text("\n".join([
        json.dumps({"event": "job_enqueued", "level": "info", "timestamp": "2024-05-14T10:00:00.000001Z", "job_id": 1}),
        json.dumps({"level": 50, "time": 1715680801000, "pid": 7, "hostname": "h", "msg": "payment timeout"}),
        json.dumps({"@timestamp": "2024-05-14T10:00:02.5Z", "log": {"level": "warn", "logger": "app"},
                    "message": "retrying", "service": {"name": "billing"}, "trace": {"id": "ABC"},
                    "span": {"id": "DEF"}, "ecs": {"version": "1.6.0"}}),
    ]) + "\n")
    df = _load(p)
    assert list(df["event"]) == ["job_enqueued", "payment timeout", "retrying"]
    assert list(df["level"]) == ["INFO", "ERROR", "WARNING"]
    assert df["service"].iloc[2] == "billing"
    assert (df["trace_id"].iloc[2], df["span_id"].iloc[2]) == ("abc", "def")
    assert list(df["time"]) == [pd.Timestamp("2024-05-14T10:00:00.000001Z"), pd.Timestamp("2024-05-14T10:00:01Z"),
                                pd.Timestamp("2024-05-14T10:00:02.5Z")]
    assert df["log.logger"].iloc[2] == "app"


def test_bunyan_corpus(realworld):
    """node-bunyan's own test corpus: every JSON record loaded, comment and bogus lines rejected with line."""
    d = realworld / "structured-logs" / "bunyan"
    df = _load(d)
    expected_rows = 0
    expected_rejects = []
    for f in sorted(d.iterdir()):
        for i, line in enumerate(f.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                expected_rejects.append((str(f), i))
                continue
            if "time" in rec:
                expected_rows += 1
            else:
                expected_rejects.append((str(f), i))
    assert len(df) == expected_rows
    rej = ob.rejected(df)
    assert list(zip(rej["source"], rej["line"])) == expected_rejects
    all_log = [json.loads(x) for x in (d / "all.log").read_text().splitlines() if x.startswith("{") and '"time"' in x]
    got = df[df["_source"] == str(d / "all.log")].sort_values("_line", kind="stable")  # several files: time order
    assert list(got["level_original"].astype(int)) == [r["level"] for r in all_log]
    bunyan = {10: "DEBUG", 20: "DEBUG", 30: "INFO", 40: "WARNING", 50: "ERROR", 55: "ERROR", 60: "CRITICAL"}
    assert list(got["level"]) == [bunyan[r["level"]] for r in all_log]
    assert set(df["service"]) == {json.loads(x)["name"] for f in d.iterdir() for x in f.read_text().splitlines()
                                  if x.startswith("{") and '"time"' in x}


def test_ecs_documents_from_filebeat(realworld):
    """Filebeat's ECS documents (a JSON array, dotted keys) load with @timestamp as time."""
    f = realworld / "ecs" / "beats-nginx-access" / "test.log-expected.json"
    docs = json.loads(f.read_text())
    df = _load(f)
    assert len(df) == len(docs)
    assert list(df["time"]) == [pd.Timestamp(d["@timestamp"]) for d in docs]
    assert list(df["http.response.status_code"]) == [d["http.response.status_code"] for d in docs]
    # each element's line: the file is indented by 4, so a record starts on a line that is "    {" alone
    starts = [i for i, ln in enumerate(f.read_text().splitlines(), start=1) if ln.rstrip() == "    {"]
    assert len(starts) == len(docs) and list(df["_line"]) == starts


def test_records_to_parts_matches_file_reading(tmp_path):
    """Decoded records (as backends hand them over) normalise exactly like the same lines in a file."""
    from obsnb.sources.base import ReadContext
    from obsnb.sources.jsonl import records_to_parts

    recs = [{"@timestamp": "2024-05-14T10:00:00Z", "log.level": "error", "message": "x", "trace.id": "AB"},
            {"@timestamp": "2024-05-14T10:00:01Z", "log.level": "info", "message": "y"}]
    parts = records_to_parts(recs, "es://idx", ReadContext(), lines=[10, 11])
    from obsnb.schema import conform

    t = conform(parts[0].table, "logs")
    assert t.column("level").to_pylist() == ["ERROR", "INFO"]
    assert t.column("trace_id").to_pylist() == ["ab", None]
    assert t.column("_line").to_pylist() == [10, 11]


def test_nanosecond_timestamps_keep_their_nanoseconds(tmp_path):
    """ISO strings with 9 fractional digits and integer epoch-ns keep full nanosecond precision."""
    p = tmp_path / "ns.jsonl"
    p.write_text('{"@timestamp":"2024-05-14T10:00:01.123456789Z","message":"a"}\n'
                 '{"timeUnixNano":"1715680801123456789","body":"b"}\n'
                 '{"time":"2024-05-14T12:00:01.1234567+02:00","msg":"c"}\n')
    df = _load(p, engine="polars")
    assert df["time"].dt.epoch("ns").to_list() == [1715680801123456789, 1715680801123456789, 1715680801123456700]


def test_record_longer_than_the_sniffed_head(tmp_path):
    """A first record of 200 kB (longer than the 64 KiB the sniffer reads) is still recognised and loaded."""
    p = tmp_path / "long.jsonl"
    p.write_text(json.dumps({"ts": "2024-05-14T10:00:00Z", "msg": "x" * 200_000}) + "\n"
                 + json.dumps({"ts": "2024-05-14T10:00:01Z", "msg": "y"}) + "\n")
    df = ob.load(p)
    assert list(df["event"].str.len()) == [200_000, 1]


def test_fields_reads_only_the_named_fields(messy):
    """fields= loads the canonical columns plus the named ones, with the same rows and rejects."""
    full = _load(messy)
    part = _load(messy, fields=["job.id", "duration_ms"])
    assert list(part.columns) == ["time", "level", "event", "service", "trace_id", "span_id", "level_original",
                                  "job.id", "duration_ms", "_source", "_line"]
    assert list(part["_line"]) == list(full["_line"])
    pd.testing.assert_frame_equal(part[["time", "level", "event", "job.id", "duration_ms"]],
                                  full[["time", "level", "event", "job.id", "duration_ms"]])
    assert list(ob.rejected(part)["line"]) == list(ob.rejected(full)["line"])


def test_otel_severity_number_as_text_maps_to_a_level(tmp_path):
    """An OTel severityNumber written as a string ("17") maps like the number does (17 -> ERROR)."""
    p = tmp_path / "otel.jsonl"
    p.write_text('{"timeUnixNano":"1715680801000000000","severityNumber":"17","body":"x"}\n'
                 '{"timeUnixNano":"1715680802000000000","severityNumber":9,"body":"y"}\n')
    df = _load(p)
    assert list(df["level"]) == ["ERROR", "INFO"]


def test_otel_logging_instrumentation_fields(tmp_path):
    """OpenTelemetry's Python logging instrumentation: otelTraceID="0" outside a span is no trace (null),
    otelServiceName is the service; inside a span the ids are kept."""
    import obsnb as ob

    p = tmp_path / "otel.jsonl"
    p.write_text('{"asctime": "2024-05-14T12:00:00Z", "message": "boot", "otelTraceID": "0", "otelSpanID": "0", '
                 '"otelServiceName": "billing"}\n'
                 '{"asctime": "2024-05-14T12:00:01Z", "message": "charge", "otelTraceID": "4BF92F3577B34DA6A3CE929D0E0E4736", '
                 '"otelSpanID": "00F067AA0BA902B7", "otelServiceName": "billing"}\n')
    df = ob.load(str(p))
    assert df["trace_id"].tolist()[0] is None or df["trace_id"].isna().tolist()[0]
    assert df["trace_id"].tolist()[1] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert df["span_id"].tolist()[1] == "00f067aa0ba902b7" and df["span_id"].isna().tolist()[0]
    assert df["service"].tolist() == ["billing", "billing"]


def test_zone_less_times_are_read_in_tz_or_as_utc_with_a_warning(tmp_path):
    """python-json-logger's default asctime has no zone: read as UTC with one warning, or in tz= (DST-aware);
    times that carry a zone are not moved by tz=."""
    import warnings

    import obsnb as ob

    p = tmp_path / "app.jsonl"
    p.write_text('{"asctime": "2024-05-14 12:00:00,123", "message": "a"}\n'
                 '{"asctime": "2024-01-14 12:00:00,000", "message": "b"}\n'
                 '{"asctime": "2024-05-14T12:00:00+02:00", "message": "c"}\n')
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        utc = ob.load(str(p))
    said = [str(w.message) for w in caught if "no time zone" in str(w.message)]
    assert len(said) == 1 and "tz=" in said[0]
    assert utc["time"].tolist() == [pd.Timestamp("2024-05-14T12:00:00.123Z"), pd.Timestamp("2024-01-14T12:00:00Z"),
                                    pd.Timestamp("2024-05-14T10:00:00Z")]
    ny = ob.load(str(p), tz="America/New_York")  # EDT (UTC-4) in May, EST (UTC-5) in January
    assert ny["time"].tolist() == [pd.Timestamp("2024-05-14T16:00:00.123Z"), pd.Timestamp("2024-01-14T17:00:00Z"),
                                   pd.Timestamp("2024-05-14T10:00:00Z")]
    with pytest.raises(ob.UsageError, match="not a known time zone"):
        ob.load(str(p), tz="Mars/Olympus")


@pytest.mark.parametrize("field,scale", [("ts_ms", 10**6), ("epoch_ms", 10**6), ("timestamp_ns", 1), ("ts_us", 10**3)])
def test_an_epoch_field_named_by_its_unit_is_the_time(tmp_path, field, scale):
    """`ts_ms` (and other epoch fields named by their unit) is the record's time, with `svc` its service; nothing
    is rejected. The expected times are the field's values times the unit, computed here."""
    import obsnb as ob

    values = [1758532800123 * 10**6 // scale + i * 1500 * 10**6 // scale for i in range(5)]
    path = tmp_path / "a.jsonl"
    path.write_text("".join(json.dumps({field: v, "severity": "warn", "svc": "ingest", "msg": f"m{i}"}) + "\n"
                            for i, v in enumerate(values)))
    df = ob.load(path, engine="polars")
    assert df.get_column("time").cast(pl.Int64).to_list() == [v * scale for v in values]
    assert df.get_column("service").to_list() == ["ingest"] * 5 and df.get_column("level").to_list() == ["WARNING"] * 5
    assert len(ob.rejected(df)) == 0
