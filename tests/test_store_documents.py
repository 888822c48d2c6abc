"""A big JSON document or JSON text sequence read through the store: never cut into pieces at newlines.

The store cuts a big line file (JSON lines, logfmt) into pieces at newlines and parses each alone; a JSON
array document (``[{...},\n{...}]``) or an RFC 7464 sequence whose records span lines would be broken by such a
cut (every piece a fragment), so they are parsed whole and the scan gives the frame a plain load gives.
"""

from __future__ import annotations

import json
import warnings

import pandas as pd
import pytest

import obsnb as ob
from obsnb import options
from obsnb.errors import RejectedRecordsWarning

N = 2000


@pytest.fixture(autouse=True)
def _options(monkeypatch):
    for name in ("cache", "cache_row_group", "cache_chunk_bytes", "cache_max_bytes", "progress"):
        monkeypatch.setitem(options._OPTIONS, name, options._OPTIONS[name])
    ob.set_option("cache_row_group", 256)
    ob.set_option("cache_chunk_bytes", 20_000)
    ob.set_option("progress", False)


def _records() -> list[dict]:
    return [{"time": f"2024-05-14T12:{i // 60 % 60:02d}:{i % 60:02d}Z", "level": "error" if i % 7 == 0 else "info",
             "service": f"svc-{i % 3}", "message": f"record {i}"} for i in range(N)]


def _quiet(f, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RejectedRecordsWarning)
        return f(*a, **k)


@pytest.mark.parametrize("shape", ["array", "pretty_array", "json_seq_multiline"])
def test_a_big_document_scanned_through_the_store_is_the_plain_load(tmp_path, shape):
    recs = _records()
    if shape == "array":
        text = "[\n" + ",\n".join(json.dumps(r) for r in recs) + "\n]\n"
    elif shape == "pretty_array":
        text = json.dumps(recs, indent=2) + "\n"
    else:
        text = "".join("\x1e" + json.dumps(r, indent=1) + "\n" for r in recs)
    path = tmp_path / "doc.json"
    path.write_text(text)
    assert path.stat().st_size > 5 * 20_000  # several pieces' worth, were it cut
    start, end = "2024-05-14T12:05:00Z", "2024-05-14T12:20:00Z"
    expected = _quiet(ob.load, path, start=start, end=end, cache=None)
    # the records of the window, counted from the construction
    want = [r for r in recs if start <= r["time"] < end]
    assert len(expected) == len(want) and list(expected["event"]) == [r["message"] for r in want]
    got = _quiet(ob.scan(path, start=start, end=end, cache=str(tmp_path / "store")).collect)
    pd.testing.assert_frame_equal(got.reset_index(drop=True), expected.reset_index(drop=True))
    assert len(ob.rejected(got)) == len(ob.rejected(expected)) == 0
