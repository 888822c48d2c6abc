"""Generate the ``stream`` public incident (``sample_data/incidents/stream/``) by running a small system.

The system is real instrumented code run in-process on simulated time, in the shape of a Kafka consumer
group: smart meters publish readings to the four partitions of the ``meter-readings`` topic; the
``reading-enricher`` group runs one consumer pod per partition (``enricher-0`` .. ``enricher-3``, static
membership). Each consumer polls a batch of up to 5 records, and for each record asks the downstream
``tariff-service`` over HTTP for the meter's tariff (12 s client timeout, one retry), writes the enriched
reading to Cassandra and commits the record's offset.

Telemetry comes from the real libraries: structlog rendered by ``structlog.processors.LogfmtRenderer``
(``timestamp``/``level``/``event`` first, then the bound and call fields) and OpenTelemetry SDK spans
written by opentelemetry-exporter-zipkin-json's own ``JsonV2Encoder``, one exporter POST body (a JSON list
of spans) per line, as the exporter would send them in batches of 512. There are no metrics.

Injected faults: ``tariff-service`` slows down for 45 minutes (p95 from ~80 ms to seconds, a handful of
timeouts: a latency regression, not an error spike), so consumer lag grows; ``enricher-3`` freezes right
after a commit during the slowdown and never logs again (no heartbeat either), and since its static
membership keeps partition 3 assigned, the records it had polled are never committed. The generator writes
what it did to ``ground_truth.json`` and ``README.md``.

Run: ``python scripts/gen_incident_stream.py [OUT_DIR]`` (needs the ``sample`` extra). Deterministic.
"""

from __future__ import annotations

import collections
import datetime as dt
import io
import json
import pathlib
import sys

import numpy as np
import structlog
from opentelemetry import trace
from opentelemetry.exporter.zipkin.json.v2 import JsonV2Encoder
from opentelemetry.exporter.zipkin.node_endpoint import NodeEndpoint
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from gen_incident_common import (MS, S, UTC, Clock, EventLoop, SeededIds, iso, ns_of, p95,  # noqa: E402
                                 tracer_provider, write_gz)

NAME = "stream"
SEED = 20261020
DAY = dt.datetime(2026, 10, 20, tzinfo=UTC)


def at(hh_mm_ss: str) -> int:
    h, m, s = (int(x) for x in hh_mm_ss.split(":"))
    return ns_of(DAY.replace(hour=h, minute=m, second=s))


T0, T_END = at("13:00:00"), at("15:45:00")
WINDOW = (at("14:15:00"), at("15:30:00"))
FAULTS = {
    "tariff_slow": (at("14:20:00"), at("15:05:00")),  # tariff-service median ~5 s instead of ~45 ms
    "freeze_after": at("14:48:00"),  # enricher-3 freezes right after its first commit after this
}
TOPIC = "meter-readings"
GROUP = "reading-enricher"
PODS = ("enricher-0", "enricher-1", "enricher-2", "enricher-3")
FROZEN = "enricher-3"
RATE_PER_S = 0.9  # readings per second over the four partitions
MAX_POLL_RECORDS = 5
TIMEOUT_S = 12.0
HEARTBEAT_NS = 30 * S
VERSION = "3.7.1"

# ------------------------------------------------------------------------------------------ telemetry

LOG_SINK = io.StringIO()
LOG_ROWS: list[tuple[int, str, str, dict]] = []  # what was logged: (ns, level, event, fields)


def _sim_time(_, __, event_dict):
    """structlog processor: the simulated clock as an ISO-8601 UTC timestamp with milliseconds."""
    event_dict["timestamp"] = iso(Clock.now)
    return event_dict


def _trace_ids(_, __, event_dict):
    """structlog processor: the current OpenTelemetry span's ids."""
    ctx = trace.get_current_span().get_span_context()
    if ctx.is_valid:
        event_dict["trace_id"] = format(ctx.trace_id, "032x")
        event_dict["span_id"] = format(ctx.span_id, "016x")
    return event_dict


def _record(_, level, event_dict):
    LOG_ROWS.append((Clock.now, event_dict["level"], event_dict["event"], dict(event_dict)))
    return event_dict


