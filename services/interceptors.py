"""Cross-cutting work of every RPC, so the servicers stay thin: request ids, access logs, error mapping.

:class:`CallInterceptor` wraps each method handler once:

* a request id per call (the caller's ``x-request-id`` metadata, or a new one), returned in the
  trailing metadata and put on every log line of the call;
* one structured (JSON) access-log line per call: method, status, duration, peer, request id;
* ProDa errors become their precise status (:mod:`proda.services.errors`); anything else is a bug,
  logged with its traceback under a new error id and answered INTERNAL with that id, never with
  internals;
* a call whose client went away while it ran (:class:`~proda.services.loop_bridge.CallEnded`) is
  logged CANCELLED, not as an error;
* a request that is not a valid message of its type is INVALID_ARGUMENT. gRPC's own deserialiser
  failure would surface as UNKNOWN/INTERNAL, which a client cannot tell from a server bug, so the
  wrapped deserialiser returns a marker instead of raising and the call is refused here.
"""

from __future__ import annotations

import contextvars
import itertools
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any, cast

import grpc

from proda.errors import InputError
from proda.services.errors import new_error_id, status_for
from proda.services.loop_bridge import CallEnded

log = logging.getLogger("proda.services.rpc")
access_log = logging.getLogger("proda.services.access")

REQUEST_ID_KEY = "x-request-id"
MAX_REQUEST_ID_CHARS = 128
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("proda_request_id", default="-")
# Ids the server makes: unique per process start plus a counter, cheaper per call than a uuid4
# (which reads the system's random source) and just as good for finding a call's log lines.
_ID_PREFIX = uuid.uuid4().hex[:12]
_ids = itertools.count(1)


class MalformedRequest:
    """Stands in for a request whose bytes are not a valid message of the method's request type."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def tolerant(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    """``deserializer`` returning :class:`MalformedRequest` instead of raising."""
    if deserializer is None:
        return None

    def parse(raw: bytes) -> Any:
        try:
            return deserializer(raw)
        except Exception as e:  # noqa: BLE001  # DecodeError, RecursionError...: all mean "bad bytes"
            return MalformedRequest(f"{type(e).__name__}: {e}")

    return parse


def _metadata_value(metadata: Any, key: str) -> str | None:
    for item in metadata or ():
        k, v = item[0], item[1]
        if k == key:
            return v if isinstance(v, str) else v.decode("utf-8", "replace")
    return None


def _request_id(context: grpc.ServicerContext) -> str:
    given = _metadata_value(context.invocation_metadata(), REQUEST_ID_KEY)
    if given and len(given) <= MAX_REQUEST_ID_CHARS and given.isprintable():
        return given
    return f"{_ID_PREFIX}-{next(_ids):x}"


class _Call:
    """One call, as a context manager around the servicer: sets its request id, turns what the servicer
    raises into the call's status, and writes the access-log line when it ends."""

    def __init__(self, method: str, context: grpc.ServicerContext) -> None:
        self.method = method
        self.context = context
        self.id = _request_id(context)
        self.code = grpc.StatusCode.OK
        self.started = time.perf_counter()
        self.token = request_id.set(self.id)
        context.set_trailing_metadata(((REQUEST_ID_KEY, self.id),))

    def __enter__(self) -> _Call:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if error is None:
                return
            # code() is gRPC's (since 1.38) but not in its type stubs
            aborted = cast(Any, self.context).code()  # set when the servicer (or auth) aborted with a status itself
            if aborted is not None:
                self.code = aborted
            elif isinstance(error, GeneratorExit):  # gRPC closed the stream: its client went away
                self.code = grpc.StatusCode.CANCELLED
            elif isinstance(error, CallEnded):  # the same, seen by a handler waiting on the event loop
                self.code = grpc.StatusCode.CANCELLED
                # aborting marks the call as answered, so gRPC does not log an application error
                self.context.abort(self.code, "the call ended before its answer was ready")
            elif isinstance(error, Exception):  # the one place errors become statuses
                self._fail(error)
        finally:
            self._done()

    def _fail(self, error: Exception) -> None:
        """Abort with the status ``error`` maps to: raises (gRPC's abort), replacing ``error``."""
        code = status_for(error)
        if code is None:
            error_id = new_error_id()
            log.error("unexpected error in %s (error id %s, request %s)", self.method, error_id, self.id,
                      exc_info=error)
            code = grpc.StatusCode.INTERNAL
            message = f"internal error; error id {error_id} (request id {self.id}): the server log has the details"
        else:
            message = str(error)
        self.code = code
        self.context.abort(code, message)

    def _done(self) -> None:
        request_id.reset(self.token)
        if access_log.isEnabledFor(logging.INFO):
            access_log.info(json.dumps({
                "method": self.method, "code": getattr(self.code, "name", "UNKNOWN"), "request_id": self.id,
                "peer": self.context.peer(), "ms": round((time.perf_counter() - self.started) * 1000, 3)}))


def _check(request: Any) -> None:
    if isinstance(request, MalformedRequest):
        raise InputError(f"the request is not a valid message of this method's type ({request.reason})")


Unary = Callable[[Any, grpc.ServicerContext], Any]
Streaming = Callable[[Any, grpc.ServicerContext], Iterator[Any]]


def _wrap_unary(method: str, behaviour: Unary) -> Unary:
    def handle(request: Any, context: grpc.ServicerContext) -> Any:
        with _Call(method, context):
            _check(request)
            return behaviour(request, context)

    return handle


def _wrap_streaming(method: str, behaviour: Streaming) -> Streaming:
    """A server-streaming behaviour (a generator); the call's bookkeeping spans the whole stream."""

    def handle(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        with _Call(method, context):
            _check(request)
            yield from behaviour(request, context)

    return handle


class CallInterceptor(grpc.ServerInterceptor):
    """Request ids, access logs, exception -> status mapping and malformed-request refusal for every RPC."""

    def __init__(self) -> None:
        # gRPC asks for a handler on every call and gets the same one per method: wrap it once. Keyed
        # by identity, holding the handler so that the id cannot be reused by another object.
        self._wrapped: dict[int, tuple[grpc.RpcMethodHandler[Any, Any], grpc.RpcMethodHandler[Any, Any]]] = {}

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(handler_call_details)
        if handler is None:  # an unknown method: gRPC answers UNIMPLEMENTED
            return None
        cached = self._wrapped.get(id(handler))
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = self._wrap(handler_call_details.method, handler)
        self._wrapped[id(handler)] = (handler, wrapped)
        return wrapped

    @staticmethod
    def _wrap(method: str, handler: grpc.RpcMethodHandler[Any, Any]) -> grpc.RpcMethodHandler[Any, Any]:
        deserializer = tolerant(handler.request_deserializer)
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                _wrap_unary(method, handler.unary_unary), request_deserializer=deserializer,
                response_serializer=handler.response_serializer)
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                _wrap_streaming(method, handler.unary_stream), request_deserializer=deserializer,
                response_serializer=handler.response_serializer)
        return handler  # client-streaming methods: none in proda.v1 (reflection's are its own business)
