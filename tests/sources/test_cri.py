"""CRI pod logs: partial lines joined, the container's own level and payload read, bad lines rejected."""

from __future__ import annotations

import warnings

import pandas as pd

import obsnb as ob
from conformance import ConformanceSuite, load_quiet, vals
from obsnb.registry import sniff

GOOD = (
    b"2024-07-01T12:00:01.123456789Z stderr F W0701 12:00:01.123456       1 reflector.go:42] watch ended\n"
    b"2024-07-01T12:00:02.000000000Z stdout P first half of a long \n"
    b"2024-07-01T12:00:02.100000000Z stderr F ERROR: boom\n"
    b"2024-07-01T12:00:02.200000000Z stdout F line, joined\n"
    b'2024-07-01T12:00:03.000000000Z stdout F {"level":"warn","msg":"slow","ts":"2019-07-01T00:00:00Z","user":"u1"}\n'
    b'2024-07-01T12:00:04+02:00 stdout F time=2019-07-01T00:00:01Z level=error msg="bad thing" code=7\n'
    b"2024-07-01T12:00:05.000000000Z stdout F \n"
)
MESSY = (
    b"2024-07-01T12:00:01Z stdout F fine\n"
    b"Traceback (most recent call last):\n"
    b"\xff\xfe\n"
    b"2024-07-01T12:00:02Z stdout F also fine\n"
)


class TestCriConformance(ConformanceSuite):
    fmt = "kubernetes_cri"
    kind = "logs"
    suffix = ".log"
    good = GOOD
    good_rows = 6
    messy = MESSY
    messy_good = 2
    messy_bad = 2
    first_bad_line = 2


def test_cri_partials_inner_levels_and_payloads(tmp_path):
    """P lines join with their F line; klog, level words and JSON/logfmt inside give level, message and time."""
    p = tmp_path / "0.log"
    p.write_bytes(GOOD)
    assert sniff(GOOD, str(p)) == "kubernetes_cri"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = ob.load(str(p))
    assert list(df["event"]) == ["watch ended", "first half of a long line, joined", "boom", "slow", "bad thing", ""]
    assert vals(df["level"]) == ["WARNING", None, "ERROR", "WARNING", "ERROR", None]
    assert list(df["stream"]) == ["stderr", "stdout", "stderr", "stdout", "stdout", "stdout"]
    assert list(df["_line"]) == [1, 2, 3, 5, 6, 7]
    assert list(df["time"]) == [pd.Timestamp("2024-07-01T12:00:01.123456789Z"), pd.Timestamp("2024-07-01T12:00:02Z"),
                                pd.Timestamp("2024-07-01T12:00:02.1Z"), pd.Timestamp("2019-07-01T00:00:00Z"),
                                pd.Timestamp("2019-07-01T00:00:01Z"), pd.Timestamp("2024-07-01T12:00:05Z")]
    assert (df["file"][0], df["lineno"][0]) == ("reflector.go", 42)
    assert df["user"][3] == "u1" and df["code"][4] == 7
    assert ob.load_info(df).n_rejected == 0


def test_lines_without_cri_header_are_rejected(tmp_path):
    """The kubelet writes a header on every line, so a bare line is rejected with its number, not folded."""
    p = tmp_path / "m.log"
    p.write_bytes(MESSY)
    df = load_quiet(p)
    assert list(df["event"]) == ["fine", "also fine"]
    rej = ob.rejected(df)
    assert list(rej["line"]) == [2, 3]
    assert list(rej["reason"]) == ["not a CRI line", "binary or undecodable bytes, not a CRI line"]


def test_a_message_starting_with_a_lowercase_level_word_keeps_it(tmp_path):
    """"error connecting" is a message (no level); "WARN x" and "[info] y" carry levels and lose only the marker."""
    p = tmp_path / "0.log"
    p.write_bytes(b"2024-07-01T12:00:01Z stdout F error connecting to db\n"
                  b"2024-07-01T12:00:02Z stdout F WARN disk at 91%\n"
                  b"2024-07-01T12:00:03Z stdout F [info] started\n")
    df = load_quiet(p)
    assert list(df["event"]) == ["error connecting to db", "disk at 91%", "started"]
    assert vals(df["level"]) == [None, "WARNING", "INFO"]
