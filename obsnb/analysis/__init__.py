"""The questions asked at 3 AM, one call each, on pandas or polars frames (the same kind comes back).

=====================  =======================================================================
``latency``            percentiles per group and epoch-aligned bucket, with counts
``histogram_quantile`` PromQL's ``histogram_quantile`` over classic ``le`` buckets
``increase``           PromQL's ``increase``: counter growth per window (resets, extrapolation)
``counter_rate``       PromQL's ``rate``: per-second counter growth per window
``irate``              PromQL's ``irate``: per-second growth between the last two samples
``delta``              PromQL's ``delta`` for gauges (``idelta``: last two samples)
``rate``               events per bucket, empty buckets present as zero
``error_rate``         errors / events per bucket
``gaps``               silences longer than a threshold (leading and trailing ones with a window)
``stalls``             units of work started and never finished, with their age
``oldest_age``         the "age of the oldest in-flight unit" series
``retries``            units of work retried again and again
``timeline``           one trace (or a chain joined through queues) in time order, with depth
``compare``            attribute values over-represented in the incident rows (BubbleUp)
``log_patterns``       messages grouped into templates with counts and first/last seen
``with_patterns``      every row with its template (``pattern_id``, ``pattern``)
=====================  =======================================================================
"""

from __future__ import annotations

from .absence import error_rate, gaps, rate
from .compare import compare
from .counters import counter_rate, delta, idelta, increase, irate
from .histograms import histogram_quantile
from .latency import latency
from .patterns import log_patterns, with_patterns
from .retries import retries
from .stalls import oldest_age, stalls
from .timeline import timeline

__all__ = [
    "latency",
    "histogram_quantile",
    "increase",
    "counter_rate",
    "irate",
    "delta",
    "idelta",
    "rate",
    "error_rate",
    "gaps",
    "stalls",
    "oldest_age",
    "retries",
    "timeline",
    "compare",
    "log_patterns",
    "with_patterns",
]
