"""Python logging's BASIC_FORMAT (``LEVEL:logger:message``): no timestamps, so no load without a time= the user chose."""

from __future__ import annotations

import datetime as dt
import os
import warnings

import pandas as pd
import pytest

import obsnb as ob
from conformance import ConformanceSuite, load_quiet, vals
from obsnb.errors import RejectedRecordsWarning, UsageError
from obsnb.registry import NoTimestamps, sniff

LINES = ["WARNING:root:disk full", "ERROR:payments.db:pool exhausted", "Traceback (most recent call last):",
         '  File "job.py", line 3, in <module>', "ValueError: bad", "INFO:root:ok", "DEBUG:a.b-c:x:y"]
GOOD = "\n".join(LINES).encode() + b"\n"
MESSY = b"stray first line\nINFO:root:fine\n\xff\xfe\nCRITICAL:root:also fine\n"


class TestPythonBasicConformance(ConformanceSuite):
    fmt = "python_basic"
    kind = "logs"
    suffix = ".log"
    good = GOOD
    good_rows = 4
    messy = MESSY
    messy_good = 2
    messy_bad = 2
    first_bad_line = 1
    options = {"time": "2024-05-14T12:00:00Z"}


def test_without_time_the_load_says_there_are_no_timestamps_and_how_to_load(tmp_path):
    """Recognised unnamed, but not loaded: the error names the shape and the time= that loads it."""
    p = tmp_path / "app.log"
    p.write_bytes(GOOD)
    assert sniff(GOOD, str(p)) == "python_basic"
    with pytest.raises(NoTimestamps, match=r"no timestamps.*format='python_basic', time='mtime'"):
        ob.load(str(p))
    assert issubclass(NoTimestamps, UsageError)


def test_with_time_every_record_has_it_and_tracebacks_fold(tmp_path):
    """time='mtime' is the file's modification time for every record; level, logger, message, exception from the lines."""
    p = tmp_path / "app.log"
    p.write_bytes(GOOD)
    ts = dt.datetime(2024, 5, 14, 12, 30, tzinfo=dt.timezone.utc).timestamp()
    os.utime(p, (ts, ts))
    df = load_quiet(p, time="mtime")
    starts = [i for i, ln in enumerate(LINES) if ln.split(":")[0] in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")]
    assert list(df["_line"]) == [i + 1 for i in starts]
    assert list(df["level"]) == [LINES[i].split(":", 2)[0] for i in starts]
    assert list(df["logger"]) == [LINES[i].split(":", 2)[1] for i in starts]
    assert list(df["event"]) == [LINES[i].split(":", 2)[2] for i in starts]
    assert vals(df["exception"]) == [None, "\n".join(LINES[2:5]), None, None]
    assert set(df["time"]) == {pd.Timestamp("2024-05-14T12:30Z")}
    assert any("has no timestamps" in w for w in ob.load_info(df).warnings)


def test_a_basic_format_file_in_a_folder_is_rejected_and_the_others_load(tmp_path):
    """In a load of many files the BASIC_FORMAT file is one rejected record with the reason; the rest loads."""
    (tmp_path / "a.log").write_bytes(GOOD)
    (tmp_path / "b.log").write_bytes(b'{"time":"2024-05-14T12:00:00Z","level":"info","msg":"hi"}\n')
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RejectedRecordsWarning)
        df = ob.load(str(tmp_path))
    assert list(df["event"]) == ["hi"]
    rej = ob.rejected(df)
    assert list(rej["source"]) == [str(tmp_path / "a.log")]
    assert "no timestamps" in rej["reason"][0]
