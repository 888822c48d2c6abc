"""Generate the ``taskqueue`` public incident (``sample_data/incidents/taskqueue/``) by running a small system.

The system is real instrumented code run in-process on simulated time, in the shape of a Celery deployment:
``intake-api`` answers ``POST /v1/resolve`` and sends a ``geo.resolve_address`` task to the ``geo`` queue of a
broker (the W3C ``traceparent`` travels in the task message's headers); four ``geo-worker`` processes
(hostnames ``celery@w1`` .. ``celery@w4``, one slot each) run the tasks: a Redis cache lookup and, on a miss,
the external geocoding HTTP API, then a cache write.

Telemetry comes from the real libraries: loguru (one JSON object per line through a loguru format built
from the record, because loguru's own ``serialize=True`` output does not load: see the README), the
OpenTelemetry SDK (spans, converted to the Jaeger query API's JSON, ``{"data": [trace, ...]}``, since no
exporter writes that), and prometheus_client registries scraped every 15 s into Prometheus text exposition
format with millisecond timestamps (a restarted worker starts a new registry: its counters reset).

Injected faults: a rolling deploy of geo-worker 4.2.0 -> 4.3.0 (retries every exception forever, takes a
Redis refresh lock with no timeout); celery@w3 blocks on that lock and keeps heartbeating without
finishing a task until it is restarted; one address the geocoder rejects (422) is retried 30+ times until an
operator revokes the task. The generator writes what it did to ``ground_truth.json`` and ``README.md``.

Run: ``python scripts/gen_incident_taskqueue.py [OUT_DIR]`` (needs the ``sample`` extra). Deterministic.
"""

from __future__ import annotations

import collections
import datetime as dt
import hashlib
import json
import pathlib
import sys

import numpy as np
from loguru import logger as _loguru
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.utils import floatToGoString

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from gen_incident_common import (MS, S, UTC, US, Clock, EventLoop, SeededIds, iso, ns_of,  # noqa: E402
                                 seeded_uuid, tracer_provider, write_gz)

NAME = "taskqueue"
SEED = 20260914
DAY = dt.datetime(2026, 9, 14, tzinfo=UTC)


def at(hh_mm_ss: str) -> int:
    h, m, s = (int(x) for x in hh_mm_ss.split(":"))
    return ns_of(DAY.replace(hour=h, minute=m, second=s))


T0, T_END = at("08:00:00"), at("11:15:00")
WINDOW = (at("09:15:00"), at("10:45:00"))
FAULTS = {
    "deploy": at("09:20:00"),  # rolling restart of the workers into 4.3.0, 40 s apart
    "poison_send": at("09:31:12"),  # an address the geocoder answers 422 for, whatever the retry
    "w3_stuck_after": at("09:48:00"),  # w3's first cache refresh after this blocks on the lock forever
    "w3_restart": at("10:29:30"),  # on-call restarts celery@w3; its task is redelivered (acks_late)
    "revoke": at("10:38:00"),  # on-call revokes the retrying task
}
OLD, NEW = "4.2.0", "4.3.0"
TASK = "geo.resolve_address"
QUEUE = "geo"
HOSTS = ("w1", "w2", "w3", "w4")
STUCK = "w3"
HEARTBEAT_NS = 60 * S
SCRAPE_NS = 15 * S
RETRY_COUNTDOWN_S = {"GeocoderUnavailable": 10, "AddressRejected": 100}
POISON_ADDRESS = "Flat 7, 0000 Nowhere Rd, ZZ99 9ZZ"

# ------------------------------------------------------------------------------------------ telemetry

LOG_SINKS: dict[str, list[str]] = {"intake-api": [], "geo-worker": []}
LOG_TIMES: list[tuple[int, str, str, dict]] = []  # (ns, level, event, extra): what was logged, for the truth


def _serialize(record) -> str:
    """loguru record -> one JSON object (the custom-serialisation recipe of loguru's documentation)."""
    extra = dict(record["extra"])
    out = {"time": iso(Clock.now), "level": record["level"].name, "message": record["message"]}
    for k in ("service", "hostname", "pid", "trace_id", "span_id"):
        if extra.get(k) is not None:
            out[k] = extra.pop(k)
        else:
            extra.pop(k, None)
    extra.pop("serialized", None)
    out.update(extra)
    return json.dumps(out, separators=(",", ":"), ensure_ascii=False)


