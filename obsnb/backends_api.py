"""Compatibility alias: the names that lived here, now in the modules that hold each idea.

Kept because ``benchmarks/bench_prometheus_chunks.py`` still imports ``resolve`` from here (the
analysis helpers import :mod:`obsnb.analysis.remote` directly); new code imports from :mod:`obsnb.sources.backend`
(resolve, fetch, label_of, Secret), :mod:`obsnb.sources.snapshots` and :mod:`obsnb.analysis.remote`.
"""

from __future__ import annotations

from .analysis.remote import remote_gaps, remote_latency
from .sources.backend import Secret, fetch, label_of, resolve
from .sources.snapshots import read_snapshot, snapshot

__all__ = ["fetch", "resolve", "snapshot", "read_snapshot", "label_of", "Secret", "remote_latency", "remote_gaps"]