def setup_logging():
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            _sim_time,
            _trace_ids,
            _record,
            structlog.processors.LogfmtRenderer(key_order=["timestamp", "level", "event"]),
        ],
        logger_factory=structlog.WriteLoggerFactory(file=LOG_SINK),
        wrapper_class=structlog.make_filtering_bound_logger(20),
        cache_logger_on_first_use=False,
    )
    return structlog.get_logger()


# ------------------------------------------------------------------------------------------ the system


class TariffService:
    """The downstream enrichment service: latency per call, slow during the fault window."""

    def __init__(self, rng):
        self.rng = rng

    def latency(self) -> float:
        lo, hi = FAULTS["tariff_slow"]
        if lo <= Clock.now < hi:
            return float(self.rng.lognormal(np.log(5.0), 0.35))
        return float(self.rng.lognormal(np.log(0.045), 0.35))


class Partition:
    def __init__(self, n: int):
        self.n = n
        self.records: list[dict] = []  # every record produced, by offset
        self.position = 0  # next offset the owner fetches
        self.committed = 0  # next offset after the last commit

    @property
    def lag(self) -> int:
        return len(self.records) - self.committed


class Consumer:
    """One consumer pod: poll a batch, then enrich, write and commit each record in turn."""

    def __init__(self, pod: str, partition: Partition, sim: "Sim"):
        self.pod, self.part, self.sim = pod, partition, sim
        self.log = sim.log.bind(service=GROUP, pod=pod, version=VERSION)
        self.tracer = tracer_provider(
            sim.exporter, sim.ids, **{"service.name": GROUP, "service.version": VERSION,
                                      "service.instance.id": pod, "k8s.pod.name": pod,
                                      "k8s.namespace.name": "metering"},
        ).get_tracer("kafka-consumer", "2.4.0")
        self.waiting = False
        self.frozen = False
        self.batch: collections.deque = collections.deque()
        self.committed_n = 0
        self.log.info("consumer_started", group=GROUP, topic=TOPIC, max_poll_records=MAX_POLL_RECORDS,
                      group_instance_id=pod)
        self.log.info("partitions_assigned", topic=TOPIC, partitions=str(partition.n))
        sim.loop.schedule(T0 + int(sim.rng.uniform(1, 29) * S), self.heartbeat)
        sim.loop.schedule(T0 + int(sim.rng.uniform(0.1, 0.9) * S), self.poll)

    def heartbeat(self) -> None:
        if self.frozen:
            return
        self.log.info("consumer_heartbeat", partition=self.part.n, lag=self.part.lag,
                      committed_offset=self.part.committed, committed_since_start=self.committed_n)
        self.sim.loop.schedule(Clock.now + HEARTBEAT_NS, self.heartbeat)

    def poll(self) -> None:
        if self.frozen:
            return
        p = self.part
        if p.position >= len(p.records):
            self.waiting = True  # long poll: woken by the next record of the partition
            return
        self.waiting = False
        take = p.records[p.position:p.position + MAX_POLL_RECORDS]
        p.position += len(take)
        for rec in take:
            span = self.tracer.start_span(
                f"{TOPIC} process", kind=SpanKind.CONSUMER, start_time=Clock.now,
                attributes={"messaging.system": "kafka", "messaging.destination.name": TOPIC,
                            "messaging.operation.type": "process", "messaging.consumer.group.name": GROUP,
                            "messaging.destination.partition.id": str(p.n),
                            "messaging.kafka.offset": rec["offset"], "messaging.kafka.message.key": rec["key"]},
            )
            rec["span"] = span
            with trace.use_span(span):
                self.log.info("message_received", message_id=rec["id"], partition=p.n, offset=rec["offset"],
                              key=rec["key"], produced_ms_ago=round((Clock.now - rec["produced"]) / MS, 1))
            self.sim.received.append((rec["id"], self.pod, Clock.now))
            self.batch.append(rec)
        self.process_next()

    def process_next(self) -> None:
        if not self.batch:
            self.sim.loop.schedule(Clock.now + int(self.sim.rng.uniform(1, 4) * MS), self.poll)
            return
        rec = self.batch[0]
        span = rec["span"]
        t = Clock.now + int(self.sim.rng.uniform(0.2, 0.8) * MS)
        self.sim.loop.schedule(t, lambda: self.enrich(rec, span, attempt=1))

    def enrich(self, rec: dict, span, attempt: int) -> None:
        """One call to tariff-service: a CLIENT span; its end is scheduled, the consumer waits."""
        took = self.sim.tariff.latency()
        timed_out = took > TIMEOUT_S
        took = TIMEOUT_S + float(self.sim.rng.uniform(0.001, 0.01)) if timed_out else took
        t0, t1 = Clock.now, Clock.now + int(took * S)
        sp = self.tracer.start_span(
            "GET /v1/tariffs/{meter_id}", context=trace.set_span_in_context(span), kind=SpanKind.CLIENT,
            start_time=t0,
            attributes={"http.request.method": "GET", "peer.service": "tariff-service",
                        "server.address": "tariff-service.metering.svc", "server.port": 8080,
                        "url.full": f"http://tariff-service.metering.svc:8080/v1/tariffs/{rec['key']}"},
        )
        if timed_out:
            sp.set_status(Status(StatusCode.ERROR, f"ReadTimeout: no answer within {TIMEOUT_S:g}s"))
            sp.set_attribute("error.type", "ReadTimeout")
        else:
            sp.set_attribute("http.response.status_code", 200)
        sp.end(end_time=t1)
        self.sim.calls.append((t0, t1, timed_out))
        self.sim.loop.schedule(t1, lambda: self.enriched(rec, span, attempt, timed_out, took))

    def enriched(self, rec, span, attempt, timed_out, took) -> None:
        rec.setdefault("enrich_ms", 0.0)
        rec["enrich_ms"] += took * 1000
        if timed_out:
            with trace.use_span(span):
                if attempt == 1:
                    self.log.warning("enrichment_timeout", message_id=rec["id"], attempt=attempt,
                                     dependency="tariff-service", timeout_s=TIMEOUT_S)
                    self.enrich(rec, span, attempt=2)
                    return
                self.log.error("message_dead_lettered", message_id=rec["id"], partition=self.part.n,
                               offset=rec["offset"], reason="tariff-service timed out twice",
                               dlq_topic=f"{TOPIC}.dlq")
            self.commit(rec, span, dead=True)
            return
        t0 = Clock.now + int(self.sim.rng.uniform(0.1, 0.5) * MS)
        t1 = t0 + int(self.sim.rng.lognormal(np.log(0.004), 0.3) * S)
        db = self.tracer.start_span(
            "INSERT readings.enriched_readings", context=trace.set_span_in_context(span), kind=SpanKind.CLIENT,
            start_time=t0,
            attributes={"db.system": "cassandra", "db.namespace": "readings", "db.operation.name": "INSERT",
                        "peer.service": "cassandra", "server.address": "cassandra-0.metering.svc"},
        )
        db.end(end_time=t1)
        self.sim.loop.schedule(t1, lambda: self.commit(rec, span, dead=False))

    def commit(self, rec, span, dead: bool) -> None:
        p = self.part
        p.committed = rec["offset"] + 1
        self.batch.popleft()
        if not dead:
            with trace.use_span(span):
                self.log.info("message_committed", message_id=rec["id"], partition=p.n, offset=rec["offset"],
                              enrich_ms=round(rec["enrich_ms"], 1),
                              e2e_ms=round((Clock.now - rec["produced"]) / MS, 1))
            self.sim.commits.append((self.pod, Clock.now))
        else:
            span.set_status(Status(StatusCode.ERROR, "dead-lettered: tariff-service timed out twice"))
        span.end(end_time=Clock.now)
        self.committed_n += 1
        if self.pod == FROZEN and not dead and Clock.now >= FAULTS["freeze_after"]:
            self.frozen = True  # the process stops here: no log line, no span, no heartbeat, ever again
            self.sim.truth["frozen_at"] = Clock.now
            self.sim.truth["stalled"] = [r["id"] for r in self.batch]
            return
        self.process_next()