def _patch(record) -> None:
    """Simulated time and the current span's ids on every record, then its JSON form."""
    record["time"] = dt.datetime.fromtimestamp(Clock.now / S, tz=UTC)
    ctx = trace.get_current_span().get_span_context()
    if ctx.is_valid:
        record["extra"]["trace_id"] = format(ctx.trace_id, "032x")
        record["extra"]["span_id"] = format(ctx.span_id, "016x")
    record["extra"]["serialized"] = _serialize(record)
    LOG_TIMES.append((Clock.now, record["level"].name, record["message"], dict(record["extra"])))


def setup_logging():
    _loguru.remove()
    for service, lines in LOG_SINKS.items():
        _loguru.add(lines.append, format="{extra[serialized]}", level="INFO", colorize=False, catch=False,
                    filter=lambda r, s=service: r["extra"].get("service") == s)
    return _loguru.patch(_patch)


# ------------------------------------------------------------------------------------------ the system


class Geocoder:
    """The external geocoding API: latency and answers."""

    def __init__(self, rng):
        self.rng = rng

    def lookup(self, address: str) -> tuple[float, int]:
        if address == POISON_ADDRESS:
            return float(self.rng.lognormal(np.log(0.045), 0.2)), 422
        if self.rng.random() < 0.008:
            return float(self.rng.uniform(0.02, 0.05)), 503
        return float(self.rng.lognormal(np.log(0.14), 0.4)), 200


