"""Hostile input: every hostile record is one rejected record (file, line, reason), the rest load,
and loaded + rejected = records read. Each hostile file is built here, in tmp_path."""

from __future__ import annotations

import gzip
import json
import warnings

import pandas as pd
import pytest

import obsnb as ob
from obsnb.errors import RejectedRecordsWarning

T0 = "2024-05-14T10:00:0{}Z"


def _load(path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RejectedRecordsWarning)
        return ob.load(path, **kw)


def _write(path, lines: list[str | bytes]) -> str:
    data = b"".join((ln if isinstance(ln, bytes) else ln.encode()) + b"\n" for ln in lines)
    if str(path).endswith(".gz"):
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return str(path)


def _rejects(df) -> dict[int, str]:
    r = ob.rejected(df)
    return dict(zip(r["line"].tolist(), r["reason"].tolist()))


def _accounted(df) -> None:
    info = ob.load_info(df)
    assert info.rows_loaded + info.n_rejected == info.records_read


OUT_OF_RANGE = ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "-62135596800"]
BAD_OFFSETS = ["2024-05-14T10:00:00+25:00", "2024-05-14T10:00:00-24:30", "2024-05-14T10:00:00+99:99"]


def _json_time_lines():
    lines = [json.dumps({"ts": T0.format(0), "msg": "first"})]
    for s in OUT_OF_RANGE + BAD_OFFSETS:
        lines.append(json.dumps({"ts": s, "msg": "hostile"}))
    lines.append(json.dumps({"ts": -62135596800, "msg": "hostile number"}))
    lines.append(json.dumps({"ts": "2024-05-14T10:00:00+18:00", "msg": "widest offset"}))
    lines.append(json.dumps({"ts": T0.format(1), "msg": "last"}))
    return lines


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
def test_jsonl_out_of_range_times_and_offsets_are_rejected(tmp_path, suffix):
    df = _load(_write(tmp_path / f"t{suffix}", _json_time_lines()))
    assert df["event"].tolist() == ["first", "widest offset", "last"]  # one file keeps its order
    assert df["_line"].tolist() == [1, 9, 10]
    assert df["time"].tolist()[1] == pd.Timestamp("2024-05-13T16:00:00Z")  # +18:00 is a real offset
    rej = _rejects(df)
    assert sorted(rej) == [2, 3, 4, 5, 6, 7, 8]
    for ln in (2, 3, 4, 8):
        assert "out of range" in rej[ln] and "1677-09-21" in rej[ln] and "2262-04-11" in rej[ln]
    assert "UTC offset +25:00, out of range" in rej[5]
    assert "UTC offset -24:30, out of range" in rej[6]
    assert "UTC offset +99:99, out of range" in rej[7]
    _accounted(df)


def test_logfmt_out_of_range_times_and_offsets_are_rejected(tmp_path):
    stamps = [T0.format(0)] + OUT_OF_RANGE + BAD_OFFSETS + [T0.format(1)]
    lines = [f"time={s} level=info msg=m{i}" for i, s in enumerate(stamps)]
    df = _load(_write(tmp_path / "t.log", lines), format="logfmt")
    assert df["event"].tolist() == ["m0", "m7"]
    assert df["_line"].tolist() == [1, 8]
    rej = _rejects(df)
    assert sorted(rej) == [2, 3, 4, 5, 6, 7]
    for ln in (2, 3, 4):
        assert "out of range" in rej[ln] and "1677-09-21" in rej[ln]
    assert "UTC offset +25:00" in rej[5] and "UTC offset -24:30" in rej[6] and "UTC offset +99:99" in rej[7]
    _accounted(df)


def test_syslog_out_of_range_time_is_rejected(tmp_path):
    lines = [f"<14>1 {s} host app 1 - - m{i}" for i, s in
             enumerate([T0.format(0), "0001-01-01T00:00:00Z", "2024-05-14T10:00:00+25:00", T0.format(1)])]
    df = _load(_write(tmp_path / "t.syslog", lines), format="syslog")
    assert df["event"].tolist() == ["m0", "m3"]
    rej = _rejects(df)
    assert sorted(rej) == [2, 3]
    assert "out of range" in rej[2] and "UTC offset +25:00" in rej[3]
    _accounted(df)


def test_integer_above_int64_keeps_the_id_column_exact_text(tmp_path):
    ids = ["1", "9007199254740993", str(2**63)]
    lines = [f'{{"ts":"{T0.format(i)}","msg":"m","id":{v}}}' for i, v in enumerate(ids)]
    df = _load(_write(tmp_path / "ids.jsonl", lines))
    assert df["id"].tolist() == ids  # as written: no 9007199254740992.0
    _accounted(df)


