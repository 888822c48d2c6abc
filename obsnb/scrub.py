"""Personal data replaced by stable pseudonyms, for reports that leave the team (opt-in).

``Scrub(pii=True, values=("alice",), fields=("user.id",))`` replaces e-mail addresses, IPv4 and IPv6
addresses, the listed values and every value of the listed fields with a pseudonym: the kind and the
first 8 hex digits of HMAC-SHA256 under the user's key (:mod:`obsnb.keyed`), ``{email:3f2a1c9d}``,
``{ip:…}``, ``{id:…}``. The same value always gets the same pseudonym (across a report and across the
user's reports), so counts, joins and "the same user again" still read right; nobody without the key
can confirm a guess by hashing it.

Text is scrubbed with regular expressions that also match the escaped forms obsnb writes
(``alice&#64;example&#46;com`` in markdown, ``%40`` in URLs). Values of a listed field are found where
the field names them (``user.id=alice``, ``"user.id": "alice"`` in JSON and chart data, a ``user.id``
column of an HTML table) and then replaced wherever they occur. :meth:`Scrub.frame` scrubs a frame
with polars' vectorised string kernels (the regex finds candidates, a pseudonym is computed once per
distinct value, Aho-Corasick puts them back).

Judgement calls: a dotted quad of valid octets after ``version``/``ver``/``release``/``build`` and
``=`` or ``:`` (``version=1.2.3.4``) is a version and kept; anywhere else it is taken for an address
(a report leaving the team errs on the side of hiding). Four parts with a fifth (``1.2.3.4.5``) or a
letter glued on (``v1.2.3.4``) are not addresses. Colon groups count as IPv6 only when Python's
:mod:`ipaddress` accepts them and they hold 3 groups or more (times such as ``10:20:30``, MAC addresses and
short forms such as ``::1`` or ``fe80::1`` are kept). Values shorter
than 3 characters are replaced only where their field names them, never as free text.
"""

from __future__ import annotations

import dataclasses
import functools
import html
import ipaddress
import re
from typing import Any, Iterable

from .keyed import keyed_hash, user_key

__all__ = ["Scrub", "pseudonym"]

_PSEUDONYM = re.compile(r"\{(?:email|ip|id):[0-9a-f]{8}\}")
_MISSING = frozenset({"", "nan", "NaN", "None", "none", "null", "NULL", "<NA>", "NaT", "-"})


def pseudonym(kind: str, value: str) -> str:
    """The stable pseudonym of ``value``: ``{kind:<8 hex digits of its keyed hash>}``."""
    return _pseudonym(user_key(), kind, value)


@functools.lru_cache(maxsize=1 << 16)
def _pseudonym(key: bytes, kind: str, value: str) -> str:
    return "{" + kind + ":" + keyed_hash(value, "obsnb.scrub." + kind, 8) + "}"


def _c(ch: str) -> str:
    """A regex for ``ch`` as is or as the numeric character reference obsnb's markdown escaping writes."""
    return f"(?:{re.escape(ch)}|&#{ord(ch)};|&#x{ord(ch):x};)"


def _lit(text: str) -> str:
    """A regex for ``text`` literally, its punctuation also in escaped form."""
    return "".join(ch if ch.isalnum() else _c(ch) for ch in text)


def _plain(text: str) -> str:
    return html.unescape(text.replace("%40", "@").replace("\\u0040", "@"))


_AT = r"(?:@|&#64;|&#x40;|%40|\\u0040)"
_DOT = _c(".")
_LOCAL = rf"(?:[A-Za-z0-9]|{_c('.')}|{_c('_')}|{_c('+')}|{_c('-')}|{_c('%')})+"
_LABEL = rf"[A-Za-z0-9](?:[A-Za-z0-9]|{_c('-')})*"
EMAIL = re.compile(rf"(?<![A-Za-z0-9]){_LOCAL}{_AT}(?:{_LABEL}{_DOT})+[A-Za-z]{{2,24}}(?![A-Za-z0-9])")
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
IPV4 = re.compile(rf"(?<![\w.]){_OCTET}(?:{_DOT}{_OCTET}){{3}}(?![\w]|{_DOT}[0-9])")
_COLON = _c(":")
IPV6 = re.compile(rf"(?<![\w:.;])(?:[0-9A-Fa-f]{{0,4}}{_COLON}){{2,7}}(?:{_OCTET}(?:{_DOT}{_OCTET}){{3}}|[0-9A-Fa-f]{{1,4}})?"
                  rf"(?![\w:]|&#58;)")
