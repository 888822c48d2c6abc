"""The engine of the plain-text log readers (log4j, klog, logcat, web server logs, RAS, CRI, drains, text).

A format is a tuple of :class:`Layout` (in :mod:`._match`): a whole-line regex whose named groups give the timestamp's parts
and the record's fields. :func:`read_layouts` matches every line against each layout in turn (polars,
one pass per layout over the lines still unmatched, the file's own layout first), folds lines that start
no record into the record above (column ``exception``), builds the times with numpy and polars (zone from
``tz=``, through DuckDB's time zone rules, or UTC with a warning; years for year-less stamps from ``year=`` or
the file's modification time) and maps the levels; nothing runs per line in Python. The groups stay polars
Series until each becomes an output column, and the lines are let go before that.
"""

from __future__ import annotations

import re

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import UsageError
from ..schema import STR
from ._isostamp import iso_parts
from ._lines import background, connect, head_lines, infer_numbers, line_views, reject_where, times_to_ns
from ._match import Layout, compiled, match_layouts
from .base import FileInput, ReadContext

# Groups that make up a timestamp: year (2 or 4 digits), month (number or name), day, hour, minute,
# second, fraction digits, zone (Z, +hh:mm, +hhmm), or epoch seconds (with an optional fraction); or
# ``time``, a whole timestamp (ISO 8601, epoch, or in the ``time_format=`` strptime format).
# ``_iso`` is a whole ISO 8601 stamp of :data:`ISO_STAMP`, cut into those parts by position: one capture
# group instead of eight costs the regex pass about a quarter less on 1M log4j lines.
TIME_GROUPS = ("Y", "mo", "mon", "d", "H", "M", "S", "f", "z", "epoch", "time", "_iso")
ISO_STAMP = r"(?P<_iso>\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d{1,9})?(?:Z|[+-]\d{2}:?\d{2})?)"
CLOCK = r"(?P<H>\d{2}):(?P<M>\d{2}):(?P<S>\d{2})"
MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov",
                                      "dec"), 1)}
# Level letters (klog/glog I W E F, Android logcat V D I W E F A) and spellings schema does not know;
# SEVERE is the highest level of java.util.logging (and BGL's SEVERE is an alarm): CRITICAL.
LEVEL_ALIASES = {"V": "DEBUG", "A": "CRITICAL", "CONFIG": "DEBUG", "SEVERE": "CRITICAL", "FAILURE": "CRITICAL"}


def sniff_layouts(head: bytes, layouts: tuple[Layout, ...], continuation: str = r"^(\s|$)",
                  score: float = 0.9) -> float:
    """``score`` when at least half of the head's record lines (not continuations) match one of ``layouts``.

    A quarter to a half gives a lower score (a file may start with a banner or a stack trace).
    """
    lines = head_lines(head, 50)
    cont = compiled(continuation)
    lines = [ln for ln in lines if not cont.match(ln)]
    if not lines:
        return 0.0
    hits = sum(1 for ln in lines if any(lay.sniff_re.match(ln) for lay in layouts))
    share = hits / len(lines)
    if share >= 0.5:
        return score
    return score / 2 if share >= 0.25 else 0.0


def fold_continuations(lines, start_np: np.ndarray, cont_np: np.ndarray, n_records: int) -> pa.Array:
    """The continuation lines (polars or Arrow strings) of each record joined with newlines (null for a
    record with none)."""
    import polars as pl

    rid = np.cumsum(start_np) - 1
    df = pl.DataFrame({"rid": rid[cont_np], "s": pl.Series(lines).filter(pl.Series(cont_np))})
    agg = df.group_by("rid", maintain_order=True).agg(pl.col("s").str.join("\n"))
    idx = np.full(n_records, -1, dtype=np.int64)
    idx[agg["rid"].to_numpy()] = np.arange(agg.height)
    return pc.take(_arrow(agg["s"]), pa.array(idx, mask=idx < 0))