def test_integer_above_2_53_with_a_fraction_elsewhere_stays_text(tmp_path):
    lines = [f'{{"ts":"{T0.format(0)}","msg":"m","v":1.5}}',
             f'{{"ts":"{T0.format(1)}","msg":"m","v":9007199254740993}}']
    df = _load(_write(tmp_path / "v.jsonl", lines))
    assert df["v"].tolist() == ["1.5", "9007199254740993"]


def test_integer_above_int64_after_the_sample_stays_text(tmp_path):
    n = 5_001  # past the 5,000 lines the schema is sampled from
    lines = [f'{{"ts":"{T0.format(0)}","msg":"m","id":7}}'] * n + [f'{{"ts":"{T0.format(1)}","msg":"m","id":{2**63}}}']
    df = _load(_write(tmp_path / "late.jsonl", lines))
    assert df["id"].tolist() == ["7"] * n + [str(2**63)]


@pytest.mark.parametrize("first", [True, False])
def test_a_first_line_of_5_mib_loads_like_any_other(tmp_path, first):
    big = json.dumps({"ts": T0.format(0), "msg": "big", "pad": "x" * (5 << 20)})
    small = [json.dumps({"ts": T0.format(i), "msg": f"s{i}"}) for i in (1, 2)]
    lines = [big] + small if first else [small[0], big, small[1]]
    df = _load(_write(tmp_path / "big.jsonl", lines))
    assert df["event"].tolist() == (["big", "s1", "s2"] if first else ["s1", "big", "s2"])
    assert len(df.loc[df["event"] == "big", "pad"].iloc[0]) == 5 << 20
    assert _rejects(df) == {}


CAP = 1_000  # a small record cap, so the over-cap path is proven on kilobytes, not gigabytes


def _cap_lines(fmt: str):
    if fmt == "jsonl":
        rec = [json.dumps({"ts": T0.format(i), "msg": f"s{i}"}) for i in range(3)]
        big = json.dumps({"ts": T0.format(9), "msg": "x" * 5_000})
    else:
        rec = [f"time={T0.format(i)} msg=s{i}" for i in range(3)]
        big = f"time={T0.format(9)} msg={'x' * 5_000}"
    return [rec[0], big, rec[1], big, rec[2]], len(big.encode())


@pytest.mark.parametrize("fmt,suffix", [("jsonl", ".jsonl"), ("jsonl", ".jsonl.gz"), ("logfmt", ".log"),
                                        ("logfmt", ".log.gz")])
def test_a_line_over_the_record_cap_is_one_rejected_record(tmp_path, fmt, suffix):
    lines, big_len = _cap_lines(fmt)
    path = _write(tmp_path / f"cap{suffix}", lines)
    df = _load(path, format=fmt, max_record_bytes=CAP)
    assert df["event"].tolist() == ["s0", "s1", "s2"]
    assert df["_line"].tolist() == [1, 3, 5]
    rej = _rejects(df)
    assert sorted(rej) == [2, 4]
    assert rej[2] == (f"record of {big_len:,} bytes is over the {CAP:,}-byte cap on one record; raise it with "
                      "obsnb.set_option('max_record_bytes', N) or load(..., max_record_bytes=N)")
    _accounted(df)
    assert ob.load_info(df).records_read == 5
    # the default cap (64 MiB) takes them
    assert _load(path, format=fmt)["_line"].tolist() == [1, 2, 3, 4, 5]


def test_the_record_cap_option_applies_and_is_checked(tmp_path):
    lines, _ = _cap_lines("jsonl")
    path = _write(tmp_path / "cap.jsonl.gz", lines)
    before = ob.get_option("max_record_bytes")
    assert before == 64 * 2**20
    ob.set_option("max_record_bytes", CAP)
    try:
        df = _load(path)
        assert sorted(_rejects(df)) == [2, 4]
    finally:
        ob.set_option("max_record_bytes", before)
    with pytest.raises(ob.UsageError):
        ob.set_option("max_record_bytes", 0)


