"""How obsnb reads a body of evidence it has never seen: which columns name entities, units of work,
dependencies, and which events start, finish or fail a unit.

Every choice is detected from the data (OpenTelemetry semantic conventions, ECS, common names, the
shape of the values), recorded with the reason, and can be given instead as a hint to
``ob.investigate``. ``Reading.table()`` is the "how obsnb read this evidence" table of the reports.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import polars as pl

from ..analysis.failures import FAILURE_WORDS, event_names
from ..errors import UsageError
from .engine import columns, count, run

__all__ = ["Reading", "read_evidence", "HINTS", "UNIT_NAME", "ATTEMPT_NAME"]

# Columns never treated as entities, keys or dependencies.
_NEVER = {"time", "level", "event", "trace_id", "span_id", "parent_span_id", "_source", "_line", "level_original",
          "start", "end", "duration_ms", "status", "status_message", "kind", "name", "links", "events", "message",
          "msg", "value", "metric"}
#: an entity that can go silent: a worker, host, node, pod, runner, ... (``runner_name`` of GitHub Actions,
#: ``k8s.node.name``, ``hostname`` of Celery, ``host.id``, ``service.instance.id``)
ENTITY_NAME = re.compile(
    r"(?i)(^|[._])((worker|host|node|pod|container|instance|consumer|executor|runner|agent|machine|replica|dyno|vm)"
    r"([._-]?(id|uid|name|hostname))?|workers?_?(id|name)|hostname|k8s\.(pod|node|container)\.(name|uid)|"
    r"service\.instance\.id)$"
)
#: an id of one unit of work, in many systems' words: ``job_id``, ``task_id`` (Celery), ``jid`` (Sidekiq),
#: ``run_id`` (Airflow, GitHub Actions), ``k8s.job.name``, ``messaging.message.id`` (OTel), ``execution_id``, ...
UNIT_NAME = re.compile(
    r"(?i)((^|[._])(job|task|message|msg|request|req|run|work|item|order|batch|delivery|execution|workflow|"
    r"workflow[._]run|dag[._]run|invocation|event|build|pipeline|step|operation|transaction|txn|correlation|unit|"
    r"ticket|upload|export|import|sync|check[._]run|k8s\.job)[._-]?(id|uuid|uid|key|name|number)$"
    r"|^(run|job|task|key|jid|bid|execution|invocation|delivery|workflow_run|dag_run|runid|jobid|taskid)$)"
)
#: the attempt number of a unit: ``attempt``, ``try_number`` (Airflow), ``retry_count`` (Sidekiq), ``retries``
#: (Celery), ``run_attempt`` (GitHub Actions), ``retry.attempt``, ``http.request.resend_count`` (OTel)
ATTEMPT_NAME = re.compile(
    r"(?i)(^|[._])(attempts?|attempt[._]?(number|no|count)|try[._]?(number|count)|tries|retry|retries|"
    r"retry[._]?(count|number|attempt)|run[._]attempt|resend[._]count)$"
)
#: a unit of work begins and ends: the median value of a unit key lives at most this share of the evidence
#: (a value seen from the start to the end, like a job's *name*, is a kind of work or an entity, not one unit)
UNIT_LIFETIME_SHARE = 0.5
#: a unit key's values repeat: at least this share of them are on two rows or more (a near-unique request id
#: with one row each names no unit that starts, retries or finishes)
UNIT_REPEAT_SHARE = 0.1
DEPENDENCY_SPAN_COLUMNS = ("peer.service", "server.address", "net.peer.name", "db.system", "db.name",
                           "messaging.destination.name", "messaging.destination", "rpc.service", "remoteEndpoint.serviceName",
                           "http.host", "url.full", "http.url")
DEPENDENCY_LOG_NAME = re.compile(
    r"(?i)(^|[._])((peer|upstream|dependency|downstream|remote|target|dest|destination|provider|server|backend)"
    r"([._]?(service|host|hostname|name|addr|address|url))?|endpoint|api|url|http\.url|url\.full|db\.system)$"
)
DURATION_NAMES = ("duration_ms", "latency_ms", "elapsed_ms", "took_ms", "time_ms", "response_time_ms",
                  "event.duration", "duration", "latency", "elapsed")
START_WORDS = re.compile(r"(?i)(start|begin|received|receiv|consum|picked|claim|dequeu|running|process(ing)?$|attempt)")
ENQUEUE_WORDS = re.compile(r"(?i)(enqueu|queued|submit|accepted|created|scheduled|triggered|sent|published)")
SUCCESS_WORDS = re.compile(r"(?i)(complet|succe|done|finish|commit|processed|\bok\b|delivered|acked|written|end(ed)?$)")
HEARTBEAT_WORDS = re.compile(r"(?i)(heartbeat|alive|keepalive|ping|health|tick|idle|poll)")
CHANGE_WORDS = re.compile(
    r"(?i)(deploy|release|rollout|roll[ _.-]?out|rollback|config|setting|upgrade|downgrade|migrat|feature[ _.-]?flag|"
    r"version|paused|resumed|disabled|enabled|scaled|failover|maintenance)"
)
#: a process (re)starting: a start-like word on a row that is about no unit of work
#: ("up" only after a word that makes it a start: "came up", "is up", "back up"; never "gave up")
RESTART_WORDS = re.compile(r"(?i)(boot|restart|start(ed|ing)?$|started\b|\b(came|comes|coming|is|are|back|booted|"
                           r"started|starting|spun|brought|powered|start)\s+up$|ready$|online$|launched|initiali[sz]ed)")
ERROR_TYPE_NAME = re.compile(r"(?i)(^|[._])(error[._]?(type|class|kind|code)|exc[._]?(type|class)|exception[._]?(type|class))$")
ERROR_TEXT_NAME = re.compile(r"(?i)(^|[._])(error|err|error[._]?message|exception|exc|reason|failure)$")
VERSION_COLUMNS = ("service.version", "version", "app.version", "build", "release", "git_sha", "service_version")
_FAILURE = re.compile(FAILURE_WORDS)

#: every hint ``investigate`` takes, with what it overrides
HINTS = {
    "entity": "column(s) naming the entities that can go silent (worker, host, pod, ...)",
    "key": "column naming one unit of work (job_id, task_id, ...)",
    "started": "event(s) that start an attempt at a unit of work",
    "succeeded": "event(s) that finish it successfully",
    "failed": "event(s) that finish it with a failure",
    "heartbeat": "event(s) a live entity logs while it works or waits",
    "event_column": "column holding the event names (default: event)",
    "dependency": "spans or logs column naming the dependency a call goes to",
    "silence": "shortest silence worth reporting (e.g. '10min')",
    "retry_min_attempts": "attempts of one unit that make a retry storm",
    "stall_after": "age after which an unfinished unit is stalled (e.g. '15min')",
    "every": "bucket for rates and error rates (e.g. '5min')",
    "baseline": "how much evidence before the window to compare with (e.g. '2h')",
}


@dataclasses.dataclass
class Reading:
    """What the investigation assumed about the evidence; every field can be given as a hint."""

    event_column: str = "event"
    entity: list[str] = dataclasses.field(default_factory=list)
    key: str | None = None
    started: list[str] = dataclasses.field(default_factory=list)
    succeeded: list[str] = dataclasses.field(default_factory=list)
    failed: list[str] = dataclasses.field(default_factory=list)
    heartbeat: list[str] = dataclasses.field(default_factory=list)
    dependency: str | None = None
    log_dependency: str | None = None
    log_duration: str | None = None
    silence: str = "10min"
    retry_min_attempts: int | None = None
    stall_after: str | None = None
    every: str | None = None
    baseline: str | None = None
    why: dict[str, str] = dataclasses.field(default_factory=dict)
    given: set[str] = dataclasses.field(default_factory=set)

    def table(self) -> pl.DataFrame:
        """One row per assumption: ``assumption``, ``value``, ``how`` (given, or why it was detected)."""
        rows = []
        for name in ("event_column", "entity", "key", "started", "succeeded", "failed", "heartbeat", "dependency",
                     "log_dependency", "log_duration", "silence", "retry_min_attempts", "stall_after", "every", "baseline"):
            v = getattr(self, name)
            text = ", ".join(map(str, v)) if isinstance(v, list) else ("" if v is None else str(v))
            how = "given" if name in self.given else self.why.get(name, "")
            rows.append({"assumption": name, "value": text or "(none found)", "how": how})
        return pl.DataFrame(rows, schema={"assumption": pl.String, "value": pl.String, "how": pl.String})

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["given"] = sorted(self.given)
        return d


def _as_list(v: Any) -> list[str]:
    if v is None:
        return []
    return [v] if isinstance(v, str) else [str(x) for x in v]


def _usable(frame: pl.LazyFrame, col: str) -> bool:
    sch = columns(frame)
    return col in sch and sch[col] not in (pl.Null, pl.List, pl.Struct) and \
        not isinstance(sch[col], (pl.List, pl.Struct, pl.Float32, pl.Float64))


def _stats(frame: pl.LazyFrame, cols: list[str]) -> dict[str, tuple[int, int]]:
    """(non-null rows, distinct values) per column, in one pass."""
    if not cols:
        return {}
    row = run(frame.select(*[pl.col(c).is_not_null().sum().alias(f"n:{c}") for c in cols],
                       *[pl.col(c).n_unique().alias(f"u:{c}") for c in cols])).row(0, named=True)
    return {c: (int(row[f"n:{c}"]), int(row[f"u:{c}"])) for c in cols}


def _entities(logs: pl.LazyFrame, n: int, r: Reading) -> None:
    cands = [c for c in columns(logs) if c not in _NEVER and ENTITY_NAME.search(c) and _usable(logs, c)]
    st = _stats(logs, cands)
    n = max(n, 1)
    chosen = [c for c in cands if 2 <= st[c][1] <= 500 and st[c][0] >= 0.05 * n]
    chosen.sort(key=lambda c: -st[c][0])
    # one column per idea: drop a column that is a relabelling of one already chosen
    keep: list[str] = []
    for c in chosen:
        if any(st[k] == st[c] and run(logs.select(pl.struct(k, c).n_unique())).item() == st[c][1] for k in keep):
            continue
        keep.append(c)
    if "service" in columns(logs) and run(logs.select(pl.col("service").n_unique())).item() >= 2:
        keep.append("service")
    r.entity = keep[:3]
    r.why["entity"] = (f"columns named like a worker/host/instance/pod with 2-500 values: {', '.join(keep[:3])}"
                       if keep else "no column names a worker, host, instance or pod with 2 or more values")


def _unit_shape(logs: pl.LazyFrame, col: str, attempt: str | None) -> dict[str, Any]:
    """One aggregate query about a candidate unit key: rows, distinct values, the share of values on 2+ rows, the
    median value's lifetime against the column's whole span, and (with an attempt column) distinct (value, attempt)
    pairs per row: 1.0 when the attempt number counts this column's attempts."""
    t = pl.col("time").cast(pl.Int64)
    rows = logs.filter(pl.col(col).is_not_null())
    per = rows.group_by(col).agg(pl.len().alias("n"), (t.max() - t.min()).alias("life"))
    out = run(per.select(pl.col("n").sum().alias("rows"), pl.len().alias("distinct"),
                         (pl.col("n") >= 2).mean().alias("repeat"), pl.col("life").median().alias("life"))).row(0, named=True)
    out["span"] = run(rows.select(t.max() - t.min())).item() or 0
    out["pairs"], out["retried"] = None, 0
    if attempt is not None:
        both = rows.filter(pl.col(attempt).is_not_null())
        n, pairs = run(both.select(pl.len(), pl.struct(col, attempt).n_unique())).row(0)
        out["pairs"] = pairs / n if n else None
        out["retried"] = run(both.group_by(col).agg(pl.col(attempt).n_unique().alias("a"))
                             .select((pl.col("a") >= 2).sum())).item() or 0
    return out


