"""The one mapping between ProDa's exception hierarchy and gRPC status codes, both ways.

The server maps a raised :class:`~proda.errors.ProdaError` to a precise status (the interceptor for
RPCs, the supervisor for failed jobs); anything else is a bug, answered INTERNAL with an error id
(:func:`new_error_id`) and logged with its traceback under that id, so the client learns what to
quote and the server log keeps the internals. The client maps a status back to the same hierarchy,
so ``proda query --remote`` fails with the same message and exit status as a local run.
"""

from __future__ import annotations

import uuid

import grpc

from proda.errors import (
    BudgetExceeded,
    ConfigError,
    DependencyMissing,
    GraphError,
    GraphUnavailable,
    InputError,
    LLMError,
    NotFound,
    PreconditionFailed,
    ProdaError,
    QueryError,
    QueryTimeout,
    RemoteError,
)

# First match wins, so subclasses come before their bases.
_STATUS: tuple[tuple[type[ProdaError], grpc.StatusCode], ...] = (
    (InputError, grpc.StatusCode.INVALID_ARGUMENT),
    (NotFound, grpc.StatusCode.NOT_FOUND),
    (PreconditionFailed, grpc.StatusCode.FAILED_PRECONDITION),
    (ConfigError, grpc.StatusCode.FAILED_PRECONDITION),
    (DependencyMissing, grpc.StatusCode.FAILED_PRECONDITION),
    (BudgetExceeded, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (QueryTimeout, grpc.StatusCode.DEADLINE_EXCEEDED),
    (GraphError, grpc.StatusCode.UNAVAILABLE),
    (LLMError, grpc.StatusCode.UNAVAILABLE),
)

# Errors worth running the same job again for: the cause can go away (an interruption, a database
# or model endpoint that was down, a budget that can be raised) and stages resume their work.
_TRANSIENT: tuple[type[ProdaError], ...] = (GraphError, LLMError, BudgetExceeded)


def status_for(error: BaseException) -> grpc.StatusCode | None:
    """The status code of a ProDa error; None for anything else (a bug: the caller answers INTERNAL).

    A :class:`~proda.errors.QueryError` is a bug too: catalog texts are fixed, and what a caller brings
    to them (ids, parameters) is checked before it reaches the database (:mod:`proda.knowledge`), so a
    query the database still rejects is the server's fault, and its text (the engine's parser
    message) is no answer for a client.
    """
    if isinstance(error, QueryError):
        return None
    for cls, code in _STATUS:
        if isinstance(error, cls):
            return code
    if isinstance(error, ProdaError):
        return grpc.StatusCode.FAILED_PRECONDITION
    return None


def new_error_id() -> str:
    """A fresh id for one unexpected failure: the client gets it with the failure, the server log gets it
    with the traceback. Not the caller's request id, which a caller may reuse."""
    return f"err_{uuid.uuid4().hex[:16]}"


def is_transient(error: BaseException) -> bool:
    """Whether running again may succeed where this error stopped a job."""
    return isinstance(error, _TRANSIENT)


def code_number(name: str) -> int:
    """The canonical number (google.rpc.Code) of a status name such as ``"ABORTED"``; 2 (UNKNOWN) if unknown."""
    try:
        return int(grpc.StatusCode[name].value[0])
    except KeyError:
        return int(grpc.StatusCode.UNKNOWN.value[0])


def code_name(number: int) -> str:
    """The status name of a canonical number; ``"UNKNOWN"`` for a number gRPC does not define."""
    for code in grpc.StatusCode:
        if code.value[0] == number:
            return code.name
    return "UNKNOWN"


def error_for_status(code: grpc.StatusCode, details: str, *, target: str) -> ProdaError:
    """The ProDa error a client raises for a failed call to ``target`` (the server address)."""
    message = details or code.name
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return InputError(message)
    if code == grpc.StatusCode.NOT_FOUND:
        return NotFound(message)
    if code == grpc.StatusCode.FAILED_PRECONDITION:
        return PreconditionFailed(message)
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return QueryTimeout(f"{message} (server {target})")
    if code == grpc.StatusCode.UNAVAILABLE:
        return GraphUnavailable(f"ProDa server {target} is unavailable: {message}")
    if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
        return ConfigError(f"ProDa server {target} refused the credentials ({message}): set PRODA_API_TOKEN "
                           "to a token listed in the server's PRODA_API_TOKENS")
    return RemoteError(code.name, message)
