"""The store (obsnb.cache): time-sorted Parquet with row-group statistics, shared, keyed on the parser's
revision, under a disk cap. What a load reads is shown from the Parquet files and the reads themselves."""

from __future__ import annotations

import os
import pathlib
import warnings

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_scan import BAD_LINES, messy_lines  # noqa: F401  (the messy JSON-lines file)

import obsnb as ob
from obsnb import api, cache, options
from obsnb.errors import RejectedRecordsWarning


@pytest.fixture(autouse=True)
def _options(monkeypatch):
    for name in ("cache", "cache_row_group", "cache_chunk_bytes", "cache_max_bytes", "progress"):
        monkeypatch.setitem(options._OPTIONS, name, options._OPTIONS[name])
    ob.set_option("cache_row_group", 256)
    ob.set_option("progress", False)


@pytest.fixture
def messy(tmp_path):
    p = tmp_path / "app.jsonl"
    p.write_text("\n".join(messy_lines()) + "\n")
    return p


def quiet_load(*a, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RejectedRecordsWarning)
        return ob.load(*a, **kw)


def entries(store: pathlib.Path) -> list[pathlib.Path]:
    """The store's entries, once its background writes are done."""
    cache.flush()
    return [d for d in store.iterdir() if not d.name.startswith(".")]


def parts_of(store: pathlib.Path) -> list[pathlib.Path]:
    cache.flush()  # a load writes its entry in the background
    return sorted(store.glob("[!.]*/part-*.parquet"))


def _stats(part: pathlib.Path) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Each row group's (min, max) time, from the Parquet footer."""
    md = pq.read_metadata(part)
    ti = md.schema.to_arrow_schema().names.index("time")
    out = []
    for g in range(md.num_row_groups):
        st = md.row_group(g).column(ti).statistics
        assert st.has_min_max
        out.append((pd.Timestamp(st.min), pd.Timestamp(st.max)))
    return out


def test_a_file_in_time_order_is_stored_as_it_is_with_row_groups_meeting_only_neighbours(messy, tmp_path):
    """Every 10th line is 5 s early: groups of 256 rows overlap their neighbours in time, no others."""
    store = tmp_path / "store"
    got = quiet_load(messy, cache=store)
    (part,) = parts_of(store)
    md = pq.read_metadata(part)
    assert md.num_rows == 2997 and md.num_row_groups == 12  # 256 rows a group
    assert pq.read_table(part, columns=["_line"]).column("_line").to_pylist() == list(got["_line"])  # file order
    st = _stats(part)
    assert all(st[i][1] < st[j][0] for i in range(len(st)) for j in range(i + 2, len(st)))
    assert any(st[i][1] > st[i + 1][0] for i in range(len(st) - 1))  # the jitter is there


def test_a_file_out_of_time_order_is_stored_sorted(tmp_path):
    import random

    lines = messy_lines()
    random.Random(7).shuffle(lines)
    p = tmp_path / "shuffled.jsonl"
    p.write_text("\n".join(lines) + "\n")
    store = tmp_path / "store"
    got = quiet_load(p, cache=store)
    (part,) = parts_of(store)
    times = pq.read_table(part, columns=["time"]).column("time").cast(pa.int64()).to_pylist()
    assert times == sorted(times)
    st = _stats(part)
    assert all(st[i][1] <= st[i + 1][0] for i in range(len(st) - 1))
    pd.testing.assert_frame_equal(got, quiet_load(p, cache=None))  # the file's order comes back
    lo, hi = pd.Timestamp("2024-05-14T12:20:00Z"), pd.Timestamp("2024-05-14T12:22:00Z")
    assert len(ob.scan(p, cache=store, start=lo, end=hi).explain()[0]["row_groups"]) <= 2
    pd.testing.assert_frame_equal(quiet_load(p, cache=store, start=lo, end=hi), quiet_load(p, cache=None, start=lo, end=hi))


