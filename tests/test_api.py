"""load() plumbing: sources, errors, options, the public surface, import cost."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import warnings

import pandas as pd
import pytest

import obsnb as ob
from obsnb import timeutil
from obsnb.errors import RejectedRecordsWarning, SourceError, UsageError


def _write(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def two_files(tmp_path):
    d = tmp_path / "logs"
    d.mkdir()
    _write(d / "a.jsonl", ['{"ts":"2024-05-14T10:00:00Z","event":"a1"}', '{"ts":"2024-05-14T10:00:02Z","event":"a2"}'])
    _write(d / "b.jsonl", ['{"ts":"2024-05-14T10:00:01Z","event":"b1"}', "oops"])
    return d


def test_import_is_light():
    """`import obsnb` loads no dataframe, database, chart or notebook library."""
    code = ("import sys, obsnb; heavy = [m for m in ('pandas','polars','duckdb','pyarrow','altair','nbconvert',"
            "'papermill','requests','jupyter_client') if m in sys.modules]; print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


def test_public_names_resolve():
    """Every name in obsnb.__all__ can be imported."""
    missing = []
    for name in ob.__all__:
        try:
            getattr(ob, name)
        except (AttributeError, ImportError) as exc:
            missing.append(f"{name}: {exc}")
    assert missing == []


def test_directory_glob_and_list_give_same_rows_with_provenance(two_files):
    """A directory, a glob and a list of files load the same rows, each with its file and line."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RejectedRecordsWarning)
        by_dir = ob.load(two_files)
        by_glob = ob.load(str(two_files / "*.jsonl"))
        by_list = ob.load([two_files / "a.jsonl", two_files / "b.jsonl"])
    for df in (by_dir, by_glob, by_list):  # several files: in time order, each row with its file and line
        assert list(df["event"]) == ["a1", "b1", "a2"]
        assert [(s.rsplit("/", 1)[1], n) for s, n in zip(df["_source"], df["_line"])] == [
            ("a.jsonl", 1), ("b.jsonl", 1), ("a.jsonl", 2)]
    rej = ob.rejected(by_dir)
    assert list(rej["line"]) == [2] and rej["source"].iloc[0].endswith("b.jsonl")


