"""A secret key per user, and keyed hashes (HMAC-SHA256) made with it.

Snapshot identities hash credentials with it (so a token never enters a file as text, and a stolen
snapshot folder does not let anyone test guesses), and report scrubbing derives its pseudonyms from it
(the same person gets the same pseudonym across a user's reports; nobody without the key can reverse
one by hashing candidate e-mail addresses).

The key is 32 random bytes, written once, on first use, as hex to ``key`` in the user's private obsnb
folder: ``$XDG_CONFIG_HOME/obsnb`` (``~/.config/obsnb``) when it is this user's and writable by nobody
else, else its subfolder ``obsnb-<uid>`` created 0700. The file is 0600; one readable or writable by
anyone else is refused (:class:`~obsnb.ObsnbError`), never used.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import pathlib
import secrets
import tempfile
import threading

from .errors import ObsnbError
from .private_files import is_private, private_dir

__all__ = ["key_path", "user_key", "keyed_hash"]

_LOCK = threading.Lock()
_CACHE: dict[str, bytes] = {}


def key_path() -> pathlib.Path:
    """Where this user's key lives (the folder is created 0700 when missing)."""
    base = pathlib.Path(os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")) / "obsnb"
    if not base.exists():
        private_dir(base)
    folder = base if is_private(base, folder=True) else private_dir(base / f"obsnb-{os.geteuid()}")
    return folder / "key"


def _read(path: pathlib.Path) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ObsnbError(f"cannot read obsnb's key file {path}: {exc}") from exc
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if st.st_uid != os.geteuid() or st.st_mode & 0o077:
            raise ObsnbError(f"not using obsnb's key file {path}: other users can read or write it "
                             f"(mode {oct(st.st_mode & 0o777)}); delete it and obsnb makes a new one")
        text = f.read().decode("ascii", errors="replace").strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) < 32:
        raise ObsnbError(f"obsnb's key file {path} does not hold a key; delete it and obsnb makes a new one")
    return key


def user_key() -> bytes:
    """This user's key, created on first use (two processes racing both end up with the same key)."""
    where = f"{os.environ.get('XDG_CONFIG_HOME')}\0{os.environ.get('HOME')}"
    if where in _CACHE:  # the folder checks cost more than the hash: done once per key location
        return _CACHE[where]
    path = key_path()
    with _LOCK:
        key = _read(path)
        if key is None:
            fd, tmp = tempfile.mkstemp(prefix=".key.", dir=path.parent)  # 0600
            try:
                with os.fdopen(fd, "w") as f:
                    f.write(secrets.token_hex(32) + "\n")
                with contextlib.suppress(FileExistsError):
                    os.link(tmp, path)  # atomic and never replaces a key another process wrote first
            finally:
                os.unlink(tmp)
            key = _read(path)
        _CACHE[where] = key
        return key


def keyed_hash(value: str | bytes, purpose: str, length: int = 64) -> str:
    """HMAC-SHA256 of ``value`` under this user's key, for ``purpose`` (a domain separator), as hex."""
    data = value.encode("utf-8", "surrogatepass") if isinstance(value, str) else value
    mac = hmac.new(user_key(), purpose.encode() + b"\0" + data, hashlib.sha256)
    return mac.hexdigest()[:length]
