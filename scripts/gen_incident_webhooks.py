"""Generate the ``webhooks`` sample incident (``sample_data/incidents/webhooks/``) by running a webhook dispatcher.

The system is real code run in-process on simulated time: ``hookd``, an outbound-webhook dispatcher with two
instances (``hookd-0``, ``hookd-1``), takes events from an outbox and POSTs each to the subscriber's
endpoint, retrying failed attempts with exponential backoff. Telemetry comes from the real libraries: Python
logging through python-json-logger (field names of its own: ``ts``, ``severity``, ``msg``, ``app``,
``instance``, ``delivery_id``, ``dest_host``, ``elapsed_ms``), and the OpenTelemetry metrics SDK (cumulative
counters, a histogram and an observable gauge) read every 60 s and written as OTLP JSON, one
ExportMetricsServiceRequest per line. There are no traces.

Injected faults (times in ``FAULTS``): a rolling deploy of hookd 2.8.0 drops the retry limit (8 attempts ->
unlimited); later one subscriber host answers 503 for every request, so each delivery to it is retried
forever (the retry backlog grows) until the on-call pauses that subscription; after the host is back the
subscription is resumed and the parked deliveries go out. The generator records what it did in
``ground_truth.json`` and ``README.md`` beside the evidence.

Run: ``python scripts/gen_incident_webhooks.py [OUT_DIR]`` (needs the ``sample`` extra). Deterministic.
"""

from __future__ import annotations

import heapq
import io
import itertools
import json
import logging
import pathlib
import sys

import numpy as np
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from pythonjsonlogger.json import JsonFormatter

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from gen_incident_common import MS, S, Clock, _gz, day_clock, iso, log_lines, out_dir, sink_logger, write_incident  # noqa: E402,E501

NAME = "webhooks"
SEED = 20260825  # a seed whose worst-retried delivery is unique (checked in ground_truth)
at = day_clock(2026, 8, 19)

EVIDENCE = (at("13:00:00"), at("17:00:00"))
WINDOW = (at("14:30:00"), at("16:30:00"))
BROKEN = "hooks.crm-relay.example"
FAULTS = {
    "noise_502": (at("13:22:00"), at("13:51:00")),  # the first attempt after each gets one 502 (baseline noise)
    "deploy": {"hookd-0": at("14:12:00"), "hookd-1": at("14:13:30")},  # 2.7.3 -> 2.8.0: retry limit 8 -> none
    "outage": (at("14:41:15"), at("16:14:00")),  # BROKEN answers 503 to every request
    "pause": at("16:02:00"),  # on-call pauses BROKEN's subscription: due retries are parked
    "resume": at("16:20:00"),  # on-call resumes it: parked deliveries are sent again
}
# subscriber host -> (share of the events, median latency in seconds)
SUBSCRIBERS = {"ci.buildhub.example": (0.30, 0.12), "chat.teamtalk.example": (0.25, 0.09),
               "events.analytics-co.example": (0.18, 0.31), BROKEN: (0.15, 0.21), "sink.archive.example": (0.12, 0.45)}
EVENT_TYPES = ("repo.pushed", "build.finished", "issue.commented", "release.published")
MAX_ATTEMPTS = {"2.7.3": 8, "2.8.0": None}  # None: unlimited (the 2.8.0 change)
EXPORT_EVERY = 60 * S
DURATION_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
EV = {"enqueued": "webhook.enqueued", "delivered": "webhook.delivered", "failed": "webhook.attempt_failed",
      "dead": "webhook.dead_lettered", "parked": "webhook.parked", "stopping": "dispatcher.stopping",
      "started": "dispatcher.started", "paused": "subscription.paused", "resumed": "subscription.resumed"}


# ------------------------------------------------------------------------------------------ telemetry