def check_tz(tz) -> str:
    """``tz`` as an IANA zone name, or a UsageError saying what it must be."""
    if not re.fullmatch(r"[A-Za-z0-9_+\-/]+", str(tz)):
        msg = f"tz={tz!r} is not a time zone name; use an IANA name like 'Europe/Berlin' or 'UTC'"
        raise UsageError(msg)
    try:
        import zoneinfo

        zoneinfo.ZoneInfo(str(tz))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        msg = f"tz={tz!r} is not a known time zone; use an IANA name like 'Europe/Berlin' or 'UTC'"
        raise UsageError(msg) from None
    return str(tz)


def note_utc(ctx: ReadContext, what: str) -> None:
    """Say once per load that zone-less times were read as UTC (a warning, and in ``load_info().warnings``)."""
    import warnings

    from ..errors import ObsnbWarning

    msg = (f"{what} times carry no time zone and were read as UTC; if they are local times, "
           f"pass tz='Area/City' (an IANA name, e.g. tz='Europe/Berlin')")
    if not any(w.startswith(what + " times carry no time zone") for w in ctx.warnings):
        ctx.warnings.append(msg)
        warnings.warn(msg, ObsnbWarning, stacklevel=4)


def stamp_ns(cols: dict, n: int, src: FileInput, ctx: ReadContext, what: str, iso=None) -> pa.Array:
    """Timestamps from their parts (the :data:`TIME_GROUPS` of ``cols``, Arrow arrays or polars Series of
    strings) -> int64 epoch ns, null where impossible.

    A zone-less time is read in ``tz=`` when given, else as UTC (said once, see :func:`note_utc`). A
    year-less time (``Dec 10 06:55:46``, ``03-17 16:13:38.811``) takes the year ``year=`` when given;
    else the year that puts the file's last record no later than the file's modification time, and a
    backward jump of more than half a year between records (Dec -> Jan) moves the year on. The
    calendar arithmetic runs in polars; only a zone-less time read in ``tz=`` goes through DuckDB
    (its time zone rules). ``iso``: :func:`iso_parts` of the ``_iso`` group, when already made.
    """
    import polars as pl

    if "time" in cols:
        t = cols["time"]
        return _whole_stamp(t.to_arrow().cast(pa.string()) if isinstance(t, pl.Series) else t, ctx, what)
    text = ("Y", "mo", "mon", "d", "H", "M", "S", "f", "z")
    parts = _text_parts(cols, n) if "_iso" not in cols or any(k in cols for k in text) else None
    if "_iso" in cols:
        iso = iso_parts(cols["_iso"]) if iso is None else iso
        parts = iso if parts is None else iso.select(pl.coalesce(iso[c], parts[c]).alias(c) for c in iso.columns)
    parts = parts.with_columns(pl.col("H", "M", "S", "fns").fill_null(0))
    has_date = parts["mo"].is_not_null() & parts["d"].is_not_null()
    yearless = (has_date & parts["Y"].is_null()).to_numpy()
    tz = ctx.option("tz")
    if tz is not None:
        tz = check_tz(tz)
    if yearless.any():
        parts = parts.with_columns(pl.Series("Y", _years(parts, yearless, src, ctx, tz)).fill_null(parts["Y"]))
    zoneless = (has_date & parts["zmin"].is_null()).any()
    if zoneless and tz is None:
        note_utc(ctx, what)
    if zoneless and tz is not None:
        out = _zoned_ns(parts, tz)
    else:
        out = parts.select(_civil_ns()).to_series().to_arrow().cast(pa.int64())
    if "epoch" in cols:
        ep = pl.Series(cols["epoch"]).cast(pl.Float64, strict=False)
        ens = pl.select((pl.Series(cols["epoch"]).str.extract(r"^(\d+)", 1).cast(pl.Int64, strict=False)
                         * 1_000_000_000 + ((ep % 1) * 1e9).round(0).cast(pl.Int64))).to_series().to_arrow()
        out = pc.coalesce(out, ens.cast(pa.int64()))
    return out


