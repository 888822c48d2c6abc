"""ob.error_rate / ob.gaps on Elasticsearch / OpenSearch, against a replay server answering the documented shapes.

The replay (:class:`AggReplay`) serves documents like fakes_logs.ElasticFake (for the in-memory side) and
answers aggregation requests in plain Python over the fixture's documents: ``composite`` and
``date_histogram`` buckets as fakes_logs replays them (``after`` paging, ``after_key``, empty composite
buckets left out, ``min_doc_count``, ``extended_bounds``) and in each bucket a ``filter`` sub-aggregation of a ``bool`` ``should`` of ``regexp`` (anchored, ``case_insensitive``; a 400
``query_shard_exception`` on a number, as a field mapped ``long``), ``term`` and ``range``. Which documents
are errors is also known from the fixture's construction (:func:`is_error`), independently of obsnb.
"""

from __future__ import annotations

import datetime as dt
import json
import re

import numpy as np
import pandas as pd
import pytest

import obsnb as ob
from fake_server import FakeServer, Response
from fakes_logs import ElasticFake, _aggs, _field, _interval_ms, _millis, es_error
from obsnb.errors import BackendError, BackendUnavailableError, QueryError, UsageError
from test_pushdown_loki_errors_gaps_replay import certain

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
END = T0 + dt.timedelta(minutes=30)
T0_NS, END_NS = int(T0.timestamp()) * 10**9, int(END.timestamp()) * 10**9
MIN = 60 * 10**9

# ECS fields of the documents, cycled
KINDS = [
    {"log": {"level": "info"}}, {"log": {"level": "error"}}, {"log": {"level": "ERR"}}, {"log": {"level": "warn"}},
    {"log": {"level": "FATAL"}}, {"log": {"level": "critical"}}, {"log": {"level": "info"}, "http": {"response": {"status_code": 503}}},
    {"log": {"level": "info"}, "http": {"response": {"status_code": 404}}}, {"log": {"level": "info"}, "event": {"outcome": "failure"}},
    {"log": {"level": "info"}, "event": {"outcome": "success"}}, {"log": {"level": "info"}, "status": "Timed out"},
    {"log": {"level": "info"}, "status": "ok"}, {"log": {"level": "debug"}, "result": "job.failed"},
    {"log": {"level": "debug"}, "result": "failover"}, {"log": {"level": "warning"}, "result": "rejected"}, {},
]


def is_error(doc: dict) -> bool:
    """Which fixture documents are errors by obsnb's definition, written out for these values."""
    return (doc.get("log", {}).get("level") in ("error", "ERR", "FATAL", "critical")
            or doc.get("http", {}).get("response", {}).get("status_code") == 503
            or doc.get("event", {}).get("outcome") == "failure" or doc.get("status") == "Timed out"
            or doc.get("result") in ("job.failed", "rejected"))


def docs() -> list[dict]:
    """api / web / no service over 30 minutes; web silent in [T0+9m, T0+21m); api only after T0+5m."""
    rng = np.random.default_rng(8)
    out = []
    for i, ms in enumerate(np.sort(rng.integers(1, 30 * 60_000 - 1, 800))):
        svc = ["api", "web", None][i % 3 if i % 13 else 2]
        if (svc == "web" and 9 * 60_000 <= ms < 21 * 60_000) or (svc == "api" and ms < 5 * 60_000):
            continue
        d = {"@timestamp": (T0 + dt.timedelta(milliseconds=int(ms))).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
             "message": f"request {i} handled", **KINDS[i % len(KINDS)]}
        if svc:
            d["service"] = {"name": svc}
        out.append(d)
    return out


DOCS = docs()


def _matches(q: dict, doc: dict) -> bool:
    """A bool should / regexp / term / range query on one document, as Elasticsearch evaluates it."""
    if "bool" in q:
        return sum(_matches(c, doc) for c in q["bool"]["should"]) >= q["bool"].get("minimum_should_match", 1)
    (kind, spec), = q.items()
    (field, arg), = spec.items()
    v = _field(doc, field)
    if v is None:
        return False
    if kind == "regexp":
        if not isinstance(v, str):
            raise TypeError(f"Can only use regexp queries on keyword and text fields - not on [{field}] which is of type [long]")
        return re.fullmatch(arg["value"], v, re.IGNORECASE if arg.get("case_insensitive") else 0) is not None
    if kind == "term":
        return str(v).lower() == arg["value"].lower() if arg.get("case_insensitive") else str(v) == arg["value"]
    if kind == "range":
        return isinstance(v, (int, float)) and arg["gte"] <= v < arg["lt"]
    raise AssertionError(kind)


