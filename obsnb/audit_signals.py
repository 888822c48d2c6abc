"""The trace, metric and absence rules of ``ob.audit``: boundaries logged, one trace id per workflow, the metrics
that matter, absence can be alerted on. Rows as in :mod:`obsnb.audit_rules`."""

from __future__ import annotations

import re

import polars as pl

from .analysis.failures import FAILURE_WORDS
from .audit_rules import THRESHOLDS, Evidence, columns, count, first_rows, grade, log_examples, na, row, run, share, worst
from .investigation.findings import fmt_duration
from .investigation.vocabulary import span_dependency_expr

__all__ = ["boundaries", "trace_ids", "metrics_that_matter", "absence", "BOUNDARY_LOG_AFTER_NS"]

BOUNDARY_LOG_AFTER_NS = 10**9  # a call's outcome is logged by the end of the call + 1 s
THROUGHPUT = re.compile(r"(?i)(processed|completed|handled|jobs|tasks|requests|messages|events|records|deliver|"
                        r"received|sent|attempts|runs|total)")
LATENCY = re.compile(r"(?i)(duration|latency|seconds|runtime|elapsed|time|_ms$)")
QUEUE_DEPTH = re.compile(r"(?i)(queue|depth|backlog|pending|lag|length|inflight|in_flight)")
OLDEST_AGE = re.compile(r"(?i)(oldest|age)")
FAILURE_LABEL = r"(?i)(" + FAILURE_WORDS[4:] + r"|^retr(y|ied)$)"
GAUGE_WORDS = re.compile(r"(?i)(active|busy|inflight|in_flight|current|concurrency|info$|build)")
OUTCOME_LABELS = ("outcome", "status", "state", "result", "code", "status_code", "http_status", "error")
MIN_BEATS = 3  # a periodic signal: at least 3 occurrences for the entity


def _span_examples(frame: pl.LazyFrame, n: int = 5) -> list[str]:
    h = first_rows(frame, ("trace_id", "span_id"), n, time="start")
    return [f"trace {t} span {s}" for t, s in zip(h.get_column("trace_id").to_list(), h.get_column("span_id").to_list())]


def boundaries(ev: Evidence) -> dict:
    rule = "boundaries_logged"
    fix = "Log each call to another service, database or queue once it returns: dependency, outcome/status, duration and trace_id."
    sp, lg = ev.spans, ev.logs
    if sp is None or not ev.n_spans:
        return na(rule, "no spans were given: calls to other services cannot be seen", fix)
    calls = sp.filter(pl.col("kind").is_in(["CLIENT", "PRODUCER"]))
    n_calls = count(calls)
    if not n_calls:
        return na(rule, "no client or producer spans: the system calls no other service", fix)
    if lg is None or not ev.n_logs or run(lg.select(pl.col("trace_id").null_count())).item() == ev.n_logs:
        logged = calls.select("span_id").head(0)
    else:
        seen = lg.filter(pl.col("trace_id").is_not_null() & pl.col("span_id").is_not_null()) \
            .select("trace_id", pl.col("span_id").alias("_ls"), pl.col("time").cast(pl.Int64).alias("_lt"))
        c = calls.select("trace_id", "span_id", "parent_span_id", pl.col("start").cast(pl.Int64).alias("_s"),
                         pl.col("end").cast(pl.Int64).alias("_e"))
        hits = []
        for own in ("span_id", "parent_span_id"):  # a log in the call's span, or in its parent's
            j = c.join(seen, left_on=["trace_id", own], right_on=["trace_id", "_ls"], how="inner")
            hits.append(j.filter((pl.col("_lt") >= pl.col("_s")) & (pl.col("_lt") <= pl.col("_e") + BOUNDARY_LOG_AFTER_NS))
                        .select("span_id"))
        # a line with a trace id but no span id: the call's trace, at a time within the call (+ 1 s); the first such
        # line at or after the call's start (an as-of join per trace) decides
        bare = lg.filter(pl.col("trace_id").is_not_null() & pl.col("span_id").is_null()) \
            .select("trace_id", pl.col("time").cast(pl.Int64).alias("_lt")).sort("_lt")
        if count(bare):
            near = c.sort("_s").join_asof(bare, left_on="_s", right_on="_lt", by="trace_id", strategy="forward",
                                         check_sortedness=False)
            hits.append(near.filter(pl.col("_lt") <= pl.col("_e") + BOUNDARY_LOG_AFTER_NS).select("span_id"))
        logged = pl.concat(hits).unique()
    bad = calls.join(logged, on="span_id", how="anti")
    marked = calls.join(bad.select("span_id").unique().with_columns(pl.lit(True).alias("_bad")), on="span_id", how="left")
    dep = span_dependency_expr(calls)
    dep = pl.coalesce([dep, pl.col("name")]) if dep is not None else pl.col("name")
    per = run(marked.with_columns(dep.alias("_dep"), pl.col("_bad").fill_null(False))
              .group_by("_dep").agg(pl.len().alias("calls"), pl.col("_bad").sum().alias("unlogged")).sort("_dep"))
    n_bad = count(bad)
    v = share(n_bad, n_calls)
    by_dep = {str(d): f"{u} of {n} unlogged" for d, n, u in per.iter_rows()}
    nums = {"calls": n_calls, "unlogged_calls": n_bad, "unlogged_share": round(v, 4), "by_dependency": by_dep}
    summary = (f"{n_bad:,} of {n_calls:,} client/producer calls ({v:.1%}) have no log line of their trace while "
               f"they ran (or within 1 s after) in the call's span or its parent, or with the trace id and no span id")
    examples = _span_examples(bad)
    return row(rule, grade(v, *THRESHOLDS[rule]["unlogged_share"]), summary, nums, examples, fix)


