"""JSON lines: keys that first appear after the sampled head are never lost, whichever way they are found.

The reader types the file from its first 5,000 lines, then proves every other line holds no key the
sample missed by counting ``":`` per line against the members the scan saw; the lines that fail the
count are parsed again. These tests build files where that proof fails in each possible way (a new
key, a null value, ``"k" :`` spacing, an escaped quote before a colon, a new key on most lines, a new
key that names a canonical column) and compare every value with Python's own json module.
"""

from __future__ import annotations

import json
import random
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import obsnb as ob
from obsnb.errors import RejectedRecordsWarning
from obsnb.sources import jsonl

HEAD = 5_000  # the sample: every line after it is checked by counting


def _load(path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RejectedRecordsWarning)
        return ob.load(path, kind="logs", **kw)


def _head(n=HEAD):
    return [{"ts": 1715680800 + i, "event": "tick", "ctx": {"a": i}} for i in range(n)]


def _write(path, records, dumps=lambda r: json.dumps(r, separators=(",", ":"))):
    path.write_text("".join(dumps(r) + "\n" for r in records))
    return path


def _vals(series) -> list:
    """Values with missing ones as None (pandas' str dtype shows them as NaN)."""
    return [None if v is None or v != v else v for v in series.tolist()]


def _flat(rec, prefix=""):
    out = {}
    for k, v in rec.items():
        if isinstance(v, dict) and v:
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


@pytest.fixture
def key_passes(monkeypatch):
    """How many whole-file key passes the reader ran."""
    calls = []
    real = jsonl._Schema.key_pass

    def spy(self, con, path):
        calls.append(path)
        return real(self, con, path)

    monkeypatch.setattr(jsonl._Schema, "key_pass", spy)
    return calls


def test_file_without_late_keys_needs_no_second_pass(tmp_path, key_passes):
    """A file whose every line matches the sample's keys is read in one scan (the count proves it)."""
    recs = _head(6_000)
    df = _load(_write(tmp_path / "a.jsonl", recs))
    assert len(df) == 6_000
    assert key_passes == []
    assert list(df.columns) == ["time", "level", "event", "service", "trace_id", "span_id", "ctx.a", "_source",
                                "_line"]


def test_late_keys_top_level_and_nested_with_exact_values(tmp_path, key_passes):
    recs = _head()
    recs.append({"ts": 1715690000, "event": "boom", "error_type": "Timeout", "ctx": {"a": 1, "b": "x"}})
    recs.append({"ts": 1715690001, "event": "tick", "ctx": {"a": 2}})
    recs.append({"ts": 1715690002, "event": "boom", "ctx": {"a": 3, "exc": {"type": "E", "n": 1.5}}})
    df = _load(_write(tmp_path / "late.jsonl", recs))
    assert len(df) == HEAD + 3
    assert key_passes == []  # found from the three lines alone
    assert _vals(df["error_type"])[-3:] == ["Timeout", None, None]
    assert df["error_type"].iloc[:-3].isna().all()
    assert _vals(df["ctx.b"])[-3:] == ["x", None, None]
    assert json.loads(df["ctx.exc"].iloc[-1]) == {"type": "E", "n": 1.5}
    assert df["ctx.exc"].iloc[:-1].isna().all()
    assert df["_line"].tolist()[-3:] == [HEAD + 1, HEAD + 2, HEAD + 3]


