"""groups= and a caller's errors= on Elasticsearch / OpenSearch, against the replay of the documented shapes.

The replay is test_pushdown_elasticsearch_errors_gaps_replay's (fixture documents, composite and
date_histogram buckets), with the ``filter`` sub-aggregation evaluated here as Elasticsearch evaluates a
query on a keyword / numeric mapping: ``bool`` (``filter``, ``should`` + ``minimum_should_match``,
``must_not``), ``terms`` (exact values), ``term``, ``prefix``, ``wildcard``, ``range`` (``gt``/``gte``/``lt``/``lte`` on
numbers), ``exists`` and ``regexp`` (anchored, ``case_insensitive``; on a number, the server's 400). Every test compares with
the in-memory helper on the same documents loaded through the same server.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import polars as pl
import pytest

import obsnb as ob
from fake_server import FakeServer
from fakes_logs import _field
from obsnb.errors import UsageError
from test_pushdown_elasticsearch_errors_gaps_replay import DOCS, END, END_NS, MIN, T0, T0_NS, AggReplay
from test_pushdown_loki_errors_gaps_replay import certain

WINDOW = dict(start=T0, end=END)
GROUPS = ["api", "web", "billing"]  # billing has no document


def matches(q: dict, doc: dict) -> bool:
    """One query clause on one document (see the module docs)."""
    (kind, spec), = q.items()
    if kind == "bool":
        ok = all(matches(c, doc) for c in spec.get("filter", [])) and not any(matches(c, doc) for c in spec.get("must_not", []))
        if "should" in spec:
            ok = ok and sum(matches(c, doc) for c in spec["should"]) >= spec.get("minimum_should_match", 1)
        return ok
    if kind == "exists":
        return _field(doc, spec["field"]) is not None
    (field, arg), = spec.items()
    v = _field(doc, field)
    if v is None:
        return False
    if kind == "terms":
        return any(v == a and isinstance(v, str) == isinstance(a, str) for a in arg)
    if kind == "range":
        ops = {"gt": v.__gt__, "gte": v.__ge__, "lt": v.__lt__, "lte": v.__le__}
        return isinstance(v, (int, float)) and all(ops[k](x) for k, x in arg.items())
    if kind == "term":
        return v == arg
    if kind == "prefix":
        return isinstance(v, str) and v.startswith(arg)
    if kind == "wildcard":  # * any text, ? one character, a backslash escapes
        rx = "".join(re.escape(c[1]) if c.startswith("\\") else ".*" if c == "*" else "." if c == "?" else re.escape(c)
                     for c in re.findall(r"\\.|.", arg["value"], re.S))
        return isinstance(v, str) and re.fullmatch(rx, v, re.S) is not None
    if kind == "regexp":
        if not isinstance(v, str):
            raise TypeError(f"Can only use regexp queries on keyword and text fields - not on [{field}] which is of type [long]")
        return re.fullmatch(arg["value"], v, re.IGNORECASE if arg.get("case_insensitive") else 0) is not None
    raise AssertionError(kind)


class CustomReplay(AggReplay):
    match = staticmethod(matches)


@pytest.fixture(scope="module", params=["elasticsearch", "opensearch"])
def es(request):
    """(url, server, the documents loaded through it)."""
    with FakeServer(CustomReplay(DOCS, request.param)) as srv:
        url = f"{request.param}://{srv.hostport}/logs"
        yield url, srv, ob.load(url, **WINDOW)


DEFINITIONS = [
    {"level": ["ERROR", "CRITICAL"]},
    {"level": "WARNING", "service": "api"},
    pl.col("http.response.status_code") >= 500,
    pl.col("event.outcome") != "success",
    pl.col("status").is_in(["Timed out", "ok"]) | (pl.col("result") == "job.failed"),
    pl.col("service").is_in(["web"]) & (pl.col("http.response.status_code") < 500),
    (pl.col("http.response.status_code") >= 503) | (pl.col("http.response.status_code") <= 404),  # the bounds count
    ~(pl.col("service") == "api"),
    pl.col("status").str.contains("Timed"),
    pl.col("result").str.starts_with("job"),
    ~pl.col("event.outcome").is_in(["success"]) | ~pl.col("status").str.contains("ok", literal=True),
]


@pytest.mark.parametrize("errors", DEFINITIONS, ids=range(len(DEFINITIONS)))
@pytest.mark.parametrize("by", ["service", None])
def test_replay_documented_shapes_es_error_rate_with_a_callers_definition_equals_in_memory(es, errors, by):
    url, _, local = es
    remote = ob.error_rate(url, "1min", by=by, errors=errors, page_size=50, **WINDOW)
    pd.testing.assert_frame_equal(remote, ob.error_rate(local, "1min", by=by, errors=errors, **WINDOW))
    assert remote["errors"].sum() > 0


def test_replay_documented_shapes_es_custom_query_and_counts_from_the_fixture(es):
    url, _, _ = es
    errors = pl.col("event.outcome") != "success"
    body = json.loads(ob.error_rate(url, "1min", errors=errors, explain=True, **WINDOW))
    assert body["aggs"]["g"]["aggs"]["errors"]["filter"] == {
        "bool": {"must_not": [{"terms": {"event.outcome": ["success"]}}], "filter": [{"exists": {"field": "event.outcome"}}]}}
    remote = ob.error_rate(url, "30min", errors=errors, **WINDOW)
    assert remote["errors"].sum() == sum(d.get("event", {}).get("outcome", "success") != "success" for d in DOCS)
    status = ob.error_rate(url, "30min", errors=pl.col("http.response.status_code") >= 500, **WINDOW)
    assert status["errors"].sum() == sum(d.get("http", {}).get("response", {}).get("status_code", 0) >= 500 for d in DOCS)


def test_replay_documented_shapes_es_untranslatable_definitions_are_refused(es):
    url, srv, _ = es
    n = len(srv.requests)
    for errors in [(T0, END), pl.col("message").str.ends_with("x"), np.zeros(2, bool)]:
        with pytest.raises(UsageError, match="cannot be computed by a backend"):
            ob.error_rate(url, "1min", errors=errors, **WINDOW)
    with pytest.raises(UsageError, match="Lucene's regexp is another language: pass literal=True"):
        ob.error_rate(url, "1min", errors=pl.col("message").str.contains("fail.d"), **WINDOW)
    assert len(srv.requests) == n


def test_replay_documented_shapes_es_rate_and_error_rate_groups(es):
    url, _, local = es
    remote = ob.rate(url, "1min", by="service", groups=GROUPS, **WINDOW)
    pd.testing.assert_frame_equal(remote, ob.rate(local, "1min", by="service", groups=GROUPS, **WINDOW))
    assert remote[remote["service"] == "billing"]["count"].tolist() == [0] * 30
    errs = ob.error_rate(url, "10min", by="service", groups=GROUPS, errors={"level": "ERROR"}, **WINDOW)
    base = ob.error_rate(local, "10min", by="service", errors={"level": "ERROR"}, **WINDOW)
    grid = ob.rate(local, "10min", by="service", groups=GROUPS, **WINDOW)
    billing = grid[grid["service"] == "billing"][["time", "service"]].assign(total=0, errors=0, error_rate=np.nan)
    expected = pd.concat([base, billing]).sort_values(["time", "service"], kind="stable", na_position="last")
    pd.testing.assert_frame_equal(errs, expected.reset_index(drop=True).astype(base.dtypes.to_dict()))


def test_replay_documented_shapes_es_gaps_groups_a_named_group_without_documents_is_the_whole_window(es):
    url, _, local = es
    remote = ob.gaps(url, "4min", by="service", groups=GROUPS, page_size=20, **WINDOW)
    mem = ob.gaps(local, "4min", by="service", groups=GROUPS, **WINDOW)
    pd.testing.assert_frame_equal(remote, certain(mem, MIN, T0_NS, END_NS, pd.Timedelta(minutes=4)))
    assert remote[remote["service"] == "billing"]["duration"].tolist() == [pd.Timedelta(minutes=30)]
