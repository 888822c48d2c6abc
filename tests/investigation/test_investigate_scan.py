"""ob.investigate on scans and on paths: the same findings as on the frames ob.load gives for the same files,
and looked_at says how the scanned evidence was read. On a scan it never holds the evidence's rows: every query
runs lazily over the store's Parquet and collects only aggregates (per bucket, entity, unit, value) and a few
example rows."""

from __future__ import annotations

import json
import shutil
import warnings

import pytest
from _support import SAMPLE_DATA, record_collects

import obsnb as ob
from obsnb import options

INCIDENTS = sorted((SAMPLE_DATA / "incidents").glob("*/ground_truth.json"))


@pytest.fixture(autouse=True)
def _options(monkeypatch):
    for name in ("cache", "cache_row_group", "engine", "progress"):
        monkeypatch.setitem(options._OPTIONS, name, options._OPTIONS[name])
    ob.set_option("progress", False)
    ob.set_option("cache_row_group", 500)


def _sources(truth_path):
    truth = json.loads(truth_path.read_text())
    ev = truth["evidence"]
    return truth["window"], {"logs": ev["logs"], "spans": ev["traces"], "metrics": ev["metrics"]}, truth_path.parent


def _same(a, b):
    """Everything but looked_at (which says how the evidence was read) is the same document."""
    ja, jb = json.loads(a.to_json()), json.loads(b.to_json())
    la, lb = ja.pop("looked_at"), jb.pop("looked_at")
    assert ja == jb
    assert {k: v for k, v in la.items() if k != "telemetry_gap"} == {k: v for k, v in lb.items() if k != "telemetry_gap"}
    assert len(ja["findings"]) > 0


@pytest.mark.parametrize("truth_path", INCIDENTS, ids=[p.parent.name for p in INCIDENTS])
def test_investigate_on_scans_equals_on_frames(truth_path):
    window, src, folder = _sources(truth_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frames = {k: ob.load(str(folder / v), k, engine="polars") if v else None for k, v in src.items()}
        scans = {k: ob.scan(str(folder / v), k) if v else None for k, v in src.items()}
        want = ob.investigate(**frames, start=window["start"], end=window["end"])
        got = ob.investigate(**scans, start=window["start"], end=window["end"])
    _same(got, want)
    for k, v in src.items():
        if v:
            rows = frames[k].height
            assert f"the {k} were a scan of" in got.looked_at["telemetry_gap"]
            assert f"ran over its {rows:,} rows in the engine" in got.looked_at["telemetry_gap"]
    assert got.evidence == want.evidence


def test_investigate_on_a_path_with_the_store_on_reads_through_a_scan(tmp_path):
    window, src, folder = _sources(INCIDENTS[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frames = {k: ob.load(str(folder / v), k, engine="polars") if v else None for k, v in src.items()}
        want = ob.investigate(**frames, start=window["start"], end=window["end"])
        paths = {k: str(folder / v) if v else None for k, v in src.items()}
        plain = ob.investigate(**paths, start=window["start"], end=window["end"])  # store off: loaded
        ob.set_option("cache", str(tmp_path / "store"))
        stored = ob.investigate(**paths, start=window["start"], end=window["end"])
    _same(plain, want)
    _same(stored, want)
    assert "scan of" not in plain.looked_at.get("telemetry_gap", "")
    assert "scan of" in stored.looked_at["telemetry_gap"]
    assert any((tmp_path / "store").iterdir())  # the files went through the store


#: the most rows any one query of the investigation may collect (aggregates are per bucket, entity or value,
#: examples a handful): far fewer than each incident's evidence (the smallest kind of which has 5,676 rows)
MAX_ROWS = 300


def _scans(truth_path):
    window, src, folder = _sources(truth_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scans = {k: ob.scan(str(folder / v), k) if v else None for k, v in src.items()}
        for s in scans.values():
            if s is not None:
                s.explain()  # ingest the files into the store now: parsing them is not the investigation
    return window, scans


@pytest.mark.parametrize("truth_path", INCIDENTS, ids=[p.parent.name for p in INCIDENTS])
def test_investigate_on_a_scan_collects_only_aggregates_and_examples(truth_path, monkeypatch):
    window, scans = _scans(truth_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = {k: s.collect(engine="polars").height for k, s in scans.items() if s is not None}
    assert min(rows.values()) > 10 * MAX_ROWS  # the bound below is far from the evidence's size
    collected = record_collects(monkeypatch, next(s for s in scans.values() if s is not None))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = ob.investigate(**scans, start=window["start"], end=window["end"])
    assert len(got.items) > 0
    assert collected, "the investigation ran no query on the scans"
    assert max(collected) <= MAX_ROWS
    # what it counted is every row of the scans, though it never held them
    assert got.evidence == {k: rows.get(k, 0) for k in ("logs", "spans", "metrics")}



def test_rows_from_a_scan_name_the_files_as_the_scan_names_them(tmp_path, monkeypatch):
    """The store keeps the name a file had when it was ingested; the findings name it as this scan does."""
    window, src, folder = _sources(INCIDENTS[0])
    shutil.copytree(folder / src["logs"], tmp_path / "logs")
    ob.set_option("cache", str(tmp_path / "store"))
    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ob.scan("logs", "logs").explain()  # ingested under relative names
        got = ob.investigate(ob.scan(str(tmp_path / "logs"), "logs"), start=window["start"], end=window["end"])
        want = ob.investigate(ob.load(str(tmp_path / "logs"), "logs", engine="polars"), start=window["start"], end=window["end"])
    first = got.of("first_error")[0].numbers["source"]
    assert first.startswith(str(tmp_path / "logs"))
    assert first == want.of("first_error")[0].numbers["source"]
