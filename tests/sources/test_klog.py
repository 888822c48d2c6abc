"""klog/glog lines: level letters, header fields, structured key=value messages, goroutine dumps folded."""

from __future__ import annotations

import datetime as dt
import os
import warnings

import pandas as pd

import obsnb as ob
from conformance import ConformanceSuite
from obsnb.registry import sniff

GOOD = (
    b"I0701 12:00:01.123456    1234 reflector.go:42] Starting reflector\n"
    b'E0701 12:00:02.000001    1234 kubelet.go:100] "Pod status updated" pod="kube-system/dns" ready=false err="x \\"y\\""\n'
    b"goroutine 1 [running]:\n"
    b"main.main()\n"
    b"W0701 12:00:03.5 99 a.go:1] warn\n"
    b"F0701 12:00:04.000000 99 a.go:2] fatal\n"
)
MESSY = b"not klog\nI0701 12:00:01.000000 1 a.go:1] ok\n\xff\xfe\nI0230 12:00:01.000000 1 a.go:1] no Feb 30\nI07"


class TestKlogConformance(ConformanceSuite):
    fmt = "klog"
    kind = "logs"
    suffix = ".log"
    good = GOOD
    good_rows = 4
    messy = MESSY
    messy_good = 1
    messy_bad = 4
    first_bad_line = 1
    options = {"year": 2024}


def test_klog_fields_levels_and_structured_pairs(tmp_path):
    """Letters map to levels; file, line and thread are columns; a structured message gives its text and pairs."""
    p = tmp_path / "kubelet.log"
    p.write_bytes(GOOD)
    ts = dt.datetime(2024, 7, 2, tzinfo=dt.timezone.utc).timestamp()
    os.utime(p, (ts, ts))
    assert sniff(GOOD, str(p)) == "klog"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = ob.load(str(p))
    assert list(df["level"]) == ["INFO", "ERROR", "WARNING", "CRITICAL"]
    assert list(df["level_original"]) == ["I", "E", "W", "F"]
    assert list(df["event"]) == ["Starting reflector", "Pod status updated", "warn", "fatal"]
    assert list(df["time"]) == [pd.Timestamp("2024-07-01T12:00:01.123456Z"), pd.Timestamp("2024-07-01T12:00:02.000001Z"),
                                pd.Timestamp("2024-07-01T12:00:03.5Z"), pd.Timestamp("2024-07-01T12:00:04Z")]
    assert list(df["file"]) == ["reflector.go", "kubelet.go", "a.go", "a.go"]
    assert list(df["lineno"]) == [42, 100, 1, 2]
    assert list(df["tid"]) == [1234, 1234, 99, 99]
    assert (df["pod"][1], df["ready"][1], df["err"][1]) == ("kube-system/dns", "false", 'x "y"')
    assert df["exception"][1] == "goroutine 1 [running]:\nmain.main()"
    assert list(df["_line"]) == [1, 2, 5, 6]