def _key(logs: pl.LazyFrame, r: Reading) -> None:
    """The unit of work: a column named like a unit id whose values repeat (>= 10% of them on 2+ rows, or the
    attempt column numbers its rows, one attempt a row, and some value has 2+ attempts) and are short-lived (the median value lives at most half the column's span), with 2+ values. Of those, the one the
    attempt column counts (most distinct (value, attempt) pairs per row), else the one on most rows."""
    sch = columns(logs)
    if "time" not in sch:
        r.why["key"] = "no time column"
        return
    # an attempt number may be a float column (a pandas integer column with nulls)
    attempt = next((c for c in sch if ATTEMPT_NAME.search(c) and (sch[c].is_numeric() or sch[c] == pl.String)), None)
    cands = [c for c in sch if c not in _NEVER and UNIT_NAME.search(c) and not ATTEMPT_NAME.search(c) and _usable(logs, c)]
    good, not_units = [], []
    for c in cands:
        st = _unit_shape(logs, c, attempt)
        if st["distinct"] < 2:
            not_units.append(f"`{c}` (one value)")
        elif st["repeat"] < UNIT_REPEAT_SHARE and not (st["retried"] and (st["pairs"] or 0) >= 0.9):
            # values that do not repeat, unless the attempt number counts this column's attempts (one row each)
            not_units.append(f"`{c}` ({st['repeat']:.0%} of its values on more than one row)")
        elif st["span"] and st["life"] > UNIT_LIFETIME_SHARE * st["span"]:
            not_units.append(f"`{c}` (a value lasts {st['life'] / st['span']:.0%} of the evidence: a kind of work, not one unit)")
        else:
            good.append((c, st))
    counted = [g for g in good if g[1]["pairs"] is not None]
    if counted:
        best = max(counted, key=lambda g: (g[1]["pairs"], g[1]["rows"]))
    else:
        best = max(good, key=lambda g: g[1]["rows"]) if good else None
    rejected = f"; not a unit: {', '.join(not_units)}" if not_units else ""
    if best is None:
        r.why["key"] = "no id column (job_id, task_id, run_id, jid, ...) names units that repeat and end" + rejected
        return
    c, st = best
    r.key = c
    how = (f"the `{attempt}` column counts its attempts" if best in counted and len(good) > 1 else
           f"{st['repeat']:.0%} of its {st['distinct']:,} values on several rows")
    others = [g[0] for g in good if g[0] != c]
    r.why["key"] = (f"named like a unit-of-work id, on {st['rows']:,} rows, {how}" +
                    (f" (also a unit: {', '.join(f'`{o}`' for o in others)})" if others else "") + rejected)


