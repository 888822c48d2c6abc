"""groups= and a caller's errors= on a Loki source, against the replay server of Loki's documented shapes.

The replay is test_pushdown_loki_errors_gaps_replay's (fixture lines, ``| json`` labels, ``count_over_time``
over ``(t - range, t]``, zero points left out, ms times), with the label filter evaluated here as LogQL
does: ``=~`` / ``!~`` anchored regexes, ``>=`` ... numeric comparisons (a label that is no number keeps the
line with an ``__error__``, which fails a metric query), ``and`` / ``or`` and parentheses. Every test
compares with the in-memory helper on the same lines loaded through the same server; a few counts are also
made here from the fixture's construction.
"""

from __future__ import annotations

import json
import operator
import re

import numpy as np
import pandas as pd
import polars as pl
import pytest

import obsnb as ob
from fake_server import FakeServer
from obsnb.errors import UsageError
from test_pushdown_loki_errors_gaps_replay import END, LINES, MIN, T0, LokiErrorsReplay, _labels, certain

WINDOW = dict(start=T0, end=END)
QUERY = '{app="shop"}'
GROUPS = ["api", "db", "jobs", "billing"]  # billing has no line
_TOKEN = re.compile(r'\s*(?:(?P<paren>[()])|(?P<bool>and|or)\b|(?P<rx>\w+)(?P<rop>=~|!~)(?P<str>"(?:[^"\\]|\\.)*")'
                    r'|(?P<num>\w+)\s*(?P<nop>>=|<=|==|!=|>|<)\s*(?P<val>[-+0-9.eE]+))')
_CMP = {">=": operator.ge, "<=": operator.le, "==": operator.eq, "!=": operator.ne, ">": operator.gt, "<": operator.lt}


def label_filter(text: str):
    """A LogQL label filter expression as a function of a line's labels -> (kept, error set)."""
    if not text:
        return lambda lab: (True, False)
    tokens, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        assert m and m.end() > pos, f"not LogQL at {text[pos:pos + 40]!r}"
        tokens.append(m)
        pos = m.end()

    def parse(i):  # -> (function, next index); one operator per parenthesised group, as obsnb writes them
        left, i = atom(i)
        while i < len(tokens) and tokens[i]["bool"]:
            op = tokens[i]["bool"]
            right, i = atom(i + 1)
            left = (lambda a, b, op: lambda lab: _join(a(lab), b(lab), op))(left, right, op)
        return left, i

    def atom(i):
        t = tokens[i]
        if t["paren"] == "(":
            f, j = parse(i + 1)
            assert tokens[j]["paren"] == ")"
            return f, j + 1
        if t["rx"]:
            name, neg, pattern = t["rx"], t["rop"] == "!~", json.loads(t["str"])
            return (lambda lab: ((re.fullmatch(pattern, str(lab.get(name, ""))) is None) == neg, False)), i + 1
        name, cmp, val = t["num"], _CMP[t["nop"]], float(t["val"])

        def numeric(lab):
            try:
                return cmp(float(lab.get(name, "")), val), False
            except ValueError:  # Loki: the line is not filtered, __error__ is set
                return True, True
        return numeric, i + 1

    f, end = parse(0)
    assert end == len(tokens)
    return f


def _join(a, b, op):
    (ka, ea), (kb, eb) = a, b  # both sides are evaluated (Loki's BinaryLabelFilter)
    return (ka and kb) if op == "and" else (ka or kb), ea or eb


class CustomErrorsReplay(LokiErrorsReplay):
    """The replay with the label filter above in place of the ``or`` of ``=~`` matchers."""

    label_filter = staticmethod(label_filter)


@pytest.fixture(scope="module")
def loki():
    with FakeServer(CustomErrorsReplay(LINES)) as srv:
        yield "loki://" + srv.hostport, srv


@pytest.fixture(scope="module")
def local(loki):
    return ob.load(loki[0], query=QUERY, **WINDOW)


DEFINITIONS = [
    {"level": ["ERROR", "CRITICAL"]},
    {"level": "WARNING", "service": "db"},
    pl.col("status_code") >= 500,
    pl.col("status_code") == 503,
    pl.col("event.outcome") != "success",
    pl.col("status").is_in(["timed out", "ok"]) | (pl.col("result") == "upload_failed"),
    (pl.col("level") == "INFO") & (pl.col("status_code") < 300),
    (pl.col("status_code") >= 503) | (pl.col("status_code") <= 200),  # the bounds count
    ~(pl.col("service") == "db"),
    pl.col("status").str.contains("time"),
    pl.col("status").str.contains("d o", literal=True),
    pl.col("result").str.starts_with("upload"),
    ~pl.col("status").is_in(["ok"]) | pl.col("result").str.contains("fail"),
]


