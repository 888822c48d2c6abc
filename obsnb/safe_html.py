"""The last pass over a report's HTML: no link or resource that runs script or reaches the network.

:func:`lockdown` rewrites only the start tags that need it and leaves every other byte as nbconvert
wrote it (the 0.9 MB inlined vega bundle included):

* ``<script>`` runs only when its exact text is one the caller vouches for (the vega bundle, the
  chart calls obsnb's renderer wrote); any other script, and every ``<script src>``, is removed and
  shown as text. JSON data blocks (``type="application/json"`` and Jupyter's widget state) stay.
* ``on*`` attributes are dropped; ``href`` (links, SVG ``<use>``/``<image>``) may only point inside
  the page (``#id``); ``src`` may only be a ``data:image/…`` URL; ``srcset``, ``action``,
  ``formaction``, ``poster``, ``background``, ``ping``, ``xlink:href`` and the like go; a ``style``
  attribute with ``url(``, ``image-set(``, ``expression(`` or ``@import`` goes; ``url()``/``@import``
  to anything but ``data:`` in a ``<style>`` element become ``none``.
* ``<iframe>``, ``<object>``, ``<embed>``, ``<base>``, ``<form>``, ``<meta http-equiv>`` (refresh,
  cookies), ``<link>`` and SVG ``<animate>``/``<set>`` of ``href`` are shown as text.
* A ``Content-Security-Policy`` ``<meta>`` goes first in ``<head>``: scripts only by the SHA-256 of
  the vouched-for texts (so an injected inline script, event handler or ``javascript:`` URL that got
  past the pass still does not run), ``'unsafe-eval'`` because vega compiles its expressions with
  ``Function``, and no network at all (``default-src 'none'``, images and fonts from ``data:`` only).

Links to other pages are removed rather than kept: the report promises to work offline and not to
tell anyone it was opened. The removed URL stays readable in the element's ``title``.

Why a small pass on the standard library's tokenizer and not a sanitiser library: nh3 (ammonia) and
bleach clean *fragments* to an allow-list and would remove the very scripts that draw the charts, and
re-serialising the whole document would touch the bundle. On single outputs (measured on the 24 HTML
payloads of tests/test_safety.py) nh3 0.3.7 with its defaults left 5 dangerous (remote ``<img src>``,
external links, and the ``--!>`` comment trick) and dropped the ``<style>`` of pandas' tables, while
this pass left none; nh3 is about 5x faster (15 ms against 81 ms for a 116 kB table), which a report
of a few tables does not notice. It costs 22 ms on the 1.3 MB demo report.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
from html.parser import HTMLParser
from typing import Iterable

__all__ = ["lockdown", "csp", "DATA_SCRIPT_TYPES"]

DATA_SCRIPT_TYPES = frozenset({"application/json", "application/ld+json", "application/vnd.jupyter.widget-state+json",
                               "application/vnd.jupyter.widget-view+json", "text/template"})
_URL_ATTRS = frozenset({"href", "xlink:href", "src", "srcset", "imagesrcset", "action", "formaction", "poster",
                        "background", "ping", "cite", "longdesc", "lowsrc", "dynsrc", "manifest", "icon", "archive",
                        "codebase", "data", "profile", "usemap", "itemtype", "attributionsrc"})
_INERT_TAGS = frozenset({"iframe", "frame", "frameset", "object", "embed", "applet", "base", "form", "portal",
                         "link", "fencedframe", "noembed"})
# In a fragment (one output), elements whose content a browser reads differently from this tokenizer
# (raw text to the end of the page, or MathML's foreign content where <style> holds markup) are shown as text.
_FRAGMENT_INERT = frozenset({"math", "textarea", "title", "xmp", "plaintext", "noscript", "noframes", "noembed",
                             "listing", "template", "select"})
_DATA_IMAGE = re.compile(r"(?i)^data:image/(?:png|jpe?g|gif|webp|bmp|svg\+xml)[;,]")
_SPACE_CTRL = re.compile(r"[\x00-\x20\x7f]+")
_CSS_URL = re.compile(r"(?i)url\(\s*(?:\"[^\"]*\"|'[^']*'|[^)]*)\)")
_CSS_BAD = re.compile(r"(?i)url\(|image-set\(|expression\(|@import|behavior\s*:|-moz-binding")


def csp(script_hashes: Iterable[str]) -> str:
    """The Content-Security-Policy of a report: scripts by hash (plus eval for vega), no network."""
    scripts = " ".join(f"'sha256-{h}'" for h in sorted(set(script_hashes)))
    return ("default-src 'none'; " f"script-src {scripts} 'unsafe-eval'; " "style-src 'unsafe-inline'; "
            "img-src data: blob:; font-src data:; connect-src 'none'; media-src 'none'; object-src 'none'; "
            "frame-src 'none'; child-src 'none'; worker-src 'none'; manifest-src 'none'; form-action 'none'; "
            "base-uri 'none'")


def _sha256(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()


def _clean_url(value: str) -> str:
    return _SPACE_CTRL.sub("", html.unescape(value))


class _Pass(HTMLParser):
    def __init__(self, text: str, allowed: frozenset[str], fragment: bool = False):
        super().__init__(convert_charrefs=False)
        self.fragment = fragment
        self.text = text
        self.allowed = allowed
        self.lines = [0] + [m.end() for m in re.finditer("\n", text)]
        self.edits: list[tuple[int, int, str]] = []
        self.hashes: set[str] = set()
        self.removed = 0
        self._script: tuple[int, int, bool, bool] | None = None  # (tag start, body start, external, data)
        self._style: int | None = None
        self._style_start = 0

    def _at(self) -> int:
        line, col = self.getpos()
        return self.lines[line - 1] + col

    def handle_starttag(self, tag, attrs):
        self._tag(tag, attrs, False)

    def handle_startendtag(self, tag, attrs):
        self._tag(tag, attrs, True)

    def _tag(self, tag: str, attrs: list, closed: bool) -> None:
        start = self._at()
        raw = self.get_starttag_text() or ""
        end = start + len(raw)
        if tag == "script":
            kind = (dict(attrs).get("type") or "").strip().lower()
            data_block = kind in DATA_SCRIPT_TYPES
            self._script = (start, end, any(k == "src" for k, _ in attrs) and not data_block, data_block)
            return
        if tag == "style":
            self._style = end
            self._style_start = start
        inert = tag in _INERT_TAGS or (self.fragment and tag in _FRAGMENT_INERT) or (tag == "meta" and any(k == "http-equiv" for k, _ in attrs))
        if tag in ("animate", "set", "animatemotion", "animatetransform"):
            target = (dict(attrs).get("attributename") or "").lower()
            inert = inert or "href" in target or target in ("src", "style")
        if inert:
            self.edits.append((start, end, html.escape(raw)))
            self.removed += 1
            return
        kept, changed = [], False
        for name, value in attrs:
            if name.startswith("on") or name == "srcdoc" or name == "formtarget":
                changed = True
                continue
            if name in _URL_ATTRS and value is not None:
                url = _clean_url(value)
                ok = (url.startswith("#") if name in ("href", "xlink:href") else
                      bool(_DATA_IMAGE.match(url)) if name == "src" else False)
                if not ok:
                    changed = True
                    kept.append(("title", f"link removed: {value}" if "href" in name else f"{name} removed: {value}"))
                    continue
            if name == "style" and value and _CSS_BAD.search(value.replace("\\", "")):
                changed = True
                continue
            kept.append((name, value))
        if changed:
            self.removed += 1
            titles = [v for k, v in kept if k == "title"]
            attrs_out = [(k, v) for k, v in kept if k != "title"] + ([("title", "; ".join(t or "" for t in titles))]
                                                                     if titles else [])
            body = "".join(f" {k}" if v is None else f' {k}="{html.escape(v, quote=True)}"' for k, v in attrs_out)
            self.edits.append((start, end, f"<{tag}{body}{' /' if closed else ''}>"))

    def handle_endtag(self, tag):
        at = self._at()
        if tag == "script" and self._script is not None:
            start, body_start, external, data_block = self._script
            self._script = None
            body = self.text[body_start:at]
            close = self.text.find(">", at) + 1
            if data_block:
                return
            if not external and body in self.allowed:
                self.hashes.add(_sha256(body))
                return
            shown = self.text[start:close]
            self.edits.append((start, close, f'<code class="obsnb-removed">{html.escape(shown[:2000])}</code>'))
            self.removed += 1
        elif tag == "style" and self._style is not None:
            body = self.text[self._style:at]
            fixed = _CSS_URL.sub(lambda m: m.group(0) if _is_data_css(m.group(0)) else "none", body)
            fixed = re.sub(r"(?i)@import", "@blocked-import", fixed)
            if fixed != body:
                self.edits.append((self._style, at, fixed))
                self.removed += 1
            self._style = None
        elif tag in _INERT_TAGS or (self.fragment and tag in _FRAGMENT_INERT):
            close = self.text.find(">", at) + 1
            self.edits.append((at, close, html.escape(self.text[at:close])))


def _is_data_css(token: str) -> bool:
    inner = token[4:-1].strip().strip("\"'")
    return _clean_url(inner).lower().startswith("data:")


def lockdown(text: str, *, scripts: Iterable[str] = (), policy: bool = True) -> tuple[str, int]:
    """``text`` (a whole HTML document or a fragment) with nothing that runs script or reaches the network.

    ``scripts`` are the exact texts of the inline scripts that may run. With ``policy`` (a whole
    document) a Content-Security-Policy ``<meta>`` allowing just those is put first in ``<head>``;
    without it (one output) ``<math>``, ``<textarea>``, ``<noscript>`` and the other elements a
    browser parses differently from this tokenizer are shown as text too. Returns the new text and
    how many elements or attributes were changed.
    """
    if not policy:  # browsers also end a comment at "--!>" and "<!-->": no comment, CDATA or doctype in one output
        text = text.replace("<!", "&lt;!")
    p = _Pass(text, frozenset(scripts), fragment=not policy)
    p.feed(text)
    p.close()
    # An unterminated <script> or <style> takes the rest of the page in a browser: show it as text.
    start = p._script[0] if p._script is not None else p._style_start if p._style is not None else None
    if start is not None:
        p.edits.append((start, len(text), f'<code class="obsnb-removed">{html.escape(text[start:start + 2000])}</code>'))
        p.removed += 1
    out, pos = [], 0
    for start, end, repl in sorted(p.edits):
        if start < pos:
            continue
        out += [text[pos:start], repl]
        pos = end
    out.append(text[pos:])
    result = "".join(out)
    if policy:
        meta = f'<meta http-equiv="Content-Security-Policy" content="{csp(p.hashes)}">'
        m = re.search(r"(?i)<head\b[^>]*>(\s*<meta\s+charset=[^>]*>)?", result)
        at = m.end() if m else 0
        result = result[:at] + "\n" + meta + result[at:]
    return result, p.removed
