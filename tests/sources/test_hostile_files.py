"""Hostile files: each bad record is one rejected record (file, line, reason) or the file is a clear
ObsnbError naming it; the load never crashes, hangs or fills memory. Loaded + rejected = read.

Every file is built here in ``tmp_path``; the expected rows and rejects follow from how it was built.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib

import nbformat
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import obsnb as ob
from obsnb.errors import SourceError
from conformance import load_quiet

HUGE = "1" * 30  # 30 digits: no int64 holds it
TRACE = "5b8efff798038103d269b633813fc60c"


def _info(df):
    info = ob.load_info(df)
    assert info.rows_loaded + info.n_rejected == info.records_read
    return info


def _reasons(df):
    return [(r.line, r.reason) for r in ob.load_info(df).rejects]


# ------------------------------------------------------------------------------------ 1. OTLP huge times


def _otlp_spans(spans):
    return {"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}


def _sp(sid, start, end, **kw):
    return {"traceId": TRACE, "spanId": sid, "name": f"op-{sid}", "startTimeUnixNano": start,
            "endTimeUnixNano": end, **kw}


def test_otlp_span_with_a_30_digit_time_is_rejected_and_the_rest_load(tmp_path):
    lines = [
        _otlp_spans([_sp("0000000000000001", "1700000000000000000", "1700000000500000000")]),
        _otlp_spans([_sp("0000000000000002", HUGE, "1700000000500000000")]),
        _otlp_spans([_sp("0000000000000003", "1700000000000000000", HUGE)]),
        _otlp_spans([_sp("0000000000000004", "1700000000000000000", "1700000000500000000",
                         events=[{"timeUnixNano": HUGE, "name": "e"}])]),
        _otlp_spans([_sp("0000000000000005", "1e400", "1700000000500000000")]),
        _otlp_spans([_sp("0000000000000006", "1700000001000000000", "1700000001250000000")]),
    ]
    p = tmp_path / "traces.otlp.jsonl"
    p.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    df = load_quiet(p)
    assert df["span_id"].tolist() == ["0000000000000001", "0000000000000006"]
    assert df["duration_ms"].tolist() == [500.0, 250.0]
    info = _info(df)
    assert (info.records_read, info.n_rejected) == (6, 4)
    assert [r.line for r in info.rejects] == [2, 3, 4, 5]
    reasons = [r.reason for r in info.rejects]
    assert reasons[0] == f"OTLP span startTimeUnixNano '{HUGE}' is out of range (30 digits; nanoseconds fit in 19)"
    assert reasons[1] == f"OTLP span endTimeUnixNano '{HUGE}' is out of range (30 digits; nanoseconds fit in 19)"
    assert reasons[2] == f"OTLP span event timeUnixNano '{HUGE}' is out of range (30 digits; nanoseconds fit in 19)"
    assert reasons[3] == "OTLP span startTimeUnixNano '1e400' is not a finite number of nanoseconds"
    assert all(r.source == str(p) for r in info.rejects)


def test_otlp_log_and_metric_with_a_30_digit_time_are_rejected(tmp_path):
    logs = {"resourceLogs": [{"scopeLogs": [{"logRecords": [
        {"timeUnixNano": "1700000000000000000", "body": {"stringValue": "kept"}},
        {"timeUnixNano": HUGE, "body": {"stringValue": "huge"}},
        {"observedTimeUnixNano": HUGE, "body": {"stringValue": "huge observed"}},
        {"timeUnixNano": "1700000000000000001", "severityNumber": "1e400", "body": {"stringValue": "odd level"}},
    ]}]}]}
    metrics = {"resourceMetrics": [{"scopeMetrics": [{"metrics": [
        {"name": "g", "gauge": {"dataPoints": [{"timeUnixNano": "1700000000000000000", "asDouble": 1.5},
                                               {"timeUnixNano": HUGE, "asDouble": 2.5},
                                               {"timeUnixNano": "1e400", "asDouble": 3.5}]}}]}]}]}
    lp, mp = tmp_path / "logs.otlp.json", tmp_path / "metrics.otlp.json"
    lp.write_text(json.dumps(logs))
    mp.write_text(json.dumps(metrics))
    df = load_quiet(lp)
    assert df["event"].tolist() == ["kept", "odd level"]
    assert df["level"].isna().tolist() == [True, True]
    assert _reasons(df) == [
        (2, f"OTLP log record timeUnixNano '{HUGE}' is out of range (30 digits; nanoseconds fit in 19)"),
        (3, f"OTLP log record observedTimeUnixNano '{HUGE}' is out of range (30 digits; nanoseconds fit in 19)")]
    _info(df)
    dm = load_quiet(mp)
    assert dm["value"].tolist() == [1.5]
    assert _reasons(dm) == [
        (1, f"OTLP metric 'g': timeUnixNano '{HUGE}' is not a nanosecond time (out of range or not an integer)"),
        (1, "OTLP metric 'g': timeUnixNano '1e400' is not a nanosecond time (out of range or not an integer)")]
    assert (_info(dm).records_read, _info(dm).n_rejected) == (3, 2)


def test_otlp_exponential_histogram_with_a_hostile_layout_is_rejected_not_drawn(tmp_path):
    def point(t, offset, scale=0):
        return {"timeUnixNano": str(t), "count": "1", "sum": 1.0, "scale": scale, "zeroCount": "0",
                "positive": {"offset": offset, "bucketCounts": ["1"]}}

    def metric(name, points):
        return {"name": name, "exponentialHistogram": {"aggregationTemporality": 2, "dataPoints": points}}

    doc = {"resourceMetrics": [{"scopeMetrics": [{"metrics": [
        metric("wide", [point(1_700_000_000_000_000_000, 0), point(1_700_000_001_000_000_000, 2**30)]),
        metric("badscale", [point(1_700_000_000_000_000_000, 0, scale=99)]),
        metric("ok", [point(1_700_000_000_000_000_000, 0)]),
    ]}]}]}
    p = tmp_path / "exp.otlp.json"
    p.write_text(json.dumps(doc))
    df = load_quiet(p)
    # "ok": bucket 0 at scale 0 is (1, 2]: le=1 is the zero bucket (0), le=2 and +Inf hold the one count
    ok = df[df["metric"].str.startswith("ok")]
    assert list(zip(ok["metric"], ok["le"].fillna(""), ok["value"])) == [
        ("ok_bucket", "0", 0.0), ("ok_bucket", "2", 1.0), ("ok_bucket", "+Inf", 1.0), ("ok_sum", "", 1.0),
        ("ok_count", "", 1.0)]
    # "wide" keeps its _sum/_count rows; its two bucket points (2**30 + 1 indexes apart) are rejected
    assert sorted(df[df["metric"].str.startswith("wide")]["metric"].tolist()) == ["wide_count"] * 2 + ["wide_sum"] * 2
    # _line in one document is the metric's ordinal: wide 1, badscale 2
    assert _reasons(df) == [
        *[(1, "OTLP metric 'wide': exponential histogram series spans 1073741825 buckets (more than 16384): not drawn")] * 2,
        (2, "malformed OTLP metrics record (ValueError: exponential histogram scale 99 outside -10..20)")]
    _info(df)


# ------------------------------------------------------------------------------- 2. Prometheus huge stamps


def test_prometheus_text_with_a_20_digit_timestamp_rejects_that_sample(tmp_path):
    p = tmp_path / "scrape.prom"
    p.write_text("# TYPE jobs gauge\n"
                 "jobs 1 1700000000000\n"
                 "jobs 2 99999999999999999999\n"      # 20 digits of ms
                 "jobs 3 1e30\n"                      # seconds (has an e): far past 2262
                 "jobs 4 1.5e5e5\n"                   # matches the stamp's characters, is no number
                 "jobs 5 1700000000001\n")
    df = load_quiet(p)
    assert df["value"].tolist() == [1.0, 5.0]
    assert df["time"].astype("int64").tolist() == [1_700_000_000_000_000_000, 1_700_000_000_001_000_000]
    assert _reasons(df) == [(3, "sample timestamp out of range (not a time after 1677 and before 2262)"),
                            (4, "sample timestamp out of range (not a time after 1677 and before 2262)"),
                            (5, "sample timestamp is not a number")]
    assert _info(df).records_read == 5


def test_prometheus_api_json_with_huge_or_unreadable_samples_rejects_each(tmp_path):
    doc = {"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"__name__": "up", "job": "a"},
         "values": [[1700000000, "1"], [1e20, "2"], ["abc", "3"], [1700000001, "zz"], [1700000002, "+Inf"]]},
        {"metric": {"__name__": "up", "job": "b"}, "values": [[1700000000, "0"]]},
        {"metric": {"__name__": "up", "job": "c"}, "values": [[1700000000]]},
    ]}}
    p = tmp_path / "answer.json"
    p.write_text(json.dumps(doc))
    df = load_quiet(p, format="prom_api")
    assert df["job"].tolist() == ["a", "a", "b"]
    assert df["value"].tolist() == [1.0, float("inf"), 0.0]
    assert df["time"].astype("int64").tolist() == [1_700_000_000_000_000_000, 1_700_000_002_000_000_000,
                                                   1_700_000_000_000_000_000]
    rej = ob.load_info(df).rejects
    assert [(r.line, r.reason) for r in rej[:3]] == [
        (1, "sample time '1e+20' is not a time in seconds (not a number, or past the year 2262)"),
        (1, "sample time 'abc' is not a time in seconds (not a number, or past the year 2262)"),
        (1, "sample value 'zz' is not a number")]
    assert rej[3].line == 3 and rej[3].reason.startswith("series with malformed samples (")
    assert (_info(df).records_read, _info(df).n_rejected) == (7, 4)


# ------------------------------------------------------------------ 3. symlinks: each real file read once


def _jsonl(path, events):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"time": f"2024-05-14T12:00:0{i}Z", "event": e}) + "\n"
                            for i, e in enumerate(events)))


def _tree(tmp_path):
    """logs/a/1.jsonl (2 rows), logs/c/2.jsonl (1 row); logs/b/to_a -> ../a (a folder inside the tree),
    logs/0link.jsonl -> c/2.jsonl (a file of the same load), logs/a/up -> .. (a loop)."""
    logs = tmp_path / "logs"
    _jsonl(logs / "a" / "1.jsonl", ["a1", "a2"])
    _jsonl(logs / "c" / "2.jsonl", ["c1"])
    (logs / "b").mkdir()
    (logs / "b" / "to_a").symlink_to("../a")
    (logs / "0link.jsonl").symlink_to("c/2.jsonl")
    (logs / "a" / "up").symlink_to("..")
    return logs


@pytest.mark.parametrize("how", ["glob", "directory"])
def test_symlinked_folder_file_and_loop_read_each_real_file_once(tmp_path, how):
    logs = _tree(tmp_path)
    src = str(logs / "**" / "*.jsonl") if how == "glob" else str(logs)
    df = load_quiet(src)
    assert sorted(df["event"]) == ["a1", "a2", "c1"]
    # the file's own path is kept, not the symlink's
    assert sorted(set(df["_source"].astype(str))) == [str(logs / "a" / "1.jsonl"), str(logs / "c" / "2.jsonl")]
    info = _info(df)
    assert (info.records_read, info.n_rejected) == (3, 0)
    assert sorted(info.warnings) == [f"{logs / '0link.jsonl'} is the same file as {logs / 'c' / '2.jsonl'}: read once",
                                     f"{logs / 'b' / 'to_a' / '1.jsonl'} is the same file as {logs / 'a' / '1.jsonl'}: read once"]


def test_a_glob_keeps_glob_matching_rules(tmp_path):
    logs = _tree(tmp_path)
    _jsonl(logs / ".hidden" / "h.jsonl", ["hidden"])
    _jsonl(logs / "a" / ".h.jsonl", ["hidden file"])
    _jsonl(logs / "a" / "x.log", ["other suffix"])
    assert sorted(load_quiet(str(logs / "*" / "*.jsonl"))["event"]) == ["a1", "a2", "c1"]  # one level, no **
    assert sorted(load_quiet(str(logs / "[c]" / "*.jsonl"))["event"]) == ["c1"]
    assert sorted(load_quiet(str(logs / "**" / "*.log"))["event"]) == ["other suffix"]
    with pytest.raises(SourceError, match="no file matches"):
        ob.load(str(logs / "**" / "*.nothing"))


# -------------------------------------------- 5. named pipes, devices, unreadable files: never a hang


def test_a_named_pipe_or_device_given_by_name_is_a_clear_error(tmp_path):
    fifo = tmp_path / "events.jsonl"
    os.mkfifo(fifo)
    with pytest.raises(SourceError) as exc:
        ob.load(str(fifo))  # no writer: opening it would block forever
    assert str(exc.value) == (f"{fifo} is not a regular file: it is a named pipe (FIFO): obsnb reads regular "
                              "files, and a pipe without a writer would block; copy what it carries to a file")
    with pytest.raises(SourceError, match=r"^/dev/zero is not a regular file: it is a character device$"):
        ob.load("/dev/zero")


def test_special_files_in_a_folder_are_one_rejected_record_each(tmp_path):
    logs = tmp_path / "logs"
    _jsonl(logs / "ok.jsonl", ["kept"])
    os.mkfifo(logs / "pipe.jsonl")
    (logs / "zero.jsonl").symlink_to("/dev/zero")
    (logs / "gone.jsonl").symlink_to("nowhere")
    with pytest.warns(ob.RejectedRecordsWarning) as caught:
        df = ob.load(str(logs))
    assert [str(w.message) for w in caught][-1].startswith(f"3 of 4 records rejected from 4 entries of {str(logs)!r}; ")
    assert df["event"].tolist() == ["kept"]
    assert _reasons(df) == [
        (None, f"{logs / 'gone.jsonl'} is a broken symlink (to nowhere): No such file or directory"),
        (None, f"{logs / 'pipe.jsonl'} is not a regular file: it is a named pipe (FIFO): obsnb reads regular files,"
               " and a pipe without a writer would block; copy what it carries to a file"),
        (None, f"{logs / 'zero.jsonl'} is not a regular file: it is a character device")]
    assert [r.source for r in ob.load_info(df).rejects] == [str(logs / n) for n in ("gone.jsonl", "pipe.jsonl", "zero.jsonl")]
    assert (_info(df).records_read, _info(df).n_rejected) == (4, 3)
    with pytest.raises(SourceError, match="nothing readable in"):
        ob.load(str(logs / "pipe*"))


_UNREADABLE = """
import json, os, sys, warnings
import obsnb as ob
from obsnb.errors import SourceError
warnings.simplefilter("ignore")
folder = sys.argv[1]
df = ob.load(folder)
out = {"events": df["event"].tolist(), "rejects": [[r.source, r.reason] for r in ob.load_info(df).rejects]}
try:
    ob.load(os.path.join(folder, "secret.jsonl"))
