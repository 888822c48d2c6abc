"""Pieces shared by the ``gen_incident_<name>.py`` generators (not a generator itself).

Simulated time, seeded OpenTelemetry ids, deterministic gzip, ISO times, numpy percentiles, a logger that
writes only to an in-memory sink, and writing an incident's folder: every generator runs real instrumented
code on a simulated clock so that its output is byte-for-byte the same on every run.
"""

from __future__ import annotations

import datetime as dt
import gzip
import heapq
import io
import itertools
import json
import logging
import pathlib
import sys
import uuid
from typing import Callable

import numpy as np
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.id_generator import IdGenerator

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from gen_sample_incident import _gz  # noqa: E402,F401  (re-exported: the bundled sample's reproducible gzip writer)

UTC = dt.timezone.utc
S = 10**9
MS = 10**6
US = 10**3


class Clock:
    """Simulated time in ns since the epoch; loggers, spans and scrapes all read it."""

    now = 0


class SeededIds(IdGenerator):
    """Deterministic trace and span ids from their own random stream."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)

    def generate_span_id(self) -> int:
        return int(self.rng.integers(1, 2**63)) | 1

    def generate_trace_id(self) -> int:
        return int(self.rng.integers(1, 2**63)) << 64 | int(self.rng.integers(1, 2**63))


def seeded_uuid(rng: np.random.Generator) -> str:
    """A version-4 UUID drawn from ``rng`` (Celery-style task ids, message ids)."""
    return str(uuid.UUID(bytes=rng.bytes(16), version=4))


def tracer_provider(exporter, ids: IdGenerator, **resource) -> TracerProvider:
    """A TracerProvider exporting every ended span to ``exporter`` (an in-memory one)."""
    # Resource() rather than Resource.create(): no environment detectors and no SDK version, so the
    # output does not change with OTEL_* variables or an SDK upgrade.
    attrs = {"telemetry.sdk.language": "python", "telemetry.sdk.name": "opentelemetry", **resource}
    tp = TracerProvider(resource=Resource(attrs), id_generator=ids)
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    return tp


class EventLoop:
    """A heap of (time, seq, callback); ``run`` advances ``Clock.now`` to each event in turn."""

    def __init__(self):
        self.heap: list = []
        self.seq = itertools.count()

    def schedule(self, t: int, fn) -> None:
        heapq.heappush(self.heap, (int(t), next(self.seq), fn))

    def run(self, until: int) -> None:
        while self.heap and self.heap[0][0] <= until:
            Clock.now, _, fn = heapq.heappop(self.heap)
            fn()


def iso(ns: int) -> str:
    """ISO-8601 UTC with milliseconds and Z (truncated, as the log lines write it)."""
    return dt.datetime.fromtimestamp(ns // S, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{(ns // MS) % 1000:03d}Z"


def ns_of(d: dt.datetime) -> int:
    return int(d.timestamp()) * S + d.microsecond * US


def write_gz(path: pathlib.Path, text: str) -> None:
    """gzip with no name and mtime 0, so the bytes depend on the text only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as f:
        f.write(text.encode())


def p95(values) -> float | None:
    """numpy's default (linear) 95th percentile, rounded to 0.001 ms; None when there are no values."""
    return round(float(np.percentile(np.asarray(values, float), 95)), 3) if len(values) else None


def day_clock(year: int, month: int, day: int) -> Callable[[str], int]:
    """``at("HH:MM:SS")``: nanoseconds since the epoch of that wall-clock time (UTC) on the given day."""
    base = dt.datetime(year, month, day, tzinfo=UTC)

    def at(hh_mm_ss: str) -> int:
        h, m, s = (int(x) for x in hh_mm_ss.split(":"))
        return int(base.replace(hour=h, minute=m, second=s).timestamp()) * S

    return at


def sink_logger(name: str, sink: io.StringIO, stamp: logging.Filter, formatter: logging.Formatter) -> logging.Logger:
    """A logger writing only to ``sink`` through ``formatter``; ``stamp`` sets the simulated time and context.
    Calling it again with the same name (a restarted process) replaces the handler."""
    log = logging.getLogger(name)
    log.handlers.clear()
    log.propagate = False
    log.setLevel(logging.INFO)
    handler = logging.StreamHandler(sink)
    handler.addFilter(stamp)
    handler.setFormatter(formatter)
    log.addHandler(handler)
    return log


def log_lines(sinks: dict[str, io.StringIO]) -> int:
    return sum(s.getvalue().count("\n") for s in sinks.values())


def write_incident(out: pathlib.Path, truth: dict, write_readme: Callable[[pathlib.Path, dict], None]) -> None:
    """README.md (which may read ``truth["_context"]``), then ground_truth.json without ``_context``; prints sizes."""
    write_readme(out / "README.md", truth)
    truth = {k: v for k, v in truth.items() if k != "_context"}
    (out / "ground_truth.json").write_text(json.dumps(truth, indent=2) + "\n")
    for p in sorted(out.rglob("*.gz")):
        print(f"{p.relative_to(out)}  {p.stat().st_size:,} B")


def out_dir(name: str) -> pathlib.Path:
    """The folder to write: the command line's first argument, else ``sample_data/incidents/<name>``."""
    return (pathlib.Path(sys.argv[1]) if len(sys.argv) > 1
            else pathlib.Path(__file__).parents[1] / "sample_data" / "incidents" / name)