class Worker:
    """One Celery worker process (concurrency 1): its logger, tracer and registry; new ones on restart."""

    def __init__(self, host: str, sim: "Sim"):
        self.host, self.sim = host, sim
        self.hostname = f"celery@{host}"
        self.busy = self.stuck = False
        self.restart_pending = False
        self.boot(OLD, reason="startup")
        self.next_beat = T0 + int(sim.rng.uniform(5, 55) * S)
        sim.loop.schedule(self.next_beat, self.heartbeat)

    def boot(self, version: str, reason: str) -> None:
        sim = self.sim
        self.version = version
        self.pid = int(sim.rng.integers(2000, 60000))
        self.processed = 0
        self.tracer = tracer_provider(
            sim.exporter, sim.ids, **{"service.name": "geo-worker", "service.version": version,
                                      "service.instance.id": self.hostname, "host.name": self.host,
                                      "process.pid": self.pid},
        ).get_tracer("celery", "5.4.0")
        self.log = sim.log.bind(service="geo-worker", hostname=self.hostname, pid=self.pid)
        self.reg = CollectorRegistry(auto_describe=True)
        self.m_tasks = Counter("celery_tasks", "Task attempts finished, by state", ["task", "state"], registry=self.reg)
        self.m_runtime = Histogram("celery_task_runtime_seconds", "Task attempt runtime", ["task"], registry=self.reg,
                                   buckets=(0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5))
        self.m_active = Gauge("celery_worker_active_tasks", "Tasks being executed", registry=self.reg)
        Gauge("geo_worker_build_info", "Running build", ["version"], registry=self.reg).labels(version).set(1)
        self.log.info("worker-online", version=version, concurrency=1, queues=QUEUE, reason=reason)

    def heartbeat(self) -> None:
        self.log.info("worker-heartbeat", active=int(self.busy), processed=self.processed)
        self.sim.loop.schedule(Clock.now + HEARTBEAT_NS, self.heartbeat)

    def restart(self, version: str, reason: str) -> None:
        """Warm shutdown (waits for the running task) then a new process; a stuck one is killed."""
        if self.busy and not self.stuck:
            self.restart_pending = (version, reason)
            return
        self.restart_pending = False
        self.log.warning("worker-offline", version=self.version, reason=reason)
        if self.stuck:
            msg = self.stuck_task
            self.stuck = self.busy = False
            self.sim.redeliver(msg)
        self.boot(version, reason=reason)
        self.sim.dispatch()

    def start(self, msg: dict) -> None:
        sim, rng = self.sim, self.sim.rng
        if msg["task_id"] in sim.revoked:
            self.log.warning("task-revoked", task_id=msg["task_id"], task=TASK, retries=msg["retries"])
            sim.truth_rows.setdefault(msg["task_id"], []).append(Clock.now)
            return
        self.busy = True
        self.m_active.set(1)
        t_start = Clock.now
        parent = TraceContextTextMapPropagator().extract(msg["headers"])
        span = self.tracer.start_span(
            f"run/{TASK}", context=parent, kind=SpanKind.CONSUMER, start_time=t_start,
            attributes={"messaging.system": "celery", "messaging.destination.name": QUEUE,
                        "celery.task_name": TASK, "messaging.message.id": msg["task_id"],
                        "celery.retries": msg["retries"], "celery.hostname": self.hostname},
        )
        token = otel_context.attach(trace.set_span_in_context(span))
        try:
            self.log.info("task-started", task_id=msg["task_id"], task=TASK, retries=msg["retries"],
                          queue_wait_ms=round((t_start - msg["ready_at"]) / MS, 1))
            sim.attempt_starts.append((msg["task_id"], self.hostname, t_start))
            t = t_start + int(rng.uniform(0.3, 1.5) * MS)
            key = "geo:addr:" + hashlib.sha1(msg["address"].encode()).hexdigest()[:16]
            hit = msg["address"] != POISON_ADDRESS and msg["retries"] == 0 and rng.random() < 0.62
            t = self._redis(span, "GET", key, t)
            exc = None
            if not hit:
                t, code, took = self._geocode(span, msg, t)
                if code == 503:
                    exc = ("GeocoderUnavailable", "geocoder answered 503 Service Unavailable")
                elif code == 422:
                    exc = ("AddressRejected", f"geocoder answered 422: address not recognised: {msg['address']!r}")
                elif self.version == NEW:
                    t = self._redis(span, "SET", f"geo:lock:{key[9:]}", t, nx=True)
                    if self.host == STUCK and not sim.stuck_done and t_start >= FAULTS["w3_stuck_after"]:
                        sim.stuck_done = True
                        self.stuck, self.stuck_task = True, msg
                        sim.truth["stuck_task"] = msg["task_id"]
                        sim.truth["stuck_since"] = t_start
                        return  # waits forever on the lock: no log, no span end, no counter
                if exc is None:
                    t = self._redis(span, "SET", key, t)
        finally:
            otel_context.detach(token)
        sim.loop.schedule(t, lambda: self.finish(msg, span, t_start, exc, hit))

    def _redis(self, parent, op: str, key: str, t: int, nx: bool = False) -> int:
        end = t + int(self.sim.rng.lognormal(np.log(0.0006), 0.35) * S)
        sp = self.tracer.start_span(
            op, context=trace.set_span_in_context(parent), kind=SpanKind.CLIENT, start_time=t,
            attributes={"db.system": "redis", "db.statement": f"{op} {key}" + (" NX" if nx else ""),
                        "peer.service": "redis-cache", "server.address": "cache-1", "server.port": 6379},
        )
        sp.end(end_time=end)
        return end

    def _geocode(self, parent, msg: dict, t: int) -> tuple[int, int, float]:
        took, code = self.sim.geocoder.lookup(msg["address"])
        end = t + int(took * S)
        sp = self.tracer.start_span(
            "GET", context=trace.set_span_in_context(parent), kind=SpanKind.CLIENT, start_time=t,
            attributes={"http.request.method": "GET", "url.full": "https://api.geocoder.example/v2/lookup",
                        "server.address": "api.geocoder.example", "peer.service": "geocoder",
                        "http.response.status_code": code},
        )
        if code >= 500:
            sp.set_status(Status(StatusCode.ERROR, f"HTTP {code}"))
        sp.end(end_time=end)
        return end, code, took

    def finish(self, msg: dict, span, t_start: int, exc, hit: bool) -> None:
        sim = self.sim
        runtime = (Clock.now - t_start) / S
        tid = msg["task_id"]
        with trace.use_span(span):
            if exc is None:
                self.log.info("task-succeeded", task_id=tid, task=TASK, retries=msg["retries"],
                              runtime_ms=round(runtime * 1000, 1), cache="hit" if hit else "miss")
                state = "succeeded"
                sim.completions.append((self.hostname, Clock.now))
            else:
                exc_type, exc_msg = exc
                retry = exc_type == "GeocoderUnavailable" or self.version == NEW
                span.set_status(Status(StatusCode.ERROR, f"{exc_type}: {exc_msg}"))
                span.set_attribute("exception.type", exc_type)
                if retry:
                    countdown = RETRY_COUNTDOWN_S[exc_type]
                    level = "WARNING" if exc_type == "GeocoderUnavailable" else "ERROR"
                    self.log.log(level, "task-retried", task_id=tid, task=TASK, retries=msg["retries"],
                                 exc_type=exc_type, exc_message=exc_msg, countdown_s=countdown)
                    state = "retried"
                    prod = self.tracer.start_span(f"apply_async/{TASK}", kind=SpanKind.PRODUCER,
                                                  start_time=Clock.now,
                                                  attributes={"messaging.system": "celery",
                                                              "messaging.destination.name": QUEUE,
                                                              "messaging.message.id": tid})
                    headers: dict = {}
                    with trace.use_span(prod):
                        TraceContextTextMapPropagator().inject(headers)
                    prod.end(end_time=Clock.now + int(0.4 * MS))
                    nxt = {**msg, "retries": msg["retries"] + 1, "headers": headers}
                    sim.loop.schedule(Clock.now + countdown * S, lambda: sim.ready(nxt))
                else:
                    self.log.error("task-failed", task_id=tid, task=TASK, retries=msg["retries"],
                                   exc_type=exc_type, exc_message=exc_msg)
                    state = "failed"
                sim.failures.append((tid, exc_type, Clock.now))
        span.end(end_time=Clock.now)
        self.m_tasks.labels(TASK, state).inc()
        self.m_runtime.labels(TASK).observe(runtime)
        self.processed += 1
        self.busy = False
        self.m_active.set(0)
        if self.restart_pending:
            self.restart(*self.restart_pending)
        sim.dispatch()


