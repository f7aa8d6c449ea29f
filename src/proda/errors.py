"""The one exception hierarchy of ProDa.

Every error a user can cause or meet derives from :class:`ProdaError`, so the CLI and the gRPC
layer map errors to exit codes and status codes in one place. Driver errors are wrapped ``from e``.
"""

from __future__ import annotations


class ProdaError(Exception):
    """Base class of every ProDa error."""


class ConfigError(ProdaError):
    """A setting is missing or invalid; the message says how to fix it."""


class DependencyMissing(ProdaError):
    """An optional dependency is not installed; the message names the ``pip install`` to run."""

    def __init__(self, package: str, extra: str | None = None, why: str = "") -> None:
        hint = f"pip install 'proda[{extra}]'" if extra else f"pip install {package}"
        super().__init__(f"{package} is required{(' ' + why) if why else ''}: run `{hint}`")
        self.package = package


class InputError(ProdaError):
    """Bad input data. ``source`` names the file (or item) and ``line`` the 1-based line, if any."""

    def __init__(self, message: str, *, source: str | None = None, line: int | None = None) -> None:
        where = ""
        if source is not None:
            where = f"{source}:{line}: " if line is not None else f"{source}: "
        super().__init__(f"{where}{message}")
        self.source = source
        self.line = line
        self.reason = message


class UnknownRelationType(InputError):
    """A relation type is not in the vocabulary."""


class IdCollision(InputError):
    """Two different records claim the same id."""


class NotFound(ProdaError):
    """A requested element (concept, chain, query, run...) does not exist."""


class GraphError(ProdaError):
    """The graph database failed."""


class GraphUnavailable(GraphError):
    """The graph server cannot be reached or has died; the message names the URL."""


class QueryError(GraphError):
    """A query was rejected by the graph database (syntax, constraint, parameters)."""


class QueryTimeout(GraphError):
    """A query exceeded its time limit."""


class LLMError(ProdaError):
    """A language-model backend failed in a way retries did not fix (auth, bad request, exhausted retries)."""


class InvalidModelOutput(LLMError):
    """A model's answer could not be parsed or validated, even after one repair and one retry."""


class BudgetExceeded(ProdaError):
    """The next call would exceed ``--max-cost`` / ``--max-tokens``; the run stops cleanly and can resume."""


class PreconditionFailed(ProdaError):
    """The request is valid but the system's state forbids it now: a job kind whose pipeline stage is
    not installed, cancelling an operation that already finished, resuming one that is running."""


class BulkRefused(PreconditionFailed):
    """A one-pass load found, while it ran, what only the row-by-row path handles (a reference outside
    the input, a chain step without its relation edge, another client writing into the graph); nothing
    of the pass is left in the graph."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RemoteError(ProdaError):
    """A ProDa server answered with a gRPC status that no other class here describes; ``code`` names
    the status (e.g. ``RESOURCE_EXHAUSTED``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
