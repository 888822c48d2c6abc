"""ob.error_rate / ob.gaps on a Loki source, against a replay server answering Loki's documented shapes.

The replay (:class:`LokiErrorsReplay`) answers log queries like Loki (fakes_logs.LokiFake, for the in-memory
side) and evaluates the metric queries the push-down sends in plain Python over the fixture's lines: the
``| json`` parser's labels (nested keys joined with ``_``), stream labels and structured metadata, the
``or`` of ``label=~`pattern``` matchers (anchored, as LogQL), ``count_over_time`` over ``(t - range, t]``
at ``start + k*step``, zero points left out, ``sum by`` the group labels, times in ms (Loki's JSON). Which
lines are errors is also known from the fixture's construction (``ERROR_LINES``), independently of obsnb.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

import obsnb as ob
from fake_server import FakeServer, Request, Response
from fakes_logs import LokiFake
from obsnb.errors import BackendError, BackendUnavailableError, QueryError, UsageError

T0 = 1704067200 * 10**9
S = 10**9
MIN = 60 * S
END = T0 + 30 * MIN

# the JSON lines' fields, cycled over the lines
KINDS = [
    {"level": "info"}, {"level": "error"}, {"level": "ERR"}, {"level": "warn"}, {"level": "fatal"}, {"level": 50},
    {"level": 30}, {"level": "Critical"}, {"level": "info", "status_code": 503}, {"level": "info", "status_code": 200},
    {"level": "info", "event": {"outcome": "failure"}}, {"level": "info", "event": {"outcome": "success"}},
    {"level": "info", "status": "timed out"}, {"level": "info", "status": "ok"},
    {"level": "debug", "result": "upload_failed"}, {"level": "info", "result": "failover done"}, {},
]
N = 700


def is_error(body: dict, meta: dict) -> bool:
    """Which of the fixture's lines are errors by obsnb's definition, written out for these values."""
    level = body.get("level", meta.get("detected_level"))  # detected_level stands in only for a line without one
    return (level in ("error", "ERR", "fatal", 50, "Critical") or body.get("status_code") == 503
            or body.get("event", {}).get("outcome") == "failure" or body.get("status") == "timed out"
            or body.get("result") == "upload_failed")


def fixture_lines():
    """api / db / jobs lines over 30 minutes; db silent in [T0+7m, T0+16m), jobs only in its first 4 minutes
    (a trailing silence), api's first line after T0+6m (a leading one); every 7th line has no level but Loki's
    detected_level metadata ("error" on every 14th); every 50th at a bucket start exactly."""
    rng = np.random.default_rng(11)
    out, errors = [], []
    for i, t in enumerate(np.sort(rng.integers(1, 30 * MIN - 1, N))):
        t = int(T0 + (t // MIN) * MIN if i % 50 == 0 and t >= MIN else T0 + t)
        svc = ["api", "db", "jobs"][i % 3]
        if (svc == "db" and T0 + 7 * MIN <= t < T0 + 16 * MIN) or (svc == "jobs" and t >= T0 + 4 * MIN) \
                or (svc == "api" and t < T0 + 6 * MIN):
            continue
        body = {"msg": f"request {i} handled", **KINDS[i % len(KINDS)]}
        meta = {}
        if i % 7 == 0:
            body.pop("level", None)
            meta = {"detected_level": "error" if i % 14 == 0 else "info"}
        out.append(({"app": "shop", "service": svc}, t, json.dumps(body), meta))
        errors.append(is_error(body, meta))
    return out, errors


LINES, ERROR_LINES = fixture_lines()


def _labels(labels: dict, line: str, meta: dict) -> dict:
    """The labels Loki's ``| json`` gives a line: stream labels, structured metadata, JSON keys flattened with _."""
    out = {**labels, **meta}

    def walk(prefix, obj):
        for k, v in obj.items():
            name = re.sub(r"[^A-Za-z0-9_]", "_", prefix + k)
            if isinstance(v, dict):
                walk(name + "_", v)
            else:
                out.setdefault(name, v if isinstance(v, str) else json.dumps(v))

    walk("", json.loads(line))
    return out


