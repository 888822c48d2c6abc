"""syslog: RFC 5424, RFC 3164 (with or without ``<PRI>``, as in /var/log files) and RFC 3339-stamped lines.

Record forms (each line is matched with RE2 regexes in Arrow, no Python loop per line):

* RFC 5424: ``<PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD] MSG`` (``-`` is null);
* RFC 3164: ``[<PRI>]Mmm dd hh:mm:ss HOST TAG[PID]: MSG``;
* RFC 3339: ``[<PRI>]2018-08-14T14:30:02.203151+02:00 HOST TAG[PID]: MSG`` (rsyslog's high-precision
  format); when ``HOST TAG:`` is not there the whole rest of the line is the message.

A line that starts no record continues the previous record's message (joined with a newline);
such a line before the first record is rejected, and so are binary garbage and a line that begins
like a record (``<PRI>``, a date) but does not parse, such as a last line cut short. Blank lines are not
records. ``_line`` is the line where the record starts.

Columns: ``time`` (UTC), ``level`` from the PRI severity (0-2 CRITICAL, 3 ERROR, 4 WARNING, 5-6 INFO,
7 DEBUG; the severity keyword kept in ``level_original``), ``event`` = message, ``service`` = APP-NAME
or tag, ``host``, ``pid`` (string: RFC 5424 PROCIDs need not be numbers), ``address`` (macOS's
``sandboxd[129] ([31211]):``), ``facility`` (keyword:
``kern``, ``user``, ``daemon``, ``auth``, ``local0``...), and for RFC 5424 ``msgid``,
``structured_data`` (raw text) and one column per SD parameter, named ``SD-ID.PARAM``
(``[exampleSDID@32473 iut="3"]`` -> column ``exampleSDID@32473.iut`` = ``"3"``).

A message that is itself a JSON object or logfmt (``ts=2019-07-01T12:00:00Z level=warn msg=...``, as
journald shows a Go service's lines) is parsed into columns; its own time, level and message win
(the syslog stamp is kept only where the payload has none).

Yearless RFC 3164 timestamps take the year ``year=`` when given (every line); without it, the year that puts the file's last record no later than the file's modification time
("Dec 10" in a file modified on Dec 1 is last year's). A backward jump of more than half a year
between records (Dec -> Jan) moves the year on. They are local times with no zone: read in
``tz="Europe/Berlin"`` (any IANA name) when given, else as UTC, which a warning says once per load.
"""

from __future__ import annotations

import re
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ._common import source_column, with_time_problems
from .logfmt import merge_payload
from ._layouts import CLOCK, stamp_ns
from ._lines import connect, extract, head_lines, place_pairs, read_lines, reject_where, times_to_ns
from .base import FileFormat, FileInput, Part, ReadContext

__all__ = ["Syslog"]

_PRI = r"(?:<(?P<pri>\d{1,3})>)?"
_TAG = r"(?:(?P<host>\S+) (?P<app>[^\s:\[]+)(?:\[(?P<procid>[^\]]*)\])?: *)"
P5424 = (r"^<(?P<pri>\d{1,3})>1 (?P<ts>\S+) (?P<host>\S+) (?P<app>\S+) (?P<procid>\S+) (?P<msgid>\S+) "
         r"(?P<sd>-|(?:\[(?:[^\]\\]|\\.)*\])+)(?: (?P<msg>.*))?$")
P3164 = (_PRI + r"(?P<ts>[A-Z][a-z]{2} {1,2}\d{1,2} \d{2}:\d{2}:\d{2}) (?P<host>\S+) +"
         # a tag of several words only before [pid] ("Microsoft Word[14463]:"), else one word (and a version)
         r"(?:(?:(?P<app2>[^\s:\[][^:\[]*?)\[(?P<procid2>[^\]]*)\]|(?P<app>[^\s:\[]+(?: v?\d+(?:\.\d+)+)?)"
         r"(?:\[(?P<procid>[^\]]*)\])?)(?: \((?P<address>[^)]*)\))?: *)?(?P<msg>.*)$")
P3339 = ("^" + _PRI + r"(?P<ts>\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?) "
         + _TAG + r"?(?P<msg>.*)$")
P3164 = "^" + P3164
# A line that begins like a record (PRI, ISO date, "Mmm dd") but matched no form is not a continuation.
HEADER_LIKE = r"^(<\d{1,3}>|\d{4}-\d{2}-\d{2}[T ]\d|[A-Z][a-z]{2} [ \d]\d \d)"
FIELDS = ("pri", "ts", "host", "app", "procid", "app2", "procid2", "address", "msgid", "sd", "msg")
SEVERITY_LEVEL = ["CRITICAL", "CRITICAL", "CRITICAL", "ERROR", "WARNING", "INFO", "INFO", "DEBUG"]
SEVERITY_NAME = ["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"]
FACILITY = ["kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv", "ftp",
            "ntp", "security", "console", "solaris-cron"] + [f"local{i}" for i in range(8)]
