"""The store's disk: the cap counts unfinished writes too, and a store open clears the ones left by a dead writer.

An entry is written in a temporary folder ``.tmp-<pid>-<host>-<random>`` beside the entries and put in place
by one rename. A process killed mid-write (SIGKILL, an OOM kill, a power cut) leaves its folder behind,
which no load reads. Such folders count against the disk cap (``cache_max_bytes``) like entries, and the
first use of a store in a process (:func:`open_store`), and every write, removes the stale ones:

- a writer of this host whose process is gone (its pid no longer runs): at once;
- any other (another host's, a pid now reused, a name without a pid) when nothing in it changed for
  ``STALE_AFTER`` seconds (one hour): a live write changes its files at least every piece it parses.

A live write's folder is counted and never removed.
"""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import socket
import time

from ..options import get_option

PREFIX = ".tmp-"
STALE_AFTER = 3600.0  # seconds without a change after which a write whose writer cannot be checked is dead
_NAME = re.compile(r"^\.tmp-(\d+)-(.*)-[^-]+$")
_OPENED: set[str] = set()


def host() -> str:
    """This machine's name as a temporary folder carries it (no path separators)."""
    return re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname()) or "host"


def tmp_prefix() -> str:
    """The prefix of this process's temporary entry folders: ``.tmp-<pid>-<host>-``."""
    return f"{PREFIX}{os.getpid()}-{host()}-"


def _bytes(d: pathlib.Path) -> tuple[int, float]:
    """Bytes of the files in an entry folder and the latest change (mtime) of it or its files."""
    size, latest = 0, 0.0
    try:
        latest = d.stat().st_mtime
        for f in d.iterdir():
            st = f.stat()
            if f.is_file():
                size += st.st_size
            latest = max(latest, st.st_mtime)
    except OSError:  # removed meanwhile (published, or swept by another process)
        pass
    return size, latest


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it runs
        return True
    return True


def _stale(name: str, latest: float, now: float) -> bool:
    m = _NAME.match(name)
    if m and m.group(2) == host() and int(m.group(1)) != os.getpid() and not _alive(int(m.group(1))):
        return True
    if m and m.group(2) == host() and int(m.group(1)) == os.getpid():
        return False  # this process's own write, under way
    return now - latest > STALE_AFTER


def unfinished(folder: str | os.PathLike) -> list[tuple[pathlib.Path, int, bool]]:
    """The store's temporary write folders: (path, bytes, stale)."""
    base, now = pathlib.Path(folder), time.time()
    out = []
    try:
        dirs = [d for d in base.iterdir() if d.name.startswith(PREFIX) and d.is_dir()]
    except OSError:
        return []
    for d in dirs:
        size, latest = _bytes(d)
        out.append((d, size, _stale(d.name, latest, now)))
    return out


def sweep(folder: str | os.PathLike) -> list[str]:
    """Remove the stale temporary folders (see the module's rules); returns their names."""
    gone = []
    for d, _, stale in unfinished(folder):
        if stale:
            shutil.rmtree(d, ignore_errors=True)
            gone.append(d.name)
    return gone


def open_store(folder: str | os.PathLike) -> None:
    """The first use of a store in this process: clear what dead writers left (once per folder)."""
    key = os.path.abspath(folder)
    if key not in _OPENED:
        _OPENED.add(key)
        sweep(key)


def _entries(base: pathlib.Path) -> list[tuple[int, str, int]]:
    """(last use ns, key, bytes) of each entry."""
    out = []
    for d in base.iterdir():
        meta = d / "entry.json"
        if not d.name.startswith(".") and meta.is_file():
            out.append((meta.stat().st_mtime_ns, d.name, _bytes(d)[0]))
    return out


def disk_bytes(folder: str | os.PathLike) -> int:
    """Bytes the store takes on disk: its entries and its unfinished writes."""
    base = pathlib.Path(folder)
    if not base.is_dir():
        return 0
    return sum(e[2] for e in _entries(base)) + sum(u[1] for u in unfinished(base))


def enforce_cap(folder: str | os.PathLike, keep: str | None = None) -> list[str]:
    """Clear stale writes, then remove the least recently used entries until the store, its unfinished
    writes counted, fits ``cache_max_bytes``; returns the removed entries' keys (``keep`` stays)."""
    base = pathlib.Path(folder)
    cap = get_option("cache_max_bytes")
    if not base.is_dir():
        return []
    sweep(base)
    if cap is None:
        return []
    entries = sorted(_entries(base))
    over = sum(e[2] for e in entries) + sum(u[1] for u in unfinished(base)) - cap
    removed = []
    for _, name, size in entries:
        if over <= 0:
            break
        if name != keep:
            shutil.rmtree(base / name, ignore_errors=True)
            over -= size
            removed.append(name)
    return removed
