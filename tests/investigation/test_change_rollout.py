"""Change findings as an operator reads them: one config push to several nodes is one change naming them, and
the values keep their type in the text (``old=4``, not ``old=4.0``).

Each test writes the log a user would have (in tmp_path); expected values come from how it is built here."""

from __future__ import annotations

import datetime as dt
import json
import warnings

import pytest

import obsnb as ob

T0 = dt.datetime(2026, 9, 22, 8, 0, tzinfo=dt.timezone.utc)
WINDOW = {"start": "2026-09-22T09:00Z", "end": "2026-09-22T11:00Z"}


def at(sec: float) -> str:
    return (T0 + dt.timedelta(seconds=sec)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def fleet(nodes: int, pushes: list[tuple[float, str, list[int]]]) -> list[dict]:
    """``nodes`` consumers log `batch committed` every 30 s for 3 h; each push (time, revision, node numbers)
    logs `config revision applied` on those nodes, one second apart."""
    out = [{"time": at(t), "level": "INFO", "event": "batch committed", "node": f"n-{i:02d}", "count": 200}
           for t in range(0, 3 * 3600, 30) for i in range(nodes)]
    for t, rev, which in pushes:
        out += [{"time": at(t + k), "level": "INFO", "event": "config revision applied", "node": f"n-{i:02d}",
                 "rev": rev} for k, i in enumerate(which)]
    return out


def changes(tmp_path, records, engine=None):
    f = tmp_path / "app.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in sorted(records, key=lambda r: r["time"])))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logs = ob.load(str(f), engine=engine) if engine else ob.load(str(f))
    return [f for f in ob.investigate(logs, None, None, **WINDOW).of("change") if f.numbers["what"] == "change"]


def test_a_push_to_four_nodes_is_one_change(tmp_path):
    """Revision r882 applied on the 4 nodes at T0+90 min, +1 s, +2 s, +3 s: one finding from the first to the last,
    naming the 4 nodes."""
    found = changes(tmp_path, fleet(4, [(90 * 60, "r882", [0, 1, 2, 3])]))
    assert len(found) == 1
    f = found[0]
    assert (f.numbers["events"], f.numbers["first"], f.numbers["last"]) == (4, at(90 * 60), at(90 * 60 + 3))
    assert f.numbers["who"] == {"node": ["n-00", "n-01", "n-02", "n-03"]} and f.numbers["who_count"] == {"node": 4}
    t0_ns = int(T0.timestamp()) * 10**9
    assert (f.start, f.end) == (t0_ns + 90 * 60 * 10**9, t0_ns + (90 * 60 + 3) * 10**9)
    assert "on 4 `node` values (n-00, n-01, n-02, n-03), 4 events from 2026-09-22 09:30:00.000 UTC to " \
           "2026-09-22 09:30:03.000 UTC" in f.summary
    assert "rev=r882" in f.summary and "node=" not in f.summary


def test_a_push_to_many_nodes_names_the_first_few(tmp_path):
    """Nine nodes: the count is 9, the first five are named, the text says there are more."""
    f, = changes(tmp_path, fleet(9, [(90 * 60, "r882", list(range(9)))]))
    assert f.numbers["who"] == {"node": [f"n-{i:02d}" for i in range(5)]} and f.numbers["who_count"] == {"node": 9}
    assert "on 9 `node` values (n-00, n-01, n-02, n-03, n-04, ...)" in f.summary


def test_different_values_or_far_apart_are_different_changes(tmp_path):
    """r882 on nodes 0-1 and r883 on nodes 2-3 at the same minute are two changes; r882 again on node 0 an hour
    later is a third."""
    found = changes(tmp_path, fleet(4, [(90 * 60, "r882", [0, 1]), (90 * 60 + 10, "r883", [2, 3]),
                                        (150 * 60, "r882", [0])]))
    got = sorted((f.numbers["fields"]["rev"], f.numbers["first"], f.numbers["events"]) for f in found)
    assert got == [("r882", at(90 * 60), 2), ("r882", at(150 * 60), 1), ("r883", at(90 * 60 + 10), 2)]


@pytest.mark.parametrize("engine", ["pandas", "polars"])
def test_integers_print_as_integers(tmp_path, engine):
    """`old=4 new=16` in a logfmt line (a column with nulls elsewhere, which pandas holds as float) reads back as
    old=4, new=16; a real decimal keeps its point."""
    lines = [f't={at(t)} level=info msg="part stored" host=exp-1' for t in range(0, 3 * 3600, 60)]
    lines.append(f't={at(80 * 60 + 1)} level=info msg="config pushed" host=cfg-1 key=parallel_parts old=4 new=16 ratio=2.5')
    f = tmp_path / "app.log"
    f.write_text("\n".join(sorted(lines)) + "\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logs = ob.load(str(f), engine=engine)
    c, = [x for x in ob.investigate(logs, None, None, **WINDOW).of("change") if x.numbers["what"] == "change"]
    assert {k: c.numbers["fields"][k] for k in ("old", "new", "ratio")} == {"old": "4", "new": "16", "ratio": "2.5"}
    assert "old=4, new=16, ratio=2.5" in c.summary