class Sim:
    def __init__(self):
        self.rng = np.random.default_rng(SEED)
        self.ids = SeededIds(SEED + 1)
        self.exporter = InMemorySpanExporter()
        self.loop = EventLoop()
        Clock.now = T0
        self.log = setup_logging()
        self.tariff = TariffService(self.rng)
        self.parts = [Partition(n) for n in range(len(PODS))]
        self.received: list = []
        self.commits: list = []
        self.calls: list = []
        self.truth: dict = {}
        self.consumers = [Consumer(pod, self.parts[i], self) for i, pod in enumerate(PODS)]

    def run(self) -> None:
        t = T0 + int(self.rng.exponential(1 / RATE_PER_S) * S)
        n = 0
        while t < T_END:
            n += 1
            self.loop.schedule(t, lambda n=n: self.produce(n))
            t += int(self.rng.exponential(1 / RATE_PER_S) * S)
        self.loop.run(T_END)

    def produce(self, n: int) -> None:
        meter = int(self.rng.integers(1, 6000))
        p = self.parts[meter % len(self.parts)]
        rec = {"offset": len(p.records), "key": f"MTR-{meter:06d}", "produced": Clock.now}
        rec["id"] = f"{TOPIC}-{p.n}@{rec['offset']}"
        p.records.append(rec)
        c = self.consumers[p.n]
        if c.waiting and not c.frozen:
            c.waiting = False
            self.loop.schedule(Clock.now + int(self.rng.uniform(1, 6) * MS), c.poll)