def _link_pairs(spans: pl.LazyFrame) -> pl.LazyFrame | None:
    """(trace_id, link_trace_id) of every span link (``obsnb.analysis.timeline.span_links``' pairs, as a query);
    None when the spans carry no links."""
    sch = columns(spans)
    if "links" not in sch or not isinstance(sch["links"], pl.List):
        return None
    inner = sch["links"].inner
    if not isinstance(inner, pl.Struct) or "trace_id" not in [f.name for f in inner.fields]:
        return None
    ex = spans.select("trace_id", "links").filter(pl.col("links").list.len() > 0).explode("links")
    return ex.select("trace_id", pl.col("links").struct.field("trace_id").cast(pl.String).str.to_lowercase()
                     .alias("link_trace_id")).drop_nulls("link_trace_id")


def _unlinked_units(rows: pl.LazyFrame, per: pl.LazyFrame, key: str, spans: pl.LazyFrame | None) -> pl.LazyFrame:
    """Units whose rows carry several trace ids not joined by span links (a queue hop with a link to the producer
    is one workflow): a unit with n trace ids needs n - 1 links among them."""
    several = per.filter(pl.col("n") > 1)
    links = _link_pairs(spans) if spans is not None else None
    if links is None:
        return several
    pairs = rows.filter(pl.col("trace_id").is_not_null()).join(several.select(key), on=key, how="semi") \
        .select(key, "trace_id").unique()
    edges = (links.unique()
             .join(pairs, on="trace_id").join(pairs.rename({"trace_id": "link_trace_id"}), on=["link_trace_id", key])
             .filter(pl.col("trace_id") != pl.col("link_trace_id"))
             .group_by(key).agg(pl.len().alias("edges")))
    return several.join(edges, on=key, how="left").filter(pl.col("edges").fill_null(0) < pl.col("n") - 1).drop("edges")


