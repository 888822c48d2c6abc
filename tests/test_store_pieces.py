"""The streamed first ingest cuts a big line file into pieces in a thread ahead of the parse: at most two
pieces on disk at once, every record accounted for, nothing left behind when the ingest fails."""

from __future__ import annotations

import threading
import warnings

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