def test_rejected_survives_filtering(two_files):
    """ob.rejected() still finds the load of a filtered pandas frame."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RejectedRecordsWarning)
        df = ob.load(two_files)
    sub = df[df["event"] != "a1"]
    assert len(ob.rejected(sub)) == 1


def test_missing_path_is_a_clear_error(tmp_path):
    """A missing file, an empty glob and an empty directory are errors naming the path."""
    with pytest.raises(SourceError, match="no such file or directory: .*nope.jsonl"):
        ob.load(tmp_path / "nope.jsonl")
    with pytest.raises(SourceError, match=r"no file matches .*\*\.gz"):
        ob.load(str(tmp_path / "*.gz"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="holds no files"):
        ob.load(tmp_path / "empty")


def test_unrecognised_format_lists_candidates_and_the_fix(tmp_path):
    """A file of unknown shape gets an error that lists the formats and shows how to name one."""
    p = tmp_path / "weird.txt"
    p.write_text("%%%% nothing anyone writes %%%%\n")
    with pytest.raises(UsageError, match=r"cannot tell the format of .*weird.txt.*format="):
        ob.load(p)


def test_query_on_a_file_is_refused(two_files):
    """query= belongs to backends; on files it is a usage error."""
    with pytest.raises(UsageError, match="query= is for backends"):
        ob.load(two_files, query="x")


def test_engine_option(two_files):
    """set_option('engine', 'polars') changes the default output type; bad values are refused."""
    import polars as pl

    try:
        ob.set_option("engine", "polars")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RejectedRecordsWarning)
            assert isinstance(ob.load(two_files), pl.DataFrame)
    finally:
        ob.set_option("engine", "pandas")
    with pytest.raises(UsageError):
        ob.set_option("engine", "spark")
    assert ob.get_option("engine") == "pandas"


def test_kind_alias_and_unknown_kind(two_files):
    """kind='traces' is 'spans'; an unknown kind is a usage error naming the kinds."""
    with pytest.raises(UsageError, match="'logs', 'spans'"):
        ob.load(two_files, kind="events")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-14T13:05:00Z", "2024-05-14T13:05:00+00:00"),
        ("2024-05-14T15:05:00+02:00", "2024-05-14T13:05:00+00:00"),
        ("2024-05-14 13:05:00", "2024-05-14T13:05:00+00:00"),
        (1715691900, "2024-05-14T13:05:00+00:00"),
        (1715691900000, "2024-05-14T13:05:00+00:00"),
        (1715691900000000, "2024-05-14T13:05:00+00:00"),
        (1715691900000000000, "2024-05-14T13:05:00+00:00"),
        ("1715691900.5", "2024-05-14T13:05:00.500000+00:00"),
        (dt.datetime(2024, 5, 14, 13, 5), "2024-05-14T13:05:00+00:00"),
        (pd.Timestamp("2024-05-14T09:05:00-04:00"), "2024-05-14T13:05:00+00:00"),
    ],
)
def test_time_notations(value, expected):
    """Every accepted time notation means the same UTC instant."""
    assert timeutil.to_utc(value).isoformat() == expected


def test_relative_times_and_durations(monkeypatch):
    """'now-2h' counts back from now; durations read '1h30m', '90s', '500ms'."""
    fixed = dt.datetime(2024, 5, 14, 13, 0, tzinfo=dt.timezone.utc)
    monkeypatch.setattr(timeutil, "now", lambda: fixed)
    assert timeutil.to_utc("now-2h") == fixed - dt.timedelta(hours=2)
    assert timeutil.to_utc("now") == fixed
    assert timeutil.duration_ns("1h30m") == 5400 * 10**9
    assert timeutil.duration_ns("90s") == 90 * 10**9
    assert timeutil.duration_ns("500ms") == 500 * 10**6
    with pytest.raises(UsageError, match="as a duration"):
        timeutil.duration_ns("soon")


def test_parquet_cache_gives_the_same_frame_and_rejects(two_files, tmp_path):
    """With cache=DIR a second load reads Parquet, returns the same rows and rejects, and notices edits."""
    from obsnb import cache as obsnb_cache

    cache = tmp_path / "cache"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RejectedRecordsWarning)
        first = ob.load(two_files, cache=cache)
        obsnb_cache.flush()  # the entries are written in the background: wait for them before listing
        entries = sorted(p.name for p in cache.iterdir())
        second = ob.load(two_files, cache=cache)
    assert len(entries) == 2  # one entry per file
    pd.testing.assert_frame_equal(first, second)
    pd.testing.assert_frame_equal(ob.rejected(first), ob.rejected(second))
    _write(two_files / "b.jsonl", ['{"ts":"2024-05-14T10:00:01Z","event":"b1-edited"}'])
    third = ob.load(two_files, cache=cache)
    assert list(third["event"]) == ["a1", "b1-edited", "a2"]
    assert len(ob.rejected(third)) == 0


def test_several_files_come_back_in_time_order(tmp_path):
    """Rotated logs listed newest first load oldest first, ties in file order; one file keeps its own order."""
    import obsnb as ob

    (tmp_path / "app.log.1").write_text('{"time": "2024-05-14T12:00:00Z", "event": "a"}\n'
                                        '{"time": "2024-05-14T12:00:02Z", "event": "c"}\n')
    (tmp_path / "app.log").write_text('{"time": "2024-05-14T12:00:01Z", "event": "b"}\n'
                                      '{"time": "2024-05-14T12:00:03Z", "event": "d"}\n'
                                      '{"time": "2024-05-14T12:00:00Z", "event": "late"}\n')
    both = ob.load([str(tmp_path / "app.log"), str(tmp_path / "app.log.1")], format="jsonl")
    assert both["event"].tolist() == ["late", "a", "b", "c", "d"]  # 12:00:00 twice: app.log is listed first
    assert both["_line"].tolist() == [3, 1, 1, 2, 2]
    one = ob.load(str(tmp_path / "app.log"), format="jsonl")
    assert one["event"].tolist() == ["b", "d", "late"]


def test_a_directory_is_read_with_its_subdirectories(tmp_path):
    """A folder of folders (one per host, say) loads every file beneath it; hidden files and folders are skipped."""
    import obsnb as ob

    for host, t in (("h1", "12:00:01"), ("h2", "12:00:00")):
        (tmp_path / host).mkdir()
        (tmp_path / host / "app.jsonl").write_text(f'{{"time": "2024-05-14T{t}Z", "event": "{host}"}}\n')
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "x.jsonl").write_text('{"time": "2024-05-14T12:00:00Z", "event": "hidden"}\n')
    logs = ob.load(str(tmp_path))
    assert logs["event"].tolist() == ["h2", "h1"]


def test_a_folder_mixing_formats_loads_as_one_frame(tmp_path):
    """Parts from different readers (syslog text and a JSON array) are typed alike before they are joined."""
    import obsnb as ob

    (tmp_path / "app.log").write_text("<13>1 2024-05-14T12:00:01Z host app 12 - - started\n")
    (tmp_path / "events.json").write_text('[{"@timestamp": "2024-05-14T12:00:00Z", "message": "hello"}]')
    df = ob.load(str(tmp_path))
    assert df["event"].tolist() == ["hello", "started"]
    assert str(df["time"].dtype) == "datetime64[ns, UTC]"


def test_importing_a_submodule_never_shadows_the_function_it_is_named_after():
    """`ob.audit` and `ob.scan` stay the functions after their modules are imported (by obsnb itself, e.g. the
    notebook helpers, or by a user's `import obsnb.scan`): the import system sets the package attribute to the
    module, which made a later `ob.audit(...)` raise "'module' object is not callable"."""
    import importlib
    import sys

    import obsnb

    importlib.import_module("obsnb.audit")
    importlib.import_module("obsnb.scan")
    import obsnb.notebook  # noqa: F401  (imports obsnb.audit)

    assert callable(obsnb.audit) and obsnb.audit.__module__ == "obsnb.audit"
    assert callable(obsnb.scan) and obsnb.scan.__module__ == "obsnb.scan"
    assert sys.modules["obsnb.audit"].audit is obsnb.audit