# ------------------------------------------------------------------------------------------ writers


def write_traces(spans, path: pathlib.Path, batch: int = 512) -> None:
    """What opentelemetry-exporter-zipkin-json sends: per pod, batches of ended spans, each one POST body
    (``JsonV2Encoder.serialize``, a JSON list) on its own line."""
    encoder = JsonV2Encoder()
    by_pod: dict[str, list] = collections.OrderedDict((pod, []) for pod in PODS)
    for sp in sorted(spans, key=lambda s: (s.end_time, s.context.span_id)):
        by_pod[sp.resource.attributes["service.instance.id"]].append(sp)
    lines = []
    for pod, sps in by_pod.items():
        endpoint = NodeEndpoint()
        endpoint.service_name = sps[0].resource.attributes["service.name"]
        for i in range(0, len(sps), batch):
            lines.append((sps[i].end_time, encoder.serialize(sps[i:i + batch], endpoint)))
    lines.sort(key=lambda x: x[0])
    write_gz(path, "".join(body + "\n" for _, body in lines))


# ------------------------------------------------------------------------------------------ ground truth


def _us_round(ns: int) -> int:
    return (ns + 500) // 1000  # what the Zipkin encoder writes


def ground_truth(sim: Sim, counts: dict) -> dict:
    lo, hi = FAULTS["tariff_slow"]
    lo_us, hi_us = lo // 1000, hi // 1000
    rows = [(_us_round(t0), (_us_round(t1 - t0)) / 1000, err) for t0, t1, err in sim.calls]
    before = [r for r in rows if r[0] < lo_us]
    during = [r for r in rows if lo_us <= r[0] < hi_us]
    frozen_commits = [t for pod, t in sim.commits if pod == FROZEN]
    errors = sorted((t, e) for t, lvl, e, _ in LOG_ROWS if lvl in ("error", "critical"))
    peak = max((f["lag"], t, f["pod"]) for t, _, e, f in LOG_ROWS
               if e == "consumer_heartbeat" and f["pod"] != FROZEN)
    # recovery: for each other pod, its first heartbeat after the slowdown that reports lag 0
    recovered = max(min(t for t, _, e, f in LOG_ROWS if e == "consumer_heartbeat" and f["pod"] == pod
                        and t >= hi and f["lag"] == 0) for pod in PODS if pod != FROZEN)
    facts = [
        {"kind": "degraded_dependency", "column": "peer.service", "value": "tariff-service",
         "start": iso(lo), "end": iso(hi), "mode": "slow",
         "calls_before": len(before), "calls_during": len(during),
         "errors_before": sum(r[2] for r in before), "errors_during": sum(r[2] for r in during),
         "p95_before_ms": p95([r[1] for r in before]), "p95_during_ms": p95([r[1] for r in during])},
        {"kind": "silence", "column": "pod", "value": FROZEN, "last_completion": iso(max(frozen_commits)),
         "resumed": None, "heartbeats_continue": False},
        {"kind": "stall", "column": "message_id", "values": sim.truth["stalled"]},
    ]
    if errors:
        facts.append({"kind": "first_error", "time": iso(errors[0][0]), "event": errors[0][1]})
    return {
        "name": NAME,
        "system": "Kafka-style stream consumer group: four reading-enricher pods consume meter-readings, enrich "
                  "each record from tariff-service over HTTP, write it to Cassandra and commit its offset",
        "window": {"start": iso(WINDOW[0]), "end": iso(WINDOW[1])},
        "evidence": {"logs": "logs", "traces": "traces/zipkin.json.gz", "metrics": None},
        "counts": counts,
        "vocabulary": {"entity_column": "pod", "unit_key": "message_id", "started": "message_received",
                       "succeeded": "message_committed", "failed": "message_dead_lettered",
                       "heartbeat": "consumer_heartbeat", "dependency_column": "peer.service"},
        "facts": facts,
        "details": {
            "frozen_at": iso(sim.truth["frozen_at"]),
            "records_produced": sum(len(p.records) for p in sim.parts),
            "records_committed": len(sim.commits),
            "dead_lettered": sum(1 for _, _, e, _ in LOG_ROWS if e == "message_dead_lettered"),
            "timeouts": sum(1 for _, _, e in sim.calls if e),
            "partition_3_lag_at_end": sim.parts[3].lag,
            "peak_lag_other_pods": {"lag": peak[0], "time": iso(peak[1]), "pod": peak[2]},
            "lag_back_to_zero": iso(recovered),
        },
    }


