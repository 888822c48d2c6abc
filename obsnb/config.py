"""Named backend sources from ``obsnb.toml``: notebooks say ``ob.load("prod-loki", query=...)``.

Where the file is found: ``ob.set_option("config", path)``, else ``$OBSNB_CONFIG``, else
``./obsnb.toml`` in the working folder (the current directory: the notebook's folder when papermill
or Jupyter runs it, so the folder ``obsnb new`` made). Parent folders are not searched: the file
names environment variables whose values are sent to its URLs, so a file above the working folder
could send them anywhere. A file that other users can write or replace (group/other write bit,
another owner than you or root, a folder of another user's, or a folder others can write without
the sticky bit) is refused with a
:class:`~obsnb.UsageError`, named explicitly or not. Example::

    [sources.prod-loki]
    url = "loki+https://loki.example.com"
    token_env = "LOKI_TOKEN"                      # sent as "Authorization: Bearer <value>"
    headers = { "X-Scope-OrgID" = "team-a" }       # plain, non-secret headers
    headers_env = { "X-Api-Key" = "LOKI_API_KEY" } # header values read from environment variables
    verify = true                                  # or false; ca_cert = "certs/ca.pem"
    client_cert = "certs/me.pem"                   # client_key = "certs/me.key"
    timeout = "60s"                                # any other key is a default option for load()

    [sources.prod-es]
    url = "elasticsearch+https://es.example.com:9200/logs-*"
    username = "reader"
    password_env = "ES_PASSWORD"                   # basic auth

The file holds only the *names* of environment variables; their values are read when a load
starts, sent to the server, and never stored, logged, or put into messages.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import stat
import tomllib
from typing import Any

from .errors import UsageError
from .options import get_option

__all__ = ["SourceConfig", "find_config", "has_source", "get_source", "sources", "report_settings"]

_KNOWN = {"url", "type", "headers", "headers_env", "token_env", "password_env", "username", "username_env",
          "verify", "ca_cert", "client_cert", "client_key", "description"}
_cache: dict[str, tuple[float, dict[str, "SourceConfig"]]] = {}


@dataclasses.dataclass(frozen=True)
class SourceConfig:
    """One ``[sources.NAME]`` table. Holds environment variable *names*, never their values."""

    name: str
    url: str
    path: str                                      # the obsnb.toml it came from
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    headers_env: dict[str, str] = dataclasses.field(default_factory=dict)
    token_env: str | None = None
    username: str | None = None
    username_env: str | None = None
    password_env: str | None = None
    verify: bool | str = True
    client_cert: str | None = None
    client_key: str | None = None
    options: dict[str, Any] = dataclasses.field(default_factory=dict)

    def secret_headers(self) -> dict[str, str]:
        """Headers to send, with the values of the named environment variables filled in."""
        out = dict(self.headers)
        if self.token_env:
            out["Authorization"] = "Bearer " + self._env(self.token_env, "token_env")
        for header, var in self.headers_env.items():
            out[header] = self._env(var, f"headers_env.{header}")
        return out

    def auth(self) -> tuple[str, str] | None:
        """(user, password) for basic auth, or None."""
        if not self.password_env:
            return None
        user = self.username or (self._env(self.username_env, "username_env") if self.username_env else None)
        if user is None:
            raise UsageError(f"source {self.name!r} in {self.path}: password_env needs username (or username_env)")
        return user, self._env(self.password_env, "password_env")

    def cert(self) -> Any:
        if self.client_cert and self.client_key:
            return (self.client_cert, self.client_key)
        return self.client_cert

    def _env(self, var: str, key: str) -> str:
        value = os.environ.get(var)
        if value is None or value == "":
            msg = (f"source {self.name!r}: environment variable {var} ({key} in {self.path}) is not set; "
                   f"set it in the shell that starts Jupyter (export {var}=...)")
            raise UsageError(msg)
        return value


def find_config() -> pathlib.Path | None:
    """The obsnb.toml in use: option ``config``, else ``$OBSNB_CONFIG``, else ./obsnb.toml (no parents)."""
    explicit = get_option("config") or os.environ.get("OBSNB_CONFIG")
    if explicit:
        p = pathlib.Path(explicit).expanduser()
        if not p.is_file():
            raise UsageError(f"config file {p} (from set_option('config') or $OBSNB_CONFIG) does not exist")
        return _trusted(p.resolve())
    p = pathlib.Path.cwd().resolve() / "obsnb.toml"
    return _trusted(p) if p.is_file() else None


def _trusted(path: pathlib.Path) -> pathlib.Path:
    """``path`` when no other user can write it or replace it, else a UsageError saying why."""

    st, dst = path.stat(), path.parent.stat()
    me = os.geteuid()
    why = None
    if st.st_uid not in (me, 0):
        why = f"it belongs to another user (uid {st.st_uid})"
    elif st.st_mode & 0o022:
        why = f"other users can write it (mode {stat.filemode(st.st_mode)})"
    elif dst.st_uid not in (me, 0):
        why = f"its folder belongs to another user (uid {dst.st_uid}), who can replace it"
    elif dst.st_mode & 0o022 and not dst.st_mode & stat.S_ISVTX:
        why = f"other users can replace it: its folder is writable by them (mode {stat.filemode(dst.st_mode)})"
    if why:
        msg = (f"not reading {path}: {why}, and it names the environment variables whose values are sent as "
               f"credentials. Make it yours and private (chmod go-w {path}) or use a copy that is")
        raise UsageError(msg)
    return path


def _parent_config() -> pathlib.Path | None:
    """An obsnb.toml in a parent of the working folder (not read; named in the 'no source' message)."""
    here = pathlib.Path.cwd().resolve()
    return next((d / "obsnb.toml" for d in here.parents if (d / "obsnb.toml").is_file()), None)


def sources() -> dict[str, SourceConfig]:
    """Every named source of the obsnb.toml in use (empty when there is none)."""
    path = find_config()
    if path is None:
        return {}
    key = str(path)
    mtime = path.stat().st_mtime
    hit = _cache.get(key)
    if hit and hit[0] == mtime:
        return hit[1]
    parsed = _parse(path)
    _cache[key] = (mtime, parsed)
    return parsed


def has_source(name: str) -> bool:
    """Whether obsnb.toml names a source ``name`` (a broken obsnb.toml raises its error here)."""
    return name in sources()


def get_source(name: str) -> SourceConfig:
    """The source ``name`` of obsnb.toml, or an error listing the names there are."""
    known = sources()
    if name not in known:
        where = find_config()
        listing = ", ".join(sorted(known)) or "none"
        msg = f"no source named {name!r} in {where or 'obsnb.toml (none in ' + os.getcwd() + ')'}; known: {listing}"
        parent = None if where else _parent_config()
        if parent is not None:
            msg += (f"\n{parent} is in a parent folder and is not read (only the working folder's obsnb.toml is); "
                    f"name it explicitly to use it: export OBSNB_CONFIG={parent}")
        raise UsageError(msg)
    return known[name]


def _parse(path: pathlib.Path) -> dict[str, SourceConfig]:
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"cannot read {path}: {exc}") from exc
    table = doc.get("sources", {})
    if not isinstance(table, dict):
        raise UsageError(f"{path}: [sources] must be a table of [sources.NAME] tables")
    base = path.parent
    out = {}
    for name, t in table.items():
        if not isinstance(t, dict) or not isinstance(t.get("url"), str):
            raise UsageError(f"{path}: [sources.{name}] needs url = \"scheme://host:port\"")
        url = t["url"]
        if t.get("type"):  # type = "loki", url = "https://..."
            url = f"{t['type']}+{url}" if url.startswith("https://") else f"{t['type']}://{url.partition('://')[2]}"
        for key in ("headers", "headers_env"):
            if not isinstance(t.get(key, {}), dict):
                raise UsageError(f"{path}: [sources.{name}] {key} must be a table like {{ Header = \"value\" }}")
        if "token" in t or "password" in t:
            raise UsageError(f"{path}: [sources.{name}] holds a credential in the file; name an environment "
                             "variable instead (token_env = \"MY_TOKEN\" / password_env = \"MY_PASSWORD\")")
        verify = t.get("verify", True)
        if t.get("ca_cert"):
            verify = str(_rel(base, t["ca_cert"]))
        out[name] = SourceConfig(
            name=name, url=url, path=str(path),
            headers={str(k): str(v) for k, v in t.get("headers", {}).items()},
            headers_env={str(k): str(v) for k, v in t.get("headers_env", {}).items()},
            token_env=t.get("token_env"), username=t.get("username"), username_env=t.get("username_env"),
            password_env=t.get("password_env"), verify=verify,
            client_cert=str(_rel(base, t["client_cert"])) if t.get("client_cert") else None,
            client_key=str(_rel(base, t["client_key"])) if t.get("client_key") else None,
            options={k: v for k, v in t.items() if k not in _KNOWN},
        )
    return out


def _rel(base: pathlib.Path, p: str) -> pathlib.Path:
    q = pathlib.Path(p).expanduser()
    return q if q.is_absolute() else base / q


_REPORT_KEYS = {"scrub_pii": bool, "scrub_values": list, "scrub_fields": list}


def report_settings() -> dict[str, Any]:
    """The ``[report]`` table of the obsnb.toml in use (``scrub_pii``, ``scrub_values``, ``scrub_fields``), or {}."""
    path = find_config()
    if path is None:
        return {}
    try:
        with open(path, "rb") as f:
            table = tomllib.load(f).get("report", {})
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"cannot read {path}: {exc}") from exc
    if not isinstance(table, dict):
        raise UsageError(f"{path}: [report] must be a table")
    for key, value in table.items():
        want = _REPORT_KEYS.get(key)
        if want is None:
            raise UsageError(f"{path}: [report] has no setting {key!r}; known: {', '.join(sorted(_REPORT_KEYS))}")
        if not isinstance(value, want) or (want is list and not all(isinstance(v, str) for v in value)):
            kind = "true or false" if want is bool else 'a list of strings like ["alice"]'
            raise UsageError(f"{path}: [report] {key} must be {kind}")
    return table