def trace_ids(ev: Evidence) -> dict:
    rule = "one_trace_id_per_workflow"
    fix = ("Create one trace id at the edge and carry it everywhere (logs, message headers, worker spans), "
           "never starting a new trace mid-workflow.")
    lg, sp, r = ev.logs, ev.spans, ev.reading
    t = THRESHOLDS[rule]
    nums: dict = {}
    verdicts, examples, parts = [], [], []
    no_trace_logs = run(lg.select(pl.col("trace_id").null_count())).item() if lg is not None and ev.n_logs else 0
    if lg is not None and ev.n_logs:
        keyed = bool(r.key and r.key in columns(lg))
        unit_rows = lg.filter(pl.col(r.key).is_not_null()) if keyed else lg
        n_units, n_no_tid = run(unit_rows.select(pl.len().alias("n"), pl.col("trace_id").null_count().alias("t"))).row(0)
        no_tid = unit_rows.filter(pl.col("trace_id").is_null())
        s = share(n_no_tid, n_units)
        nums |= {"log_rows": ev.n_logs, "log_rows_without_trace": int(no_trace_logs),
                 "unit_rows": n_units, "unit_rows_without_trace": n_no_tid,
                 "unit_rows_without_trace_share": round(s, 4)}
        verdicts.append(grade(s, *t["unit_rows_without_trace_share"]))
        examples += log_examples(no_tid, 2)
        parts.append(f"{n_no_tid:,} of {n_units:,} {'unit-of-work ' if r.key else ''}log rows have no trace id")
        if keyed and n_no_tid < n_units:
            per = unit_rows.filter(pl.col("trace_id").is_not_null()).group_by(r.key).agg(pl.col("trace_id").n_unique().alias("n"))
            several = _unlinked_units(unit_rows, per, r.key, sp)
            n_per, n_several = count(per), count(several)
            s = share(n_several, n_per)
            nums |= {"units": n_per, "units_with_several_traces": n_several,
                     "units_with_several_traces_share": round(s, 4)}
            verdicts.append(grade(s, *t["units_with_several_traces_share"]))
            shown = run(several.select(r.key, "n").sort(r.key, maintain_order=True).head(2))
            examples += [f"{r.key}={k} ({n} trace ids)" for k, n in shown.iter_rows()]
            parts.append(f"{n_several:,} of {n_per:,} units carry several trace ids")
    if sp is not None and ev.n_spans:
        ids = sp.select("span_id").unique()
        has_parent = sp.filter(pl.col("parent_span_id").is_not_null())
        orphans = has_parent.join(ids, left_on="parent_span_id", right_on="span_id", how="anti")
        roots = sp.filter(pl.col("parent_span_id").is_null())
        sch = columns(sp)
        link_n = pl.col("links").list.len().fill_null(0) if "links" in sch and isinstance(sch["links"], pl.List) else pl.lit(0)
        # a queue hop is visible when the producer's spans are in the evidence: a consumer that starts a new trace
        # with no link to it broke the workflow's trace
        producers, all_consumers = run(sp.select((pl.col("kind") == "PRODUCER").sum().alias("p"),
                                                 (pl.col("kind") == "CONSUMER").sum().alias("c"))).row(0)
        all_consumers = all_consumers if producers else 0
        consumers = roots.filter(pl.col("kind") == "CONSUMER") if producers else roots.head(0)
        unlinked = consumers.filter(link_n == 0)
        # a call to a service whose own spans are in the evidence, yet with no child span: the callee started a
        # new trace (its server spans are separate roots)
        dep = span_dependency_expr(sp)
        services = run(sp.select(pl.col("service").drop_nulls().unique())).get_column("service")
        to_traced = sp.filter(pl.col("kind") == "CLIENT").with_columns(
            (dep if dep is not None else pl.lit(None, pl.String)).alias("_dep")) \
            .filter(pl.col("_dep").is_in(services.implode()) & (pl.col("_dep") != pl.col("service")))
        childless = to_traced.join(has_parent.select(pl.col("parent_span_id").alias("span_id")).unique(),
                                   on="span_id", how="anti")
        n_traced, n_childless, n_orphans, n_roots, n_unlinked = (count(x) for x in (to_traced, childless, orphans, roots, unlinked))
        s_c = share(n_childless, n_traced)
        nums |= {"calls_to_traced_services": n_traced, "calls_not_continued": n_childless,
                 "calls_not_continued_share": round(s_c, 4)}
        verdicts.append(grade(s_c, *t["calls_not_continued_share"]))
        examples += _span_examples(childless, 2)
        s_o, s_u = share(n_orphans, ev.n_spans), share(n_unlinked, all_consumers)
        nums |= {"spans": ev.n_spans, "orphan_spans": n_orphans, "orphan_span_share": round(s_o, 4),
                 "root_spans": n_roots, "producer_spans": producers, "consumer_spans": all_consumers, "unlinked_consumer_roots": n_unlinked,
                 "unlinked_consumer_root_share": round(s_u, 4)}
        verdicts += [grade(s_o, *t["orphan_span_share"]), grade(s_u, *t["unlinked_consumer_root_share"])]
        examples += _span_examples(orphans, 2) + \
            _span_examples(unlinked, 2)
        parts.append(f"{n_orphans:,} of {ev.n_spans:,} spans have a missing parent; {n_unlinked:,} of "
                     f"{all_consumers:,} consumer spans start a new trace with no link; {n_childless:,} of "
                     f"{n_traced:,} calls to traced services are not continued by the callee")
        if lg is not None and ev.n_logs and no_trace_logs < ev.n_logs:
            lt = lg.select(pl.col("trace_id").drop_nulls().unique())
            missing = lt.join(sp.select(pl.col("trace_id").unique()), on="trace_id", how="anti")
            n_lt, n_missing = count(lt), count(missing)
            s = share(n_missing, n_lt)
            nums |= {"log_trace_ids": n_lt, "log_traces_without_span": n_missing,
                     "log_traces_without_span_share": round(s, 4)}
            verdicts.append(grade(s, *t["log_traces_without_span_share"]))
            first = run(missing.select(pl.col("trace_id").min())).get_column("trace_id").drop_nulls().to_list()
            examples += [f"trace {x} (logs only)" for x in first]
            parts.append(f"{n_missing:,} of {n_lt:,} trace ids in the logs match no span")
    if not verdicts:
        return na(rule, "no logs or spans were given", fix)
    return row(rule, worst(*verdicts), "; ".join(parts), nums, examples, fix)