README = """# Public incident `stream`: a slow enrichment service, consumer lag, and a consumer that froze

Produced by `scripts/gen_incident_stream.py` (seed {seed}): a Kafka-style consumer group run as real
instrumented code on simulated time. Smart meters publish readings to the four partitions of
`{topic}`; the `{group}` group runs one pod per partition (`enricher-0` .. `enricher-3`, static
membership: a pod keeps its partition while its session lasts). A pod polls up to {max_poll} records,
then for each one asks `tariff-service` over HTTP for the meter's tariff ({timeout:g} s client timeout, one
retry, dead-lettered after a second timeout), writes the enriched reading to Cassandra (`cassandra`) and
commits the offset. Regenerate with `python scripts/gen_incident_stream.py [OUT_DIR]` (needs
`pip install -e '.[sample]'`); the output is byte-for-byte deterministic. Every value below is written by
the generator from its own state; `ground_truth.json` holds the same facts for the tests.

| file | what |
|---|---|
| `logs/reading-enricher.log.gz` | structlog through `LogfmtRenderer` (`timestamp=... level=info event=...` then `service`, `pod`, `version`, the call's fields, `trace_id`, `span_id`): `consumer_started`, `partitions_assigned`, `message_received`, `message_committed`, `enrichment_timeout`, `message_dead_lettered`, `consumer_heartbeat` (every 30 s, with the partition's `lag`) ({log_lines} lines) |
| `traces/zipkin.json.gz` | Zipkin v2 JSON written by opentelemetry-exporter-zipkin-json's `JsonV2Encoder`: one exporter POST body (a list of up to 512 spans of one pod) per line ({spans} spans). Each record is the root of its own trace: `{topic} process` (CONSUMER), `GET /v1/tariffs/{{meter_id}}` (CLIENT, `peer.service=tariff-service`), `INSERT readings.enriched_readings` (CLIENT, `peer.service=cassandra`). |

No metrics: lag is only what the pods log in their heartbeats.

## Ground truth (window {w_start} to {w_end}; evidence from {t0} to {t_end})

* **tariff-service slows down** from {slow_start} to {slow_end} (mode `slow`): its latency goes from a median of
  ~45 ms to ~5 s. Over the CLIENT spans with `peer.service=tariff-service`, by span start: before
  {slow_start}, {calls_before} calls, {errors_before} errors (span status ERROR), p95 {p95_before} ms; in
  [{slow_start}, {slow_end}), {calls_during} calls, {errors_during} errors (`ReadTimeout`), p95 {p95_during} ms.
  p95 is numpy's default (linear) percentile of `duration_ms`. A latency regression, not an error spike.
* **Lag grows**: the heartbeats' `lag` of the other pods peaks at {peak_lag} records ({peak_pod}, {peak_time})
  and is back to 0 on every one of them by {recovered} (recovery: the first heartbeat after the slowdown
  at which each reports lag 0).
* **Silent consumer, no heartbeat**: `{frozen}` committed its last record at {last_completion} and froze: no line
  at all after that (no `consumer_heartbeat` either) until the end of the evidence, a trailing silence. Its
  partition stays assigned to it, unconsumed: {p3_lag} records behind at the end.
* **Stalled records**: the {n_stalled} records `{frozen}` had polled and not processed when it froze have a
  `message_received` and no `message_committed` nor `message_dead_lettered`: {stalled}.
{first_error_line}* {produced} records produced, {committed} committed, {dead} dead-lettered; {timeouts} tariff-service timeouts in all.
"""