class Sim:
    """The event loop, the broker and intake-api."""

    def __init__(self):
        self.rng = np.random.default_rng(SEED)
        self.ids = SeededIds(SEED + 1)
        self.exporter = InMemorySpanExporter()
        self.loop = EventLoop()
        Clock.now = T0
        self.log = setup_logging()
        self.api_log = self.log.bind(service="intake-api", hostname="intake-1", pid=812)
        self.api_tracer = tracer_provider(
            self.exporter, self.ids, **{"service.name": "intake-api", "service.version": "1.8.3",
                                        "service.instance.id": "intake-1", "host.name": "intake-1"},
        ).get_tracer("intake", "1.8.3")
        self.geocoder = Geocoder(self.rng)
        self.queue: collections.deque = collections.deque()
        self.revoked: set[str] = set()
        self.stuck_done = False
        self.truth: dict = {}
        self.truth_rows: dict[str, list[int]] = {}
        self.attempt_starts: list = []
        self.completions: list = []
        self.failures: list = []
        self.sent: dict[str, int] = {}
        self.workers = [Worker(h, self) for h in HOSTS]
        self.breg = CollectorRegistry(auto_describe=True)
        self.m_qlen = Gauge("celery_queue_length", "Messages ready in the queue", ["queue"], registry=self.breg)
        self.areg = CollectorRegistry(auto_describe=True)
        self.m_sent = Counter("intake_tasks_sent", "Tasks sent to the broker", ["task"], registry=self.areg)
        self.samples: collections.OrderedDict = collections.OrderedDict()
        self.n_samples = 0
        self.deploy_time = None

    def run(self) -> None:
        t, n, poisoned = T0 + int(self.rng.uniform(1, 3) * S), 0, False
        while t < T_END:
            n += 1
            poison = not poisoned and t >= FAULTS["poison_send"]
            poisoned = poisoned or poison
            t_req = FAULTS["poison_send"] if poison else t
            self.loop.schedule(t_req, lambda n=n, p=poison: self.request(n, p))
            t = t_req + int(self.rng.exponential(3.5) * S)
        for i, w in enumerate(self.workers):
            self.loop.schedule(FAULTS["deploy"] + i * 40 * S, lambda w=w: w.restart(NEW, reason="deploy"))
        self.loop.schedule(FAULTS["deploy"], self.deploy)
        self.loop.schedule(FAULTS["w3_restart"], self.restart_stuck)
        self.loop.schedule(FAULTS["revoke"], self.revoke)
        for ts in range(T0, T_END + 1, SCRAPE_NS):
            self.loop.schedule(ts, self.scrape)
        self.loop.run(T_END)

    def request(self, n: int, poison: bool) -> None:
        rng = self.rng
        address = POISON_ADDRESS if poison else f"{int(rng.integers(1, 400))} {rng.choice(STREETS)}, {rng.choice(TOWNS)}"
        tid = seeded_uuid(rng)
        t = Clock.now
        root = self.api_tracer.start_span("POST /v1/resolve", kind=SpanKind.SERVER, start_time=t,
                                          attributes={"http.request.method": "POST", "http.route": "/v1/resolve",
                                                      "url.path": "/v1/resolve", "http.response.status_code": 202})
        t1 = t + int(rng.uniform(2, 9) * MS)
        headers: dict = {}
        with trace.use_span(root):
            prod = self.api_tracer.start_span(f"apply_async/{TASK}", kind=SpanKind.PRODUCER, start_time=t1,
                                              attributes={"messaging.system": "celery", "messaging.message.id": tid,
                                                          "messaging.destination.name": QUEUE})
            with trace.use_span(prod):
                TraceContextTextMapPropagator().inject(headers)
                Clock.now = t1 + int(rng.uniform(0.4, 1.2) * MS)
                self.api_log.info("task-sent", task_id=tid, task=TASK, queue=QUEUE, request=f"req-{n:06d}")
            prod.end(end_time=Clock.now)
        root.end(end_time=Clock.now + int(rng.uniform(0.5, 2) * MS))
        self.sent[tid] = Clock.now
        self.truth_rows.setdefault(tid, []).append(Clock.now)
        if poison:
            self.truth["poison"] = {"task_id": tid, "trace_id": format(root.get_span_context().trace_id, "032x")}
        self.m_sent.labels(TASK).inc()
        self.ready({"task_id": tid, "address": address, "retries": 0, "headers": headers})

    def ready(self, msg: dict) -> None:
        msg["ready_at"] = Clock.now
        self.queue.append(msg)
        self.dispatch()

    def redeliver(self, msg: dict) -> None:
        self.ready(dict(msg))

    def dispatch(self) -> None:
        while self.queue:
            idle = [w for w in self.workers if not w.busy and not w.stuck]
            if not idle:
                return
            w = idle[int(self.rng.integers(len(idle)))] if len(idle) > 1 else idle[0]
            w.start(self.queue.popleft())

    def deploy(self) -> None:
        self.deploy_time = Clock.now
        self.log.bind(service="geo-worker").info(
            "deploy", version=NEW, previous_version=OLD, commit="c0ffee4", by="argo-rollouts",
            change="autoretry_for=(Exception,) with max_retries=None; per-address cache refresh lock")

    def restart_stuck(self) -> None:
        w = next(w for w in self.workers if w.host == STUCK)
        self.truth["restart"] = Clock.now
        w.restart(w.version, reason="restarted by on-call (no task finished for 40 min)")

    def revoke(self) -> None:
        tid = self.truth["poison"]["task_id"]
        self.revoked.add(tid)
        self.truth["revoked_at"] = Clock.now

    def scrape(self) -> None:
        """Every 15 s: the broker's queue gauge, then each target's registry, as Prometheus reads them."""
        self.m_qlen.labels(QUEUE).set(len(self.queue))
        ms = Clock.now // MS
        targets = [(self.breg, "celery-broker", "broker-1:9121"), (self.areg, "intake-api", "intake-1:9100")]
        targets += [(w.reg, "geo-worker", f"{w.host}:9808") for w in self.workers]
        for reg, job, inst in targets:
            for fam in reg.collect():
                store = self.samples.setdefault(fam.name, {"type": fam.type, "help": fam.documentation, "lines": []})
                for s in fam.samples:
                    if s.name.endswith("_created"):
                        continue
                    labels = {"job": job, "instance": inst, **s.labels}
                    store["lines"].append(f"{s.name}{_labels(labels)} {floatToGoString(s.value)} {ms}")


