"""A silence needs a usual gap to compare with: a burst of a few lines that ends is not an entity going silent."""

from __future__ import annotations

import polars as pl

import obsnb as ob

T0 = 1_758_528_000 * 10**9  # 2025-09-22T08:00:00Z
S = 10**9


def test_a_burst_of_four_lines_is_not_a_silence_but_a_steady_host_that_stops_is():
    """host a logs every 5 s from 08:00 and stops at 09:30; host b logs 4 lines at 09:30:00-03 and nothing after.
    With the window 09:20-11:00, a is silent from its last line (09:29:55 + 5 s cadence) and b is not a finding."""
    times = [T0 + i * 5 * S for i in range(0, 90 * 12)]  # a: 08:00:00 .. 09:29:55
    burst = [T0 + 90 * 60 * S + i * S for i in range(4)]  # b: 09:30:00 .. 09:30:03
    logs = pl.DataFrame({
        "time": pl.Series(times + burst).cast(pl.Datetime("ns", "UTC")),
        "level": ["INFO"] * (len(times) + 4),
        "event": ["tick done"] * len(times) + ["config applied"] * 4,
        "host": ["a"] * len(times) + ["b"] * 4,
    })
    found = ob.investigate(logs, None, None, start="2025-09-22T09:20Z", end="2025-09-22T11:00Z")
    silent = [(f.entity_column, f.entity_value, f.numbers["silent_from"]) for f in found.of("silence")]
    assert silent == [("host", "a", "2025-09-22T09:29:55.000Z")]
