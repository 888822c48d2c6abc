"""The vega/vega-lite/vega-embed bundle every report inlines once, so charts draw with no network: made by the
installed vl-convert, cached only in a folder private to the user (a bundle planted in a shared cache is
never inlined)."""

from __future__ import annotations

import contextlib
import os
import pathlib
import re
import threading

from .errors import MissingDependencyError
from .private_files import is_private, private_dir, read_private, write_private

__all__ = ["Bundle"]


class Bundle:
    """The vega + vega-lite + vega-embed bundle from vl-convert: computed once, cached on disk per version.

    vl-convert takes 1.6-9 s to produce it on a busy 2-core machine; the cache makes later reports skip
    that, and :func:`render` warms it while the notebook runs. Every report inlines the bundle as a
    script that runs, so the cache is only read from a folder private to this user: ``$OBSNB_CACHE_DIR``
    (or ``~/.cache/obsnb``) when it is owned by this user and writable by nobody else, else a
    subfolder ``obsnb-<uid>`` of it created 0700. Folder and file are checked on the opened
    descriptors (owner, no group/other write, no symlink), so a bundle planted in a shared cache
    folder is never read; it is recomputed instead. The file name carries the altair, vega-lite and
    vl-convert versions.
    """

    text: str | None = None
    _lock = threading.Lock()

    @classmethod
    def _cache_dir(cls) -> pathlib.Path:
        base = os.environ.get("OBSNB_CACHE_DIR") or os.path.join(
            os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "obsnb")
        base_path = pathlib.Path(base)
        if not base_path.exists():
            private_dir(base_path)
        return base_path if is_private(base_path, folder=True) else base_path / f"obsnb-{os.geteuid()}"

    @classmethod
    def _name(cls) -> str:
        import altair as alt
        import vl_convert as vlc

        return f"vega-bundle-altair-{alt.__version__}-vl-{alt.SCHEMA_VERSION}-vlc-{vlc.__version__}.js"

    @classmethod
    def get(cls) -> str:
        with cls._lock:
            if cls.text is None:
                cls.text = cls._load()
            return cls.text

    @classmethod
    def _load(cls) -> str:
        try:
            import vl_convert as vlc
        except ImportError as exc:
            msg = "reports need vl-convert-python for the offline vega bundle: pip install vl-convert-python"
            raise MissingDependencyError(msg) from exc
        import altair as alt

        name = cls._name()
        try:
            folder: pathlib.Path | None = cls._cache_dir()
        except OSError:  # no cache folder can be made (read-only home): compute the bundle every time
            folder = None
        text = read_private(folder, name) if folder is not None else None
        if text is not None and len(text) > 100_000:
            return text
        major_minor = "_".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])
        text = vlc.javascript_bundle(vl_version=f"v{major_minor}")
        text = re.sub(r"</(script)", r"<\\/\1", text, flags=re.I)  # never close the inline <script> early
        with contextlib.suppress(OSError):
            if folder is not None and is_private(private_dir(folder), folder=True):
                write_private(folder / name, text)
        return text

    @classmethod
    def warm(cls) -> threading.Thread:
        """Start computing the bundle in a background thread (errors surface later in :meth:`get`)."""
        t = threading.Thread(target=cls._safe_get, daemon=True)
        t.start()
        return t

    @classmethod
    def _safe_get(cls) -> None:
        with contextlib.suppress(Exception):
            cls.get()