def test_null_values_spaced_colons_and_escaped_quotes_are_checked_not_trusted(tmp_path):
    """Lines the count cannot vouch for are parsed again; they load exactly, and a late key among them is found."""
    recs = _head()
    lines = [json.dumps(r, separators=(",", ":")) for r in recs]
    lines.append('{"ts":1715690000,"event":"tick","ctx":{"a":null}}')  # a null: fewer members seen than keys
    lines.append('{"ts" : 1715690001 , "event" : "spaced", "ctx" : {"a" : 7}, "late" : "s"}')  # "k" : v
    lines.append('{"ts":1715690002,"event":"say \\":x\\" twice \\":y","ctx":{"a":8}}')  # \": inside a string
    lines.append('{"ts":1715690003,"event":"tick","ctx":{"a":9},"also_late":[{"k":1},{"k":2}]}')
    p = tmp_path / "odd.jsonl"
    p.write_text("\n".join(lines) + "\n")
    df = _load(p)
    assert len(df) == HEAD + 4 and ob.load_info(df).n_rejected == 0
    tail = df.iloc[-4:]
    assert tail["event"].tolist() == ["tick", "spaced", 'say ":x" twice ":y', "tick"]
    assert _vals(tail["late"]) == [None, "s", None, None]
    assert json.loads(tail["also_late"].iloc[-1]) == [{"k": 1}, {"k": 2}]
    assert df["late"].iloc[:-3].isna().all()
    assert tail["ctx.a"].tolist()[1:] == [7, 8, 9]


def test_late_key_on_most_lines_falls_back_to_one_key_pass(tmp_path, key_passes):
    """When most lines must be looked at, one whole-file key pass decides; nothing is lost either way."""
    recs = _head()
    recs += [{"ts": 1715700000 + i, "event": "tick", "ctx": {"a": i}, "req": f"r{i}"} for i in range(20_000)]
    df = _load(_write(tmp_path / "many.jsonl", recs))
    assert len(df) == HEAD + 20_000
    assert key_passes  # the fallback ran
    assert df["req"].iloc[:HEAD].isna().all()
    assert df["req"].iloc[HEAD:].tolist() == [f"r{i}" for i in range(20_000)]


def test_late_key_that_names_a_canonical_column_feeds_it(tmp_path):
    """A late "message" or "trace_id" is not just a column: it fills the canonical one (the file is read again)."""
    recs = _head()
    recs.append({"ts": 1715690000, "message": "only a message here", "ctx": {"a": 1},
                 "trace_id": "ABCDEF0123456789ABCDEF0123456789"})
    df = _load(_write(tmp_path / "canon.jsonl", recs))
    last = df.iloc[-1]
    assert last["event"] == "only a message here"
    assert last["trace_id"] == "abcdef0123456789abcdef0123456789"
    assert df["trace_id"].iloc[:-1].isna().all()


def test_pretty_separators_count_too(tmp_path, key_passes):
    """python-json-logger and structlog write '": "' and '", "': the count still proves those lines."""
    recs = _head() + [{"ts": 1715690000, "event": "boom", "ctx": {"a": 1}, "err": "E"}]
    df = _load(_write(tmp_path / "pretty.jsonl", recs, dumps=json.dumps))
    assert key_passes == []
    assert _vals(df["err"])[-2:] == [None, "E"]


_key = st.text(st.sampled_from("abcxyz_"), min_size=1, max_size=4)
_scalar = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                    st.floats(allow_nan=False, allow_infinity=False, width=32),
                    st.text(st.sampled_from('ab :"\\{}[]é\n'), max_size=8))
_value = st.recursive(_scalar, lambda kids: st.dictionaries(_key, kids, min_size=1, max_size=3), max_leaves=4)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(late=st.lists(st.tuples(st.integers(0, 199), st.dictionaries(_key, _value, min_size=1, max_size=3),
                               st.booleans(), st.sampled_from([(",", ":"), (", ", ": "), (" , ", " : ")])),
                     min_size=1, max_size=8))
