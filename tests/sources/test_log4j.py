"""log4j-style application logs: layouts, levels, stack traces and tracebacks folded into their record, zones."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

import obsnb as ob
from conformance import ConformanceSuite, load_quiet, vals
from obsnb.errors import ObsnbWarning, UsageError
from obsnb.registry import sniff

GOOD = (
    b"2024-05-14 12:00:01,123 ERROR [main] com.example.Foo - payment failed\n"
    b"java.lang.IllegalStateException: boom\n"
    b"\tat com.example.Foo.bar(Foo.java:42)\n"
    b"Caused by: java.io.IOException: broken pipe\n"
    b"\t... 3 more\n"
    b"2024-05-14 12:00:02,000 WARN [worker-1] com.example.Bar: slow\n"
    b"2024-05-14 12:00:03.500 [main] INFO  c.e.Baz - started\n"
)
MESSY = (
    b"\tat orphan.Frame(Foo.java:1)\n"                        # a continuation with no record before it
    b"2024-05-14 12:00:01,123 INFO [main] a.B - one\n"
    b"\x00\x00\xff\xfe\n"                                      # binary garbage
    b"2024-05-14 12:00:02,000 INFO [main] a.B - two\n"
    b"2024-02-30 12:00:03,000 INFO [main] a.B - no such day\n"  # impossible date
    b"2024-05-14 12:0"                                         # cut off
)


class TestLog4jConformance(ConformanceSuite):
    fmt = "log4j"
    kind = "logs"
    suffix = ".log"
    good = GOOD
    good_rows = 3
    messy = MESSY
    messy_good = 2
    messy_bad = 4
    first_bad_line = 1


def _load(tmp_path, data: bytes, name="app.log", **kw):
    p = tmp_path / name
    p.write_bytes(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ob.load(str(p), **kw)


def test_java_stack_is_one_record_with_exception(tmp_path):
    """A Java stack (exception line, \\tat frames, Caused by, ... n more) belongs to the record above, in `exception`."""
    df = _load(tmp_path, GOOD)
    assert list(df["event"]) == ["payment failed", "slow", "started"]
    assert df["exception"][0] == ("java.lang.IllegalStateException: boom\n\tat com.example.Foo.bar(Foo.java:42)\n"
                                  "Caused by: java.io.IOException: broken pipe\n\t... 3 more")
    assert vals(df["exception"][1:]) == [None, None]
    assert list(df["level"]) == ["ERROR", "WARNING", "INFO"]
    assert list(df["level_original"]) == ["ERROR", "WARN", "INFO"]
    assert list(df["logger"]) == ["com.example.Foo", "com.example.Bar", "c.e.Baz"]
    assert list(df["thread"]) == ["main", "worker-1", "main"]
    assert list(df["_line"]) == [1, 6, 7]
    assert list(df["time"]) == [pd.Timestamp("2024-05-14T12:00:01.123Z"), pd.Timestamp("2024-05-14T12:00:02Z"),
                                pd.Timestamp("2024-05-14T12:00:03.5Z")]
    assert ob.load_info(df).n_rejected == 0


def test_python_traceback_on_stderr_folds_into_its_record(tmp_path):
    """Python logging's default format with a traceback: the traceback is the record's `exception`, not rows."""
    data = (b"2024-05-14 12:00:01,001 - worker - ERROR - job 7 failed\n"
            b"Traceback (most recent call last):\n"
            b'  File "/app/w.py", line 3, in run\n'
            b"    1 / 0\n"
            b"ZeroDivisionError: division by zero\n"
            b"2024-05-14 12:00:02,002 - worker - INFO - job 8 done\n")
    df = _load(tmp_path, data)
    assert list(df["event"]) == ["job 7 failed", "job 8 done"]
    assert list(df["logger"]) == ["worker", "worker"]
    assert df["exception"][0] == ('Traceback (most recent call last):\n  File "/app/w.py", line 3, in run\n'
                                  "    1 / 0\nZeroDivisionError: division by zero")
    assert list(df["level"]) == ["ERROR", "INFO"]


@pytest.mark.parametrize(("line", "layout", "fields"), [
    (b"2015-07-29 17:41:44,747 - INFO  [QuorumPeer[myid=1]/0:0:0:0:0:0:0:0:2181:FastLeaderElection@774] - "
     b"Notification time out: 3200",
     "zookeeper", {"thread": "QuorumPeer[myid=1]/0:0:0:0:0:0:0:0:2181:FastLeaderElection@774",
                   "event": "Notification time out: 3200", "level": "INFO"}),
    (b"17/06/09 20:10:40 INFO spark.SecurityManager: Changing view acls to: yarn,curi",
     "spark", {"logger": "spark.SecurityManager", "event": "Changing view acls to: yarn,curi", "level": "INFO"}),
    (b"081109 203615 148 WARN dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_1 terminating",
     "hdfs", {"logger": "dfs.DataNode$PacketResponder", "pid": 148, "level": "WARNING"}),
    (b"nova-api.log.1.2017-05-16_13:53:08 2017-05-16 00:00:00.008 25746 INFO nova.osapi_compute.wsgi.server "
     b"[req-3810 113d 54fe - - -] 10.11.10.1 \"GET /v2/servers/detail HTTP/1.1\" status: 200",
     "oslo", {"logger": "nova.osapi_compute.wsgi.server", "pid": 25746, "context": "req-3810 113d 54fe - - -",
              "event": '10.11.10.1 "GET /v2/servers/detail HTTP/1.1" status: 200',
              "logfile": "nova-api.log.1.2017-05-16_13:53:08"}),
    (b"2024-05-14 12:00:01.123  INFO 1234 --- [           main] c.e.DemoApplication         : Started in 2 s",
     "spring", {"pid": 1234, "thread": "main", "logger": "c.e.DemoApplication", "event": "Started in 2 s"}),
    (b"2024-05-14T12:00:01.123+02:00 FATAL [main] c.e.Foo - disk gone",
     "log4j", {"level": "CRITICAL", "level_original": "FATAL", "event": "disk gone"}),
])
def test_layouts_are_recognised_with_their_fields(tmp_path, line, layout, fields):
    """Each common layout is sniffed as log4j and its header split into the documented columns."""
    data = line + b"\n" + line + b"\n"
    assert sniff(data, "x.log") == "log4j"
    df = _load(tmp_path, data)
    assert len(df) == 2 and ob.load_info(df).n_rejected == 0
    assert df["layout"][0] == layout if "layout" in df else layout
    for k, v in fields.items():
        assert df[k][0] == v, k


def test_hdfs_and_spark_two_digit_years_and_offsets(tmp_path):
    """yyMMdd and yy/MM/dd read as 20yy; an explicit offset moves the time to UTC."""
    df = _load(tmp_path, b"081109 203615 148 INFO a.B: x\n17/06/09 20:10:40 INFO a.B: y\n"
                         b"2024-05-14T12:00:01.123+02:00 INFO [main] a.B - z\n")
    assert list(df["time"]) == [pd.Timestamp("2008-11-09T20:36:15Z"), pd.Timestamp("2017-06-09T20:10:40Z"),
                                pd.Timestamp("2024-05-14T10:00:01.123Z")]


def test_zoneless_times_warn_once_and_tz_converts(tmp_path):
    """Zone-less times are read as UTC with one warning (also in load_info); tz= reads them in that zone."""
    (tmp_path / "a.log").write_bytes(b"2024-07-01 12:00:00,000 INFO [m] a.B - x\n")
    (tmp_path / "b.log").write_bytes(b"2024-07-01 13:00:00,000 INFO [m] a.B - y\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = ob.load(str(tmp_path))
    utc = [w for w in caught if issubclass(w.category, ObsnbWarning) and "read as UTC" in str(w.message)]
    assert len(utc) == 1
    assert any("read as UTC" in w for w in ob.load_info(df).warnings)
    assert list(df["time"]) == [pd.Timestamp("2024-07-01T12:00:00Z"), pd.Timestamp("2024-07-01T13:00:00Z")]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = ob.load(str(tmp_path), tz="Europe/Berlin")
    assert not [w for w in caught if "read as UTC" in str(w.message)]
    assert list(df["time"]) == [pd.Timestamp("2024-07-01T10:00:00Z"), pd.Timestamp("2024-07-01T11:00:00Z")]


def test_unknown_time_zone_is_a_usage_error(tmp_path):
    """tz= must name a real IANA zone."""
    with pytest.raises(UsageError, match="not a known time zone"):
        _load(tmp_path, b"2024-07-01 12:00:00,000 INFO [m] a.B - x\n", tz="Mars/Olympus")


def test_cut_off_and_impossible_lines_are_rejected_with_reasons(tmp_path):
    """loaded + rejected = read; each rejected line has its number and reason."""
    p = tmp_path / "m.log"
    p.write_bytes(MESSY)
    df = load_quiet(p)
    assert list(df["event"]) == ["one", "two"]
    rej = ob.rejected(df)
    assert list(rej["line"]) == [1, 3, 5, 6]
    assert list(rej["reason"]) == [
        "not a log4j-style line, and no record before it to continue",
        "binary or undecodable bytes, not a log4j-style line",
        "unparseable timestamp (impossible date)",
        "starts like a log4j-style record but does not parse (cut-off line?)",
    ]
    assert ob.load_info(df).records_read == 6


BASIC_MIXED = (b"WARNING:root:before any time\n"
               b"2024-05-14 12:00:01,500 INFO [main] a.B: started\n"
               b"WARNING:root:disk low\n"
               b"ERROR:app.db:pool exhausted\n"
               b"Traceback (most recent call last):\n"
               b"ValueError: bad\n"
               b"2024-05-14 12:00:03,000 ERROR [main] a.B: failed\n")


@pytest.mark.parametrize("fmt", ["log4j", "text"])
def test_a_basic_format_line_is_a_record_at_the_time_of_the_record_above(tmp_path, fmt):
    """``WARNING:root:disk low`` among timestamped records (a library logging with basicConfig's defaults into
    the same stream) is a record with its level, logger and message, at the previous record's time; the
    traceback after one is its exception; one before any timestamped record has no time to take: rejected."""
    df = _load(tmp_path, BASIC_MIXED, format=fmt)
    assert list(df["_line"]) == [2, 3, 4, 7]
    assert list(df["level"]) == ["INFO", "WARNING", "ERROR", "ERROR"]
    head = "" if fmt == "log4j" else "[main] a.B: "  # the generic text layout keeps thread and logger in the message
    assert list(df["event"]) == [head + "started", "disk low", "pool exhausted", head + "failed"]
    assert list(df["layout"])[1:3] == ["python_basic", "python_basic"]
    assert vals(df["logger"][1:3]) == ["root", "app.db"]
    assert vals(df["exception"]) == [None, None, "Traceback (most recent call last):\nValueError: bad", None]
    t1, t3 = pd.Timestamp("2024-05-14T12:00:01.5Z"), pd.Timestamp("2024-05-14T12:00:03Z")
    assert list(df["time"]) == [t1, t1, t1, t3]
    rej = ob.rejected(df)
    assert list(rej["line"]) == [1] and "no record before it" in rej["reason"][0]
    assert any("2 Python logging BASIC_FORMAT records" in w for w in ob.load_info(df).warnings)
