"""Timestamped text of any shape, years for year-less stamps, directory loads with a stranger, control characters."""

from __future__ import annotations

import datetime as dt
import os
import warnings

import pandas as pd
import pytest

import obsnb as ob
from conformance import ConformanceSuite, load_quiet, vals
from obsnb.errors import RejectedRecordsWarning, UsageError
from obsnb.registry import sniff

GOOD = (
    b"2024-05-14T12:00:01Z [ERROR] disk full\n"
    b"    on /var\n"
    b"2024/05/14 12:00:02 warning: slow\n"
    b"[14/May/2024:12:00:03 +0200] started\n"
    b"Tue May 14 12:00:04 2024 INFO ready\n"
    b"1715688005.5 [E] boom\n"
)
MESSY = (
    b"no time here\n"
    b"2024-05-14T12:00:01Z ok\n"
    b"\xff\xfe\x00\n"
    b"2024-13-01T00:00:00Z month thirteen\n"
)


class TestPlainTextConformance(ConformanceSuite):
    fmt = "text"
    kind = "logs"
    suffix = ".log"
    good = GOOD
    good_rows = 5
    messy = MESSY
    messy_good = 1
    messy_bad = 3
    first_bad_line = 1


def _write(path, data: bytes, mtime: dt.datetime | None = None):
    path.write_bytes(data)
    if mtime is not None:
        ts = mtime.timestamp()
        os.utime(path, (ts, ts))
    return path


def _load(path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ob.load(str(path), **kw)


def test_common_timestamp_shapes_give_time_level_message(tmp_path):
    """ISO, slashed, CLF-style, ctime and epoch stamps, with bracketed or bare level words and letters."""
    p = _write(tmp_path / "x.log", GOOD)
    assert sniff(GOOD, str(p)) == "text"
    df = _load(p)
    assert list(df["time"]) == [pd.Timestamp(s) for s in (
        "2024-05-14T12:00:01Z", "2024-05-14T12:00:02Z", "2024-05-14T10:00:03Z", "2024-05-14T12:00:04Z",
        "2024-05-14T12:00:05.5Z")]
    assert vals(df["level"]) == ["ERROR", "WARNING", None, "INFO", "ERROR"]
    assert list(df["event"]) == ["disk full", "slow", "started", "ready", "boom"]
    assert df["exception"][0] == "    on /var"


def test_windows_cbs_healthapp_proxifier_shapes(tmp_path):
    """CBS's "date, Level  component  msg", pipe-separated and bracketed program lines load with their fields."""
    df = _load(_write(tmp_path / "cbs.log", b"2016-09-28 04:30:30, Info                  CBS    Loaded stack\n"
                                            b"2016-09-28 04:30:31, Error                 CSI    failed x\n"))
    assert (list(df["level"]), list(df["component"]), list(df["event"])) == (
        ["INFO", "ERROR"], ["CBS", "CSI"], ["Loaded stack", "failed x"])
    df = _load(_write(tmp_path / "h.log", b"20171223-22:15:29:606|Step_LSC|30002312|onStandStepChanged 3579\n"))
    assert (df["time"][0], df["component"][0], df["pid"][0], df["event"][0]) == (
        pd.Timestamp("2017-12-23T22:15:29.606Z"), "Step_LSC", 30002312, "onStandStepChanged 3579")
    df = _load(_write(tmp_path / "p.log", b"[10.30 16:49:06] chrome.exe - proxy:5070 close, 0 bytes sent\n",
                      mtime=dt.datetime(2017, 11, 2, tzinfo=dt.timezone.utc)))
    assert (df["time"][0], df["program"][0], df["event"][0]) == (
        pd.Timestamp("2017-10-30T16:49:06Z"), "chrome.exe", "proxy:5070 close, 0 bytes sent")


def test_yearless_stamp_after_mtime_goes_to_previous_year(tmp_path):
    """A syslog "Dec 10" line in a file modified on Dec 1 is last year's, not 9 days in the future."""
    p = _write(tmp_path / "auth.log", b"Dec 10 06:55:46 LabSZ sshd[24200]: Invalid user webmaster\n",
               mtime=dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.timezone.utc))
    assert list(_load(p)["time"]) == [pd.Timestamp("2025-12-10T06:55:46Z")]
    p = _write(tmp_path / "auth2.log", b"Nov 30 06:55:46 LabSZ sshd[24200]: Invalid user webmaster\n",
               mtime=dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.timezone.utc))
    assert list(_load(p)["time"]) == [pd.Timestamp("2026-11-30T06:55:46Z")]


def test_dec_to_jan_rollover_moves_the_year_on(tmp_path):
    """Within a file, Dec 31 then Jan 1 is one year then the next (the file modified in January)."""
    data = b"Dec 31 23:59:59 h app: last of the year\nJan  1 00:00:01 h app: first of the next\n"
    p = _write(tmp_path / "messages", data, mtime=dt.datetime(2027, 1, 2, tzinfo=dt.timezone.utc))
    assert list(_load(p)["time"]) == [pd.Timestamp("2026-12-31T23:59:59Z"), pd.Timestamp("2027-01-01T00:00:01Z")]
    p = _write(tmp_path / "logcat.txt", b"12-31 23:59:59.000  10  11 I Tag: a\n01-01 00:00:01.000  10  11 E Tag: b\n",
               mtime=dt.datetime(2027, 1, 2, tzinfo=dt.timezone.utc))
    df = _load(p)
    assert list(df["time"]) == [pd.Timestamp("2026-12-31T23:59:59Z"), pd.Timestamp("2027-01-01T00:00:01Z")]
    assert list(df["level"]) == ["INFO", "ERROR"]


