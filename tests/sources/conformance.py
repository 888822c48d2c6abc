"""What every file reader must pass: subclass :class:`ConformanceSuite` and fill in the class attributes.

The suite writes the subclass's fixture bytes to ``tmp_path`` and loads them through ``obsnb.load``:

* ``fmt``, ``kind``, ``suffix``: the format name, the kind it yields, a file suffix;
* ``good``: a small valid file and ``good_rows`` its number of records;
* ``messy``: a file with bad records; ``messy_good`` / ``messy_bad`` how many load / are rejected,
  and ``first_bad_line`` the line ``strict=True`` must name.
"""

from __future__ import annotations

import gzip
import warnings

import pyarrow as pa
import pytest

import obsnb as ob
from obsnb import registry, schema
from obsnb.errors import ParseError, RejectedRecordsWarning
from obsnb.sources.base import FileInput

from _support import to_pandas


def load_quiet(path, **kw):
    """``ob.load`` with RejectedRecordsWarning silenced (tests count rejects themselves)."""
    kw = {**kw.pop("options", {}), **kw}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RejectedRecordsWarning)
        return ob.load(str(path), **kw)


class ConformanceSuite:
    fmt: str = ""
    kind: str = ""
    suffix: str = ".txt"
    good: bytes = b""
    good_rows: int = 0
    messy: bytes = b""
    messy_good: int = 0
    messy_bad: int = 0
    first_bad_line: int | None = 1
    options: dict = {}  # passed to every load (e.g. a column mapping)

    def write(self, tmp_path, data: bytes, name: str = "input") -> str:
        p = tmp_path / f"{name}{self.suffix}"
        p.write_bytes(data)
        return str(p)

    @property
    def time_col(self) -> str:
        return "start" if self.kind == "spans" else "time"

    def test_canonical_columns_come_first_in_order(self, tmp_path, engine):
        """The frame starts with the kind's canonical columns, in contract order, and ends with _source, _line."""
        df = load_quiet(self.write(tmp_path, self.good), format=self.fmt, options=self.options, engine=engine)
        cols = list(df.columns)
        canon = list(schema.CANONICAL[self.kind])
        assert cols[: len(canon)] == canon
        assert cols[-2:] == ["_source", "_line"]
        assert len(df) == self.good_rows

    def test_times_are_utc_nanoseconds(self, tmp_path, engine):
        """Every canonical time column is tz-aware UTC with nanosecond precision in both engines."""
        df = load_quiet(self.write(tmp_path, self.good), format=self.fmt, options=self.options, engine=engine)
        names = [n for n, t in schema.CANONICAL[self.kind].items() if pa.types.is_timestamp(t)]
        for name in names:
            if engine == "polars":
                import polars as pl

                assert df.schema[name] == pl.Datetime("ns", "UTC")
            else:
                assert str(df[name].dtype) == "datetime64[ns, UTC]"
        assert to_pandas(df)[self.time_col].notna().all()

    def test_provenance_names_file_and_line(self, tmp_path):
        """Each row's _source is the file it came from and _line a positive number."""
        path = self.write(tmp_path, self.good)
        df = load_quiet(path, format=self.fmt, options=self.options)
        assert set(df["_source"].astype(str)) == {path}
        assert (df["_line"] >= 1).all()

    def test_empty_file_gives_empty_canonical_frame(self, tmp_path, engine):
        """An empty file loads as zero rows with the canonical columns, not an error."""
        df = load_quiet(self.write(tmp_path, b""), kind=self.kind, format=self.fmt, options=self.options, engine=engine)
        assert len(df) == 0
        assert list(df.columns)[: len(schema.CANONICAL[self.kind])] == list(schema.CANONICAL[self.kind])

    def test_start_end_window_keeps_rows_inside(self, tmp_path):
        """start/end keep exactly the rows whose time falls in [start, end)."""
        path = self.write(tmp_path, self.good)
        full = load_quiet(path, format=self.fmt, options=self.options)
        times = sorted(full[self.time_col].dropna())
        lo, hi = times[0], times[-1]
        inside = full[(full[self.time_col] >= lo) & (full[self.time_col] < hi)]
        got = load_quiet(path, format=self.fmt, options=self.options, start=lo, end=hi)
        assert len(got) == len(inside)
        assert len(load_quiet(path, format=self.fmt, options=self.options, start=hi + pd_ns(1))) == 0

    def test_loaded_plus_rejected_equals_records_read(self, tmp_path):
        """Bad records are rejected, not dropped: loaded + rejected = records in the file."""
        path = self.write(tmp_path, self.messy, "messy")
        with pytest.warns(RejectedRecordsWarning, match=f"{self.messy_bad} of {self.messy_good + self.messy_bad}"):
            df = ob.load(path, format=self.fmt, kind=self.kind, **self.options)
        rej = ob.rejected(df)
        assert len(df) == self.messy_good
        assert len(rej) == self.messy_bad
        assert set(rej["source"]) == {path}
        assert rej["reason"].str.len().min() > 0

    def test_strict_raises_on_first_bad_record_with_file_and_line(self, tmp_path):
        """strict=True raises ParseError naming the file and the first bad record's line."""
        path = self.write(tmp_path, self.messy, "messy")
        with pytest.raises(ParseError) as info:
            ob.load(path, format=self.fmt, kind=self.kind, strict=True, **self.options)
        assert info.value.source == path
        assert info.value.line == self.first_bad_line
        assert path in str(info.value)

    def test_pandas_and_polars_frames_are_equal(self, tmp_path):
        """The polars frame holds the same values as the pandas frame."""
        path = self.write(tmp_path, self.good)
        pd_df = load_quiet(path, format=self.fmt, options=self.options, engine="pandas")
        pl_df = load_quiet(path, format=self.fmt, options=self.options, engine="polars")
        a = pd_df.drop(columns=[c for c in ("links", "events") if c in pd_df.columns])
        b = pl_df.to_pandas()[list(a.columns)]
        assert list(pl_df.columns) == list(pd_df.columns)
        assert a.astype(str).equals(b.astype(str).set_axis(a.index))

    def test_gzip_reads_the_same_and_truncation_is_reported(self, tmp_path):
        """A .gz file loads the same rows; a truncated .gz is reported as a rejected record."""
        plain = load_quiet(self.write(tmp_path, self.good), format=self.fmt, options=self.options)
        gz = tmp_path / f"g{self.suffix}.gz"
        gz.write_bytes(gzip.compress(self.good))
        zipped = load_quiet(str(gz), format=self.fmt, options=self.options)
        assert len(zipped) == len(plain)
        cut = tmp_path / f"cut{self.suffix}.gz"
        cut.write_bytes(gzip.compress(self.good)[:-12])
        df = load_quiet(str(cut), format=self.fmt, options=self.options, kind=self.kind)
        assert any("gzip" in r for r in ob.rejected(df)["reason"])

    def test_format_is_recognised_without_being_named(self, tmp_path):
        """Sniffing the good file picks this format."""
        path = self.write(tmp_path, self.good)
        assert registry.sniff(FileInput(path).head(), path) == self.fmt


def pd_ns(n: int):
    import pandas as pd

    return pd.Timedelta(n, "ns")


def vals(series) -> list:
    """A column's values as a list, missing values as None (pandas 3 strings show NaN)."""
    import pandas as pd

    return [None if (v is None or (not isinstance(v, (list, dict)) and pd.isna(v))) else v for v in series]
