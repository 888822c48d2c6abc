"""Generate the bundled sample incident (``sample_data/``) by running a small instrumented system.

The system is real code run in-process on simulated time: a checkout API enqueues payment jobs on a
queue (the W3C ``traceparent`` travels inside the message), two workers take jobs, charge them through an
instrumented payments-API client, render an invoice and write to the database. Telemetry comes from the
real libraries: OpenTelemetry SDK spans (exported as OTLP JSON, one ExportTraceServiceRequest per line as
the collector's file exporter writes them), Python logging through python-json-logger, and
prometheus_client registries scraped every 15 s into one OpenMetrics file with timestamps.

Injected faults (times in ``FAULTS``): a deploy of the worker, payment-API timeouts for a window, worker-2
hanging silently for more than an hour, and one job that retries forever. The generator records what it
did in ``sample_data/ground_truth.json`` and ``sample_data/README.md``.

Run: ``python scripts/gen_sample_incident.py [OUT_DIR]`` (needs the ``sample`` extra). Deterministic.
"""

from __future__ import annotations

import base64
import collections
import datetime as dt
import gzip
import heapq
import io
import itertools
import json
import logging
import pathlib
import sys

import numpy as np
from google.protobuf import json_format
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from pythonjsonlogger.json import JsonFormatter

SEED = 20261103
UTC = dt.timezone.utc
T0 = dt.datetime(2026, 11, 3, 12, 0, tzinfo=UTC)
T_END = dt.datetime(2026, 11, 3, 16, 0, tzinfo=UTC)
INCIDENT = "INC-2041"


def at(hh_mm_ss: str) -> int:
    """Nanoseconds since the epoch of a wall-clock time on the incident day."""
    h, m, s = (int(x) for x in hh_mm_ss.split(":"))
    return int(T0.replace(hour=h, minute=m, second=s).timestamp()) * 10**9


FAULTS = {
    "deploy": at("13:05:00"),  # worker v2.14.0: payments timeout 10s -> 5s, every error retryable
    "payments_degraded": (at("13:12:00"), at("13:47:00")),  # provider p50 ~ 6 s: most calls time out
    "worker2_hang_after": at("13:22:00"),  # first job worker-2 starts after this never finishes
    "worker2_restart": at("14:41:00"),  # on-call restarts worker-2; the stuck job is redelivered
    "poison_enqueue": at("13:31:07"),  # cardholder name the payments API rejects (400) forever
}
SECRET_KEY = "sk_live_51HxQ2vGk7pT9sLr0aZ3"
POISON_NAME = "<script>alert(1)</script>"
SCRAPE_NS = 15 * 10**9
S = 10**9
MS = 10**6


class Clock:
    """Simulated time in ns; logging, spans and scrapes all read it."""

    now = at("12:00:00")


