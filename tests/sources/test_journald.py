"""journalctl's short output (syslog-shaped) wrapping a JSON or logfmt payload: the payload's time and level win."""

from __future__ import annotations

import datetime as dt
import os
import warnings

import pandas as pd

import obsnb as ob
from conformance import vals


def test_journald_line_wrapping_logfmt_takes_embedded_ts(tmp_path):
    """`ts=` inside the message is the record's time (2019, not the syslog stamp's inferred 2026); level= its level."""
    p = tmp_path / "journal.txt"
    p.write_bytes(b'Jul 01 12:00:00 node1 app[123]: ts=2019-07-01T10:00:00.5Z level=warn msg="disk slow" dev=sda\n'
                  b'Jul 01 12:00:01 node1 app[123]: {"time":"2019-07-01T10:00:01Z","severity":"ERROR","message":"oops"}\n'
                  b"Jul 01 12:00:02 node1 app[123]: plain line\n")
    ts = dt.datetime(2026, 7, 2, tzinfo=dt.timezone.utc).timestamp()
    os.utime(p, (ts, ts))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = ob.load(str(p))
    assert list(df["time"]) == [pd.Timestamp("2019-07-01T10:00:00.5Z"), pd.Timestamp("2019-07-01T10:00:01Z"),
                                pd.Timestamp("2026-07-01T12:00:02Z")]
    assert vals(df["level"]) == ["WARNING", "ERROR", None]
    assert list(df["event"]) == ["disk slow", "oops", "plain line"]
    assert vals(df["dev"]) == ["sda", None, None]
    assert list(df["service"]) == ["app", "app", "app"]
    assert list(df["host"]) == ["node1", "node1", "node1"]
