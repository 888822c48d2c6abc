"""Loghub 2k: ten real systems' logs recognised without being told, checked line by line against Loghub's ground truth.

The expected values come from each system's ``*_structured.csv`` (loghub-2.0's corrected labels),
read here with pandas' CSV reader; nothing is taken from obsnb's output.
"""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

import obsnb as ob
from _support import REALWORLD, need

LOGHUB = REALWORLD / "loghub"
# The CSV's level spellings -> canonical levels, the usual way (computed independently of obsnb).
CANON = {"INFO": "INFO", "Info": "INFO", "notice": "INFO", "I": "INFO", "WARN": "WARNING", "WARNING": "WARNING",
         "W": "WARNING", "ERROR": "ERROR", "error": "ERROR", "E": "ERROR", "FATAL": "CRITICAL", "SEVERE": "CRITICAL",
         "F": "CRITICAL", "V": "DEBUG", "D": "DEBUG", "DEBUG": "DEBUG"}


def _hms(t: pd.Series) -> pd.Series:
    return t.astype(str).str.slice(0, 8)


def _ymd_hms(date: pd.Series, clock: pd.Series) -> pd.Series:
    return pd.to_datetime(date.astype(str) + " " + _hms(clock), utc=True)


def _epoch(col: pd.Series) -> pd.Series:
    return pd.to_datetime(col.astype("int64"), unit="s", utc=True)


# system -> (format sniffed, expected time to the second (or month-day-time text when the log has no
# year), level column of the CSV or None, extra column checks {obsnb column: CSV column})
SYSTEMS = {
    "Hadoop": ("log4j", lambda s: _ymd_hms(s["Date"], s["Time"]), "Level", {"thread": "Process", "logger": "Component"}),
    "HDFS": ("log4j", lambda s: pd.to_datetime(s["Date"].astype(str).str.zfill(6) + s["Time"].astype(str).str.zfill(6),
                                               format="%y%m%d%H%M%S", utc=True), "Level", {"logger": "Component"}),
    "BGL": ("ras", lambda s: _epoch(s["Timestamp"]), "Level", {"node": "Node", "component": "Component"}),
    "HPC": ("ras", lambda s: _epoch(s["Time"]), None, {"node": "Node", "component": "Component"}),
    "Windows": ("text", lambda s: _ymd_hms(s["Date"], s["Time"]), "Level", {"component": "Component"}),
    "Apache": ("web_error", lambda s: pd.to_datetime(s["Time"], format="%a %b %d %H:%M:%S %Y", utc=True), "Level", {}),
    "Android": ("logcat", lambda s: s["Date"] + " " + _hms(s["Time"]), "Level", {"tag": "Component"}),
    "Linux": ("syslog", lambda s: s["Month"] + " " + s["Date"].astype(str).str.zfill(2) + " " + s["Time"], None,
              {"host": "Level"}),
    "Mac": ("syslog", lambda s: s["Month"] + " " + s["Date"].astype(str).str.zfill(2) + " " + s["Time"], None,
            {"host": "User"}),
    "OpenSSH": ("syslog", lambda s: s["Date"] + " " + s["Day"].astype(str).str.zfill(2) + " " + s["Time"], None,
                {"host": "Component"}),
}
YEARLESS_FORMAT = {"Android": "%m-%d %H:%M:%S", "Linux": "%b %d %H:%M:%S", "Mac": "%b %d %H:%M:%S",
                   "OpenSSH": "%b %d %H:%M:%S"}


def _load(system: str):
    path = LOGHUB / system / f"{system}_2k.log"
    need(path.exists(), f"{path} is missing (../shared/realworld, or set OBSNB_REALWORLD)")
    truth = pd.read_csv(LOGHUB / system / f"{system}_2k.log_structured.csv", dtype=str, keep_default_na=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = ob.load(str(path), kind="logs")
    return path, df, truth


@pytest.mark.parametrize("system", sorted(SYSTEMS))
def test_loghub_system_matches_ground_truth(system):
    """Every line of the system's 2k sample is one row whose time, level and message equal Loghub's ground truth."""
    path, df, truth = _load(system)
    fmt, expected_time, level_col, extra = SYSTEMS[system]
    from obsnb.registry import sniff

    assert sniff(path.read_bytes()[:65536], str(path)) == fmt
    info = ob.load_info(df)
    assert (info.rows_loaded, info.n_rejected, info.records_read) == (2000, 0, 2000)
    assert list(df["_line"]) == [int(x) for x in truth["LineId"]]
    assert list(df["event"].str.rstrip()) == list(truth["Content"].str.rstrip())
    want = expected_time(truth)
    if system in YEARLESS_FORMAT:
        got = df["time"].dt.strftime(YEARLESS_FORMAT[system])
    else:
        got = df["time"].dt.floor("s")
    assert list(got) == list(want)
    if level_col is None:
        assert df["level"].isna().all()  # the line holds no level: none is made up
    else:
        want_levels = truth[level_col].map(CANON)
        assert not want_levels.isna().any()
        assert list(df["level"]) == list(want_levels)
    for mine, theirs in extra.items():
        assert list(df[mine].fillna("").astype(str)) == list(truth[theirs]), mine


def test_hadoop_error_rate_counts_error_and_fatal():
    """ob.error_rate over Hadoop counts its ERROR and FATAL lines (152 of 2000) as errors."""
    _, df, truth = _load("Hadoop")
    n_err = int(truth["Level"].isin(["ERROR", "FATAL"]).sum())
    assert n_err == 152
    rate = ob.error_rate(df, "1d")
    assert int(rate["errors"].sum()) == n_err
    assert int(rate["total"].sum()) == 2000


def test_level_counts_per_system():
    """Per level, the row counts equal the ground truth's: Hadoop 808 WARN, 150 ERROR, 2 FATAL; BGL's FATAL and SEVERE."""
    _, hadoop, truth = _load("Hadoop")
    assert hadoop["level"].value_counts().to_dict() == truth["Level"].map(CANON).value_counts().to_dict()
    assert hadoop["level"].value_counts().to_dict() == {"INFO": 1040, "WARNING": 808, "ERROR": 150, "CRITICAL": 2}
    _, bgl, truth = _load("BGL")
    assert bgl["level"].value_counts().to_dict() == {"INFO": 1597, "CRITICAL": 347 + 7, "ERROR": 41, "WARNING": 8}