def _metric_kinds(me: pl.LazyFrame) -> pl.DataFrame:
    """One row per series name: its type (the source's, or guessed from the name), and how many of its samples
    carry a ``quantile`` label (a summary's)."""
    sch = columns(me)
    kind = pl.col("_type").drop_nulls().first() if "_type" in sch else pl.lit(None, pl.String)
    quantiles = pl.col("quantile").is_not_null().sum() if "quantile" in sch else pl.lit(0)
    names = run(me.group_by("metric").agg(kind.alias("type"), quantiles.cast(pl.Int64).alias("_q")))
    return names.with_columns(pl.col("metric").cast(pl.String))


def metrics_that_matter(ev: Evidence) -> dict:
    rule = "metrics_that_matter"
    fix = ("Export a jobs counter with an outcome label, a duration histogram (P95, not an average), queue depth and "
           "the age of the oldest queued job.")
    me = ev.metrics
    if me is None or not count(me):
        return na(rule, "no metrics were given", fix)
    kinds = _metric_kinds(me)
    names = kinds.get_column("metric").to_list()
    types = dict(kinds.select("metric", "type").iter_rows())
    with_q = set(kinds.filter(pl.col("_q") > 0).get_column("metric").to_list())
    base = {re.sub(r"(_bucket|_sum|_count)$", "", n) for n in names}
    is_hist = {b for b in base if f"{b}_bucket" in names or types.get(b) == "histogram"}
    summaries = {re.sub(r"_(sum|count)$", "", n) for n in names} if "quantile" in columns(me) else set()
    summaries = {b for b in summaries if b in with_q}
    hist_parts = {n for n in names if re.sub(r"(_bucket|_sum|_count)$", "", n) in is_hist | summaries}
    counters = sorted(n for n in names if n not in hist_parts and (
        types.get(n) == "counter" or n.endswith("_total") or
        (types.get(n) is None and THROUGHPUT.search(n) and not GAUGE_WORDS.search(n) and not QUEUE_DEPTH.search(n)
         and not OLDEST_AGE.search(n))))
    throughput = [n for n in counters if THROUGHPUT.search(n) and not re.search(FAILURE_WORDS, n)]
    fail_named = [n for n in counters if re.search(FAILURE_WORDS, n)]
    labels = [c for c in OUTCOME_LABELS if c in columns(me)]
    labelled = []
    for c in labels:
        hit = me.filter(pl.col("metric").is_in(counters) & pl.col(c).cast(pl.String).str.contains(FAILURE_LABEL).fill_null(False))
        labelled += run(hit.select(pl.col("metric").cast(pl.String).unique())).get_column("metric").to_list()
    failure = sorted(set(fail_named) | set(labelled))
    latency = sorted(b for b in is_hist | summaries if LATENCY.search(b))
    avg_only = sorted(n for n in names if LATENCY.search(n) and n not in hist_parts and n not in counters
                      and not QUEUE_DEPTH.search(n) and not OLDEST_AGE.search(n))
    gauges = [n for n in names if n not in counters and re.sub(r"(_bucket|_sum|_count)$", "", n) not in is_hist]
    depth = sorted(n for n in gauges if QUEUE_DEPTH.search(n) and not OLDEST_AGE.search(n))
    age = sorted(n for n in gauges if OLDEST_AGE.search(n))
    queued = bool(ev.spans is not None and ev.n_spans and
                  count(ev.spans.filter(pl.col("kind").is_in(["PRODUCER", "CONSUMER"])))) or bool(depth)
    verdicts = ["pass" if throughput else "fail", "pass" if failure else "fail",
                "pass" if latency else "warn" if avg_only else "fail"]
    missing = [w for w, ok in (("throughput counter", throughput), ("failure counter", failure),
                               ("latency histogram", latency)) if not ok]
    if queued:
        verdicts += ["pass" if depth else "warn", "pass" if age else "warn"]
        missing += [w for w, ok in (("queue depth", depth), ("oldest-job age", age)) if not ok]
    nums = {"series": len(names), "throughput": ", ".join(throughput), "failure": ", ".join(failure),
            "latency_histogram": ", ".join(latency), "average_only_latency": ", ".join(avg_only),
            "queue_depth": ", ".join(depth), "oldest_job_age": ", ".join(age), "queued_work": queued}
    have = [f"{k.replace('_', ' ')} {v}" for k, v in nums.items() if isinstance(v, str) and v and k != "average_only_latency"]
    summary = ("has " + "; ".join(have) if have else "no metric that matters") + \
        (f"; missing: {', '.join(missing)}" if missing else "") + \
        (f"; average-only latency: {nums['average_only_latency']}" if avg_only and not latency else "")
    return row(rule, worst(*verdicts), summary, nums, [], fix)


