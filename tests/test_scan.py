"""ob.scan(): the lazy frame over the store gives the frame ob.load() gives, with the same accounting.

Every expected frame is made by ``ob.load()`` with the store off (the parsers read the files directly),
so a scan that reads the wrong row groups, columns or rows, or loses a rejected record, fails here.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import warnings

import pandas as pd
import polars as pl
import pyarrow.compute as pc
import pytest
from _support import SAMPLE_DATA

import obsnb as ob
from obsnb import options
from obsnb.errors import RejectedRecordsWarning, UsageError

T0 = dt.datetime(2024, 5, 14, 12, 0, tzinfo=dt.timezone.utc)
BAD_LINES = [4, 1200, 2999]  # 1-based lines that are not JSON records


@pytest.fixture(autouse=True)
def _options(monkeypatch, tmp_path):
    """Each test has its own store and small row groups; the global options come back afterwards."""
    for name in ("cache", "cache_row_group", "cache_chunk_bytes", "cache_max_bytes", "engine", "progress"):
        monkeypatch.setitem(options._OPTIONS, name, options._OPTIONS[name])
    ob.set_option("cache_row_group", 256)
    ob.set_option("progress", False)


def messy_lines(n: int = 3000) -> list[str]:
    """JSON lines, not quite in time order (every 10th line 5 s early), epoch-ms stamps on every 7th, a nested
    object, a key that first appears late, a field numeric at first and text near the end, 3 bad lines."""
    out = []
    for i in range(1, n + 1):
        if i in BAD_LINES:
            out.append('{"ts": "2024-05-14T12:00:00Z", "event": "trunc' if i != 1200 else "Traceback (most recent call last):")
            continue
        t = T0 + dt.timedelta(seconds=i - (5 if i % 10 == 0 else 0))
        ts = int(t.timestamp() * 1000) if i % 7 == 0 else t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        rec = {"ts": ts, "level": ["info", "warn", "error"][i % 3], "event": f"job_{i % 5}",
               "service": ["api", "worker"][i % 2], "job": {"id": i, "queue": "q" + str(i % 4)},
               "attempt": i % 4 if i < 2800 else ("many" if i == 2801 else i % 4)}
        if i > 2500:
            rec["late_key"] = "x"
        out.append(json.dumps(rec))
    return out


@pytest.fixture
def messy(tmp_path):
    p = tmp_path / "app.jsonl"
    p.write_text("\n".join(messy_lines()) + "\n")
    return p


def load_plain(source, **kw):
    """ob.load() with the store off: the parsers' own frame, the expected value."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RejectedRecordsWarning)
        return ob.load(source, cache=None, **kw) if "cache" not in kw else ob.load(source, **kw)


def collect(s, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RejectedRecordsWarning)
        return s.collect(**kw)


WINDOWS = [(None, None), ("2024-05-14T12:10:00Z", "2024-05-14T12:20:00Z"), ("2024-05-14T12:49:00Z", None),
           (None, "2024-05-14T12:00:30Z"), ("2024-05-14T15:00:00Z", "2024-05-14T16:00:00Z")]


@pytest.mark.parametrize("start,end", WINDOWS)
@pytest.mark.parametrize("columns", [None, ["time", "event", "job.id"], ["attempt", "_line", "level"]])
def test_scan_collects_the_frame_load_gives_jsonl(messy, tmp_path, start, end, columns):
    ob.set_option("cache", str(tmp_path / "store"))
    expected = load_plain(messy, start=start, end=end, cache=None)
    s = ob.scan(messy, start=start, end=end)
    if columns is not None:
        expected = expected[columns]
        s = s.select(columns)
    pd.testing.assert_frame_equal(collect(s), expected)


