"""groups= and a caller's errors= on ClickHouse (chdb behind the HTTP shim): the in-memory helper's numbers.

Each test runs the helper on the ``clickhouse://`` source and on the same rows loaded with ``ob.load``, and
compares the frames exactly (``per_second`` and ``error_rate`` to 1e-12: see test_pushdown_chdb_http_shim).
A group of ``groups=`` with no row is filled on the client after the server's aggregate; the counts of a
few definitions are also counted here straight from the fixture rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest

import obsnb as ob
import otel_schema
from chdb_fixture import LOGS, MIN, SPANS, T0, _insert, ch  # noqa: F401 - ch is the module's server fixture
from obsnb.errors import UsageError
from test_pushdown_chdb_http_shim import same

SERVICES = ["api", "db", "web", "billing"]  # billing has no row at all
WINDOW = dict(start=T0 - 2 * MIN, end=T0 + 32 * MIN)

# otel_logs rows whose level comes from SeverityNumber, or (SeverityNumber 0) from SeverityText in its spellings
LEVELS = [(0, "warn"), (0, "Err"), (0, " FATAL "), (0, "50"), (0, "61"), (0, "info"), (0, ""), (0, "crit"),
          (0, "weird"), (13, "x"), (17, "info"), (21, ""), (24, "debug"), (9, "ERROR"), (0, "E"), (0, "severe")]
CODES = ["503", "200", "abc", None, "500", "404"]


def level_rows() -> list[dict]:
    rng = np.random.default_rng(3)
    out = []
    for i, t in enumerate(np.sort(rng.integers(0, 20 * MIN, 320))):
        num, text = LEVELS[i % len(LEVELS)]
        code = CODES[i % len(CODES)]
        out.append({"Timestamp": int(T0 + t), "TraceId": "", "SpanId": "", "TraceFlags": 0, "SeverityText": text,
                    "SeverityNumber": num, "ServiceName": ["api", "db"][i % 2], "Body": f"line {i}",
                    "LogAttributes": {"code": code} if code is not None else {}, "EventName": ""})
    return out


LEVEL_ROWS = level_rows()
# the canonical level of each row, written out from the OTel severity scale and the level names
OTEL = {13: "WARNING", 17: "ERROR", 21: "CRITICAL", 24: "CRITICAL", 9: "INFO"}
TEXT = {"warn": "WARNING", "Err": "ERROR", " FATAL ": "CRITICAL", "50": "ERROR", "61": "CRITICAL", "info": "INFO",
        "": None, "crit": "CRITICAL", "weird": None, "E": "ERROR", "severe": "ERROR"}
EXPECTED_LEVEL = [OTEL[r["SeverityNumber"]] if r["SeverityNumber"] else TEXT[r["SeverityText"]] for r in LEVEL_ROWS]


@pytest.fixture(scope="module")
def levels(ch):
    url, shim = ch
    if str(shim.execute("EXISTS TABLE otel_logs_levels")).strip() != "1":
        shim.execute(otel_schema.LOGS_CURRENT.format(table="otel_logs_levels"))
        _insert(shim, "otel_logs_levels", LEVEL_ROWS)
    return url


@pytest.mark.parametrize("window", [True, False])
def test_chdb_http_shim_rate_groups_fills_the_missing_groups_like_in_memory(ch, window):
    url, shim = ch
    bounds = WINDOW if window else {}
    remote = ob.rate(url, "1min", by="service", kind="spans", groups=SERVICES, **bounds)
    assert "billing" not in shim.sql[-1]  # the server aggregates; billing's zeros are added here
    local = ob.rate(ob.load(url, kind="spans"), "1min", by="service", groups=SERVICES, **bounds)
    same(remote, local, rtol=1e-12)
    billing = remote[remote["service"] == "billing"]
    buckets = 34 if window else 30  # [T0-2m, T0+32m) / the fixture's first to last minute
    assert len(billing) == buckets and billing["count"].eq(0).all() and billing["per_second"].eq(0).all()
    assert remote["count"].sum() == len(SPANS)


def test_chdb_http_shim_error_rate_groups_are_zero_rows_with_nan_rate(ch):
    """error_rate in memory takes no groups=: the expectation is its frame plus billing's buckets, from ob.rate's."""
    url, _ = ch
    remote = ob.error_rate(url, "5min", by="service", kind="spans", groups=SERVICES, **WINDOW)
    loaded = ob.load(url, kind="spans")
    local = ob.error_rate(loaded, "5min", by="service", **WINDOW)
    grid = ob.rate(loaded, "5min", by="service", groups=SERVICES, **WINDOW)
    billing = grid[grid["service"] == "billing"][["time", "service"]].assign(total=0, errors=0, error_rate=np.nan)
    expected = pd.concat([local, billing]).sort_values(["time", "service"], kind="stable").reset_index(drop=True)
    expected = expected.astype(local.dtypes.to_dict())
    same(remote, expected, rtol=1e-12)
    assert remote[remote["service"] == "billing"]["error_rate"].isna().all()


def test_chdb_http_shim_groups_without_by_is_the_helpers_error(ch):
    url, _ = ch
    with pytest.raises(UsageError, match="groups= names the expected values of the by= columns; pass by= as well"):
        ob.rate(url, "1min", kind="spans", groups=["api"])


SPAN_DEFINITIONS = [
    {"status": "ERROR", "service": ["api", "db"]},
    {"http.route": "/pay"},
    (pl.col("duration_ms") > 20) | (pl.col("status") == "ERROR"),
    pl.col("http.route").is_in(["/pay"]) & (pl.col("duration_ms") <= 5.5),
    pl.col("name") != "POST /pay",
    pl.lit(10) < pl.col("duration_ms"),
    ~(pl.col("status") == "ERROR"),
    pl.col("name").str.contains("pay"),
    pl.col("name").str.contains("/ord", literal=True),
    pl.col("name").str.starts_with("GET"),
    ~((pl.col("service") == "api") | (pl.col("duration_ms") < 5)),
    ~pl.col("http.route").is_in(["/pay", "/x"]) & ~pl.col("name").str.contains("^POST"),
]


@pytest.mark.parametrize("errors", SPAN_DEFINITIONS, ids=range(len(SPAN_DEFINITIONS)))
def test_chdb_http_shim_error_rate_with_a_callers_definition_on_spans_equals_in_memory(ch, errors):
    url, shim = ch
    remote = ob.error_rate(url, "5min", by="service", kind="spans", errors=errors)
    local = ob.error_rate(ob.load(url, kind="spans"), "5min", by="service", errors=errors)
    same(remote, local, rtol=1e-12)
    assert remote["errors"].sum() > 0


def test_chdb_http_shim_custom_span_errors_counted_from_the_fixture(ch):
    url, _ = ch
    remote = ob.error_rate(url, "1h", kind="spans", errors=(pl.col("duration_ms") > 20) | (pl.col("status") == "ERROR"))
    want = sum(r["Duration"] / 1e6 > 20 or r["StatusCode"] == "Error" for r in SPANS)
    assert remote["errors"].sum() == want and remote["total"].sum() == len(SPANS)


LOG_DEFINITIONS = [
    {"level": ["ERROR", "CRITICAL"]},
    {"level": "WARNING", "service": "db"},
    pl.col("code") == "503",
    pl.col("code") != "200",
    pl.col("level").is_in(["ERROR"]) | (pl.col("service") == "api"),
]


# the fixture's otel_logs tables have no code attribute (in memory that is a missing column): the levels table only
LOG_CASES = [(t, e) for t in ("otel_logs_levels", "otel_logs", "otel_logs_older") for e in LOG_DEFINITIONS
             if t == "otel_logs_levels" or "code" not in str(e)]


@pytest.mark.parametrize("table, errors", LOG_CASES, ids=range(len(LOG_CASES)))
def test_chdb_http_shim_error_rate_with_a_callers_definition_on_logs_equals_in_memory(ch, levels, table, errors):
    url, _ = ch
    remote = ob.error_rate(url, "2min", by="service", kind="logs", table=table, errors=errors)
    local = ob.error_rate(ob.load(url, kind="logs", table=table), "2min", by="service", errors=errors)
    same(remote, local, rtol=1e-12)


def test_chdb_http_shim_levels_in_every_spelling_counted_from_the_fixture(ch, levels):
    url, _ = ch
    remote = ob.error_rate(url, "1h", kind="logs", table="otel_logs_levels", errors={"level": ["ERROR", "CRITICAL"]})
    assert remote["errors"].sum() == sum(lv in ("ERROR", "CRITICAL") for lv in EXPECTED_LEVEL) > 0
    assert remote["total"].sum() == len(LEVEL_ROWS)
    # a number compared as a number: the attribute "503" is 503, "abc" and a missing one are no error
    num = ob.error_rate(url, "1h", kind="logs", table="otel_logs_levels", errors=pl.col("code") >= 500)
    assert num["errors"].sum() == sum(r["LogAttributes"].get("code") in ("503", "500") for r in LEVEL_ROWS)
    on_logs = ob.error_rate(url, "1h", kind="logs", errors={"level": "ERROR"})
    assert on_logs["errors"].sum() == sum(r["SeverityNumber"] == 17 for r in LOGS)


def test_chdb_http_shim_error_definitions_that_cannot_be_translated_are_refused_before_any_query(ch):
    url, shim = ch
    n = len(shim.sql)
    for errors, words in [(np.ones(3, bool), "errors=<ndarray> cannot be computed by a backend"),
                          ((T0, T0 + MIN), r"errors=\(.*\) cannot be computed by a backend"),
                          (pl.col("name").str.ends_with("pay"), r"expression .*str.ends_with.* cannot be computed"),
                          (~(pl.col("duration_ms") * 2 > 3), r"expression .* cannot be computed"),
                          ({"level": "error"}, "errors= names level 'error': the frame's levels are DEBUG, INFO"),
                          ({"ok": True}, "errors= compares 'ok' with True"),
                          ({}, "errors={} names no column"),
                          (pl.col("name") > "a", "a backend orders numbers, not text")]:
        with pytest.raises(UsageError, match=words):
            ob.error_rate(url, "5min", kind="spans", errors=errors)
    assert shim.sql[n:] == []
    with pytest.raises(UsageError, match="for logs pass errors="):  # obsnb's own definition is for spans here
        ob.error_rate(url, "5min", kind="logs")


def test_chdb_http_shim_explain_shows_the_callers_definition(ch):
    url, _ = ch
    sql = ob.error_rate(url, "5min", kind="logs", explain=True, errors={"service": ["api", "db"]} )
    assert "countIf((ifNull(ServiceName IN ('api', 'db'), 0)))" in sql
    # a boolean column (an attribute's text true or 1), by name or as pl.col, and negated
    flag = ("lower(toString(if(mapContains(LogAttributes, 'is_error'), LogAttributes['is_error'], "
            "if(mapContains(ResourceAttributes, 'is_error'), ResourceAttributes['is_error'], NULL))))")
    for errors, sql in [("is_error", f"countIf(ifNull(({flag} IN ('true', '1')), 0))"),
                        (pl.col("is_error"), f"countIf(ifNull(({flag} IN ('true', '1')), 0))"),
                        (~pl.col("is_error"), f"countIf(ifNull(NOT ({flag} IN ('true', '1')), 0))")]:
        assert sql in ob.error_rate(url, "5min", kind="logs", explain=True, errors=errors)


def test_chdb_http_shim_boolean_attribute_counted_from_its_text(ch, levels):
    """A boolean column is an attribute whose text is true (or 1): the levels table's ``code`` is never one."""
    url, _ = ch
    remote = ob.error_rate(url, "1h", kind="logs", table="otel_logs_levels", errors="code")
    assert remote["errors"].sum() == sum(r["LogAttributes"].get("code") in ("true", "1") for r in LEVEL_ROWS) == 0
    negated = ob.error_rate(url, "1h", kind="logs", table="otel_logs_levels", errors=~pl.col("code"))
    assert negated["errors"].sum() == sum("code" in r["LogAttributes"] for r in LEVEL_ROWS) > 0


@pytest.mark.parametrize("by", ["service", ["service", "http.route"]])
def test_chdb_http_shim_gaps_groups_a_named_group_without_rows_is_one_silence(ch, by):
    url, shim = ch
    keys = [by] if isinstance(by, str) else by
    named = [("billing",) * len(keys), ("api", "/pay")[:len(keys)]]  # billing has no span; api has
    groups = [g[0] for g in named] if len(keys) == 1 else [dict(zip(keys, g)) for g in named]
    remote = ob.gaps(url, "3min", by=by, kind="spans", groups=groups, **WINDOW)
    assert "arrayJoin" in shim.sql[-1]
    local = ob.gaps(ob.load(url, kind="spans"), "3min", by=by, groups=groups, **WINDOW)
    same(remote, local)
    billing = remote[remote["service"] == "billing"]
    assert billing["gap_start"].tolist() == [pd.Timestamp(WINDOW["start"], unit="ns", tz="UTC")]
    assert billing["duration"].tolist() == [pd.Timedelta(minutes=34)]
    with pytest.raises(UsageError, match="pass start= and end= with groups="):
        ob.gaps(url, "3min", by=by, kind="spans", groups=groups)