class LokiErrorsReplay(LokiFake):
    """LokiFake plus the push-down's metric queries, evaluated from the fixture lines (see module docs)."""

    QUERY = re.compile(r"sum(?: by \((?P<by>[\w, ]*)\))? \(count_over_time\(\{(?P<sel>[^}]*)\}"
                       r"(?P<pipe>(?: \| json \| drop __error__, __error_details__)?)(?: \| (?P<filter>.*?))? "
                       r"\[(?P<rng>\d+)s\]\)\)")

    def __init__(self, entries, fail=None):
        super().__init__(entries)
        self.fail = fail  # (predicate on the request, response) to answer instead

    def __call__(self, req: Request) -> Response:
        if self.fail and self.fail[0](req):
            return self.fail[1]
        return super().__call__(req)

    @staticmethod
    def label_filter(text: str):
        """The ``or`` of ``label=~`pattern``` matchers as a function of a line's labels -> (kept, error)."""
        clauses = re.findall(r"(\w+)=~`([^`]*)`", text)
        return lambda lab: (not clauses or any(re.fullmatch(p, str(lab.get(n, ""))) for n, p in clauses), False)

    def _metric(self, req: Request, q: str, start: int, end: int) -> Response:
        m = self.QUERY.fullmatch(q.strip())
        if not m:
            return Response.text("parse error at line 1, col 1: syntax error: unexpected IDENTIFIER", 400)
        sel = dict(re.findall(r'(\w+)="([^"]*)"', m["sel"]))
        keep = self.label_filter(m["filter"] or "")
        by = [b.strip() for b in (m["by"] or "").split(",") if b.strip()]
        rng, step = int(m["rng"]) * S, round(float(req.params["step"]) * 1e9)
        series: dict[str, list[int]] = {}
        for labels, ts, line, meta in self.entries:
            if not all(labels.get(k) == v for k, v in sel.items()):
                continue
            lab = _labels(labels, line, meta) if m["pipe"] else dict(labels)
            kept, error = keep(lab)
            if kept and error:  # a label filter failed on a line it kept: Loki fails the metric query
                return Response.json({"status": "error", "errorType": "execution",
                                      "error": "pipeline error: 'LabelFilterErr' for series"}, 400)
            if kept:
                series.setdefault(json.dumps({k: lab[k] for k in by if k in lab}, sort_keys=True), []).append(ts)
        result = []
        for key, times in series.items():
            times = np.array(times)
            points = []
            for t in range(start, end + 1, step):
                n = int(((times > t - rng) & (times <= t)).sum())
                if n:
                    points.append([(t // 10**6) / 1000, str(n)])
            if points:
                result.append({"metric": json.loads(key), "values": points})
        return Response.json({"status": "success", "data": {"resultType": "matrix", "result": result}})


@pytest.fixture(scope="module")
def loki():
    with FakeServer(LokiErrorsReplay(LINES)) as srv:
        yield "loki://" + srv.hostport, srv


@pytest.fixture(scope="module")
def local(loki):
    return ob.load(loki[0], query='{app="shop"}', start=T0, end=END)


WINDOW = dict(start=T0, end=END)


def test_replay_documented_shapes_error_rate_equals_in_memory(loki, local):
    url, srv = loki
    n = len(srv.requests)
    remote = ob.error_rate(url, "1min", by="service", query='{app="shop"}', **WINDOW)
    sent = {r.params["query"] for r in srv.requests[n:]}
    base = '{app="shop"} | json | drop __error__, __error_details__'
    assert f"sum by (service) (count_over_time({base} [60s]))" in sent
    (errs,) = sent - {f"sum by (service) (count_over_time({base} [60s]))"}
    assert errs.startswith(f"sum by (service) (count_over_time({base} | level=~`(?i)") and " or event_outcome=~" in errs
    expected = ob.error_rate(local, "1min", by="service", **WINDOW)
    assert list(remote.columns) == ["time", "service", "total", "errors", "error_rate"]
    pd.testing.assert_frame_equal(remote, expected)
    # the counts are the fixture's, counted here without obsnb
    assert remote["errors"].sum() == sum(ERROR_LINES) and remote["total"].sum() == len(LINES)
    jobs = remote[remote["service"] == "jobs"]
    assert len(jobs) == 30 and jobs["total"].iloc[5:].eq(0).all() and jobs["error_rate"].iloc[5:].isna().all()


def test_replay_documented_shapes_error_filter_keeps_exactly_the_fixture_errors(loki):
    """The compiled filter, evaluated as Loki's anchored RE2 matchers would, picks the lines built as errors."""
    url, _ = loki
    text = ob.error_rate(url, "1min", query='{app="shop"}', explain=True, **WINDOW)
    filt = text.split("\n\n")[1].split("__error_details__ | ", 1)[1].rsplit(" [60s]", 1)[0]
    clauses = re.findall(r"(\w+)=~`([^`]*)`", filt)
    assert filt == " or ".join(f"{n}=~`{p}`" for n, p in clauses)
    picked = [any(re.fullmatch(p, str(_labels(lb, line, meta).get(n, ""))) for n, p in clauses)
              for lb, _, line, meta in LINES]
    assert picked == ERROR_LINES
    # a query with its own parser is used as it is: its fields are the ones the filter reads
    own = ob.error_rate(url, "1min", query='{app="shop"} | logfmt', explain=True, **WINDOW).split("\n\n")
    assert own[0] == 'sum (count_over_time({app="shop"} | logfmt [60s]))'
    assert own[1].startswith('sum (count_over_time({app="shop"} | logfmt | level=~`')


def test_replay_documented_shapes_error_rate_without_groups_and_split_ranges(loki, local):
    url, srv = loki
    n = len(srv.requests)
    remote = ob.error_rate(url, "1min", query='{app="shop"}', max_points=7, **WINDOW)
    assert len(srv.requests) - n == 2 * 5  # 31 points in chunks of 7 (range_chunks): 5 requests per query
    pd.testing.assert_frame_equal(remote, ob.error_rate(local, "1min", **WINDOW))


def certain(local_gaps: pd.DataFrame, step: int, start: int, end: int, threshold: pd.Timedelta) -> pd.DataFrame:
    """What bucket counts prove of each in-memory silence longer than ``threshold``: from the end of the bucket
    of the line before (or the window start) to the start of the bucket of the line after (or the window end),
    kept where that is still longer than ``threshold`` (the documented relation of the backend form)."""
    s = local_gaps["gap_start"].astype("int64")
    e = local_gaps["gap_end"].astype("int64")
    out = local_gaps.drop(columns=["gap_start", "gap_end", "duration"])
    out["gap_start"] = pd.to_datetime(np.where(s == start, start, s // step * step + step), utc=True)
    out["gap_end"] = pd.to_datetime(np.where(e == end, end, e // step * step), utc=True)
    out["duration"] = out["gap_end"] - out["gap_start"]
    return out[out["duration"] > threshold].reset_index(drop=True)


def test_replay_documented_shapes_gaps_are_the_in_memory_silences_to_bucket_precision(loki, local):
    url, srv = loki
    n = len(srv.requests)
    remote = ob.gaps(url, "4min", by="service", query='{app="shop"}', **WINDOW)
    assert {r.params["query"] for r in srv.requests[n:]} == {'sum by (service) (count_over_time({app="shop"} [60s]))'}
    assert {r.params["step"] for r in srv.requests[n:]} == {"60"}  # threshold / 4
    assert list(remote.columns) == ["service", "gap_start", "gap_end", "duration"]
    mem = ob.gaps(local, "4min", by="service", **WINDOW)
    # the documented relation: each remote silence is an in-memory one cut to the buckets proven empty
    pd.testing.assert_frame_equal(remote, certain(mem, MIN, T0, END, pd.Timedelta(minutes=4)))
    # the fixture's silences, from its construction: api leading, db inner, jobs trailing
    by_svc = remote.groupby("service")["duration"].max()
    assert by_svc["db"] >= pd.Timedelta(minutes=7) and by_svc["jobs"] >= pd.Timedelta(minutes=24)
    assert remote[remote["service"] == "api"]["gap_start"].iloc[0] == pd.Timestamp(T0, unit="ns", tz="UTC")


def test_replay_documented_shapes_gaps_without_groups_and_an_empty_window(loki):
    url, _ = loki
    empty = ob.gaps(url, "5min", query='{app="nothing"}', start=T0, end=T0 + 20 * MIN)
    assert empty["gap_start"].tolist() == [pd.Timestamp(T0, unit="ns", tz="UTC")]
    assert empty["duration"].tolist() == [pd.Timedelta(minutes=20)]
    assert ob.gaps(url, "4min", query='{app="shop"}', **WINDOW).empty  # someone always spoke
    text = ob.gaps(url, "10min", by="service", query='{app="shop"}', step="1min", explain=True, **WINDOW)
    assert text == 'sum by (service) (count_over_time({app="shop"} [60s]))'
    with pytest.raises(UsageError, match="needs start= and end="):
        ob.gaps(url, "4min", query='{app="shop"}')


@pytest.mark.parametrize("status,body,error", [
    (400, "parse error at line 1, col 98: syntax error: unexpected IDENTIFIER", QueryError),
    (500, "rpc error: code = Internal desc = failed to fetch chunks", BackendUnavailableError),
])
def test_replay_documented_shapes_backend_errors_are_clear_errors(status, body, error):
    fail = (lambda r: "__error_details__ |" in r.params.get("query", ""), Response.text(body, status))
    with FakeServer(LokiErrorsReplay(LINES, fail=fail)) as srv:
        with pytest.raises(error, match=re.escape(body[:30])):
            ob.error_rate("loki://" + srv.hostport, "1min", query='{app="shop"}', retries=0, **WINDOW)


def test_replay_documented_shapes_a_failed_or_truncated_chunk_is_an_error_not_silence():
    # chunks of a split range answer an error status in a 200 or a 500 (with partial=True); a body cut short
    url_of = lambda srv: "loki://" + srv.hostport  # noqa: E731
    bad = (lambda r: int(r.params.get("start", 0)) > T0 + 10 * MIN,
           Response.json({"status": "error", "errorType": "execution", "error": "max series reached"}))
    with FakeServer(LokiErrorsReplay(LINES, fail=bad)) as srv:
        with pytest.warns(ob.RejectedRecordsWarning), \
                pytest.raises(BackendError, match="incomplete .*max series reached.* nothing was returned"):
            ob.gaps(url_of(srv), "4min", by="service", query='{app="shop"}', max_points=7, **WINDOW)
    down = (lambda r: int(r.params.get("start", 0)) > T0 + 10 * MIN, Response.text("too many outstanding requests", 500))
    with FakeServer(LokiErrorsReplay(LINES, fail=down)) as srv:  # partial=True: the loader's warning, then an error
        with pytest.warns(ob.TruncatedResultWarning), pytest.raises(BackendError, match="incomplete .*PARTIAL RESULT"):
            ob.rate(url_of(srv), "1min", by="service", query='{app="shop"}', max_points=7, partial=True, retries=0,
                    **WINDOW)
    cut = (lambda r: True, Response(200, b'{"status":"success","data":{"resultType":"matrix","result":[{"metr',
                                        {"Content-Type": "application/json"}))
    with FakeServer(LokiErrorsReplay(LINES, fail=cut)) as srv:
        with pytest.raises(BackendError, match="did not answer JSON"):
            ob.error_rate(url_of(srv), "1min", query='{app="shop"}', **WINDOW)


def test_replay_documented_shapes_error_rate_from_evidence_snapshots(loki, tmp_path):
    """A re-run reads the snapshots (no request) and gives the same frame: a snapshot is not a partial answer."""
    url, srv = loki
    first = ob.error_rate(url, "1min", by="service", query='{app="shop"}', snapshot=str(tmp_path), **WINDOW)
    n = len(srv.requests)
    again = ob.error_rate(url, "1min", by="service", query='{app="shop"}', snapshot=str(tmp_path), **WINDOW)
    assert len(srv.requests) == n and len(list(tmp_path.glob("*.parquet"))) == 2
    pd.testing.assert_frame_equal(again, first)