def _events(logs: pl.LazyFrame, r: Reading) -> None:
    ev = r.event_column
    if ev not in columns(logs) or r.key is None:
        r.why.setdefault("started", "needs a unit-of-work key" if r.key is None else f"no {ev} column")
        return
    keyed = logs.filter(pl.col(r.key).is_not_null() & pl.col(ev).is_not_null()).select(r.key, ev)
    rows, units = run(keyed.select(pl.len(), pl.col(r.key).n_unique())).row(0)
    if not rows:
        return
    per = run(keyed.group_by(ev).agg(pl.col(r.key).n_unique().alias("units"), pl.len().alias("rows"))
              .sort(["units", ev], descending=[True, False], nulls_last=True).head(200))  # ties by name: not by row order
    names = per.get_column(ev).cast(pl.String).to_list()
    cover = dict(zip(names, per.get_column("units").to_list()))
    fail = [e for e in names if _FAILURE.search(e) and len(e.split()) < 6]
    start = [e for e in names if START_WORDS.search(e) and e not in fail]
    queued = [e for e in names if ENQUEUE_WORDS.search(e) and e not in fail and e not in start]
    done = [e for e in names if SUCCESS_WORDS.search(e) and e not in fail and e not in start]
    if not r.started and start:
        r.started = [max(start, key=lambda e: cover[e])]
        r.why["started"] = f"the start-like event on the most units ({cover[r.started[0]]:,} of {units:,})"
    elif not r.started and queued:
        r.started = [max(queued, key=lambda e: cover[e])]
        r.why["started"] = (f"no start-like event: the enqueue-like event on the most units "
                            f"({cover[r.started[0]]:,} of {units:,})")
    if not r.succeeded and done:
        # a completion is a unit's last word: of the candidates, the one most often last in its unit
        last = run(keyed.filter(pl.col(ev).cast(pl.String).is_in(done)).group_by(r.key).agg(pl.col(ev).last())
                   .group_by(ev).len())
        last_n = dict(zip(last.get_column(ev).cast(pl.String).to_list(), last.get_column("len").to_list()))
        r.succeeded = [max(done, key=lambda e: (last_n.get(e, 0), cover[e]))]
        r.why["succeeded"] = (f"the completion-like event most often last in its unit ({last_n.get(r.succeeded[0], 0):,} "
                              f"of {units:,} units)")
    if not r.failed and fail:
        r.failed = sorted(fail, key=lambda e: -cover[e])[:3]
        r.why["failed"] = "events of units whose name says failed/error/timeout"
    for name in ("started", "succeeded", "failed"):
        r.why.setdefault(name, "no event of the units' rows reads like one")


