"""Which files a ``load()`` reads: paths, globs and directories -> regular files, each read once.

* A directory is every file beneath it (hidden files and folders skipped); a glob matches as
  :func:`glob.glob` with ``recursive=True`` does (``**`` is any number of folders, a wildcard does not
  match a leading ``.``), in sorted path order.
* Symlinks are followed, but every real file is read once: files are told apart by ``(st_dev, st_ino)``,
  and when a file is reached both through a symlink and by its own path the own path is kept (at the
  place the first of them was met). A folder that links back to one of its ancestors (a loop) is not
  entered again, so a loop can not hang the walk; more than :data:`MAX_FOLDERS` folders is an error.
* What a walk or a glob meets that is not a readable regular file (a named pipe, a device such as
  ``/dev/zero``, a socket, a broken symlink, a file or folder without read permission) is returned as a
  *skipped* entry with its reason: the caller reports it as a rejected record. Nothing is opened here,
  so a named pipe without a writer can not block the load. A path given by name that is such an entry
  is a :class:`~obsnb.errors.SourceError` naming it.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os
import stat
from typing import Any

from ..errors import SourceError

__all__ = ["Found", "expand", "MAX_FOLDERS"]

MAX_FOLDERS = 100_000  # folders one source may visit (symlinks can make a small tree look huge)

_KINDS = ((stat.S_ISFIFO, "a named pipe (FIFO): obsnb reads regular files, and a pipe without a writer "
           "would block; copy what it carries to a file"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


@dataclasses.dataclass
class Found:
    """The regular files to read, the entries skipped (path, reason), and (duplicate, kept) pairs."""

    files: list[str] = dataclasses.field(default_factory=list)
    skipped: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    same: list[tuple[str, str]] = dataclasses.field(default_factory=list)


def _problem(path: str) -> tuple[str | None, os.stat_result | None]:
    """(why ``path`` is not a readable regular file or None, its stat)."""
    try:
        st = os.stat(path)
    except OSError as exc:
        if os.path.islink(path):
            return f"{path} is a broken symlink (to {os.readlink(path)}): {exc.strerror}", None
        return f"cannot read {path}: {exc.strerror}", None
    if stat.S_ISREG(st.st_mode):
        if not os.access(path, os.R_OK):
            return f"cannot read {path}: permission denied", st
        return None, st
    what = next((w for test, w in _KINDS if test(st.st_mode)), "not a regular file")
    return f"{path} is not a regular file: it is {what}", st


def _own(path: str) -> bool:
    """Whether ``path`` names the file itself (no symlink on the way)."""
    a = os.path.abspath(path)
    return os.path.realpath(a) == a


def _segment(pat: str, name: str) -> bool:
    if name.startswith(".") and not pat.startswith("."):
        return False  # glob's rule: wildcards do not match hidden names
    return fnmatch.fnmatchcase(name, pat)


def _match(pat: tuple[str, ...], names: tuple[str, ...]) -> bool:
    if not pat:
        return not names
    if pat[0] == "**":
        return any(_match(pat[1:], names[i:]) for i in range(len(names) + 1)
                   if not any(n.startswith(".") for n in names[:i]))
    return bool(names) and _segment(pat[0], names[0]) and _match(pat[1:], names[1:])


def _find(root: str, pat: tuple[str, ...], out: Found, label: str) -> list[str]:
    """Files under ``root`` whose relative path matches ``pat`` (segments), sorted; problems to ``out``."""
    deep = "**" in pat
    hidden = any(p.startswith(".") for p in pat)
    hits: list[str] = []
    folders = 0

    def visit(folder: str, rel: tuple[str, ...], ancestors: frozenset) -> None:
        nonlocal folders
        folders += 1
        if folders > MAX_FOLDERS:
            raise SourceError(f"{label} reaches more than {MAX_FOLDERS:,} folders (symlinks?): give a narrower path",
                              source=label)
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            out.skipped.append((folder, f"cannot read directory {folder}: {exc.strerror}"))
            return
        for e in entries:
            sub = rel + (e.name,)
            try:
                is_dir = e.is_dir()  # follows a symlink
            except OSError:
                is_dir = False
            if is_dir:
                if (e.name.startswith(".") and not hidden) or (not deep and len(sub) >= len(pat)):
                    continue
                try:
                    st = e.stat()
                except OSError as exc:
                    out.skipped.append((e.path, f"cannot read directory {e.path}: {exc.strerror}"))
                    continue
                key = (st.st_dev, st.st_ino)
                if key not in ancestors:  # else a symlink back up the tree: a loop
                    visit(e.path, sub, ancestors | {key})
            elif _match(pat, sub):
                hits.append(e.path)

    try:
        st = os.stat(root)
    except OSError as exc:
        raise SourceError(f"cannot read directory {root}: {exc.strerror}", source=label) from exc
    visit(root, (), frozenset({(st.st_dev, st.st_ino)}))
    return sorted(hits)


def _split(pattern: str) -> tuple[str, tuple[str, ...]]:
    """A glob -> (the folder before its first wildcard, the remaining segments)."""
    parts = pattern.split(os.sep)
    i = next(i for i, p in enumerate(parts) if any(ch in p for ch in "*?["))
    root = os.sep.join(parts[:i]) or ("." if not pattern.startswith(os.sep) else os.sep)
    return root, tuple(p for p in parts[i:] if p)


def _strip_dot(path: str, root: str) -> str:
    """``./x`` -> ``x`` when the glob had no folder part (as :func:`glob.glob` names its hits)."""
    return path[2:] if root == "." and path.startswith("./") else path


def expand(source: Any) -> Found:
    """Paths, globs, directories or lists of them -> the regular files to read, each real file once."""
    items = source if isinstance(source, (list, tuple)) else [source]
    found = Found()
    candidates: list[str] = []
    for item in items:
        p = os.path.expanduser(os.fspath(item))
        if any(ch in p for ch in "*?["):
            root, pat = _split(p)
            hits = [_strip_dot(h, root) for h in _find(root, pat, found, p)] if os.path.isdir(root) else []
            if not hits:
                raise SourceError(f"no file matches {p!r} (looked from {os.getcwd()})", source=p)
            candidates.extend(hits)
        elif os.path.isdir(p):
            hits = _find(p, ("**", "*"), found, p)
            if not hits and not found.skipped:
                raise SourceError(f"directory {p} holds no files", source=p)
            candidates.extend(hits)
        elif os.path.lexists(p):
            why, _ = _problem(p)
            if why:  # named by the user: a clear error, not a rejected record
                raise SourceError(why, source=p)
            candidates.append(p)
        else:
            raise SourceError(f"no such file or directory: {p}", source=p)
    kept: dict[tuple[int, int], int] = {}  # (dev, ino) -> index in found.files
    for path in candidates:
        why, st = _problem(path)
        if why:
            found.skipped.append((path, why))
            continue
        key = (st.st_dev, st.st_ino)
        if key not in kept:
            kept[key] = len(found.files)
            found.files.append(path)
            continue
        first = found.files[kept[key]]
        if first == path:
            continue  # the same path given twice
        if not _own(first) and _own(path):
            found.files[kept[key]], path = path, first  # keep the file's own path
        found.same.append((path, found.files[kept[key]]))
    return found
