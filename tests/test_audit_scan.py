"""ob.audit on scans: the very rows (verdicts, summaries, numbers, examples) it gives on the frames ob.load gives for
the same files, on the bundled sample and each generated public incident, without ever holding a scan's rows:
every query of every rule collects only counts, one row per event name, entity, series or dependency, and a few
example rows."""

from __future__ import annotations

import pathlib
import warnings

import polars as pl
import pytest
from _support import record_collects

import obsnb as ob
from obsnb import options

ROOT = pathlib.Path(__file__).resolve().parents[1] / "sample_data"
DIRS = {"sample": ROOT, **{p.name: p for p in sorted((ROOT / "incidents").iterdir()) if p.is_dir()}}
KINDS = (("logs", "logs"), ("spans", "traces"), ("metrics", "metrics"))
#: the most rows any one query of the audit may collect: far fewer than each evidence's rows (5,676 at the least)
MAX_ROWS = 50


@pytest.fixture(autouse=True)
def _options(monkeypatch, tmp_path):
    for name in ("cache", "cache_row_group", "engine", "progress"):
        monkeypatch.setitem(options._OPTIONS, name, options._OPTIONS[name])
    ob.set_option("progress", False)
    ob.set_option("cache_row_group", 500)  # many row groups per file
    ob.set_option("cache", str(tmp_path / "store"))


def _evidence(name):
    d = DIRS[name]
    frames, scans = {}, {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for kind, sub in KINDS:
            if (d / sub).is_dir():
                frames[kind] = ob.load(str(d / sub), kind=kind, engine="polars")
                scans[kind] = ob.scan(str(d / sub), kind)
                scans[kind].explain()  # parsed into the store now: parsing is not the audit
    return frames, scans


@pytest.mark.parametrize("name", sorted(DIRS))
def test_audit_on_scans_is_the_audit_on_the_loaded_frames(name, monkeypatch):
    frames, scans = _evidence(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = ob.audit(**frames)
    assert min(f.height for f in frames.values()) > 10 * MAX_ROWS  # the bound is far from the evidence's size
    collected = record_collects(monkeypatch, next(iter(scans.values())))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = ob.audit(**scans)
    monkeypatch.undo()
    assert collected and max(collected) <= MAX_ROWS
    assert got.rows == want.rows
    # what the log rules counted is every row of the scan, though they never held them
    if "logs" in frames:
        assert got.of("structured")["numbers"]["rows"] == frames["logs"].height
        errors = frames["logs"].filter(pl.col("level").is_in(["ERROR", "CRITICAL"])).height
        assert got.of("levels_mean_something")["numbers"]["error_rows"] == errors
    if "spans" in frames:
        calls = frames["spans"].filter(pl.col("kind").is_in(["CLIENT", "PRODUCER"])).height
        assert got.of("boundaries_logged")["numbers"].get("calls", 0) == calls


def test_audit_of_a_scan_answers_in_the_engine_option_and_takes_a_window():
    frames, scans = _evidence("webhooks")
    logs = scans["logs"]
    t0, t1 = logs.time_range()
    mid = t0 + (t1 - t0) / 2
    ob.set_option("engine", "pandas")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        half = ob.audit(logs.window(t0, mid))
        want = ob.audit(frames["logs"].filter(pl.col("time") < mid))
    assert half.engine == "pandas" and type(half.frame).__module__.startswith("pandas")
    assert half.rows == want.rows
    assert half.of("structured")["numbers"]["rows"] == frames["logs"].filter(pl.col("time") < mid).height
