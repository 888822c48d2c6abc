"""The HTTP layer every backend shares: one session, bounded retries, error mapping, redaction, chunks.

* :class:`HttpClient` wraps one :class:`requests.Session` per backend instance. Connection errors and
  read timeouts are retried by urllib3's ``Retry``; 429 and 5xx answers are retried here (so that a
  backend can say an answer is final, e.g. ClickHouse's ``Code: 62. DB::Exception``), with exponential
  backoff and ``Retry-After`` honoured. Both are bounded by ``retries=`` (default 3).
* Every failure becomes :class:`~obsnb.errors.QueryError` (the backend rejected the query: raised at
  once) or :class:`~obsnb.errors.BackendUnavailableError` (after the retries), in :meth:`HttpClient.request`
  only, carrying the source, the URL without credentials, the query, the status and the backend's words.
* :func:`redact_url` / :func:`redact_text` use the one pattern set of :mod:`obsnb.safe_text`; every
  message also has the credentials this client sent (header values, basic auth and its base64 form,
  secret query values) scrubbed, and a lower-layer error is chained as a redacted stand-in.
* On a redirect to another scheme, host or port no header obsnb set is sent (requests alone drops
  only ``Authorization``).
* :func:`run_chunks` fetches the pieces of a split query concurrently: a failed piece fails the load,
  or with ``partial=True`` gives what there is and a :class:`~obsnb.errors.TruncatedResultWarning`.
"""

from __future__ import annotations

import concurrent.futures as cf
import datetime as _dt
import json
import re
import time
import urllib.parse
import warnings
from typing import Any, Callable, Iterable, Sequence

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from .. import safe_text
from ..errors import BackendUnavailableError, BackendWarning, QueryError, TruncatedResultWarning, UsageError
from ..options import get_option
from ..timeutil import duration_ns

__all__ = [
    "SECRET_QUERY_PARAMS",
    "SECRET_HEADERS",
    "redact_url",
    "redact_headers",
    "redact_text",
    "http_url",
    "make_client",
    "HttpClient",
    "backend_message",
    "run_chunks",
    "warn_backend",
    "warn_truncated",
    "progress_bar",
    "iso",
]

# Query parameters whose values are credentials (compared lowercase); any name that
# safe_text.is_secret_name() accepts (private_token, x-api-token, ...) is one too.
SECRET_QUERY_PARAMS = safe_text.QUERY_SECRET_PARAMS
# Headers whose values are credentials (compared lowercase).
SECRET_HEADERS = frozenset({
    "authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "api-key", "x-auth-token",
    "x-clickhouse-key", "x-grafana-key", "x-vault-token", "private-token",
})
REDACTED = "REDACTED"
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
MAX_MESSAGE = 1_000


def redact_url(url: str) -> str:
    """``url`` without user:password and with the values of secret query parameters replaced by ``REDACTED``."""
    return safe_text.redact_url(url, marker=REDACTED)


_SECRET_IN_TEXT = re.compile(r"(?i)([?&;\s](?:" + "|".join(re.escape(k) for k in SECRET_QUERY_PARAMS) + r")=)[^&\s)'\"]+")
_USERINFO_IN_TEXT = re.compile(r"(://)[^/@\s:]+(?::[^/\s]*)?@")


def redact_text(text: str, secrets: Iterable[Any] = ()) -> str:
    """``text`` for a message: URL user:password dropped, secret query values ``REDACTED``, and every other
    credential shape :func:`obsnb.safe_text.redact` knows, plus the known ``secrets`` (values a request
    sent, in their base64 and URL-quoted forms too), replaced."""
    text = _SECRET_IN_TEXT.sub(r"\1" + REDACTED, _USERINFO_IN_TEXT.sub(r"\1", text))
    return safe_text.redact(text, secrets)