def _heartbeat(logs: pl.LazyFrame, r: Reading) -> None:
    ev = r.event_column
    if r.heartbeat or ev not in columns(logs):
        return
    top = run(logs.group_by(ev).len().sort(["len", ev], descending=[True, False], nulls_last=True).head(300)
              ).get_column(ev).cast(pl.String).to_list()
    hb = [e for e in top if e and HEARTBEAT_WORDS.search(e) and len(e.split()) < 6]
    r.heartbeat = hb[:2]
    r.why["heartbeat"] = "events named heartbeat/alive/ping/poll" if hb else "no heartbeat-like event"


def structured_events(frame: pl.LazyFrame, ev: str) -> bool:
    """Whether ``ev`` holds event names rather than free-text messages (obsnb.analysis.failures.event_names)."""
    return event_names(frame, ev)


def error_columns(frame: pl.LazyFrame | pl.DataFrame) -> list[str]:
    """Columns that describe an error: its type first (``error_type``, ``exc_type``, ``error.type``), then its text."""
    sch = columns(frame)
    types = [c for c in sch if ERROR_TYPE_NAME.search(c) and sch[c] == pl.String]
    texts = [c for c in sch if ERROR_TEXT_NAME.search(c) and sch[c] == pl.String and c not in types]
    return types + texts