def test_property_every_late_key_is_a_column_with_its_value(tmp_path_factory, late):
    """Random late records (random keys, nesting, nulls, spacing) after the sample: every top-level key the
    sample did not show is a column, holding exactly what json.loads reads (as text, or its number)."""
    tail = [{"ts": 1715690000 + i, "event": "tick", "ctx": {"a": i}} for i in range(200)]
    for pos, extra, nested, seps in late:
        rec = tail[pos]
        target = rec["ctx"] if nested else rec
        for k, v in extra.items():
            if k not in ("ts", "event", "ctx", "a"):
                target.setdefault(k, v)
        rec["_seps"] = seps
    lines = [json.dumps(r, separators=(",", ":")) for r in _head()]
    for r in tail:
        seps = r.pop("_seps", (",", ":"))
        lines.append(json.dumps(r, separators=seps))
    p = tmp_path_factory.mktemp("late") / "f.jsonl"
    p.write_text("\n".join(lines) + "\n")
    df = _load(p)
    assert len(df) == HEAD + 200 and ob.load_info(df).n_rejected == 0
    got = df.iloc[HEAD:]
    for i, rec in enumerate(tail):
        # the sample knew one object (ctx): members inside it are columns; any other object is one JSON text
        fields = {**{k: v for k, v in rec.items() if k != "ctx"}, **{f"ctx.{k}": v for k, v in rec["ctx"].items()}}
        for name, want in fields.items():
            if name in ("ts", "event", "ctx.a"):
                continue
            assert name in df.columns, name
            have = got[name].iloc[i]
            if want is None or want == {}:
                assert have is None or have != have, (name, have)
            elif isinstance(want, (dict, list)):
                assert json.loads(have) == want
            elif isinstance(want, str):
                assert have == want, (name, have, want)
            else:
                assert json.loads(str(have).lower()) == pytest.approx(want), (name, have, want)


def test_fields_named_like_internal_columns_are_kept(tmp_path):
    """A field whose name starts with underscores ("__meta", "__") is data like any other."""
    recs = [{"ts": 1715680800 + i, "event": "e", "__meta": f"m{i}", "_x": i} for i in range(3)]
    df = _load(_write(tmp_path / "u.jsonl", recs))
    assert df["__meta"].tolist() == ["m0", "m1", "m2"]
    assert df["_x"].tolist() == [0, 1, 2]


def test_rows_out_of_file_order_raise_rather_than_mislabel_lines(tmp_path, monkeypatch):
    """If the reader ever handed rows back out of file order, the member count notices: a clear error,
    never a frame whose _line and rejected records point at the wrong lines."""
    from obsnb.errors import SourceError

    recs = [{"ts": 1715680800 + i, "event": "e", "ctx": {"a": i}} for i in range(50)]
    recs += [{"ts": 1715680900 + i, "event": "e", "ctx": {"a": i, "b": 1, "c": 2}, "d": 1} for i in range(50)]
    p = _write(tmp_path / "o.jsonl", recs)
    real = jsonl._fetch_arrow

    def reversed_rows(con, sql):
        t = real(con, sql)
        return t.take(list(range(t.num_rows - 1, -1, -1))) if "__obsnb_members" in sql else t

    monkeypatch.setattr(jsonl, "_fetch_arrow", reversed_rows)
    with pytest.raises(SourceError, match="out of file order"):
        _load(p)


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize("gz", [False, True])
def test_late_key_in_crlf_and_gzipped_files_without_final_newline(tmp_path, newline, gz):
    """CRLF endings, .gz and a last line without a newline do not disturb the count."""
    import gzip

    recs = _head() + [{"ts": 1715690000 + i, "event": "tick", "ctx": {"a": i}} for i in range(10)]
    recs.append({"ts": 1715690100, "event": "end", "ctx": {"a": 0}, "late": "yes"})
    text = newline.join(json.dumps(r, separators=(",", ":")) for r in recs)  # no final newline
    p = tmp_path / ("f.jsonl.gz" if gz else "f.jsonl")
    p.write_bytes(gzip.compress(text.encode()) if gz else text.encode())
    df = _load(p)
    assert len(df) == HEAD + 11 and ob.load_info(df).n_rejected == 0
    assert _vals(df["late"])[-2:] == [None, "yes"]
    assert df["late"].iloc[:-1].isna().all()
    assert df["_line"].iloc[-1] == HEAD + 11