def redact_headers(headers: dict[str, str]) -> dict[str, str]:
    """A copy of ``headers`` with credential values replaced by ``REDACTED``."""
    return {k: (REDACTED if _secret_header(k) else v) for k, v in headers.items()}


def _secret_header(name: str) -> bool:
    return name.lower() in SECRET_HEADERS or safe_text.is_secret_name(name)


def http_url(url: str) -> tuple[str, str]:
    """``prometheus+https://h:1/p`` -> (``"prometheus"``, ``"https://h:1/p"``); userinfo is kept (it is auth)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise UsageError(f"not a URL: {redact_url(url)!r}; write it like 'prometheus://host:9090'")
    name, _, transport = scheme.lower().partition("+")
    if name in ("http", "https"):
        return "", url
    transport = transport or "http"
    if transport not in ("http", "https"):
        raise UsageError(f"unknown transport {transport!r} in {redact_url(url)!r}: use '{name}://' or '{name}+https://'")
    return name, f"{transport}://{rest}"


def make_client(req: Any, *, is_final: Callable[[requests.Response], bool] | None = None) -> "HttpClient":
    """The :class:`HttpClient` for a :class:`~obsnb.sources.base.BackendRequest` (auth, TLS, retries, timeout)."""
    _, base = http_url(str(req.url))
    o = req.options
    auth = o.get("_auth")
    return HttpClient(base, source=req.source_name or req.safe_url, headers=dict(req.headers),
                      secret_headers=getattr(req.headers, "hidden", ()), auth=auth.value if auth is not None else None, verify=o.get("verify", True),
                      cert=o.get("_cert"), timeout=o.get("timeout"), retries=int(o.get("retries", 3)),
                      backoff=float(o.get("backoff", 0.5)), is_final=is_final)


def backend_message(resp: requests.Response) -> str:
    """The backend's own words from an error answer (JSON error fields or the text body), shortened."""
    text = resp.text or ""
    msg = None
    try:
        obj = json.loads(text) if text.lstrip()[:1] in ("{", "[") else None
    except ValueError:
        obj = None
    if isinstance(obj, dict):
        err = obj.get("error")
        if isinstance(err, dict):  # Elasticsearch / OpenSearch
            causes = err.get("root_cause") or []
            first = causes[0] if causes and isinstance(causes[0], dict) else err
            msg = f"{first.get('type', err.get('type', 'error'))}: {first.get('reason', err.get('reason', ''))}"
            if err.get("reason") and err.get("reason") != first.get("reason"):
                msg += f" ({err['type']}: {err['reason']})" if err.get("type") else f" ({err['reason']})"
        elif isinstance(err, str):  # Prometheus / VictoriaMetrics / Tempo
            msg = f"{obj['errorType']}: {err}" if obj.get("errorType") else err
        elif isinstance(obj.get("errors"), list) and obj["errors"]:  # Jaeger
            msg = "; ".join(str(e.get("msg", e)) if isinstance(e, dict) else str(e) for e in obj["errors"])
        elif isinstance(obj.get("message"), str):
            msg = obj["message"]
    if msg is None:
        msg = " ".join(text.split()) or f"HTTP {resp.status_code} {resp.reason or ''}".strip()
    return msg if len(msg) <= MAX_MESSAGE else msg[:MAX_MESSAGE] + "…"


class _Session(requests.Session):
    """A session that sends none of its own headers to another origin on a redirect.

    requests drops only ``Authorization`` (and keeps it on an http -> https upgrade of the default
    ports); here every header obsnb set for this backend (``headers``, ``headers_env``, the token) and any
    header with a credential's name is dropped whenever the scheme, host or port changes.
    """

    strip_on_redirect: frozenset = frozenset()

    def rebuild_auth(self, prepared_request, response):
        super().rebuild_auth(prepared_request, response)
        if _origin(response.request.url) != _origin(prepared_request.url):
            for name in list(prepared_request.headers):
                if name.lower() in self.strip_on_redirect or _secret_header(name):
                    del prepared_request.headers[name]


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urllib.parse.urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    return parts.scheme.lower(), (parts.hostname or "").lower(), port or {"http": 80, "https": 443}.get(parts.scheme)