def _text_parts(cols: dict, n: int):
    """The time groups of ``cols`` but ``_iso`` as a polars frame of numbers (Y, mo, d, H, M, S, fns, zmin)."""
    import polars as pl

    def col(k):
        return pl.Series(k, cols[k]) if k in cols else pl.repeat(None, n, dtype=pl.String, eager=True).alias(k)

    year, frac, z = col("Y"), col("f"), col("z")
    yr = year.cast(pl.Int32, strict=False)
    yr = pl.select(pl.when(year.str.len_chars() == 2).then(pl.when(yr < 69).then(yr + 2000).otherwise(yr + 1900))
                   .otherwise(yr)).to_series()
    month = col("mo").cast(pl.Int32, strict=False)
    if "mon" in cols:
        by_name = col("mon").str.slice(0, 3).str.to_lowercase().replace_strict(MONTHS, default=None,
                                                                               return_dtype=pl.Int32)
        month = month.fill_null(by_name)
    fns = frac.str.slice(0, 9).str.pad_end(9, "0").cast(pl.Int64, strict=False)
    zs = z.str.replace(":", "", literal=True)
    zmin = pl.select(pl.when(z == "Z").then(0).otherwise(
        (zs.str.slice(1, 2).cast(pl.Int64, strict=False) * 60 + zs.str.slice(3, 2).cast(pl.Int64, strict=False)
         .fill_null(0)) * pl.when(zs.str.starts_with("-")).then(-1).otherwise(1))).to_series()
    return pl.DataFrame({"Y": yr, "mo": month, "d": col("d").cast(pl.Int32, strict=False),
                         "H": col("H").cast(pl.Int32, strict=False), "M": col("M").cast(pl.Int32, strict=False),
                         "S": col("S").cast(pl.Int32, strict=False), "fns": fns, "zmin": zmin})


def _civil_ns():
    """A polars expression over (Y, mo, d, H, M, S, fns, zmin) -> epoch ns, null for an impossible time.

    Days from the civil date by Howard Hinnant's algorithm. What passes is what DuckDB's
    ``make_timestamp`` takes: a real date, 00:00:00-23:59:60 (a leap second rolls over) or 24:00:00;
    a time outside int64 nanoseconds (before 1677, after 2262) is null too.
    """
    import polars as pl

    Y, mo, d = (pl.col(c).cast(pl.Int64) for c in ("Y", "mo", "d"))
    H, M, S = (pl.col(c).cast(pl.Int64) for c in ("H", "M", "S"))
    y = Y - (mo <= 2).cast(pl.Int64)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * ((mo + 9) % 12) + 2) // 5 + d - 1
    days = era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
    leap = ((Y % 4 == 0) & ((Y % 100 != 0) | (Y % 400 == 0))).cast(pl.Int64)
    dim = pl.when(mo == 2).then(28 + leap).when(mo.is_in([4, 6, 9, 11])).then(30).otherwise(31)
    clock = ((H.is_between(0, 23) & M.is_between(0, 59) & S.is_between(0, 60))
             | ((H == 24) & (M == 0) & (S == 0)))
    secs = days * 86400 + H * 3600 + M * 60 + S - pl.col("zmin").cast(pl.Int64).fill_null(0) * 60
    ok = mo.is_between(1, 12) & d.is_between(1, dim) & clock & secs.is_between(-9_223_372_035, 9_223_372_035)
    return pl.when(ok).then(secs * 1_000_000_000 + pl.col("fns")).alias("t")


def _zoned_ns(parts, tz: str) -> pa.Array:
    """Epoch ns of ``parts`` whose zone-less times are local times in ``tz`` (DuckDB's time zone rules)."""
    con = connect()
    con.register("obsnb_stamp", parts.to_arrow())
    local = "try(make_timestamp(Y, mo, d, H, M, S))"
    sql = (f"SELECT CASE WHEN zmin IS NOT NULL THEN epoch_ns({local}) - zmin * 60000000000 "
           f"ELSE epoch_ns(try(timezone('{tz}', {local}))) END + fns AS t FROM obsnb_stamp")
    try:
        return con.sql(sql).to_arrow_table().column("t").combine_chunks().cast(pa.int64())
    finally:
        con.unregister("obsnb_stamp")