def _answer(agg: dict, rows: list[tuple[int, dict]], match=_matches) -> dict:
    """The buckets as fakes_logs' composite / date_histogram replay answers them, plus each one's ``filter``."""
    out = _aggs({"g": {k: v for k, v in agg.items() if k != "aggs"}}, rows)["g"]
    flt = agg.get("aggs", {}).get("errors", {}).get("filter")
    if flt is not None:
        for b in out["buckets"]:
            b["errors"] = {"doc_count": sum(match(flt, d) for t, d in rows if _in_bucket(agg, b["key"], t, d))}
    return out


def _in_bucket(agg: dict, key, t: int, doc: dict) -> bool:
    if "date_histogram" in agg:
        iv = _interval_ms(agg["date_histogram"]["fixed_interval"])
        return t // iv * iv == key
    for src in agg["composite"]["sources"]:
        (name, s), = src.items()
        if "date_histogram" in s:
            iv = _interval_ms(s["date_histogram"]["fixed_interval"])
            if t // iv * iv != key[name]:
                return False
        elif _field(doc, s["terms"]["field"]) != key[name]:
            return False
    return True


class AggReplay(ElasticFake):
    """ElasticFake plus the push-down's aggregations (see the module docs); ``fail(body)`` may answer instead."""

    match = staticmethod(_matches)  # how the filter sub-aggregation's query is evaluated on one document

    def __init__(self, documents, flavour, fail=None):
        super().__init__(documents, flavour=flavour, index="logs")
        self.fail = fail

    def _search(self, body: dict) -> Response:
        if "aggs" not in body:
            return super()._search(body)
        if self.fail and (resp := self.fail(body)) is not None:
            return resp
        r = body["query"]["bool"]["filter"][0]["range"]["@timestamp"]
        lo, hi = _millis(r["gte"]), _millis(r["lt"])
        rows = [(t, d) for t, d in zip(self.ms, self.docs) if lo <= t < hi]
        try:
            aggs = {"g": _answer(body["aggs"]["g"], rows, self.match)}
        except TypeError as exc:  # a regexp on a number: Elasticsearch's shard failure, all shards -> 400
            return es_error(400, "search_phase_execution_exception", str(exc))
        return Response.json({"took": 3, "timed_out": False, "_shards": {"total": 1, "successful": 1, "skipped": 0,
                                                                          "failed": 0},
                              "hits": {"total": {"value": len(rows), "relation": "eq"}, "hits": []},
                              "aggregations": aggs})


@pytest.fixture(scope="module", params=["elasticsearch", "opensearch"])
def es(request):
    with FakeServer(AggReplay(DOCS, request.param)) as srv:
        yield f"{request.param}://{srv.hostport}/logs", srv


@pytest.fixture(scope="module")
def local(es):
    return ob.load(es[0], start=T0, end=END)


def _bodies(srv, n):
    return [r.json() for r in srv.requests[n:] if r.path.endswith("/_search")]


def test_replay_documented_shapes_error_rate_composite_paged_equals_in_memory(es, local):
    url, srv = es
    n = len(srv.requests)
    remote = ob.error_rate(url, "1min", by="service", start=T0, end=END, page_size=7)
    bodies = _bodies(srv, n)
    assert len(bodies) > 10 and "after" in bodies[-1]["aggs"]["g"]["composite"]
    g = bodies[0]["aggs"]["g"]
    assert g["composite"]["sources"] == [{"time": {"date_histogram": {"field": "@timestamp", "fixed_interval": "60000ms"}}},
                                         {"service": {"terms": {"field": "service.name", "missing_bucket": True}}}]
    should = g["aggs"]["errors"]["filter"]["bool"]["should"]
    assert {"range": {"http.response.status_code": {"gte": 500, "lt": 600}}} in should
    assert {"term": {"event.outcome": {"value": "failure", "case_insensitive": True}}} in should
    expected = ob.error_rate(local, "1min", by="service", start=T0, end=END)
    pd.testing.assert_frame_equal(remote, expected)
    assert remote["errors"].sum() == sum(map(is_error, DOCS)) and remote["total"].sum() == len(DOCS)
    web = remote[remote["service"] == "web"]
    assert len(web) == 30 and web["total"].iloc[9:21].eq(0).all() and web["error_rate"].iloc[9:21].isna().all()


def test_replay_documented_shapes_error_rate_without_groups_is_a_filled_date_histogram(es, local):
    url, srv = es
    n = len(srv.requests)
    start = T0 - dt.timedelta(minutes=10)
    remote = ob.error_rate(url, "5min", start=start, end=END)
    (body,) = _bodies(srv, n)
    h = body["aggs"]["g"]["date_histogram"]
    assert h["min_doc_count"] == 0 and h["extended_bounds"] == {"min": int(start.timestamp() * 1000),
                                                                "max": int(END.timestamp() * 1000) - 1}
    pd.testing.assert_frame_equal(remote, ob.error_rate(local, "5min", start=start, end=END))
    assert remote["total"].tolist()[:2] == [0, 0] and remote["error_rate"].iloc[:2].isna().all()