STREETS = ("Mill Lane", "Station Road", "Church Street", "Victoria Road", "Green Lane", "Park Avenue", "Kings Road")
TOWNS = ("Ashford", "Bramley", "Corby", "Dunmow", "Ely", "Frome", "Goole", "Hythe")


def _labels(labels: dict) -> str:
    def esc(v):
        return str(v).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    return "{" + ",".join(f'{k}="{esc(v)}"' for k, v in labels.items()) + "}"


# ------------------------------------------------------------------------------------------ writers


def _tag(key: str, value) -> dict:
    if isinstance(value, bool):
        return {"key": key, "type": "bool", "value": value}
    if isinstance(value, int):
        return {"key": key, "type": "int64", "value": value}
    if isinstance(value, float):
        return {"key": key, "type": "float64", "value": value}
    return {"key": key, "type": "string", "value": str(value)}


def jaeger_document(spans) -> dict:
    """SDK spans -> the Jaeger query API's ``/api/traces`` answer, as Jaeger shows OTLP-ingested spans.

    Trace and span ids in hex, times in µs, the span kind as the ``span.kind`` tag, the status as
    ``otel.status_code``/``otel.status_description`` plus ``error=true``, the parent as a CHILD_OF
    reference, resource attributes as the process's tags.
    """
    by_trace: dict[int, list] = collections.OrderedDict()
    for sp in sorted(spans, key=lambda s: (s.start_time, s.context.span_id)):
        by_trace.setdefault(sp.context.trace_id, []).append(sp)
    data = []
    for trace_id, sps in by_trace.items():
        processes: dict[tuple, str] = {}
        out = []
        for sp in sps:
            res = dict(sp.resource.attributes)
            pkey = tuple(sorted((k, str(v)) for k, v in res.items()))
            pid = processes.setdefault(pkey, f"p{len(processes) + 1}")
            tags = [_tag("otel.scope.name", sp.instrumentation_scope.name)]
            tags += [_tag(k, v) for k, v in sp.attributes.items()]
            tags.append(_tag("span.kind", sp.kind.name.lower()))
            if sp.status.status_code == StatusCode.ERROR:
                tags.append(_tag("otel.status_code", "ERROR"))
                if sp.status.description:
                    tags.append(_tag("otel.status_description", sp.status.description))
                tags.append(_tag("error", True))
            elif sp.status.status_code == StatusCode.OK:
                tags.append(_tag("otel.status_code", "OK"))
            refs = []
            if sp.parent is not None:
                refs.append({"refType": "CHILD_OF", "traceID": format(trace_id, "032x"),
                             "spanID": format(sp.parent.span_id, "016x")})
            out.append({
                "traceID": format(trace_id, "032x"), "spanID": format(sp.context.span_id, "016x"),
                "operationName": sp.name, "references": refs, "flags": 1,
                "startTime": sp.start_time // US, "duration": (sp.end_time - sp.start_time) // US,
                "tags": tags, "logs": [], "processID": pid, "warnings": None,
            })
        procs = {}
        for pkey, pid in processes.items():
            attrs = dict(pkey)
            service = attrs.pop("service.name")
            res = next(sp.resource.attributes for sp in sps if tuple(sorted((k, str(v)) for k, v in
                                                                        sp.resource.attributes.items())) == pkey)
            procs[pid] = {"serviceName": service,
                          "tags": [_tag(k, v) for k, v in res.items() if k != "service.name"]}
        data.append({"traceID": format(trace_id, "032x"), "spans": out, "processes": procs, "warnings": None})
    return {"data": data, "total": 0, "limit": 0, "offset": 0, "errors": None}


