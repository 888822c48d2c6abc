"""Text that is safe to share: values made literal inside markdown, and secrets redacted.

* :func:`md_text` makes any value literal text inside markdown (a log line such as
  ``[runbook](javascript:alert(1))`` or ``![](http://host/pixel.png)`` shows as those characters, never
  as a link or an image); :func:`md_code` puts a value into inline code whatever backticks it holds.
* :func:`visible_controls` shows the control characters of a text as escapes (``\\x1b``) for a terminal.
* :func:`redact` replaces credentials in free text (assignments, headers, token shapes, URLs, PEM
  private keys); :func:`redact_url` cleans one URL; :func:`is_secret_name` says whether a field,
  header or query parameter name holds a credential. One pattern set serves reports, error
  messages and ``_source`` labels.

Why numeric character references and not backslashes in :func:`md_text`: CommonMark never reads an
entity as markup ("entity references cannot be used in place of symbols indicating structure"),
GFM's autolink scanner needs a literal ``:``, ``.`` or ``@``, and JupyterLab extracts ``$…$`` math
before markdown runs (so ``\\$`` is not enough there). Every ASCII punctuation character becomes
``&#NN;``; CommonMark renderers (mistune in nbconvert, marked in JupyterLab) show it as itself.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import difflib
import functools
import html
import re
import urllib.parse
from typing import Any, Iterable

__all__ = ["md_text", "md_code", "visible_controls", "redact", "secret_forms", "redact_url", "is_secret_name", "QUERY_SECRET_PARAMS", "REDACTED"]

REDACTED = "[REDACTED]"

# ---------------------------------------------------------------------------------------------------- markdown

# Every ASCII punctuation character (CommonMark's escapable set) becomes a numeric character reference.
_MD_TABLE = {ord(c): f"&#{ord(c)};" for c in "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"}
_MD_TABLE.update({ord("\r"): None, ord("\n"): "<br>", 0: "\ufffd", 0x2028: "<br>", 0x2029: "<br>"})


def md_text(value: Any) -> str:
    """``value`` (``str(value)`` for non-strings) as literal text inside markdown, HTML- and markdown-escaped.

    Links, images, emphasis, backticks, headings, lists, table pipes, autolinks, raw URLs, e-mail
    addresses and ``$math$`` all show as the characters they are; a line break becomes ``<br>`` so a
    value can never start a block of its own (a heading, a table row, a list). Credentials are
    :func:`redact`-ed first, while the text is still plain (``password=…`` is one pattern then).

    >>> md_text("[runbook](javascript:alert(1))")
    '&#91;runbook&#93;&#40;javascript&#58;alert&#40;1&#41;&#41;'
    """
    text = value if isinstance(value, str) else str(value)
    return redact(text.replace("\r\n", "\n")).translate(_MD_TABLE)


def md_code(value: Any) -> str:
    """``value`` as inline code in markdown, whatever backticks, pipes or markup it holds.

    Written as ``<code>…</code>`` holding :func:`md_text` of the value: a backtick fence can be broken
    out of by a longer run of backticks and cannot hold a table's ``|`` in every renderer, an escaped
    ``<code>`` element can do both.

    >>> md_code("a`b|c")
    '<code>a&#96;b&#124;c</code>'
    """
    return f"<code>{md_text(value)}</code>"


# ---------------------------------------------------------------------------------------------------- terminals

# What a terminal acts on instead of showing: C0 controls but tab and newline (ESC starts ANSI sequences that
# recolour, retitle, move the cursor or clear the screen; CR and BS overwrite what was printed), DEL, C1 controls
# (0x9b is a one-byte CSI), and the invisible marks that reorder or hide text (bidi overrides, zero-width joiners).
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


def visible_controls(text: Any, *, json_escapes: bool = False) -> str:
    """``text`` with every control character shown as an escape, so printing it can only show characters.

    ``\\x1b`` for the one-byte ones and ``\\u202e`` for the rest; with ``json_escapes`` always ``\\u00XX``, so a
    JSON document stays valid JSON (and reads back as the same text).

    >>> visible_controls("red \\x1b[31mtext\\x07")
    'red \\\\x1b[31mtext\\\\x07'
    """
    text = text if isinstance(text, str) else str(text)

    def shown(m: re.Match) -> str:
        c = ord(m.group())
        return f"\\u{c:04x}" if json_escapes or c > 0xFF else f"\\x{c:02x}"

    return _CONTROLS.sub(shown, text)


# ---------------------------------------------------------------------------------------------------- secrets

# A name holds a credential when it ends with one of these words (DB_PASSWORD, PGPASSWORD, private_token,
# aws_secret_access_key, x-api-token, apiKey, passphrase, ...). Ending with the word keeps token_count,
# tokens, passed and author out; the short words need a boundary before them (DB_PASS, not compass).
_GLUED = re.compile(r"(?i)(?:password|passwd|passphrase|secret|token|jwt|credentials?|signature|authorization|apikey"
                    r"|(?:api|access|secret|private|signing|encryption|master|account|client|clickhouse|grafana"
                    r"|subscription)[_-]?key|session[_-]?id)$")
_BOUNDED = re.compile(r"(?:^|(?<=[^A-Za-z])|(?<=[a-z])(?=[A-Z]))(?i:pass|pwd|sig|auth|cookie)$")
_NOT_SECRET = frozenset({"next_token", "page_token", "nexttoken", "pagetoken", "continuation_token"})
# Query parameter names that are credentials although they are too short to judge in free text.
QUERY_SECRET_PARAMS = frozenset({
    "token", "access_token", "id_token", "refresh_token", "api_key", "apikey", "api-key", "key", "password",
    "passwd", "pass", "pwd", "secret", "client_secret", "auth", "authorization", "signature", "sig",
    "x-amz-signature", "x-amz-security-token", "x-amz-credential", "x-goog-signature", "sas", "code", "session",
    "sessionid", "private_token", "access_key", "auth_token", "x-api-token", "jwt", "passphrase", "secret_key",
})


def is_secret_name(name: str) -> bool:
    """Whether a field, header or query parameter called ``name`` holds a credential.

    >>> [is_secret_name(n) for n in ("DB_PASSWORD", "apiKey", "x-api-token", "token_count", "passed")]
    [True, True, True, False, False]
    """
    n = name.strip().strip("\"'")
    if n.lower() in _NOT_SECRET:
        return False
    return bool(_GLUED.search(n) or _BOUNDED.search(n))


_NAME = r"[A-Za-z_][A-Za-z0-9_.-]*"
_VALUE = r"(?:\"(?:[^\"\\\n]|\\.)*\"|'[^'\n]*'|\\\"(?:[^\"\\\n]|\\[^\"])*\\\"|[^\s&\"'<>,;)\]}]+)"
_PATTERNS: list[tuple[re.Pattern, Any]] = []


def _sub(rx: str, repl: Any, flags: int = 0) -> None:
    _PATTERNS.append((re.compile(rx, flags), repl))


def _assignment(m: re.Match) -> str:
    value = m.group("value")
    if value.lstrip("\\\"'").startswith(("[REDACTED", "REDACTED")) or m.string.startswith(" [REDACTED", m.end()):
        return m.group(0)  # already done ("Authorization: Bearer [REDACTED]" keeps its scheme word)
    if not is_secret_name(m.group("name")):  # the value may hold assignments of its own (u:pw@h/x?token=...)
        return f"{m.group('name')}{m.group('sep')}{m.re.sub(_assignment, value)}"
    quote = "\\\"" if value.startswith("\\\"") else value[0] if value[:1] in ("'", '"') else ""
    return f"{m.group('name')}{m.group('sep')}{quote}{REDACTED}{quote}"


def _json_member(m: re.Match) -> str:
    if not is_secret_name(m.group("name")) or REDACTED in m.group(0):
        return m.group(0)
    return f"{m.group('pre')}{m.group('q')}{REDACTED}{m.group('q')}"


def _basic(m: re.Match) -> str:
    """A bare ``Basic <base64>`` only when it decodes to ``user:password``, so "Basic Authentication" stays."""
    token = m.group(2)
    try:
        decoded = base64.b64decode(token + "=" * (-len(token) % 4), validate=True)
    except (binascii.Error, ValueError):
        return m.group(0)
    return f"{m.group(1)}{REDACTED}" if b":" in decoded else m.group(0)


# PEM private keys, whole (with literal or escaped newlines), or to the end of a cut-off text.
_sub(r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY( BLOCK)?-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----|\Z)",
     lambda m: f"-----BEGIN {m.group(1)}PRIVATE KEY-----{REDACTED}-----END {m.group(1)}PRIVATE KEY-----", re.S)
# Authorization / Proxy-Authorization headers with or without a scheme word.
_sub(r"(?i)((?:proxy-)?authorization\\?[\"']?\s*[:=]\s*\\?[\"']?)(?:(bearer|basic|token|digest|negotiate|"
     r"aws4-hmac-sha256|apikey|sso-key)\s+)?([^\s\"'\\<>]+)",
     lambda m: f"{m.group(1)}{(m.group(2) + ' ') if m.group(2) else ''}{REDACTED}")
_sub(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]{8,}", rf"\1 {REDACTED}")
_sub(r"(?i)\b(basic\s+)([A-Za-z0-9+/]{6,}={0,2})(?![A-Za-z0-9+/=])", _basic)
# Cookie / Set-Cookie headers: every value to the end of the line.
_sub(r"(?i)(\b(?:set-)?cookie\\?[\"']?\s*[:=]\s*\\?[\"']?)([^\r\n\"'\\]+)", rf"\1{REDACTED}")
# "apiKey": "..." in JSON, and \"apiKey\": \"...\" in JSON held inside JSON strings (chart specs).
_sub(rf"(?P<pre>\"(?P<name>{_NAME})\"\s*:\s*)(?P<q>\")(?:[^\"\\]|\\.)*\"", _json_member)
_sub(rf"(?P<pre>(?P<e>\\+)\"(?P<name>{_NAME})(?P=e)\"\s*:\s*)(?P<q>(?P=e)\")(?:[^\"\\]|\\(?!\\*\"))*(?P=e)\"",
     _json_member)  # any depth of escaping: \"k\": \"v\", \\\"k\\\": \\\"v\\\" ...
_sub(rf"(?P<pre>'(?P<name>{_NAME})'\s*:\s*)(?P<q>')[^'\n]*'", _json_member)
# NAME=value and NAME: value (URLs, logfmt, env lines, YAML, headers), also percent-encoded (token%3D...).
_sub(r"(?:^|(?<=[^A-Za-z0-9_.-])|(?<=%[0-9A-Fa-f]{2}))(?P<name>[A-Za-z_][A-Za-z0-9_.-]*)"
     r"(?P<sep>%3[Dd]|%253[Dd])(?P<value>(?:(?!%26|%2526)[^\s&\"'<>,;])+)", _assignment, re.M)
_sub(rf"(?:^|(?<=[^A-Za-z0-9_.-]))(?P<name>{_NAME})(?P<sep>[^\S\n]*(?:=|:(?!//))[^\S\n]*)(?P<value>{_VALUE})",
     _assignment, re.M)
# user:password@ in URLs: the password may hold '@' (the last '@' before the host ends it).
_sub(r"(?i)(\b[a-z][a-z0-9+.-]*://)([^/\s:@\"'<>]*):([^\s/\"'<>?#]*)@", rf"\1\2:{REDACTED}@")
# Well-known token shapes.
for _rx in (
    r"\b(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{8,}",        # Stripe
    r"\bwhsec_[A-Za-z0-9+/=]{16,}",                           # webhook signing secrets (Stripe, Svix)
    r"\b(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}\b",  # AWS access key ids (long-term and STS)
    r"\bgh[pousr]_[A-Za-z0-9]{20,}", r"\bgithub_pat_[A-Za-z0-9_]{22,}",
    r"\bgl(?:pat|dt|ptt|rt|soat|cbt|imt|agent|oas)-[A-Za-z0-9_-]{20,}",  # GitLab
    r"\bnpm_[A-Za-z0-9]{30,}",
    r"\bAIza[0-9A-Za-z_-]{35}", r"\bya29\.[0-9A-Za-z_-]{20,}",  # Google API key, OAuth access token
    r"\bxox[abposr]-[A-Za-z0-9-]{10,}", r"\bxapp-[A-Za-z0-9-]{20,}",  # Slack
    r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{32,}",               # OpenAI / Anthropic style
    r"\bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}",         # SendGrid
    r"\bhv[sbr]\.[A-Za-z0-9_-]{20,}",                        # HashiCorp Vault
    r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",  # JWT
):
    _sub(_rx, REDACTED)


def secret_forms(values: Iterable[Any]) -> list[str]:
    """Every form in which a known secret value can show up in text: as is, base64, URL-quoted (longest first).

    ``("user", "pw")`` pairs (basic auth) also give ``user:pw`` and its base64, the form ``Authorization:
    Basic`` carries. Values shorter than 4 characters are left out (they would match everywhere).
    """
    forms: set[str] = set()
    for v in values:
        if isinstance(v, (tuple, list)) and len(v) == 2:
            pair = f"{v[0]}:{v[1]}"
            forms.update({pair, base64.b64encode(pair.encode()).decode()})
            v = v[1]
        if v is None:
            continue
        v = str(v)
        if len(v) < 4:
            continue
        forms.update({v, base64.b64encode(v.encode()).decode(), urllib.parse.quote(v, safe=""),
                      urllib.parse.quote_plus(v)})
        if v.startswith(("Bearer ", "Basic ", "Token ")):
            forms.update(secret_forms([v.split(" ", 1)[1]]))
    return sorted((f for f in forms if len(f) >= 4), key=len, reverse=True)


def redact(text: str, secrets: Iterable[Any] = ()) -> str:
    """``text`` with credentials replaced by ``[REDACTED]``; ordinary text, ids and plain URLs unchanged.

    Catches ``NAME=value`` / ``NAME: value`` / ``"NAME": "value"`` for names that end with a secret word
    (``DB_PASSWORD``, ``PGPASSWORD``, ``aws_secret_access_key``, ``private_token``, ``apiKey``, …),
    ``Authorization``/``Cookie`` headers, a bare ``Basic``/``Bearer`` credential, URL passwords (an
    ``@`` inside included), percent-encoded ``token%3D…``, PEM private keys and the token shapes of
    AWS, GitHub, GitLab, npm, Google, Slack, Stripe, SendGrid, Vault and JWTs.

    ``secrets`` are values known to be credentials (the ones a request sent, a secret parameter):
    they and their base64 and URL-quoted forms are replaced wherever they occur.

    >>> redact("PGPASSWORD=hunter2 user=bob")
    'PGPASSWORD=[REDACTED] user=bob'
    """
    if not isinstance(text, str):
        text = str(text)
    forms = secret_forms(secrets) if secrets else []
    for form in forms:
        text = text.replace(form, REDACTED)
    if _ESCAPE.search(text):  # every pattern then runs once, on the text read with its escapes decoded
        known = [(re.compile("|".join(map(re.escape, forms))), REDACTED)] if forms else []
        return _redact_escaped(text, known + _PATTERNS)
    return _by_patterns(text)


def _by_patterns(text: str) -> str:
    for rx, repl in _PATTERNS:
        text = rx.sub(repl, text)
    return text


# What the escaping helpers write instead of a character: HTML/markdown character references (``&#61;``,
# ``&#x3D;``, ``&quot;``) and JSON string escapes (``\u003d``, ``\/``). A secret written that way is found by
# reading the text with them decoded; the credential is then replaced in the text as written. An escaped quote
# or backslash is left as written: it is part of a JSON string, which the patterns read as one (``\"k\": \"v\"``);
# so are ``\n``, ``\t`` and the like, which a value may hold as text (a path ``C:\temp``) and which the patterns
# already read as part of a value.
_ESCAPE = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});|\\(?:u[0-9a-fA-F]{4}|/)")


@functools.lru_cache(maxsize=2048)
def _char(raw: str) -> str:
    """What one escape stands for."""
    if raw[0] == "\\":
        return chr(int(raw[2:], 16)) if raw[1] == "u" else raw[1]
    return html.unescape(raw)


def _pieces(text: str) -> tuple[list[int], list[int], list[int], int]:
    """The pieces ``text`` decodes from: each piece's start in the decoded text and in ``text``, its length in
    ``text`` (-1 for a run of literal characters, which map one to one), and the decoded length."""
    d_at: list[int] = []
    o_at: list[int] = []
    o_len: list[int] = []
    pos = d = 0
    for m in _ESCAPE.finditer(text):
        if m.start() > pos:
            d_at.append(d), o_at.append(pos), o_len.append(-1)
            d += m.start() - pos
        d_at.append(d), o_at.append(m.start()), o_len.append(m.end() - m.start())
        d += len(_char(m.group()))
        pos = m.end()
    if pos < len(text):
        d_at.append(d), o_at.append(pos), o_len.append(-1)
        d += len(text) - pos
    return d_at, o_at, o_len, d


def _decoded(text: str) -> tuple[str, Any]:
    """``text`` with one level of escapes decoded, and a function giving a position of it in ``text``
    (``end=True`` for the end of a span: a position inside a character that decoded to two lands after it).
    The positions are worked out only when asked for: most texts hold no secret to replace."""
    pieces: list = []

    def at(p: int, end: bool) -> int:
        if not pieces:
            pieces.extend(_pieces(text))
        d_at, o_at, o_len, d = pieces
        if p >= d:
            return len(text)
        i = bisect.bisect_right(d_at, p) - 1
        if o_len[i] < 0:
            return o_at[i] + p - d_at[i]
        return o_at[i] + (o_len[i] if end and p > d_at[i] else 0)

    return _ESCAPE.sub(lambda m: _char(m.group()), text), at


def _unescaped(text: str, depth: int = 3) -> tuple[str, Any]:
    """``text`` with its escapes decoded, up to ``depth`` levels (markdown escaping inside HTML escaping ...)."""
    plain, at = _decoded(text)
    for _ in range(depth - 1):
        if plain == text or not _ESCAPE.search(plain):
            break
        text, (plain, inner) = plain, _decoded(plain)
        at = (lambda outer, inner: lambda p, end: outer(inner(p, end), end))(at, inner)
    return plain, at


def _kept(old: str, new: str) -> list[tuple[int, int, str]]:
    """The spans of ``old`` a replacement changes, with what each becomes: the parts a pattern keeps (a name,
    a separator, a scheme word) are left out, so they stay as written."""
    spans: list[list] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        keep = tag == "equal" and (i2 - i1 >= 4 or i1 == 0 or i2 == len(old))
        if spans and not keep and not spans[-1][0]:
            spans[-1][2], spans[-1][4] = i2, j2
        else:
            spans.append([keep, i1, i2, j1, j2])
    return [(i1, i2, new[j1:j2]) for keep, i1, i2, j1, j2 in spans if not keep]


def _redact_escaped(text: str, patterns: list[tuple[re.Pattern, Any]]) -> str:
    """``patterns`` run on ``text`` read with its escapes decoded; what they replace is replaced in ``text``
    itself, so the rest keeps its escaping (markdown stays literal, HTML stays escaped)."""
    plain, at = _unescaped(text)
    for rx, repl in patterns:
        edits = []
        for m in rx.finditer(plain):
            new = m.expand(repl) if isinstance(repl, str) else repl(m)
            if new != m.group():
                edits += [(m.start() + i1, m.start() + i2, piece) for i1, i2, piece in _kept(m.group(), new)]
        for s, e, piece in reversed(edits):
            text = text[:at(s, False)] + piece + text[at(e, True):]
        if edits:
            plain, at = _unescaped(text)
    return text


def redact_url(url: str, *, marker: str = "REDACTED") -> str:
    """``url`` without ``user:password@`` and with the values of secret query parameters replaced by ``marker``.

    A query value that holds a URL or text with credentials of its own (``next=/cb?token%3D…``) is
    redacted too.

    >>> redact_url("https://bob:p@ss@h:1/x?private_token=abc&q=up")
    'https://h:1/x?private_token=REDACTED&q=up'
    """
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    netloc = parts.netloc.rpartition("@")[2]
    query = parts.query
    if query:
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
        query = urllib.parse.urlencode(
            [(k, marker if is_secret_name(k) or k.lower() in QUERY_SECRET_PARAMS else redact(v).replace(REDACTED, marker)) for k, v in pairs],
            safe="*:/")
    path = redact(parts.path).replace(REDACTED, marker)
    return urllib.parse.urlunsplit((parts.scheme, netloc, path, query, ""))