class _Stamp(logging.Filter):
    """Simulated time and the process id of the instance that logs."""

    def __init__(self, inst: "Instance"):
        super().__init__()
        self.inst = inst

    def filter(self, record: logging.LogRecord) -> bool:
        record.created = Clock.now / S  # a whole millisecond: isoformat shows it exactly
        record.msecs = (Clock.now // MS) % 1000
        record.process = self.inst.pid
        return True


def make_logger(inst: "Instance", sink: io.StringIO) -> logging.Logger:
    """python-json-logger with its own field names; ``ts`` is the library's ISO timestamp (``+00:00``)."""
    fmt = JsonFormatter("{levelname}{message}{process}", style="{", timestamp="ts",
                        static_fields={"app": "hookd", "instance": inst.name},
                        rename_fields={"levelname": "severity", "message": "msg", "process": "pid"})
    return sink_logger(f"hookd.dispatch.{inst.name}", sink, _Stamp(inst), fmt)


class Instance:
    """One hookd process: its logger and its own MeterProvider (a restart starts the counters again)."""

    def __init__(self, sim: "Sim", name: str, pid: int, version: str):
        self.sim, self.name, self.pid, self.version = sim, name, pid, version
        self.started = Clock.now
        self.log = make_logger(self, sim.sinks[name])
        self.reader = InMemoryMetricReader()
        res = Resource.create({"service.name": "hookd", "service.version": version,
                               "service.instance.id": name, "process.pid": pid})
        views = [View(instrument_name="hookd.delivery.duration",
                      aggregation=ExplicitBucketHistogramAggregation(DURATION_BUCKETS))]
        self.provider = MeterProvider(resource=res, metric_readers=[self.reader], views=views)
        meter = self.provider.get_meter("hookd.dispatch", version)
        self.m_events = meter.create_counter("hookd.events.received", unit="{event}",
                                             description="Outbox events taken for delivery")
        self.m_attempts = meter.create_counter("hookd.delivery.attempts", unit="{attempt}",
                                               description="Delivery attempts by destination and outcome")
        self.m_duration = meter.create_histogram("hookd.delivery.duration", unit="s",
                                                 description="Duration of one delivery attempt")
        meter.create_observable_gauge("hookd.retry.pending", callbacks=[self._pending], unit="{delivery}",
                                      description="Deliveries waiting for a retry, by destination")

    def _pending(self, options: CallbackOptions):
        counts = {h: 0 for h in SUBSCRIBERS}
        for d in self.sim.deliveries.values():
            if d["instance"] == self.name and d["state"] == "retrying":
                counts[d["host"]] += 1
        return [Observation(n, {"dest_host": h}) for h, n in counts.items()]

    def export(self) -> str:
        """The reader's cumulative state as one OTLP JSON request, stamped with simulated times."""
        req = json_format.MessageToDict(encode_metrics(self.reader.get_metrics_data()),
                                       use_integers_for_enums=True)
        for rm in req["resourceMetrics"]:
            for sm in rm["scopeMetrics"]:
                for m in sm["metrics"]:
                    kind = next(k for k in ("sum", "gauge", "histogram") if k in m)
                    for dp in m[kind]["dataPoints"]:
                        dp["timeUnixNano"] = str(Clock.now)
                        if kind == "gauge":
                            dp.pop("startTimeUnixNano", None)
                        else:
                            dp["startTimeUnixNano"] = str(self.started)
                        self.sim.metric_samples += (len(dp.get("explicitBounds", [])) + 1 + ("sum" in dp) + 1
                                                    if kind == "histogram" else 1)
        return json.dumps(req, separators=(",", ":"))


# ------------------------------------------------------------------------------------------ the system


class Sim:
    """The event loop (timed callbacks on one heap, every time a whole millisecond), the outbox and the operators."""

    def __init__(self):
        Clock.now = EVIDENCE[0]
        self.rng = np.random.default_rng(SEED)
        self.sinks = {n: io.StringIO() for n in ("hookd-0", "hookd-1")}
        self.heap: list = []
        self.seq = itertools.count()
        self.deliveries: dict[str, dict] = {}
        self.attempts: list[dict] = []  # one per logged attempt: log time, host, elapsed_ms as logged, error
        self.metric_lines: list[str] = []
        self.metric_samples = 0
        self.paused: set[str] = set()
        self.noise_done: set[int] = set()
        self.truth: dict = {"changes": []}
        self.instances = {"hookd-0": Instance(self, "hookd-0", 4101, "2.7.3"),
                          "hookd-1": Instance(self, "hookd-1", 4102, "2.7.3")}

    def at(self, t: int, fn):
        heapq.heappush(self.heap, (t // MS * MS, next(self.seq), fn))

    def run(self):
        t0, t1 = EVIDENCE
        t, n = t0, 0
        while True:
            t += int(self.rng.exponential(3.2) * S)
            if t >= t1:
                break
            n += 1
            self.at(t, lambda n=n: self.enqueue(n))
        for name, when in FAULTS["deploy"].items():
            self.at(when, lambda name=name: self.deploy(name, "2.8.0"))
        self.at(FAULTS["pause"], lambda: self.pause(BROKEN, "oncall"))
        self.at(FAULTS["resume"], lambda: self.resume(BROKEN, "oncall"))
        for ts in range(t0 + EXPORT_EVERY, t1 + 1, EXPORT_EVERY):
            for i, inst in enumerate(self.instances):
                self.at(ts + (i * 7 + 3) * MS, lambda inst=inst: self.metric_lines.append(self.instances[inst].export()))
        while self.heap and self.heap[0][0] <= t1:
            Clock.now, _, fn = heapq.heappop(self.heap)
            fn()

    # --- the dispatcher

    def enqueue(self, n: int):
        rng = self.rng
        hosts = list(SUBSCRIBERS)
        host = hosts[int(rng.choice(len(hosts), p=[SUBSCRIBERS[h][0] for h in hosts]))]
        d = {"id": f"dlv_{n:05d}{int(rng.integers(0, 16**6)):06x}", "n": n, "host": host,
             "type": EVENT_TYPES[int(rng.integers(len(EVENT_TYPES)))], "instance": f"hookd-{n % 2}",
             "attempt": 0, "state": "queued", "failed_at": []}
        self.deliveries[d["id"]] = d
        inst = self.instances[d["instance"]]
        inst.m_events.add(1, {"event_type": d["type"]})
        inst.log.info(EV["enqueued"], extra={"delivery_id": d["id"], "event_type": d["type"], "dest_host": host,
                                             "subscription_id": f"sub_{hosts.index(host) + 1:03d}"})
        self.at(Clock.now + int(rng.uniform(40, 300) * MS), lambda: self.attempt(d))

    def attempt(self, d: dict):
        inst, rng = self.instances[d["instance"]], self.rng
        if d["host"] in self.paused:
            d["state"] = "parked"
            inst.log.info(EV["parked"], extra={"delivery_id": d["id"], "dest_host": d["host"], "attempt": d["attempt"],
                                               "reason": "subscription paused"})
            return
        d["attempt"] += 1
        d["state"] = "sending"
        lo, hi = FAULTS["outage"]
        noise = [t for t in FAULTS["noise_502"] if t <= Clock.now and t not in self.noise_done]
        if d["host"] == BROKEN and lo <= Clock.now < hi:
            status, secs = 503, float(rng.lognormal(np.log(0.034), 0.25))
        elif noise and d["host"] != BROKEN:
            self.noise_done.update(noise)
            status, secs = 502, float(rng.lognormal(np.log(0.6), 0.2))
        else:
            status, secs = 200, float(rng.lognormal(np.log(SUBSCRIBERS[d["host"]][1]), 0.4))
        self.at(Clock.now + max(int(secs * 1000), 1) * MS, lambda: self.answered(d, status, secs))

    def answered(self, d: dict, status: int, secs: float):
        inst, rng = self.instances[d["instance"]], self.rng
        elapsed = round(secs * 1000, 1)
        ok = status < 400
        inst.m_attempts.add(1, {"dest_host": d["host"], "outcome": "delivered" if ok else "failed"})
        inst.m_duration.record(secs, {"dest_host": d["host"]})
        self.attempts.append({"time": Clock.now, "host": d["host"], "elapsed_ms": elapsed, "error": not ok})
        common = {"delivery_id": d["id"], "dest_host": d["host"], "attempt": d["attempt"], "http_status": status,
                  "elapsed_ms": elapsed}
        if ok:
            d["state"] = "delivered"
            inst.log.info(EV["delivered"], extra=common)
            return
        limit = MAX_ATTEMPTS[inst.version]
        retry = limit is None or d["attempt"] < limit
        backoff = round(min(2.0 ** d["attempt"], 120.0) * float(rng.uniform(0.85, 1.15)), 3)
        d["failed_at"].append(Clock.now)
        inst.log.error(EV["failed"], extra={**common, "error_type": f"HTTP {status}", "will_retry": retry,
                                            **({"next_retry_in_s": backoff} if retry else {})})
        if retry:
            d["state"] = "retrying"
            self.at(Clock.now + int(backoff * S), lambda: self.attempt(d))
        else:
            d["state"] = "dead"
            inst.log.warning(EV["dead"], extra={"delivery_id": d["id"], "dest_host": d["host"],
                                                "attempts": d["attempt"]})

    # --- operations

    def deploy(self, name: str, version: str):
        old = self.instances[name]
        old.log.info(EV["stopping"], extra={"version": old.version, "reason": "rolling deploy"})
        self.metric_lines.append(old.export())  # a process's last export before it exits
        new = Instance(self, name, old.pid + 100, version)
        self.instances[name] = new
        limit = MAX_ATTEMPTS[version]
        new.log.info(EV["started"], extra={"version": version, "previous_version": old.version,
                                           "retry_max_attempts": limit if limit is not None else "unlimited",
                                           "retry_backoff_max_s": 120})
        self.truth["changes"].append({"time": Clock.now, "value": EV["started"],
                                      "description": f"{name} {old.version} -> {version}: retry limit "
                                                     f"{MAX_ATTEMPTS[old.version]} attempts -> unlimited"})

    def pause(self, host: str, actor: str):
        self.paused.add(host)
        self.instances["hookd-0"].log.warning(EV["paused"], extra={"dest_host": host, "actor": actor})
        self.truth["changes"].append({"time": Clock.now, "value": EV["paused"],
                                      "description": f"subscription of {host} paused by {actor}"})

    def resume(self, host: str, actor: str):
        self.paused.discard(host)
        self.instances["hookd-0"].log.info(EV["resumed"], extra={"dest_host": host, "actor": actor})
        self.truth["changes"].append({"time": Clock.now, "value": EV["resumed"],
                                      "description": f"subscription of {host} resumed by {actor}"})
        for d in self.deliveries.values():
            if d["state"] == "parked" and d["host"] == host:
                d["state"] = "queued"
                self.at(Clock.now + int(self.rng.uniform(0.5, 90) * S), lambda d=d: self.attempt(d))


# ------------------------------------------------------------------------------------------ ground truth


def _p95(values: list[float]) -> float:
    return round(float(np.percentile(np.asarray(values, float), 95)), 3)


def ground_truth(sim: Sim) -> dict:
    lo, hi = FAULTS["outage"]
    pause = FAULTS["pause"]
    worst = sorted(sim.deliveries.values(), key=lambda d: len(d["failed_at"]), reverse=True)
    storm = worst[0]
    if len(worst[1]["failed_at"]) == len(storm["failed_at"]):
        raise SystemExit("two deliveries share the most failed attempts: the retry storm's unit would be ambiguous")
    mine = [a for a in sim.attempts if a["host"] == BROKEN]
    before = [a for a in mine if a["time"] < lo]
    during = [a for a in mine if lo <= a["time"] < pause]
    first_err = min(a["time"] for a in sim.attempts if a["error"] and a["time"] >= WINDOW[0])
    to_broken = [d for d in sim.deliveries.values() if d["host"] == BROKEN and d["failed_at"]]
    # "event": the loaded frame's name for the log's msg
    facts = [{"kind": "change", "time": iso(c["time"]), "column": "event", "value": c["value"],
              "description": c["description"]} for c in sim.truth["changes"]]
    facts += [
        {"kind": "first_error", "time": iso(first_err), "event": EV["failed"]},
        {"kind": "degraded_dependency", "column": "dest_host", "value": BROKEN, "start": iso(lo), "end": iso(pause),
         "mode": "failing", "duration_column": "elapsed_ms",
         "calls_before": len(before), "calls_during": len(during),
         "errors_before": sum(a["error"] for a in before), "errors_during": sum(a["error"] for a in during),
         "p95_before_ms": _p95([a["elapsed_ms"] for a in before]),
         "p95_during_ms": _p95([a["elapsed_ms"] for a in during])},
        {"kind": "retry_storm", "column": "delivery_id", "value": storm["id"], "attempts": len(storm["failed_at"]),
         "first": iso(storm["failed_at"][0]), "last": iso(storm["failed_at"][-1]), "error_type": "HTTP 503"},
    ]
    return {
        "name": NAME,
        "system": "outbound-webhook dispatcher (2 instances) POSTing outbox events to subscriber endpoints with "
                  "retries and backoff",
        "window": {"start": iso(WINDOW[0]), "end": iso(WINDOW[1])},
        "evidence": {"logs": "logs", "traces": None, "metrics": "metrics/hookd.otlp.jsonl.gz"},
        "counts": {"log_lines": log_lines(sim.sinks), "spans": None,
                   "metric_samples": sim.metric_samples},
        "vocabulary": {"entity_column": "instance", "unit_key": "delivery_id", "started": EV["enqueued"],
                       "succeeded": EV["delivered"], "failed": EV["failed"], "heartbeat": None,
                       "dependency_column": None},
        "facts": facts,
        "_context": {
            "evidence": {"start": iso(EVIDENCE[0]), "end": iso(EVIDENCE[1])},
            "deliveries": len(sim.deliveries),
            "dead": sum(d["state"] == "dead" for d in sim.deliveries.values()),
            "to_broken_failed": len(to_broken),
            "to_broken_20": sum(len(d["failed_at"]) >= 20 for d in to_broken),
            "attempts_503": sum(len(d["failed_at"]) for d in to_broken),
            "storm_delivered": storm["state"] == "delivered",
            "undelivered": sum(d["state"] not in ("delivered", "dead") for d in sim.deliveries.values()),
            "export_lines": len(sim.metric_lines),
            "noise": [iso(a["time"]) for a in sim.attempts if a["error"] and a["host"] != BROKEN],
        },
    }


README = """# Sample incident `webhooks`: a subscriber's 503s are retried forever after a deploy

Produced by `scripts/gen_incident_webhooks.py` (seed {seed}), an outbound-webhook dispatcher run on simulated
time from {ev_start} to {ev_end}. `hookd` (two instances, `hookd-0` and `hookd-1`) takes events from an
outbox ({deliveries} in all, one delivery each) and POSTs each to its subscriber's host ({hosts}), retrying
a failed attempt after min(2^attempt, 120) s +-15 %. Telemetry comes from the real libraries: Python logging
through python-json-logger and the OpenTelemetry metrics SDK. There are no traces. Regenerate with
`python scripts/gen_incident_webhooks.py` (needs `pip install -e '.[sample]'`); the output is byte-for-byte
deterministic. Every number below is written by the generator from its own state; `ground_truth.json` holds
the same facts for the tests.

| file | what |
|---|---|
| `logs/hookd-0.log.gz`, `logs/hookd-1.log.gz` | JSON lines from python-json-logger ({log_lines} lines): `ts` (ISO-8601 with `+00:00`), `severity`, `msg` (the frame's `event`: {events}), `app`, `instance`, `pid`, `delivery_id`, `dest_host`, `attempt`, `http_status`, `elapsed_ms`, `error_type`, `next_retry_in_s` |
| `metrics/hookd.otlp.jsonl.gz` | OTLP JSON, one `ExportMetricsServiceRequest` per line ({export_lines} lines, {samples} samples as loaded): every 60 s per instance and once more as an instance stops. Cumulative counters `hookd.events.received`, `hookd.delivery.attempts` (`dest_host`, `outcome`), histogram `hookd.delivery.duration` (s, `dest_host`), gauge `hookd.retry.pending` (`dest_host`). A deploy restarts an instance, so its counters start again from 0 (a new `startTimeUnixNano`) |

## Ground truth (incident window {w_start} to {w_end}; the evidence starts 90 min earlier)

* **Baseline noise**: the only failed attempts to the other hosts are {noise} answered 502 (at {noise_times}),
  each retried once and delivered.
* **Deploy (trigger)**: {deploys}. hookd 2.7.3 dead-lettered a delivery after 8 failed attempts; 2.8.0
  retries forever.
* **Subscriber failing**: `{broken}` answers 503 to every request from {out_start} to {out_end}. Attempt log
  rows (`webhook.delivered` / `webhook.attempt_failed`, which carry `elapsed_ms`) with `dest_host={broken}`,
  counted by log time (the attempt's end): {calls_before} before {out_start} ({errors_before} errors, p95
  {p95_before} ms) and {calls_during} in [{out_start}, {pause}) ({errors_during} errors, p95 {p95_during} ms);
  errors are the ERROR rows; p95 is numpy's default (linear) percentile of `elapsed_ms`. The 503s are fast,
  so the p95 falls: only the error rate shows the failure.
* **First error in the window** {first_error}: the first `webhook.attempt_failed` (HTTP 503).
* **Retry storm**: {to_broken} deliveries to `{broken}` failed ({attempts_503} failed attempts in all,
  {to_broken_20} of them 20 times or more). The worst, `{storm}`, failed **{storm_attempts} times** from
  {storm_first} to {storm_last} (`error_type=HTTP 503`){storm_end}.
* **Recovery**: {pause_desc} at {pause} (due retries to it are logged `webhook.parked`); {resume_desc} at
  {resume}, after the host was back, and the parked deliveries were sent again. Dead-lettered deliveries:
  {dead}; still queued or in flight when the evidence ends: {undelivered}.
"""


def write_readme(path: pathlib.Path, t: dict) -> None:
    c = t["_context"]
    one = {f["kind"]: f for f in t["facts"] if f["kind"] != "change"}
    changes = [f for f in t["facts"] if f["kind"] == "change"]
    dep, storm = one["degraded_dependency"], one["retry_storm"]
    path.write_text(README.format(
        seed=SEED, ev_start=c["evidence"]["start"], ev_end=c["evidence"]["end"], deliveries=c["deliveries"],
        hosts=", ".join(f"`{h}`" for h in SUBSCRIBERS), log_lines=t["counts"]["log_lines"],
        events=", ".join(f"`{e}`" for e in EV.values()), export_lines=c["export_lines"],
        samples=t["counts"]["metric_samples"], w_start=t["window"]["start"], w_end=t["window"]["end"],
        deploys="; ".join(f"{x['time']} {x['description']}" for x in changes if x["value"] == EV["started"]),
        broken=BROKEN, out_start=dep["start"], out_end=iso(FAULTS["outage"][1]), pause=dep["end"],
        calls_before=dep["calls_before"], errors_before=dep["errors_before"], p95_before=dep["p95_before_ms"],
        calls_during=dep["calls_during"], errors_during=dep["errors_during"], p95_during=dep["p95_during_ms"],
        first_error=one["first_error"]["time"], to_broken=c["to_broken_failed"], attempts_503=c["attempts_503"],
        to_broken_20=c["to_broken_20"], storm=storm["value"], storm_attempts=storm["attempts"],
        storm_first=storm["first"], storm_last=storm["last"],
        storm_end=", then delivered after the resume" if c["storm_delivered"] else "",
        pause_desc=next(x["description"] for x in changes if x["value"] == EV["paused"]),
        resume_desc=next(x["description"] for x in changes if x["value"] == EV["resumed"]),
        resume=iso(FAULTS["resume"]), dead=c["dead"], undelivered=c["undelivered"],
        noise=len(c["noise"]), noise_times=", ".join(c["noise"]),
    ))


def main(out: pathlib.Path) -> None:
    sim = Sim()
    sim.run()
    for name, sink in sim.sinks.items():
        _gz(out / "logs" / f"{name}.log.gz", sink.getvalue())
    _gz(out / "metrics" / "hookd.otlp.jsonl.gz", "\n".join(sim.metric_lines) + "\n")
    write_incident(out, ground_truth(sim), write_readme)


if __name__ == "__main__":
    main(out_dir(NAME))
