"""Server-side aggregation: the small spec a backend compiles into its own queries.

The analysis helpers' backend forms (``ob.latency("prod-prom", ...)``, ``ob.gaps("prod-prom", ...)``,
see :mod:`obsnb.analysis.remote`) describe what they want as an :class:`Aggregation` and ask
:func:`plan` how the source answers it. :func:`plan` resolves the source like ``load()`` does
(URL scheme or obsnb.toml name -> the backend class in :data:`obsnb.registry.BACKENDS`) and hands
the spec to that backend's compiler in :data:`COMPILERS`. The answer is a :class:`Plan`: the
queries to run through ``load()`` (so snapshots, windows and rejected-record accounting are the
same as for any load) and the shape each one answers in.

The spec
--------
``measure``
    What is read: ``"quantiles"`` (latency from a histogram) or ``"absence"`` (silence).
``series``
    The series the backend reads: a classic histogram's base name for quantiles
    (``http_request_duration_seconds``; ``_bucket`` is added), a selector for absence (``up``).
``matchers``
    Label filters, ``{"label": "value"}`` or the backend's own text.
``by``
    Group keys: the label (or column) names kept in the answer, one row per time and group.
``bucket``
    The window each point aggregates over (PromQL's range ``[5m]``; a SQL backend's time bucket).
``quantiles``
    For ``quantiles``: the quantiles wanted, ``(0.5, 0.95)``; answer columns ``p50``, ``p95``.
``absence``
    For ``absence``: the threshold; a point means "no sample in the ``absence`` before this time".

What a backend's compiler returns
---------------------------------
``Plan.queries`` is a list of ``(column, query)``; each query, loaded as ``kind="metrics"`` over the
caller's window with the caller's ``step=`` (or ``Plan.step_ns`` when the compiler chose one),
answers ``time``, the ``by`` labels and ``value``:

* for ``quantiles``, one query per quantile, ``value`` being that quantile, renamed ``column``;
* for ``absence``, one query whose rows are exactly the evaluation times (every ``Plan.step_ns``)
  at which the series had no sample in the preceding ``absence``.

Adding a backend (ClickHouse SQL, LogQL, Elasticsearch aggregations) is one compiler that answers
in these shapes and one line in :data:`COMPILERS`; the helpers above do not change.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

from .. import registry
from ..errors import UsageError
from ..timeutil import duration_ns
from .backend import scheme_of
from .prometheus import auto_step, promql_absent_over_time, promql_histogram_quantile

__all__ = ["Aggregation", "Plan", "plan", "quantile_column", "COMPILERS"]


@dataclasses.dataclass(frozen=True)
class Aggregation:
    """What a helper asks a backend to compute server-side (see the module docs)."""

    measure: str                                   # "quantiles" or "absence"
    series: str
    by: tuple[str, ...] = ()
    bucket: Any = "5m"
    quantiles: tuple[float, ...] = ()
    absence: Any = None
    matchers: Any = None

    def __post_init__(self):
        if self.measure not in ("quantiles", "absence"):
            raise UsageError(f"unknown aggregation measure {self.measure!r}: 'quantiles' or 'absence'")


@dataclasses.dataclass(frozen=True)
class Plan:
    """How one backend answers an :class:`Aggregation`: ``(column, query)`` pairs and the evaluation step."""

    queries: list[tuple[str, str]]
    step_ns: int | None = None                     # None: the caller's step=, else the backend's choice


def quantile_column(q: float) -> str:
    """The answer column of quantile ``q``: 0.95 -> ``p95``, 0.999 -> ``p99.9``."""
    return f"p{float(q) * 100:g}"


def _promql(spec: Aggregation, start_ns: int | None, end_ns: int | None, step: Any) -> Plan:
    if spec.measure == "quantiles":
        return Plan([(quantile_column(q), promql_histogram_quantile(spec.series, q, by=list(spec.by),
                                                                    matchers=spec.matchers, window=spec.bucket))
                     for q in spec.quantiles])
    thr = duration_ns(spec.absence)
    step_ns = duration_ns(step) if step is not None else min(thr, auto_step(end_ns - start_ns))
    return Plan([("absent", promql_absent_over_time(spec.series, spec.absence, spec.matchers))], step_ns)


# backend class ("module:Class", as obsnb.registry.BACKENDS names it) -> compiler(spec, start_ns, end_ns, step)
COMPILERS: dict[str, Callable[..., Plan]] = {
    "obsnb.sources.prometheus:Prometheus": _promql,
}


def plan(source: str, spec: Aggregation, *, start_ns: int | None, end_ns: int | None, step: Any = None) -> Plan:
    """The queries with which ``source`` (a backend URL or obsnb.toml name) answers ``spec``."""
    scheme = scheme_of(source)
    backend = registry.get_backend(scheme)  # an unknown scheme: the registry's error, listing the known ones
    # the backend's own compiler, else its nearest base class's (a Prometheus subclass speaks PromQL)
    names = [f"{c.__module__}:{c.__qualname__}" for c in backend.__mro__]
    compiler = next((COMPILERS[n] for n in names if n in COMPILERS), None)
    if compiler is None:
        raise UsageError(f"{scheme}:// cannot compute {spec.measure} server-side yet; load the data with "
                         "ob.load() and run the helper on the frame")
    return compiler(spec, start_ns, end_ns, step)