class HttpClient:
    """One session to one backend: auth, TLS, timeouts, retries and error mapping.

    ``base_url`` is plain ``http(s)://`` (credentials in it become basic auth and are never shown);
    ``source`` is the name used in messages (the obsnb.toml name or the safe URL).
    """

    def __init__(self, base_url: str, *, source: str, headers: dict[str, str] | None = None,
                 auth: tuple[str, str] | None = None, verify: bool | str = True, cert: Any = None,
                 timeout: Any = None, retries: int = 3, backoff: float = 0.5, pool: int = 8,
                 is_final: Callable[[requests.Response], bool] | None = None, secret_headers: Iterable[str] = ()):
        parts = urllib.parse.urlsplit(base_url)
        if parts.username is not None and auth is None:
            auth = (urllib.parse.unquote(parts.username), urllib.parse.unquote(parts.password or ""))
        netloc = parts.netloc.rpartition("@")[2]
        self.base = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
        self.base_query = parts.query
        self.source = source
        self.retries = int(retries)
        self.backoff = float(backoff)
        self.timeout = _timeout(timeout)
        self.is_final = is_final
        hidden = {h.lower() for h in secret_headers}
        # Values this client sends that are credentials: scrubbed (also base64 / URL-quoted) from every message.
        self.secrets: tuple = tuple(v for k, v in (headers or {}).items() if k.lower() in hidden or _secret_header(k))
        self.secrets += tuple(v for k, v in urllib.parse.parse_qsl(parts.query) if k.lower() in SECRET_QUERY_PARAMS
                              or safe_text.is_secret_name(k))
        if auth is not None:
            self.secrets += (tuple(auth),)
        self.session = _Session()
        self.session.strip_on_redirect = frozenset({h.lower() for h in (headers or {})} | hidden)
        self.session.trust_env = False  # no proxies or .netrc from the environment: loopback stays loopback
        self.session.headers.update(headers or {})
        self.session.auth = auth
        self.session.verify = verify
        self.session.cert = cert
        retry = Retry(total=self.retries, connect=self.retries, read=self.retries, status=0, other=0, redirect=3,
                      allowed_methods=None, backoff_factor=self.backoff, raise_on_status=False)
        adapter = HTTPAdapter(max_retries=retry, pool_connections=pool, pool_maxsize=pool)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def __repr__(self) -> str:
        return f"HttpClient({self.base!r}, source={self.source!r})"

    def url(self, path: str) -> str:
        return self.base + ("/" + path.lstrip("/") if path else "")

    def close(self) -> None:
        self.session.close()

    def request(self, method: str, path: str, *, query: Any = None, params: Any = None, data: Any = None,
                json_body: Any = None, headers: dict[str, str] | None = None) -> requests.Response:
        """Send one request; return a 2xx response or raise ``QueryError`` / ``BackendUnavailableError``.

        ``query`` is what the user asked (shown in errors); ``params``/``data``/``json_body`` are sent.
        """
        url = self.url(path)
        safe = redact_url(url)
        if self.base_query:
            params = list(urllib.parse.parse_qsl(self.base_query)) + _pairs(params)
        attempt = 0
        while True:
            try:
                resp = self.session.request(method, url, params=params, data=data, json=json_body,
                                            headers=headers, timeout=self.timeout)
            except requests.exceptions.RequestException as exc:
                reason = redact_text(_reason(exc), self.secrets)
                msg = (f"{self.source}: cannot reach {safe} after {self.retries + 1} attempts: {reason}"
                       + _q(query) + "\nCheck that the server is up and the URL is right (retries=, timeout= options).")
                raise BackendUnavailableError(msg, source=self.source, url=safe, query=_qs(query),
                                              backend_message=reason) from self._safe_cause(exc)
            if resp.status_code < 400:
                return resp
            words = redact_text(backend_message(resp), self.secrets)
            final = self.is_final(resp) if self.is_final else False
            if resp.status_code in RETRY_STATUS and not final:
                if attempt < self.retries:
                    time.sleep(self._delay(attempt, resp))
                    attempt += 1
                    continue
                msg = (f"{self.source}: {safe} answered HTTP {resp.status_code} {attempt + 1} times: {words}"
                       + _q(query) + "\nThe backend is overloaded or failing; retry later, narrow the window, "
                       "or raise retries=/timeout=.")
                raise BackendUnavailableError(msg, source=self.source, url=safe, status=resp.status_code,
                                              query=_qs(query), backend_message=words)
            hint = {401: "check the credentials named in obsnb.toml (token_env/password_env)",
                    403: "the credentials lack permission for this", 404: "check the URL path, index or id"}.get(
                        resp.status_code, "fix the query")
            msg = f"{self.source}: {safe} rejected the query (HTTP {resp.status_code}): {words}" + _q(query) + f"\n{hint}."
            raise QueryError(msg, source=self.source, url=safe, status=resp.status_code, query=_qs(query),
                             backend_message=words)

    def _safe_cause(self, exc: BaseException) -> BaseException:
        """A stand-in for a lower-layer error whose text (and chain) may show the URL's query or userinfo:
        same type, redacted message, no chain of its own."""
        text = redact_text(f"{exc}", self.secrets)
        try:
            cause = type(exc)(text)
        except Exception:  # noqa: BLE001 - an exception type with another signature
            cause = requests.exceptions.RequestException(f"{type(exc).__name__}: {text}")
        cause.__suppress_context__ = True
        return cause

    def _delay(self, attempt: int, resp: requests.Response) -> float:
        after = resp.headers.get("Retry-After")
        if after:
            try:
                return min(float(after), 60.0)
            except ValueError:
                pass
        return self.backoff * (2 ** attempt)

    def get_json(self, path: str, *, query: Any = None, params: Any = None, **kw: Any) -> Any:
        return self._json(self.request("GET", path, query=query, params=params, **kw), path, query)

    def post_json(self, path: str, *, query: Any = None, **kw: Any) -> Any:
        return self._json(self.request("POST", path, query=query, **kw), path, query)

    def _json(self, resp: requests.Response, path: str, query: Any) -> Any:
        try:
            return resp.json()
        except ValueError as exc:
            safe = redact_url(self.url(path))
            head = redact_text(resp.text[:200], self.secrets)
            msg = f"{self.source}: {safe} did not answer JSON (starts {head!r}){_q(query)}\nIs this the right kind of backend?"
            raise BackendUnavailableError(msg, source=self.source, url=safe, status=resp.status_code,
                                          query=_qs(query), backend_message=head) from exc