def span_dependency_expr(spans: pl.LazyFrame) -> pl.Expr | None:
    """The dependency a CLIENT/PRODUCER span calls: the first attribute that names one (OTel, Zipkin, Jaeger)."""
    parts = []
    sch = columns(spans)
    for c in DEPENDENCY_SPAN_COLUMNS:
        if c in sch and sch[c] not in (pl.Null,):
            col = pl.col(c).cast(pl.String)
            if c in ("url.full", "http.url"):
                col = col.str.extract(r"^[a-zA-Z][a-zA-Z0-9+.-]*://(?:[^@/]*@)?([^/:?#]+)")
            parts.append(col)
    return pl.coalesce(parts) if parts else None


def _dependency(spans: pl.LazyFrame | None, logs: pl.LazyFrame | None, r: Reading) -> None:
    if spans is not None and count(spans) and r.dependency is None:
        sch = columns(spans)
        have = [c for c in DEPENDENCY_SPAN_COLUMNS if c in sch and sch[c] != pl.Null]
        r.dependency = "(" + " | ".join(have) + ")" if have else "name"
        r.why["dependency"] = ("client/producer spans, first of: " + ", ".join(have)) if have else \
            "client/producer spans carry no peer attribute: their span name"
    if logs is not None:
        sch = columns(logs)
        dur = next((c for c in DURATION_NAMES if c in sch and sch[c].is_numeric()), None)
        if r.log_duration is None and dur:
            r.log_duration = dur
            r.why["log_duration"] = "numeric column named like a duration"
        if r.log_dependency is None:
            cands = [c for c in sch if c not in _NEVER and DEPENDENCY_LOG_NAME.search(c) and _usable(logs, c)]
            st = _stats(logs, cands)
            cands = [c for c in cands if 1 <= st[c][1] <= 200 and st[c][0] > 0]
            if cands:
                r.log_dependency = max(cands, key=lambda c: st[c][0])
                r.why["log_dependency"] = "log field naming an upstream/endpoint/peer"


def read_evidence(logs: pl.LazyFrame | pl.DataFrame | None, spans: pl.LazyFrame | pl.DataFrame | None,
                  hints: dict[str, Any]) -> Reading:
    """Detect the vocabulary of the evidence (aggregates only: counts and distinct values per column, per event);
    hints override what they name."""
    bad = sorted(set(hints) - set(HINTS))
    if bad:
        msg = f"ob.investigate: unknown hint {bad[0]!r}; the hints are: {', '.join(HINTS)}"
        raise UsageError(msg)
    r = Reading()
    for name, v in hints.items():
        if v is None:
            continue
        r.given.add(name)
        if name in ("entity", "started", "succeeded", "failed", "heartbeat"):
            setattr(r, name, _as_list(v))
        elif name == "retry_min_attempts":
            r.retry_min_attempts = int(v)
        else:
            setattr(r, name, str(v))
    logs = logs.lazy() if logs is not None else None
    spans = spans.lazy() if spans is not None else None
    n_logs = count(logs) if logs is not None else 0
    if n_logs:
        if "entity" not in r.given:
            _entities(logs, n_logs, r)
        if "key" not in r.given:
            _key(logs, r)
        _events(logs, r)
        _heartbeat(logs, r)
    _dependency(spans, logs if n_logs else None, r)
    return r
