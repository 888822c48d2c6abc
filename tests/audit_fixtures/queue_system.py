"""A tiny instrumented queue system for the audit tests: an API enqueues jobs, two workers process them.

Real instrumentation: OpenTelemetry SDK spans (in-memory exporter) and Python logging with a JSON formatter
that takes the trace id from the current span. Time is simulated (explicit span times, a ``time`` field),
so the output is deterministic. Each ``break_*`` flag breaks one rule of the seed on purpose:

* ``new_trace``: the worker starts a new trace instead of continuing the producer's context (no link);
* ``linked_new_trace`` (not a break): the worker starts a new trace with a span link to the producer;
* ``server_new_trace``: the payments service's server spans start new traces (separate roots);
* ``warn_failures``: job failures are logged at WARNING;
* ``log_twice``: a failure is logged by the payment call and again by the job handler (up the stack);
* ``narrate``: the worker logs "entering process_job" / "exiting process_job";
* ``free_text``: the API logs "Job 12 queued for user 2" instead of an event with fields.

``run(path, **flags)`` writes ``path/logs.jsonl`` and returns ``(spans_rows, state)``: the spans as canonical
rows and the generator's own counts.
"""

from __future__ import annotations

import json
import logging
import pathlib

from opentelemetry import context, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

T0 = 1_790_000_000 * 10**9  # simulated clock, ns
JOBS = 20
FAILING = {3, 7, 11, 15}  # job numbers whose payment call fails


class _Json(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        span = trace.get_current_span().get_span_context()
        out = {"time": record.sim_ns / 1e9, "level": record.levelname, "event": record.getMessage()}
        if span.is_valid:
            out["trace_id"], out["span_id"] = f"{span.trace_id:032x}", f"{span.span_id:016x}"
        out.update(getattr(record, "fields", {}))
        return json.dumps(out)


def run(path: pathlib.Path, *, new_trace=False, warn_failures=False, log_twice=False, narrate=False, free_text=False,
        server_new_trace=False, linked_new_trace=False):
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("fixture")
    log = logging.getLogger(f"fixture.{id(exporter)}")
    log.propagate = False
    log.setLevel(logging.INFO)
    handler = logging.FileHandler(path / "logs.jsonl", mode="w")
    handler.setFormatter(_Json())
    log.addHandler(handler)
    prop = TraceContextTextMapPropagator()
    state = {"jobs": JOBS, "failed": len(FAILING), "log_rows": 0}

    def emit(level, event, ns, **fields):
        log.log(level, event, extra={"sim_ns": ns, "fields": fields})
        state["log_rows"] += 1

    queue = []
    for i in range(JOBS):
        t = T0 + i * 10 * 10**9
        with tracer.start_as_current_span("POST /jobs", kind=trace.SpanKind.SERVER, start_time=t, end_on_exit=False) as s:
            with tracer.start_as_current_span("enqueue job", kind=trace.SpanKind.PRODUCER, start_time=t + 10**6,
                                              end_on_exit=False) as p:
                carrier: dict = {}
                prop.inject(carrier)
                if free_text:  # the values are in the message, not in fields
                    emit(logging.INFO, f"Job {i} queued for user {i % 5}", t + 2 * 10**6, service="api")
                else:
                    emit(logging.INFO, "job_enqueued", t + 2 * 10**6, job_id=f"job-{i}", service="api")
                p.end(t + 3 * 10**6)
            s.end(t + 4 * 10**6)
        queue.append((i, t + 10**9, carrier))
    for i, t, carrier in queue:
        worker = f"worker-{i % 2 + 1}"
        producer = trace.get_current_span(prop.extract(carrier)).get_span_context()
        ctx = context.Context() if new_trace or linked_new_trace else prop.extract(carrier)
        links = [trace.Link(producer)] if linked_new_trace else None
        with tracer.start_as_current_span("process job", context=ctx, kind=trace.SpanKind.CONSUMER, start_time=t,
                                          end_on_exit=False, links=links) as c:
            base = {"job_id": f"job-{i}", "worker": worker, "service": "worker"}
            if narrate:
                emit(logging.INFO, "entering process_job", t + 1, **base)
            emit(logging.INFO, "job_started", t + 10**6, **base)
            with tracer.start_as_current_span("POST /charge", kind=trace.SpanKind.CLIENT, start_time=t + 2 * 10**6,
                                              end_on_exit=False, attributes={"peer.service": "payments"}) as call:
                ok = i not in FAILING
                emit(logging.INFO if ok else logging.WARNING, "external_api_call", t + 50 * 10**6, **base,
                     dependency="payments", status=200 if ok else 503, duration_ms=48.0)
                if not ok and log_twice:
                    emit(logging.ERROR, "payment failed", t + 50 * 10**6 + 1, **base, error_type="PaymentError",
                         error="payments answered 503")
                # the payments service is traced too: it continues the caller's trace (or, broken, starts its own)
                callee = context.Context() if server_new_trace else None
                with tracer.start_as_current_span("POST /v1/charge", context=callee, kind=trace.SpanKind.SERVER,
                                                  start_time=t + 3 * 10**6, end_on_exit=False) as srv:
                    srv.end(t + 49 * 10**6)
                call.end(t + 50 * 10**6)
            if ok:
                emit(logging.INFO, "job_completed", t + 60 * 10**6, **base)
            else:
                emit(logging.WARNING if warn_failures else logging.ERROR, "job_failed", t + 60 * 10**6, **base,
                     error_type="PaymentError", error="payments answered 503")
            if narrate:
                emit(logging.INFO, "exiting process_job", t + 61 * 10**6, **base)
            c.end(t + 61 * 10**6)
    handler.close()
    log.removeHandler(handler)
    rows = []
    kinds = {trace.SpanKind.SERVER: "SERVER", trace.SpanKind.CLIENT: "CLIENT", trace.SpanKind.PRODUCER: "PRODUCER",
             trace.SpanKind.CONSUMER: "CONSUMER", trace.SpanKind.INTERNAL: "INTERNAL"}
    for s in exporter.get_finished_spans():
        rows.append({"trace_id": f"{s.context.trace_id:032x}", "span_id": f"{s.context.span_id:016x}",
                     "parent_span_id": f"{s.parent.span_id:016x}" if s.parent else None, "name": s.name,
                     "kind": kinds[s.kind], "start": s.start_time, "end": s.end_time,
                     "service": {"POST /jobs": "api", "enqueue job": "api", "POST /v1/charge": "payments"}.get(s.name, "worker"),
                     "peer.service": (s.attributes or {}).get("peer.service"), "links": [{"trace_id": f"{x.context.trace_id:032x}", "span_id": f"{x.context.span_id:016x}"}
                               for x in s.links]})
    state["spans"] = len(rows)
    return rows, state