def _pairs(params: Any) -> list:
    if params is None:
        return []
    if isinstance(params, dict):
        return list(params.items())
    return list(params)


def _timeout(value: Any) -> tuple[float, float]:
    if value is None:
        return (10.0, 300.0)
    if isinstance(value, (tuple, list)):
        return (float(value[0]), float(value[1]))
    secs = duration_ns(value) / 1e9 if isinstance(value, str) else float(value)
    return (min(secs, 10.0), secs)


def _reason(exc: Exception) -> str:
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "connection timed out"
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return "read timed out (the query took longer than timeout=)"
    text = str(exc)
    if "Connection refused" in text:
        return "connection refused"
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS error (set verify= or ca_cert= in obsnb.toml)"
    return type(exc).__name__ + ": " + redact_text(text)[:300]


def _qs(query: Any) -> str | None:
    if query is None:
        return None
    return query if isinstance(query, str) else json.dumps(query, default=str)[:2000]


def _q(query: Any) -> str:
    q = _qs(query)
    return f"\n    query: {q}" if q else ""


def warn_backend(ctx: Any, source: str, messages: Iterable[str]) -> None:
    """Surface warnings the backend sent with its answer (also kept in ``load_info().warnings``)."""
    for m in messages:
        text = f"{source}: the backend warns: {redact_text(str(m))}"
        if ctx is not None:
            ctx.warnings.append(text)
        warnings.warn(text, BackendWarning, stacklevel=4)