def write_metrics(sim: Sim, path: pathlib.Path) -> int:
    """Prometheus text exposition (0.0.4), every scrape's samples with their millisecond timestamp."""
    out, n = [], 0
    for name, fam in sim.samples.items():
        out.append(f"# HELP {name} {fam['help']}")
        out.append(f"# TYPE {name} {fam['type']}")
        out.extend(fam["lines"])
        n += len(fam["lines"])
    write_gz(path, "\n".join(out) + "\n")
    return n


# ------------------------------------------------------------------------------------------ ground truth


def ground_truth(sim: Sim, counts: dict) -> dict:
    """The planted facts, from the simulator's own state."""
    stuck = next(w for w in sim.workers if w.host == STUCK)
    host = stuck.hostname
    done = [t for h, t in sim.completions if h == host]
    last_completion = max(t for t in done if t <= sim.truth["stuck_since"])
    resumed = min(t for t in done if t > sim.truth["restart"])
    poison = sim.truth["poison"]["task_id"]
    rows = sorted(sim.truth_rows[poison] + [t for tid, _, t in sim.attempt_starts if tid == poison]
                  + [t for tid, _, t in sim.failures if tid == poison])
    attempts = sum(1 for tid, _, _ in sim.attempt_starts if tid == poison)
    errors = sorted((t, e) for t, lvl, e, _ in LOG_TIMES if lvl in ("ERROR", "CRITICAL"))
    return {
        "name": NAME,
        "system": "Celery-style task queue: intake-api sends geo.resolve_address tasks through a broker to four "
                  "geo-worker processes that call a geocoding HTTP API and a Redis cache",
        "window": {"start": iso(WINDOW[0]), "end": iso(WINDOW[1])},
        "evidence": {"logs": "logs", "traces": "traces/traces.jaeger.json.gz", "metrics": "metrics/metrics.prom.gz"},
        "counts": counts,
        "vocabulary": {"entity_column": "hostname", "unit_key": "task_id", "started": "task-started",
                       "succeeded": "task-succeeded", "failed": "task-failed", "heartbeat": "worker-heartbeat",
                       "dependency_column": "peer.service"},
        "facts": [
            {"kind": "change", "time": iso(sim.deploy_time), "column": "version", "value": NEW,
             "description": f"deploy of geo-worker {OLD} -> {NEW}: every exception retried with no limit, a Redis "
                            "refresh lock taken with no timeout; rolling restart of the four workers 40 s apart "
                            "(service.version of their spans' resource changes too)"},
            {"kind": "first_error", "time": iso(errors[0][0]), "event": errors[0][1]},
            {"kind": "retry_storm", "column": "task_id", "value": poison, "attempts": attempts,
             "first": iso(rows[0]), "last": iso(rows[-1]), "error_type": "AddressRejected"},
            {"kind": "silence", "column": "hostname", "value": host, "last_completion": iso(last_completion),
             "resumed": iso(resumed), "heartbeats_continue": True},
        ],
        "details": {
            "stuck_task_id": sim.truth["stuck_task"], "stuck_since": iso(sim.truth["stuck_since"]),
            "restart": iso(sim.truth["restart"]), "revoked": iso(sim.truth["revoked_at"]),
            "poison_trace_id": sim.truth["poison"]["trace_id"], "tasks_sent": len(sim.sent),
            "transient_retries": sum(1 for f in sim.failures if f[1] == "GeocoderUnavailable"),
            "transient_retries_before_window": sum(1 for f in sim.failures
                                                   if f[1] == "GeocoderUnavailable" and f[2] < WINDOW[0]),
        },
    }