def test_replay_documented_shapes_gaps_are_the_in_memory_silences_to_bucket_precision(es, local):
    url, srv = es
    n = len(srv.requests)
    remote = ob.gaps(url, "4min", by="service", start=T0, end=END, page_size=20)
    bodies = _bodies(srv, n)
    assert len(bodies) > 1 and bodies[0]["aggs"]["g"]["composite"]["sources"][0]["time"]["date_histogram"][
        "fixed_interval"] == "60000ms"  # threshold / 4
    mem = ob.gaps(local, "4min", by="service", start=T0, end=END)
    pd.testing.assert_frame_equal(remote, certain(mem, MIN, T0_NS, END_NS, pd.Timedelta(minutes=4)))
    longest = remote.groupby("service", dropna=False)["duration"].max()
    assert longest["web"] >= pd.Timedelta(minutes=12) and longest["api"] >= pd.Timedelta(minutes=4)
    empty = ob.gaps(url, "5min", start=END, end=END + dt.timedelta(minutes=20))
    assert empty["duration"].tolist() == [pd.Timedelta(minutes=20)]


def test_replay_documented_shapes_explain_shows_the_aggregation(es):
    url, srv = es
    n = len(srv.requests)
    body = json.loads(ob.error_rate(url, "1min", by="service", start=T0, end=END, explain=True))
    assert len(srv.requests) == n and body["size"] == 0
    should = body["aggs"]["g"]["aggs"]["errors"]["filter"]["bool"]["should"]
    assert {"regexp": {"log.level": {"value": should[2]["regexp"]["log.level"]["value"], "case_insensitive": True}}} in should
    gaps = json.loads(ob.gaps(url, "10min", start=T0, end=END, step="1min", explain=True))
    assert gaps["aggs"]["g"]["date_histogram"]["fixed_interval"] == "60000ms"


def test_replay_documented_shapes_backend_errors_are_clear_errors(es):
    url, _ = es
    numeric = [dict(d, status=500) if i == 3 else d for i, d in enumerate(DOCS)]  # `status` mapped as a number
    with FakeServer(AggReplay(numeric, "elasticsearch")) as srv:
        u = f"elasticsearch://{srv.hostport}/logs"
        with pytest.raises(QueryError, match=r"HTTP 400.*regexp queries on keyword and text fields - not on \[status\]"):
            ob.error_rate(u, "1min", start=T0, end=END)
        out = ob.error_rate(u, "1min", start=T0, end=END, fields={"status": None})  # that rule left out
        assert out["errors"].sum() == sum(is_error(d) for d in numeric if d.get("status") != "Timed out")
    failures = {
        "500": (lambda b: es_error(500, "circuit_breaking_exception", "[parent] Data too large"), BackendUnavailableError,
                "Data too large"),
        "shards": (lambda b: Response.json({"timed_out": False, "_shards": {"total": 2, "successful": 1, "failed": 1,
                                            "failures": [{"reason": {"reason": "node left"}}]},
                                            "aggregations": {"g": {"buckets": []}}}), BackendError, "PARTIAL .*node left"),
        "timeout": (lambda b: Response.json({"timed_out": True, "_shards": {"total": 1, "successful": 1, "failed": 0},
                                             "aggregations": {"g": {"buckets": []}}}), BackendError, "PARTIAL .*timed out"),
        "no after_key": (lambda b: Response.json({"timed_out": False, "_shards": {"total": 1, "failed": 0},
                                                  "aggregations": {"g": {"buckets": [{"key": {"time": 0, "service": "x"},
                                                                                      "doc_count": 1}]}}}),
                         QueryError, "page 1 was full .* no after_key"),
    }
    for answer, error, words in failures.values():
        with FakeServer(AggReplay(DOCS, "elasticsearch", fail=answer)) as srv:
            with pytest.raises(error, match=words):
                ob.gaps(f"elasticsearch://{srv.hostport}/logs", "4min", by="service", start=T0, end=END, page_size=1,
                        retries=0)


def test_replay_documented_shapes_fixture_errors_are_what_the_filter_keeps():
    """The compiled filter, evaluated as Elasticsearch would, keeps exactly the documents built as errors."""
    from obsnb.analysis.remote import error_definition
    from obsnb.sources.elasticsearch import error_query

    q = error_query(error_definition(), {})
    assert [_matches(q, d) for d in DOCS] == [is_error(d) for d in DOCS]
    assert sum(map(is_error, DOCS)) > 100



def test_replay_documented_shapes_bucket_limits(es):
    url, _ = es
    with pytest.raises(UsageError, match="whole milliseconds"):
        ob.error_rate(url, "1500us", start=T0, end=END)
    with pytest.raises(UsageError, match="needs every="):
        ob.error_rate(url, None, start=T0, end=END)
    with pytest.raises(UsageError, match="needs start= and end="):
        ob.gaps(url, "4min", by="service")