def test_a_gzip_of_one_line_over_the_cap_leaves_no_temp_file(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    # one line of 2 MiB of zeros compresses to ~2 KiB: read past in pieces, rejected, the copy removed
    big = b'{"ts":"' + T0.format(0).encode() + b'","msg":"' + b"0" * (2 << 20) + b'"}'
    path = _write(tmp_path / "bomb.jsonl.gz", [big, json.dumps({"ts": T0.format(1), "msg": "after"}).encode()])
    df = _load(path, max_record_bytes=CAP)
    assert df["event"].tolist() == ["after"]
    assert sorted(_rejects(df)) == [1]
    assert list((tmp_path / "tmp").iterdir()) == []


def test_an_interrupted_read_leaves_no_temp_file(tmp_path, monkeypatch):
    import tempfile

    from obsnb.sources import jsonl

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(jsonl, "read_jsonl_path", interrupted)
    path = _write(tmp_path / "x.jsonl.gz", [json.dumps({"ts": T0.format(0), "msg": "m"})])
    with pytest.raises(KeyboardInterrupt):
        _load(path)
    assert list((tmp_path / "tmp").iterdir()) == []


def test_a_file_of_more_keys_than_the_column_bound_keeps_the_rest_as_json_text(tmp_path):
    from obsnb.sources.jsonl_schema import MAX_COLUMNS, MORE_FIELDS

    n = MAX_COLUMNS + 200
    lines = [json.dumps({"ts": T0.format(0), "msg": f"m{i}", f"k{i}": i}) for i in range(n)]
    df = _load(_write(tmp_path / "wide.jsonl", lines))
    assert len(df) == n and _rejects(df) == {}
    fields = [c for c in df.columns if c.startswith("k")]
    # ts and msg are canonical (time, event); the file's fields, more_fields included, take MAX_COLUMNS columns
    assert fields == [f"k{i}" for i in range(MAX_COLUMNS - 3)]
    more = df[MORE_FIELDS].tolist()
    for i in range(n):  # every value is somewhere, exactly once
        if i < MAX_COLUMNS - 3:
            assert df[f"k{i}"].iloc[i] == i and pd.isna(more[i])
        else:
            assert json.loads(more[i]) == {f"k{i}": i}
    assert any(MORE_FIELDS in w and f"{MAX_COLUMNS:,}" in w for w in ob.load_info(df).warnings)


def test_one_record_of_50000_keys_loads_with_the_rest_as_json_text(tmp_path):
    from obsnb.sources.jsonl_schema import MAX_COLUMNS, MORE_FIELDS

    rec = {"ts": T0.format(0), "msg": "wide", **{f"k{i}": i for i in range(50_000)}}
    df = _load(_write(tmp_path / "wide1.jsonl", [json.dumps(rec), json.dumps({"ts": T0.format(1), "msg": "next"})]))
    assert df["event"].tolist() == ["wide", "next"]
    kept = MAX_COLUMNS - 3
    assert [c for c in df.columns if c.startswith("k")] == [f"k{i}" for i in range(kept)]
    assert df[f"k{kept - 1}"].iloc[0] == kept - 1
    assert json.loads(df[MORE_FIELDS].iloc[0]) == {f"k{i}": i for i in range(kept, 50_000)}
    assert pd.isna(df[MORE_FIELDS].iloc[1])


@pytest.mark.parametrize("depth", [900, 5_000])
def test_deep_nesting_is_flattened_to_the_depth_bound_and_kept_as_json_text(tmp_path, depth):
    from obsnb.sources.jsonl_schema import MAX_DEPTH

    deep = '{"a":' * depth + "1" + "}" * depth
    lines = [f'{{"ts":"{T0.format(0)}","msg":"deep","x":{deep}}}', json.dumps({"ts": T0.format(1), "msg": "next"})]
    df = _load(_write(tmp_path / "deep.jsonl", lines))
    assert df["event"].tolist() == ["deep", "next"] and _rejects(df) == {}
    cols = [c for c in df.columns if c.startswith("x")]
    assert len(cols) == 1
    levels = cols[0].count(".a")  # the objects flattened into the column name
    # 900 levels: flattened to the bound; 5,000 (past Python's parser): the whole object kept as text
    assert levels == (MAX_DEPTH - 1 if depth == 900 else 0)
    rest = depth - levels
    assert df[cols[0]].iloc[0] == '{"a":' * rest + "1" + "}" * rest


@pytest.mark.parametrize("piece", [1, 3, 64])
def test_over_cap_lines_are_found_across_piece_boundaries(tmp_path, monkeypatch, piece):
    import random

    from obsnb.sources import base

    monkeypatch.setattr(base, "_PIECE", piece)  # decompress a few bytes at a time: lines cross every boundary
    rnd = random.Random(piece)
    for trial in range(60):
        lines = [b"x" * rnd.choice([0, 1, 5, 10, 11, 30]) for _ in range(rnd.randint(0, 20))]
        data = b"\n".join(lines) + rnd.choice([b"", b"\n"])
        path = tmp_path / f"p{trial}.log.gz"
        path.write_bytes(gzip.compress(data) + (gzip.compress(b"\nlast") if trial % 3 == 0 else b""))
        if trial % 3 == 0:
            data += b"\nlast"
        src = base.FileInput(str(path))
        src.max_record = 10
        got = src.data()
        parts = data.split(b"\n")
        assert got == b"\n".join(b"" if len(ln) > 10 else ln for ln in parts)
        assert [(ln, n) for ln, n, _ in src.oversized] == [(i + 1, len(p)) for i, p in enumerate(parts) if len(p) > 10]
        assert src.truncated is None


# Found by the fuzz tests after the merge of the container readers and the record cap; kept as fixed cases.

@pytest.mark.parametrize("second", [b"\x80", b"[", b'{"ts": "' + T0.format(1).encode() + b'", "msg": "t"}'])
def test_a_jsonl_file_whose_first_line_is_an_array_judges_every_line_alone(tmp_path, second):
    """``[1,2]`` then another line is JSON lines, not a broken JSON document: line 1 is one rejected record
    (not an object), and line 2 loads or is rejected on its own, with its own line number."""
    p = _write(tmp_path / "f.jsonl", [b"[1,2]", second])
    df = _load(p, format="jsonl")
    info = ob.load_info(df)
    assert info.records_read == 2 and info.rows_loaded + info.n_rejected == 2
    rejects = _rejects(df)
    assert 1 in rejects and set(rejects) <= {1, 2}
    assert (len(df) == 1) == second.startswith(b"{")


def test_an_array_document_of_records_is_still_read_as_one_document(tmp_path):
    p = tmp_path / "a.json"
    text = json.dumps([{"ts": T0.format(1), "msg": "a"}, 5, {"ts": T0.format(2), "msg": "b"}], indent=1)
    p.write_text(text)
    df = _load(str(p))
    # each element's line: where its first byte is (indent 1: " {" alone, or " 5,")
    starts = [i for i, ln in enumerate(text.splitlines(), start=1) if ln in (" {", " 5,")]
    assert df["event"].tolist() == ["a", "b"] and df["_line"].tolist() == [starts[0], starts[2]]
    assert _rejects(df).keys() == {starts[1]}


def test_a_logfmt_time_of_1e400_is_one_rejected_record(tmp_path):
    p = _write(tmp_path / "f.log", ["ts=1e400 level=info msg=x", f"ts={T0.format(1)} level=info msg=y"])
    df = _load(p, format="logfmt")
    assert len(df) == 1 and "out of range" in _rejects(df)[1]


def test_every_line_reader_rejects_an_over_cap_line_with_the_caps_reason(tmp_path):
    """The cap is the load's for every line reader (Prometheus text, Docker, journald, timestamped text), not only
    the ones that once passed it: the line's reason names the cap, not "binary garbage"."""
    pad = "x" * 5_000
    cases = {
        "prom_text": ["# TYPE jobs_total counter", "jobs_total 1 1715680800000", f'jobs_total{{q="{pad}"}} 2 1715680801000',
                      "jobs_total 3 1715680802000"],
        "docker_json": [json.dumps({"log": "a\n", "stream": "stdout", "time": T0.format(1)}),
                        json.dumps({"log": pad + "\n", "stream": "stdout", "time": T0.format(2)}),
                        json.dumps({"log": "b\n", "stream": "stdout", "time": T0.format(3)})],
        "journald_json": [json.dumps({"__REALTIME_TIMESTAMP": "1715680801000000", "MESSAGE": "a", "PRIORITY": "6"}),
                          json.dumps({"__REALTIME_TIMESTAMP": "1715680802000000", "MESSAGE": pad, "PRIORITY": "6"}),
                          json.dumps({"__REALTIME_TIMESTAMP": "1715680803000000", "MESSAGE": "b", "PRIORITY": "6"})],
    }
    for fmt, lines in cases.items():
        big = next(i for i, ln in enumerate(lines, start=1) if pad in ln)
        df = _load(_write(tmp_path / f"{fmt}.txt", lines), format=fmt, max_record_bytes=CAP)
        rej = _rejects(df)
        assert list(rej) == [big], fmt
        assert rej[big].startswith(f"record of {len(lines[big - 1].encode()):,} bytes is over the {CAP:,}-byte cap"), fmt
        _accounted(df)
        assert ob.load_info(df).records_read == len(lines) - (fmt == "prom_text"), fmt  # a # TYPE line is no record