README = """# Public incident `taskqueue`: a worker stops finishing tasks after a deploy, a task retries forever

Produced by `scripts/gen_incident_taskqueue.py` (seed {seed}): a Celery-style task queue run as real
instrumented code on simulated time. `intake-api` answers `POST /v1/resolve` and sends a `{task}` task to
the `{queue}` queue (the W3C `traceparent` travels in the task message's headers); four `geo-worker`
processes, hostnames `celery@w1` .. `celery@w4`, one task at a time each, look the address up in a Redis
cache (`redis-cache`) and, on a miss, in an external geocoding HTTP API (`geocoder`), then write the cache.
Regenerate with `python scripts/gen_incident_taskqueue.py [OUT_DIR]` (needs `pip install -e '.[sample]'`);
the output is byte-for-byte deterministic. Every value below is written by the generator from its own
state; `ground_truth.json` holds the same facts for the tests.

| file | what |
|---|---|
| `logs/intake-api.jsonl.gz`, `logs/geo-worker.jsonl.gz` | loguru, one JSON object per line (`time`, `level`, `message`, `service`, `hostname`, `pid`, `trace_id`, `span_id`, then the bound fields): `task-sent`, `task-started`, `task-succeeded`, `task-retried`, `task-failed`, `task-revoked`, `worker-online`, `worker-offline`, `worker-heartbeat` (every 60 s per worker), `deploy` ({log_lines} lines) |
| `traces/traces.jaeger.json.gz` | the Jaeger query API's `/api/traces` answer, `{{"data": [{{"traceID", "spans", "processes"}}]}}`, converted from the OpenTelemetry SDK's spans ({spans} spans) |
| `metrics/metrics.prom.gz` | Prometheus text exposition with millisecond timestamps, scraped every 15 s: `celery_tasks_total{{task,state}}`, `celery_task_runtime_seconds`, `celery_worker_active_tasks`, `geo_worker_build_info`, `celery_queue_length`, `intake_tasks_sent_total` ({metric_samples} samples). A restarted worker starts from zero: its counters reset. |

Why loguru's lines are not `serialize=True`: loguru's own serialised form nests the record
(`{{"text": ..., "record": {{"time": {{"repr": ..., "timestamp": ...}}, "level": {{"name": ...}}, ...}}}}`) and
today's obsnb rejects every such line ("no timestamp (looked for time, ts, timestamp, ...)"). The files are
loguru's documented custom-serialisation recipe instead: a patcher builds the JSON from the record and
the sink's format is `{{extra[serialized]}}`.

## Ground truth (window {w_start} to {w_end}; evidence from {t0} to {t_end})

* **Deploy (trigger)** {deploy}: `deploy` event, geo-worker {old} -> {new} (column `version`): every
  exception is retried with no limit, and a cache refresh now takes a Redis lock with no timeout. The
  workers restart one after the other 40 s apart (`worker-offline`/`worker-online` with a new `pid`), and
  the `service.version` of their spans' resource changes from {old} to {new}.
* **First error** {first_error}: the first line at level ERROR, a `{first_error_event}` of the task below.
* **Retry storm**: task `{poison}` (trace `{poison_trace}`), an address the geocoder answers 422 for
  (`exc_type` `AddressRejected`), is retried every {countdown} s since {new}: **{attempts} attempts**
  (`task-started` lines of that `task_id`) between its first and last line ({storm_first}, its
  `task-sent`, to {storm_last}, its `task-revoked`); an operator revoked it at {revoked}.
* **Silent worker, still heartbeating**: `celery@{stuck}` finished its last task at {last_completion}, took
  task `{stuck_task}` at {stuck_since} and blocked on the lock: it kept logging `worker-heartbeat` (and
  being scraped, `celery_worker_active_tasks` 1, `celery_tasks_total` flat) but logged no
  `task-succeeded` until it was restarted at {restart}; its first completion after that is at
  {resumed}. The stuck task was redelivered and finished on another worker.
* **Background noise**: {transient} `task-retried` at WARNING (`GeocoderUnavailable`, the geocoder's
  occasional 503, retried after 10 s), {transient_before} of them before the window: failures that are
  not the incident.
* {sent} tasks sent in all.
"""