@pytest.mark.parametrize("errors", DEFINITIONS, ids=range(len(DEFINITIONS)))
def test_replay_documented_shapes_loki_error_rate_with_a_callers_definition_equals_in_memory(loki, local, errors):
    url, _ = loki
    remote = ob.error_rate(url, "1min", by="service", query=QUERY, errors=errors, **WINDOW)
    expected = ob.error_rate(local, "1min", by="service", errors=errors, **WINDOW)
    pd.testing.assert_frame_equal(remote, expected)
    assert remote["errors"].sum() > 0


def test_replay_documented_shapes_loki_custom_counts_from_the_fixture(loki):
    url, srv = loki
    remote = ob.error_rate(url, "30min", query=QUERY, errors=pl.col("status_code") >= 500, **WINDOW)
    assert remote["errors"].sum() == sum(json.loads(line).get("status_code", 0) >= 500 for _, _, line, _ in LINES)
    levels = ob.error_rate(url, "30min", query=QUERY, errors={"level": ["ERROR", "CRITICAL"]}, **WINDOW)
    spelled = {"error", "ERR", "fatal", 50, "Critical"}  # the fixture's ERROR / CRITICAL spellings, and detected_level
    want = sum(json.loads(line).get("level", meta.get("detected_level")) in spelled for _, _, line, meta in LINES)
    assert levels["errors"].sum() == want


def test_replay_documented_shapes_loki_numeric_filter_is_guarded(loki):
    """A line whose field is no number is no error, not Loki's conversion error: the guard comes first."""
    url, _ = loki
    text = ob.error_rate(url, "1min", query=QUERY, errors=pl.col("status") > 1, explain=True, **WINDOW)
    assert 'status=~"[-+]?[0-9]+(\\\\.[0-9]+)?" and status > 1.0' in text
    remote = ob.error_rate(url, "1min", query=QUERY, errors=pl.col("status") > 1, **WINDOW)
    assert remote["errors"].sum() == 0  # status holds words only


def test_replay_documented_shapes_loki_untranslatable_definitions_are_refused(loki):
    url, srv = loki
    n = len(srv.requests)
    for errors in [(T0, END), pl.col("event").str.ends_with("x"), np.zeros(2, bool)]:
        with pytest.raises(UsageError, match="cannot be computed by a backend"):
            ob.error_rate(url, "1min", query=QUERY, errors=errors, **WINDOW)
    assert len(srv.requests) == n


def test_replay_documented_shapes_loki_rate_groups_equal_in_memory(loki, local):
    url, _ = loki
    remote = ob.rate(url, "1min", by="service", query=QUERY, groups=GROUPS, **WINDOW)
    pd.testing.assert_frame_equal(remote, ob.rate(local, "1min", by="service", groups=GROUPS, **WINDOW))
    billing = remote[remote["service"] == "billing"]
    assert len(billing) == 30 and billing["count"].eq(0).all()


def test_replay_documented_shapes_loki_error_rate_groups(loki, local):
    url, _ = loki
    remote = ob.error_rate(url, "5min", by="service", query=QUERY, groups=GROUPS, errors={"level": "ERROR"}, **WINDOW)
    base = ob.error_rate(local, "5min", by="service", errors={"level": "ERROR"}, **WINDOW)
    grid = ob.rate(local, "5min", by="service", groups=GROUPS, **WINDOW)
    billing = grid[grid["service"] == "billing"][["time", "service"]].assign(total=0, errors=0, error_rate=np.nan)
    expected = pd.concat([base, billing]).sort_values(["time", "service"], kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(remote, expected.astype(base.dtypes.to_dict()))
    assert len(remote[remote["service"] == "billing"]) == 6


def test_replay_documented_shapes_loki_gaps_groups_a_named_group_without_lines_is_the_whole_window(loki, local):
    url, _ = loki
    remote = ob.gaps(url, "4min", by="service", query=QUERY, groups=GROUPS, **WINDOW)
    mem = ob.gaps(local, "4min", by="service", groups=GROUPS, **WINDOW)
    pd.testing.assert_frame_equal(remote, certain(mem, MIN, T0, END, pd.Timedelta(minutes=4)))
    billing = remote[remote["service"] == "billing"]
    assert billing[["gap_start", "gap_end"]].values.tolist() == [[pd.Timestamp(T0, unit="ns", tz="UTC"),
                                                                  pd.Timestamp(END, unit="ns", tz="UTC")]]
