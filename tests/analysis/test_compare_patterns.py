"""ob.compare (BubbleUp-style over-representation) and ob.log_patterns (message templates)."""

from __future__ import annotations

import pandas as pd
import polars as pl
import pytest
from _support import to_pandas

import obsnb as ob
from obsnb.analysis.patterns import mask_message
from obsnb.testing import make_logs

T0 = pd.Timestamp("2024-05-14T13:00:00Z")


def _requests(engine):
    """10 rows: 4 failing, 3 of them on region eu / version v2; the 6 succeeding mostly us / v1."""
    region = ["eu", "eu", "eu", "us", "us", "us", "us", "us", "eu", "us"]
    version = ["v2", "v2", "v2", "v1", "v1", "v1", "v1", "v2", "v1", "v1"]
    level = ["error"] * 4 + ["info"] * 6
    times = [T0 + pd.Timedelta(seconds=i) for i in range(10)]
    return make_logs(time=times, level=level, region=region, version=version, duration_ms=[1.0] * 10, engine=engine)


def test_compare_ranks_over_represented_values(engine):
    """Failing vs succeeding: region=eu is 3/4 of failures vs 1/6 of successes, the top attribute value."""
    df = _requests(engine)
    mask = to_pandas(df)["level"].eq("ERROR").to_numpy()
    out = to_pandas(ob.compare(df, incident=mask, by=["region", "version"]))
    assert list(out.columns) == ["attribute", "value", "incident", "baseline", "incident_share", "baseline_share", "difference", "lift"]
    top = out.iloc[0]
    assert (top["attribute"], top["value"], top["incident"], top["baseline"]) in {("region", "eu", 3, 1), ("version", "v2", 3, 1)}
    eu = out[(out.attribute == "region") & (out.value == "eu")].iloc[0]
    assert eu["incident_share"] == 0.75 and eu["baseline_share"] == pytest.approx(1 / 6)
    assert eu["difference"] == pytest.approx(0.75 - 1 / 6) and eu["lift"] == pytest.approx(4.5)
    assert out["difference"].is_monotonic_decreasing


def test_compare_time_windows_and_default_columns(engine):
    """incident=(start, end) against the other rows; ids, times and float measurements are not attributes."""
    df = _requests(engine)
    out = to_pandas(ob.compare(df, incident=(T0, T0 + pd.Timedelta(seconds=4))))
    assert set(out["attribute"]) == {"level", "region", "version"}
    lvl = out[(out.attribute == "level") & (out.value == "ERROR")].iloc[0]
    assert lvl["incident"] == 4 and lvl["baseline"] == 0 and lvl["lift"] == float("inf")


def test_compare_with_polars_expression():
    """A polars expression selects the incident rows."""
    out = ob.compare(_requests("polars"), incident=pl.col("region") == "eu", by="version")
    assert isinstance(out, pl.DataFrame)
    assert out.row(0, named=True)["value"] == "v2" and out.row(0, named=True)["incident"] == 3


def test_mask_message():
    """Numbers, IPs, UUIDs, long hex ids and timestamps become placeholders."""
    assert mask_message("retry 3 for 10.0.0.7:5432 after 1.5s") == "retry <num> for <ip> after <num>s"
    assert mask_message("job 3f2b8c1e-9a4d-4c3e-8f21-0a1b2c3d4e5f done") == "job <uuid> done"
    assert mask_message("trace 4bf92f3577b34da6a3ce929d0e0e4736 at 2024-05-14T13:00:00.123Z") == "trace <hex> at <time>"
    assert mask_message("addr 0xdeadBEEF") == "addr <hex>"


def test_log_patterns_groups_and_flags_new(engine):
    """Two templates: 3 'payment <num> failed' (new in the incident window) and 2 'user <num> logged in'."""
    msgs = ["user 1 logged in", "user 22 logged in", "payment 7 failed", "payment 8 failed", "payment 9 failed"]
    secs = [0, 10, 100, 110, 120]
    df = make_logs(time=[T0 + pd.Timedelta(seconds=s) for s in secs], message=msgs, service=["api"] * 5, engine=engine)
    out = to_pandas(ob.log_patterns(df, new_since=T0 + pd.Timedelta(seconds=60)))
    assert out["pattern"].tolist() == ["payment <num> failed", "user <num> logged in"]
    assert out["count"].tolist() == [3, 2]
    assert out["new"].tolist() == [True, False]
    assert str(out["first"].iloc[0]) == "2024-05-14 13:01:40+00:00" and str(out["last"].iloc[0]) == "2024-05-14 13:02:00+00:00"
    assert out["example"].iloc[1] in ("user 1 logged in", "user 22 logged in")


def test_log_patterns_falls_back_to_event(engine):
    """Without message/msg columns the canonical `event` is the text; by= splits per service."""
    df = make_logs(time=[T0] * 3, event=["conn 1 reset", "conn 2 reset", "conn 3 reset"], service=["a", "b", "a"], engine=engine)
    out = to_pandas(ob.log_patterns(df, by="service"))
    assert out[["pattern", "service", "count"]].values.tolist() == [["conn <num> reset", "a", 2], ["conn <num> reset", "b", 1]]
