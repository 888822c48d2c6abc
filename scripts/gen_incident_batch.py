"""Generate the ``batch`` sample incident (``sample_data/incidents/batch/``) by running a small batch system.

The system is real code run in-process on simulated time. A cron-like scheduler (service ``etl-scheduler``
on host ``batch-ctl-1``) triggers the ``price-sync`` ETL job every 10 minutes and never lets two runs
overlap. Each run (on host ``batch-exec-1``) reads the changed prices from a Postgres catalog in chunks of
``chunk_size`` rows, has them quoted by an HTTP pricing service and inserts them into a ClickHouse
warehouse through a small connection pool. Telemetry comes from the real libraries: Python logging through
ecs-logging's ``StdlibFormatter`` (ECS JSON lines: ``log.level``, ``service.name``, ``host.name``,
``event.action``, ``event.outcome``, ``trace.id``) and OpenTelemetry SDK spans exported as OTLP JSON (one
ExportTraceServiceRequest per line, like the bundled sample). There are no metrics.

Injected faults (times in ``FAULTS``): ``chunk_size`` is raised from 500 to 5000 (a logged configuration
change). 5000-row inserts overload the warehouse, which then answers after the client's 30 s timeout; every
timed-out insert leaks its pooled connection, so a later run blocks forever waiting for a connection (it
started and never finishes), the scheduler skips every tick while it holds the run lock, and no run
completes until the on-call restarts the executor and reverts the setting. The generator records what it
did in ``ground_truth.json`` and ``README.md`` beside the evidence.

Run: ``python scripts/gen_incident_batch.py [OUT_DIR]`` (needs the ``sample`` extra). Deterministic.
"""

from __future__ import annotations

import datetime as dt
import heapq
import io
import itertools
import logging
import pathlib
import sys
import time

import ecs_logging
import numpy as np
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from gen_incident_common import MS, UTC, S, Clock, _gz, day_clock, iso, log_lines, out_dir, sink_logger, write_incident  # noqa: E402,E501
from gen_sample_incident import SeededIds, write_traces  # noqa: E402  (the bundled sample's OTLP writer)

NAME = "batch"
SEED = 20261014
at = day_clock(2026, 10, 14)

EVIDENCE = (at("06:00:00"), at("10:30:00"))
WINDOW = (at("08:00:00"), at("10:00:00"))
FAULTS = {
    "chunk_size_raised": at("08:12:40"),  # release-bot: chunk_size 500 -> 5000
    "pricing_blips": (at("06:41:00"), at("07:33:00")),  # first pricing call after each answers 503 once
    "executor_restart": at("09:31:00"),  # on-call restarts the executor: the stuck run dies, the pool is new
    "chunk_size_reverted": at("09:36:00"),  # on-call: chunk_size 5000 -> 500
}
EVERY = 600 * S  # the job's schedule: every 10 minutes
WAREHOUSE_TIMEOUT = 30.0
POOL_SIZE = 10
ATTEMPTS = 3
HOSTS = {"etl-scheduler": "batch-ctl-1", "price-sync": "batch-exec-1"}
DEPS = {"source": "catalog-pg.internal", "pricing": "pricing.internal", "warehouse": "dwh-ch.internal"}
EV = {"trigger": "ETL run triggered", "skip": "ETL run skipped", "start": "ETL run started",
      "ok": "ETL run succeeded", "fail": "ETL run failed", "heartbeat": "heartbeat",
      "config": "job configuration changed", "proc": "executor process started",
      "read": "chunk read", "quoted": "prices quoted", "written": "chunk written",
      "insert_failed": "warehouse insert failed", "pricing_retry": "pricing request failed, retrying"}


# ------------------------------------------------------------------------------------------ telemetry


