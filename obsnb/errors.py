"""Errors and warnings raised by obsnb.

::

    ObsnbError
    ├── UsageError(ObsnbError, ValueError)            bad arguments, unknown or ambiguous source
    ├── MissingDependencyError(ObsnbError, ImportError)
    ├── SourceError
    │   ├── ParseError(SourceError, ValueError)       file, line, what was expected
    │   └── BackendError                              url (no credentials), status, query, backend's message
    │       ├── QueryError                            the backend rejected the query
    │       └── BackendUnavailableError               connect, timeout, 5xx after retries
    └── ReportError                                   notebook, cell, traceback

    ObsnbWarning(UserWarning)
    ├── RejectedRecordsWarning                        records that were read but not loaded
    ├── TruncatedResultWarning                        a result that is known to be partial
    └── BackendWarning                                warnings the backend sent with its answer

Every message says what failed, where, and what to do next. This module is the bottom layer of the
package (see the README's Layout): it imports nothing from obsnb, and every other module may import it.
"""

from __future__ import annotations

__all__ = [
    "ObsnbError",
    "UsageError",
    "MissingDependencyError",
    "SourceError",
    "ParseError",
    "BackendError",
    "QueryError",
    "BackendUnavailableError",
    "ReportError",
    "ObsnbWarning",
    "RejectedRecordsWarning",
    "TruncatedResultWarning",
    "BackendWarning",
]


class ObsnbError(Exception):
    """Base class of every error obsnb raises on purpose."""


class UsageError(ObsnbError, ValueError):
    """The call's arguments are wrong: unknown option, ambiguous source, bad duration."""


class MissingDependencyError(ObsnbError, ImportError):
    """An optional package that this feature needs is not installed."""


class SourceError(ObsnbError):
    """A source (file or backend) could not be read."""

    def __init__(self, msg: str, *, source: str | None = None):
        super().__init__(msg)
        self.source = source


class ParseError(SourceError, ValueError):
    """A record could not be parsed (raised with ``strict=True``, or when nothing in a file parses)."""

    def __init__(self, msg: str, *, source: str | None = None, line: int | None = None, raw: str | None = None):
        super().__init__(msg, source=source)
        self.line = line
        self.raw = raw


class BackendError(SourceError):
    """A backend answered with an error, or could not be reached."""

    def __init__(
        self,
        msg: str,
        *,
        source: str | None = None,
        url: str | None = None,
        status: int | None = None,
        query: str | None = None,
        backend_message: str | None = None,
    ):
        super().__init__(msg, source=source)
        self.url = url
        self.status = status
        self.query = query
        self.backend_message = backend_message


class QueryError(BackendError):
    """The backend rejected the query (bad syntax, too many points, ...): retrying will not help."""


class BackendUnavailableError(BackendError):
    """The backend could not be reached, timed out, or kept failing after retries."""


class ReportError(ObsnbError):
    """A notebook failed to execute or export; names the notebook and the failing cell."""

    def __init__(self, msg: str, *, notebook: str | None = None, cell: int | None = None):
        super().__init__(msg)
        self.notebook = notebook
        self.cell = cell


class ObsnbWarning(UserWarning):
    """Base class of obsnb's warnings."""


class RejectedRecordsWarning(ObsnbWarning):
    """Some records were read but not loaded; ``obsnb.rejected(df)`` lists them."""


class TruncatedResultWarning(ObsnbWarning):
    """A result is known to be incomplete (a failed chunk, a server limit)."""


class BackendWarning(ObsnbWarning):
    """The backend attached warnings to its answer."""