def absence(ev: Evidence) -> dict:
    rule = "absence_can_be_alerted_on"
    fix = ("Have every worker log (or export) a heartbeat at a fixed cadence and alert when a worker's heartbeats or "
           "completions stop.")
    lg, r = ev.logs, ev.reading
    if lg is None or not ev.n_logs:
        return na(rule, "no logs were given", fix)
    sch = columns(lg)
    ents = [c for c in r.entity if c != "service" and c in sch] or [c for c in r.entity if c in sch]
    if not ents or not (r.started or r.succeeded or r.heartbeat):
        return na(rule, "no column names a worker-like entity (worker, host, instance, pod, consumer) that does work", fix)
    ent, col = ents[0], r.event_column
    ev_s = pl.col(col).cast(pl.String)
    beats = ev_s.is_in(r.heartbeat) if r.heartbeat else pl.lit(False)
    done = ev_s.is_in(r.succeeded) if r.succeeded else pl.lit(False)
    work = [*r.started, *r.succeeded, *r.heartbeat]
    workers = lg.filter(pl.col(ent).is_not_null() & ev_s.is_in(work)).select(pl.col(ent).cast(pl.String).alias("_ent")).unique()
    rows = lg.select(pl.col(ent).cast(pl.String).alias("_ent"), pl.col("time").cast(pl.Int64).alias("_t"),
                     beats.fill_null(False).alias("_hb"), done.fill_null(False).alias("_ok")) \
        .join(workers, on="_ent", how="semi")
    per = run(rows.group_by("_ent").agg(pl.col("_hb").sum().alias("beats"), pl.col("_ok").sum().alias("completions"),
                                        pl.col("_t").filter(pl.col("_hb")).sort().diff().median().alias("hb_gap"),
                                        pl.col("_t").filter(pl.col("_ok")).sort().diff().median().alias("ok_gap")).sort("_ent"))
    out, verdicts, examples = {}, [], []
    for name, nb, nc, hg, og in per.iter_rows():
        if nb >= MIN_BEATS:
            out[name] = f"heartbeat every {fmt_duration(hg)}"
            verdicts.append("pass")
        elif nc >= MIN_BEATS:
            out[name] = f"completions only, median every {fmt_duration(og)}"
            verdicts.append("warn")
        else:
            out[name] = "no periodic signal"
            verdicts.append("fail")
            examples.append(f"{ent}={name}")
    if any(v == "warn" for v in verdicts):
        examples += [f"{ent}={k} (completions only)" for k, v in out.items() if v.startswith("completions")]
    n_hb = sum(v == "pass" for v in verdicts)
    nums = {"entity_column": ent, "entities": len(out), "with_heartbeat": n_hb,
            "completions_only": sum(v == "warn" for v in verdicts), "without_signal": sum(v == "fail" for v in verdicts),
            "signal": out}
    summary = (f"{n_hb} of {len(out)} {ent} values log a heartbeat; {nums['completions_only']} only complete work "
               f"(idle and dead look alike); {nums['without_signal']} have no periodic signal")
    return row(rule, worst(*verdicts), summary, nums, examples, fix)
