"""The streamed first ingest cuts a big line file into pieces in a thread ahead of the parse: at most two
pieces on disk at once, every record accounted for, nothing left behind when the ingest fails."""

from __future__ import annotations

import gzip
import threading
import warnings
import zlib

import pandas as pd

import pytest
from test_scan import BAD_LINES, messy_lines

import obsnb as ob
from obsnb import api, options
from obsnb.errors import RejectedRecordsWarning

N = 3000  # lines of messy_lines(): every one a record but BAD_LINES


@pytest.fixture(autouse=True)
def _options(monkeypatch):
    for name in ("cache", "cache_row_group", "cache_chunk_bytes", "cache_max_bytes", "progress"):
        monkeypatch.setitem(options._OPTIONS, name, options._OPTIONS[name])
    ob.set_option("cache_row_group", 256)
    ob.set_option("cache_chunk_bytes", 40_000)
    ob.set_option("progress", False)


def _pieces_on_disk(monkeypatch) -> list[tuple[str, int]]:
    """For every piece parsed from now on: its name and how many pieces were on disk as its parse began."""
    seen: list[tuple[str, int]] = []
    real = api._parse_file

    def spy(p, *a, **k):
        import pathlib

        path = pathlib.Path(p)
        if path.name.startswith("piece-"):
            seen.append((path.name, len(list(path.parent.glob("piece-*")))))
        return real(p, *a, **k)

    monkeypatch.setattr(api, "_parse_file", spy)
    return seen


def _no_piece_thread() -> bool:
    return not any(t.name == "obsnb-pieces" and t.is_alive() for t in threading.enumerate())


def test_the_pieces_are_cut_ahead_two_at_most_on_disk_and_every_record_is_accounted_for(tmp_path, monkeypatch):
    p = tmp_path / "app.jsonl"
    p.write_text("\n".join(messy_lines()) + "\n")
    seen = _pieces_on_disk(monkeypatch)
    store = tmp_path / "store"
    info = ob.load_info(ob.scan(p, cache=store))
    size = p.stat().st_size
    assert len(seen) >= size // 40_000 >= 3  # many pieces, each parsed once, in file order
    assert [name for name, _ in seen] == sorted(name for name, _ in seen)
    assert max(n for _, n in seen) <= 2 and seen[-1][1] == 1  # the next one cut while one is parsed; none after the last
    assert info.rows_loaded == N - len(BAD_LINES) and info.n_rejected == len(BAD_LINES)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RejectedRecordsWarning)
        df = ob.load(p, cache=store)
    assert sorted(r.line for r in ob.rejected(df).itertuples()) == BAD_LINES
    assert sorted(df["_line"]) == [i for i in range(1, N + 1) if i not in BAD_LINES]
    assert not list(store.rglob("piece-*")) and _no_piece_thread()


def test_a_parse_that_fails_midway_leaves_no_piece_no_entry_and_no_thread(tmp_path, monkeypatch):
    p = tmp_path / "app.jsonl"
    p.write_text("\n".join(messy_lines()) + "\n")
    real = api._parse_file
    calls = []

    def fail_second(path, *a, **k):
        calls.append(path)
        if len(calls) == 2:
            raise OSError("disk went away")
        return real(path, *a, **k)

    monkeypatch.setattr(api, "_parse_file", fail_second)
    store = tmp_path / "store"
    with pytest.raises(OSError, match="disk went away"):
        ob.load_info(ob.scan(p, cache=store))
    assert len(calls) == 2
    assert [f for f in store.rglob("*") if f.is_file()] == [] and _no_piece_thread()


def test_a_gzip_file_cut_short_streams_every_byte_it_holds_and_says_where_it_broke(tmp_path):
    whole = gzip.compress(("\n".join(messy_lines()) + "\n").encode())
    p = tmp_path / "app.jsonl.gz"
    p.write_bytes(whole[: len(whole) * 2 // 3])  # the stream stops two thirds in
    held = zlib.decompressobj(wbits=31).decompress(p.read_bytes())  # every byte it holds, read by zlib alone
    whole_lines = held.count(b"\n")  # lines that end before the cut; the one after is cut inside its record
    assert not held.endswith(b"\n") and whole_lines > 40_000 // 300
    read = [i for i in range(1, whole_lines + 1) if i not in BAD_LINES]
    ob.set_option("cache_chunk_bytes", 20_000)
    store = tmp_path / "store"
    info = ob.load_info(ob.scan(p, cache=store))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RejectedRecordsWarning)
        df = ob.load(p, cache=store)
    rej = ob.rejected(df)
    broke = [r for r in rej.itertuples() if pd.isna(r.line)]
    assert len(broke) == 1 and "gzip stream ends early" in broke[0].reason
    cut = [r for r in rej.itertuples() if r.line == whole_lines + 1]
    assert len(cut) == 1 and "truncated JSON (the file ends inside this record)" in cut[0].reason
    assert sorted(df["_line"]) == read and info.rows_loaded == len(read)
    assert info.n_rejected == len([i for i in BAD_LINES if i <= whole_lines]) + 2  # the cut record, the cut stream
    assert _no_piece_thread()