_VERSION_BEFORE = re.compile(r"(?i)\b(?:version|ver|release|build)[\w.-]*[\"'\\]*\s*[:=]\s*[\"'\\]*$")


@dataclasses.dataclass
class Scrub:
    """What to scrub: e-mails and IP addresses (``pii``), listed ``values``, every value of listed ``fields``.

    One instance scrubs a whole report: values found under a listed field in one output are replaced in
    every output (:meth:`learn` first, then :meth:`text`).
    """

    pii: bool = True
    values: Iterable[str] = ()
    fields: Iterable[str] = ()

    def __post_init__(self) -> None:
        self.values = tuple(str(v) for v in self.values if str(v) not in _MISSING)
        self.fields = tuple(str(f) for f in self.fields if str(f))
        self._known: set[str] = set(self.values)
        self._rx_values: re.Pattern | None = None
        name = "|".join(sorted((_lit(f) for f in self.fields), key=len, reverse=True))
        q = r"(?:\\*[\"']|&#34;|&#39;)"
        # field=value, field: value, "field": "value" (JSON, escaped JSON, markdown-escaped): group v is the value
        self._rx_field = re.compile(
            rf"(?<![\w.-])(?P<k>{q}?(?:{name}){q}?\s*(?:=|:|&#61;|&#58;)\s*)(?P<q>{q}?)"
            rf"(?P<v>{_PSEUDONYM.pattern}|(?:[^\s,;&\"'<>\\\]{{}})|]|&#(?:4[56]|95|64);)+)") if name else None

    @property
    def active(self) -> bool:
        return bool(self.pii or self.values or self.fields)

    # ------------------------------------------------------------------------------------------------ text

    def learn(self, text: str) -> None:
        """Remember the values ``text`` shows under a listed field (to replace them everywhere)."""
        if self._rx_field is not None and isinstance(text, str):
            for m in self._rx_field.finditer(text):
                self._add(_plain(m.group("v")))
            for table in _TABLE.findall(text):
                _table_cells(table, self.fields, self._add)

    def _add(self, value: str) -> None:
        value = value.strip()
        if value not in _MISSING and not _PSEUDONYM.fullmatch(value) and value not in self._known:
            self._known.add(value)
            self._rx_values = None

    def text(self, text: str) -> str:
        """``text`` with every e-mail, IP address, listed value and known field value replaced by its pseudonym."""
        if not isinstance(text, str) or not self.active:
            return text
        if self.pii:  # first, so a listed name inside an address leaves the whole address to its pseudonym
            text = EMAIL.sub(lambda m: pseudonym("email", _plain(m.group(0)).lower()), text)
            text = IPV6.sub(_ipv6, text)
            text = IPV4.sub(_ipv4, text)
        if self._rx_field is not None:
            text = self._rx_field.sub(lambda m: m.group("k") + m.group("q") + self._id(_plain(m.group("v"))), text)
            text = _TABLE.sub(lambda m: _table_cells(m.group(0), self.fields, None, self._id), text)
        if self._known:
            if self._rx_values is None:
                long = sorted((v for v in self._known if len(v) >= 3), key=len, reverse=True)
                alt = "|".join(_lit(v) for v in long)
                self._rx_values = re.compile(rf"(?<![\w-])(?:{alt})(?![\w-])") if alt else re.compile(r"(?!x)x")
            text = self._rx_values.sub(lambda m: self._id(_plain(m.group(0))), text)
        return text

    def _id(self, value: str) -> str:
        value = value.strip()
        if value in _MISSING or _PSEUDONYM.fullmatch(value):
            return value
        return pseudonym("id", value)

    def obj(self, obj: Any) -> Any:
        """A JSON-like value (dicts, lists, text) with every string scrubbed; dict keys are kept."""
        if isinstance(obj, str):
            return self.text(obj)
        if isinstance(obj, list):
            return [self.obj(x) for x in obj]
        if isinstance(obj, dict):
            return {k: self.obj(v) for k, v in obj.items()}
        return obj

    # ------------------------------------------------------------------------------------------------ frames

    def frame(self, df: Any) -> Any:
        """``df`` (pandas or polars) with its text columns scrubbed; the same type comes back.

        Listed fields map each distinct value to its pseudonym; in every text column, candidates are
        found by polars' regex kernels, judged and hashed once per distinct candidate, and replaced
        with ``str.replace_many`` (no Python work per row).
        """
        import polars as pl

        was_pandas = not isinstance(df, pl.DataFrame)
        frame = pl.from_pandas(df) if was_pandas else df
        out = []
        for name, dtype in frame.schema.items():
            col = frame.get_column(name)
            if dtype in (pl.Categorical, pl.Enum):
                col = col.cast(pl.String)
            elif dtype != pl.String:
                out.append(col)
                continue
            if name in self.fields:
                uniq = [v for v in col.drop_nulls().unique().to_list()]
                for v in uniq:
                    self._add(v)
                col = col.replace_strict(uniq, [self._id(v) for v in uniq], default=col)
            else:
                col = self._column(col)
            out.append(col.cast(dtype) if dtype in (pl.Categorical,) else col)
        result = pl.DataFrame(out)
        return result.to_pandas() if was_pandas else result

    def _column(self, col):
        import polars as pl

        long = sorted((v for v in self._known if len(v) >= 3), key=len, reverse=True)
        old: list[str] = []  # literal candidates found by the regex kernel and their pseudonyms
        new: list[str] = []
        if self.pii:
            pats = [r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}",
                    r"(?i)(?:(?:version|ver|release|build)[\w.-]*[\"']?\s*[:=]\s*[\"']?)?[0-9]{1,3}(?:\.[0-9]{1,3}){3}",
                    r"[0-9A-Fa-f:.]*:[0-9A-Fa-f]*:[0-9A-Fa-f:.]*"]
            found = col.str.extract_all("|".join(f"(?:{p})" for p in pats)).explode().drop_nulls().unique().to_list()
            judge = Scrub(pii=True)
            for cand in found:  # judged once per distinct candidate, not per row
                scrubbed = judge.text(cand)
                if scrubbed != cand:
                    old.append(cand)
                    new.append(scrubbed)
        if old:  # addresses first, so a listed name inside one leaves the whole address to its pseudonym
            col = _replace_many(col, old, new)
        if long:  # listed and learnt values, whole words only: marked by the regex kernel, then swapped
            col = col.str.replace_all(r"\b(" + "|".join(re.escape(v) for v in long) + r")\b", "\x00${1}\x00")
            col = _replace_many(col, [f"\x00{v}\x00" for v in long], [self._id(v) for v in long])
        return col.cast(pl.String)


