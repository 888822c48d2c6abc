"""Scrubbing a frame of log messages: Scrub.frame (polars regex kernels find candidates, one keyed hash per
distinct value, Aho-Corasick puts the pseudonyms back) against Scrub.text called on every row, side by side.

    python benchmarks/bench_scrub.py [--rows 200000] [--users 2000] [--repeat 3]

The frame is synthetic (built in memory, nothing written): messages naming one of ``--users`` e-mail
addresses and IPv4 addresses, a user.id column, and a version string that must be kept. Both ways must
give the same frame; the script says so and prints the medians and their ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import numpy as np
import polars as pl


def frame(rows: int, users: int) -> pl.DataFrame:
    rng = np.random.default_rng(7)
    u = rng.integers(0, users, rows)
    ip = rng.integers(1, 250, (rows, 2))
    who = pl.Series(u).cast(pl.String)
    msg = pl.concat_str([pl.lit("login failed for user"), who, pl.lit("@example.com from 10.20."),
                         pl.Series(ip[:, 0]).cast(pl.String), pl.lit("."), pl.Series(ip[:, 1]).cast(pl.String),
                         pl.lit(" client version=1.2.3.4 attempt "), pl.Series(rng.integers(0, 9, rows)).cast(pl.String)])
    return pl.select(pl.concat_str([pl.lit("u-"), who]).alias("user.id"), msg.alias("message"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--users", type=int, default=2_000)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    os.environ.setdefault("XDG_CONFIG_HOME", tempfile.mkdtemp(prefix="obsnb-bench-key-"))
    from obsnb.scrub import Scrub

    df = frame(a.rows, a.users)
    vec, loop = [], []
    for _ in range(a.repeat):
        s = Scrub(fields=["user.id"])
        t0 = time.perf_counter()
        got = s.frame(df)
        t1 = time.perf_counter()
        by_row = pl.DataFrame({"user.id": got["user.id"],  # the field column is a mapping either way
                               "message": [s.text(m) for m in df["message"].to_list()]})
        t2 = time.perf_counter()
        vec.append(t1 - t0)
        loop.append(t2 - t1)
    assert got.equals(by_row), "the two ways disagree"
    v, lo = statistics.median(vec), statistics.median(loop)
    print(f"frame: {a.rows:,} rows, {a.users:,} users; {a.repeat} rounds, medians; both ways give the same frame")
    print(f"Scrub.frame (polars kernels)   {v:8.3f} s")
    print(f"Scrub.text per row (Python)    {lo:8.3f} s")
    print(f"ratio per-row / frame: {lo / v:.1f}x")


if __name__ == "__main__":
    main()
