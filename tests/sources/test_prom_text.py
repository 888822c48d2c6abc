"""Prometheus text / OpenMetrics reader: one row per sample, labels as columns, real exposition files."""

from __future__ import annotations

import math
import os
import re

import pandas as pd
import pytest

import obsnb as ob
from conformance import ConformanceSuite, vals

GOOD = (
    b"# HELP http_requests_total Requests.\n"
    b"# TYPE http_requests_total counter\n"
    b'http_requests_total{method="post",code="200"} 1027 1395066363000\n'
    b'http_requests_total{method="post",code="400"}    3 1395066363000\n'
    b'msdos_file_access_time_seconds{path="C:\\\\DIR\\\\FILE.TXT",error="Cannot find file:\\n\\"FILE.TXT\\""} 1.458255915e9 1395066364000\n'
    b"metric_without_labels 12.47 1395066365000\n"
    b'rpc_duration_seconds_bucket{le="+Inf"} +Inf 1395066366000\n'
    b"something_weird{problem=\"division by zero\"} NaN 1395066367000\n"
)
MESSY = (
    b"# TYPE x gauge\n"
    b"x 1 1700000000000\n"
    b"this is not a sample\n"
    b"x{a=\"b\"} notanumber 1700000000000\n"
    b"\x00\xff\xfe binary\n"
    b"x 2 1700000001000\n"
    b'x{a="b'
)


class TestPromTextConformance(ConformanceSuite):
    fmt = "prom_text"
    kind = "metrics"
    suffix = ".prom"
    good = GOOD
    good_rows = 6
    messy = MESSY
    messy_good = 2
    messy_bad = 4
    first_bad_line = 3


def test_values_labels_and_millisecond_timestamps(tmp_path):
    """Labels (escapes undone) become columns, +Inf/NaN parse, text-format timestamps are milliseconds."""
    p = tmp_path / "m.prom"
    p.write_bytes(GOOD)
    df = ob.load(str(p))
    assert list(df["metric"]) == ["http_requests_total", "http_requests_total", "msdos_file_access_time_seconds",
                                  "metric_without_labels", "rpc_duration_seconds_bucket", "something_weird"]
    v = list(df["value"])
    assert v[:4] == [1027.0, 3.0, 1.458255915e9, 12.47] and v[4] == math.inf and math.isnan(v[5])
    assert df["time"][0] == pd.Timestamp(1395066363000, unit="ms", tz="UTC")
    assert vals(df["code"]) == ["200", "400", None, None, None, None]
    assert df["path"][2] == "C:\\DIR\\FILE.TXT"
    assert df["error"][2] == 'Cannot find file:\n"FILE.TXT"'
    assert vals(df["le"])[4] == "+Inf"


def test_samples_without_timestamp_take_time_option_or_mtime(tmp_path):
    """No timestamp: time= when given, else the file's modification time."""
    p = tmp_path / "scrape.prom"
    p.write_bytes(b"up 1\nup{job=\"x\"} 0\n")
    os.utime(p, (1700000000, 1700000000))
    assert set(ob.load(str(p))["time"]) == {pd.Timestamp(1700000000, unit="s", tz="UTC")}
    df = ob.load(str(p), time="2024-05-14T13:00:00+02:00")
    assert set(df["time"]) == {pd.Timestamp("2024-05-14T11:00:00Z")}


def _samples(path):
    out = []
    for i, ln in enumerate(path.read_text().splitlines(), 1):
        if ln.strip() and not ln.startswith("#"):
            out.append((i, ln))
    return out


@pytest.mark.parametrize("name", ["alltypes.237mfs.prom.txt", "metrics-test.prom", "1histogram.om.txt",
                                  "alltypes.5mfs.om.txt", "dump-openmetrics-test.prom",
                                  "dump-openmetrics-roundtrip-test.prom"])
def test_real_exposition_files_load_every_sample(realworld, name):
    """Every sample line of Prometheus' own test files is one row with its name, value and line number."""
    path = realworld / "prometheus/exposition" / name
    samples = _samples(path)
    df = ob.load(str(path))
    assert len(df) == len(samples)
    assert list(df["_line"]) == [i for i, _ in samples]
    names = [re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", ln).group(0) for _, ln in samples]
    assert list(df["metric"]) == names
    values = [float(re.sub(r"\{.*\}", "", ln.split(" # ")[0]).split()[1]) for _, ln in samples]
    got = list(df["value"])
    assert all((a == b) or (math.isnan(a) and math.isnan(b)) for a, b in zip(got, values))


def test_openmetrics_timestamps_are_seconds(realworld):
    """OpenMetrics timestamps (seconds with decimals) become exact UTC times."""
    path = realworld / "prometheus/exposition/dump-openmetrics-roundtrip-test.prom"
    samples = _samples(path)
    df = ob.load(str(path))
    expected = [pd.Timestamp(round(float(ln.split()[-1]) * 1000), unit="ms", tz="UTC") for _, ln in samples]
    assert list(df["time"]) == expected
    assert vals(df["job"])[0] == "example2"


def test_histogram_buckets_keep_le_as_written(realworld):
    """Classic histogram buckets keep le exactly as the exposition writes it, +Inf included."""
    path = realworld / "prometheus/exposition/alltypes.237mfs.prom.txt"
    text = path.read_text()
    les = re.findall(r'^prometheus_http_request_duration_seconds_bucket\{handler="/metrics",le="([^"]+)"\}', text, re.M)
    df = ob.load(str(path))
    sel = df[(df["metric"] == "prometheus_http_request_duration_seconds_bucket") & (df["handler"] == "/metrics")]
    assert list(sel["le"]) == les and les[-1] == "+Inf"
