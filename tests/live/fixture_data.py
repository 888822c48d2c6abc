"""Expected values read from the fixture file the servers were backfilled from (not from obsnb)."""

from __future__ import annotations

LE = ("0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf")


def samples(path: str, series: str) -> dict[int, float]:
    """``{epoch_seconds: value}`` of the series written exactly as ``name{labels}`` in fixture.om."""
    out = {}
    with open(path) as f:
        for line in f:
            if line.startswith(series + " "):
                _, v, t = line.rsplit(" ", 2)
                out[int(t)] = float(v)
    return out


def per_second(path: str, series: str, t: int, step: int = 15) -> float:
    """The counter's increase over the 15 s before ``t`` divided by 15 (the steady rate)."""
    s = samples(path, series)
    return (s[t] - s[t - step]) / step


def bucket_quantile(path: str, q: float, t: int, step: int = 15) -> float:
    """The q-quantile of the observations of the step ending at ``t``, interpolated linearly in the bucket."""
    name = "obsnb_http_request_duration_seconds_bucket"
    counts = [samples(path, f'{name}{{service="api",le="{le}"}}') for le in LE]
    cum = [c[t] - c[t - step] for c in counts]
    rank = q * cum[-1]
    lower, below = 0.0, 0.0
    for le, c in zip(LE, cum):
        if c >= rank:
            return lower + (float(le) - lower) * (rank - below) / (c - below)
        lower, below = float(le), c
    raise AssertionError("rank beyond the last finite bucket")