class SeededIds(IdGenerator):
    """Deterministic trace and span ids."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng

    def generate_span_id(self) -> int:
        return int(self.rng.integers(1, 2**63)) | 1

    def generate_trace_id(self) -> int:
        return int(self.rng.integers(1, 2**63)) << 64 | int(self.rng.integers(1, 2**63))


# ------------------------------------------------------------------------------------------ telemetry


class _Context(logging.Filter):
    """Stamp each record with simulated time, service, and the current span's ids."""

    def __init__(self, service: str):
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.created = Clock.now / 1e9
        record.msecs = (Clock.now // MS) % 1000
        record.service = self.service
        ctx = trace.get_current_span().get_span_context()
        record.trace_id = format(ctx.trace_id, "032x") if ctx.is_valid else None
        record.span_id = format(ctx.span_id, "016x") if ctx.is_valid else None
        return True


class _Adapter(logging.LoggerAdapter):
    """Adds the worker name and keeps the call's own ``extra`` (3.11's LoggerAdapter replaces it)."""

    def process(self, msg, kwargs):
        kwargs["extra"] = {**self.extra, **kwargs.get("extra", {})}
        return msg, kwargs


class _Formatter(JsonFormatter):
    def formatTime(self, record, datefmt=None):  # noqa: N802 - logging's name
        t = dt.datetime.fromtimestamp(Clock.now // S, tz=UTC)
        return t.strftime("%Y-%m-%dT%H:%M:%S") + f".{(Clock.now // MS) % 1000:03d}Z"


def make_logger(service: str, sink: io.StringIO) -> logging.Logger:
    log = logging.getLogger(f"sample.{service}")
    log.handlers.clear()
    log.propagate = False
    log.setLevel(logging.INFO)
    h = logging.StreamHandler(sink)
    h.addFilter(_Context(service))
    h.setFormatter(
        _Formatter(
            "{asctime}{levelname}{message}{service}{trace_id}{span_id}",
            style="{",
            rename_fields={"asctime": "time", "levelname": "level", "message": "event"},
        )
    )
    log.addHandler(h)
    return log


def make_tracer(service: str, instance: str, exporter: InMemorySpanExporter, ids: IdGenerator):
    res = Resource.create({"service.name": service, "service.instance.id": instance, "service.version": "2.13.2"})
    tp = TracerProvider(resource=res, id_generator=ids)
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    return tp.get_tracer("sample.payments", "1.0")


# ------------------------------------------------------------------------------------------ the system


class PaymentsAPI:
    """The external provider: latency and answers, degraded during the fault window."""

    def __init__(self, rng):
        self.rng = rng

    def charge(self, job) -> tuple[float, int]:
        lo, hi = FAULTS["payments_degraded"]
        if job["cardholder"] == POISON_NAME:
            return float(self.rng.lognormal(np.log(0.09), 0.2)), 400
        if lo <= Clock.now < hi:
            return float(self.rng.lognormal(np.log(6.0), 0.35)), 200
        return float(self.rng.lognormal(np.log(0.22), 0.45)), 200


class Worker:
    """One worker process: its own logger, tracer and metrics registry."""

    def __init__(self, name, sim):
        self.name, self.sim = name, sim
        self.tracer = make_tracer("payments-worker", name, sim.exporter, sim.ids)
        self.log = _Adapter(sim.worker_log, {"worker": name})
        self.busy = False
        self.hung = False
        self.version = "2.13.2"
        self.reg = CollectorRegistry(auto_describe=True)
        self.m_jobs = Counter("jobs_processed", "Job attempts finished", ["outcome"], registry=self.reg)
        self.m_dur = Histogram(
            "job_duration_seconds", "Job attempt duration", registry=self.reg,
            buckets=(0.5, 1, 2.5, 5, 7.5, 10, 15, 30),
        )
        self.m_pay = Histogram(
            "payments_api_request_duration_seconds", "Payments API call duration", ["status"], registry=self.reg,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.m_busy = Gauge("worker_busy", "1 while the worker holds a job", registry=self.reg)
        self.m_build = Gauge("app_build_info", "Running build", ["version"], registry=self.reg)
        self.m_build.labels(self.version).set(1)

    def deploy(self, version):
        self.m_build.remove(self.version)
        self.version = version
        self.m_build.labels(version).set(1)

    def start(self, job):
        """Take a job: run the attempt and schedule its end (or hang)."""
        sim, rng = self.sim, self.sim.rng
        self.busy = True
        self.m_busy.set(1)
        job["attempt"] += 1
        t_start = Clock.now
        parent = TraceContextTextMapPropagator().extract(job["headers"])
        span = self.tracer.start_span(
            "process payment_job", context=parent, kind=SpanKind.CONSUMER, start_time=t_start,
            attributes={"messaging.system": "jobqueue", "messaging.destination.name": "payments",
                        "job.id": job["id"], "job.attempt": job["attempt"], "worker.id": self.name},
        )
        token = otel_context.attach(trace.set_span_in_context(span))
        try:
            self.log.info("job_started", extra={"job_id": job["id"], "attempt": job["attempt"],
                                                "queue_wait_ms": round((t_start - job["ready_at"]) / MS, 1)})
            if self.name == "worker-2" and not sim.hang_done and t_start >= FAULTS["worker2_hang_after"]:
                sim.hang_done = True
                self.hung = True
                sim.truth["silent_worker"]["stuck_job_id"] = job["id"]
                sim.truth["silent_worker"]["last_log_time"] = t_start
                job["hung_span"] = span
                return  # stuck on a leaked DB connection: no log, no span end, no metric, ever
            t = t_start + int(rng.uniform(3, 12) * MS)
            t = self._db(span, "SELECT orders", t, rng)
            t, outcome, err = self._charge(span, job, t)
            if outcome == "ok":
                t = self._step(span, "render_invoice", t, rng.lognormal(np.log(5.6), 0.3))
                t = self._db(span, "INSERT invoices", t, rng)
        finally:
            otel_context.detach(token)
        sim.schedule(t, lambda: self.finish(job, span, t_start, outcome, err))

    def _db(self, parent, stmt, t, rng):
        end = t + int(rng.lognormal(np.log(0.008), 0.5) * S)
        sp = self.tracer.start_span(
            f"postgres {stmt.split()[0]}", context=trace.set_span_in_context(parent), kind=SpanKind.CLIENT,
            start_time=t, attributes={"db.system": "postgresql", "db.statement": f"{stmt} ...",
                                      "peer.service": "postgres", "server.address": "pg-main"},
        )
        sp.end(end_time=end)
        return end

    def _step(self, parent, name, t, seconds):
        end = t + int(seconds * S)
        sp = self.tracer.start_span(name, context=trace.set_span_in_context(parent), start_time=t)
        sp.end(end_time=end)
        return end

    def _charge(self, parent, job, t):
        """The instrumented payments client: CLIENT span, log line, metrics; 5 s timeout since v2.14.0."""
        timeout = 5.0 if Clock.now >= FAULTS["deploy"] else 10.0
        latency, code = self.sim.payments.charge(job)
        timed_out = latency > timeout
        took = timeout + float(self.sim.rng.uniform(0.001, 0.02)) if timed_out else latency
        end = t + int(took * S)
        url = f"https://api.payments.example.com/v1/charges?api_key={SECRET_KEY}"
        sp = self.tracer.start_span(
            "POST /v1/charges", context=trace.set_span_in_context(parent), kind=SpanKind.CLIENT, start_time=t,
            attributes={"http.request.method": "POST", "peer.service": "payments-api",
                        "server.address": "api.payments.example.com", "job.id": job["id"]},
        )
        status = "timeout" if timed_out else str(code)
        err = None
        if timed_out:
            err = f"ReadTimeout: payments API did not answer within {timeout:g}s"
            sp.set_status(Status(StatusCode.ERROR, err))
        elif code >= 400:
            sp.set_attribute("http.response.status_code", code)
            err = f"payments API 400: invalid cardholder name: {job['cardholder']}"
            sp.set_status(Status(StatusCode.ERROR, err))
        else:
            sp.set_attribute("http.response.status_code", code)
        Clock.now, saved = end, Clock.now
        with trace.use_span(sp):
            self.log.log(
                logging.WARNING if err else logging.INFO, "external_api_call",
                extra={"job_id": job["id"], "attempt": job["attempt"], "dependency": "payments-api",
                       "url": url, "status": status, "duration_ms": round(took * 1000, 1)},
            )
        Clock.now = saved
        sp.end(end_time=end)
        self.m_pay.labels(status).observe(took)
        self.sim.truth_calls.append((t, end, took * 1000, status))
        return end, ("ok" if err is None else "error"), err

    def finish(self, job, span, t_start, outcome, err):
        sim = self.sim
        dur = (Clock.now - t_start) / S
        with trace.use_span(span):
            if outcome == "ok":
                self.log.info("job_completed", extra={"job_id": job["id"], "attempt": job["attempt"],
                                                      "duration_ms": round(dur * 1000, 1)})
            else:
                retry = job["poison"] or job["attempt"] < 5
                if job["poison"] and self.version == "2.13.2":
                    retry = False
                span.set_status(Status(StatusCode.ERROR, err))
                self.log.error("job_failed", extra={"job_id": job["id"], "attempt": job["attempt"], "error": err,
                                                    "will_retry": retry, "duration_ms": round(dur * 1000, 1)})
        span.end(end_time=Clock.now)
        self.m_jobs.labels("success" if outcome == "ok" else "failure").inc()
        self.m_dur.observe(dur)
        sim.attempts.append((job["id"], Clock.now, outcome))
        if outcome == "ok":
            job["done_at"] = Clock.now
        elif retry:
            backoff = min(30 * 2 ** (job["attempt"] - 1), 60) if job["poison"] else 30
            sim.schedule(Clock.now + backoff * S, lambda: sim.ready(job))
        else:
            job["dead_at"] = Clock.now
        self.busy = False
        self.m_busy.set(0)
        sim.dispatch()


class Sim:
    """The event loop, the queue and the checkout API."""

    def __init__(self):
        self.rng = np.random.default_rng(SEED)
        self.ids = SeededIds(np.random.default_rng(SEED + 1))
        self.exporter = InMemorySpanExporter()
        self.api_tracer = make_tracer("checkout-api", "api-1", self.exporter, self.ids)
        self.sinks = {"checkout-api": io.StringIO(), "payments-worker": io.StringIO()}
        self.api_log = make_logger("checkout-api", self.sinks["checkout-api"])
        self.worker_log = make_logger("payments-worker", self.sinks["payments-worker"])
        self.payments = PaymentsAPI(self.rng)
        self.heap: list = []
        self.seq = itertools.count()
        self.queue: collections.deque = collections.deque()
        self.jobs: dict[str, dict] = {}
        self.attempts: list = []
        self.truth_calls: list = []
        self.hang_done = False
        self.truth: dict = {"silent_worker": {"worker": "worker-2"}}
        self.workers = [Worker("worker-1", self), Worker("worker-2", self)]
        self.qreg = CollectorRegistry(auto_describe=True)
        self.m_enq = Counter("jobs_enqueued", "Jobs enqueued", registry=self.qreg)
        self.m_depth = Gauge("queue_depth", "Jobs ready and waiting", registry=self.qreg)
        self.m_age = Gauge("queue_oldest_job_age_seconds", "Age of the oldest waiting job", registry=self.qreg)
        self.scrapes: dict = collections.OrderedDict()
        self.depth_series: list = []

    def schedule(self, t, fn):
        heapq.heappush(self.heap, (t, next(self.seq), fn))

    def run(self):
        t = at("12:00:00")
        n, poisoned = 0, False
        while t < T_END.timestamp() * S:
            n += 1
            poison = not poisoned and t >= FAULTS["poison_enqueue"]
            poisoned = poisoned or poison
            t_job = FAULTS["poison_enqueue"] if poison else t
            self.schedule(t_job, lambda n=n, p=poison: self.checkout(n, p))
            t = t_job + int(self.rng.exponential(5.0) * S)
        self.schedule(FAULTS["deploy"], self.deploy)
        self.schedule(FAULTS["worker2_restart"], self.restart_worker2)
        for ts in range(at("12:00:00"), int(T_END.timestamp()) * S + 1, SCRAPE_NS):
            self.schedule(ts, self.scrape)
        end = int(T_END.timestamp()) * S
        while self.heap and self.heap[0][0] <= end:
            Clock.now, _, fn = heapq.heappop(self.heap)
            fn()

    def checkout(self, n, poison):
        rng = self.rng
        job = {"id": f"job-{n:05d}", "attempt": 0, "poison": poison, "headers": {},
               "cardholder": POISON_NAME if poison else f"customer {n}", "enqueued_at": Clock.now}
        t = Clock.now
        root = self.api_tracer.start_span("POST /checkout", kind=SpanKind.SERVER, start_time=t,
                                          attributes={"http.request.method": "POST", "http.route": "/checkout"})
        t1 = t + int(rng.uniform(8, 25) * MS)
        with trace.use_span(root):
            prod = self.api_tracer.start_span("enqueue payment_job", kind=SpanKind.PRODUCER, start_time=t1,
                                              attributes={"messaging.system": "jobqueue", "job.id": job["id"],
                                                          "messaging.destination.name": "payments"})
            with trace.use_span(prod):
                TraceContextTextMapPropagator().inject(job["headers"])
                Clock.now = t1 + int(1.5 * MS)
                self.api_log.info("job_enqueued", extra={"job_id": job["id"], "queue": "payments"})
            prod.end(end_time=Clock.now)
        job["trace_id"] = format(root.get_span_context().trace_id, "032x")
        root.end(end_time=Clock.now + int(rng.uniform(2, 6) * MS))
        self.jobs[job["id"]] = job
        self.m_enq.inc()
        self.ready(job)

    def ready(self, job):
        job["ready_at"] = Clock.now
        self.queue.append(job)
        self.dispatch()

    def dispatch(self):
        for w in self.workers:
            if not self.queue:
                return
            if not w.busy and not w.hung:
                w.start(self.queue.popleft())

    def deploy(self):
        for w in self.workers:
            w.deploy("2.14.0")
        self.worker_log.info("deploy", extra={"version": "2.14.0", "previous_version": "2.13.2",
                                              "commit": "9f3c2ab", "by": "ci/deploy-bot",
                                              "change": "payments client timeout 10s -> 5s; retry on any error"})

    def restart_worker2(self):
        w = self.workers[1]
        job = next(j for j in self.jobs.values() if j.get("hung_span") is not None)
        w.hung = w.busy = False
        w.m_busy.set(0)
        _Adapter(self.worker_log, {"worker": w.name}).warning(
            "worker_started", extra={"version": w.version, "reason": "restarted by on-call"})
        self.truth["silent_worker"]["resumed_time"] = Clock.now
        job.pop("hung_span")
        self.ready(job)  # redelivered: the queue's visibility timeout expired

    def scrape(self):
        """Every 15 s: set the queue gauges, then read every registry like Prometheus would."""
        now = Clock.now
        self.m_depth.set(len(self.queue))
        age = (now - self.queue[0]["ready_at"]) / S if self.queue else 0.0
        self.m_age.set(age)
        self.depth_series.append((now, len(self.queue), age))
        targets = [(self.qreg, "job-queue", "queue-1:9100")]
        targets += [(w.reg, "payments-worker", f"{w.name}:9100") for w in self.workers]
        for reg, job, inst in targets:
            for fam in reg.collect():
                store = self.scrapes.setdefault(fam.name, {"type": fam.type, "help": fam.documentation, "rows": {}})
                for s in fam.samples:
                    if s.name.endswith("_created"):
                        continue
                    labels = {"job": job, "instance": inst, **s.labels}
                    store["rows"].setdefault((s.name, tuple(sorted(labels.items()))), []).append((now, s.value))


# ------------------------------------------------------------------------------------------ writers


def _hex(b64: str) -> str:
    return base64.b64decode(b64).hex()


def write_traces(spans, path: pathlib.Path, batch: int = 400):
    """OTLP JSON, one ExportTraceServiceRequest per line (the collector file exporter's form), hex ids."""
    spans = sorted(spans, key=lambda s: (s.start_time, s.context.span_id))
    lines = []
    for i in range(0, len(spans), batch):
        req = json_format.MessageToDict(encode_spans(spans[i:i + batch]), use_integers_for_enums=True)
        for rs in req["resourceSpans"]:
            for ss in rs["scopeSpans"]:
                for sp in ss["spans"]:
                    for k in ("traceId", "spanId", "parentSpanId"):
                        if sp.get(k):
                            sp[k] = _hex(sp[k])
                    for link in sp.get("links", []):
                        link["traceId"], link["spanId"] = _hex(link["traceId"]), _hex(link["spanId"])
        lines.append(json.dumps(req, separators=(",", ":")))
    _gz(path, "\n".join(lines) + "\n")


def _fmt_labels(labels) -> str:
    def esc(v):
        return str(v).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    return "{" + ",".join(f'{k}="{esc(v)}"' for k, v in labels) + "}"


def write_metrics(scrapes, path: pathlib.Path):
    """OpenMetrics text with a timestamp per sample and ``# EOF`` (what ``promtool tsdb create-blocks-from`` reads)."""
    out = []
    for name, fam in scrapes.items():
        out.append(f"# HELP {name} {fam['help']}")
        out.append(f"# TYPE {name} {fam['type']}")
        for (sname, labels), points in fam["rows"].items():
            lab = _fmt_labels(labels)
            out.extend(f"{sname}{lab} {float(v)!r} {t / S:.3f}" for t, v in points)
    out.append("# EOF")
    _gz(path, "\n".join(out) + "\n")


def _gz(path: pathlib.Path, text: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as f:
        f.write(text.encode())


def iso(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns // S, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{(ns // MS) % 1000:03d}Z"


# ------------------------------------------------------------------------------------------ ground truth


def _pct(values, q) -> float:
    return round(float(np.percentile(np.asarray(values, float), q)), 1) if len(values) else float("nan")


def ground_truth(sim: Sim) -> dict:
    """What happened, from the simulator's own state (not from reading the files back)."""
    lo, hi = FAULTS["payments_degraded"]
    fails = [(t, j) for j, t, o in sim.attempts if o != "ok"]
    fails.sort()
    jobs = sim.jobs.values()
    poison = next(j for j in jobs if j["poison"])
    poison_fails = [t for t, j in fails if j == poison["id"]]
    timeouts = [t for t0, t, ms, st in sim.truth_calls if st == "timeout"]
    # "during" is what the evidence shows: first to last timed-out call, at the logs' millisecond precision
    d0, d1 = min(timeouts) // MS * MS, max(timeouts) // MS * MS
    during = [o for _, t, o in sim.attempts if d0 <= t // MS * MS <= d1]
    calls_before = [round(ms, 1) for t0, t, ms, st in sim.truth_calls if t // MS * MS < d0]
    calls_during = [round(ms, 1) for t0, t, ms, st in sim.truth_calls if d0 <= t // MS * MS <= d1]
    done = [j for j in jobs if "done_at" in j]
    sw = sim.truth["silent_worker"]
    depth_max = max(sim.depth_series, key=lambda r: r[1])
    age_max = max(sim.depth_series, key=lambda r: r[2])
    drained = next(t for t, d, a in sim.depth_series if t >= sw["resumed_time"] and d == 0)
    spans = sim.exporter.get_finished_spans()
    deps: dict[str, list] = {}
    for sp in spans:
        if sp.kind == SpanKind.CLIENT:
            deps.setdefault(sp.attributes.get("peer.service"), []).append((sp.end_time - sp.start_time) / MS)
    extent: dict[int, list] = {}
    for sp in spans:
        e = extent.setdefault(sp.context.trace_id, [sp.start_time, sp.end_time, 0])
        e[0], e[1], e[2] = min(e[0], sp.start_time), max(e[1], sp.end_time), e[2] + 1
    worst_id, (w0, w1, wn) = max(extent.items(), key=lambda kv: kv[1][1] - kv[1][0])
    worst_job = next(j["id"] for j in jobs if j["trace_id"] == format(worst_id, "032x"))
    dep_p99 = {k: round(float(np.percentile(v, 99)), 1) for k, v in deps.items()}
    return {
        "incident": INCIDENT,
        "window": {"start": iso(at("12:00:00")), "end": iso(int(T_END.timestamp()) * S)},
        "deploy": {"time": iso(FAULTS["deploy"]), "version": "2.14.0", "previous_version": "2.13.2"},
        "payments_degraded": {"start": iso(lo), "end": iso(hi), "first_timeout": iso(min(timeouts)),
                              "last_timeout": iso(max(timeouts)), "timeouts": len(timeouts)},
        "first_error": {"time": iso(fails[0][0]), "job_id": fails[0][1]},
        "jobs": {
            "enqueued": len(sim.jobs),
            "completed": len(done),
            "with_failed_attempt": len({j for _, j in fails}),
            "dead_lettered": sum(1 for j in jobs if "dead_at" in j),
            "failed_attempts": len(fails),
            "completed_attempts": sum(1 for a in sim.attempts if a[2] == "ok"),
        },
        "error_rate_during": round(sum(o != "ok" for o in during) / len(during), 4),
        "error_rate_before": round(
            sum(o != "ok" for _, t, o in sim.attempts if t // MS * MS < d0)
            / sum(1 for a in sim.attempts if a[1] // MS * MS < d0), 4),
        "payments_latency_ms": {
            "before": {"p95": _pct(calls_before, 95), "p99": _pct(calls_before, 99), "count": len(calls_before)},
            "during": {"p95": _pct(calls_during, 95), "p99": _pct(calls_during, 99), "count": len(calls_during)},
        },
        "slowest_dependency": {"name": max(dep_p99, key=dep_p99.get), "p99_ms": dep_p99},
        "silent_worker": {
            "worker": sw["worker"], "stuck_job_id": sw["stuck_job_id"], "last_log_time": iso(sw["last_log_time"]),
            "resumed_time": iso(sw["resumed_time"]),
            "silence_seconds": round((sw["resumed_time"] - sw["last_log_time"]) / S, 3),
        },
        "retry_storm": {"job_id": poison["id"], "trace_id": poison["trace_id"], "failed_attempts": len(poison_fails),
                        "attempts_started": poison["attempt"],
                        "first_failure": iso(poison_fails[0]), "last_failure": iso(poison_fails[-1]),
                        "error": f"payments API 400: invalid cardholder name: {POISON_NAME}"},
        "queue": {"max_depth": depth_max[1], "max_depth_time": iso(depth_max[0]),
                  "max_oldest_age_seconds": round(age_max[2], 3), "max_oldest_age_time": iso(age_max[0]),
                  "drained_time": iso(drained)},
        "worst_trace": {"trace_id": format(worst_id, "032x"), "job_id": worst_job, "spans": wn,
                        "duration_seconds": round((w1 - w0) / S, 3)},
        "secret_in_logs": SECRET_KEY,
        "counts": {"log_lines": sum(s.getvalue().count("\n") for s in sim.sinks.values()), "spans": len(spans)},
    }


README = """# Sample incident {incident}: payment jobs stall after a worker deploy

Produced by `scripts/gen_sample_incident.py` (seed {seed}), a small instrumented job system run on
simulated time: `checkout-api` enqueues payment jobs (the W3C `traceparent` travels in the message), two
`payments-worker` processes (`worker-1`, `worker-2`) charge them through the external payments API,
render an invoice and write to Postgres. Telemetry comes from the real libraries: OpenTelemetry SDK
(traces), Python logging + python-json-logger (logs), prometheus_client scraped every 15 s (metrics).
Regenerate with `python scripts/gen_sample_incident.py` (needs `pip install -e '.[sample]'`); the output
is byte-for-byte deterministic. Every number below is written by the generator from its own state, and
`ground_truth.json` holds the same facts for the tests.

| file | what |
|---|---|
| `logs/checkout-api.jsonl.gz`, `logs/payments-worker.jsonl.gz` | JSON lines: `job_enqueued`, `job_started`, `external_api_call`, `job_failed`, `job_completed`, `deploy`, `worker_started` ({log_lines} lines) |
| `traces/traces.otlp.json.gz` | OTLP JSON, one `ExportTraceServiceRequest` per line, hex ids ({spans} spans) |
| `metrics/metrics.om.gz` | OpenMetrics text with timestamps: `jobs_processed_total`, `job_duration_seconds`, `payments_api_request_duration_seconds`, `queue_depth`, `queue_oldest_job_age_seconds`, `worker_busy`, `app_build_info`, `jobs_enqueued_total` |

## Ground truth (window {w_start} to {w_end})

* **Deploy (trigger)** {deploy_time}: `payments-worker` {prev} -> {ver} (payments client timeout 10 s -> 5 s,
  every error retryable).
* **Payments API degraded** {pd_start} to {pd_end}: provider latency ~6 s, so calls hit the 5 s timeout.
  First timeout {first_timeout}, last {last_timeout}, {timeouts} timeouts. First `job_failed`: {first_error}
  ({first_error_job}).
* **Error rate** (failed / finished job attempts): {er_before:.2%} before the first timeout, {er_during:.2%} from the
  first to the last timeout (inclusive, by log time).
* **Payments API latency** (`external_api_call.duration_ms`, by log time): before p95 {b95} ms, p99 {b99} ms;
  during p95 {d95} ms, p99 {d99} ms. Slowest dependency: **{slowest}** (client-span p99 per dependency, ms: {dep_p99}).
* **Silent worker**: `{worker}` took job `{stuck}` at {last_log} and then logged nothing (leaked DB connection)
  until it was restarted at {resumed}: **{silence_min:.1f} minutes** of silence. Its process kept being scraped.
* **Retry storm**: job `{poison}` (trace `{poison_trace}`) is rejected by the payments API with 400
  `invalid cardholder name: <script>alert(1)</script>` and, since {ver}, retried forever: **{poison_attempts} failed
  attempts** from {poison_first} to {poison_last}. The cardholder name is an XSS probe: reports must show it as text.
* **Queue**: max depth {max_depth} at {max_depth_time}; oldest job age peaked at {max_age:.0f} s at {max_age_time};
  the queue was empty again at {drained} (recovery).
* **Jobs**: {enqueued} enqueued, {completed} completed, {with_failed} with at least one failed attempt,
  {dead} dead-lettered after 5 attempts; {failed_attempts} failed attempts in all.
* **Worst trace** (longest first-span-start to last-span-end): job `{worst_job}` (trace `{worst_trace}`),
  {worst_n} spans over {worst_s:.1f} s.
* **Secret leak**: the payments client logs its URL with `api_key={secret_short}...`; reports must redact it.
"""


def write_readme(path: pathlib.Path, t: dict) -> None:
    sw, rs, q = t["silent_worker"], t["retry_storm"], t["queue"]
    lat = t["payments_latency_ms"]
    path.write_text(README.format(
        incident=t["incident"], seed=SEED, log_lines=t["counts"]["log_lines"], spans=t["counts"]["spans"],
        w_start=t["window"]["start"], w_end=t["window"]["end"], deploy_time=t["deploy"]["time"],
        prev=t["deploy"]["previous_version"], ver=t["deploy"]["version"],
        pd_start=t["payments_degraded"]["start"], pd_end=t["payments_degraded"]["end"],
        first_timeout=t["payments_degraded"]["first_timeout"], last_timeout=t["payments_degraded"]["last_timeout"],
        timeouts=t["payments_degraded"]["timeouts"], first_error=t["first_error"]["time"],
        first_error_job=t["first_error"]["job_id"], er_before=t["error_rate_before"], er_during=t["error_rate_during"],
        b95=lat["before"]["p95"], b99=lat["before"]["p99"], d95=lat["during"]["p95"], d99=lat["during"]["p99"],
        slowest=t["slowest_dependency"]["name"], dep_p99=t["slowest_dependency"]["p99_ms"],
        worker=sw["worker"], stuck=sw["stuck_job_id"], last_log=sw["last_log_time"], resumed=sw["resumed_time"],
        silence_min=sw["silence_seconds"] / 60, poison=rs["job_id"], poison_trace=rs["trace_id"],
        poison_attempts=rs["failed_attempts"], poison_first=rs["first_failure"], poison_last=rs["last_failure"],
        max_depth=q["max_depth"], max_depth_time=q["max_depth_time"], max_age=q["max_oldest_age_seconds"],
        max_age_time=q["max_oldest_age_time"], drained=q["drained_time"], enqueued=t["jobs"]["enqueued"],
        completed=t["jobs"]["completed"], with_failed=t["jobs"]["with_failed_attempt"],
        dead=t["jobs"]["dead_lettered"], failed_attempts=t["jobs"]["failed_attempts"],
        worst_job=t["worst_trace"]["job_id"], worst_trace=t["worst_trace"]["trace_id"],
        worst_s=t["worst_trace"]["duration_seconds"], worst_n=t["worst_trace"]["spans"], secret_short=t["secret_in_logs"][:8],
    ))


if __name__ == "__main__":
    out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).parents[1] / "sample_data")
    sim = Sim()
    sim.run()
    for svc, sink in sim.sinks.items():
        _gz(out / "logs" / f"{svc}.jsonl.gz", sink.getvalue())
    write_traces(sim.exporter.get_finished_spans(), out / "traces" / "traces.otlp.json.gz")
    write_metrics(sim.scrapes, out / "metrics" / "metrics.om.gz")
    truth = ground_truth(sim)
    (out / "ground_truth.json").write_text(json.dumps(truth, indent=2) + "\n")
    write_readme(out / "README.md", truth)
    for p in sorted(out.rglob("*.gz")):
        print(f"{p.relative_to(out)}  {p.stat().st_size:,} B")