BSD_STAMP = r"^(?P<mon>[A-Z][a-z]{2}) +(?P<d>\d{1,2}) " + CLOCK
_SNIFF = [re.compile(p.encode()) for p in (P5424, P3164, P3339)]


def _null_empty(arr: pa.Array, dash: bool = False) -> pa.Array:
    empty = pc.equal(arr, "")
    if dash:
        empty = pc.or_(empty, pc.equal(arr, "-"))
    return pc.if_else(empty, pa.scalar(None, pa.string()), arr)


SD_ELEMENT = r'\[[^\s\]=]+(?:\s+[^\s=\]"]+="(?:[^"\\]|\\.)*")*\s*\]'
SD_PARAM = r'[^\s=\]"]+="(?:[^"\\]|\\.)*"'


def _sd_params(sd: pa.Array) -> dict[str, pa.Array]:
    """RFC 5424 structured data -> one column per ``SD-ID.PARAM`` (``exampleSDID@32473.iut``)."""
    import polars as pl

    elems = pl.DataFrame({"rid": np.arange(len(sd), dtype=np.int64), "e": pl.Series(sd).str.extract_all(SD_ELEMENT)})
    elems = elems.explode("e").drop_nulls("e").select(
        "rid", pl.col("e").str.extract(r"^\[([^\s\]=]+)", 1).alias("sd_id"),
        pl.col("e").str.extract_all(SD_PARAM).alias("kv"))
    pairs = elems.explode("kv").drop_nulls("kv")
    return place_pairs(pairs, len(sd), prefix=pl.col("sd_id"))