def write_readme(path: pathlib.Path, t: dict, d: dict) -> None:
    f = {x["kind"]: x for x in t["facts"]}
    path.write_text(README.format(
        seed=SEED, task=TASK, queue=QUEUE, log_lines=t["counts"]["log_lines"], spans=t["counts"]["spans"],
        metric_samples=t["counts"]["metric_samples"], w_start=t["window"]["start"], w_end=t["window"]["end"],
        t0=iso(T0), t_end=iso(T_END), deploy=f["change"]["time"], old=OLD, new=NEW,
        first_error=f["first_error"]["time"], first_error_event=f["first_error"]["event"],
        poison=f["retry_storm"]["value"], poison_trace=d["poison_trace_id"],
        countdown=RETRY_COUNTDOWN_S["AddressRejected"], attempts=f["retry_storm"]["attempts"],
        storm_first=f["retry_storm"]["first"], storm_last=f["retry_storm"]["last"], revoked=d["revoked"],
        stuck=STUCK, last_completion=f["silence"]["last_completion"], stuck_task=d["stuck_task_id"],
        stuck_since=d["stuck_since"], restart=d["restart"], resumed=f["silence"]["resumed"],
        transient=d["transient_retries"], transient_before=d["transient_retries_before_window"], sent=d["tasks_sent"],
    ))


def main(out: pathlib.Path) -> None:
    sim = Sim()
    sim.run()
    for svc, lines in LOG_SINKS.items():
        write_gz(out / "logs" / f"{svc}.jsonl.gz", "".join(lines))
    spans = sim.exporter.get_finished_spans()
    doc = jaeger_document(spans)
    write_gz(out / "traces" / "traces.jaeger.json.gz", json.dumps(doc, separators=(",", ":")) + "\n")
    n_samples = write_metrics(sim, out / "metrics" / "metrics.prom.gz")
    counts = {"log_lines": sum(len(v) for v in LOG_SINKS.values()), "spans": len(spans), "metric_samples": n_samples}
    truth = ground_truth(sim, counts)
    details = truth.pop("details")  # README only: ground_truth.json keeps to the shared schema
    (out / "ground_truth.json").write_text(json.dumps(truth, indent=2) + "\n")
    write_readme(out / "README.md", truth, details)
    for p in sorted(out.rglob("*.gz")):
        print(f"{p.relative_to(out)}  {p.stat().st_size:,} B")


if __name__ == "__main__":
    main(pathlib.Path(sys.argv[1]) if len(sys.argv) > 1
         else pathlib.Path(__file__).parents[1] / "sample_data" / "incidents" / NAME)