def _whole_stamp(texts: pa.Array, ctx: ReadContext, what: str) -> pa.Array:
    """A ``time`` group: strptime with ``time_format=`` (in ``tz=`` or UTC unless it has ``%z``), else ISO 8601/epoch."""
    con = connect()
    fmt = ctx.option("time_format")
    tz = ctx.option("tz")
    if fmt is None:
        return times_to_ns(con, texts)
    fmt = str(fmt)
    con.register("obsnb_whole", pa.table({"s": texts}))
    try:
        if "%z" in fmt or "%Z" in fmt:
            expr = "epoch_ns(try_strptime(s, $fmt)::TIMESTAMPTZ)"
        elif tz is not None:
            expr = f"epoch_ns(timezone('{check_tz(tz)}', try_strptime(s, $fmt)::TIMESTAMP))"
        else:
            note_utc(ctx, what)
            expr = "epoch_ns(try_strptime(s, $fmt)::TIMESTAMP)"
        try:
            out = con.execute(f"SELECT {expr} AS t FROM obsnb_whole", {"fmt": fmt}).to_arrow_table()
        except duckdb.Error as exc:
            msg = f"time_format={fmt!r} is not a strptime format DuckDB reads: {str(exc).splitlines()[0]}"
            raise UsageError(msg) from None
    finally:
        con.unregister("obsnb_whole")
    return out.column("t").combine_chunks().cast(pa.int64())