SAMPLES = [
    SAMPLE_DATA / "logs" / "checkout-api.jsonl.gz",
    SAMPLE_DATA / "traces" / "traces.otlp.json.gz",
    SAMPLE_DATA / "metrics" / "metrics.om.gz",
    SAMPLE_DATA / "incidents" / "batch" / "logs",
]


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_scan_collects_the_frame_load_gives_other_formats(path, tmp_path, engine):
    """OTLP spans, OpenMetrics, a folder of ECS logs: whole, a middle window, and a column selection."""
    whole = load_plain(path, engine="pandas", cache=None)
    tcol = "start" if "start" in whole.columns else "time"
    lo, hi = whole[tcol].min(), whole[tcol].max()
    start, end = lo + (hi - lo) / 3, lo + 2 * (hi - lo) / 3
    s = ob.scan(path, cache=str(tmp_path / "store"))
    for w, cols in [((None, None), None), ((start, end), None), ((start, end), list(whole.columns[:3]) + ["_line"])]:
        expected = load_plain(path, start=w[0], end=w[1], engine=engine, cache=None)
        got = s.window(*w)
        if cols is not None:
            expected = expected.select(cols) if engine == "polars" else expected[cols]
            got = got.select(cols)
        got = collect(got, engine=engine)
        if engine == "polars":
            assert isinstance(got, pl.DataFrame)
            assert got.equals(expected)
        else:
            pd.testing.assert_frame_equal(got, expected)