def _groups_overlapping(part: pathlib.Path, lo: pd.Timestamp, hi: pd.Timestamp) -> list[int]:
    """From the Parquet footer alone: the row groups whose [min, max] time meets [lo, hi)."""
    md = pq.read_metadata(part)
    ti = md.schema.to_arrow_schema().names.index("time")
    out = []
    for g in range(md.num_row_groups):
        st = md.row_group(g).column(ti).statistics
        if pd.Timestamp(st.min) < hi and pd.Timestamp(st.max) >= lo:
            out.append(g)
    return out


def _spy_on_row_group_reads(monkeypatch) -> list[list[int]]:
    """The row groups each read of an entry's Parquet file asks for, in order (the store reads a file's
    row groups as a subset of its dataset fragment)."""
    reads: list[list[int]] = []
    fmt, local, pool = cache._reader()

    class Fragment:
        def __init__(self, frag):
            self.frag, self.physical_schema = frag, frag.physical_schema

        def subset(self, row_group_ids):
            reads.append(list(row_group_ids))
            return self.frag.subset(row_group_ids=row_group_ids)

    class Format:
        def make_fragment(self, path, filesystem):
            return Fragment(fmt.make_fragment(path, filesystem=filesystem))

    monkeypatch.setattr(cache, "_reader", lambda: (Format(), local, pool))
    return reads


def test_a_window_load_reads_only_the_row_groups_that_hold_it(messy, tmp_path, monkeypatch):
    store = tmp_path / "store"
    quiet_load(messy, cache=store)  # the first load writes the store
    (part,) = parts_of(store)
    lo, hi = pd.Timestamp("2024-05-14T12:20:00Z"), pd.Timestamp("2024-05-14T12:25:00Z")
    expected_groups = _groups_overlapping(part, lo, hi)
    assert 1 <= len(expected_groups) <= 3
    reads = _spy_on_row_group_reads(monkeypatch)
    got = quiet_load(messy, cache=store, start=lo, end=hi)
    assert reads == [expected_groups]
    rows_read = sum(pq.read_metadata(part).row_group(g).num_rows for g in expected_groups)
    assert rows_read <= 3 * 256 < 2997
    expected = quiet_load(messy, cache=None, start=lo, end=hi)
    pd.testing.assert_frame_equal(got, expected)
    info = ob.load_info(got)
    assert info.records_read == 3000 and info.rows_loaded == len(expected)
    assert info.rows_loaded + info.rows_outside_window + info.n_rejected == info.records_read


def test_one_entry_is_shared_by_loads_and_scans_and_a_hit_does_not_parse(messy, tmp_path, monkeypatch):
    store = tmp_path / "store"
    first = quiet_load(messy, cache=store)
    calls = []
    monkeypatch.setattr(api, "_parse_file", lambda *a, **k: calls.append(a) or pytest.fail("parsed again"))
    second = quiet_load(messy, cache=store, engine="polars", start="2024-05-14T12:10:00Z")
    s = ob.scan(messy, cache=store, start="2024-05-14T12:10:00Z")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RejectedRecordsWarning)
        third = s.collect()
    assert calls == [] and len(list(entries(store))) == 1
    pd.testing.assert_frame_equal(third, first[first["time"] >= pd.Timestamp("2024-05-14T12:10:00Z")].reset_index(drop=True))
    assert second.height == len(third)
    assert list(ob.rejected(second)["line"]) == BAD_LINES == list(ob.rejected(s)["line"])


