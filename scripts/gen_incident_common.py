"""What the sample-incident generators (``scripts/gen_incident_<name>.py``) share: simulated time, its ISO form,
a logger that writes only to an in-memory sink, and writing an incident's folder.

Not an incident itself (no ``sample_data/incidents/common``). The gzip writer is the bundled sample's, so every
``.gz`` file is reproducible byte for byte (no mtime, no file name in the header).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import pathlib
import sys
from typing import Callable

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from gen_sample_incident import _gz  # noqa: E402,F401  (re-exported for the generators)

UTC = dt.timezone.utc
S, MS = 10**9, 10**6


class Clock:
    """Simulated time in ns; the generators' log filters, spans and metric exports read it."""

    now = 0


def day_clock(year: int, month: int, day: int) -> Callable[[str], int]:
    """``at("HH:MM:SS")``: nanoseconds since the epoch of that wall-clock time (UTC) on the given day."""
    base = dt.datetime(year, month, day, tzinfo=UTC)

    def at(hh_mm_ss: str) -> int:
        h, m, s = (int(x) for x in hh_mm_ss.split(":"))
        return int(base.replace(hour=h, minute=m, second=s).timestamp()) * S

    return at


def iso(ns: int) -> str:
    """ISO-8601 UTC with milliseconds and ``Z`` (the ground truth's form)."""
    return dt.datetime.fromtimestamp(ns // S, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{(ns // MS) % 1000:03d}Z"


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