def test_scan_of_several_files_is_in_time_order_like_load(tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text('{"ts":"2024-05-14T10:00:02Z","event":"a1"}\n{"ts":"2024-05-14T10:00:00Z","event":"a2"}\n')
    b.write_text('{"ts":"2024-05-14T10:00:01Z","event":"b1"}\n{"ts":"2024-05-14T10:00:02Z","event":"b2"}\n')
    got = collect(ob.scan([b, a], cache=str(tmp_path / "s")))
    assert list(got["event"]) == ["a2", "b1", "b2", "a1"]  # time order; ties in the order the files were given
    pd.testing.assert_frame_equal(got, load_plain([b, a], cache=None))


def test_scan_accounting_and_rejected_records(messy, tmp_path):
    """loaded + rejected = read for the scan and for each collect; ob.rejected lists the 3 bad lines."""
    s = ob.scan(messy, cache=str(tmp_path / "store"))
    rej = ob.rejected(s)
    assert list(rej["line"]) == BAD_LINES
    assert set(rej["source"]) == {str(messy)}
    info = ob.load_info(s)
    assert (info.records_read, info.rows_loaded, info.n_rejected) == (3000, 2997, 3)
    w = s.window("2024-05-14T12:10:00Z", "2024-05-14T12:20:00Z")
    with pytest.warns(RejectedRecordsWarning, match="3 of 3000"):
        df = w.collect()
    # lines 601..1200 have times in [12:10, 12:20) except the 5-s-early 10th lines at both ends; line 1200 is bad
    expected_lines = [i for i in range(596, 1206)
                      if i not in BAD_LINES and 600 <= i - (5 if i % 10 == 0 else 0) < 1200]
    assert sorted(df["_line"]) == expected_lines
    info = ob.load_info(df)
    assert info.rows_loaded == len(expected_lines)
    assert info.rows_loaded + info.rows_outside_window + info.n_rejected == info.records_read == 3000
    pd.testing.assert_frame_equal(ob.rejected(df), rej)


def test_scan_filters_push_down_before_the_frame(messy, tmp_path):
    s = ob.scan(messy, cache=str(tmp_path / "store"), start="2024-05-14T12:05:00Z")
    full = load_plain(messy, start="2024-05-14T12:05:00Z", cache=None)
    got = collect(s.filter(level="ERROR", service=["api", "nope"]).select("time", "level", "service", "job.id"))
    exp = full[(full["level"] == "ERROR") & (full["service"] == "api")][["time", "level", "service", "job.id"]]
    pd.testing.assert_frame_equal(got, exp.reset_index(drop=True))
    got = collect(s.filter(pc.field("job.id") > 2900))
    pd.testing.assert_frame_equal(got, full[full["job.id"] > 2900].reset_index(drop=True))
    assert s.filter(level="ERROR").count() == int((full["level"] == "ERROR").sum())
    assert s.count() == len(full)


def test_scan_is_lazy_and_says_what_it_reads(messy, tmp_path):
    store = tmp_path / "store"
    s = ob.scan(messy, cache=str(store), start="2024-05-14T12:30:00Z", end="2024-05-14T12:31:00Z")
    assert not store.exists()  # nothing parsed before it is needed
    assert "not collected" in repr(s)
    plan = s.explain()
    assert len(plan) == 1 and plan[0]["of"] == 12  # 2,997 rows in groups of 256
    assert 1 <= len(plan[0]["row_groups"]) <= 2
    assert s.columns[:6] == ["time", "level", "event", "service", "trace_id", "span_id"]
    lo, hi = s.time_range()
    full = load_plain(messy, cache=None)
    assert (lo, hi) == (full["time"].min(), full["time"].max())


def test_chunked_ingest_gives_the_same_frame_and_rejects(messy, tmp_path, monkeypatch):
    """A file over cache_chunk_bytes is parsed in pieces; the frame, the line numbers, the type of a field
    that turns to text in a late piece, and the rejected records are those of a whole-file read."""
    from obsnb import api

    ob.set_option("cache_chunk_bytes", 30_000)
    parsed = []
    real = api._parse_file
    monkeypatch.setattr(api, "_parse_file", lambda p, *a, **k: parsed.append((p, os.path.getsize(p))) or real(p, *a, **k))
    gz = tmp_path / "app2.jsonl.gz"
    gz.write_bytes(gzip.compress(messy.read_bytes()))
    for path in (messy, gz):
        expected = load_plain(path, cache=None)
        s = ob.scan(path, cache=str(tmp_path / "store"))
        parsed.clear()
        got = collect(s)
        # parsed in pieces of at most 30,000 bytes and the line that crosses that size, never whole
        longest = max(len(x) + 1 for x in messy_lines())
        assert len(parsed) >= len(messy.read_bytes()) // 30_000
        assert all("piece-" in p and size <= 30_000 + longest for p, size in parsed)
        pd.testing.assert_frame_equal(got, expected)
        pd.testing.assert_frame_equal(ob.rejected(got), ob.rejected(expected))
        assert expected["attempt"].dtype != "int64" and got["attempt"].iloc[0] == expected["attempt"].iloc[0]


def test_scan_rejects_backends_and_unknown_columns(messy, tmp_path):
    with pytest.raises(UsageError, match="reads files"):
        ob.scan("prometheus://localhost:9090")
    s = ob.scan(messy, cache=str(tmp_path / "store"))
    with pytest.raises(UsageError, match="no column 'nope'"):
        s.select("time", "nope").collect()
    with pytest.raises(UsageError, match="no column 'nope'"):
        s.filter(nope=1).collect()


def test_scan_refuses_a_keyword_no_format_takes_naming_what_they_take(messy, tmp_path):
    """A misspelled reader option is a UsageError at scan() time, as for load(), naming the options of the
    format read (JSON lines: tz, fields); a real one scans; nothing reaches the store before the refusal."""
    store = tmp_path / "store"
    with pytest.raises(UsageError) as err:
        ob.scan(messy, cache=str(store), feilds=["ts"])
    msg = str(err.value)
    assert msg.startswith("scan() got the keyword feilds, which no format of this scan takes: jsonl takes tz, fields.")
    assert msg.endswith("Every scan takes kind, start, end, strict, format, cache, max_record_bytes.")
    with pytest.raises(UsageError, match=r"keywords tz_name, yeer, .*log4j takes tz, year, time_format"):
        ob.scan(messy, cache=str(store), format="log4j", yeer=2005, tz_name="UTC")
    assert not store.exists()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RejectedRecordsWarning)
        got = ob.scan(messy, cache=str(store), tz="UTC").count()
    assert got == 3000 - len(BAD_LINES)