def test_yearless_in_a_zone(tmp_path):
    """tz= reads a year-less local stamp in that zone (and compares it with the mtime there)."""
    p = _write(tmp_path / "m.log", b"Jul  1 12:00:00 h app: x\n", mtime=dt.datetime(2024, 7, 2, tzinfo=dt.timezone.utc))
    assert list(_load(p, tz="America/New_York")["time"]) == [pd.Timestamp("2024-07-01T16:00:00Z")]


def test_directory_with_an_unrecognised_file_loads_the_rest(tmp_path):
    """One unrecognisable file in a directory is a rejected entry naming it, with a warning; the rest load."""
    _write(tmp_path / "a.log", b"2024-05-14 12:00:01,123 ERROR [main] a.B - boom\n")
    _write(tmp_path / "b.bin", b"%%% 1 2 3 %%%\n")
    _write(tmp_path / "c.log", b"2024-05-14 12:00:02,000 INFO [main] a.B - fine\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = ob.load(str(tmp_path))
    assert list(df["event"]) == ["boom", "fine"]
    rej = ob.rejected(df)
    assert list(rej["source"]) == [str(tmp_path / "b.bin")]
    assert rej["reason"][0].startswith(f"cannot tell the format of {tmp_path / 'b.bin'}")
    info = ob.load_info(df)
    assert (info.rows_loaded, info.n_rejected, info.records_read) == (2, 1, 3)
    assert any(issubclass(w.category, RejectedRecordsWarning) and "b.bin was not loaded" in str(w.message)
               for w in caught)
    with pytest.raises(UsageError, match="cannot tell the format"):
        ob.load(str(tmp_path), strict=True)
    with pytest.raises(UsageError, match="cannot tell the format"):
        ob.load(str(tmp_path / "b.bin"))  # a single file still says so at once


def test_control_character_in_valid_utf8_is_data(tmp_path):
    """A valid UTF-8 Prometheus sample with a control character in a label value loads; NUL bytes are still garbage."""
    p = _write(tmp_path / "m.prom", b'# TYPE x gauge\nx{note="bell\x07here"} 1 1700000000000\nx 2 1700000001000\n')
    df = _load(p)
    assert list(df["value"]) == [1.0, 2.0]
    assert df["note"][0] == "bell\x07here"
    assert ob.load_info(df).n_rejected == 0
    p = _write(tmp_path / "n.prom", b"# TYPE x gauge\nx 1 1700000000000\nx\x00 2 1700000001000\n")
    df = load_quiet(p)
    assert list(df["value"]) == [1.0]
    assert ob.rejected(df)["reason"][0] == "binary or undecodable bytes, not an exposition line"


def test_regex_format_with_named_groups(tmp_path):
    """format="regex": named groups give time (with time_format= and tz=), level, message and columns."""
    p = _write(tmp_path / "app.txt", b"14.05.2024 12:00:01 | E | billing | charge failed\n  detail line\n"
                                     b"14.05.2024 12:00:02 | I | billing | ok\n")
    df = _load(p, format="regex", pattern=r"(?P<time>\S+ \S+) \| (?P<level>\w) \| (?P<component>\w+) \| (?P<message>.*)",
               time_format="%d.%m.%Y %H:%M:%S", tz="Europe/Berlin")
    assert list(df["time"]) == [pd.Timestamp("2024-05-14T10:00:01Z"), pd.Timestamp("2024-05-14T10:00:02Z")]
    assert list(df["level"]) == ["ERROR", "INFO"]
    assert list(df["event"]) == ["charge failed", "ok"]
    assert list(df["component"]) == ["billing", "billing"]
    assert vals(df["exception"]) == ["  detail line", None]
    with pytest.raises(UsageError, match="needs pattern="):
        _load(p, format="regex")
    with pytest.raises(UsageError, match="named group for the time"):
        _load(p, format="regex", pattern=r"(?P<msg>.*)")


def test_unrecognised_file_error_suggests_a_regex(tmp_path):
    """A file no format recognises says how to describe it with format='regex'."""
    p = _write(tmp_path / "odd.dat", b"%%% 1 2 3 %%%\n")
    with pytest.raises(UsageError, match=r"format='regex', pattern="):
        ob.load(str(p))


def test_lowercase_first_word_is_message_not_level(tmp_path):
    """After a timestamp, "error connecting" stays the message; "ERROR x" and "[error] x" are levels."""
    p = _write(tmp_path / "t.log", b"2024-05-14T12:00:01Z error connecting to db\n2024-05-14T12:00:02Z ERROR x\n"
                                   b"2024-05-14T12:00:03Z [error] y\n")
    df = _load(p)
    assert list(df["event"]) == ["error connecting to db", "x", "y"]
    assert vals(df["level"]) == [None, "ERROR", "ERROR"]


@pytest.mark.parametrize("fmt", ["log4j", "klog", "kubernetes_cri", "logplex", "web_access", "web_error", "logcat",
                                 "ras", "text"])
def test_a_file_with_no_record_is_all_rejected(tmp_path, fmt):
    """Named on a file none of whose lines is its record, each text format loads no rows and rejects every line."""
    p = _write(tmp_path / "g.log", b"garbage\nmore garbage\n")
    df = load_quiet(p, format=fmt)
    assert len(df) == 0
    assert list(ob.rejected(df)["line"]) == [1, 2]