class _Stamp(logging.Filter):
    """Give each record the simulated time, its process and host, and the current span's ids (ECS names)."""

    def __init__(self, proc: "Proc"):
        super().__init__()
        self.proc = proc

    def filter(self, record: logging.LogRecord) -> bool:
        record.created = float(Clock.now // S)  # formatTime reads whole seconds; msecs carries the rest
        record.msecs = (Clock.now // MS) % 1000
        record.process, record.processName = self.proc.pid, self.proc.service
        record.thread, record.threadName = self.proc.pid * 16 + 1, "MainThread"
        d = record.__dict__
        d["service.name"], d["service.version"], d["host.name"] = self.proc.service, self.proc.version, self.proc.host
        ctx = trace.get_current_span().get_span_context()
        if ctx.is_valid:
            d["trace.id"], d["span.id"] = format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")
        return True


class Proc:
    """One OS process: an ECS logger writing to its service's file, and a tracer with its own resource."""

    def __init__(self, sim: "Sim", service: str, pid: int, version: str, logger: str):
        self.sim, self.service, self.host, self.pid, self.version = sim, service, HOSTS[service], pid, version
        fmt = ecs_logging.StdlibFormatter()
        fmt.converter = time.gmtime  # UTC, as ECS wants
        self.logger = sink_logger(logger, sim.sinks[service], _Stamp(self), fmt)  # a restart takes it over
        res = Resource.create({"service.name": service, "service.version": version, "host.name": self.host,
                               "process.pid": pid, "service.instance.id": f"{self.host}/{pid}"})
        tp = TracerProvider(resource=res, id_generator=sim.ids)
        tp.add_span_processor(SimpleSpanProcessor(sim.exporter))
        self.tracer = tp.get_tracer(f"{logger}", version)

    def log(self, level: int, event: str, span=None, **fields):
        """One ECS line; ``fields`` use ECS dotted names (``event.action``, ``error.type``, ``etl.run.id``)."""
        if span is None:
            self.logger.log(level, event, extra=fields, stacklevel=2)
        else:
            with trace.use_span(span, end_on_exit=False):
                self.logger.log(level, event, extra=fields, stacklevel=2)


# ------------------------------------------------------------------------------------------ the system


class Scheduler:
    """Cron-like: a tick every 10 minutes triggers a run unless one still holds the job's lock."""

    def __init__(self, sim: "Sim"):
        self.sim = sim
        self.proc = Proc(sim, "etl-scheduler", 811, "3.2.1", "scheduler.cron")
        self.config = {"chunk_size": 500}
        self.active: str | None = None

    def tick(self, slot: int):
        sim = self.sim
        run_id = "price-sync-" + dt.datetime.fromtimestamp(slot // S, tz=UTC).strftime("%Y%m%dT%H%MZ")
        if self.active is not None:
            self.proc.log(logging.WARNING, EV["skip"], **{
                "event.action": "run-skip", "event.outcome": "unknown", "etl.job": "price-sync",
                "etl.run.id": run_id, "etl.blocking_run.id": self.active,
                "event.reason": "previous run still holds the job lock"})
            sim.skipped.append((run_id, Clock.now))
            return
        span = self.proc.tracer.start_span("trigger price-sync", kind=SpanKind.PRODUCER, start_time=Clock.now,
                                           attributes={"etl.job": "price-sync", "etl.run.id": run_id,
                                                       "etl.schedule": "*/10 * * * *"})
        carrier: dict = {}
        with trace.use_span(span, end_on_exit=False):
            TraceContextTextMapPropagator().inject(carrier)
        self.proc.log(logging.INFO, EV["trigger"], span, **{
            "event.action": "run-trigger", "event.outcome": "success", "etl.job": "price-sync",
            "etl.run.id": run_id, "labels.chunk_size": self.config["chunk_size"]})
        span.end(end_time=Clock.now + int(sim.rng.uniform(1, 4) * MS))
        self.active = run_id
        sim.spawn(Clock.now + int(sim.rng.uniform(150, 400) * MS),
                  sim.executor.run(run_id, dict(self.config), carrier))

    def change_config(self, key: str, value, user: str):
        old = self.config[key]
        self.config[key] = value
        self.proc.log(logging.INFO, EV["config"], **{
            "event.action": "config-change", "event.category": ["configuration"], "event.type": ["change"],
            "event.outcome": "success", "etl.job": "price-sync", "etl.config.key": key,
            "etl.config.old_value": str(old), "etl.config.new_value": str(value), "user.name": user})
        self.sim.truth["changes"].append({"time": Clock.now, "key": key, "old": old, "new": value, "user": user})

    def heartbeat(self):
        self.proc.log(logging.INFO, EV["heartbeat"], **{"event.action": "heartbeat", "event.outcome": "success",
                                                       "etl.active_run.id": self.active or "none"})


class Executor:
    """The process that runs the job; its warehouse client keeps a small pool of connections."""

    def __init__(self, sim: "Sim", pid: int):
        self.sim = sim
        self.proc = Proc(sim, "price-sync", pid, "1.8.4", "price_sync.runner")
        self.pool_idle = POOL_SIZE
        self.running: str | None = None

    def heartbeat(self):
        self.proc.log(logging.INFO, EV["heartbeat"], **{
            "event.action": "heartbeat", "event.outcome": "success", "etl.active_run.id": self.running or "none",
            "etl.pool.size": POOL_SIZE, "etl.pool.idle": self.pool_idle})

    def run(self, run_id: str, config: dict, carrier: dict):
        """One ETL run, as a coroutine: it yields the simulated time it waits until."""
        sim, p, rng = self.sim, self.proc, self.sim.rng
        self.running = run_id
        t_start = Clock.now
        chunk = config["chunk_size"]
        total = int(rng.integers(40_000, 48_001))
        n_chunks = -(-total // chunk)
        run_span = p.tracer.start_span("run price-sync", context=TraceContextTextMapPropagator().extract(carrier),
                                       kind=SpanKind.CONSUMER, start_time=t_start,
                                       attributes={"etl.job": "price-sync", "etl.run.id": run_id,
                                                   "etl.chunk_size": chunk, "etl.rows.total": total})
        sim.runs[run_id] = {"started": Clock.now, "chunk_size": chunk}
        p.log(logging.INFO, EV["start"], run_span, **{
            "event.action": "run-start", "event.outcome": "unknown", "etl.run.id": run_id,
            "labels.chunk_size": chunk, "etl.rows.total": total, "etl.chunks.total": n_chunks})
        written = 0
        for i in range(n_chunks):
            rows = min(chunk, total - i * chunk)
            cspan = p.tracer.start_span("process chunk", context=trace.set_span_in_context(run_span),
                                        start_time=Clock.now,
                                        attributes={"etl.run.id": run_id, "etl.chunk.index": i, "etl.rows": rows})
            yield from self._read(cspan, run_id, i, rows)
            yield from self._quote(cspan, run_id, i, rows)
            ok = yield from self._insert(cspan, run_id, i, rows)
            if ok is None:  # blocked forever on the pool: nothing ends, nothing is logged again
                sim.runs[run_id]["stalled_at_chunk"] = i
                return
            if not ok:
                err = f"warehouse insert of chunk {i + 1}/{n_chunks} timed out {ATTEMPTS} times"
                cspan.set_status(Status(StatusCode.ERROR, err))
                cspan.end(end_time=Clock.now)
                run_span.set_status(Status(StatusCode.ERROR, err))
                p.log(logging.ERROR, EV["fail"], run_span, **{
                    "event.action": "run-end", "event.outcome": "failure", "etl.run.id": run_id,
                    "error.type": "WarehouseTimeout", "error.message": err, "etl.rows.written": written,
                    "event.duration": Clock.now - t_start})
                run_span.end(end_time=Clock.now)
                self._done(run_id, "failure")
                return
            written += rows
            cspan.end(end_time=Clock.now)
            yield Clock.now + int(rng.uniform(5, 40) * MS)
        p.log(logging.INFO, EV["ok"], run_span, **{
            "event.action": "run-end", "event.outcome": "success", "etl.run.id": run_id,
            "etl.rows.written": written, "event.duration": Clock.now - t_start})
        run_span.end(end_time=Clock.now)
        self._done(run_id, "success")

    def _done(self, run_id: str, outcome: str):
        self.sim.runs[run_id].update(finished=Clock.now, outcome=outcome)
        self.running = None
        self.sim.scheduler.active = None

    def _client(self, parent, name: str, dep: str, attrs: dict, seconds: float, timeout: float | None = None):
        """A CLIENT span around a call that takes ``seconds`` (cut at ``timeout``); returns (span, timed_out)."""
        t0 = Clock.now
        span = self.proc.tracer.start_span(name, context=trace.set_span_in_context(parent), kind=SpanKind.CLIENT,
                                           start_time=t0, attributes={"server.address": DEPS[dep], **attrs})
        timed_out = timeout is not None and seconds > timeout
        took = timeout + float(self.sim.rng.uniform(0.001, 0.02)) if timed_out else seconds
        yield t0 + int(took * S)
        self.sim.calls.append({"dep": DEPS[dep], "start": t0, "end": Clock.now, "timed_out": timed_out})
        return span, timed_out

    def _read(self, parent, run_id, i, rows):
        rng = self.sim.rng
        secs = float(rng.lognormal(np.log(0.07), 0.35)) * (rows / 500) ** 0.7
        span, _ = yield from self._client(parent, "SELECT catalog.price_changes", "source", {
            "db.system": "postgresql", "db.namespace": "catalog", "db.operation.name": "SELECT",
            "server.port": 5432}, secs)
        span.end(end_time=Clock.now)
        self.proc.log(logging.INFO, EV["read"], parent, **{
            "event.action": "chunk-read", "event.outcome": "success", "etl.run.id": run_id,
            "etl.chunk.index": i, "etl.rows": rows, "event.duration": int(secs * S)})

    def _quote(self, parent, run_id, i, rows):
        sim, rng = self.sim, self.sim.rng
        while True:
            secs = float(rng.lognormal(np.log(0.28), 0.3)) * (rows / 500) ** 0.9
            blip = any(t <= Clock.now and t not in sim.blips_done for t in FAULTS["pricing_blips"])
            if blip:
                sim.blips_done.update(t for t in FAULTS["pricing_blips"] if t <= Clock.now)
                secs = float(rng.uniform(0.02, 0.05))
            span, _ = yield from self._client(parent, "POST /v2/quotes", "pricing", {
                "http.request.method": "POST", "url.full": "http://pricing.internal/v2/quotes",
                "server.port": 80}, secs)
            code = 503 if blip else 200
            span.set_attribute("http.response.status_code", code)
            if blip:
                span.set_status(Status(StatusCode.ERROR, "503 Service Unavailable"))
                span.end(end_time=Clock.now)
                self.proc.log(logging.WARNING, EV["pricing_retry"], parent, **{
                    "event.action": "pricing-quote", "event.outcome": "failure", "etl.run.id": run_id,
                    "etl.chunk.index": i, "http.response.status_code": 503, "error.type": "HTTPError",
                    "error.message": "503 Service Unavailable", "url.full": "http://pricing.internal/v2/quotes"})
                yield Clock.now + 2 * S
                continue
            span.end(end_time=Clock.now)
            self.proc.log(logging.INFO, EV["quoted"], parent, **{
                "event.action": "pricing-quote", "event.outcome": "success", "etl.run.id": run_id,
                "etl.chunk.index": i, "etl.rows": rows, "http.response.status_code": 200,
                "event.duration": int(secs * S)})
            return

    def _insert(self, parent, run_id, i, rows):
        """Insert a chunk: True when written, False after ``ATTEMPTS`` timeouts, None when the pool is empty."""
        rng = self.sim.rng
        for attempt in range(1, ATTEMPTS + 1):
            if self.pool_idle == 0:
                return None  # pool.acquire() has no timeout
            self.pool_idle -= 1
            if rows > 1000:  # a big insert makes the warehouse merge parts synchronously
                secs = float(rng.lognormal(np.log(38.0), 0.3)) * rows / 5000
            else:
                secs = float(rng.lognormal(np.log(0.55), 0.3)) * rows / 500
            span, timed_out = yield from self._client(parent, "INSERT warehouse.fact_prices", "warehouse", {
                "db.system": "clickhouse", "db.namespace": "warehouse", "db.operation.name": "INSERT",
                "server.port": 9000, "etl.attempt": attempt}, secs, WAREHOUSE_TIMEOUT)
            if not timed_out:
                span.end(end_time=Clock.now)
                self.pool_idle += 1
                self.proc.log(logging.INFO, EV["written"], parent, **{
                    "event.action": "warehouse-insert", "event.outcome": "success", "etl.run.id": run_id,
                    "etl.chunk.index": i, "etl.rows": rows, "etl.attempt": attempt, "event.duration": int(secs * S)})
                return True
            err = f"ReadTimeout: {DEPS['warehouse']}:9000 did not answer within {WAREHOUSE_TIMEOUT:g}s"
            span.set_status(Status(StatusCode.ERROR, err))
            span.end(end_time=Clock.now)  # the driver drops the socket but never returns it to the pool
            self.proc.log(logging.ERROR, EV["insert_failed"], parent, **{
                "event.action": "warehouse-insert", "event.outcome": "failure", "etl.run.id": run_id,
                "etl.chunk.index": i, "etl.rows": rows, "etl.attempt": attempt, "error.type": "ReadTimeout",
                "error.message": err, "event.duration": (Clock.now - span.start_time)})
            self.sim.truth["insert_failures"].append(Clock.now)
            if attempt < ATTEMPTS:
                yield Clock.now + 5 * attempt * S
        return False


class Sim:
    """The event loop: timed callbacks and coroutines (runs) on one heap."""

    def __init__(self):
        Clock.now = EVIDENCE[0]
        self.rng = np.random.default_rng(SEED)
        self.ids = SeededIds(np.random.default_rng(SEED + 1))
        self.exporter = InMemorySpanExporter()
        self.sinks = {"etl-scheduler": io.StringIO(), "price-sync": io.StringIO()}
        self.heap: list = []
        self.seq = itertools.count()
        self.runs: dict[str, dict] = {}
        self.calls: list[dict] = []
        self.skipped: list = []
        self.blips_done: set = set()
        self.truth: dict = {"changes": [], "insert_failures": [], "restart": None}
        self.scheduler = Scheduler(self)
        self.executor = Executor(self, 2290)
        self._executor_started(self.executor, "boot")

    def at(self, t: int, fn):
        heapq.heappush(self.heap, (t, next(self.seq), fn))

    def spawn(self, t: int, coro):
        def step():
            try:
                wake = next(coro)
            except StopIteration:
                return
            self.at(wake, step)

        self.at(t, step)

    def _executor_started(self, ex: Executor, reason: str):
        ex.proc.log(logging.INFO, EV["proc"], **{
            "event.action": "process-start", "event.outcome": "success", "event.reason": reason,
            "etl.pool.size": POOL_SIZE})

    def restart_executor(self):
        """The on-call kills the stuck process; the new one has a new pid and a fresh pool."""
        old = self.executor
        self.executor = Executor(self, 3117)
        self.truth["restart"] = {"time": Clock.now, "old_pid": old.proc.pid, "new_pid": self.executor.proc.pid,
                                 "stuck_run": old.running}
        self._executor_started(self.executor, "restarted by on-call")
        self.scheduler.active = None  # the job lock belonged to the killed process

    def run(self):
        t0, t1 = EVIDENCE
        for slot in range(t0, t1, EVERY):
            self.at(slot + int(self.rng.uniform(20, 250) * MS), lambda s=slot: self.scheduler.tick(s))
        for t in range(t0 + 30 * S, t1, 60 * S):
            self.at(t + int(self.rng.uniform(0, 40) * MS), self.scheduler.heartbeat)
            self.at(t + 15 * S + int(self.rng.uniform(0, 40) * MS), lambda: self.executor.heartbeat())
        self.at(FAULTS["chunk_size_raised"], lambda: self.scheduler.change_config("chunk_size", 5000, "release-bot"))
        self.at(FAULTS["executor_restart"], self.restart_executor)
        self.at(FAULTS["chunk_size_reverted"], lambda: self.scheduler.change_config("chunk_size", 500, "oncall"))
        while self.heap and self.heap[0][0] < t1:
            Clock.now, _, fn = heapq.heappop(self.heap)
            fn()


# ------------------------------------------------------------------------------------------ ground truth


def _ms(ns: int) -> int:
    return ns // MS * MS


def _p95(durations: list[float]) -> float | None:
    return round(float(np.percentile(np.asarray(durations, float), 95)), 3) if durations else None


def ground_truth(sim: Sim) -> dict:
    """What happened, from the simulator's own state (its runs, its calls, its exported spans)."""
    spans = sim.exporter.get_finished_spans()
    runs = sim.runs
    raised, restart = sim.truth["changes"][0], sim.truth["restart"]
    stuck = [r for r, v in runs.items() if "finished" not in v]
    ok_times = sorted(v["finished"] for v in runs.values() if v.get("outcome") == "success")
    last_ok = max(t for t in ok_times if t < raised["time"] + EVERY * 3)
    resumed = min(t for t in ok_times if t > restart["time"])
    big = [c for c in sim.calls if c["dep"] == DEPS["warehouse"] and c["start"] >= raised["time"]]
    dep_start, dep_end = _ms(min(c["start"] for c in big)), restart["time"]
    wh = [sp for sp in spans if sp.kind == SpanKind.CLIENT and sp.attributes["server.address"] == DEPS["warehouse"]]
    before = [sp for sp in wh if sp.start_time < dep_start]
    during = [sp for sp in wh if dep_start <= sp.start_time < dep_end]

    def dur(sps):
        return [(sp.end_time - sp.start_time) / 1e6 for sp in sps]

    def errors(sps):
        return sum(sp.status.status_code == StatusCode.ERROR for sp in sps)

    first_err = min(t for t in sim.truth["insert_failures"] if t >= WINDOW[0])
    reverted = sim.truth["changes"][1]
    facts = [
        {"kind": "change", "time": iso(raised["time"]), "column": "event.action", "value": "config-change",
         "description": f"price-sync chunk_size {raised['old']} -> {raised['new']} by {raised['user']}"},
        {"kind": "first_error", "time": iso(first_err), "event": EV["insert_failed"]},
        {"kind": "degraded_dependency", "column": "server.address", "value": DEPS["warehouse"],
         "start": iso(dep_start), "end": iso(dep_end), "mode": "failing",
         "calls_before": len(before), "calls_during": len(during),
         "errors_before": errors(before), "errors_during": errors(during),
         "p95_before_ms": _p95(dur(before)), "p95_during_ms": _p95(dur(during))},
        {"kind": "stall", "column": "etl.run.id", "values": stuck},
        {"kind": "silence", "column": "host.name", "value": HOSTS["price-sync"], "last_completion": iso(last_ok),
         "resumed": iso(resumed), "heartbeats_continue": True},
        {"kind": "change", "time": iso(restart["time"]), "column": "event.action", "value": "process-start",
         "description": f"price-sync executor restarted by on-call (pid {restart['old_pid']} -> {restart['new_pid']})"},
        {"kind": "change", "time": iso(reverted["time"]), "column": "event.action", "value": "config-change",
         "description": f"price-sync chunk_size {reverted['old']} -> {reverted['new']} by {reverted['user']}"},
    ]
    after_raise = [r for r, v in runs.items() if raised["time"] <= v["started"] < restart["time"]]
    return {
        "name": NAME,
        "system": "cron-like scheduler triggering a chunked ETL job (Postgres -> pricing HTTP API -> ClickHouse) "
                  "every 10 minutes",
        "window": {"start": iso(WINDOW[0]), "end": iso(WINDOW[1])},
        "evidence": {"logs": "logs", "traces": "traces/price-sync.otlp.json.gz", "metrics": None},
        "counts": {"log_lines": log_lines(sim.sinks), "spans": len(spans),
                   "metric_samples": None},
        "vocabulary": {"entity_column": "host.name", "unit_key": "etl.run.id", "started": EV["start"],
                       "succeeded": EV["ok"], "failed": EV["fail"], "heartbeat": EV["heartbeat"],
                       "dependency_column": "server.address"},
        "facts": facts,
        "_context": {  # for the README; not part of the shared schema
            "runs": len(runs), "runs_failed": sorted(r for r in after_raise if runs[r].get("outcome") == "failure"),
            "skipped": [r for r, _ in sim.skipped], "stuck_chunk": runs[stuck[0]].get("stalled_at_chunk"),
            "evidence": {"start": iso(EVIDENCE[0]), "end": iso(EVIDENCE[1])},
            "pricing_errors": sum(1 for sp in spans if sp.kind == SpanKind.CLIENT
                                  and sp.attributes["server.address"] == DEPS["pricing"]
                                  and sp.status.status_code == StatusCode.ERROR),
        },
    }


README = """# Sample incident `batch`: a config change stalls a scheduled ETL job

Produced by `scripts/gen_incident_batch.py` (seed {seed}), a small batch system run on simulated time from
{ev_start} to {ev_end}. A cron-like scheduler (`etl-scheduler` on host `batch-ctl-1`) triggers the
`price-sync` ETL job every 10 minutes (`*/10 * * * *`) and never lets two runs overlap (a job lock). Each run
(`price-sync` on host `batch-exec-1`) reads changed prices from a Postgres catalog (`catalog-pg.internal`) in
chunks of `chunk_size` rows, has each chunk quoted by an HTTP pricing service (`pricing.internal`) and inserts
it into a ClickHouse warehouse (`dwh-ch.internal`) through a pool of {pool} connections, retrying an insert up
to {attempts} times. Telemetry comes from the real libraries: Python logging through ecs-logging's
`StdlibFormatter` (ECS JSON) and the OpenTelemetry SDK (spans). There are no metrics. Regenerate with
`python scripts/gen_incident_batch.py` (needs `pip install -e '.[sample]'`); the output is byte-for-byte
deterministic. Every number below is written by the generator from its own state; `ground_truth.json` holds
the same facts for the tests.

| file | what |
|---|---|
| `logs/etl-scheduler.ndjson.gz`, `logs/price-sync.ndjson.gz` | ECS JSON lines ({log_lines} lines). The message (the frame's `event`) is one of {events}; `event.action` / `event.outcome` say the same in ECS terms; `etl.run.id` names a run; `event.duration` is in nanoseconds |
| `traces/price-sync.otlp.json.gz` | OTLP JSON, one `ExportTraceServiceRequest` per line, hex ids ({spans} spans). One trace per run: `trigger price-sync` (PRODUCER, scheduler) -> `run price-sync` (CONSUMER) -> `process chunk` -> CLIENT spans named by `server.address` |

## Ground truth (incident window {w_start} to {w_end}; the evidence starts 2 h earlier)

* **Normal behaviour** until the change: {runs} runs in all; a baseline run processes 40-48k rows in 80-96 chunks of
  500 and takes one to two minutes. Two pricing calls answer 503 in the baseline ({pricing_errors} error spans),
  each retried once with success (noise, not the incident).
* **Change (trigger)** {raised_time}: `job configuration changed` (`event.action=config-change`),
  {raised_desc}. Runs read the setting when they start.
* **Warehouse failing** from {dep_start} (the first 5000-row insert) to {dep_end} (the executor restart):
  5000-row inserts answer after the client's 30 s timeout (`warehouse insert failed`, ERROR,
  `event.outcome=failure`, `error.type=ReadTimeout`). CLIENT spans with `server.address=dwh-ch.internal`:
  {calls_before} calls starting before {dep_start} ({errors_before} errors, p95 {p95_before} ms) and
  {calls_during} calls starting in [{dep_start}, {dep_end}) ({errors_during} errors, p95 {p95_during} ms);
  p95 is numpy's default (linear) percentile of the spans' `duration_ms`. Failed runs: {runs_failed}.
* **First error in the window** {first_error}: the first `warehouse insert failed`.
* **Stall**: every timed-out insert leaks its pooled connection; run `{stuck}` started and blocked forever on
  the empty pool at chunk index {stuck_chunk}: it has `ETL run started` and no `ETL run succeeded` / `ETL run
  failed` (its run and chunk spans never ended, so they are not in the traces).
* **Silence with heartbeats**: host `{host}` logged its last `ETL run succeeded` at {last_ok} and the next
  one at {resumed}, while both hosts kept logging `heartbeat` every minute (the executor's shows
  `etl.pool.idle` falling to 0). The scheduler logged `ETL run skipped` (WARNING) for {skipped}.
* **Recovery**: the on-call restarted the executor at {restart_time} ({restart_desc}; `executor process
  started`, `event.action=process-start`) and at {reverted_time} reverted the setting ({reverted_desc}); runs
  succeed again from the next tick on.
"""


def write_readme(path: pathlib.Path, t: dict) -> None:
    f = {x["kind"]: x for x in t["facts"] if x["kind"] != "change"}
    changes = [x for x in t["facts"] if x["kind"] == "change"]
    dep, stall, sil = f["degraded_dependency"], f["stall"], f["silence"]
    c = t["_context"]
    path.write_text(README.format(
        seed=SEED, ev_start=c["evidence"]["start"], ev_end=c["evidence"]["end"], pool=POOL_SIZE, attempts=ATTEMPTS,
        log_lines=t["counts"]["log_lines"], spans=t["counts"]["spans"],
        events=", ".join(f"`{e}`" for e in EV.values()), w_start=t["window"]["start"], w_end=t["window"]["end"],
        runs=c["runs"], pricing_errors=c["pricing_errors"], raised_time=changes[0]["time"],
        raised_desc=changes[0]["description"], dep_start=dep["start"], dep_end=dep["end"],
        calls_before=dep["calls_before"], errors_before=dep["errors_before"], p95_before=dep["p95_before_ms"],
        calls_during=dep["calls_during"], errors_during=dep["errors_during"], p95_during=dep["p95_during_ms"],
        runs_failed=", ".join(f"`{r}`" for r in c["runs_failed"]), first_error=f["first_error"]["time"],
        stuck=stall["values"][0], stuck_chunk=c["stuck_chunk"], host=sil["value"], last_ok=sil["last_completion"],
        resumed=sil["resumed"], skipped=", ".join(f"`{r}`" for r in c["skipped"]),
        restart_time=changes[1]["time"], restart_desc=changes[1]["description"],
        reverted_time=changes[2]["time"], reverted_desc=changes[2]["description"],
    ))


def main(out: pathlib.Path) -> None:
    sim = Sim()
    sim.run()
    for svc, sink in sim.sinks.items():
        _gz(out / "logs" / f"{svc}.ndjson.gz", sink.getvalue())
    write_traces(sim.exporter.get_finished_spans(), out / "traces" / "price-sync.otlp.json.gz")
    write_incident(out, ground_truth(sim), write_readme)


if __name__ == "__main__":
    main(out_dir(NAME))