def write_readme(path: pathlib.Path, t: dict, d: dict) -> None:
    f = {x["kind"]: x for x in t["facts"]}
    dd = f["degraded_dependency"]
    fe = f.get("first_error")
    first_error_line = (f"* **First error** {fe['time']}: the first line at level error, a `{fe['event']}`.\n"
                        if fe else "* No line at level error.\n")
    path.write_text(README.format(
        seed=SEED, topic=TOPIC, group=GROUP, max_poll=MAX_POLL_RECORDS, timeout=TIMEOUT_S,
        log_lines=t["counts"]["log_lines"], spans=t["counts"]["spans"], w_start=t["window"]["start"],
        w_end=t["window"]["end"], t0=iso(T0), t_end=iso(T_END), slow_start=dd["start"], slow_end=dd["end"],
        calls_before=dd["calls_before"], errors_before=dd["errors_before"], p95_before=dd["p95_before_ms"],
        calls_during=dd["calls_during"], errors_during=dd["errors_during"], p95_during=dd["p95_during_ms"],
        peak_lag=d["peak_lag_other_pods"]["lag"], peak_pod=d["peak_lag_other_pods"]["pod"],
        peak_time=d["peak_lag_other_pods"]["time"], recovered=d["lag_back_to_zero"], frozen=FROZEN, last_completion=f["silence"]["last_completion"],
        p3_lag=d["partition_3_lag_at_end"], n_stalled=len(f["stall"]["values"]),
        stalled=", ".join(f"`{v}`" for v in f["stall"]["values"]), first_error_line=first_error_line,
        produced=d["records_produced"], committed=d["records_committed"], dead=d["dead_lettered"],
        timeouts=d["timeouts"],
    ))


def main(out: pathlib.Path) -> None:
    sim = Sim()
    sim.run()
    write_gz(out / "logs" / "reading-enricher.log.gz", LOG_SINK.getvalue())
    spans = sim.exporter.get_finished_spans()
    write_traces(spans, out / "traces" / "zipkin.json.gz")
    counts = {"log_lines": LOG_SINK.getvalue().count("\n"), "spans": len(spans), "metric_samples": None}
    truth = ground_truth(sim, counts)
    details = truth.pop("details")  # README only: ground_truth.json keeps to the shared schema
    (out / "ground_truth.json").write_text(json.dumps(truth, indent=2) + "\n")
    write_readme(out / "README.md", truth, details)
    for p in sorted(out.rglob("*.gz")):
        print(f"{p.relative_to(out)}  {p.stat().st_size:,} B")


if __name__ == "__main__":
    main(pathlib.Path(sys.argv[1]) if len(sys.argv) > 1
         else pathlib.Path(__file__).parents[1] / "sample_data" / "incidents" / NAME)