except SourceError as exc:
    out["alone"] = str(exc)
print(json.dumps(out))
"""


def test_an_unreadable_file_is_rejected_in_a_folder_and_an_error_alone(tmp_path):
    """chmod 000. Root reads such a file anyway, so as root the load runs in a child process whose
    capabilities to bypass file permissions are dropped (util-linux's setpriv)."""
    _jsonl(tmp_path / "ok.jsonl", ["kept"])
    _jsonl(tmp_path / "secret.jsonl", ["hidden by permissions"])
    (tmp_path / "secret.jsonl").chmod(0o000)
    cmd = [sys.executable, "-c", _UNREADABLE, str(tmp_path)]
    if os.geteuid() == 0:
        caps = "-dac_override,-dac_read_search"
        cmd = [shutil.which("setpriv") or "setpriv", f"--bounding-set={caps}", f"--inh-caps={caps}", *cmd]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    secret = str(tmp_path / "secret.jsonl")
    assert json.loads(run.stdout) == {"events": ["kept"], "rejects": [[secret, f"cannot read {secret}: permission denied"]],
                                      "alone": f"cannot read {secret}: permission denied"}


# ----------------------------------------------------- 6. the store notices a same-size, same-mtime rewrite


def test_the_store_notices_a_rewrite_that_keeps_size_and_mtime(tmp_path):
    store = tmp_path / "store"
    log = tmp_path / "app.jsonl"
    _jsonl(log, ["aaaa", "bbbb"])
    st = os.stat(log)
    assert load_quiet(log, cache=store)["event"].tolist() == ["aaaa", "bbbb"]
    assert load_quiet(log, cache=store)["event"].tolist() == ["aaaa", "bbbb"]  # a hit: still one entry
    assert len(list(store.iterdir())) == 1
    _jsonl(log, ["cccc", "dddd"])  # same length, in place (same inode)
    os.utime(log, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (os.stat(log).st_size, os.stat(log).st_mtime_ns, os.stat(log).st_ino) == (st.st_size, st.st_mtime_ns, st.st_ino)
    assert load_quiet(log, cache=store)["event"].tolist() == ["cccc", "dddd"]


def test_the_store_key_follows_the_bytes_at_either_end_of_a_big_file(tmp_path):
    from obsnb import cache

    big = tmp_path / "big.jsonl"
    body = b"x" * 200_000
    keys = []
    for tail in (b"end-1", b"end-2"):
        big.write_bytes(body + tail)
        keys.append(cache.cache_key(str(big), None, {}))
    assert keys[0] != keys[1] and None not in keys
    assert cache.cache_key(str(big), None, {}) == keys[1]  # unchanged file, same key


# ------------------------------------------------------- 7. `obsnb new` writes TOML that reads back exactly

ODD = 'INC-😀 "quoted" back\\slash\ttab\nnewline\x00nul\x1besc\x7fdel \U0001F9EA 𝕏 \u2028'


@given(st.text())
@settings(max_examples=400, deadline=None)
def test_toml_strings_read_back_exactly(text):
    from obsnb.cli import _toml_str

    assert tomllib.loads(f"x = {_toml_str(text)}\n") == {"x": text}


def test_obsnb_new_keeps_emoji_controls_quotes_and_newlines_exact(tmp_path, capsys):
    from obsnb import cli

    folder = tmp_path / "inc"
    url = 'prometheus://prom:9090/😀"\\'
    assert cli.main(["new", "postmortem", str(folder), "--incident", ODD, "--start", ODD[::-1], "--end", "e\r\n",
                     "--source", f"metrics={url}"]) == 0
    capsys.readouterr()
    conf = tomllib.loads((folder / "obsnb.toml").read_text(encoding="utf-8"))["investigation"]
    assert (conf["incident"], conf["start"], conf["end"], conf["evidence"]) == (ODD, ODD[::-1], "e\r\n",
                                                                                 {"metrics": url})
    nb = nbformat.read(str(folder / "postmortem.ipynb"), as_version=4)
    ns: dict = {}
    exec(next(c for c in nb.cells if "parameters" in c.metadata.get("tags", [])).source, ns)
    assert (ns["incident"], ns["start"], ns["end"], ns["metrics"]) == (ODD, ODD[::-1], "e\r\n", url)


def test_obsnb_new_refuses_text_that_is_not_utf8(tmp_path, capsys):
    from obsnb import cli

    bad = b"INC-\xff".decode("utf-8", "surrogateescape")  # how Python hands over such argv bytes
    assert cli.main(["new", "postmortem", str(tmp_path / "inc"), "--incident", bad]) == 2
    assert "'INC-\\\\udcff' is not valid UTF-8 text" in capsys.readouterr().err
    assert not (tmp_path / "inc").exists()  # nothing half-made


# ------------------------------------------------------ 4. CSV: one unbalanced quote is one rejected record


def _csv_rows(n, event):
    return ["time,level,event"] + [f"2024-05-14T12:{i // 60 % 60:02d}:{i % 60:02d}Z,INFO,{event(i)}" for i in range(n)]


@pytest.mark.parametrize("quoted", [False, True], ids=["bare", "quoted-with-commas"])
def test_csv_with_one_unbalanced_quote_rejects_that_record_alone(tmp_path, quoted):
    # quoted: the open quote closes at the next line's first quote, so the parser sees one 4-field row
    event = (lambda i: f'"e{i}, ok"') if quoted else (lambda i: f"e{i}")
    rows = _csv_rows(1001, event)
    rows[501] = '2024-05-14T13:00:00Z,INFO,"broken'  # line 502: the quote never closes
    p = tmp_path / "events.csv"
    p.write_text("\n".join(rows) + "\n")
    df = load_quiet(p)
    assert len(df) == 1000
    assert df["event"].tolist() == [event(i).strip('"') for i in range(1001) if i != 500]
    assert df["_line"].tolist() == [n for n in range(2, 1003) if n != 502]
    assert _reasons(df) == [(502, "unbalanced quote: the quoted field opened on this line never closes before "
                                  "line 503, which reads as a record of its own")]
    assert ob.load_info(df).rejects[0].raw == rows[501]
    assert (_info(df).records_read, _info(df).n_rejected) == (1001, 1)


def test_csv_quoted_newlines_still_load_and_stray_quotes_are_found(tmp_path):
    p = tmp_path / "events.csv"
    p.write_text("time,level,event\n"
                 '2024-05-14T12:00:00Z,INFO,"two\nlines"\n'          # lines 2-3: one record
                 '2024-05-14T12:00:01Z,INFO,"say ""hi"",\nthen, go"\n'  # lines 4-5: escaped quotes, commas
                 '2024-05-14T12:00:02Z,INFO,5" wide\n'                # a quote inside a bare word is text
                 '2024-05-14T12:00:03Z,INFO,"stray one\n'             # line 7: reject
                 "2024-05-14T12:00:04Z,INFO,after\n"
                 '2024-05-14T12:00:05Z,INFO,stray two"\n'             # line 9: it closed line 7's quote
                 "\n"
                 "2024-05-14T12:00:06Z,INFO,last\n"
                 '2024-05-14T12:00:07Z,WARN,"to the end\n')           # line 12: never closes
    df = load_quiet(p)
    assert df["event"].tolist() == ["two\nlines", 'say "hi",\nthen, go', '5" wide', "after", "last"]
    assert df["_line"].tolist() == [2, 4, 6, 8, 11]
    why = "unbalanced quote: the quoted field opened on this line never closes"
    assert _reasons(df) == [(7, f"{why} before line 8, which reads as a record of its own"),
                            (9, f"{why} before line 11, which reads as a record of its own"),  # once 7 is out
                            (12, f"{why} before the end of the file")]
    assert (_info(df).records_read, _info(df).n_rejected) == (8, 3)


def test_csv_times_past_int64_are_rejected_rows_not_a_failed_file(tmp_path):
    p = tmp_path / "times.csv"
    p.write_text("time,level,event\n"
                 "-9223372036854775809,INFO,a\n"      # 19 digits, one past int64
                 "2024-05-14T12:00:00Z,INFO,b\n"
                 "9999999999999999999,INFO,c\n"
                 "1e400,INFO,d\n"
                 "1715688000,INFO,e\n")                # epoch seconds
    df = load_quiet(p)
    assert df["event"].tolist() == ["b", "e"]
    assert df["time"].astype("int64").tolist() == [1_715_688_000_000_000_000] * 2
    assert _reasons(df) == [(2, "unparseable time '-9223372036854775809'"), (4, "unparseable time '9999999999999999999'"),
                            (5, "unparseable time '1e400'")]
