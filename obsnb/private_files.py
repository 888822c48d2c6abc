"""Files only their owner can read: folders made 0700, files written 0600 atomically, and reads that
refuse a file or folder another user could have planted or changed (reports, executed notebooks, caches)."""

from __future__ import annotations

import contextlib
import os
import pathlib
import tempfile

__all__ = ["private_dir", "write_private", "is_private", "read_private"]


def private_dir(path: pathlib.Path) -> pathlib.Path:
    """Create ``path`` and its missing parents 0700 (an existing folder is left as it is)."""
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        with contextlib.suppress(FileExistsError):
            d.mkdir(mode=0o700)
    return path


def write_private(path: str | os.PathLike, data: str | bytes) -> pathlib.Path:
    """Write ``data`` to ``path`` as a new 0600 file (atomically: a temp file beside it, then rename)."""
    out = pathlib.Path(path)
    private_dir(out.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)  # mkstemp: 0600
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.replace(tmp, out)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return out


def is_private(path: pathlib.Path, *, folder: bool) -> bool:
    """Whether ``path`` (not a symlink) is owned by this user and writable by nobody else."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    import stat

    kind_ok = stat.S_ISDIR(st.st_mode) if folder else stat.S_ISREG(st.st_mode)
    return kind_ok and st.st_uid == os.geteuid() and not st.st_mode & 0o022


def read_private(folder: pathlib.Path, name: str) -> str | None:
    """The text of ``folder/name`` when both are this user's and writable by nobody else, else None.

    Checked with ``fstat`` on descriptors opened with ``O_NOFOLLOW``, so what is checked is what is read.
    """
    import stat

    dir_fd = fd = None
    try:
        dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        st = os.fstat(dir_fd)
        if st.st_uid != os.geteuid() or st.st_mode & 0o022:
            return None
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=dir_fd)
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o022:
            return None
        with os.fdopen(fd, "rb") as f:
            fd = None
            return f.read().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    finally:
        for d in (fd, dir_fd):
            if d is not None:
                os.close(d)