def _replace_many(col, old: list[str], new: list[str]):
    order = sorted(range(len(old)), key=lambda i: len(old[i]), reverse=True)  # the longest wins where they overlap
    return col.str.replace_many([old[i] for i in order], [new[i] for i in order], leftmost=True)


def _ipv4(m: re.Match) -> str:
    before = html.unescape(m.string[max(0, m.start() - 48):m.start()])
    if _VERSION_BEFORE.search(before):
        return m.group(0)
    return pseudonym("ip", html.unescape(m.group(0)))


def _ipv6(m: re.Match) -> str:
    text = html.unescape(m.group(0))
    try:
        addr = ipaddress.IPv6Address(text)
    except ValueError:
        return m.group(0)
    if len([g for g in text.split(":") if g]) < 3:  # ::1, fe80::1, a::b: loopback, link-local, C++ scopes
        return m.group(0)
    return pseudonym("ip", addr.compressed)


_TABLE = re.compile(r"(?is)<table\b.*?</table>")
_ROW = re.compile(r"(?is)<tr\b[^>]*>(.*?)</tr>")
_CELL = re.compile(r"(?is)(<t([hd])\b[^>]*>)(.*?)(</t[hd]>)")
_TAGS = re.compile(r"<[^>]*>")


def _table_cells(table: str, fields: Iterable[str], collect=None, replace=None) -> str:
    """Find (``collect``) or pseudonymise (``replace``) the cells of an HTML table's columns named by ``fields``.

    The header row is the first row whose header cells name a field; body cells are matched by position
    (pandas' ``to_html`` and obsnb's tables put the index, if any, in a header cell of each row).
    """
    wanted = set(fields)
    columns: set[int] | None = None

    def row(m: re.Match) -> str:
        nonlocal columns
        cells = list(_CELL.finditer(m.group(1)))
        names = [html.unescape(_TAGS.sub("", c.group(3))).strip() for c in cells]
        if columns is None:
            hit = {i for i, n in enumerate(names) if n in wanted and cells[i].group(2).lower() == "h"}
            if hit:
                columns = hit
            return m.group(0)
        body = m.group(1)
        for i in sorted(columns, reverse=True):
            if i >= len(cells):
                continue
            c = cells[i]
            value = names[i]
            if collect is not None:
                collect(value)
            if replace is not None and value:
                body = body[:c.start(3)] + html.escape(replace(value)) + body[c.end(3):]
        start = m.start(1) - m.start(0)
        return m.group(0)[:start] + body + m.group(0)[start + len(m.group(1)):]

    return _ROW.sub(row, table)