def test_a_parser_change_parses_again(messy, tmp_path, monkeypatch):
    fake = tmp_path / "reader.py"
    fake.write_text("REVISION = 1\n")
    monkeypatch.setattr(cache, "_parser_files", lambda: [fake])
    store = tmp_path / "store"
    quiet_load(messy, cache=store)
    quiet_load(messy, cache=store)
    assert len(list(entries(store))) == 1
    fake.write_text("REVISION = 2  # the reader changed\n")
    calls = []
    real = api._parse_file
    monkeypatch.setattr(api, "_parse_file", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    quiet_load(messy, cache=store)
    assert calls == [str(messy)] and len(list(entries(store))) == 2


def test_the_disk_cap_removes_the_least_recently_used_entries(tmp_path):
    store = tmp_path / "store"
    files = []
    for i in range(4):
        p = tmp_path / f"f{i}.jsonl"
        p.write_text("\n".join(messy_lines(600)) + "\n")
        files.append(p)
    quiet_load(files[0], cache=store)
    one = cache.store_size(store)
    ob.set_option("cache_max_bytes", int(2.5 * one))  # room for two entries
    quiet_load(files[1], cache=store)
    quiet_load(files[0], cache=store)  # used again: f1 is now the least recently used
    quiet_load(files[2], cache=store)
    assert cache.store_size(store) <= 2.5 * one
    keys = {p.name for p in entries(store)}
    assert keys == {cache.cache_key(str(f), None, {"cache": store}) for f in (files[0], files[2])}
    ob.set_option("cache_max_bytes", 1)  # smaller than any entry: only the one just written stays
    quiet_load(files[3], cache=store)
    assert {p.name for p in entries(store)} == {cache.cache_key(str(files[3]), None, {"cache": store})}


def test_enable_store_turns_the_store_on_for_every_later_load(messy, tmp_path):
    store = tmp_path / "inv" / ".obsnb-store"
    assert cache.enable_store(store, max_bytes=10**9) == str(store)
    assert ob.get_option("cache") == str(store) and ob.get_option("cache_max_bytes") == 10**9
    quiet_load(messy)
    assert len(parts_of(store)) == 1


def test_an_investigation_folder_toml_turns_the_store_on(messy, tmp_path):
    inv = tmp_path / "inc-1"
    inv.mkdir()
    assert cache.enable_store_from(inv / "obsnb.toml") is None  # no file: nothing changes
    (inv / "obsnb.toml").write_text("[sources.x]\nurl = 'loki://l'\n")
    assert cache.enable_store_from(inv / "obsnb.toml") is None and ob.get_option("cache") is None
    (inv / "obsnb.toml").write_text('[investigation]\nstore = ".obsnb-store"\nstore_max_bytes = 5000000\n')
    assert cache.enable_store_from(inv / "obsnb.toml") == str(inv / ".obsnb-store")
    assert ob.get_option("cache_max_bytes") == 5_000_000
    quiet_load(messy)
    assert len(parts_of(inv / ".obsnb-store")) == 1


def test_progress_bar_on_a_streamed_ingest(messy, tmp_path, monkeypatch):
    """A streamed ingest that runs past PROGRESS_AFTER drives a tqdm bar over the file's bytes (tqdm.auto
    picks the notebook widget in Jupyter); a quick one makes no bar at all; ``progress=False`` none either."""
    import tqdm.auto

    from obsnb.cache import _write

    made = []
    real = tqdm.auto.tqdm

    class Spy(real):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            made.append((self, k["desc"]))

    monkeypatch.setattr(tqdm.auto, "tqdm", Spy)
    ob.set_option("progress", True)
    ob.set_option("cache_chunk_bytes", 50_000)
    monkeypatch.setattr(_write, "PROGRESS_AFTER", 1e9)  # as if every step were quick (no timing in the test)
    ob.scan(messy, cache=tmp_path / "quick").count()
    assert made == []
    monkeypatch.setattr(_write, "PROGRESS_AFTER", 0.0)  # as if every step were slow
    ob.scan(messy, cache=tmp_path / "store").count()
    (bar, _), = [b for b in made if b[1].startswith("ingesting")]
    assert bar.total == messy.stat().st_size and bar.n == messy.stat().st_size
    ob.set_option("progress", False)
    made.clear()
    ob.scan(messy, cache=tmp_path / "store2").count()
    assert made == []


def test_a_streamed_ingest_of_pieces_that_overlap_in_time_is_merged_sorted(tmp_path):
    """Two writers' logs appended one after the other (the same 25 minutes twice): the pieces overlap,
    so they are merged by time ranges into one sorted file; the frame is the whole-file read's."""
    lines = messy_lines(1500) + messy_lines(1500)  # the same 25 minutes twice
    p = tmp_path / "two-writers.jsonl"
    p.write_text("\n".join(lines) + "\n")
    ob.set_option("cache_chunk_bytes", 40_000)
    store = tmp_path / "store"
    ob.scan(p, cache=store).count()  # a scan streams the ingest
    got = quiet_load(p, cache=store)
    (part,) = parts_of(store)
    assert part.name == "part-0.parquet"  # merged: one file
    times = pq.read_table(part, columns=["time"]).column("time").cast(pa.int64()).to_pylist()
    assert times == sorted(times) and len(times) == 3000 - 2 * 2  # two bad lines in each copy of 1500
    pd.testing.assert_frame_equal(got, quiet_load(p, cache=None))
    lo, hi = pd.Timestamp("2024-05-14T12:10:00Z"), pd.Timestamp("2024-05-14T12:12:00Z")
    w = ob.scan(p, cache=store, start=lo, end=hi)
    (plan,) = w.explain()
    assert plan["row_groups"] == _groups_overlapping(part, lo, hi) and len(plan["row_groups"]) <= 2
    pd.testing.assert_frame_equal(quiet_load(p, cache=store, start=lo, end=hi), quiet_load(p, cache=None, start=lo, end=hi))


def test_a_streamed_ingest_of_a_file_in_time_order_keeps_its_pieces(messy, tmp_path):
    ob.set_option("cache_chunk_bytes", 50_000)
    store = tmp_path / "store"
    ob.scan(messy, cache=store).count()
    got = quiet_load(messy, cache=store)
    files = parts_of(store)
    assert len(files) >= messy.stat().st_size // 50_000
    ends = []
    for f in files:  # each in file order; each piece overlaps the next only in its edge row group
        st = _stats(f)
        ends.append(st)
    for a, b in zip(ends, ends[1:]):
        b_min, a_max = min(g[0] for g in b), max(g[1] for g in a)
        assert sum(1 for g in a if g[1] >= b_min) <= 1 and sum(1 for g in b if g[0] <= a_max) <= 1
    pd.testing.assert_frame_equal(got, quiet_load(messy, cache=None))


def test_store_and_snapshot_files_are_private(tmp_path):
    """Parsed evidence in the store and backend snapshots are files only their owner can read (0600, folders 0700)."""
    import os
    import stat

    import obsnb as ob

    log = tmp_path / "a.jsonl"
    log.write_text('{"time": "2024-05-14T12:00:00Z", "event": "x"}\n')
    store = tmp_path / "store"
    ob.load(str(log), cache=str(store))
    cache.flush()
    files = [p for p in store.rglob("*") if p.is_file() and p.suffix == ".parquet"]
    assert files and all(stat.S_IMODE(os.stat(p).st_mode) == 0o600 for p in files)
    assert stat.S_IMODE(os.stat(store).st_mode) == 0o700


def _spy_parse(monkeypatch) -> list[str]:
    """The paths the readers parse from now on (a file, or a piece of one)."""
    calls: list[str] = []
    real = api._parse_file
    monkeypatch.setattr(api, "_parse_file", lambda p, *a, **k: calls.append(str(p)) or real(p, *a, **k))
    return calls


def test_a_load_without_a_window_parses_a_big_file_whole_and_a_windowed_load_streams_it(messy, tmp_path, monkeypatch):
    """A load that returns every row holds the whole frame anyway: it parses the file once and stores those
    parts (one Parquet file); a windowed load of a file over cache_chunk_bytes parses it piece by piece.
    Both store the rows, lines and rejects of the plain load."""
    ob.set_option("cache_chunk_bytes", 50_000)
    plain = quiet_load(messy, cache=None)
    lo, hi = pd.Timestamp("2024-05-14T12:20:00Z"), pd.Timestamp("2024-05-14T12:30:00Z")
    plain_window = quiet_load(messy, cache=None, start=lo, end=hi)
    calls = _spy_parse(monkeypatch)
    whole = quiet_load(messy, cache=tmp_path / "whole")
    assert calls == [str(messy)]
    (part,) = parts_of(tmp_path / "whole")
    assert pq.read_metadata(part).num_rows == len(plain) == 3000 - len(BAD_LINES)
    pd.testing.assert_frame_equal(whole, plain)
    calls.clear()
    windowed = quiet_load(messy, cache=tmp_path / "pieces", start=lo, end=hi)
    assert len(calls) >= messy.stat().st_size // 50_000 and all("piece-" in c for c in calls)
    pd.testing.assert_frame_equal(windowed, plain_window)
    calls.clear()
    again = quiet_load(messy, cache=tmp_path / "pieces")  # the streamed entry, read whole
    assert calls == []
    pd.testing.assert_frame_equal(again, plain)
    assert list(ob.rejected(again)["line"]) == list(ob.rejected(whole)["line"]) == BAD_LINES


def test_the_entry_is_written_in_the_background_and_a_read_waits_for_it(messy, tmp_path, monkeypatch):
    import threading

    from obsnb.cache import _write

    release = threading.Event()
    real = _write._write_entry
    monkeypatch.setattr(_write, "_write_entry", lambda *a, **k: release.wait() and real(*a, **k))
    store = tmp_path / "store"
    try:
        first = quiet_load(messy, cache=store)  # returns while the entry is still being written
        assert len(first) == 3000 - len(BAD_LINES)
        assert not store.exists() or [d for d in store.iterdir() if not d.name.startswith(".")] == []
        calls = _spy_parse(monkeypatch)
        threading.Timer(0.2, release.set).start()
        second = quiet_load(messy, cache=store)  # waits for the entry rather than parsing again
    finally:
        release.set()  # never leave the writer waiting (Python waits for it at exit)
    assert calls == [] and len(entries(store)) == 1
    pd.testing.assert_frame_equal(second, first)
    assert list(ob.rejected(second)["line"]) == BAD_LINES


def test_a_failed_background_write_warns_and_the_next_load_parses_again(messy, tmp_path, monkeypatch):
    from obsnb.cache import _write

    def full_disk(self, *a, **k):
        raise OSError(28, "No space left on device")

    real_close = _write._PartWriter.close
    monkeypatch.setattr(_write._PartWriter, "close", full_disk)
    store = tmp_path / "store"
    with pytest.warns(cache.StoreWriteWarning, match="No space left on device.*parses it again"):
        got = quiet_load(messy, cache=store)
        cache.flush()
    pd.testing.assert_frame_equal(got, quiet_load(messy, cache=None))  # the frame is whole
    assert entries(store) == [] and [p for p in store.iterdir()] == []  # no half entry left behind
    monkeypatch.setattr(_write._PartWriter, "close", real_close)  # the disk has room again
    calls = _spy_parse(monkeypatch)
    quiet_load(messy, cache=store)
    assert calls == [str(messy)] and len(entries(store)) == 1


def test_a_rewritten_file_is_parsed_again(tmp_path, monkeypatch):
    p = tmp_path / "app.jsonl"
    p.write_text("\n".join(messy_lines(600)) + "\n")
    store = tmp_path / "store"
    assert len(quiet_load(p, cache=store)) == 600 - 1  # line 4 is bad
    p.write_text("\n".join(messy_lines(900)) + "\n")
    calls = _spy_parse(monkeypatch)
    got = quiet_load(p, cache=store)
    assert calls == [str(p)] and len(got) == 900 - 1
    pd.testing.assert_frame_equal(got, quiet_load(p, cache=None))


def _timed_file(path: pathlib.Path, seconds: list[int], bad_at: dict[int, str] | None = None) -> list[str]:
    """A JSON-lines file with one record per entry of ``seconds`` (after 2024-05-14T12:00:00Z), its
    message saying file and line; ``bad_at`` puts a broken line at those line numbers. Returns the lines."""
    base = pd.Timestamp("2024-05-14T12:00:00Z")
    lines, bad_at = [], bad_at or {}
    for s in seconds:
        while len(lines) + 1 in bad_at:
            lines.append(bad_at[len(lines) + 1])
        t = (base + pd.Timedelta(seconds=s)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        lines.append(f'{{"ts": "{t}", "level": "info", "msg": "{path.stem}:{len(lines) + 1}"}}')
    path.write_text("\n".join(lines) + "\n")
    return lines


def _expected_order(files: list[tuple[pathlib.Path, list[int]]], lo: int, hi: int) -> list[str]:
    """Messages of the records with lo <= second < hi, by time; equal times in list order, then line order
    (computed from the construction, not by obsnb)."""
    rows = [(s, i, j, f"{p.stem}:{j + 1}") for i, (p, secs) in enumerate(files) for j, s in enumerate(secs) if lo <= s < hi]
    return [m for *_, m in sorted(rows)]


def test_a_window_over_files_that_overlap_in_time_is_in_time_order(tmp_path):
    import random

    rng = random.Random(3)
    # two files covering the same hour, each with jitter (nearly in time order), and ties between them
    a = sorted(rng.randrange(3600) for _ in range(2000))
    b = sorted(rng.randrange(3600) for _ in range(1500))
    a[10:14] = a[10:14][::-1]
    pa_, pb = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    _timed_file(pa_, a)
    _timed_file(pb, b)
    store = tmp_path / "store"
    lo, hi = 600, 2400
    window = dict(start=pd.Timestamp("2024-05-14T12:10:00Z"), end=pd.Timestamp("2024-05-14T12:40:00Z"))
    for _ in range(2):  # the first load parses (and fills the store), the second reads the store
        got = quiet_load([pb, pa_], cache=store, **window)
        assert list(got["event"]) == _expected_order([(pb, b), (pa_, a)], lo, hi)
        assert got["time"].is_monotonic_increasing
    whole = quiet_load([pb, pa_], cache=store)
    assert list(whole["event"]) == _expected_order([(pb, b), (pa_, a)], 0, 3600)
    scanned = ob.scan([pb, pa_], cache=store, **window).collect()
    assert list(scanned["event"]) == _expected_order([(pb, b), (pa_, a)], lo, hi)


def test_a_window_over_files_that_do_not_overlap_needs_no_sort(tmp_path, monkeypatch):
    # three files of consecutive hours, listed newest first: the rows come in time order without a take
    files = []
    for i in range(3):
        p = tmp_path / f"h{i}.jsonl"
        secs = list(range(i * 3600, (i + 1) * 3600, 3))
        _timed_file(p, secs)
        files.append((p, secs))
    files.reverse()
    store = tmp_path / "store"
    quiet_load([p for p, _ in files], cache=store)  # fills the store
    import numpy as np

    sorts = []
    real = np.argsort
    monkeypatch.setattr(np, "argsort", lambda a, *x, **k: sorts.append(len(a)) or real(a, *x, **k))
    got = quiet_load([p for p, _ in files], cache=store, start=pd.Timestamp("2024-05-14T12:30:00Z"),
                     end=pd.Timestamp("2024-05-14T14:30:00Z"))
    assert list(got["event"]) == _expected_order(files, 1800, 9000)
    assert len(got) == 2400 and sorts == []


def test_the_window_and_time_order_of_pieces_with_null_times():
    # a frame the store cannot hold (a JSON line without a time is rejected), but a reader may give:
    # null times come last in their own order; rows of a window in a stable sort by time
    times = [5, None, 1, 3, None, 3, 0, 9]
    t = pa.table({"time": pa.array(times, pa.int64()).cast(pa.timestamp("ns", "UTC")), "i": list(range(8))})
    valid = sorted((v, i) for i, v in enumerate(times) if v is not None)
    expected = [i for _, i in valid] + [i for i, v in enumerate(times) if v is None]
    got = cache.window_in_time_order(t, "time", None, None, order=True, pieces=[3, 5])
    assert got.column("i").to_pylist() == expected
    got = cache.window_in_time_order(t, "time", 1, 9, order=True, pieces=[3, 5])
    assert got.column("i").to_pylist() == [i for v, i in valid if 1 <= v < 9]
    got = cache.window_in_time_order(t, "time", 1, 9, order=False)
    assert got.column("i").to_pylist() == [i for i, v in enumerate(times) if v is not None and 1 <= v < 9]


def test_the_rejects_of_a_windowed_load_from_the_store_are_every_rejected_record_of_its_files(tmp_path):
    # what belongs to a load: every record read from its files, so every rejected record of each file,
    # inside the window or not (a broken line has no time to place it); a long one keeps its raw text as cut
    long = '{"ts": "2024-05-14T12:00:00Z", "msg": "' + "x" * 5000
    bad_a = {3: "{not json", 700: long, 1200: "[1, 2"}
    bad_b = {1: "}{", 500: "{\"ts\": "}
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    _timed_file(a, list(range(0, 3600, 3)), bad_a)
    _timed_file(b, list(range(3600, 7200, 3)), bad_b)
    store = tmp_path / "store"
    window = dict(start=pd.Timestamp("2024-05-14T12:20:00Z"), end=pd.Timestamp("2024-05-14T12:30:00Z"))
    first = ob.rejected(quiet_load([a, b], cache=None, **window))
    quiet_load([a, b], cache=store)  # fills the store
    got = quiet_load([a, b], cache=store, **window)
    rej = ob.rejected(got)
    assert list(zip(rej["source"], rej["line"])) == [(str(a), n) for n in sorted(bad_a)] + [(str(b), n) for n in sorted(bad_b)]
    pd.testing.assert_frame_equal(rej, first)  # the same records, reasons and raw text as a parse
    raw = rej["raw"][1]
    assert raw.startswith(long[:2000]) and len(raw) < len(long) and raw == first["raw"][1]
    info = ob.load_info(got)
    assert info.n_rejected == 5 and len(got) == 200
    assert info.records_read == 1200 + 1200 + 5 == info.rows_loaded + info.rows_outside_window + info.n_rejected
    with pytest.raises(ob.ParseError):
        ob.load([a, b], cache=store, strict=True, **window)


def test_a_store_hit_gives_the_frame_a_parse_gives_with_ids_conformed_when_written(tmp_path):
    # upper-case and all-zero trace ids are conformed once, when the entry is written; files whose extra
    # columns differ are conformed together at load, as a parse is
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text('{"ts": "2024-05-14T12:00:01Z", "msg": "a1", "trace_id": "ABCDEF0123456789ABCDEF0123456789", "x": 1}\n'
                 '{"ts": "2024-05-14T12:00:03Z", "msg": "a2", "trace_id": "00000000000000000000000000000000", "x": 2}\n')
    b.write_text('{"ts": "2024-05-14T12:00:02Z", "msg": "b1", "y": "k"}\n')
    store = tmp_path / "store"
    quiet_load([a, b], cache=store)
    for source in (a, [a, b], [b, a]):
        got = quiet_load(source, cache=store)
        pd.testing.assert_frame_equal(got, quiet_load(source, cache=None))
        window = dict(start=pd.Timestamp("2024-05-14T12:00:02Z"), end=pd.Timestamp("2024-05-14T12:00:04Z"))
        pd.testing.assert_frame_equal(quiet_load(source, cache=store, **window), quiet_load(source, cache=None, **window))
    got = quiet_load(a, cache=store)
    assert list(got["trace_id"].astype(object).where(got["trace_id"].notna(), None)) == ["abcdef0123456789abcdef0123456789", None]
    assert list(quiet_load([b, a], cache=store)["event"]) == ["a1", "b1", "a2"]


_STALL_MID_WRITE = """
import os, sys, time, warnings
import obsnb as ob
from obsnb.cache import _write

def stall(tmp, *a, **k):  # the part files are written; the entry's entry.json never will be
    with open(sys.argv[3] + ".part", "w") as f:
        f.write(str(tmp))
    os.replace(sys.argv[3] + ".part", sys.argv[3])  # the parent sees the whole path or nothing
    time.sleep(600)

_write._write_meta = stall
ob.set_option("cache_row_group", 256)
ob.set_option("progress", False)
warnings.simplefilter("ignore")
ob.load(sys.argv[1], cache=sys.argv[2])
time.sleep(600)
"""


def _killed_mid_write(messy: pathlib.Path, store: pathlib.Path, tmp_path: pathlib.Path) -> tuple[int, pathlib.Path]:
    """Load ``messy`` into ``store`` in a child process, SIGKILL it while it writes the entry: (its pid, the
    folder it was writing)."""
    import signal
    import subprocess
    import sys
    import time

    marker = tmp_path / "writing"
    child = subprocess.Popen([sys.executable, "-c", _STALL_MID_WRITE, str(messy), str(store), str(marker)])
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert child.poll() is None, "the writer died before it wrote"
            assert time.monotonic() < deadline, "the writer never reached its entry.json"
            time.sleep(0.05)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    return child.pid, pathlib.Path(marker.read_text())


def _du(d: pathlib.Path) -> int:
    return sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(d) for f in fs)


def test_a_write_killed_midway_is_counted_then_cleared_on_the_next_open(messy, tmp_path):
    store = tmp_path / "store"
    pid, left = _killed_mid_write(messy, store, tmp_path)
    assert left.parent == store and left.name.startswith(f".tmp-{pid}-")
    assert [p.name for p in store.iterdir()] == [left.name]  # no entry, only the dead writer's folder
    assert (left / "part-0.parquet").stat().st_size > 0 and not (left / "entry.json").exists()
    assert cache.store_size(store) == _du(left) > 0  # the cap counts it
    got = quiet_load(messy, cache=store)  # the next open of the store clears it (its writer is gone)
    cache.flush()
    assert not left.exists() and [p.name for p in store.iterdir() if p.name.startswith(".")] == []
    assert len(entries(store)) == 1 and cache.store_size(store) == _du(store)
    pd.testing.assert_frame_equal(got, quiet_load(messy, cache=None))


def test_the_cap_counts_unfinished_writes_and_keeps_live_ones(messy, tmp_path):
    """A live write (this process's, another host's changed lately) is counted and kept; one whose writer
    cannot be checked and that has not changed for over an hour is cleared; an entry makes room."""
    import time

    from obsnb.cache import _disk

    store = tmp_path / "store"
    quiet_load(messy, cache=store)
    (entry,) = entries(store)
    live = store / f".tmp-{os.getpid()}-{_disk.host()}-live"
    other = store / ".tmp-1-another.host-recent"
    old = store / ".tmp-oldstyle"
    for d, size in ((live, 5000), (other, 7000), (old, 9000)):
        d.mkdir()
        (d / "part-0.parquet").write_bytes(b"x" * size)
    hours_ago = time.time() - 2 * 3600
    for p in (old / "part-0.parquet", old):
        os.utime(p, (hours_ago, hours_ago))
    assert cache.store_size(store) == _du(entry) + 5000 + 7000 + 9000
    ob.set_option("cache_max_bytes", _du(entry) + 5000 + 7000 - 1)  # the entry fits only without the live writes
    assert cache.enforce_cap(store) == [entry.name]
    assert sorted(p.name for p in store.iterdir()) == sorted([live.name, other.name])
    assert cache.store_size(store) == 5000 + 7000