def _years(parts, yearless: np.ndarray, src: FileInput, ctx: ReadContext, tz: str | None) -> np.ndarray:
    """The year of each year-less record (see :func:`stamp_ns`); NaN-free int array aligned with ``parts``."""
    import polars as pl

    sub = parts.filter(pl.Series(yearless))
    # Position within a (leap) year, to order the records and compare them with the modification time.
    pos = sub.select(((pl.col("mo") * 32 + pl.col("d")) * 86400 + pl.col("H") * 3600 + pl.col("M") * 60
                      + pl.col("S")).cast(pl.Int64)).to_series().to_numpy()
    jump = np.zeros(len(pos), dtype=np.int64)
    if len(pos) > 1:
        jump[1:] = (np.diff(pos) < -183 * 32 * 86400 // 31)  # back by more than about half a year
    k = np.cumsum(jump)
    year = ctx.option("year")
    if year is not None:
        try:
            first = int(year)
        except (TypeError, ValueError):
            msg = f"year={year!r} is not a year; pass the year of the log's first dates, e.g. year=2024"
            raise UsageError(msg) from None
        ys = np.full(len(k), first)  # the year given is every record's year
    else:
        import datetime as _dt

        from ._common import file_mtime_ns

        zone = _dt.timezone.utc
        if tz is not None:
            import zoneinfo

            zone = zoneinfo.ZoneInfo(tz)
        mt = _dt.datetime.fromtimestamp(file_mtime_ns(src) / 1e9, zone)
        mt_pos = (mt.month * 32 + mt.day) * 86400 + mt.hour * 3600 + mt.minute * 60 + mt.second
        # Local times read as UTC may run up to 14 h ahead of the (UTC) modification time.
        slack = 60 if tz is not None else 14 * 3600
        last = pos[k == k[-1]].max()
        last_year = mt.year if last <= mt_pos + slack else mt.year - 1
        ys = last_year - (k[-1] - k)
    out = np.full(len(yearless), -1, dtype=np.int64)
    out[yearless] = ys
    return pa.array(out, mask=~yearless)


def map_levels(raw: pa.Array) -> tuple[pa.Array, pa.Array | None]:
    """Level words or letters -> canonical levels (and the original text when it differs).

    Mapped once per distinct word (a file holds a handful), then spread to every record by its code.
    """
    from .. import schema

    enc = pc.dictionary_encode(raw)
    words = enc.dictionary
    up = pc.utf8_upper(pc.utf8_trim_whitespace(words))
    up = pc.replace_substring_regex(up, r"^TRACE\d$", "TRACE")  # Apache's trace1..trace8
    keys = pa.array(list(LEVEL_ALIASES), pa.string())
    alias = pc.take(pa.array(list(LEVEL_ALIASES.values()), pa.string()), pc.index_in(up, value_set=keys))
    mapped, _ = schema.normalize_levels(pc.coalesce(alias, up))
    differs = pc.fill_null(pc.not_equal(mapped, words.cast(mapped.type)), True)
    level = pc.take(mapped, enc.indices)
    return level, (raw if pc.any(differs).as_py() else None)


def read_layouts(src: FileInput, ctx: ReadContext, layouts: tuple[Layout, ...], what: str,
                 head: str | None = None, fold: bool = True,
                 timeless: tuple[Layout, ...] = ()) -> dict[str, pa.Array] | None:
    """Read a plain-text log whose records start with one of ``layouts``: canonical columns, or None if empty.

    A line that starts no record belongs to the record above (a stack trace, an indented
    continuation): it goes, joined with newlines, into that record's ``exception`` column. Rejected,
    each with its line: binary garbage; such a line before the first record; a line that begins like a
    record (``head``, a regex) but does not parse, such as a last line cut short; a record whose time is
    impossible (Feb 30). ``_line`` is where the record starts. With ``fold=False`` (formats with no
    multi-line records) a line that starts no record is rejected instead.

    ``timeless`` are layouts of records that carry no time of their own (Python logging's BASIC_FORMAT
    written into the same file by a library that logs with the defaults): each is a record, with its
    level and message, at the time of the record above it (said in ``load_info().warnings``); before the
    first record with a time it starts nothing (so it is rejected as a line before the first record).
    """
    import polars as pl

    got = line_views(src, ctx, release=True)
    lines, numbers, bad = got.text, got.numbers, got.bad
    if len(lines) == 0:
        return None
    starts, forms, cols = match_layouts(got, layouts + timeless)
    if timeless:
        starts, forms, cols = _after_first_time(starts, forms, cols, len(layouts))
    for k in [k for k in cols if re.fullmatch(r"(level|msg)\d", k)]:  # alternatives of one group (level2, ...)
        alt = cols.pop(k)
        cols[k[:-1]] = cols[k[:-1]].fill_null(alt) if k[:-1] in cols else alt
    # An ISO stamp is cut into numbers (numpy, no GIL held) on a helper thread while this one finds the
    # rejects, folds continuations and makes the other columns (polars and Arrow).
    iso = background(iso_parts, cols["_iso"], now=len(starts) < _BACKGROUND) if "_iso" in cols else None
    n_lines = len(lines)
    start_np = np.zeros(n_lines, dtype=bool)
    start_np[starts] = True
    rid = np.cumsum(start_np)
    bad_np = bad
    broken_np = np.zeros(n_lines, dtype=bool)
    other = np.flatnonzero(~start_np & ~bad_np)
    if head is not None and len(other):
        broken_np[other[lines.gather(other).str.contains(head).to_numpy()]] = True
    orphan_np = ~start_np & ~bad_np & ~broken_np & ((rid == 0) | (not fold))
    rejected = np.flatnonzero(bad_np | broken_np | orphan_np)
    if len(rejected):  # a reason per rejected line only
        reasons = np.array([f"not a {what} line" + (", and no record before it to continue" if fold else ""),
                            f"starts like a {what} record but does not parse (cut-off line?)",
                            f"binary or undecodable bytes, not a {what} line"], dtype=object)
        why = reasons[np.where(bad_np[rejected], 2, np.where(broken_np[rejected], 1, 0))]
        reject_where(ctx, src.path, np.ones(len(rejected), dtype=bool), lines.gather(rejected), numbers[rejected], why)
    cont_np = ~start_np & ~bad_np & ~broken_np & ~orphan_np
    n = len(starts)
    exception = fold_continuations(lines, start_np, cont_np, n) if cont_np.any() else None
    times = {k: cols.pop(k) for k in [k for k in cols if k in TIME_GROUPS or k.startswith("_")]}
    # the first columns; the stamps are cut and the levels mapped on the helper thread while this one makes the
    # others (but the message: see below)
    out: dict[str, pa.Array] = {"time": None, "level": None, "level_original": None, "event": None}
    levels = cols.pop("level", None)
    if levels is not None:
        levels = background(map_levels, _arrow(levels), now=n < _BACKGROUND)
    msg = cols.pop("msg", None)
    for k in list(cols):
        v = _nonempty(_arrow(cols.pop(k)))
        if v.null_count < len(v) or n == 0:  # no record: every column, so the readers find theirs
            out[k] = infer_numbers(v) if k in NUMERIC_GROUPS else v
    if len(layouts + timeless) > 1:
        out["layout"] = _names_at(pa.array([lay.name for lay in layouts + timeless]), forms)
    if exception is not None:
        out["exception"] = exception
    out["_line"] = pa.array(numbers[starts])
    time = stamp_ns(times, n, src, ctx, what, iso=iso.result() if iso is not None else None)
    del times
    if timeless:
        time = _time_above(time, forms >= len(layouts), ctx, src.path)
    out["time"] = time
    if levels is not None:
        out["level"], out["level_original"] = levels.result()
    for k in ("level", "level_original"):
        if out[k] is None:
            del out[k]
    timed = pc.is_valid(time)
    untimed = None if pc.all(timed).as_py() else starts[~timed.to_numpy(zero_copy_only=False)]
    untimed_raw = lines.gather(untimed) if untimed is not None else None
    # the lines and the file's bytes go once the message, which points into them, is copied out of polars
    del lines, got
    out["event"] = _arrow(msg, STR) if msg is not None else pa.nulls(n, STR)
    del msg
    if untimed is not None:
        reject_where(ctx, src.path, pa.array(np.ones(len(untimed), dtype=bool)), untimed_raw,
                     numbers[untimed], "unparseable timestamp (impossible date)")
        out = {k: v.filter(timed) for k, v in out.items()}
    return out


def _after_first_time(starts: np.ndarray, forms: np.ndarray, cols: dict, n_timed: int):
    """The records of :func:`match_layouts` without the time-less ones before the first with a time."""
    import polars as pl

    timed = np.flatnonzero(forms < n_timed)
    keep = np.arange(len(starts)) >= (timed[0] if len(timed) else len(starts))
    if keep.all():
        return starts, forms, cols
    mask = pl.Series(keep)
    return starts[keep], forms[keep], {k: v.filter(mask) for k, v in cols.items()}


def _time_above(time: pa.Array, timeless: np.ndarray, ctx: ReadContext, path: str) -> pa.Array:
    """``time`` with each time-less record's taken from the nearest record above it that has one."""
    import polars as pl

    if not timeless.any():
        return time
    t = pl.from_arrow(time)
    ctx.warnings.append(f"{path}: {int(timeless.sum())} Python logging BASIC_FORMAT records (LEVEL:logger:message) "
                        "carry no time of their own: each has the time of the record above it")
    return pl.select(pl.when(pl.Series(timeless)).then(t.forward_fill()).otherwise(t)).to_series().to_arrow()


def _nonempty(arr: pa.Array) -> pa.Array:
    """Arrow strings with each empty one null (a group that matched nothing); no copy when none is empty."""
    if not len(arr):
        return arr
    width = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    offsets = np.frombuffer(arr.buffers()[1], dtype=width)[arr.offset:arr.offset + len(arr) + 1]
    empty = offsets[1:] == offsets[:-1]
    if not empty.any():
        return arr
    return pc.if_else(pa.array(empty), pa.scalar(None, arr.type), arr)


def _names_at(names: pa.Array, forms: np.ndarray) -> pa.Array:
    """``names[forms]`` as Arrow strings; when every record has the same form, laid out with numpy (no take)."""
    if len(forms) and (forms == forms[0]).all():
        word = names[int(forms[0])].as_py().encode()
        offsets = np.arange(len(forms) + 1, dtype=np.int32) * len(word)
        if len(word) * len(forms) < 2**31:
            return pa.Array.from_buffers(pa.string(), len(forms),
                                         [None, pa.py_buffer(offsets), pa.py_buffer(word * len(forms))])
    return pc.take(names, pa.array(forms))


def _arrow(s, dtype: pa.DataType = pa.string()) -> pa.Array:
    """A polars string Series as Arrow strings (one copy out of polars' string views); ``event`` takes the
    canonical type (``schema.STR``, large strings), so the canonical cast does not copy it again."""
    out = s.to_arrow()
    return out if out.type == dtype else out.cast(dtype)


_BACKGROUND = 100_000  # records worth cutting their stamps on a helper thread
NUMERIC_GROUPS = frozenset(("pid", "tid", "status", "bytes", "lineno", "duration_ms", "port", "flag", "logid"))