class Syslog(FileFormat):
    """syslog files and captures (RFC 5424, RFC 3164, RFC 3339-stamped)."""

    name = "syslog"
    kinds = ("logs",)
    extensions = (".syslog",)

    @classmethod
    def sniff(cls, head: bytes, path: str) -> float:
        lines = head_lines(head, 50)
        if not lines:
            return 0.0
        strong = sum(1 for ln in lines if _SNIFF[0].match(ln) or _SNIFF[1].match(ln)
                     or (_SNIFF[2].match(ln) and _SNIFF[2].match(ln).group("app")))
        loose = sum(1 for ln in lines if _SNIFF[2].match(ln))
        if strong / len(lines) >= 0.5:
            return 0.85
        if strong + loose and (strong + loose) / len(lines) >= 0.3:
            return 0.45
        return 0.0

    def read(self, src: FileInput, ctx: ReadContext) -> Iterator[Part]:
        lines, numbers, bad = read_lines(src, ctx)
        if len(lines) == 0:
            return
        start_idx, forms, cols = self._match_forms(lines, bad)
        for k in ("app", "procid"):
            cols[k] = pc.coalesce(cols[k], cols.pop(k + "2"))
        n_lines = len(lines)
        start_np = np.zeros(n_lines, dtype=bool)
        start_np[start_idx] = True
        start = pa.array(start_np)
        rid = np.cumsum(start_np)
        bad_np = bad.to_numpy(zero_copy_only=False)
        broken_np = np.zeros(n_lines, dtype=bool)  # starts like a record but does not parse: cut off or mangled
        other = np.flatnonzero(~start_np & ~bad_np)
        if len(other):
            looks = pc.match_substring_regex(lines.take(pa.array(other)), HEADER_LIKE)
            broken_np[other[looks.to_numpy(zero_copy_only=False)]] = True
        orphan_np = ~start_np & (rid == 0)
        reject_where(ctx, src.path, pa.array(bad_np | broken_np | orphan_np), lines, numbers,
                     pc.if_else(bad, "binary or undecodable bytes, not a syslog line",
                                pc.if_else(pa.array(broken_np),
                                           "starts like a syslog record but does not parse (cut-off line?)",
                                           "not a syslog line (no <PRI>, timestamp and host) and no record before it")))
        cont = pa.array(~start_np & ~bad_np & ~broken_np & (rid > 0))
        is5424 = pa.array(forms == 0)
        is3164 = pa.array(forms == 1)
        msg = _null_empty(cols["msg"])
        if pc.any(cont).as_py():
            msg = self._join_continuations(lines, numbers, start, cont, rid, msg)
        con = connect()
        ts = cols["ts"]
        n_bsd = int(np.count_nonzero(forms == 1))
        if n_bsd == 0:
            time = times_to_ns(con, _null_empty(ts, dash=True))
        elif n_bsd == len(forms):
            time = self._yearless(con, ts, src, ctx)
        else:
            t_iso = times_to_ns(con, pc.if_else(is3164, pa.scalar(None, pa.string()), _null_empty(ts, dash=True)))
            t_bsd = self._yearless(con, pc.if_else(is3164, ts, pa.scalar(None, pa.string())), src, ctx)
            time = pc.if_else(is3164, t_bsd, t_iso)
        pri = pc.cast(_null_empty(cols["pri"]), pa.int64())
        sev = pc.bit_wise_and(pri, 7)
        fac = pc.divide(pri, 8)
        out: dict[str, pa.Array] = {
            "time": time,
            "level": pc.take(pa.array(SEVERITY_LEVEL), sev),
            "event": msg,
            "service": _null_empty(cols["app"], dash=True),
            "host": _null_empty(cols["host"], dash=True),
            "pid": _null_empty(cols["procid"], dash=True),
            "address": _null_empty(cols["address"]),
            "facility": pc.take(pa.array(FACILITY), pc.if_else(pc.less(fac, len(FACILITY)), fac, None)),
            "level_original": pc.take(pa.array(SEVERITY_NAME), sev),
        }
        if pc.any(is5424).as_py():
            out["msgid"] = _null_empty(cols["msgid"], dash=True)
            sd = _null_empty(cols["sd"], dash=True)
            out["structured_data"] = sd
            if sd.null_count < len(sd):
                for k, v in _sd_params(sd).items():
                    out.setdefault(k, v)
        for k in ("facility", "level_original", "pid", "address", "host"):
            if out[k].null_count == len(out[k]):
                del out[k]
        merge_payload(out)  # a JSON or logfmt message (journald wrapping a Go service): its time and level win
        time = out["time"]
        out["_line"] = numbers.filter(start)
        timed = pc.is_valid(time)
        if not pc.all(timed).as_py():  # a header that matched but holds an impossible date (Feb 30, month 13)
            reject_where(ctx, src.path, pc.invert(timed), lines.filter(start), out["_line"],
                         with_time_problems(pc.binary_join_element_wise("unparseable timestamp '", ts, "'", ""),
                                            ts, pc.invert(timed)))
            out = {k: v.filter(timed) for k, v in out.items()}
        out["_source"] = source_column(src.path, len(out["_line"]))
        yield Part("logs", pa.table(out))  # also when every line was rejected: the kind is known

    @staticmethod
    def _match_forms(lines: pa.Array, bad: pa.Array) -> tuple[np.ndarray, np.ndarray, dict[str, pa.Array]]:
        """Match each line against RFC 5424, then RFC 3164, then RFC 3339 (each only on lines still unmatched).

        Returns the indices of record-starting lines (sorted), which form each matched (0, 1, 2), and
        the fields of those lines in line order.
        """
        remaining = ~bad.to_numpy(zero_copy_only=False)
        found: list[tuple[np.ndarray, int, dict[str, pa.Array]]] = []
        for form, pattern in enumerate((P5424, P3164, P3339)):
            idx = np.flatnonzero(remaining)
            if not len(idx):
                break
            sub = lines if len(idx) == len(lines) else lines.take(pa.array(idx))
            valid, fields = extract(sub, pattern, "ts")
            ok = pc.fill_null(valid, False).to_numpy(zero_copy_only=False)
            if not ok.any():
                continue
            found.append((idx[ok], form, {k: v.filter(valid) for k, v in fields.items()}))
            remaining[idx[ok]] = False
        if not found:
            empty = pa.array([], pa.string())
            return np.array([], dtype=np.int64), np.array([], dtype=np.int64), {f: empty for f in FIELDS}
        starts = np.concatenate([f[0] for f in found])
        forms = np.concatenate([np.full(len(f[0]), f[1]) for f in found])
        order = np.argsort(starts, kind="stable")
        cols: dict[str, pa.Array] = {}
        for name in FIELDS:
            parts = [f[2].get(name, pa.nulls(len(f[0]), pa.string())) for f in found]
            col = parts[0] if len(parts) == 1 else pa.concat_arrays(parts)
            cols[name] = col if len(found) == 1 else col.take(pa.array(order))
        return starts[order], forms[order], cols

    @staticmethod
    def _join_continuations(lines, numbers, start, cont, rid, msg) -> pa.Array:
        """Append each continuation line to its record's message, with a newline."""
        con = connect()
        starts_rid = pa.array(rid[start.to_numpy(zero_copy_only=False)])  # one per record, in order
        sel = cont.to_numpy(zero_copy_only=False)
        parts = pa.table({
            "rid": pa.concat_arrays([starts_rid, pa.array(rid[sel])]),
            "n": pa.concat_arrays([numbers.filter(start), numbers.filter(cont)]),
            "s": pa.concat_arrays([msg, lines.filter(cont)]),
        })
        con.register("obsnb_syslog_parts", parts)
        joined = con.sql("SELECT rid, string_agg(coalesce(s, ''), chr(10) ORDER BY n) AS m "
                         "FROM obsnb_syslog_parts GROUP BY rid ORDER BY rid").to_arrow_table()
        con.unregister("obsnb_syslog_parts")
        return joined.column("m").combine_chunks()

    @staticmethod
    def _yearless(con, ts: pa.Array, src: FileInput, ctx: ReadContext) -> pa.Array:
        """``Mmm dd hh:mm:ss`` -> epoch ns, the year from ``year=`` or the file's mtime (see :func:`stamp_ns`)."""
        import polars as pl

        parts = pl.Series(ts).str.extract_groups(BSD_STAMP).struct.unnest()
        cols = {c: parts[c].to_arrow().cast(pa.string()) for c in parts.columns}
        return stamp_ns(cols, len(ts), src, ctx, "syslog (RFC 3164)")