def iso(ns: int | None) -> str:
    """Epoch nanoseconds as ISO 8601 UTC with all nine digits (``2024-01-01T00:00:00.000000000Z``)."""
    if ns is None:
        return ""
    d = _dt.datetime.fromtimestamp(ns // 1_000_000_000, _dt.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S") + f".{ns % 1_000_000_000:09d}Z"


def window_text(start_ns: int | None, end_ns: int | None) -> str:
    """`` in [start, end)`` for messages, or ``""`` when no window was given."""
    if start_ns is None and end_ns is None:
        return ""
    return f" in [{iso(start_ns) or '…'}, {iso(end_ns) or 'now'})"


def progress_bar(options: dict, source: str, unit: str, total: int | None = None):
    """A tqdm.auto bar (notebook or terminal) unless ``progress=False`` (option, or the global option)."""
    show = options.get("progress")
    if show is None:
        show = bool(get_option("progress"))
    if not show:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=source[:40], unit=unit, leave=False)


def warn_truncated(ctx: Any, source: str, what: str) -> None:
    """Say loudly that a result is partial (also kept in ``load_info().warnings`` and in snapshots)."""
    text = f"{source}: PARTIAL RESULT: {what}"
    if ctx is not None:
        ctx.warnings.append(text)
    warnings.warn(text, TruncatedResultWarning, stacklevel=4)


def run_chunks(items: Sequence[Any], fn: Callable[[Any], Any], *, describe: Callable[[Any], str], ctx: Any,
               source: str, partial: bool = False, workers: int = 4, progress: bool | None = None,
               unit: str = "chunk") -> list[Any]:
    """``[fn(item) for item in items]`` run concurrently, results in order.

    A failed item raises its error (the others are cancelled); with ``partial=True`` the failed items
    are left out, named in a :class:`TruncatedResultWarning`, and their results are ``None``.
    """
    if len(items) <= 1:
        return [fn(i) for i in items]
    bar = progress_bar({"progress": progress}, source, unit, total=len(items))
    results: list[Any] = [None] * len(items)
    failed: list[tuple[int, BaseException]] = []
    with cf.ThreadPoolExecutor(max_workers=max(1, min(workers, len(items))), thread_name_prefix="obsnb") as pool:
        futs = {pool.submit(fn, item): i for i, item in enumerate(items)}
        try:
            for fut in cf.as_completed(futs):
                i = futs[fut]
                try:
                    results[i] = fut.result()
                except Exception as exc:  # noqa: BLE001 - collected, then raised or reported
                    failed.append((i, exc))
                    if not partial:
                        for f in futs:
                            f.cancel()
                        break
                if bar is not None:
                    bar.update(1)
        finally:
            if bar is not None:
                bar.close()
    if failed and not partial:
        i, exc = failed[0]
        if hasattr(exc, "args") and exc.args and isinstance(exc.args[0], str):
            exc.args = (exc.args[0] + f"\n    failed {unit} {i + 1} of {len(items)}: {describe(items[i])}; nothing "
                        "was returned (pass partial=True to get the other pieces with a warning)",) + exc.args[1:]
        raise exc
    if failed:
        failed.sort()
        ranges = "; ".join(f"{describe(items[i])} ({type(e).__name__}: {str(e).splitlines()[0][:200]})" for i, e in failed)
        warn_truncated(ctx, source, f"{len(failed)} of {len(items)} {unit}s failed and are MISSING from the frame: {ranges}")
    return results
